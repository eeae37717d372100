//! Creating and disabling console users (used by the command line today).

use super::email::EmailAddress;
use super::{password, session, Role};
use crate::audit::{self, Actor, NewEvent};
use crate::error::OnConstraint;
use crate::server::db::{self, Scope};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// Why a user could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    Email(#[from] super::email::EmailError),
    #[error("password: {0}")]
    WeakPassword(String),
    #[error("a user with the e-mail address {0} already exists")]
    Duplicate(String),
    #[error("no user has the e-mail address {0}")]
    NotFound(String),
    #[error("cannot reach the database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}")]
    Other(String),
}

/// A random password of 24 letters and digits, for a generated account.
pub fn generate_password() -> String {
    use rand::{distributions::Alphanumeric, Rng};
    rand::rngs::OsRng.sample_iter(&Alphanumeric).take(24).map(char::from).collect()
}

/// Creates a platform user, audited as `actor`.
pub async fn create_platform_user(
    pool: &PgPool,
    actor: &Actor,
    email: &str,
    password: String,
    role: Role,
) -> Result<Uuid, UserError> {
    let email = EmailAddress::parse(email)?;
    if !role.is_platform_staff() {
        return Err(UserError::Other("tenant admins are invited from their tenant's page".into()));
    }
    if let Some(w) = password::weakness(&password, Some(email.as_str())) {
        return Err(UserError::WeakPassword(w));
    }
    let hash = password::hash(password).await.map_err(|e| UserError::Other(e.to_string()))?;
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3) RETURNING id",
        email.as_str(),
        hash,
        role.as_str()
    )
    .fetch_one(&mut *tx)
    .await
    .on_constraint("users_email_key", || UserError::Duplicate(email.to_string()))?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("user.created")
            .target(email.as_str())
            .after(json!({ "id": id, "email": email.as_str(), "role": role.as_str() })),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Whether any platform admin exists yet.
pub async fn any_platform_admin(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM users WHERE role = 'platform_admin' AND disabled_at IS NULL) AS "exists!""#
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(exists)
}

/// Disables a user and ends all of their sessions, in one audited transaction.
/// Unlocks an account locked after too many wrong passwords (its count of
/// failures starts again from zero). Audited; a `NotFound` for an account
/// that is not locked.
pub async fn unlock_user(pool: &PgPool, actor: &Actor, email: &str) -> Result<(), UserError> {
    let email = EmailAddress::parse(email)?;
    let mut tx = db::begin(pool, Scope::Platform).await?;
    sqlx::query_scalar!(
        "UPDATE users SET locked_at = NULL, failed_sign_ins = 0 WHERE email = $1 AND locked_at IS NOT NULL RETURNING id",
        email.as_str()
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| UserError::NotFound(format!("{email} (no locked account)")))?;
    sqlx::query!("DELETE FROM login_throttle WHERE key = $1", format!("account:{email}")).execute(&mut *tx).await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("user.unlocked")
            .target(email.as_str())
            .before(json!({ "locked": true }))
            .after(json!({ "locked": false })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn disable_user(pool: &PgPool, actor: &Actor, email: &str) -> Result<u64, UserError> {
    let email = EmailAddress::parse(email)?;
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let id = sqlx::query_scalar!(
        "UPDATE users SET disabled_at = now() WHERE email = $1 AND disabled_at IS NULL RETURNING id",
        email.as_str()
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| UserError::NotFound(email.to_string()))?;
    let ended = session::end_all_sessions(&mut tx, id).await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("user.disabled")
            .target(email.as_str())
            .before(json!({ "disabled": false }))
            .after(json!({ "disabled": true, "sessions_ended": ended })),
    )
    .await?;
    tx.commit().await?;
    Ok(ended)
}
