//! Usage queries, server only.

use sqlx::PgConnection;
use uuid::Uuid;

/// The latest sample of each usage metric of a tenant.
pub async fn current_usage(conn: &mut PgConnection, tenant_id: Uuid) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT DISTINCT ON (metric) metric, value FROM usage_samples
           WHERE tenant_id = $1 ORDER BY metric, recorded_at DESC"#,
        tenant_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.metric, r.value)).collect())
}
