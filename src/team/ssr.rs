//! Tenant admins and invitations, server only.

use super::{AdminRow, AdminsOverview, InvitationRow, InvitationView, INVITATION_HOURS};
use crate::audit::{self, NewEvent};
use crate::auth::email::EmailAddress;
use crate::auth::link_token::{new_link_token, token_hash};
use crate::auth::session::{scope_for, ClientMeta};
use crate::auth::{password, CurrentUser};
use crate::error::AppError;
use crate::server::db::{self, Scope};
use crate::server::state::AppState;
use serde_json::json;
use tower_sessions::Session;
use uuid::Uuid;

/// The link just made, sealed in the inviting admin's session until shown.
const LINK_KEY: &str = "fresh_invitation_link";
/// When the link was first shown.
const LINK_SHOWN_KEY: &str = "fresh_invitation_link_shown_at";
const LINK_SHOWN_SECS: i64 = 10;

async fn tenant(conn: &mut sqlx::PgConnection, slug: &str) -> Result<(Uuid, String), AppError> {
    let row = sqlx::query!("SELECT id, name FROM tenants WHERE slug = $1 AND status <> 'deleted'", slug)
        .fetch_optional(conn)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((row.id, row.name))
}

pub async fn list(
    state: &AppState,
    session: &Session,
    user: &CurrentUser,
    slug: &str,
) -> Result<AdminsOverview, AppError> {
    let mut tx = db::read(&state.pool, scope_for(user)?).await?;
    let (tenant_id, _) = tenant(&mut tx, slug).await?;
    let admins = sqlx::query_as!(
        AdminRow,
        r#"SELECT id, email, totp_enrolled_at IS NOT NULL AS "mfa!", disabled_at IS NOT NULL AS "disabled!",
                  locked_at IS NOT NULL AS "locked!", created_at
               FROM users WHERE tenant_id = $1 ORDER BY email"#,
        tenant_id
    )
    .fetch_all(&mut *tx)
    .await?;
    let invitations = sqlx::query_as!(
        InvitationRow,
        r#"SELECT id, email, created_at, expires_at,
                      CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
                           WHEN accepted_at IS NOT NULL THEN 'used'
                           WHEN expires_at <= now() THEN 'expired'
                           ELSE 'pending' END AS "state!"
               FROM invitations WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT 50"#,
        tenant_id
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.done().await?;
    // The link is shown on the next view of the page of the tenant it was
    // made for, and then no more. "Next view" lasts a few seconds: a page
    // may ask twice while it renders and hydrates.
    let sealed: Option<Vec<u8>> = session.get(LINK_KEY).await?;
    let stored = sealed.and_then(|s| state.secrets.open(user.id, &s).ok()).and_then(|b| String::from_utf8(b).ok());
    let fresh_link = match stored.as_deref().and_then(|s| s.split_once('\n')) {
        Some((for_slug, link)) if for_slug == slug => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let first_shown: Option<i64> = session.get(LINK_SHOWN_KEY).await?;
            match first_shown {
                None => {
                    session.insert(LINK_SHOWN_KEY, now).await?;
                    Some(link.to_string())
                }
                Some(at) if now - at <= LINK_SHOWN_SECS => Some(link.to_string()),
                Some(_) => {
                    session.remove_value(LINK_KEY).await?;
                    session.remove_value(LINK_SHOWN_KEY).await?;
                    None
                }
            }
        }
        _ => None,
    };
    Ok(AdminsOverview { admins, invitations, fresh_link })
}

