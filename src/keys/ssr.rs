//! Tenant API keys on the server: parsed, made, listed and revoked, each in
//! the caller's database scope (a tenant admin's transaction sees and writes
//! their tenant's keys alone), each change audited in its transaction.

use super::KeyRow;
use crate::audit::{self, Actor, NewEvent};
use crate::error::{AppError, FieldError, OnConstraint};
use crate::server::db::{self, Scope};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub use crate::domain::api_key::{LENGTH, PREFIX};
/// The echo value that carries a key just made, sealed, to the page that shows it.
pub(super) const FRESH_KEY: &str = "fresh_key";

/// A new key, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewKey {
    pub name: String,
    /// Its own bucket: calls a second and burst, both or neither.
    pub rate: Option<(u32, u32)>,
    pub monthly_calls: Option<i64>,
    /// Days until it expires; `None`: never.
    pub days: Option<i64>,
}

fn positive(field: &str, text: &str, max: i64, errors: &mut Vec<FieldError>) -> Option<i64> {
    let text = text.trim().replace(['_', ','], "");
    if text.is_empty() {
        return None;
    }
    match text.parse::<i64>() {
        Ok(n) if (1..=max).contains(&n) => Some(n),
        _ => {
            errors.push(FieldError { field: field.into(), message: format!("Give a whole number from 1 to {max}.") });
            None
        }
    }
}

impl NewKey {
    /// Parses a key's name, its optional rate and burst (both or neither), its
    /// optional monthly cap and its life (`never`, or days with or without a
    /// `d`), with a message per field.
    pub fn parse(name: &str, rate: &str, burst: &str, monthly: &str, expires: &str) -> Result<NewKey, AppError> {
        let mut errors = Vec::new();
        let name = crate::tokens::secret_fields::parse_name(name, "Name the key after its caller.", &mut errors);
        let per_second = positive("rate", rate, 1_000_000, &mut errors);
        let burst_n = positive("burst", burst, 1_000_000, &mut errors);
        let rate = match (per_second, burst_n) {
            (Some(r), Some(b)) => Some((r as u32, b as u32)),
            (None, None) => None,
            (Some(_), None) if !burst.trim().is_empty() => None,
            (None, Some(_)) if !rate.trim().is_empty() => None,
            (Some(_), None) => {
                errors.push(FieldError { field: "burst".into(), message: "Give a burst with the rate.".into() });
                None
            }
            (None, Some(_)) => {
                errors.push(FieldError { field: "rate".into(), message: "Give a rate with the burst.".into() });
                None
            }
        };
        let monthly_calls = positive("monthly", monthly, 1_000_000_000_000, &mut errors);
        let days = crate::tokens::secret_fields::parse_life(expires, &mut errors);
        match name {
            Some(name) if errors.is_empty() => Ok(NewKey { name, rate, monthly_calls, days }),
            _ => Err(AppError::Invalid(errors)),
        }
    }
}

/// A fresh key: the prefix and 32 random bytes in hexadecimal.
pub fn generate() -> String {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    format!("{PREFIX}{}", hex::encode(raw))
}

/// The key's SHA-256, as stored and as the routing table holds it. A key has
/// 256 random bits: a fast hash loses nothing against guessing.
pub fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The tenant a keys page or form is about.
pub struct KeysTenant {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub status: String,
    pub anonymous_calls: String,
}

/// The tenant `slug` names, as the transaction's scope shows it; without a
/// slug, the one tenant the scope shows (a tenant admin's own).
pub async fn tenant(conn: &mut PgConnection, slug: Option<&str>) -> Result<KeysTenant, AppError> {
    let slug = match slug.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(crate::domain::slug::Slug::parse(s).map_err(|_| AppError::NotFound)?.to_string()),
        None => None,
    };
    let rows = sqlx::query_as!(
        KeysTenant,
        "SELECT id, slug, name, status, anonymous_calls FROM tenants WHERE $1::text IS NULL OR slug = $1 LIMIT 2",
        slug
    )
    .fetch_all(conn)
    .await?;
    match <[KeysTenant; 1]>::try_from(rows) {
        Ok([t]) => Ok(t),
        Err(_) => Err(AppError::NotFound),
    }
}

/// A key just made: its id and the key itself, to be shown once.
pub struct MadeKey {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub secret: String,
}

