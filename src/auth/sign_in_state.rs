//! What a browser's session holds about its sign-in: nothing, a sign-in past
//! its password waiting for the second factor, or a signed-in `auth_sessions`
//! row. Both the sign-in (`session`) and the second step (`mfa`) move a
//! session between these states; neither needs the other to do so.

use crate::error::AppError;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use uuid::Uuid;

/// The key under which the browser session holds its `auth_sessions` row id.
pub const SESSION_KEY: &str = "auth_session_id";
/// A sign-in past its password, waiting for its second factor.
pub const PENDING_KEY: &str = "pending_sign_in";
/// How long the second step may take.
const PENDING_SECS: i64 = 300;

/// A sign-in past its password: whose, and since when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub user_id: Uuid,
    pub since: i64,
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Marks the session as past the password for `user_id`, under a new id.
pub async fn begin_second_step(session: &Session, user_id: Uuid) -> Result<(), AppError> {
    session.cycle_id().await?;
    // Whoever this browser was signed in as, it is not any more.
    session.remove_value(SESSION_KEY).await?;
    session.insert(PENDING_KEY, Pending { user_id, since: now_unix() }).await?;
    Ok(())
}

/// The sign-in waiting for its second factor, unless there is none or it is too old.
pub async fn pending(session: &Session) -> Result<Option<Pending>, AppError> {
    let p: Option<Pending> = session.get(PENDING_KEY).await?;
    Ok(p.filter(|p| now_unix() - p.since <= PENDING_SECS))
}

/// Makes the browser's session the signed-in one, under a new id: the id the
/// browser had before (anonymous, or past the password only) is dead.
pub async fn enter_session(session: &Session, auth_session_id: Uuid) -> Result<(), AppError> {
    session.cycle_id().await?;
    session.remove_value(PENDING_KEY).await?;
    session.insert(SESSION_KEY, auth_session_id).await?;
    Ok(())
}
