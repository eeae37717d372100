//! The signed-in user's own account: change the password (ending their other
//! sessions), regenerate recovery codes, set up TOTP again. The last two ask
//! for the password and a current code.

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the account page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub email: String,
    pub mfa: bool,
    pub recovery_codes_left: i64,
}

/// The message for a `done` code on the account page.
pub fn account_done_message(code: &str) -> Option<&'static str> {
    match code {
        "password" => Some("Password changed. Your other sessions have ended."),
        _ => None,
    }
}

#[server(endpoint = "account")]
pub async fn account() -> Result<AccountView, AppError> {
    let user = super::session::require_user().await?;
    let state = crate::server::state::app_state()?;
    ssr::view(&state, &user).await
}

/// Changes the password. Answers with a redirect.
#[server(endpoint = "change_password")]
pub async fn change_password(current: String, new: String, confirm: String) -> Result<(), AppError> {
    let result = async {
        let user = super::session::require_user().await?;
        let state = crate::server::state::app_state()?;
        let session = super::session::extract::<tower_sessions::Session>().await?;
        let meta = super::session::client_meta().await;
        ssr::change_password(&state, &session, &meta, &user, current, new, &confirm).await
    }
    .await;
    crate::ui::form::ssr::finish(result, "/account", &[], |()| "/account?done=password".into()).await;
    Ok(())
}

/// Replaces the recovery codes (password and a current code). Answers with a
/// redirect to the new codes, shown once.
#[server(endpoint = "regenerate_recovery_codes")]
pub async fn regenerate_recovery_codes(password: String, code: String) -> Result<(), AppError> {
    reauthenticated("codes", password, code, "/login/recovery-codes").await
}

/// Turns TOTP off so that it can be set up again with a new secret (password
/// and a current code). Answers with a redirect to enrolment.
#[server(endpoint = "restart_enrolment")]
pub async fn restart_enrolment(password: String, code: String) -> Result<(), AppError> {
    reauthenticated("reenrol", password, code, "/login/enrol").await
}

