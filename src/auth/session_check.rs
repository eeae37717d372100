//! The check every request's session goes through: from memory where this
//! instance holds the session (`held`), else a read of the database.

use super::sign_in_state::SESSION_KEY;
use super::{CurrentUser, Role};
use crate::error::AppError;
use crate::server::db::{self, Scope};
use crate::server::state::AppState;
use tower_sessions::Session;
use uuid::Uuid;

/// What checking a request's session found.
#[derive(Debug, Clone, Default)]
pub struct SessionCheck {
    pub user: Option<CurrentUser>,
    /// The browser had a session that is no longer valid (idle, too old, revoked).
    pub expired: bool,
}

/// Finds the user behind `session`, enforcing the idle and absolute timeouts,
/// revocation, disabled accounts and closed tenants.
///
/// A read: a session this instance holds is answered from memory (the
/// database's notices let it go the moment it changes), any other is read
/// from the database and held; the idle clock is written in the background
/// (`held`), at most once a minute.
pub async fn check(state: &AppState, session: &Session) -> Result<SessionCheck, AppError> {
    // Every change committed before this request is acted on before anything
    // held is read: a session signed out on another instance a moment ago
    // is gone here too.
    let fenced = session.id().is_some() && state.part::<std::sync::Arc<super::held::HeldSessions>>().fence().await;
    if !fenced {
        if let Some(id) = session.id() {
            state.part::<std::sync::Arc<super::held::HeldSessions>>().forget_record(&id);
        }
    }
    let Some(auth_session_id) = session.get::<Uuid>(SESSION_KEY).await? else {
        return Ok(SessionCheck::default());
    };
    let idle = state.config.session_idle_timeout;
    let now = time::OffsetDateTime::now_utc();
    if let Some(user) = fenced
        .then(|| state.part::<std::sync::Arc<super::held::HeldSessions>>().user(auth_session_id, idle, now))
        .flatten()
    {
        return Ok(SessionCheck { user: Some(user), expired: false });
    }
    let epoch = state.part::<std::sync::Arc<super::held::HeldSessions>>().epoch();
    let mut tx = db::begin(&state.pool, Scope::Auth).await?;
    let row = sqlx::query!(
        r#"SELECT u.id, u.email, u.role, u.tenant_id, s.expires_at, s.last_seen_at
           FROM auth_sessions s JOIN users u ON u.id = s.user_id
           WHERE s.id = $1
             AND s.revoked_at IS NULL AND s.expires_at > now()
             AND s.last_seen_at > now() - make_interval(secs => $2)
             AND u.disabled_at IS NULL
             AND (u.tenant_id IS NULL OR tenant_access_open(u.tenant_id))"#,
        auth_session_id,
        idle.as_secs_f64()
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    match row.and_then(|r| Role::parse(&r.role).map(|role| (r, role))) {
        Some((r, role)) => {
            let user = CurrentUser { id: r.id, email: r.email, role, tenant_id: r.tenant_id };
            state.part::<std::sync::Arc<super::held::HeldSessions>>().hold(
                auth_session_id,
                user.clone(),
                r.expires_at,
                r.last_seen_at,
                epoch,
            );
            Ok(SessionCheck { user: Some(user), expired: false })
        }
        None => {
            session.flush().await?;
            Ok(SessionCheck { user: None, expired: true })
        }
    }
}
