//! The checklist's downloads, server only: the rendered files and the
//! newest signed integrity report, in the viewer's scope.

use super::subject::subject;
use crate::audit::{self, NewEvent};
use crate::error::AppError;
use serde_json::json;

/// The tenant's plan as the signed-in viewer may read it (their scope: a
/// tenant admin finds no other tenant).
async fn viewed(
    state: &crate::server::state::AppState,
    auth: Option<axum::Extension<crate::auth::session::AuthContext>>,
    slug: &str,
) -> Result<super::subject::Subject, AppError> {
    let user = auth.and_then(|axum::Extension(a)| a.user).ok_or(AppError::Unauthorized)?;
    let mut tx = crate::server::db::begin(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let subject = subject(&mut tx, &state.config, slug).await?;
    tx.commit().await?;
    Ok(subject)
}

/// `GET /tenants/{slug}/activation/files/{name}`: a rendered file, for platform staff and the tenant's admins.
pub async fn file_handler(
    axum::extract::State(state): axum::extract::State<crate::server::state::AppState>,
    axum::extract::Path((slug, name)): axum::extract::Path<(String, String)>,
    auth: Option<axum::Extension<crate::auth::session::AuthContext>>,
) -> Result<axum::response::Response, AppError> {
    let subject = viewed(&state, auth, &slug).await?;
    let rendered = super::bundle::Rendered::of(&subject.plan).map_err(AppError::internal)?;
    let (name, body) = rendered.files.into_iter().find(|(n, _)| *n == name).ok_or(AppError::NotFound)?;
    let mime = if name.ends_with(".json") { "application/json" } else { "application/yaml" };
    Ok(crate::server::headers::attachment(mime, &name, body))
}

/// `GET /tenants/{slug}/activation/bundle.tar`: every rendered file in one
/// directory (`tenant-<slug>/`, with its kustomization.yaml), for a GitOps repository.
pub async fn bundle_handler(
    axum::extract::State(state): axum::extract::State<crate::server::state::AppState>,
    axum::extract::Path(slug): axum::extract::Path<String>,
    auth: Option<axum::Extension<crate::auth::session::AuthContext>>,
) -> Result<axum::response::Response, AppError> {
    let subject = viewed(&state, auth, &slug).await?;
    let dir = format!("tenant-{}", subject.slug);
    let archive = super::bundle::Rendered::of(&subject.plan).and_then(|r| r.tar(&dir)).map_err(AppError::internal)?;
    Ok(crate::server::headers::attachment("application/x-tar", &format!("{dir}.tar"), archive))
}

/// The newest signed teardown statement of `slug`'s dedicated instance, in `conn`'s scope.
pub async fn teardown_statement(conn: &mut sqlx::PgConnection, slug: &str) -> Result<serde_json::Value, AppError> {
    sqlx::query_scalar!(
        r#"SELECT d.envelope AS "envelope!" FROM teardowns d JOIN tenants t ON t.id = d.tenant_id
            WHERE t.slug = $1 AND d.envelope IS NOT NULL ORDER BY d.id DESC LIMIT 1"#,
        slug
    )
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)
}

/// `GET /tenants/{slug}/teardown.json`: the signed teardown statement, for platform staff.
pub async fn teardown_handler(
    axum::extract::State(state): axum::extract::State<crate::server::state::AppState>,
    axum::extract::Path(slug): axum::extract::Path<String>,
    auth: Option<axum::Extension<crate::auth::session::AuthContext>>,
) -> Result<axum::response::Response, AppError> {
    let user = auth.and_then(|axum::Extension(a)| a.user).ok_or(AppError::Unauthorized)?;
    if !user.role.is_platform_staff() {
        return Err(AppError::Forbidden);
    }
    let mut tx = crate::server::db::begin(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let envelope = teardown_statement(&mut tx, &slug).await?;
    tx.commit().await?;
    let body = serde_json::to_string_pretty(&envelope).map_err(AppError::internal)?;
    Ok(crate::server::headers::attachment("application/json", &format!("tenant-{slug}.teardown.json"), body))
}

/// `GET /tenants/{slug}/activation/report.json`: the newest signed report, to
/// platform staff and to the tenant's own admins.
pub async fn report_handler(
    axum::extract::State(state): axum::extract::State<crate::server::state::AppState>,
    axum::extract::Path(slug): axum::extract::Path<String>,
    auth: Option<axum::Extension<crate::auth::session::AuthContext>>,
    meta: Option<axum::Extension<crate::auth::session::ClientMeta>>,
) -> Result<axum::response::Response, AppError> {
    let user = auth.and_then(|axum::Extension(a)| a.user).ok_or(AppError::Unauthorized)?;
    let mut tx = crate::server::db::begin(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let row = sqlx::query!(
        "SELECT r.tenant_id, r.envelope, r.sha256 FROM isolation_reports r JOIN tenants t ON t.id = r.tenant_id
          WHERE t.slug = $1 ORDER BY r.id DESC LIMIT 1",
        slug
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let actor = meta.map(|axum::Extension(m)| m).unwrap_or_default().actor(Some(&user));
    audit::record(
        &mut tx,
        &actor,
        NewEvent::new("activation.report_downloaded")
            .tenant(row.tenant_id)
            .target(slug.as_str())
            .after(json!({ "sha256": hex::encode(&row.sha256) })),
    )
    .await?;
    tx.commit().await?;
    let body = serde_json::to_string_pretty(&row.envelope).map_err(AppError::internal)?;
    Ok(crate::server::headers::attachment("application/json", &format!("tenant-{slug}.isolation-report.json"), body))
}
