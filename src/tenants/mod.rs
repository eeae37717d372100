//! Tenants: the list, creation, and a tenant's page.

mod detail_fields;
pub mod domain;
mod isolation_view;
mod list_pages;
mod pages;
#[cfg(feature = "ssr")]
pub mod ssr;
mod team_page;
pub use isolation_view::{NamespaceRender, Teardown};
mod usage_page;

pub use list_pages::{NewTenantPage, TenantsPage};
pub use pages::{MyTenantPage, TenantPage};
pub use team_page::TeamPage;
pub use usage_page::{tenant_usage, UsagePage};

use crate::domain::environment::Environment;
use crate::domain::isolation::IsolationLevel;
use crate::domain::tenant_status::TenantStatus;
use crate::domain::tier_id::TierId;
use crate::error::AppError;
use crate::quotas::EffectiveLimit;
use crate::tiers::Tier;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// A tenant as the list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantRow {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub tier_id: TierId,
    pub isolation_level: IsolationLevel,
    pub status: TenantStatus,
    pub region: String,
    pub environment: Environment,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// One page of the tenant list and the cursor of the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantPageData {
    pub tenants: Vec<TenantRow>,
    pub next: Option<String>,
    /// The tier filter's choices, read with the page (one load, not two).
    pub tiers: Vec<TierChoice>,
}

/// A tier as a filter offers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierChoice {
    pub id: TierId,
    pub name: String,
}

/// Everything the tenant's page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantDetail {
    pub tenant: TenantRow,
    pub compliance: Vec<String>,
    pub dedicated_instance: bool,
    pub namespace_target: Option<String>,
    pub version: i32,
    pub prevent_deletion: bool,
    /// Whether the viewer may change this tenant (platform admins only).
    pub can_edit: bool,
    /// Whether the viewer is platform staff (a tenant admin sees their own tenant without staff tools).
    pub viewer_is_staff: bool,
    pub tier: Tier,
    pub limits: Vec<EffectiveLimit>,
    /// The newest teardown of a dedicated instance, if it ever had one.
    pub teardown: Option<Teardown>,
    /// The newest render of its namespace (level 2), if any.
    pub namespace_render: Option<NamespaceRender>,
}

impl TenantDetail {
    /// Whether the routing check refuses its API calls: this month's are spent.
    pub fn throttled(&self) -> bool {
        self.limits
            .iter()
            .any(|l| l.limit == crate::domain::limits::Limit::ApiCalls && l.used.is_some_and(|u| u >= l.value))
    }
}