/// Stores a new key of the tenant `slug` (as its hash only), within the
/// tenant's limits, and audits it in the same transaction.
pub async fn create(
    pool: &PgPool,
    scope: Scope,
    actor: &Actor,
    created_by: Option<Uuid>,
    slug: &str,
    new: NewKey,
) -> Result<MadeKey, AppError> {
    let secret = generate();
    let hint: String = secret.chars().take(PREFIX.len() + 6).collect();
    let expires_at = new.days.map(|d| OffsetDateTime::now_utc() + Duration::days(d));
    let mut tx = db::begin(pool, scope).await?;
    let tenant = tenant(&mut tx, Some(slug)).await?;
    if tenant.status == "deleted" {
        return Err(AppError::invalid("_form", "This tenant is deleted: it takes no new keys."));
    }
    within_tenant(&mut tx, tenant.id, &new).await?;
    let (rate, burst) = match new.rate {
        Some((r, b)) => (Some(r as i32), Some(b as i32)),
        None => (None, None),
    };
    let id = sqlx::query_scalar!(
        "INSERT INTO tenant_api_keys (tenant_id, name, hint, key_hash, rate_per_second, burst, monthly_calls,
                                      created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        tenant.id,
        new.name,
        hint,
        &hash(&secret)[..],
        rate,
        burst,
        new.monthly_calls,
        created_by,
        expires_at
    )
    .fetch_one(&mut *tx)
    .await
    .on_constraint("tenant_api_keys_tenant_id_name_key", || {
        AppError::invalid("name", format!("This tenant already has a key named “{}”.", new.name))
    })?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("key.created").tenant(tenant.id).target(&new.name).after(json!({
            "id": id, "name": new.name, "hint": hint, "rate_per_second": rate, "burst": burst,
            "monthly_calls": new.monthly_calls, "expires_at": expires_at,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(MadeKey { id, tenant_id: tenant.id, secret })
}

/// Refuses limits above the tenant's own: a key's rate and burst within its
/// tier's, its monthly cap within the tenant's allowance (a message per field).
async fn within_tenant(conn: &mut PgConnection, tenant_id: Uuid, new: &NewKey) -> Result<(), AppError> {
    let limits = sqlx::query!(
        r#"SELECT tr.api_rate_per_second, tr.api_burst,
                  coalesce(o.value, tr.api_calls_per_month) AS "monthly!"
           FROM tenants t JOIN tiers tr ON tr.id = t.tier_id
           LEFT JOIN quota_overrides o ON o.tenant_id = t.id AND o.metric = 'api_calls'
           WHERE t.id = $1"#,
        tenant_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let mut errors = Vec::new();
    if let Some((rate, burst)) = new.rate {
        if rate as i64 > limits.api_rate_per_second as i64 {
            errors.push(FieldError {
                field: "rate".into(),
                message: format!(
                    "The tenant's tier allows {} calls a second: stay within it.",
                    limits.api_rate_per_second
                ),
            });
        }
        if burst as i64 > limits.api_burst as i64 {
            errors.push(FieldError {
                field: "burst".into(),
                message: format!("The tenant's tier allows a burst of {}: stay within it.", limits.api_burst),
            });
        }
    }
    if new.monthly_calls.is_some_and(|m| m > limits.monthly) {
        errors.push(FieldError {
            field: "monthly".into(),
            message: format!("The tenant's allowance is {} calls a month: stay within it.", limits.monthly),
        });
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    Ok(())
}

/// Replaces the limits and life of the tenant's key `name` (in force) with
/// those of `new` (an empty one lifts it), within the tenant's limits;
/// audited with the values before and after.
pub async fn update(pool: &PgPool, scope: Scope, actor: &Actor, slug: &str, new: NewKey) -> Result<(), AppError> {
    let expires_at = new.days.map(|d| OffsetDateTime::now_utc() + Duration::days(d));
    let mut tx = db::begin(pool, scope).await?;
    let tenant = tenant(&mut tx, Some(slug)).await?;
    within_tenant(&mut tx, tenant.id, &new).await?;
    let before = sqlx::query!(
        "SELECT id, rate_per_second, burst, monthly_calls, expires_at FROM tenant_api_keys
         WHERE tenant_id = $1 AND name = $2 AND revoked_at IS NULL FOR UPDATE",
        tenant.id,
        new.name
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let (rate, burst) = match new.rate {
        Some((r, b)) => (Some(r as i32), Some(b as i32)),
        None => (None, None),
    };
    sqlx::query!(
        "UPDATE tenant_api_keys SET rate_per_second = $2, burst = $3, monthly_calls = $4, expires_at = $5 WHERE id = $1",
        before.id,
        rate,
        burst,
        new.monthly_calls,
        expires_at
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("key.changed")
            .tenant(tenant.id)
            .target(&new.name)
            .before(json!({
                "id": before.id, "rate_per_second": before.rate_per_second, "burst": before.burst,
                "monthly_calls": before.monthly_calls, "expires_at": before.expires_at,
            }))
            .after(json!({
                "id": before.id, "rate_per_second": rate, "burst": burst,
                "monthly_calls": new.monthly_calls, "expires_at": expires_at,
            })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A tenant's keys, newest first, with this month's calls of each.
pub async fn list(conn: &mut PgConnection, tenant_id: Uuid) -> Result<Vec<KeyRow>, sqlx::Error> {
    sqlx::query_as!(
        KeyRow,
        r#"SELECT k.id, k.name, k.hint, k.rate_per_second, k.burst, k.monthly_calls,
                  coalesce(c.calls, 0) AS "calls_this_month!", k.created_at, k.expires_at, k.revoked_at,
                  k.last_used_at, coalesce(k.expires_at <= now(), false) AS "expired!"
           FROM tenant_api_keys k
           LEFT JOIN api_key_calls c
             ON c.key_id = k.id AND c.month = date_trunc('month', now() AT TIME ZONE 'UTC')::date
           WHERE k.tenant_id = $1
           ORDER BY k.revoked_at IS NOT NULL, k.created_at DESC, k.name"#,
        tenant_id
    )
    .fetch_all(conn)
    .await
}

/// A key to revoke: by id (the pages) or by name (the command line).
#[derive(Debug, Clone)]
pub enum Which {
    Id(Uuid),
    Name(String),
}

/// Revokes a key of the tenant `slug` still in force and audits it; answers its name.
pub async fn revoke(pool: &PgPool, scope: Scope, actor: &Actor, slug: &str, which: Which) -> Result<String, AppError> {
    let (id, name) = match &which {
        Which::Id(id) => (Some(*id), None),
        Which::Name(name) => (None, Some(name.trim())),
    };
    let mut tx = db::begin(pool, scope).await?;
    let tenant = tenant(&mut tx, Some(slug)).await?;
    let row = sqlx::query!(
        "UPDATE tenant_api_keys SET revoked_at = now()
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id = $2) AND ($3::text IS NULL OR name = $3)
           AND revoked_at IS NULL
         RETURNING id, name, hint",
        tenant.id,
        id,
        name
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("key.revoked")
            .tenant(tenant.id)
            .target(&row.name)
            .before(json!({ "id": row.id, "name": row.name, "hint": row.hint })),
    )
    .await?;
    tx.commit().await?;
    Ok(row.name)
}

/// Sets what the edge does with the tenant's calls that carry no key
/// (`refuse` or `pass`), audited (platform admins).
pub async fn set_anonymous_calls(pool: &PgPool, actor: &Actor, slug: &str, mode: &str) -> Result<(), AppError> {
    let mode = match mode.trim() {
        m @ ("refuse" | "pass") => m,
        _ => return Err(AppError::invalid("anonymous_calls", "Choose refuse or pass.")),
    };
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let tenant = tenant(&mut tx, Some(slug)).await?;
    if tenant.anonymous_calls != mode {
        sqlx::query!("UPDATE tenants SET anonymous_calls = $2 WHERE id = $1", tenant.id, mode)
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            actor,
            NewEvent::new("tenant.anonymous_calls_changed")
                .tenant(tenant.id)
                .target(&tenant.slug)
                .before(json!({ "anonymous_calls": tenant.anonymous_calls }))
                .after(json!({ "anonymous_calls": mode })),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_recognisable_and_random() {
        let (a, b) = (generate(), generate());
        assert!(a.starts_with("bk_live_") && a.len() == LENGTH, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn new_keys_parse_with_a_message_per_field() {
        let k = NewKey::parse(" checkout ", "10", "20", "1_000", "90d").unwrap();
        assert_eq!(
            (k.name.as_str(), k.rate, k.monthly_calls, k.days),
            ("checkout", Some((10, 20)), Some(1000), Some(90))
        );
        let k = NewKey::parse("plain", "", " ", "", "never").unwrap();
        assert_eq!((k.rate, k.monthly_calls, k.days), (None, None, None));
        let fields = |e: AppError| match e {
            AppError::Invalid(errors) => errors.into_iter().map(|e| e.field).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            fields(NewKey::parse("", "0", "x", "-5", "forever").unwrap_err()),
            ["name", "rate", "burst", "monthly", "expires"]
        );
        assert_eq!(fields(NewKey::parse("k", "5", "", "", "").unwrap_err()), ["burst"]);
        assert_eq!(fields(NewKey::parse("k", "", "5", "", "").unwrap_err()), ["rate"]);
        assert!(NewKey::parse(&"n".repeat(65), "", "", "", "").is_err());
    }
}