#[cfg(feature = "ssr")]
async fn reauthenticated(what: &str, password: String, code: String, then: &str) -> Result<(), AppError> {
    let result = async {
        let user = super::session::require_user().await?;
        let state = crate::server::state::app_state()?;
        let session = super::session::extract::<tower_sessions::Session>().await?;
        let meta = super::session::client_meta().await;
        ssr::second_factor_change(&state, &session, &meta, &user, what, password, &code).await
    }
    .await;
    // Two forms share the page: each one's fields are named after it.
    let result = result.map_err(|err| match err {
        AppError::Invalid(mut e) => {
            e.iter_mut().for_each(|f| f.field = format!("{what}_{}", f.field));
            AppError::Invalid(e)
        }
        other => other,
    });
    crate::ui::form::ssr::finish(result, "/account", &[], |()| then.into()).await;
    Ok(())
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::AccountView;
    use crate::audit::{self, NewEvent};
    use crate::auth::reauth::{admit_check, check_passed, refused, stored_hash};
    use crate::auth::session::{tenant_event, ClientMeta, SESSION_KEY};
    use crate::auth::totp::{self, CodeCheck};
    use crate::auth::{password, CurrentUser};
    use crate::error::AppError;
    use crate::server::db::{self, Scope};
    use crate::server::state::AppState;
    use serde_json::json;
    use tower_sessions::Session;
    use uuid::Uuid;

    pub async fn view(state: &AppState, user: &CurrentUser) -> Result<AccountView, AppError> {
        let mut tx = db::read(&state.pool, Scope::Auth).await?;
        let row = sqlx::query!(
            r#"SELECT totp_enrolled_at IS NOT NULL AS "mfa!",
                      (SELECT count(*) FROM recovery_codes r WHERE r.user_id = u.id AND r.used_at IS NULL) AS "left!"
               FROM users u WHERE id = $1"#,
            user.id
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.done().await?;
        Ok(AccountView { email: user.email.clone(), mfa: row.mfa, recovery_codes_left: row.left })
    }

    /// Ends every session of the user but this one.
    async fn end_other_sessions(
        conn: &mut sqlx::PgConnection,
        session: &Session,
        user_id: Uuid,
    ) -> Result<u64, AppError> {
        let this: Option<Uuid> = session.get(SESSION_KEY).await?;
        let ended = sqlx::query!(
            "UPDATE auth_sessions SET revoked_at = now()
             WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2",
            user_id,
            this
        )
        .execute(conn)
        .await?;
        Ok(ended.rows_affected())
    }

    pub async fn change_password(
        state: &AppState,
        session: &Session,
        meta: &ClientMeta,
        user: &CurrentUser,
        current: String,
        new: String,
        confirm: &str,
    ) -> Result<(), AppError> {
        let key = admit_check(state, user, "current").await?;
        let mut tx = db::begin(&state.pool, Scope::Auth).await?;
        let stored = stored_hash(&mut tx, user.id).await?;
        tx.commit().await?;
        if !password::verify(current, Some(stored)).await? {
            refused(state, meta, user, "password change").await?;
            return Err(AppError::invalid("current", "That is not your current password."));
        }
        // The password was right: a weak or mistyped new one is not a failed guess.
        let mut tx = db::begin(&state.pool, Scope::Auth).await?;
        check_passed(&mut tx, &key).await?;
        tx.commit().await?;
        if let Some(weak) = password::weakness(&new, Some(&user.email)) {
            return Err(AppError::invalid("new", weak));
        }
        if new != confirm {
            return Err(AppError::invalid("confirm", "The two passwords differ."));
        }
        let hash = password::hash(new).await?;
        let mut tx = db::begin(&state.pool, Scope::Auth).await?;
        sqlx::query!("UPDATE users SET password_hash = $2 WHERE id = $1", user.id, hash).execute(&mut *tx).await?;
        let ended = end_other_sessions(&mut tx, session, user.id).await?;
        audit::record(
            &mut tx,
            &meta.actor(Some(user)),
            tenant_event(NewEvent::new("user.password_changed").target(user.email.as_str()), user)
                .after(json!({ "other_sessions_ended": ended })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks the password and a current TOTP code (claiming its step), then
    /// issues new recovery codes (`codes`) or turns TOTP off for a new
    /// enrolment (`reenrol`).
    pub async fn second_factor_change(
        state: &AppState,
        session: &Session,
        meta: &ClientMeta,
        user: &CurrentUser,
        what: &str,
        password_input: String,
        code: &str,
    ) -> Result<(), AppError> {
        let key = admit_check(state, user, "password").await?;
        let mut tx = db::begin(&state.pool, Scope::Auth).await?;
        let row = sqlx::query!(
            "SELECT password_hash, totp_secret, totp_last_step FROM users WHERE id = $1 AND totp_enrolled_at IS NOT NULL",
            user.id
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| AppError::Conflict("Set up two-factor authentication first.".into()))?;
        tx.commit().await?;
        if !password::verify(password_input, Some(row.password_hash)).await? {
            refused(state, meta, user, what).await?;
            return Err(AppError::invalid("password", "That is not your current password."));
        }
        let secret =
            state.secrets.open(user.id, row.totp_secret.as_deref().unwrap_or_default()).map_err(AppError::internal)?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
        let mut tx = db::begin(&state.pool, Scope::Auth).await?;
        let ok = match totp::check(&secret, code, now, row.totp_last_step) {
            CodeCheck::Matches { step } => totp::claim_step(&mut tx, user.id, step).await?,
            _ => false,
        };
        if !ok {
            tx.rollback().await?;
            refused(state, meta, user, what).await?;
            return Err(AppError::invalid("code", "That code is not right, or it was already used."));
        }
        check_passed(&mut tx, &key).await?;
        let new_codes = if what == "codes" {
            let codes = totp::new_recovery_codes();
            crate::auth::mfa::ssr::replace_recovery_codes(&mut tx, user.id, &codes).await?;
            Some(codes)
        } else {
            // The old secret stays until a new one is confirmed.
            None
        };
        let action =
            if new_codes.is_some() { "user.recovery_codes_regenerated" } else { "auth.mfa.replacement_started" };
        audit::record(
            &mut tx,
            &meta.actor(Some(user)),
            tenant_event(NewEvent::new(action).target(user.email.as_str()), user),
        )
        .await?;
        tx.commit().await?;
        // Offered only once they are stored.
        match new_codes {
            Some(codes) => crate::auth::mfa::ssr::offer_recovery_codes(state, session, user.id, &codes).await?,
            None => crate::auth::mfa::enrol::grant(session, user.id, None).await?,
        }
        Ok(())
    }
}
