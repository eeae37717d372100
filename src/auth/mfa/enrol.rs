//! Setting up a second factor, server only: after a sign-in's password for
//! an account without one, or on a grant (the Account page with the password
//! and a current code, or a reset link with the password). The old factor
//! stays until a code from the new secret confirms it.

use super::ssr::{current, load_user, offer_recovery_codes, replace_recovery_codes, ENROL_KEY};
use super::Enrolment;
use crate::audit::{self, NewEvent};
use crate::auth::session::{open_session, tenant_event, ClientMeta, SessionCheck};
use crate::auth::sign_in_state::{enter_session, pending};
use crate::auth::totp::{self, CodeCheck};
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::server::db::{self, Scope};
use crate::server::state::AppState;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::Session;
use uuid::Uuid;

/// Leave to set up a new second factor, given to a browser session that has
/// just proved the password: on the Account page (with a current code too),
/// or through a reset link (`reset`). The old factor stays until the new one
/// is confirmed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub user_id: Uuid,
    pub reset: Option<Uuid>,
    pub since: i64,
}

const GRANT_KEY: &str = "enrolment_grant";
/// How long a grant lasts: long enough to install an app and scan a code.
const GRANT_SECS: i64 = 600;

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Gives this browser session leave to set up a new factor for `user_id`.
pub async fn grant(session: &Session, user_id: Uuid, reset: Option<Uuid>) -> Result<(), AppError> {
    session.cycle_id().await?;
    session.remove_value(ENROL_KEY).await?;
    session.insert(GRANT_KEY, Grant { user_id, reset, since: now_unix() }).await?;
    Ok(())
}

async fn current_grant(session: &Session) -> Result<Option<Grant>, AppError> {
    let g: Option<Grant> = session.get(GRANT_KEY).await?;
    Ok(g.filter(|g| now_unix() - g.since <= GRANT_SECS))
}

/// Who is enrolling, and on what leave.
enum Enrolling {
    /// A sign-in past its password, for an account with no factor yet.
    SigningIn(CurrentUser),
    /// A new factor in place of the old (or a first one), on a grant.
    Granted { user: CurrentUser, reset: Option<Uuid> },
    /// Signed in without a grant: the password is asked again first.
    NeedsPassword(CurrentUser),
}

async fn active_user(state: &AppState, id: Uuid) -> Result<CurrentUser, AppError> {
    let mut tx = db::begin(&state.pool, Scope::Auth).await?;
    let user = load_user(&mut tx, id).await?.filter(|u| !u.disabled).ok_or(AppError::Unauthorized)?;
    tx.commit().await?;
    current(&user).ok_or(AppError::Unauthorized)
}

async fn enrolling(state: &AppState, session: &Session) -> Result<Enrolling, AppError> {
    let SessionCheck { user, .. } = crate::auth::session::check(state, session).await?;
    if let Some(g) = current_grant(session).await? {
        // A grant given to another signed-in account than this one is void.
        if g.reset.is_some() || user.as_ref().is_some_and(|u| u.id == g.user_id) {
            return Ok(Enrolling::Granted { user: active_user(state, g.user_id).await?, reset: g.reset });
        }
    }
    if let Some(user) = user {
        return Ok(Enrolling::NeedsPassword(user));
    }
    let p = pending(session).await?.ok_or(AppError::Unauthorized)?;
    Ok(Enrolling::SigningIn(active_user(state, p.user_id).await?))
}

