//! A level-2 tenant's namespace, rendered and checked each time its level
//! makes it so (creation at level 2, a change to level 2), in the change's
//! transaction: the YAML's digest and the invariants checked on it as written
//! are recorded and audited. The download renders it again as it stands.

use crate::audit::{self, Actor, NewEvent};
use crate::domain::isolation::IsolationLevel;
use crate::domain::limits::Limit;
use crate::error::AppError;
use crate::manifests::render::Plan;
use crate::server::config::TenantRuntime;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

/// The plan of `tenant_id`'s namespace as it stands (its limits, its namespace).
pub async fn plan(conn: &mut PgConnection, runtime: &TenantRuntime, tenant_id: Uuid) -> Result<Plan, AppError> {
    let t = sqlx::query!(
        r#"SELECT slug, namespace_target, isolation_level AS "level: IsolationLevel" FROM tenants WHERE id = $1"#,
        tenant_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let standing = crate::quotas::ssr::standings(&mut *conn, crate::quotas::ssr::Which::Ever(Some(&[tenant_id])))
        .await?
        .pop()
        .ok_or(AppError::NotFound)?;
    let limit = |l: Limit| standing.limits.iter().find(|e| e.limit == l).map(|e| e.value).unwrap_or(0);
    Ok(Plan {
        tenant_id,
        namespace: t.namespace_target.unwrap_or_else(|| format!("tenant-{}", t.slug)),
        slug: t.slug,
        level: t.level,
        router_namespace: runtime.router_namespace.clone(),
        image: runtime.image.clone(),
        cpu_millicores: limit(Limit::Cpu),
        memory_bytes: limit(Limit::Memory),
        storage_bytes: limit(Limit::Storage),
        health_path: "/healthz".into(),
        database: runtime.database.clone(),
        redis: runtime.redis.clone(),
        node_pool: None,
    })
}

/// The namespace's YAML as it stands.
pub async fn yaml(conn: &mut PgConnection, runtime: &TenantRuntime, tenant_id: Uuid) -> Result<String, AppError> {
    let plan = plan(conn, runtime, tenant_id).await?;
    crate::manifests::bundle::namespace_guardrails(&plan).map_err(AppError::internal)
}

/// Renders the namespace of a tenant now at level 2, checks it as written,
/// records both and audits them (`tenant.namespace_rendered`).
pub async fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    runtime: &TenantRuntime,
    tenant_id: Uuid,
) -> Result<(), AppError> {
    let plan = plan(conn, runtime, tenant_id).await?;
    let text = crate::manifests::bundle::namespace_guardrails(&plan).map_err(AppError::internal)?;
    let problems = crate::manifests::invariants::policy_problems(&text, &plan);
    let sha256 = Sha256::digest(text.as_bytes()).to_vec();
    sqlx::query!(
        "INSERT INTO namespace_renders (tenant_id, level, namespace, sha256, problems, actor) VALUES ($1, $2, $3, $4, $5, $6)",
        tenant_id,
        plan.level.number(),
        plan.namespace,
        sha256,
        &problems,
        super::activation::actor_label(actor)
    )
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        actor,
        NewEvent::new("tenant.namespace_rendered").tenant(tenant_id).target(plan.slug.as_str()).after(json!({
            "level": plan.level, "namespace": plan.namespace, "sha256": hex::encode(&sha256), "problems": problems,
        })),
    )
    .await?;
    Ok(())
}

/// The newest render of the tenant's namespace, as its page shows it.
pub async fn newest(
    conn: &mut PgConnection,
    tenant_id: Uuid,
) -> Result<Option<crate::tenants::NamespaceRender>, sqlx::Error> {
    Ok(sqlx::query!(
        // A tenant admin reads "Platform staff", never a staff address, as for overrides.
        r#"SELECT level, namespace, sha256, problems, rendered_at,
                  CASE WHEN current_user = 'bulkhead_tenant' THEN 'Platform staff' ELSE actor END AS "actor!"
             FROM namespace_renders WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1"#,
        tenant_id
    )
    .fetch_optional(conn)
    .await?
    .map(|r| crate::tenants::NamespaceRender {
        level: r.level,
        namespace: r.namespace,
        sha256: hex::encode(r.sha256),
        problems: r.problems,
        actor: r.actor,
        rendered_at: r.rendered_at,
    }))
}

/// `GET /tenants/{slug}/namespace.yaml`: a level-2 tenant's namespace as it
/// renders now, for platform staff and the tenant's admins.
pub async fn yaml_handler(
    axum::extract::State(state): axum::extract::State<crate::server::state::AppState>,
    axum::extract::Path(slug): axum::extract::Path<String>,
    auth: Option<axum::Extension<crate::auth::session::AuthContext>>,
) -> Result<axum::response::Response, AppError> {
    let user = auth.and_then(|axum::Extension(a)| a.user).ok_or(AppError::Unauthorized)?;
    let mut tx = crate::server::db::begin(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let t = sqlx::query!(
        r#"SELECT id, isolation_level AS "level: IsolationLevel" FROM tenants WHERE slug = $1 AND status <> 'deleted'"#,
        slug
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    if t.level != IsolationLevel::NAMESPACE {
        return Err(AppError::NotFound);
    }
    let text = yaml(&mut tx, &state.config.tenant, t.id).await?;
    tx.commit().await?;
    Ok(crate::server::headers::attachment("application/yaml", &format!("tenant-{slug}.namespace.yaml"), text))
}
