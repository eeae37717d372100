//! Dedicated instances, proven: the activation checklist a tenant at
//! isolation level 3 goes through before the routing check sends its host to
//! an instance of its own (`/tenants/{slug}/activation`).

#[cfg(feature = "ssr")]
pub mod drift;
#[cfg(feature = "ssr")]
pub mod files;
#[cfg(feature = "ssr")]
pub mod issue;
/// A tenant's activation record, kept with the tenant's changes that start and follow it.
#[cfg(feature = "ssr")]
pub use crate::tenants::ssr::activation as lifecycle;
mod pages;
#[cfg(feature = "ssr")]
pub mod probes;
#[cfg(feature = "ssr")]
pub mod queue;
#[cfg(feature = "ssr")]
pub mod report;
#[cfg(feature = "ssr")]
pub mod ssr;
/// The checklist's states and steps (a domain value).
pub use crate::domain::activation as state;
#[cfg(feature = "ssr")]
pub mod subject;
#[cfg(feature = "ssr")]
pub mod teardown;

/// What a dedicated tenant's instance is rendered as (shared with level 2's namespace).
#[cfg(feature = "ssr")]
pub use crate::manifests::{bundle, invariants, outside, render};

pub use pages::ActivationPage;

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use state::{ActivationState, Step};
use time::OffsetDateTime;

/// A tenant's live activation as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveActivation {
    pub state: ActivationState,
    pub failed_step: Option<Step>,
    pub failure: Option<String>,
    pub domain: Option<String>,
    pub upstream: Option<String>,
    pub health_url: Option<String>,
    pub version: i32,
    /// The step that runs next, if any.
    pub next: Option<Step>,
    /// The rendered files' names, once rendered.
    pub files: Vec<String>,
    /// Once active: the probe that failed on the last scheduled re-run, if one did.
    pub drift: Option<String>,
}

/// One recorded run of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: String,
    pub outcome: String,
    /// The evidence, as pretty JSON.
    pub evidence: String,
    pub actor: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A signed integrity report, as the page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportSummary {
    pub sha256: String,
    pub key_id: String,
    /// The rendered files it vouches for: name and SHA-256.
    pub subjects: Vec<(String, String)>,
    /// What its probes found, as pretty JSON.
    pub predicate: String,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
}

/// What the checklist page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationView {
    pub slug: String,
    pub tenant_name: String,
    pub namespace: Option<String>,
    pub live: Option<LiveActivation>,
    /// Every step recorded, of this and earlier activations, newest first.
    pub history: Vec<StepRecord>,
    /// The newest signed integrity report, if one was issued.
    pub report: Option<ReportSummary>,
    /// Platform admins run the steps; everyone else reads.
    pub can_run: bool,
    /// The password of the tenant's Redis user, on the one view after it was made.
    pub fresh_queue_password: Option<String>,
}

/// Where the password of a tenant's new Redis user waits (sealed) for its one showing.
#[cfg(feature = "ssr")]
const FRESH_QUEUE_KEY: &str = "fresh_queue_password";

/// The checklist of `slug`, in the viewer's scope (a tenant admin sees their own tenant's, read-only).
#[server(endpoint = "activation")]
pub async fn activation(slug: String) -> Result<ActivationView, AppError> {
    let user = crate::auth::session::require_user().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = crate::server::db::read(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let mut view = ssr::view(&mut tx, &slug).await?.ok_or(AppError::NotFound)?;
    tx.done().await?;
    view.can_run = user.role == crate::auth::Role::PlatformAdmin;
    let session = crate::auth::session::extract::<tower_sessions::Session>().await?;
    let sealed: Option<Vec<u8>> = session.get(FRESH_QUEUE_KEY).await?;
    let fresh = sealed.and_then(|s| state.secrets.open(user.id, &s).ok()).and_then(|b| String::from_utf8(b).ok());
    if let Some((for_slug, password)) = fresh.as_deref().and_then(|f| f.split_once('\n')) {
        if for_slug == slug {
            session.remove_value(FRESH_QUEUE_KEY).await?;
            view.fresh_queue_password = Some(password.to_string());
        }
    }
    Ok(view)
}

/// What an activation action did, as the code carried in the page's address.
pub fn done_message(code: &str) -> Option<&'static str> {
    match code {
        "configured" => Some("Configuration saved: the checklist starts again from rendering."),
        "passed" => Some("Step passed."),
        "failed" => Some("The step failed: the reason is below; correct it and run the step again."),
        "active" => Some("The tenant runs on its dedicated instance: the routing check sends its host there."),
        _ => None,
    }
}

#[cfg(feature = "ssr")]
async fn finish(slug: &str, result: Result<&str, AppError>, fields: &[(&str, String)]) {
    let page = format!("/tenants/{slug}/activation");
    crate::ui::form::ssr::finish(result, &page, fields, |code| format!("{page}?done={code}")).await
}

/// Saves the dedicated instance's domain, upstream and health URL (platform admins).
#[server(endpoint = "configure_activation")]
pub async fn configure_activation(
    slug: String,
    version: i32,
    domain: String,
    upstream: String,
    health_url: String,
) -> Result<(), AppError> {
    let fields = [("domain", domain.clone()), ("upstream", upstream.clone()), ("health_url", health_url.clone())];
    let result = async {
        let user = crate::auth::session::require_platform_admin().await?;
        let state = crate::server::state::app_state()?;
        let actor = crate::auth::session::client_meta().await.actor(Some(&user));
        ssr::configure(&state, &actor, &slug, version, &domain, &upstream, &health_url).await
    }
    .await;
    finish(&slug, result.map(|_| "configured"), &fields).await;
    Ok(())
}

/// Runs the checklist's next step (platform admins). `applied` confirms that
/// the operator applied the manifests (the apply step asks for it).
#[server(endpoint = "run_activation_step")]
pub async fn run_activation_step(
    slug: String,
    version: i32,
    step: String,
    applied: Option<String>,
) -> Result<(), AppError> {
    let result = async {
        let user = crate::auth::session::require_platform_admin().await?;
        let state = crate::server::state::app_state()?;
        let actor = crate::auth::session::client_meta().await.actor(Some(&user));
        let step = Step::parse(&step).ok_or_else(|| AppError::invalid("step", "Unknown step."))?;
        let ran = ssr::run_step(&state, &actor, &slug, version, step, applied.is_some()).await?;
        if let Some(password) = ran.fresh_queue_password {
            let session = crate::auth::session::extract::<tower_sessions::Session>().await?;
            session
                .insert(FRESH_QUEUE_KEY, state.secrets.seal(user.id, format!("{slug}\n{password}").as_bytes()))
                .await?;
        }
        Ok(ran.state)
    }
    .await;
    let code = result.map(|s| match s {
        ActivationState::Active => "active",
        ActivationState::Failed => "failed",
        _ => "passed",
    });
    finish(&slug, code, &[]).await;
    Ok(())
}
