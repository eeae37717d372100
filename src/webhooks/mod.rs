//! Webhooks: platform admins name the addresses that hear of quota alerts,
//! throttling and closed billing periods (`/settings/webhooks`). Messages are
//! written to an outbox with the event that causes them, signed as Standard
//! Webhooks 1.0 defines, and retried with growing delays for about a day.

#[cfg(feature = "ssr")]
pub mod outbox;
mod pages;
#[cfg(feature = "ssr")]
pub mod send;
#[cfg(feature = "ssr")]
pub mod ssr;

pub use pages::{WebhookPage, WebhooksPage};

use crate::error::AppError;
use crate::ui::form::FormEcho;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The events an endpoint may ask for, and what each announces.
pub const EVENT_TYPES: [(&str, &str); 6] = [
    ("quota.warning", "a tenant's usage passed 80 % of a quota"),
    ("quota.exceeded", "a tenant's usage reached 100 % of a quota"),
    ("quota.recovered", "a tenant's usage fell back under 75 % of a quota"),
    ("tenant.throttled", "a tenant's API calls for the month are spent and refused"),
    ("billing.period_closed", "a month closed, with each tenant's billing figures"),
    ("billing.period_adjusted", "a closed month corrected, with the tenant's figures after it"),
];

/// The form field of an event type (`quota.warning` → `quota_warning`).
pub fn event_field(event_type: &str) -> String {
    event_type.replace('.', "_")
}

/// An endpoint as the list shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointRow {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Messages delivered, and still being tried.
    pub delivered: i64,
    pub pending: i64,
}

/// The webhooks page: every endpoint, the last form's echo, and the secret of
/// the endpoint just added, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhooksOverview {
    pub endpoints: Vec<EndpointRow>,
    pub echo: FormEcho,
    pub fresh: Option<String>,
    pub can_edit: bool,
}

/// One try at delivering a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRow {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The HTTP status answered; none when nothing was.
    pub status: Option<i32>,
    pub duration_ms: i32,
    pub error: Option<String>,
}

/// One message to one endpoint, and its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub id: i64,
    pub message_id: String,
    pub event_type: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub given_up_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    pub attempts: Vec<AttemptRow>,
}

impl DeliveryRow {
    /// Where the delivery stands, in a word, and its badge's tone.
    pub fn state(&self) -> (&'static str, &'static str) {
        if self.delivered_at.is_some() {
            ("delivered", "success")
        } else if self.given_up_at.is_some() {
            ("given up", "danger")
        } else if self.attempts.is_empty() {
            ("waiting", "neutral")
        } else {
            ("retrying", "warning")
        }
    }
}

/// An endpoint's page: its delivery log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointDetail {
    pub endpoint: EndpointRow,
    pub deliveries: Vec<DeliveryRow>,
    pub echo: FormEcho,
    pub can_edit: bool,
}

/// The endpoints (platform staff), with the echo `form` names, spent by this read.
#[server(endpoint = "webhook_endpoints")]
pub async fn webhook_endpoints(form: Option<String>) -> Result<WebhooksOverview, AppError> {
    let user = crate::auth::session::require_platform_staff().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = crate::server::db::read(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let endpoints = ssr::list(&mut tx).await?;
    tx.done().await?;
    let mut echo = match form {
        Some(id) => crate::ui::form::ssr::take(&id).await.unwrap_or_default(),
        None => FormEcho::default(),
    };
    let fresh =
        echo.values.remove(ssr::FRESH_KEY).and_then(|sealed| crate::tokens::ssr::open_fresh(&state, user.id, &sealed));
    let can_edit = user.role == crate::auth::Role::PlatformAdmin;
    Ok(WebhooksOverview { endpoints, echo, fresh, can_edit })
}

/// Adds an endpoint (platform admins); the page shows its secret once.
#[server(endpoint = "create_webhook")]
pub async fn create_webhook(
    url: String,
    description: Option<String>,
    /// The event types ticked: each checkbox carries its type as its value (`events[]=quota.warning`).
    #[server(default)]
    events: Vec<String>,
) -> Result<(), AppError> {
    let chosen: Vec<&str> = events.iter().map(String::as_str).collect();
    let result = async {
        let user = crate::auth::session::require_platform_admin().await?;
        let state = crate::server::state::app_state()?;
        let meta = crate::auth::session::client_meta().await;
        let new = ssr::NewEndpoint::parse(&url, description.as_deref().unwrap_or_default(), &chosen)?;
        let secret = ssr::create(&state, &meta.actor(Some(&user)), user.id, new).await?;
        Ok(crate::tokens::ssr::seal_fresh(&state, user.id, &secret))
    }
    .await;
    match result {
        Ok(sealed) => {
            let echo = FormEcho { values: [(ssr::FRESH_KEY.to_string(), sealed)].into(), ..FormEcho::default() };
            leptos_axum::redirect(&crate::ui::form::ssr::echo_to("/settings/webhooks", echo).await);
        }
        Err(err) => {
            let mut fields = vec![("url", url), ("description", description.unwrap_or_default())];
            let names: Vec<String> = chosen.iter().map(|t| event_field(t)).collect();
            fields.extend(names.iter().map(|n| (n.as_str(), "on".to_string())));
            crate::ui::form::ssr::refuse("/settings/webhooks", &fields, &err).await;
        }
    }
    Ok(())
}

/// An endpoint and its delivery log (platform staff).
#[server(endpoint = "webhook_endpoint")]
pub async fn webhook_endpoint(id: String, form: Option<String>) -> Result<EndpointDetail, AppError> {
    let user = crate::auth::session::require_platform_staff().await?;
    let state = crate::server::state::app_state()?;
    let id = Uuid::parse_str(id.trim()).map_err(|_| AppError::NotFound)?;
    let mut tx = crate::server::db::read(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let endpoint = ssr::list(&mut tx).await?.into_iter().find(|e| e.id == id).ok_or(AppError::NotFound)?;
    let deliveries = ssr::deliveries(&mut tx, id).await?;
    tx.done().await?;
    let echo = match form {
        Some(f) => crate::ui::form::ssr::take(&f).await.unwrap_or_default(),
        None => FormEcho::default(),
    };
    let can_edit = user.role == crate::auth::Role::PlatformAdmin;
    Ok(EndpointDetail { endpoint, deliveries, echo, can_edit })
}

/// What a platform admin does to an endpoint from its page.
#[server(endpoint = "change_webhook")]
pub async fn change_webhook(id: String, change: String, delivery: Option<String>) -> Result<(), AppError> {
    let back = format!("/settings/webhooks/{}", id.trim());
    let result = async {
        let user = crate::auth::session::require_platform_admin().await?;
        let state = crate::server::state::app_state()?;
        let meta = crate::auth::session::client_meta().await;
        let id = Uuid::parse_str(id.trim()).map_err(|_| AppError::NotFound)?;
        let change = ssr::Change::parse(&change, delivery.as_deref())?;
        ssr::change(&state.pool, &meta.actor(Some(&user)), id, change).await
    }
    .await;
    crate::ui::form::ssr::finish(result, &back.clone(), &[], |done| match done {
        ssr::Done::Deleted => "/settings/webhooks?done=deleted".to_string(),
        ssr::Done::Stayed(word) => format!("{back}?done={word}"),
    })
    .await;
    Ok(())
}
