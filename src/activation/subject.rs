//! What a step checks against: a level-3 tenant, its activation's
//! configuration and the plan of its dedicated instance, server only.

use crate::domain::isolation::IsolationLevel;
use crate::error::AppError;
use sqlx::PgConnection;
use uuid::Uuid;

/// Everything a step needs to know about the tenant and its configuration.
pub struct Subject {
    pub tenant_id: Uuid,
    pub slug: String,
    pub domain: String,
    pub upstream: String,
    pub health_url: String,
    pub digest: Option<Vec<u8>>,
    pub plan: super::render::Plan,
}

/// The plan of `slug`'s dedicated instance from its configuration and effective limits.
pub async fn subject(
    conn: &mut PgConnection,
    config: &crate::server::config::Config,
    slug: &str,
) -> Result<Subject, AppError> {
    let detail = crate::tenants::ssr::detail(conn, slug).await?.ok_or(AppError::NotFound)?;
    if detail.tenant.isolation_level != IsolationLevel::INSTANCE {
        return Err(AppError::Conflict(format!(
            "{slug} is at isolation level {}: only a level-3 tenant has an instance of its own to render.",
            detail.tenant.isolation_level
        )));
    }
    let a = sqlx::query!(
        "SELECT dedicated_domain, upstream, health_url, manifests_digest FROM activations
          WHERE tenant_id = $1 AND state <> 'rolled_back'",
        detail.tenant.id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| AppError::Conflict("This tenant has no activation checklist.".into()))?;
    let limit =
        |l: crate::domain::limits::Limit| detail.limits.iter().find(|e| e.limit == l).map(|e| e.value).unwrap_or(0);
    use crate::domain::limits::Limit;
    let plan = super::render::Plan {
        tenant_id: detail.tenant.id,
        slug: detail.tenant.slug.clone(),
        level: IsolationLevel::INSTANCE,
        namespace: detail.namespace_target.clone().unwrap_or_else(|| format!("tenant-{slug}")),
        router_namespace: config.tenant.router_namespace.clone(),
        image: config.tenant.image.clone(),
        cpu_millicores: limit(Limit::Cpu),
        memory_bytes: limit(Limit::Memory),
        storage_bytes: limit(Limit::Storage),
        // The probes ask the health URL's path, on the API's own port.
        health_path: a
            .health_url
            .as_deref()
            .and_then(|u| reqwest::Url::parse(u).ok())
            .map(|u| u.path().to_string())
            .filter(|p| p.starts_with('/'))
            .unwrap_or_else(|| "/healthz".into()),
        database: config.tenant.database.clone(),
        redis: config.tenant.redis.clone(),
        node_pool: config.tenant.node_pool.clone(),
    };
    Ok(Subject {
        tenant_id: detail.tenant.id,
        slug: detail.tenant.slug,
        domain: a.dedicated_domain.unwrap_or_default(),
        upstream: a.upstream.unwrap_or_default(),
        health_url: a.health_url.unwrap_or_default(),
        digest: a.manifests_digest,
        plan,
    })
}
