//! Quota alerts: a tenant passing 80 % or 100 % of a quota raises one alert
//! per crossing (see [`level`]), written to the audit trail, shown on
//! `/alerts` and in the header's count, and sent to webhooks.

#[cfg(feature = "ssr")]
pub mod change;
pub mod level;
mod pages;
#[cfg(feature = "ssr")]
pub mod ssr;

pub use pages::AlertsPage;

use crate::domain::limits::Limit;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A quota at or over 80 % now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenAlert {
    pub tenant_slug: String,
    pub tenant_name: String,
    pub limit: Limit,
    /// At or over 100 % (else 80 %).
    pub exceeded: bool,
    /// Usage and quota when the alert was raised.
    pub used: Option<i64>,
    pub quota: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

/// A tenant at or over 80 % of a quota, with its usage now (the dashboard's list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NearQuota {
    pub slug: String,
    pub name: String,
    pub limit: Limit,
    pub used: i64,
    /// The quota when its alert was raised.
    pub quota: i64,
}

/// One alert raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRow {
    pub id: i64,
    pub tenant_slug: String,
    pub tenant_name: String,
    pub limit: Limit,
    /// `quota.warning`, `quota.exceeded` or `quota.recovered`.
    pub kind: String,
    pub used: i64,
    pub quota: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub raised_at: OffsetDateTime,
}

impl AlertRow {
    /// The share of the quota used, in whole per cent.
    pub fn percent(&self) -> i64 {
        percent(self.used, self.quota)
    }
}

/// `used` as whole per cent of `quota` (rounded down, so 79.9 % reads 79 %).
pub fn percent(used: i64, quota: i64) -> i64 {
    if quota <= 0 {
        return 0;
    }
    ((used as i128 * 100) / quota as i128).min(i64::MAX as i128) as i64
}

/// A usage sample the fold set aside, and why (platform staff see these).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantinedSample {
    pub tenant_slug: Option<String>,
    pub metric: String,
    pub value: f64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub quarantined_at: OffsetDateTime,
}

/// The alerts page: the quotas standing at or over 80 %, the latest alerts,
/// and (for platform staff) the usage samples the fold set aside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertsOverview {
    pub open: Vec<OpenAlert>,
    pub recent: Vec<AlertRow>,
    /// `None` for a tenant admin: the quarantine is the platform's.
    pub quarantined: Option<Vec<QuarantinedSample>>,
}

/// The alerts the reader may see (a tenant admin: their tenant's).
#[server(endpoint = "quota_alerts")]
pub async fn quota_alerts() -> Result<AlertsOverview, AppError> {
    let user = crate::auth::session::require_user().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = crate::server::db::read(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let open = ssr::open(&mut tx).await?;
    let recent = ssr::recent(&mut tx, 100).await?;
    let quarantined = match user.role.is_platform_staff() {
        true => Some(ssr::quarantined(&mut tx, 50).await?),
        false => None,
    };
    tx.done().await?;
    Ok(AlertsOverview { open, recent, quarantined })
}

/// How many quotas the reader may see stand at or over 80 % (the header's count).
#[server(endpoint = "open_alert_count")]
pub async fn open_alert_count() -> Result<i64, AppError> {
    let user = crate::auth::session::require_user().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = crate::server::db::read(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let n = ssr::open_count(&mut tx).await?;
    tx.done().await?;
    Ok(n)
}