/// Tenants matching the filters, newest first, 50 at a time.
#[server(endpoint = "tenants")]
pub async fn list_tenants(
    q: Option<String>,
    tier: Option<String>,
    status: Option<String>,
    isolation: Option<String>,
    sort: Option<String>,
    after: Option<String>,
) -> Result<TenantPageData, AppError> {
    let filter = ssr::ListFilter::parse(q, tier, status, isolation, sort, after)?;
    let user = crate::auth::session::require_platform_staff().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = crate::server::db::read(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let page = ssr::list(&mut tx, &filter).await?;
    tx.done().await?;
    Ok(page)
}

/// One tenant by slug.
#[server(endpoint = "tenant")]
pub async fn get_tenant(slug: String) -> Result<TenantDetail, AppError> {
    // An address no tenant can have: a control character is a malformed
    // request; anything else that is not a slug names no tenant.
    if slug.chars().any(char::is_control) {
        return Err(AppError::BadRequest(leptos::server_fn::error::ServerFnErrorErr::Args(
            "The address holds a control character.".into(),
        )));
    }
    let slug = domain::Slug::parse(&slug).map_err(|_| AppError::NotFound)?;
    let user = crate::auth::session::require_user().await?;
    tenant_for(&user, Some(slug.to_string())).await
}

/// The signed-in tenant admin's own tenant.
#[server(endpoint = "my_tenant")]
pub async fn my_tenant() -> Result<TenantDetail, AppError> {
    let user = crate::auth::session::require_user().await?;
    if user.role != crate::auth::Role::TenantAdmin {
        return Err(AppError::NotFound);
    }
    tenant_for(&user, None).await
}

/// A tenant as `user` may see it: in the user's database scope, so a tenant
/// admin asking for another tenant finds nothing. Without a slug, the one
/// tenant the scope shows.
#[cfg(feature = "ssr")]
async fn tenant_for(user: &crate::auth::CurrentUser, slug: Option<String>) -> Result<TenantDetail, AppError> {
    let state = crate::server::state::app_state()?;
    let mut tx = crate::server::db::read(&state.pool, crate::auth::session::scope_for(user)?).await?;
    let slug = match slug {
        Some(s) => s,
        None => {
            sqlx::query_scalar!("SELECT slug FROM tenants").fetch_optional(&mut *tx).await?.ok_or(AppError::NotFound)?
        }
    };
    let mut detail = ssr::detail(&mut tx, &slug).await?.ok_or(AppError::NotFound)?;
    tx.done().await?;
    detail.can_edit = user.role == crate::auth::Role::PlatformAdmin && detail.tenant.status != TenantStatus::Deleted;
    detail.viewer_is_staff = user.role.is_platform_staff();
    Ok(detail)
}

/// Creates a tenant. Answers with a redirect: to the new tenant's page, or
/// back to the form with what was typed and a message per field.
#[server(endpoint = "create_tenant")]
pub async fn create_tenant(
    name: String,
    slug: String,
    tier: String,
    isolation: Option<String>,
    region: String,
    environment: String,
    /// The regimes ticked: each checkbox carries its regime as its value (`compliance[]=gdpr`).
    #[server(default)]
    compliance: Vec<String>,
) -> Result<(), AppError> {
    let input = ssr::NewTenant {
        name: name.clone(),
        slug: slug.clone(),
        tier: tier.clone(),
        isolation: isolation.clone().unwrap_or_default(),
        region: region.clone(),
        environment: environment.clone(),
        compliance: compliance.clone(),
    };
    let result = async {
        let user = crate::auth::session::require_platform_admin().await?;
        let state = crate::server::state::app_state()?;
        let meta = crate::auth::session::client_meta().await;
        ssr::create(&state.pool, &meta.actor(Some(&user)), Some(user.id), input, &state.config.tenant).await
    }
    .await;
    let mut fields = vec![
        ("name", name),
        ("slug", slug),
        ("tier", tier),
        ("isolation", isolation.unwrap_or_default()),
        ("region", region),
        ("environment", environment),
    ];
    for c in &compliance {
        fields.push((detail_fields::compliance_field(c), "on".to_string()));
    }
    crate::ui::form::ssr::finish(result, "/tenants/new", &fields, |created| format!("/tenants/{created}?created=1"))
        .await;
    Ok(())
}

/// What a tenant action did, as the code carried in the page's address.
pub fn done_message(code: &str) -> Option<&'static str> {
    match code {
        "tier" => Some("Tier changed."),
        "details" => Some("Details saved."),
        "isolation" => Some("Isolation level changed."),
        "awaiting_checklist" => {
            Some("Isolation level 3 recorded: the tenant runs dedicated once its activation checklist is complete.")
        }
        "suspended" => Some("Tenant suspended: its API calls are refused until it is reactivated."),
        "reactivated" => Some("Tenant reactivated."),
        "protected" => Some("Deletion protection is on."),
        "unprotected" => Some("Deletion protection is off."),
        "deleted" => Some("Tenant deleted."),
        "override_set" => Some("Quota override saved."),
        "override_removed" => Some("Quota override removed: the tier's value applies again."),
        "invited" => Some("Invitation created: copy the link below."),
        "admin_unlocked" => Some("Account unlocked: its owner can sign in again."),
        "invited_by_mail" => Some("Invitation sent by e-mail: the link goes to the invitee alone."),
        "invitation_revoked" => Some("Invitation revoked: its link no longer works."),
        "mfa_reset" => {
            Some("Two-factor reset link created: copy the link below. Their current app works until they use it.")
        }
        "mfa_reset_mailed" => {
            Some("Two-factor reset link sent by e-mail. Their current app works until they set up the new one.")
        }
        "admin_disabled" => Some("Account disabled: its sessions have ended."),
        _ => None,
    }
}

/// Sends the browser back to the tenant's page with `done` or the error.
#[cfg(feature = "ssr")]
async fn finish(slug: &str, result: Result<&str, AppError>, fields: &[(&str, String)]) {
    crate::ui::form::ssr::finish(result, &format!("/tenants/{slug}"), fields, |code| match code {
        "deleted" => "/tenants?done=deleted".to_string(),
        code => format!("/tenants/{slug}?done={code}"),
    })
    .await
}

#[cfg(feature = "ssr")]
async fn admin_actor() -> Result<(crate::audit::Actor, crate::server::state::AppState), AppError> {
    let user = crate::auth::session::require_platform_admin().await?;
    let state = crate::server::state::app_state()?;
    let meta = crate::auth::session::client_meta().await;
    Ok((meta.actor(Some(&user)), state))
}

