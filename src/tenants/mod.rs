//! Tenants: the list, creation, and a tenant's page.

pub mod domain;
mod pages;
#[cfg(feature = "ssr")]
pub mod ssr;

pub use pages::{NewTenantPage, TenantPage, TenantsPage};

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
    pub tier_id: String,
    pub isolation_level: i16,
    pub status: String,
    pub region: String,
    pub environment: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// One page of the tenant list and the cursor of the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantPageData {
    pub tenants: Vec<TenantRow>,
    pub next: Option<String>,
}

/// Everything the tenant's page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantDetail {
    pub tenant: TenantRow,
    pub compliance: Vec<String>,
    pub dedicated_instance: bool,
    pub namespace_target: Option<String>,
    pub version: i32,
    pub tier: Tier,
    pub limits: Vec<EffectiveLimit>,
}

/// The tone of a status badge.
pub fn status_tone(status: &str) -> &'static str {
    match status {
        "active" => "success",
        "provisioning" => "info",
        "suspended" => "warning",
        "deleted" => "danger",
        _ => "neutral",
    }
}

/// Tenants matching the filters, newest first, 50 at a time.
#[server(endpoint = "tenants")]
pub async fn list_tenants(
    q: Option<String>,
    tier: Option<String>,
    status: Option<String>,
    after: Option<String>,
) -> Result<TenantPageData, AppError> {
    let filter = ssr::ListFilter::parse(q, tier, status, after)?;
    crate::auth::session::require_platform_staff().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = crate::server::db::begin(&state.pool, crate::server::db::Scope::Platform).await?;
    let page = ssr::list(&mut tx, &filter).await?;
    tx.commit().await?;
    Ok(page)
}

/// One tenant by slug.
#[server(endpoint = "tenant")]
pub async fn get_tenant(slug: String) -> Result<TenantDetail, AppError> {
    crate::auth::session::require_platform_staff().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = crate::server::db::begin(&state.pool, crate::server::db::Scope::Platform).await?;
    let detail = ssr::detail(&mut tx, &slug).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    Ok(detail)
}

/// Creates a tenant. Answers with a redirect: to the new tenant's page, or
/// back to the form with what was typed and a message per field.
#[server(endpoint = "create_tenant")]
#[allow(clippy::too_many_arguments)]
pub async fn create_tenant(
    name: String,
    slug: String,
    tier: String,
    isolation: Option<String>,
    region: String,
    environment: String,
    gdpr: Option<String>,
    sox: Option<String>,
    hipaa: Option<String>,
    pci_dss: Option<String>,
) -> Result<(), AppError> {
    let compliance: Vec<String> = [("gdpr", gdpr), ("sox", sox), ("hipaa", hipaa), ("pci-dss", pci_dss)]
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k.to_string())
        .collect();
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
        ssr::create(&state.pool, &meta.actor(Some(&user)), Some(user.id), input).await
    }
    .await;
    match result {
        Ok(created) => leptos_axum::redirect(&format!("/tenants/{created}?created=1")),
        Err(err) => {
            let mut fields = vec![
                ("name", name),
                ("slug", slug),
                ("tier", tier),
                ("isolation", isolation.unwrap_or_default()),
                ("region", region),
                ("environment", environment),
            ];
            for c in &compliance {
                fields.push((if c == "pci-dss" { "pci_dss" } else { c.as_str() }, "on".to_string()));
            }
            leptos_axum::redirect(&crate::server::middleware::form_error_url("/tenants/new", &fields, &err));
        }
    }
    Ok(())
}
