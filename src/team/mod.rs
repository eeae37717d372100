//! Tenant admins: invited by a platform admin from the tenant's page with a
//! one-time link (72 hours, revocable, its token stored hashed); the link
//! leads to choosing a password, then to TOTP enrolment, which signs them in.

mod pages;

pub use pages::{admins_resource, AdminsResource, InvitationPage, TenantAdminsSection};

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// How long an invitation link works.
pub const INVITATION_HOURS: i64 = 72;

/// A tenant admin, as the tenant's page lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminRow {
    pub id: Uuid,
    pub email: String,
    pub mfa: bool,
    pub disabled: bool,
    /// Locked after too many wrong passwords, until unlocked.
    pub locked: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An invitation and where it stands: pending, used, expired or revoked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitationRow {
    pub id: Uuid,
    pub email: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub state: String,
}

/// A tenant's admins and invitations, with the link just made (shown once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminsOverview {
    pub admins: Vec<AdminRow>,
    pub invitations: Vec<InvitationRow>,
    pub fresh_link: Option<String>,
}

/// What an invitation link shows before it is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationView {
    pub email: Option<String>,
    pub tenant_name: Option<String>,
    /// unknown, revoked, used, expired or exists.
    pub problem: Option<String>,
}

/// What an invitation's problem means, for the person holding the link.
pub fn problem_message(code: &str) -> &'static str {
    match code {
        "revoked" => "This invitation was revoked. Ask your platform administrator for a new one.",
        "used" => "This invitation was already used. Sign in with the password you chose.",
        "expired" => "This invitation has expired (links work for 72 hours). Ask for a new one.",
        "exists" => "An account with this address already exists. Sign in instead.",
        _ => "This invitation link is not valid. Check that you copied all of it.",
    }
}

/// The tenant's admins and invitations (platform staff, or the tenant's own
/// admins: the query runs in the reader's scope).
#[server(endpoint = "tenant_admins")]
pub async fn tenant_admins(slug: String) -> Result<AdminsOverview, AppError> {
    let user = crate::auth::session::require_user().await?;
    let state = crate::server::state::app_state()?;
    let session = crate::auth::session::extract::<tower_sessions::Session>().await?;
    ssr::list(&state, &session, &user, &slug).await
}

/// Invites `email` to administer the tenant (platform admins, or an admin of
/// that tenant). Answers with a redirect to the page the invitation was made
/// from, where the link is shown once.
#[server(endpoint = "invite_tenant_admin")]
pub async fn invite_tenant_admin(slug: String, email: String) -> Result<(), AppError> {
    let result = async {
        let user = team_manager().await?;
        let state = crate::server::state::app_state()?;
        let session = crate::auth::session::extract::<tower_sessions::Session>().await?;
        let meta = crate::auth::session::client_meta().await;
        let origin = request_origin(&state).await;
        ssr::invite(&state, &session, &meta, &user, &slug, &email, &origin).await
    }
    .await;
    finish(&slug, result.map(|mailed| if mailed { "invited_by_mail" } else { "invited" }), &[("invite_email", email)])
        .await;
    Ok(())
}

/// Revokes a pending invitation (platform admins, or an admin of that tenant).
#[server(endpoint = "revoke_invitation")]
pub async fn revoke_invitation(slug: String, id: Uuid) -> Result<(), AppError> {
    let result = async {
        let user = team_manager().await?;
        let state = crate::server::state::app_state()?;
        let meta = crate::auth::session::client_meta().await;
        ssr::revoke(&state, &meta, &user, &slug, id).await
    }
    .await;
    finish(&slug, result.map(|_| "invitation_revoked"), &[]).await;
    Ok(())
}

/// Resets a tenant admin's second factor (a one-time link lets them set up a
/// new one), unlocks or disables the account (platform admins). Either ends all of
/// that user's sessions. `confirm` must be ticked.
#[server(endpoint = "manage_tenant_admin")]
pub async fn manage_tenant_admin(
    slug: String,
    user_id: Uuid,
    action: String,
    confirm: Option<String>,
) -> Result<(), AppError> {
    let result = async {
        let admin = crate::auth::session::require_platform_admin().await?;
        if confirm.is_none() {
            return Err(AppError::invalid("_form", "Tick the box to confirm."));
        }
        let state = crate::server::state::app_state()?;
        let meta = crate::auth::session::client_meta().await;
        let session = crate::auth::session::extract::<tower_sessions::Session>().await?;
        let origin = request_origin(&state).await;
        ssr::manage(
            &state,
            &session,
            &meta,
            &admin,
            ssr::Management { slug: &slug, user_id, action: &action, origin: &origin },
        )
        .await
    }
    .await;
    finish(&slug, result, &[]).await;
    Ok(())
}

/// What the link `token` shows (anyone holding it).
#[server(endpoint = "invitation")]
pub async fn invitation(token: String) -> Result<InvitationView, AppError> {
    let state = crate::server::state::app_state()?;
    ssr::status(&state, &token).await
}

/// Creates the tenant admin's account with the chosen password, then sends
/// them to TOTP enrolment. Answers with a redirect.
#[server(endpoint = "accept_invitation")]
pub async fn accept_invitation(token: String, password: String, confirm: String) -> Result<(), AppError> {
    let state = crate::server::state::app_state()?;
    let session = crate::auth::session::extract::<tower_sessions::Session>().await?;
    let meta = crate::auth::session::client_meta().await;
    let back = format!("/invite/{}", crate::ui::url_encode(&token));
    match ssr::accept(&state, &session, &meta, &token, password, &confirm).await {
        Ok(()) => leptos_axum::redirect("/login/enrol"),
        Err(err @ AppError::Invalid(_)) => crate::ui::form::ssr::refuse(&back, &[], &err).await,
        Err(other) => return Err(other),
    }
    Ok(())
}

/// Who may invite and revoke: platform admins, and tenant admins (for their
/// own tenant, which is all their database scope shows).
#[cfg(feature = "ssr")]
async fn team_manager() -> Result<crate::auth::CurrentUser, AppError> {
    let user = crate::auth::session::require_user().await?;
    match user.role {
        crate::auth::Role::PlatformAdmin | crate::auth::Role::TenantAdmin => Ok(user),
        crate::auth::Role::PlatformAuditor => Err(AppError::Forbidden),
    }
}

/// Back to where the form was: a tenant admin's Team page, or the tenant's page.
#[cfg(feature = "ssr")]
async fn finish(slug: &str, result: Result<&str, AppError>, fields: &[(&str, String)]) {
    let tenant_admin =
        crate::auth::session::require_user().await.is_ok_and(|u| u.role == crate::auth::Role::TenantAdmin);
    let page = if tenant_admin { "/team".to_string() } else { format!("/tenants/{slug}") };
    crate::ui::form::ssr::finish(result, &format!("{page}#admins"), fields, |code| {
        format!("{page}?done={code}#admins")
    })
    .await;
}

/// The console's address for links: the configured public address, else the
/// request's own host.
#[cfg(feature = "ssr")]
async fn request_origin(state: &crate::server::state::AppState) -> String {
    if let Some(o) = &state.config.public_origin {
        return o.clone();
    }
    let headers = leptos_axum::extract::<http::HeaderMap>().await.unwrap_or_default();
    let host = headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}

#[cfg(feature = "ssr")]
pub mod ssr;
