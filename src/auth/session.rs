//! Sessions: signing in and out, checking a session on every request, and the
//! guards server functions call before doing anything.

use super::email::EmailAddress;
use super::password;
use super::throttle::{load_counter, note_refusal, policies, store_counter, take_refused, Admission};
use super::{CurrentUser, Role};
use crate::audit::{self, NewEvent};
use crate::error::AppError;
use crate::server::db::{self, Scope};
use crate::server::state::{app_state, AppState};
use axum::Extension;
use serde_json::json;
use sqlx::PgConnection;
use tower_sessions::Session;
use uuid::Uuid;

pub use super::sign_in_state::{enter_session, SESSION_KEY};

pub use super::request::{AuthContext, ClientMeta};
pub use super::session_check::{check, SessionCheck};

pub(crate) async fn extract<T>() -> Result<T, AppError>
where
    T: axum::extract::FromRequestParts<()> + Send,
    T::Rejection: std::fmt::Debug,
{
    leptos_axum::extract::<T>().await.map_err(AppError::internal)
}

/// This request's client address and user agent.
pub async fn client_meta() -> ClientMeta {
    extract::<Extension<ClientMeta>>().await.map(|Extension(m)| m).unwrap_or_default()
}

/// The signed-in user, or `Unauthorized`.
pub async fn require_user() -> Result<CurrentUser, AppError> {
    let Extension(ctx) = extract::<Extension<AuthContext>>().await.map_err(|_| AppError::Unauthorized)?;
    ctx.user.ok_or(AppError::Unauthorized)
}

/// The database scope a user's requests run in: platform staff see every
/// tenant, a tenant admin their own tenant, by Row-Level Security.
pub fn scope_for(user: &CurrentUser) -> Result<Scope, AppError> {
    match (user.role, user.tenant_id) {
        (Role::PlatformAdmin, _) => Ok(Scope::Platform),
        (Role::PlatformAuditor, _) => Ok(Scope::Auditor),
        (Role::TenantAdmin, Some(tenant)) => Ok(Scope::Tenant(tenant)),
        _ => Err(AppError::Forbidden),
    }
}

/// A platform admin or auditor (reading), or `Forbidden`.
pub async fn require_platform_staff() -> Result<CurrentUser, AppError> {
    let user = require_user().await?;
    if user.role.is_platform_staff() {
        Ok(user)
    } else {
        Err(AppError::Forbidden)
    }
}

/// A platform admin (changing things), or `Forbidden`.
pub async fn require_platform_admin() -> Result<CurrentUser, AppError> {
    let user = require_user().await?;
    if user.role == Role::PlatformAdmin {
        Ok(user)
    } else {
        Err(AppError::Forbidden)
    }
}

/// How a sign-in attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    SignedIn,
    /// The password was right; the second factor comes next.
    NeedsCode,
    /// The password was right; the account must enrol TOTP before it signs in.
    NeedsEnrolment,
    /// The e-mail is not an address at all (nothing was looked up).
    BadEmail,
    /// Unknown e-mail or wrong password: the same answer for both.
    Invalid,
    /// Too many attempts for this account or address: try later.
    Locked,
    /// The password was right, but the user's tenant is suspended or deleted.
    TenantClosed,
}

struct StoredUser {
    id: Uuid,
    email: String,
    password_hash: String,
    role: String,
    tenant_id: Option<Uuid>,
    disabled: bool,
    mfa_enrolled: bool,
    tenant_closed: bool,
    locked: bool,
}

/// Signs in from a server function: reads the session and client from the request.
pub async fn login(email: &str, password: String) -> Result<LoginOutcome, AppError> {
    let state = app_state()?;
    let session = extract::<Session>().await?;
    let meta = client_meta().await;
    login_with(&state, &session, &meta, email, password).await
}

