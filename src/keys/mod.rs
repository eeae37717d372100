//! Tenant API keys (seed 002's service accounts): what a tenant's own callers
//! present at the edge, so that only the tenant's calls spend its allowance.
//! A key belongs to one tenant, may carry a rate and a monthly cap of its own
//! inside the tenant's, and may expire; it is shown once and kept as its hash.
//! Platform admins manage any tenant's keys (`/tenants/{slug}/keys`), tenant
//! admins their own (`/keys`), the command line with `bulkhead key`.

mod pages;
#[cfg(feature = "ssr")]
pub mod ssr;

pub use pages::KeysPage;

use crate::error::AppError;
use crate::ui::form::FormEcho;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// A key as the list shows it: never the key itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRow {
    pub id: Uuid,
    pub name: String,
    /// `bk_live_` and the first characters, to tell keys apart.
    pub hint: String,
    pub rate_per_second: Option<i32>,
    pub burst: Option<i32>,
    pub monthly_calls: Option<i64>,
    /// Calls counted this month (UTC) against the key.
    pub calls_this_month: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// Past its expiry when read (by the database's clock).
    pub expired: bool,
}

impl KeyRow {
    /// `in force`, `expired` or `revoked`.
    pub fn state(&self) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expired {
            "expired"
        } else {
            "in force"
        }
    }
}

/// A tenant's keys page: its keys, what the last form sent back, the key
/// just made (shown this once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeysOverview {
    pub slug: String,
    pub tenant_name: String,
    pub keys: Vec<KeyRow>,
    pub echo: FormEcho,
    pub fresh: Option<String>,
    /// The reader may make and revoke keys (platform admins, the tenant's admins).
    pub can_edit: bool,
    /// The tenant admin's own page (`/keys`), not a tenant's page of the console.
    pub own: bool,
    /// What the edge does with calls that carry no key: `refuse` or `pass`.
    pub anonymous_calls: String,
}

/// The keys of a tenant: `slug` for platform staff, none for a tenant admin's
/// own (the database's scope shows a tenant admin their tenant alone). With
/// the echo `form` names, spent by this read.
#[server(endpoint = "tenant_keys")]
pub async fn tenant_keys(slug: Option<String>, form: Option<String>) -> Result<KeysOverview, AppError> {
    use crate::auth::Role;
    let user = crate::auth::session::require_user().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = crate::server::db::read(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let tenant = ssr::tenant(&mut tx, slug.as_deref()).await?;
    let keys = ssr::list(&mut tx, tenant.id).await?;
    tx.done().await?;
    let mut echo = match form {
        Some(id) => crate::ui::form::ssr::take(&id).await.unwrap_or_default(),
        None => FormEcho::default(),
    };
    let fresh =
        echo.values.remove(ssr::FRESH_KEY).and_then(|sealed| crate::tokens::ssr::open_fresh(&state, user.id, &sealed));
    Ok(KeysOverview {
        slug: tenant.slug,
        tenant_name: tenant.name,
        keys,
        echo,
        fresh,
        can_edit: matches!(user.role, Role::PlatformAdmin | Role::TenantAdmin),
        own: user.role == Role::TenantAdmin,
        anonymous_calls: tenant.anonymous_calls,
    })
}

/// Makes a key for the tenant `slug` (platform admins, or that tenant's
/// admins). Answers with a redirect to the keys page, which shows it once.
#[server(endpoint = "create_tenant_key")]
pub async fn create_tenant_key(
    slug: String,
    name: String,
    rate: String,
    burst: String,
    monthly: String,
    expires: String,
) -> Result<(), AppError> {
    let back = keys_page(&slug).await;
    let result = async {
        let user = key_manager().await?;
        let state = crate::server::state::app_state()?;
        let meta = crate::auth::session::client_meta().await;
        let input = ssr::NewKey::parse(&name, &rate, &burst, &monthly, &expires)?;
        let scope = crate::auth::session::scope_for(&user)?;
        let key = ssr::create(&state.pool, scope, &meta.actor(Some(&user)), Some(user.id), &slug, input).await?;
        Ok(crate::tokens::ssr::seal_fresh(&state, user.id, &key.secret))
    }
    .await;
    match result {
        Ok(sealed) => {
            let echo = FormEcho { values: [(ssr::FRESH_KEY.to_string(), sealed)].into(), ..FormEcho::default() };
            leptos_axum::redirect(&crate::ui::form::ssr::echo_to(&back, echo).await);
        }
        Err(err) => {
            let fields = [("name", name), ("rate", rate), ("burst", burst), ("monthly", monthly), ("expires", expires)];
            crate::ui::form::ssr::refuse(&back, &fields, &err).await;
        }
    }
    Ok(())
}

/// Revokes a key of the tenant `slug`: calls presenting it are refused at the
/// edge from the next routing table on (within a second).
#[server(endpoint = "revoke_tenant_key")]
pub async fn revoke_tenant_key(slug: String, id: String) -> Result<(), AppError> {
    let back = keys_page(&slug).await;
    let result = async {
        let user = key_manager().await?;
        let state = crate::server::state::app_state()?;
        let meta = crate::auth::session::client_meta().await;
        let id = Uuid::parse_str(id.trim()).map_err(|_| AppError::NotFound)?;
        let scope = crate::auth::session::scope_for(&user)?;
        ssr::revoke(&state.pool, scope, &meta.actor(Some(&user)), &slug, ssr::Which::Id(id)).await
    }
    .await;
    crate::ui::form::ssr::finish(result, &back, &[], |_| format!("{back}?done=revoked")).await;
    Ok(())
}

/// Sets what the edge does with the tenant's calls that carry no key of it
/// (platform admins): `refuse` (the default) or `pass`.
#[server(endpoint = "set_anonymous_calls")]
pub async fn set_anonymous_calls(slug: String, anonymous_calls: String) -> Result<(), AppError> {
    let back = keys_page(&slug).await;
    let result = async {
        let user = crate::auth::session::require_platform_admin().await?;
        let state = crate::server::state::app_state()?;
        let meta = crate::auth::session::client_meta().await;
        ssr::set_anonymous_calls(&state.pool, &meta.actor(Some(&user)), &slug, &anonymous_calls).await
    }
    .await;
    crate::ui::form::ssr::finish(result, &back, &[("anonymous_calls", anonymous_calls.clone())], |_| {
        format!("{back}?done=anonymous")
    })
    .await;
    Ok(())
}

/// Who may make and revoke keys: platform admins, and tenant admins (for their
/// own tenant, which is all their database scope shows).
#[cfg(feature = "ssr")]
async fn key_manager() -> Result<crate::auth::CurrentUser, AppError> {
    let user = crate::auth::session::require_user().await?;
    match user.role {
        crate::auth::Role::PlatformAdmin | crate::auth::Role::TenantAdmin => Ok(user),
        crate::auth::Role::PlatformAuditor => Err(AppError::Forbidden),
    }
}

/// The page a key form goes back to: a tenant admin's `/keys`, or the tenant's keys page.
#[cfg(feature = "ssr")]
async fn keys_page(slug: &str) -> String {
    let tenant_admin =
        crate::auth::session::require_user().await.is_ok_and(|u| u.role == crate::auth::Role::TenantAdmin);
    match crate::domain::slug::Slug::parse(slug) {
        Ok(slug) if !tenant_admin => format!("/tenants/{slug}/keys"),
        _ => "/keys".to_string(),
    }
}
