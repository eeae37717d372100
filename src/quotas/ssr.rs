//! Overrides read for many tenants at once (alerts, billing, metrics).

use super::Override;
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// The overrides of `tenants` (every tenant's with `None`), by tenant.
pub async fn overrides_by_tenant(
    conn: &mut PgConnection,
    tenants: Option<&[Uuid]>,
) -> Result<HashMap<Uuid, Vec<Override>>, sqlx::Error> {
    let mut by_tenant: HashMap<Uuid, Vec<Override>> = HashMap::new();
    for o in sqlx::query!(
        "SELECT tenant_id, metric, value, reason, created_at FROM quota_overrides
         WHERE $1::uuid[] IS NULL OR tenant_id = ANY($1)",
        tenants as Option<&[Uuid]>
    )
    .fetch_all(conn)
    .await?
    {
        by_tenant.entry(o.tenant_id).or_default().push(Override {
            metric: o.metric,
            value: o.value,
            reason: o.reason,
            by: None,
            at: o.created_at,
        });
    }
    Ok(by_tenant)
}
