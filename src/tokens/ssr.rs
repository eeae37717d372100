//! API tokens on the server: made, listed, revoked, and checked when a
//! machine presents one.

use super::TokenRow;
use crate::audit::{self, Actor, NewEvent};
use crate::domain::token_scope::TokenScope;
use crate::error::{AppError, FieldError, OnConstraint};
use crate::server::db::{self, Scope};
use crate::server::state::AppState;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// What every token starts with, so people and secret scanners recognise one.
pub const PREFIX: &str = "bkh_";
/// The echo value that carries a token just made, sealed, to the page that shows it.
pub(super) const FRESH_KEY: &str = "fresh_token";

/// A new token, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewToken {
    pub name: String,
    pub scopes: Vec<TokenScope>,
    /// Days until it expires; `None`: never.
    pub days: Option<i64>,
}

impl NewToken {
    /// Parses a token's name, its scopes (by name) and its life (`never`, or a
    /// number of days, with or without a `d`), with a message per field.
    pub fn parse(name: &str, scopes: &[&str], expires: &str) -> Result<NewToken, AppError> {
        let mut errors = Vec::new();
        let name = super::secret_fields::parse_name(name, "Name the token after its user.", &mut errors);
        let mut parsed: Vec<TokenScope> = Vec::new();
        for s in scopes {
            match TokenScope::parse(s) {
                Some(scope) if !parsed.contains(&scope) => parsed.push(scope),
                Some(_) => {}
                None => errors.push(FieldError {
                    field: "scopes".into(),
                    message: format!("Unknown scope “{s}”: use routing, ingest, metrics or billing."),
                }),
            }
        }
        if parsed.is_empty() && errors.iter().all(|e| e.field != "scopes") {
            errors.push(FieldError { field: "scopes".into(), message: "Choose at least one scope.".into() });
        }
        parsed.sort();
        let days = super::secret_fields::parse_life(expires, &mut errors);
        match name {
            Some(name) if errors.is_empty() => Ok(NewToken { name, scopes: parsed, days }),
            _ => Err(AppError::Invalid(errors)),
        }
    }
}