/// Checks the credentials under the throttle, and on success opens a session
/// with a new id. Every outcome is an audit event.
pub async fn login_with(
    state: &AppState,
    session: &Session,
    meta: &ClientMeta,
    email_input: &str,
    password: String,
) -> Result<LoginOutcome, AppError> {
    let anonymous = meta.actor(None);
    let email = match EmailAddress::parse(email_input) {
        Ok(e) => e,
        Err(_) => {
            // Nothing is looked up for a string that is not an address, but the
            // attempt is still recorded: by its length only, since what lands in
            // the e-mail field by mistake is often a password.
            let length = email_input.trim().chars().count();
            let mut tx = db::begin(&state.pool, Scope::Auth).await?;
            audit::record(
                &mut tx,
                &anonymous,
                NewEvent::new("auth.login.failed")
                    .after(json!({ "email_length": length, "reason": "not an e-mail address" })),
            )
            .await?;
            tx.commit().await?;
            return Ok(LoginOutcome::BadEmail);
        }
    };
    let attempted = json!({ "email": email.as_str() });
    let (account_policy, ip_policy) = policies(state);
    let account_key = format!("account:{email}");
    let ip_key = meta.throttle_group().map(|group| format!("ip:{group}"));

    // 1. Count the attempt, atomically, before looking at the password.
    let mut tx = db::begin(&state.pool, Scope::Auth).await?;
    let (account_counter, now) = load_counter(&mut tx, &account_key).await?;
    let account = account_policy.admit(account_counter, now);
    // The address's counter as it stood, to put back if the password is right.
    let mut ip_before = None;
    let ip = match &ip_key {
        Some(key) => {
            let before = load_counter(&mut tx, key).await?.0;
            ip_before = Some(before);
            Some(ip_policy.admit(before, now))
        }
        None => None,
    };
    let refused = [Some(account), ip].into_iter().flatten().any(|a| matches!(a, Admission::Refused { .. }));
    if refused {
        // Counted, not audited one by one: a flood would write a row per attempt.
        note_refusal(&mut tx, &account_key).await?;
        tx.commit().await?;
        return Ok(LoginOutcome::Locked);
    }
    let Admission::Admitted(account_after) = account else { unreachable!("refusal handled above") };
    store_counter(&mut tx, &account_key, &account_after).await?;
    // The wait is over: the attempts it refused, in one event.
    let refused_while_waiting = take_refused(&mut tx, &account_key).await?;
    if refused_while_waiting > 0 {
        audit::record(
            &mut tx,
            &anonymous,
            NewEvent::new("auth.login.throttled")
                .target(email.as_str())
                .after(json!({ "email": email.as_str(), "refused": refused_while_waiting })),
        )
        .await?;
    }
    if let (Some(key), Some(Admission::Admitted(c))) = (&ip_key, ip) {
        store_counter(&mut tx, key, &c).await?;
    }
    let user = sqlx::query_as!(
        StoredUser,
        r#"SELECT id, email, password_hash, role, tenant_id, disabled_at IS NOT NULL AS "disabled!",
                  totp_enrolled_at IS NOT NULL AS "mfa_enrolled!",
                  tenant_id IS NOT NULL AND NOT tenant_access_open(tenant_id) AS "tenant_closed!",
                  locked_at IS NOT NULL AS "locked!"
           FROM users WHERE email = $1"#,
        email.as_str()
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;

    // 2. Check the password; an unknown user costs the same.
    let password = if password.len() > password::MAX_LENGTH { String::new() } else { password };
    let matches = password::verify(password, user.as_ref().map(|u| u.password_hash.clone())).await?;
    let mut tx = db::begin(&state.pool, Scope::Auth).await?;
    // A locked account answers as a waiting one, whatever the password: a
    // guesser learns nothing, and its owner is told by e-mail how to get in.
    if let Some(u) = user.as_ref().filter(|u| u.locked) {
        audit::record(
            &mut tx,
            &anonymous,
            NewEvent::new("auth.login.throttled").target(u.email.as_str()).after(
                json!({ "email": u.email, "reason": "the account is locked until a platform admin unlocks it" }),
            ),
        )
        .await?;
        tx.commit().await?;
        return Ok(LoginOutcome::Locked);
    }
    if let Some(u) = user.as_ref().filter(|_| !matches) {
        super::throttle::lock_after_failures(&mut tx, state, &anonymous, u.id, &u.email).await?;
    }
    let user = user.filter(|u| matches && !u.disabled && Role::parse(&u.role).is_some());

    let Some(user) = user else {
        audit::record(
            &mut tx,
            &anonymous,
            NewEvent::new("auth.login.failed").target(email.as_str()).after(attempted.clone()),
        )
        .await?;
        let locked = account_after.locked_until.is_some();
        if locked {
            let until = account_after.locked_until.map(|t| t.to_string());
            audit::record(
                &mut tx,
                &anonymous,
                NewEvent::new("auth.lockout").target(email.as_str()).after(
                    json!({ "email": email.as_str(), "failures": account_after.failures, "locked_until": until }),
                ),
            )
            .await?;
        }
        tx.commit().await?;
        return Ok(if locked { LoginOutcome::Locked } else { LoginOutcome::Invalid });
    };

    sqlx::query!("UPDATE users SET failed_sign_ins = 0 WHERE id = $1 AND failed_sign_ins > 0", user.id)
        .execute(&mut *tx)
        .await?;
    // 3. Success: reset the account's counter and open the session. The
    // address's counter goes back to where it stood before this attempt: a
    // success is not a failure, and its failures stand (one account of its own
    // must not let an address wash away its guesses at the others, nor renew
    // its wait).
    sqlx::query!("DELETE FROM login_throttle WHERE key = $1", account_key).execute(&mut *tx).await?;
    if let (Some(key), Some(before)) = (&ip_key, ip_before) {
        store_counter(&mut tx, key, &before).await?;
    }
    let role = Role::parse(&user.role).expect("filtered above");
    let current = CurrentUser { id: user.id, email: user.email.clone(), role, tenant_id: user.tenant_id };
    // Said only to whoever knows the password: a guesser learns nothing of the tenant.
    if user.tenant_closed {
        audit::record(
            &mut tx,
            &meta.actor(Some(&current)),
            tenant_event(NewEvent::new("auth.login.refused").target(user.email.as_str()), &current)
                .after(json!({ "email": user.email, "reason": "the tenant is suspended or deleted" })),
        )
        .await?;
        tx.commit().await?;
        return Ok(LoginOutcome::TenantClosed);
    }

    // 4. A second factor, when the account has one or must have one.
    if user.mfa_enrolled || role == Role::TenantAdmin || state.config.require_staff_mfa {
        audit::record(
            &mut tx,
            &meta.actor(Some(&current)),
            tenant_event(NewEvent::new("auth.login.password_accepted").target(user.email.as_str()), &current),
        )
        .await?;
        tx.commit().await?;
        super::sign_in_state::begin_second_step(session, user.id).await?;
        return Ok(if user.mfa_enrolled { LoginOutcome::NeedsCode } else { LoginOutcome::NeedsEnrolment });
    }
    let auth_session_id = open_session(&mut tx, state, meta, &current, serde_json::Value::Null).await?;
    tx.commit().await?;
    enter_session(session, auth_session_id).await?;
    Ok(LoginOutcome::SignedIn)
}

/// A tenant admin's events belong to their tenant's trail.
pub fn tenant_event<'a>(event: NewEvent<'a>, user: &CurrentUser) -> NewEvent<'a> {
    match user.tenant_id {
        Some(tenant) => event.tenant(tenant),
        None => event,
    }
}

