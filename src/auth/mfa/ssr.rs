//! The second step of signing in and recovery codes, server only (setting
//! up a factor is in `enrol.rs`).

use crate::audit::{self, NewEvent};
use crate::auth::session::{open_session, tenant_event, ClientMeta};
use crate::auth::sign_in_state::{enter_session, pending};
use crate::auth::throttle::{load_counter, note_refusal, policies, store_counter, take_refused};
use crate::auth::throttle::{Admission, Policy};
use crate::auth::totp::{self, CodeCheck};
use crate::auth::{CurrentUser, Role};
use crate::error::AppError;
use crate::server::db::{self, Scope};
use crate::server::state::AppState;
use serde_json::json;
use tower_sessions::Session;
use uuid::Uuid;

/// An enrolment in progress: the new secret, sealed.
pub(super) const ENROL_KEY: &str = "pending_totp_secret";
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

pub(super) struct MfaUser {
    id: Uuid,
    email: String,
    role: String,
    tenant_id: Option<Uuid>,
    totp_secret: Option<Vec<u8>>,
    totp_last_step: Option<i64>,
    pub(super) disabled: bool,
}

pub(super) async fn load_user(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<Option<MfaUser>, sqlx::Error> {
    sqlx::query_as!(
        MfaUser,
        r#"SELECT id, email, role, tenant_id, totp_secret, totp_last_step, disabled_at IS NOT NULL AS "disabled!"
               FROM users WHERE id = $1"#,
        id
    )
    .fetch_optional(conn)
    .await
}

pub(super) fn current(u: &MfaUser) -> Option<CurrentUser> {
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