/// A fresh token: the prefix and 32 random bytes in hexadecimal.
pub fn generate() -> String {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    format!("{PREFIX}{}", hex::encode(raw))
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Stores a new token (as its hash only) and audits it; answers the token, to
/// be shown once.
pub async fn create(pool: &PgPool, actor: &Actor, created_by: Option<Uuid>, new: NewToken) -> Result<String, AppError> {
    let token = generate();
    let hint: String = token.chars().take(PREFIX.len() + 6).collect();
    let expires_at = new.days.map(|d| OffsetDateTime::now_utc() + Duration::days(d));
    let scopes: Vec<&str> = new.scopes.iter().map(|s| s.as_str()).collect();
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let id = sqlx::query_scalar!(
        "INSERT INTO api_tokens (name, hint, token_hash, scopes, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        new.name,
        hint,
        hash(&token),
        &scopes as &[&str],
        created_by,
        expires_at
    )
    .fetch_one(&mut *tx)
    .await
    .on_constraint("api_tokens_name_key", || {
        AppError::invalid("name", format!("A token named “{}” already exists.", new.name))
    })?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("token.created").target(&new.name).after(json!({
            "id": id, "name": new.name, "hint": hint, "scopes": scopes, "expires_at": expires_at,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Every token, newest first.
pub async fn list(conn: &mut PgConnection) -> Result<Vec<TokenRow>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT id, name, hint, scopes, created_at, expires_at, revoked_at, last_used_at,
                  coalesce(expires_at <= now(), false) AS "expired!"
           FROM api_tokens ORDER BY created_at DESC, name"#
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| TokenRow {
            id: r.id,
            name: r.name,
            hint: r.hint,
            scopes: r.scopes.iter().filter_map(|s| TokenScope::parse(s)).collect(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
            expired: r.expired,
        })
        .collect())
}

/// A token to revoke, by id (the page) or by name (the command line).
#[derive(Debug, Clone)]
pub enum Which {
    Id(Uuid),
    Name(String),
}

/// Revokes a token still in force and audits it; answers its name.
pub async fn revoke(pool: &PgPool, actor: &Actor, which: Which) -> Result<String, AppError> {
    let (id, name) = match &which {
        Which::Id(id) => (Some(*id), None),
        Which::Name(name) => (None, Some(name.trim())),
    };
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let row = sqlx::query!(
        "UPDATE api_tokens SET revoked_at = now()
         WHERE ($1::uuid IS NULL OR id = $1) AND ($2::text IS NULL OR name = $2) AND revoked_at IS NULL
         RETURNING id, name",
        id,
        name
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("token.revoked").target(&row.name).before(json!({ "id": row.id, "name": row.name })),
    )
    .await?;
    tx.commit().await?;
    Ok(row.name)
}

/// Why a machine's token was refused: 401 (no usable token) or 403 (a
/// token without the scope). Nothing else is said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unauthorized,
    Forbidden,
}

/// Checks the `Authorization: Bearer …` header of a machine request for a
/// token in force with `scope`; notes its use (at most once a minute).
pub async fn authenticate(pool: &PgPool, authorization: Option<&str>, scope: TokenScope) -> Result<Uuid, Refusal> {
    let token = authorization
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| t.starts_with(PREFIX) && t.len() == PREFIX.len() + 64)
        .ok_or(Refusal::Unauthorized)?;
    let found = async {
        let mut tx = db::begin(pool, Scope::Auth).await?;
        let row = sqlx::query!(
            "SELECT id, scopes FROM api_tokens
             WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
            hash(token)
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(r) = &row {
            if r.scopes.iter().any(|s| s == scope.as_str()) {
                sqlx::query!(
                    "UPDATE api_tokens SET last_used_at = now()
                     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
                    r.id
                )
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(row)
    }
    .await
    .map_err(|e| {
        tracing::warn!(error = %e, "a token could not be checked");
        Refusal::Unauthorized
    })?;
    match found {
        None => Err(Refusal::Unauthorized),
        Some(r) if r.scopes.iter().any(|s| s == scope.as_str()) => Ok(r.id),
        Some(_) => Err(Refusal::Forbidden),
    }
}

/// Seals a token just made for the admin who made it, to travel in their session.
pub fn seal_fresh(state: &AppState, user: Uuid, token: &str) -> String {
    hex::encode(state.secrets.seal(user, token.as_bytes()))
}

/// Opens what [`seal_fresh`] sealed, for the same admin only.
pub fn open_fresh(state: &AppState, user: Uuid, sealed: &str) -> Option<String> {
    let bytes = hex::decode(sealed).ok()?;
    String::from_utf8(state.secrets.open(user, &bytes).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_recognisable_and_random() {
        let (a, b) = (generate(), generate());
        assert!(a.starts_with("bkh_") && a.len() == 4 + 64, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn new_tokens_parse_with_a_message_per_field() {
        let t = NewToken::parse(" proxy ", &["routing", "ingest", "routing"], "30d").unwrap();
        assert_eq!(
            (t.name.as_str(), t.scopes.clone(), t.days),
            ("proxy", vec![TokenScope::Routing, TokenScope::Ingest], Some(30))
        );
        assert_eq!(NewToken::parse("p", &["billing"], "never").unwrap().days, None);
        let AppError::Invalid(errors) = NewToken::parse("", &[], "forever").unwrap_err() else { panic!() };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "scopes", "expires"]);
        assert!(NewToken::parse("p", &["admin"], "").is_err());
        assert!(NewToken::parse("p", &["routing"], "0").is_err());
        assert!(NewToken::parse(&"n".repeat(65), &["routing"], "").is_err());
    }
}
