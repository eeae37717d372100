//! A tenant's standing on the server: its effective limits (the tier's,
//! scaled by its environment, with its overrides) against its current usage,
//! read in one shape for one tenant or for many. Alerts, metrics, the tenant
//! page and every change that moves a quota read it here.

use super::{effective_limits, EffectiveLimit, Override};
use crate::domain::environment::Environment;
use crate::domain::limits::Limit;
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

/// Which tenants to read.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    /// Every tenant not deleted.
    Live,
    /// These tenants (deleted ones left out).
    Only(&'a [Uuid]),
    /// These tenants, or every tenant with `None`, deleted ones included
    /// (a tenant's page and the bill of a month it was billed in).
    Ever(Option<&'a [Uuid]>),
}

/// One tenant's standing.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub tenant_id: Uuid,
    pub slug: String,
    pub tier_id: String,
    /// The tier's terms (shared between the tenants on it).
    pub tier: std::sync::Arc<crate::domain::tier::Tier>,
    pub status: String,
    pub environment: Environment,
    /// Every limit, in [`Limit::ALL`]'s order, with its usage when reported.
    pub limits: Vec<EffectiveLimit>,
}

/// The standing of `which`, by slug. Tenants on a tier that no longer exists
/// are left out (the tiers' foreign key keeps that from happening).
pub async fn standings(conn: &mut PgConnection, which: Which<'_>) -> Result<Vec<Standing>, sqlx::Error> {
    let (only, deleted): (Option<&[Uuid]>, bool) = match which {
        Which::Live => (None, false),
        Which::Only(ids) => (Some(ids), false),
        Which::Ever(ids) => (ids, true),
    };
    let tiers: Vec<std::sync::Arc<crate::domain::tier::Tier>> =
        super::catalogue::all(&mut *conn).await?.into_iter().map(std::sync::Arc::new).collect();
    let tenants = sqlx::query!(
        r#"SELECT id, slug, tier_id, status, environment FROM tenants
           WHERE ($2 OR status <> 'deleted') AND ($1::uuid[] IS NULL OR id = ANY($1)) ORDER BY slug"#,
        only as Option<&[Uuid]>,
        deleted
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut usage: HashMap<Uuid, Vec<(String, i64)>> = HashMap::with_capacity(tenants.len());
    for u in sqlx::query!(
        "SELECT tenant_id, metric, value FROM usage_current WHERE metric <> 'api_calls'
           AND ($1::uuid[] IS NULL OR tenant_id = ANY($1))",
        only as Option<&[Uuid]>
    )
    .fetch_all(&mut *conn)
    .await?
    {
        usage.entry(u.tenant_id).or_default().push((u.metric, u.value));
    }
    for c in sqlx::query!(
        "SELECT tenant_id, calls FROM api_calls WHERE month = date_trunc('month', now() AT TIME ZONE 'UTC')::date
           AND ($1::uuid[] IS NULL OR tenant_id = ANY($1))",
        only as Option<&[Uuid]>
    )
    .fetch_all(&mut *conn)
    .await?
    {
        usage.entry(c.tenant_id).or_default().push((Limit::ApiCalls.metric().to_string(), c.calls));
    }
    let overrides = overrides_by_tenant(&mut *conn, only).await?;
    Ok(tenants
        .into_iter()
        .filter_map(|t| {
            let tier = tiers.iter().find(|tier| tier.id.as_str() == t.tier_id)?;
            let environment = Environment::from_stored(&t.environment);
            // A gauge with nothing reported has no usage (not zero); the
            // month's calls are a count, zero until the first is counted.
            let mut used = usage.remove(&t.id).unwrap_or_default();
            if !used.iter().any(|(m, _)| m == Limit::ApiCalls.metric()) {
                used.push((Limit::ApiCalls.metric().to_string(), 0));
            }
            let limits =
                effective_limits(tier, environment, &used, overrides.get(&t.id).map(Vec::as_slice).unwrap_or_default());
            let tier = tier.clone();
            Some(Standing {
                tenant_id: t.id,
                slug: t.slug,
                tier_id: t.tier_id,
                tier,
                status: t.status,
                environment,
                limits,
            })
        })
        .collect())
}

/// One tenant's standing (none when it is deleted or unknown).
pub async fn standing(conn: &mut PgConnection, tenant_id: Uuid) -> Result<Option<Standing>, sqlx::Error> {
    Ok(standings(conn, Which::Only(&[tenant_id])).await?.pop())
}

/// The overrides of `tenants` (every tenant's with `None`), by tenant, with
/// who set them (a tenant admin reads "Platform staff", never a staff address).
pub async fn overrides_by_tenant(
    conn: &mut PgConnection,
    tenants: Option<&[Uuid]>,
) -> Result<HashMap<Uuid, Vec<Override>>, sqlx::Error> {
    let mut by_tenant: HashMap<Uuid, Vec<Override>> = HashMap::new();
    for o in sqlx::query!(
        r#"SELECT tenant_id, metric, value, reason,
                  CASE WHEN current_user = 'bulkhead_tenant' AND created_by_email IS NOT NULL
                       THEN 'Platform staff' ELSE created_by_email END AS by,
                  created_at
           FROM quota_overrides WHERE $1::uuid[] IS NULL OR tenant_id = ANY($1)"#,
        tenants as Option<&[Uuid]>
    )
    .fetch_all(conn)
    .await?
    {
        by_tenant.entry(o.tenant_id).or_default().push(Override {
            metric: o.metric,
            value: o.value,
            reason: o.reason,
            by: o.by,
            at: o.created_at,
        });
    }
    Ok(by_tenant)
}

/// One tenant's overrides.
pub async fn overrides(conn: &mut PgConnection, tenant_id: Uuid) -> Result<Vec<Override>, sqlx::Error> {
    Ok(overrides_by_tenant(conn, Some(&[tenant_id])).await?.remove(&tenant_id).unwrap_or_default())
}
