//! The tier catalogue's reads, server only: what a tenant's standing is made
//! of (the tier editor, above the alerts, keeps its own reads and writes).

use crate::domain::isolation::IsolationLevel;
use crate::domain::tier::Tier;
use crate::domain::tier_id::TierId;
use sqlx::PgConnection;

/// Every tier, cheapest first.
pub async fn all(conn: &mut PgConnection) -> Result<Vec<Tier>, sqlx::Error> {
    sqlx::query_as!(
        Tier,
        r#"SELECT id AS "id: TierId", name, cpu_millicores, memory_bytes, storage_bytes, max_users, api_calls_per_month,
                      db_connections, api_rate_per_second, api_burst, allowed_isolation_levels AS "allowed_isolation_levels: Vec<IsolationLevel>",
                      default_isolation_level AS "default_isolation_level: IsolationLevel", backup, support, version
               FROM tiers ORDER BY position"#
    )
    .fetch_all(conn)
    .await
}

/// One tier by id.
pub async fn find(conn: &mut PgConnection, id: &str) -> Result<Option<Tier>, sqlx::Error> {
    sqlx::query_as!(
        Tier,
        r#"SELECT id AS "id: TierId", name, cpu_millicores, memory_bytes, storage_bytes, max_users, api_calls_per_month,
                      db_connections, api_rate_per_second, api_burst, allowed_isolation_levels AS "allowed_isolation_levels: Vec<IsolationLevel>",
                      default_isolation_level AS "default_isolation_level: IsolationLevel", backup, support, version
               FROM tiers WHERE id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await
}
