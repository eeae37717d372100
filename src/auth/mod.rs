//! Signing in and out, sessions, roles and the guards every server function uses.

pub mod account;
mod account_page;
pub mod email;
#[cfg(feature = "ssr")]
pub mod gate;
#[cfg(feature = "ssr")]
pub mod held;
#[cfg(feature = "ssr")]
pub mod link_token;
pub mod mfa;
mod mfa_pages;
mod pages;
#[cfg(feature = "ssr")]
pub mod password;
#[cfg(feature = "ssr")]
pub mod reauth;
#[cfg(feature = "ssr")]
pub mod request;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
mod session_check;
#[cfg(feature = "ssr")]
pub mod session_store;
#[cfg(feature = "ssr")]
pub mod sign_in_state;
#[cfg(feature = "ssr")]
pub mod throttle;
#[cfg(feature = "ssr")]
pub mod totp;
#[cfg(feature = "ssr")]
pub mod users;

pub use account_page::AccountPage;
pub use mfa_pages::{EnrolPage, LoginCodePage, MfaResetPage, RecoveryCodesPage};
pub use pages::LoginPage;

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a signed-in person may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    PlatformAdmin,
    PlatformAuditor,
    TenantAdmin,
}

impl Role {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::PlatformAuditor => "platform_auditor",
            Role::TenantAdmin => "tenant_admin",
        }
    }

    /// The name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "Platform admin",
            Role::PlatformAuditor => "Platform auditor",
            Role::TenantAdmin => "Tenant admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "platform_admin" => Some(Role::PlatformAdmin),
            "platform_auditor" => Some(Role::PlatformAuditor),
            "tenant_admin" => Some(Role::TenantAdmin),
            _ => None,
        }
    }

    pub fn is_platform_staff(self) -> bool {
        matches!(self, Role::PlatformAdmin | Role::PlatformAuditor)
    }
}

/// The signed-in user, as the pages see them (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub tenant_id: Option<Uuid>,
}

/// Where to go after signing in: only a path on this console, never another site.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.starts_with("/login")
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

/// The message the login page shows for the `error` code in its address.
pub fn login_error_message(code: &str) -> Option<&'static str> {
    match code {
        "invalid" => Some("The e-mail address or password is incorrect."),
        "email" => Some("Enter an e-mail address like name@example.com."),
        "locked" => Some("Too many sign-in attempts. Wait a few minutes, then try again."),
        "unavailable" => Some("The console cannot reach its database right now. Try again in a moment."),
        "expired" => Some("Your sign-in took too long, or was not started. Sign in again."),
        "suspended" => Some("Your organisation's access to the console is suspended. Ask your platform administrator."),
        _ => None,
    }
}

/// `path`, carrying `next` along when it is not the dashboard.
pub fn with_next(path: &str, next: &str) -> String {
    if next == "/" {
        path.to_string()
    } else {
        format!("{path}?next={}", crate::ui::url_encode(next))
    }
}

/// Signs in with e-mail and password. Always answers with a redirect: to `next`
/// on success, back to the login page with an error code otherwise, so that the
/// form behaves the same with and without JavaScript.
#[server(endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    use session::LoginOutcome;
    let next = safe_next(next.as_deref());
    let back = |code: &str| {
        let mut url = format!("/login?error={code}");
        if next != "/" {
            url.push_str("&next=");
            url.push_str(&crate::server::middleware::url_encode(&next));
        }
        url
    };
    match session::login(&email, password).await {
        Ok(LoginOutcome::SignedIn) => leptos_axum::redirect(&next),
        Ok(LoginOutcome::NeedsCode) => leptos_axum::redirect(&with_next("/login/code", &next)),
        Ok(LoginOutcome::NeedsEnrolment) => leptos_axum::redirect("/login/enrol"),
        Ok(LoginOutcome::BadEmail) => leptos_axum::redirect(&back("email")),
        Ok(LoginOutcome::Invalid) => leptos_axum::redirect(&back("invalid")),
        Ok(LoginOutcome::Locked) => leptos_axum::redirect(&back("locked")),
        Ok(LoginOutcome::TenantClosed) => leptos_axum::redirect(&back("suspended")),
        Err(AppError::Unavailable { .. }) => leptos_axum::redirect(&back("unavailable")),
        Err(other) => return Err(other),
    }
    Ok(())
}

/// Ends the current session, here and in the database.
#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    session::logout().await?;
    leptos_axum::redirect("/login?signed_out=1");
    Ok(())
}

/// The signed-in user, or `Unauthorized`.
#[server(endpoint = "me")]
pub async fn fetch_current_user() -> Result<CurrentUser, AppError> {
    session::require_user().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_console() {
        assert_eq!(safe_next(Some("/tenants?page=2")), "/tenants?page=2");
        for bad in ["//evil.example", "https://evil.example", "/\\evil.example", "evil", "/login?next=/"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in [Role::PlatformAdmin, Role::PlatformAuditor, Role::TenantAdmin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
        assert!(Role::PlatformAuditor.is_platform_staff());
        assert!(!Role::TenantAdmin.is_platform_staff());
    }

    #[test]
    fn unknown_error_codes_show_nothing() {
        assert!(login_error_message("invalid").is_some());
        assert!(login_error_message("<script>").is_none());
    }
}
