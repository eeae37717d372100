//! The second step of signing in (a TOTP or recovery code), enrolment in
//! TOTP, and recovery codes shown once.
//!
//! After the password, the browser's session holds only a pending sign-in
//! (`PENDING_KEY`): it reaches the code and enrolment forms and nothing else,
//! because it has no signed-in session until the second step succeeds, and
//! then under a new session id.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the enrolment page shows: the secret three ways.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    pub email: String,
    /// Already enrolled: nothing to show.
    pub enrolled: bool,
    /// Signed in with no factor: the password is asked again before a secret is shown.
    pub needs_password: bool,
    /// The new secret replaces the account's current one once confirmed.
    pub replacing: bool,
    pub secret: String,
    pub uri: String,
    /// PNG of the QR code, base64.
    pub qr_png: String,
}

/// The message for an error code in the second step's address.
pub fn code_error_message(code: &str) -> Option<&'static str> {
    match code {
        "wrong" => Some("That code is not right. Check the time on your device and try the current code."),
        "replayed" => Some("That code was already used. Wait for the next code and enter it."),
        "locked" => Some("Too many wrong codes. Wait a few minutes, then try again."),
        "expired" => Some("Your sign-in took too long. Sign in again."),
        "recovery" => Some("That recovery code is not valid, or it was already used."),
        "failed" => Some("The code could not be checked just now. Try again in a moment."),
        _ => None,
    }
}

/// Checks the second factor. Answers with a redirect: to `next` once signed
/// in, back to the code form with an error code otherwise.
#[server(endpoint = "verify_code")]
pub async fn verify_code(code: String, next: Option<String>) -> Result<(), AppError> {
    let next = super::safe_next(next.as_deref());
    let state = crate::server::state::app_state()?;
    let session = super::session::extract::<tower_sessions::Session>().await?;
    let meta = super::session::client_meta().await;
    // A check that fails for any reason answers as a failure, and is audited.
    let outcome = match ssr::verify_code_with(&state, &session, &meta, &code).await {
        Ok(outcome) => outcome,
        Err(err) => {
            tracing::error!(error = %err, "a second-factor check could not be completed");
            ssr::audit_failed_check(&state, &session, &meta).await;
            ssr::CodeOutcome::Refused("failed")
        }
    };
    let back = |error: &str| {
        let mut url = format!("/login/code?error={error}");
        if next != "/" {
            url.push_str("&next=");
            url.push_str(&crate::ui::url_encode(&next));
        }
        url
    };
    match outcome {
        ssr::CodeOutcome::SignedIn => leptos_axum::redirect(&next),
        ssr::CodeOutcome::Expired => leptos_axum::redirect("/login?error=expired"),
        ssr::CodeOutcome::Refused(reason) => leptos_axum::redirect(&back(reason)),
    }
    Ok(())
}

/// The secret to enrol, for the signed-in user or the sign-in waiting for
/// enrolment. The secret stays the same until enrolment completes.
#[server(endpoint = "mfa_enrolment")]
pub async fn mfa_enrolment() -> Result<Enrolment, AppError> {
    let state = crate::server::state::app_state()?;
    let session = super::session::extract::<tower_sessions::Session>().await?;
    enrol::enrolment(&state, &session).await
}

/// Turns TOTP on once `code` proves the authenticator holds the secret.
/// Answers with a redirect: to the recovery codes, or back with an error.
#[server(endpoint = "confirm_enrolment")]
pub async fn confirm_enrolment(code: String) -> Result<(), AppError> {
    let state = crate::server::state::app_state()?;
    let session = super::session::extract::<tower_sessions::Session>().await?;
    let meta = super::session::client_meta().await;
    match enrol::confirm(&state, &session, &meta, &code).await {
        Ok(()) => leptos_axum::redirect("/login/recovery-codes"),
        Err(err @ AppError::Invalid(_)) => crate::ui::form::ssr::refuse("/login/enrol", &[], &err).await,
        Err(AppError::Unauthorized) => leptos_axum::redirect("/login?error=expired"),
        Err(other) => return Err(other),
    }
    Ok(())
}

/// Gives a signed-in user without a second factor leave to set one up, once
/// they have entered their password again. Answers with a redirect.
#[server(endpoint = "begin_enrolment")]
pub async fn begin_enrolment(password: String) -> Result<(), AppError> {
    let state = crate::server::state::app_state()?;
    let session = super::session::extract::<tower_sessions::Session>().await?;
    let meta = super::session::client_meta().await;
    match enrol::begin(&state, &session, &meta, password).await {
        Ok(()) => leptos_axum::redirect("/login/enrol"),
        Err(err @ AppError::Invalid(_)) => crate::ui::form::ssr::refuse("/login/enrol", &[], &err).await,
        Err(AppError::Unauthorized) => leptos_axum::redirect("/login?error=expired"),
        Err(other) => return Err(other),
    }
    Ok(())
}

/// What a second-factor reset link shows before it is used: whose it is, or
/// only why it no longer works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetLinkView {
    pub email: Option<String>,
    pub problem: Option<String>,
}

/// What a reset link's problem means, for the person holding it.
pub fn reset_problem_message(problem: &str) -> &'static str {
    match problem {
        "used" => "This reset link was already used. If that was not you, tell your platform administrator.",
        "revoked" => "This reset link was replaced by a newer one, or withdrawn.",
        "expired" => "This reset link has expired (links work for 72 hours). Ask for a new one.",
        _ => "This reset link is not valid. Check that you copied all of it.",
    }
}

/// The reset link `token`, as its holder sees it.
#[server(endpoint = "mfa_reset_link")]
pub async fn mfa_reset_link(token: String) -> Result<ResetLinkView, AppError> {
    let state = crate::server::state::app_state()?;
    reset::status(&state, &token).await
}

/// Checks the link and the account's password, then sends the browser to
/// set up the new factor. Answers with a redirect.
#[server(endpoint = "open_mfa_reset")]
pub async fn open_mfa_reset(token: String, password: String) -> Result<(), AppError> {
    let state = crate::server::state::app_state()?;
    let session = super::session::extract::<tower_sessions::Session>().await?;
    let meta = super::session::client_meta().await;
    let back = format!("/mfa-reset/{}", crate::ui::url_encode(&token));
    match reset::open(&state, &session, &meta, &token, password).await {
        Ok(()) => leptos_axum::redirect("/login/enrol"),
        Err(err @ AppError::Invalid(_)) => crate::ui::form::ssr::refuse(&back, &[], &err).await,
        Err(other) => return Err(other),
    }
    Ok(())
}

/// The recovery codes just issued, once: a second call answers with none.
#[server(endpoint = "recovery_codes")]
pub async fn take_recovery_codes() -> Result<Vec<String>, AppError> {
    let state = crate::server::state::app_state()?;
    let session = super::session::extract::<tower_sessions::Session>().await?;
    let user = super::session::require_user().await?;
    ssr::take_recovery_codes(&state, &session, &user).await
}

#[cfg(feature = "ssr")]
pub mod enrol;
#[cfg(feature = "ssr")]
pub mod reset;
#[cfg(feature = "ssr")]
pub mod ssr;
