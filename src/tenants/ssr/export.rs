//! A tenant's configuration as a file.

use super::super::TenantDetail;
use super::detail;
use crate::error::AppError;
use crate::server::db;
use serde_json::json;

/// A tenant's configuration as an export document. Tenants hold no secrets
/// yet; any added later must be left out here unless asked for and audited.
pub fn export_document(d: &TenantDetail) -> serde_json::Value {
    json!({
        "kind": "BulkheadTenant",
        "version": 1,
        "tenant": {
            "id": d.tenant.id,
            "slug": d.tenant.slug,
            "name": d.tenant.name,
            "status": d.tenant.status,
            "tier": d.tier.id,
            "isolation_level": d.tenant.isolation_level,
            "dedicated_instance": d.dedicated_instance,
            "namespace_target": d.namespace_target,
            "region": d.tenant.region,
            "environment": d.tenant.environment,
            "compliance": d.compliance,
            "prevent_deletion": d.prevent_deletion,
            "created_at": d.tenant.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "config_version": d.version,
        },
        "throttled": d.throttled(),
        "quotas": d.limits.iter().map(crate::quotas::EffectiveLimit::document).collect::<Vec<_>>(),
    })
}

/// `GET /tenants/{slug}/export?format=json|yaml`: the configuration as a file, for platform staff.
pub async fn export_handler(
    axum::extract::State(state): axum::extract::State<crate::server::state::AppState>,
    axum::extract::Path(slug): axum::extract::Path<String>,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
    auth: Option<axum::Extension<crate::auth::session::AuthContext>>,
    meta: Option<axum::Extension<crate::auth::session::ClientMeta>>,
) -> Result<axum::response::Response, AppError> {
    let user = auth.and_then(|axum::Extension(a)| a.user).ok_or(AppError::Unauthorized)?;
    // In the user's scope: a tenant admin exports their own tenant, and finds no other.
    let scope = crate::auth::session::scope_for(&user)?;
    let yaml = match params.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("yaml") => true,
        Some(_) => return Err(AppError::invalid("format", "Choose json or yaml.")),
    };
    let mut tx = db::begin(&state.pool, scope).await?;
    let detail = detail(&mut tx, &slug).await?.ok_or(AppError::NotFound)?;
    // Who took a copy of the configuration, and in which form, is on record.
    let actor = meta.map(|axum::Extension(m)| m).unwrap_or_default().actor(Some(&user));
    crate::audit::record(
        &mut tx,
        &actor,
        crate::audit::NewEvent::new("tenant.exported")
            .tenant(detail.tenant.id)
            .target(detail.tenant.slug.as_str())
            .after(serde_json::json!({ "format": if yaml { "yaml" } else { "json" } })),
    )
    .await?;
    tx.commit().await?;
    let doc = export_document(&detail);
    let (body, mime, ext) = if yaml {
        (serde_yaml::to_string(&doc).map_err(AppError::internal)?, "application/yaml", "yaml")
    } else {
        (
            crate::server::json::html_safe(serde_json::to_string_pretty(&doc).map_err(AppError::internal)?),
            "application/json",
            "json",
        )
    };
    Ok(crate::server::headers::attachment(mime, &format!("tenant-{slug}.{ext}"), body))
}