/// Moves a tenant to another tier (and isolation level, when the new tier
/// does not allow the current one). Refused when usage exceeds a new limit.
#[server(endpoint = "change_tier")]
pub async fn change_tier(slug: String, version: i32, tier: String, isolation: Option<String>) -> Result<(), AppError> {
    let result = async {
        let (actor, state) = admin_actor().await?;
        ssr::change_tier(&state.pool, &actor, &slug, version, &tier, isolation.as_deref().unwrap_or("")).await
    }
    .await;
    finish(&slug, result.map(|_| "tier"), &[("preview_tier", tier)]).await;
    Ok(())
}

/// Changes a tenant's name, region, environment and compliance regimes.
#[server(endpoint = "change_tenant_details")]
pub async fn change_tenant_details(
    slug: String,
    version: i32,
    name: String,
    region: String,
    environment: String,
    /// The regimes ticked (`compliance[]=gdpr`).
    #[server(default)]
    compliance: Vec<String>,
) -> Result<(), AppError> {
    let mut fields = vec![
        ("form", "details".to_string()),
        ("name", name.clone()),
        ("region", region.clone()),
        ("environment", environment.clone()),
    ];
    fields.extend(compliance.iter().map(|c| (detail_fields::compliance_field(c), "on".to_string())));
    let result = async {
        let (actor, state) = admin_actor().await?;
        ssr::change_details(
            &state.pool,
            &actor,
            &slug,
            version,
            ssr::Details { name, region, environment, compliance: compliance.clone() },
        )
        .await
    }
    .await;
    finish(&slug, result.map(|_| "details"), &fields).await;
    Ok(())
}

/// Suspends (`action = suspend`) or reactivates (`reactivate`) a tenant.
#[server(endpoint = "set_tenant_status")]
pub async fn set_tenant_status(slug: String, version: i32, action: String) -> Result<(), AppError> {
    let result = async {
        let (actor, state) = admin_actor().await?;
        ssr::set_status(&state.pool, &actor, &slug, version, &action).await
    }
    .await;
    finish(&slug, result, &[]).await;
    Ok(())
}

/// Turns deletion protection on (`protect = on`) or off.
#[server(endpoint = "set_deletion_protection")]
pub async fn set_deletion_protection(slug: String, version: i32, protect: String) -> Result<(), AppError> {
    let result = async {
        let (actor, state) = admin_actor().await?;
        ssr::set_prevent_deletion(&state.pool, &actor, &slug, version, protect == "on").await
    }
    .await;
    finish(&slug, result, &[]).await;
    Ok(())
}

/// Deletes a tenant (softly) once the admin has typed its slug.
#[server(endpoint = "delete_tenant")]
pub async fn delete_tenant(slug: String, version: i32, confirm: String) -> Result<(), AppError> {
    let result = async {
        let (actor, state) = admin_actor().await?;
        ssr::delete(&state.pool, &actor, &slug, version, &confirm).await
    }
    .await;
    finish(&slug, result.map(|_| "deleted"), &[]).await;
    Ok(())
}

/// Overrides one limit of a tenant, with a reason.
#[server(endpoint = "set_quota_override")]
pub async fn set_quota_override(
    slug: String,
    version: i32,
    metric: String,
    value: String,
    reason: String,
) -> Result<(), AppError> {
    let result = async {
        let (actor, state) = admin_actor().await?;
        ssr::set_override(&state.pool, &actor, &slug, version, &metric, &value, &reason).await
    }
    .await;
    finish(&slug, result.map(|_| "override_set"), &[("metric", metric), ("value", value), ("reason", reason)]).await;
    Ok(())
}

/// Removes a tenant's override of one limit.
#[server(endpoint = "remove_quota_override")]
pub async fn remove_quota_override(slug: String, version: i32, metric: String) -> Result<(), AppError> {
    let result = async {
        let (actor, state) = admin_actor().await?;
        ssr::remove_override(&state.pool, &actor, &slug, version, &metric).await
    }
    .await;
    finish(&slug, result.map(|_| "override_removed"), &[]).await;
    Ok(())
}

/// Changes a tenant's isolation level (and namespace) within its tier.
#[server(endpoint = "change_isolation")]
pub async fn change_isolation(
    slug: String,
    version: i32,
    isolation: String,
    namespace: Option<String>,
) -> Result<(), AppError> {
    let namespace = namespace.unwrap_or_default();
    let result = async {
        let (actor, state) = admin_actor().await?;
        ssr::change_isolation(&state.pool, &actor, &slug, version, &isolation, &namespace, &state.config.tenant).await
    }
    .await;
    let code = if isolation.trim() == "3" { "awaiting_checklist" } else { "isolation" };
    finish(&slug, result.map(|_| code), &[("isolation", isolation), ("namespace", namespace)]).await;
    Ok(())
}
