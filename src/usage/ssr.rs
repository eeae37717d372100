//! Usage queries, server only.

use sqlx::PgConnection;
use uuid::Uuid;

/// The latest sample of each usage metric of a tenant, and its API calls
/// this month (UTC) as the routing check counted them.
pub async fn current_usage(conn: &mut PgConnection, tenant_id: Uuid) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT DISTINCT ON (metric) metric, value FROM usage_samples
           WHERE tenant_id = $1 ORDER BY metric, recorded_at DESC"#,
        tenant_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let calls = sqlx::query_scalar!(
        "SELECT calls FROM api_calls WHERE tenant_id = $1 AND month = date_trunc('month', now() AT TIME ZONE 'UTC')::date",
        tenant_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let mut usage: Vec<(String, i64)> =
        rows.into_iter().filter(|r| r.metric != "api_calls").map(|r| (r.metric, r.value)).collect();
    usage.push(("api_calls".to_string(), calls.unwrap_or(0)));
    Ok(usage)
}