pub async fn invite(
    state: &AppState,
    session: &Session,
    meta: &ClientMeta,
    user: &CurrentUser,
    slug: &str,
    email: &str,
    origin: &str,
) -> Result<bool, AppError> {
    let email = EmailAddress::parse(email).map_err(|m| AppError::invalid("invite_email", m.to_string()))?;
    let mut tx = db::begin(&state.pool, scope_for(user)?).await?;
    let (tenant_id, _) = tenant(&mut tx, slug).await?;
    let taken = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM users WHERE email = $1"#, email.as_str())
        .fetch_one(&mut *tx)
        .await?;
    if taken > 0 {
        return Err(AppError::invalid("invite_email", "This address already has an account."));
    }
    // A new invitation replaces any pending one for the same person and tenant.
    sqlx::query!(
        "UPDATE invitations SET revoked_at = now()
             WHERE tenant_id = $1 AND email = $2 AND revoked_at IS NULL AND accepted_at IS NULL",
        tenant_id,
        email.as_str()
    )
    .execute(&mut *tx)
    .await?;
    let (token, hash) = new_link_token();
    let expires = sqlx::query_scalar!(
        r#"INSERT INTO invitations (tenant_id, email, token_hash, invited_by, expires_at)
               VALUES ($1, $2, $3, $4, now() + make_interval(hours => $5)) RETURNING expires_at"#,
        tenant_id,
        email.as_str(),
        hash,
        user.id,
        INVITATION_HOURS as i32
    )
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &meta.actor(Some(user)),
        NewEvent::new("tenant.admin_invited")
            .tenant(tenant_id)
            .target(email.as_str())
            .after(json!({ "email": email.as_str(), "expires_at": expires.to_string() })),
    )
    .await?;
    let link = format!("{origin}/invite/{token}");
    if state.config.mail.is_some() {
        // By e-mail: the link goes to the invitee alone, and the message
        // exists exactly when the invitation does.
        let body = format!(
            "You are invited to administer a tenant in the Bulkhead console.\n\n\
             Choose your password here (the link works once, for {INVITATION_HOURS} hours):\n{link}\n\n\
             If you did not expect this, ignore this message.\n"
        );
        crate::mail::enqueue(&mut tx, email.as_str(), "Your invitation to the Bulkhead console", &body).await?;
        tx.commit().await?;
        return Ok(true);
    }
    tx.commit().await?;
    session.insert(LINK_KEY, state.secrets.seal(user.id, format!("{slug}\n{link}").as_bytes())).await?;
    session.remove_value(LINK_SHOWN_KEY).await?;
    Ok(false)
}