async fn is_enrolled(state: &AppState, user_id: Uuid) -> Result<bool, AppError> {
    let mut tx = db::begin(&state.pool, Scope::Auth).await?;
    let enrolled =
        sqlx::query_scalar!(r#"SELECT totp_enrolled_at IS NOT NULL AS "e!" FROM users WHERE id = $1"#, user_id)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(enrolled)
}

/// The secret being enrolled (made and kept, sealed, in the session on first sight).
pub async fn enrolment(state: &AppState, session: &Session) -> Result<Enrolment, AppError> {
    let (user, replacing) = match enrolling(state, session).await? {
        Enrolling::SigningIn(user) => (user, false),
        Enrolling::Granted { user, reset } => {
            let replacing = reset.is_some() || is_enrolled(state, user.id).await?;
            (user, replacing)
        }
        Enrolling::NeedsPassword(user) => {
            let enrolled = is_enrolled(state, user.id).await?;
            return Ok(Enrolment { email: user.email, enrolled, needs_password: !enrolled, ..Enrolment::default() });
        }
    };
    if !replacing && is_enrolled(state, user.id).await? {
        return Ok(Enrolment { email: user.email, enrolled: true, ..Enrolment::default() });
    }
    let sealed: Option<Vec<u8>> = session.get(ENROL_KEY).await?;
    let secret = match sealed.and_then(|s| state.secrets.open(user.id, &s).ok()) {
        Some(secret) => secret,
        None => {
            let secret = totp::new_secret();
            session.insert(ENROL_KEY, state.secrets.seal(user.id, &secret)).await?;
            secret
        }
    };
    Ok(Enrolment {
        secret: totp::secret_text(&secret),
        uri: totp::otpauth_uri(&secret, "Bulkhead", &user.email),
        qr_png: totp::qr_png_base64(&secret, "Bulkhead", &user.email).map_err(AppError::internal)?,
        email: user.email,
        enrolled: false,
        needs_password: false,
        replacing,
    })
}

/// A signed-in user with no second factor enters their password again
/// before setting one up: a session alone does not give that leave.
pub async fn begin(state: &AppState, session: &Session, meta: &ClientMeta, password: String) -> Result<(), AppError> {
    let Enrolling::NeedsPassword(user) = enrolling(state, session).await? else {
        return Ok(());
    };
    crate::auth::reauth::check_password(state, meta, &user, "enrolment", password).await?;
    grant(session, user.id, None).await
}

/// Completes enrolment with a first code: stores the secret sealed (in place
/// of the old one on a grant), counts that code as used, issues recovery
/// codes, and signs in a waiting sign-in or the holder of a reset link.
pub async fn confirm(state: &AppState, session: &Session, meta: &ClientMeta, code: &str) -> Result<(), AppError> {
    let (user, reset, signing_in) = match enrolling(state, session).await? {
        Enrolling::SigningIn(user) => (user, None, true),
        Enrolling::Granted { user, reset } => (user, reset, reset.is_some()),
        Enrolling::NeedsPassword(_) => return Err(AppError::invalid("code", "Enter your password first.")),
    };
    let granted = !signing_in || reset.is_some();
    let actor = meta.actor(Some(&user));
    let sealed: Vec<u8> = session.get(ENROL_KEY).await?.ok_or(AppError::Unauthorized)?;
    let secret = state.secrets.open(user.id, &sealed).map_err(|_| AppError::Unauthorized)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    let step = match totp::check(&secret, code, now, None) {
        CodeCheck::Matches { step } => step,
        _ => {
            let mut tx = db::begin(&state.pool, Scope::Auth).await?;
            audit::record(
                &mut tx,
                &actor,
                tenant_event(NewEvent::new("auth.mfa.enrolment_failed").target(user.email.as_str()), &user),
            )
            .await?;
            tx.commit().await?;
            return Err(AppError::invalid(
                "code",
                "That code does not match. Enter the six digits your app shows now for Bulkhead.",
            ));
        }
    };
    let codes = totp::new_recovery_codes();
    let mut tx = db::begin(&state.pool, Scope::Auth).await?;
    if let Some(reset) = reset {
        // The link is spent here, in the transaction that replaces the factor.
        let spent = sqlx::query!(
            "UPDATE mfa_resets SET used_at = now()
              WHERE id = $1 AND user_id = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()",
            reset,
            user.id
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if spent != 1 {
            tx.rollback().await?;
            session.remove_value(GRANT_KEY).await?;
            return Err(AppError::invalid("code", "This reset link is no longer valid: ask for a new one."));
        }
    }
    let done = sqlx::query!(
        "UPDATE users SET totp_secret = $2, totp_enrolled_at = now(), totp_last_step = $3
             WHERE id = $1 AND ($4 OR totp_enrolled_at IS NULL)",
        user.id,
        state.secrets.seal(user.id, &secret),
        step,
        granted
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done != 1 {
        return Err(AppError::Conflict("Two-factor authentication is already on for this account.".into()));
    }
    replace_recovery_codes(&mut tx, user.id, &codes).await?;
    let action = if reset.is_some() { "auth.mfa.reset_completed" } else { "auth.mfa.enrolled" };
    audit::record(
        &mut tx,
        &actor,
        tenant_event(
            NewEvent::new(action)
                .target(user.email.as_str())
                .after(json!({ "method": "totp", "recovery_codes": codes.len(), "replaced": granted })),
            &user,
        ),
    )
    .await?;
    let opened = if signing_in {
        let how = if reset.is_some() { "reset link" } else { "enrolment" };
        Some(open_session(&mut tx, state, meta, &user, json!({ "second_factor": how })).await?)
    } else {
        None
    };
    tx.commit().await?;
    session.remove_value(ENROL_KEY).await?;
    session.remove_value(GRANT_KEY).await?;
    if let Some(id) = opened {
        enter_session(session, id).await?;
    }
    offer_recovery_codes(state, session, user.id, &codes).await
}
