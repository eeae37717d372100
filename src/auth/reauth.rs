//! Checks of a signed-in user's secrets (the password, a current code)
//! before a change to their account: counted against the same per-account
//! counter as sign-in, so a stolen session guesses no faster here, and every
//! failure audited.

use crate::audit::{self, NewEvent};
use crate::auth::session::{tenant_event, ClientMeta};
use crate::auth::{password, CurrentUser};
use crate::error::AppError;
use crate::server::db::{self, Scope};
use crate::server::state::AppState;
use serde_json::json;
use uuid::Uuid;

/// Counts one check of the user's secrets against the same counter as
/// their sign-in (`account:<e-mail>`): a stolen session cannot guess the
/// password here faster than at the sign-in page. `Err` (on `field`) while
/// the account waits; the counter's key otherwise.
pub async fn admit_check(state: &AppState, user: &CurrentUser, field: &str) -> Result<String, AppError> {
    use crate::auth::throttle::{load_counter, note_refusal, policies, store_counter, Admission};
    let key = format!("account:{}", user.email);
    let mut tx = db::begin(&state.pool, Scope::Auth).await?;
    let (counter, now) = load_counter(&mut tx, &key).await?;
    match policies(state).0.admit(counter, now) {
        Admission::Refused { retry_after_secs } => {
            note_refusal(&mut tx, &key).await?;
            tx.commit().await?;
            let minutes = retry_after_secs.div_ceil(60);
            Err(AppError::invalid(
                field,
                format!(
                    "Too many wrong attempts: wait {minutes} minute{} before trying again.",
                    if minutes == 1 { "" } else { "s" }
                ),
            ))
        }
        Admission::Admitted(after) => {
            store_counter(&mut tx, &key, &after).await?;
            tx.commit().await?;
            Ok(key)
        }
    }
}

/// Checks `user`'s password alone, throttled and audited as every check of
/// a secret: before a second factor is set up or replaced.
pub async fn check_password(
    state: &AppState,
    meta: &ClientMeta,
    user: &CurrentUser,
    what: &str,
    password_input: String,
) -> Result<(), AppError> {
    let key = admit_check(state, user, "password").await?;
    let mut tx = db::begin(&state.pool, Scope::Auth).await?;
    let hash = stored_hash(&mut tx, user.id).await?;
    tx.commit().await?;
    if !password::verify(password_input, Some(hash)).await? {
        refused(state, meta, user, what).await?;
        return Err(AppError::invalid("password", "That is not your password."));
    }
    let mut tx = db::begin(&state.pool, Scope::Auth).await?;
    check_passed(&mut tx, &key).await?;
    tx.commit().await?;
    Ok(())
}

/// The whole check passed: the account's failures are forgotten, as at sign-in.
pub async fn check_passed(conn: &mut sqlx::PgConnection, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("DELETE FROM login_throttle WHERE key = $1", key).execute(conn).await?;
    Ok(())
}

pub async fn stored_hash(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<String, sqlx::Error> {
    sqlx::query_scalar!("SELECT password_hash FROM users WHERE id = $1", id).fetch_one(conn).await
}

pub async fn refused(state: &AppState, meta: &ClientMeta, user: &CurrentUser, what: &str) -> Result<(), AppError> {
    let mut tx = db::begin(&state.pool, Scope::Auth).await?;
    audit::record(
        &mut tx,
        &meta.actor(Some(user)),
        tenant_event(NewEvent::new("user.reauthentication_failed").target(user.email.as_str()), user)
            .after(json!({ "for": what })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
