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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    pub email: String,
    /// Already enrolled: nothing to show.
    pub enrolled: bool,
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
    ssr::enrolment(&state, &session).await
}

/// Turns TOTP on once `code` proves the authenticator holds the secret.
/// Answers with a redirect: to the recovery codes, or back with an error.
#[server(endpoint = "confirm_enrolment")]
pub async fn confirm_enrolment(code: String) -> Result<(), AppError> {
    let state = crate::server::state::app_state()?;
    let session = super::session::extract::<tower_sessions::Session>().await?;
    let meta = super::session::client_meta().await;
    match ssr::confirm(&state, &session, &meta, &code).await {
        Ok(()) => leptos_axum::redirect("/login/recovery-codes"),
        Err(err @ AppError::Invalid(_)) => crate::ui::form::ssr::refuse("/login/enrol", &[], &err).await,
        Err(AppError::Unauthorized) => leptos_axum::redirect("/login?error=expired"),
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
pub mod ssr;
