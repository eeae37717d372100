//! Second-factor resets by link, server only. A platform admin's reset makes
//! a one-time link (72 hours, its token stored hashed) that goes to the
//! account's owner; the holder enters the account's password, which gives
//! the browser session leave to set up a new factor (`ssr::grant`), and the
//! old factor works until the new one is confirmed, which spends the link.

use super::ResetLinkView;
use crate::audit::{self, NewEvent};
use crate::auth::link_token::{new_link_token, token_hash};
use crate::auth::session::{tenant_event, ClientMeta};
use crate::auth::{CurrentUser, Role};
use crate::error::AppError;
use crate::server::db::{self, Scope};
use crate::server::state::AppState;
use serde_json::json;
use tower_sessions::Session;
use uuid::Uuid;

/// How long a reset link works.
pub const RESET_HOURS: i64 = 72;

/// Makes a reset link for `user_id` (replacing any pending one) inside the
/// caller's transaction; returns the link.
pub async fn create(
    conn: &mut sqlx::PgConnection,
    requested_by: &CurrentUser,
    user_id: Uuid,
    origin: &str,
) -> Result<String, AppError> {
    sqlx::query!(
        "UPDATE mfa_resets SET revoked_at = now() WHERE user_id = $1 AND used_at IS NULL AND revoked_at IS NULL",
        user_id
    )
    .execute(&mut *conn)
    .await?;
    let (token, hash) = new_link_token();
    sqlx::query!(
        "INSERT INTO mfa_resets (user_id, token_hash, requested_by, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(hours => $4))",
        user_id,
        hash,
        requested_by.id,
        RESET_HOURS as i32
    )
    .execute(&mut *conn)
    .await?;
    Ok(format!("{origin}/mfa-reset/{token}"))
}

struct Link {
    id: Uuid,
    user: CurrentUser,
    problem: Option<String>,
}

async fn find(state: &AppState, token: &str) -> Result<Option<Link>, AppError> {
    let mut tx = db::begin(&state.pool, Scope::Auth).await?;
    let row = sqlx::query!(
        r#"SELECT r.id, u.id AS user_id, u.email, u.role, u.tenant_id,
                  CASE WHEN r.used_at IS NOT NULL THEN 'used'
                       WHEN r.revoked_at IS NOT NULL OR u.disabled_at IS NOT NULL THEN 'revoked'
                       WHEN r.expires_at <= now() THEN 'expired' END AS problem
             FROM mfa_resets r JOIN users u ON u.id = r.user_id WHERE r.token_hash = $1"#,
        token_hash(token)
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row.and_then(|r| {
        let role = Role::parse(&r.role)?;
        Some(Link {
            id: r.id,
            user: CurrentUser { id: r.user_id, email: r.email, role, tenant_id: r.tenant_id },
            problem: r.problem,
        })
    }))
}

/// What the link shows: the account it resets while pending, nothing else after.
pub async fn status(state: &AppState, token: &str) -> Result<ResetLinkView, AppError> {
    Ok(match find(state, token).await? {
        None => ResetLinkView { email: None, problem: Some("unknown".into()) },
        Some(Link { problem: Some(p), .. }) => ResetLinkView { email: None, problem: Some(p) },
        Some(Link { user, .. }) => ResetLinkView { email: Some(user.email), problem: None },
    })
}

/// Checks the link and the account's password (throttled like every check of
/// a secret); on success the browser session may set up the new factor.
pub async fn open(
    state: &AppState,
    session: &Session,
    meta: &ClientMeta,
    token: &str,
    password: String,
) -> Result<(), AppError> {
    let link = match find(state, token).await? {
        Some(link) if link.problem.is_none() => link,
        other => {
            let problem = other.and_then(|l| l.problem).unwrap_or_else(|| "unknown".into());
            // Rolled up per client address: a flood of guessed links writes one event per window.
            let mut tx = db::begin(&state.pool, Scope::Auth).await?;
            audit::ssr::record_rolled_up(
                &mut tx,
                &meta.actor(None),
                NewEvent::new("auth.mfa.reset_link_refused").after(json!({ "reason": problem })),
            )
            .await?;
            tx.commit().await?;
            return Err(AppError::invalid("_form", super::reset_problem_message(&problem)));
        }
    };
    crate::auth::reauth::check_password(state, meta, &link.user, "mfa_reset", password).await?;
    let mut tx = db::begin(&state.pool, Scope::Auth).await?;
    audit::record(
        &mut tx,
        &meta.actor(Some(&link.user)),
        tenant_event(NewEvent::new("auth.mfa.reset_link_opened").target(link.user.email.as_str()), &link.user),
    )
    .await?;
    tx.commit().await?;
    // Whoever this browser was signed in as, it is not any more.
    session.remove_value(crate::auth::sign_in_state::SESSION_KEY).await?;
    super::enrol::grant(session, link.user.id, Some(link.id)).await
}