/// Opens a signed-in session for `user` in the caller's transaction and
/// records `auth.login.succeeded` (with `how`, e.g. the second factor used).
pub async fn open_session(
    conn: &mut PgConnection,
    state: &AppState,
    meta: &ClientMeta,
    user: &CurrentUser,
    how: serde_json::Value,
) -> Result<Uuid, AppError> {
    let absolute_secs = state.config.session_absolute_timeout.as_secs_f64();
    let auth_session_id = sqlx::query_scalar!(
        r#"INSERT INTO auth_sessions (user_id, expires_at, ip, user_agent)
           VALUES ($1, now() + make_interval(secs => $2), $3, $4) RETURNING id"#,
        user.id,
        absolute_secs,
        meta.ip,
        meta.user_agent
    )
    .fetch_one(&mut *conn)
    .await?;
    let mut event = NewEvent::new("auth.login.succeeded").target(user.email.as_str());
    if !how.is_null() {
        event = event.after(how);
    }
    audit::record(conn, &meta.actor(Some(user)), tenant_event(event, user)).await?;
    Ok(auth_session_id)
}

/// Signs out from a server function.
pub async fn logout() -> Result<(), AppError> {
    let state = app_state()?;
    let session = extract::<Session>().await?;
    let meta = client_meta().await;
    let user = extract::<Extension<AuthContext>>().await.ok().and_then(|Extension(c)| c.user);
    if let Some(auth_session_id) = session.get::<Uuid>(SESSION_KEY).await? {
        let mut tx = db::begin(&state.pool, Scope::Auth).await?;
        sqlx::query!(
            "UPDATE auth_sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
            auth_session_id
        )
        .execute(&mut *tx)
        .await?;
        if let Some(user) = &user {
            audit::record(&mut tx, &meta.actor(Some(user)), NewEvent::new("auth.logout").target(user.email.as_str()))
                .await?;
        }
        tx.commit().await?;
    }
    session.flush().await?;
    Ok(())
}

/// Ends every session of `user_id` (after disabling the account or changing
/// its password). Runs in the caller's transaction; returns how many ended.
pub async fn end_all_sessions(conn: &mut PgConnection, user_id: Uuid) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query!("UPDATE auth_sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL", user_id)
            .execute(conn)
            .await?;
    Ok(done.rows_affected())
}
