//! The second step of signing in, enrolment and recovery codes, server only.

use super::Enrolment;
use crate::audit::{self, NewEvent};
use crate::auth::session::{open_session, tenant_event, ClientMeta, SessionCheck};
use crate::auth::sign_in_state::{enter_session, pending};
use crate::auth::throttle::{load_counter, note_refusal, policies, store_counter, take_refused};
use crate::auth::throttle::{Admission, Policy};
use crate::auth::totp::{self, CodeCheck};
use crate::auth::{CurrentUser, Role};
use crate::error::AppError;
use crate::server::db::{self, Scope};
use crate::server::state::AppState;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::Session;
use uuid::Uuid;

/// An enrolment in progress: the new secret, sealed.
const ENROL_KEY: &str = "pending_totp_secret";
/// Recovery codes just issued, sealed, until they are shown.
const RECOVERY_KEY: &str = "fresh_recovery_codes";

/// Replaces a user's recovery codes with `codes`, stored hashed.
pub async fn replace_recovery_codes(
    conn: &mut sqlx::PgConnection,
    user_id: Uuid,
    codes: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM recovery_codes WHERE user_id = $1", user_id).execute(&mut *conn).await?;
    for c in codes {
        sqlx::query!(
            "INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)",
            user_id,
            totp::recovery_code_hash(c)
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// How the second step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOutcome {
    SignedIn,
    /// No sign-in is waiting (never started, or too old).
    Expired,
    /// Refused, with the reason's code: wrong, replayed, recovery, locked.
    Refused(&'static str),
}

struct MfaUser {
    id: Uuid,
    email: String,
    role: String,
    tenant_id: Option<Uuid>,
    totp_secret: Option<Vec<u8>>,
    totp_last_step: Option<i64>,
    disabled: bool,
}

async fn load_user(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<Option<MfaUser>, sqlx::Error> {
    sqlx::query_as!(
        MfaUser,
        r#"SELECT id, email, role, tenant_id, totp_secret, totp_last_step, disabled_at IS NOT NULL AS "disabled!"
               FROM users WHERE id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await
}

fn current(u: &MfaUser) -> Option<CurrentUser> {
    Role::parse(&u.role).map(|role| CurrentUser { id: u.id, email: u.email.clone(), role, tenant_id: u.tenant_id })
}

/// A recovery code has letters or is long; a TOTP code is six digits.
fn is_recovery_code(code: &str) -> bool {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).count() > totp::DIGITS
}

/// Checks a TOTP or recovery code for the pending sign-in, under its own
/// throttle, and on success opens the session. Every outcome is audited.
pub async fn verify_code_with(
    state: &AppState,
    session: &Session,
    meta: &ClientMeta,
    code: &str,
) -> Result<CodeOutcome, AppError> {
    let Some(p) = pending(session).await? else { return Ok(CodeOutcome::Expired) };
    let mut tx = db::begin(&state.pool, Scope::Auth).await?;
    let Some(user) = load_user(&mut tx, p.user_id).await?.filter(|u| !u.disabled) else {
        return Ok(CodeOutcome::Expired);
    };
    let Some(who) = current(&user) else { return Ok(CodeOutcome::Expired) };
    let actor = meta.actor(Some(&who));
    let (account_policy, _) = policies(state);
    let policy = Policy { limit: state.config.mfa_code_limit, ..account_policy };
    let key = format!("mfa:{}", user.id);
    let (counter, now) = load_counter(&mut tx, &key).await?;
    let Admission::Admitted(after) = policy.admit(counter, now) else {
        // Counted, not audited one by one (see the sign-in).
        note_refusal(&mut tx, &key).await?;
        tx.commit().await?;
        return Ok(CodeOutcome::Refused("locked"));
    };
    store_counter(&mut tx, &key, &after).await?;
    let refused_while_waiting = take_refused(&mut tx, &key).await?;
    if refused_while_waiting > 0 {
        audit::record(
            &mut tx,
            &actor,
            tenant_event(
                NewEvent::new("auth.mfa.throttled")
                    .target(user.email.as_str())
                    .after(json!({ "refused": refused_while_waiting })),
                &who,
            ),
        )
        .await?;
    }

    let result: Result<&str, &'static str> = if is_recovery_code(code) {
        let used = sqlx::query!(
            "UPDATE recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
            user.id,
            totp::recovery_code_hash(code)
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if used == 1 {
            Ok("recovery code")
        } else {
            Err("recovery")
        }
    } else {
        let sealed = user.totp_secret.as_deref().ok_or_else(|| AppError::internal("no TOTP secret"))?;
        let secret = state.secrets.open(user.id, sealed).map_err(AppError::internal)?;
        match totp::check(&secret, code, now.unix_timestamp() as u64, user.totp_last_step) {
            CodeCheck::Matches { step } if totp::claim_step(&mut tx, user.id, step).await? => Ok("totp"),
            CodeCheck::Matches { .. } | CodeCheck::Replayed => Err("replayed"),
            CodeCheck::Wrong => Err("wrong"),
        }
    };
    match result {
        Ok(method) => {
            sqlx::query!("DELETE FROM login_throttle WHERE key = $1", key).execute(&mut *tx).await?;
            let id = open_session(&mut tx, state, meta, &who, json!({ "second_factor": method })).await?;
            tx.commit().await?;
            enter_session(session, id).await?;
            Ok(CodeOutcome::SignedIn)
        }
        Err(reason) => {
            let locked = after.locked_until.is_some();
            audit::record(
                &mut tx,
                &actor,
                tenant_event(
                    NewEvent::new("auth.mfa.failed")
                        .target(user.email.as_str())
                        .after(json!({ "reason": reason, "failures": after.failures })),
                    &who,
                ),
            )
            .await?;
            if locked {
                audit::record(
                    &mut tx,
                    &actor,
                    tenant_event(NewEvent::new("auth.mfa.locked").target(user.email.as_str()), &who),
                )
                .await?;
            }
            tx.commit().await?;
            Ok(CodeOutcome::Refused(if locked { "locked" } else { reason }))
        }
    }
}

/// Audits a second-factor check that could not be completed (the database
/// failed mid-way), as far as the database allows: the answer is a refusal
/// whether or not this event can be written.
pub async fn audit_failed_check(state: &AppState, session: &Session, meta: &ClientMeta) {
    let result = async {
        let user_id = pending(session).await?.map(|p| p.user_id);
        let mut tx = db::begin(&state.pool, Scope::Auth).await?;
        let user = match user_id {
            Some(id) => load_user(&mut tx, id).await?,
            None => None,
        };
        let who = user.as_ref().and_then(current);
        let mut event = NewEvent::new("auth.mfa.failed").after(json!({ "reason": "error" }));
        if let Some(u) = &user {
            event = event.target(u.email.as_str());
        }
        if let Some(who) = &who {
            event = tenant_event(event, who);
        }
        audit::record(&mut tx, &meta.actor(who.as_ref()), event).await?;
        tx.commit().await?;
        Ok::<(), AppError>(())
    }
    .await;
    if let Err(err) = result {
        tracing::error!(error = %err, "the failed second-factor check could not be audited either");
    }
}

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

/// Keeps new recovery codes, sealed, in the session until the recovery
/// codes page shows them once.
pub async fn offer_recovery_codes(
    state: &AppState,
    session: &Session,
    user_id: Uuid,
    codes: &[String],
) -> Result<(), AppError> {
    let sealed = state.secrets.seal(user_id, serde_json::to_string(codes).unwrap_or_default().as_bytes());
    session.insert(RECOVERY_KEY, sealed).await?;
    Ok(())
}

/// The recovery codes issued by the last enrolment, removed as they are read.
pub async fn take_recovery_codes(
    state: &AppState,
    session: &Session,
    user: &CurrentUser,
) -> Result<Vec<String>, AppError> {
    let sealed: Option<Vec<u8>> = session.remove(RECOVERY_KEY).await?;
    Ok(sealed
        .and_then(|s| state.secrets.open(user.id, &s).ok())
        .and_then(|json| serde_json::from_slice(&json).ok())
        .unwrap_or_default())
}