pub async fn revoke(
    state: &AppState,
    meta: &ClientMeta,
    user: &CurrentUser,
    slug: &str,
    id: Uuid,
) -> Result<(), AppError> {
    let mut tx = db::begin(&state.pool, scope_for(user)?).await?;
    let (tenant_id, _) = tenant(&mut tx, slug).await?;
    let email = sqlx::query_scalar!(
        "UPDATE invitations SET revoked_at = now()
             WHERE id = $1 AND tenant_id = $2 AND revoked_at IS NULL AND accepted_at IS NULL RETURNING email",
        id,
        tenant_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::Conflict("This invitation is no longer pending.".into()))?;
    audit::record(
        &mut tx,
        &meta.actor(Some(user)),
        NewEvent::new("tenant.invitation_revoked").tenant(tenant_id).target(email.as_str()),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What a platform admin does to one tenant admin: who (`user_id`, an admin
/// of `slug`), which `action`, and the console's `origin` (a reset link's).
pub struct Management<'a> {
    pub slug: &'a str,
    pub user_id: Uuid,
    pub action: &'a str,
    pub origin: &'a str,
}

/// Resets the second factor of, or disables, a tenant admin; ends their sessions.
pub async fn manage(
    state: &AppState,
    session: &Session,
    meta: &ClientMeta,
    admin: &CurrentUser,
    what: Management<'_>,
) -> Result<&'static str, AppError> {
    let Management { slug, user_id, action, origin } = what;
    let mut fresh_link = None;
    let mut tx = db::begin(&state.pool, Scope::Platform).await?;
    let (tenant_id, _) = tenant(&mut tx, slug).await?;
    let email = sqlx::query_scalar!(
        "SELECT email FROM users WHERE id = $1 AND tenant_id = $2 AND role = 'tenant_admin'",
        user_id,
        tenant_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let (event, done) = match action {
        "reset_mfa" => {
            // The old factor stays until the link's holder confirms a new one.
            let link = crate::auth::mfa::reset::create(&mut tx, admin, user_id, origin).await?;
            if state.config.mail.is_some() {
                let hours = crate::auth::mfa::reset::RESET_HOURS;
                let body = format!(
                    "A platform administrator reset the two-factor authentication of your Bulkhead account.\n\n\
                     Set up your authenticator app again here (the link works once, for {hours} hours; \
                     you will need your password):\n{link}\n\n\
                     Until then your current app keeps working. If you did not ask for this, tell your \
                     platform administrator.\n"
                );
                crate::mail::enqueue(&mut tx, email.as_str(), "Set up two-factor authentication again", &body).await?;
                ("user.mfa_reset", "mfa_reset_mailed")
            } else {
                fresh_link = Some(link);
                ("user.mfa_reset", "mfa_reset")
            }
        }
        "unlock" => {
            sqlx::query!("UPDATE users SET locked_at = NULL, failed_sign_ins = 0 WHERE id = $1", user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query!("DELETE FROM login_throttle WHERE key = $1", format!("account:{email}"))
                .execute(&mut *tx)
                .await?;
            ("user.unlocked", "admin_unlocked")
        }
        "disable" => {
            sqlx::query!("UPDATE users SET disabled_at = now() WHERE id = $1 AND disabled_at IS NULL", user_id)
                .execute(&mut *tx)
                .await?;
            ("user.disabled", "admin_disabled")
        }
        _ => return Err(AppError::invalid("_form", "Unknown action.")),
    };
    let ended = crate::auth::session::end_all_sessions(&mut tx, user_id).await?;
    audit::record(
        &mut tx,
        &meta.actor(Some(admin)),
        NewEvent::new(event).tenant(tenant_id).target(email.as_str()).after(json!({ "sessions_ended": ended })),
    )
    .await?;
    tx.commit().await?;
    if let Some(link) = fresh_link {
        session.insert(LINK_KEY, state.secrets.seal(admin.id, format!("{slug}\n{link}").as_bytes())).await?;
        session.remove_value(LINK_SHOWN_KEY).await?;
    }
    Ok(done)
}

pub async fn status(state: &AppState, token: &str) -> Result<InvitationView, AppError> {
    let mut tx = db::begin(&state.pool, Scope::Auth).await?;
    let row = sqlx::query!(r#"SELECT email, tenant_name, problem FROM invitation_status($1)"#, token_hash(token))
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    // A link that is no longer pending says only why: not whom it invited, nor where.
    if row.problem.is_some() {
        return Ok(InvitationView { email: None, tenant_name: None, problem: row.problem });
    }
    Ok(InvitationView { email: row.email, tenant_name: row.tenant_name, problem: row.problem })
}

/// Audits a refused invitation link, rolled up per client address: a flood
/// of guessed tokens writes one event per address and window, with its count.
async fn refused(state: &AppState, meta: &ClientMeta, email: Option<&str>, reason: &str) -> Result<(), AppError> {
    let mut tx = db::begin(&state.pool, Scope::Auth).await?;
    let mut event = NewEvent::new("tenant.invitation_refused").after(json!({ "reason": reason }));
    if let Some(e) = email {
        event = event.target(e);
    }
    audit::ssr::record_rolled_up(&mut tx, &meta.actor(None), event).await?;
    tx.commit().await?;
    Ok(())
}

/// Checks the link and the password, creates the account (one database
/// function: all or nothing), and starts a sign-in that must enrol TOTP.
pub async fn accept(
    state: &AppState,
    session: &Session,
    meta: &ClientMeta,
    token: &str,
    password: String,
    confirm: &str,
) -> Result<(), AppError> {
    let view = status(state, token).await?;
    if let Some(problem) = &view.problem {
        refused(state, meta, view.email.as_deref(), problem).await?;
        return Err(AppError::invalid("_form", super::problem_message(problem)));
    }
    let email = view.email.clone().unwrap_or_default();
    if let Some(weak) = password::weakness(&password, Some(&email)) {
        refused(state, meta, Some(&email), "weak password").await?;
        return Err(AppError::invalid("password", weak));
    }
    if password != confirm {
        return Err(AppError::invalid("confirm", "The two passwords differ."));
    }
    let hash = password::hash(password).await?;
    let mut tx = db::begin(&state.pool, Scope::Auth).await?;
    let row = sqlx::query!(
        r#"SELECT user_id, tenant_id, email, problem FROM accept_invitation($1, $2)"#,
        token_hash(token),
        hash
    )
    .fetch_one(&mut *tx)
    .await?;
    let (Some(user_id), Some(tenant_id)) = (row.user_id, row.tenant_id) else {
        tx.rollback().await?;
        let problem = row.problem.unwrap_or_else(|| "unknown".into());
        refused(state, meta, Some(&email), &problem).await?;
        return Err(AppError::invalid("_form", super::problem_message(&problem)));
    };
    let joined = CurrentUser {
        id: user_id,
        email: email.clone(),
        role: crate::auth::Role::TenantAdmin,
        tenant_id: Some(tenant_id),
    };
    audit::record(
        &mut tx,
        &meta.actor(Some(&joined)),
        NewEvent::new("tenant.admin_joined").tenant(tenant_id).target(email.as_str()),
    )
    .await?;
    tx.commit().await?;
    crate::auth::sign_in_state::begin_second_step(session, user_id).await?;
    Ok(())
}
