//! Tenant queries and the creation rule, server only.

use super::domain::{self, Slug, TenantName};
use super::{TenantDetail, TenantPageData, TenantRow};
use crate::audit::{self, Actor, NewEvent};
use crate::error::{AppError, FieldError};
use crate::server::db::{self, Scope};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// Rows per page of the tenant list.
pub const PAGE_SIZE: i64 = 50;

/// The tenant list's filters, parsed.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub search: Option<String>,
    pub tier: Option<String>,
    pub status: Option<String>,
    pub after: Option<(OffsetDateTime, Uuid)>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Encodes a keyset cursor: the last row's creation time and id.
pub fn cursor(row: &TenantRow) -> String {
    format!("{}.{}", row.created_at.unix_timestamp_nanos() / 1000, row.id)
}

fn parse_cursor(s: &str) -> Option<(OffsetDateTime, Uuid)> {
    let (micros, id) = s.split_once('.')?;
    let micros: i128 = micros.parse().ok()?;
    Some((OffsetDateTime::from_unix_timestamp_nanos(micros * 1000).ok()?, Uuid::parse_str(id).ok()?))
}

impl ListFilter {
    pub fn parse(
        q: Option<String>,
        tier: Option<String>,
        status: Option<String>,
        after: Option<String>,
    ) -> Result<ListFilter, AppError> {
        let search = non_empty(q).map(|s| s.chars().take(100).collect::<String>());
        let status = non_empty(status);
        if let Some(s) = &status {
            if !["provisioning", "active", "suspended", "deleted"].contains(&s.as_str()) {
                return Err(AppError::invalid("status", "Unknown status."));
            }
        }
        let after = match non_empty(after) {
            None => None,
            Some(c) => Some(parse_cursor(&c).ok_or_else(|| AppError::invalid("after", "Invalid page cursor."))?),
        };
        Ok(ListFilter { search, tier: non_empty(tier), status, after })
    }
}

/// Escapes LIKE wildcards in user input.
fn like_pattern(s: &str) -> String {
    let escaped = s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// One page of tenants.
pub async fn list(conn: &mut PgConnection, f: &ListFilter) -> Result<TenantPageData, sqlx::Error> {
    let pattern = f.search.as_deref().map(like_pattern);
    let (after_time, after_id) = f.after.map(|(t, i)| (Some(t), Some(i))).unwrap_or((None, None));
    let mut tenants = sqlx::query_as!(
        TenantRow,
        r#"SELECT id, slug, name, tier_id, isolation_level, status, region, environment, created_at
           FROM tenants
           WHERE ($1::text IS NULL OR (name || ' ' || slug) ILIKE $1)
             AND ($2::text IS NULL OR tier_id = $2)
             AND (CASE WHEN $3::text IS NULL THEN status <> 'deleted' ELSE status = $3 END)
             AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5::uuid))
           ORDER BY created_at DESC, id DESC
           LIMIT $6"#,
        pattern,
        f.tier,
        f.status,
        after_time,
        after_id,
        PAGE_SIZE + 1
    )
    .fetch_all(conn)
    .await?;
    let next = if tenants.len() as i64 > PAGE_SIZE {
        tenants.truncate(PAGE_SIZE as usize);
        tenants.last().map(cursor)
    } else {
        None
    };
    Ok(TenantPageData { tenants, next })
}

/// A tenant's page data.
pub async fn detail(conn: &mut PgConnection, slug: &str) -> Result<Option<TenantDetail>, sqlx::Error> {
    let Some(row) = sqlx::query!(
        r#"SELECT id, slug, name, tier_id, isolation_level, status, region, environment, created_at,
                  compliance, dedicated_instance, namespace_target, version
           FROM tenants WHERE slug = $1"#,
        slug
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let tier = crate::tiers::ssr::find(conn, &row.tier_id).await?.ok_or(sqlx::Error::RowNotFound)?;
    let limits = crate::quotas::effective_limits(&tier, domain::environment_factor(&row.environment));
    Ok(Some(TenantDetail {
        tenant: TenantRow {
            id: row.id,
            slug: row.slug,
            name: row.name,
            tier_id: row.tier_id,
            isolation_level: row.isolation_level,
            status: row.status,
            region: row.region,
            environment: row.environment,
            created_at: row.created_at,
        },
        compliance: row.compliance,
        dedicated_instance: row.dedicated_instance,
        namespace_target: row.namespace_target,
        version: row.version,
        tier,
        limits,
    }))
}

/// A new tenant as typed (form or command line).
#[derive(Debug, Clone, Default)]
pub struct NewTenant {
    pub name: String,
    /// Empty: suggested from the name.
    pub slug: String,
    pub tier: String,
    /// Empty: the tier's default.
    pub isolation: String,
    pub region: String,
    pub environment: String,
    pub compliance: Vec<String>,
}

/// Creates a tenant: every field parsed (all problems reported at once),
/// the tier and isolation level checked against the catalogue, the row and
/// its audit event written in one transaction. Returns the slug.
pub async fn create(pool: &PgPool, actor: &Actor, created_by: Option<Uuid>, input: NewTenant) -> Result<Slug, AppError> {
    let mut errors = Vec::new();
    let mut field = |name: &str, r: Result<(), String>| {
        if let Err(message) = r {
            errors.push(FieldError { field: name.to_string(), message });
        }
    };
    let name = TenantName::parse(&input.name);
    field("name", name.as_ref().map(|_| ()).map_err(Clone::clone));
    let slug_text = if input.slug.trim().is_empty() { domain::suggest_slug(&input.name) } else { input.slug.clone() };
    let slug = Slug::parse(&slug_text);
    field("slug", slug.as_ref().map(|_| ()).map_err(Clone::clone));
    let isolation = if input.isolation.trim().is_empty() { Ok(None) } else { domain::parse_isolation(&input.isolation).map(Some) };
    field("isolation", isolation.as_ref().map(|_| ()).map_err(Clone::clone));
    let region = domain::parse_region(&input.region);
    field("region", region.as_ref().map(|_| ()).map_err(Clone::clone));
    let environment = domain::parse_environment(&input.environment);
    field("environment", environment.as_ref().map(|_| ()).map_err(Clone::clone));
    let compliance = domain::parse_compliance(&input.compliance);
    field("compliance", compliance.as_ref().map(|_| ()).map_err(Clone::clone));
    if input.tier.trim().is_empty() {
        field("tier", Err("Choose a tier.".into()));
    }

    let mut tx = db::begin(pool, Scope::Platform).await?;
    let tier = crate::tiers::ssr::find(&mut tx, input.tier.trim()).await?;
    if tier.is_none() && !input.tier.trim().is_empty() {
        field("tier", Err(format!("There is no tier “{}”.", input.tier.trim())));
    }
    if let Ok(slug) = &slug {
        let taken = sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM tenants WHERE slug = $1) AS "taken!""#, slug.as_str())
            .fetch_one(&mut *tx)
            .await?;
        if taken {
            field("slug", Err(format!("The slug “{slug}” is already taken.")));
        }
    }
    let level = match (&tier, &isolation) {
        (Some(t), Ok(Some(l))) if !t.allows(*l) => {
            let allowed = t.allowed_isolation_levels.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ");
            field("isolation", Err(format!("The {} tier allows isolation level {allowed} only.", t.name)));
            None
        }
        (Some(t), Ok(Some(l))) => Some((*l, t)),
        (Some(t), Ok(None)) => Some((t.default_isolation_level, t)),
        _ => None,
    };
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let (name, slug, region, environment, compliance) =
        (name.unwrap(), slug.unwrap(), region.unwrap(), environment.unwrap(), compliance.unwrap());
    let (level, tier) = level.expect("checked above");
    let namespace_target = (level >= 2).then(|| format!("tenant-{slug}"));

    let id = sqlx::query_scalar!(
        r#"INSERT INTO tenants (slug, name, tier_id, isolation_level, region, environment, compliance,
                                namespace_target, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id"#,
        slug.as_str(),
        name.as_str(),
        tier.id,
        level,
        region,
        environment,
        &compliance,
        namespace_target,
        created_by
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.constraint() == Some("tenants_slug_key") => {
            AppError::invalid("slug", format!("The slug “{slug}” is already taken."))
        }
        _ => AppError::from(e),
    })?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("tenant.created").tenant(id).target(slug.as_str()).after(json!({
            "id": id, "slug": slug.as_str(), "name": name.as_str(), "tier": tier.id,
            "isolation_level": level, "region": region, "environment": environment,
            "compliance": compliance, "namespace_target": namespace_target, "status": "provisioning",
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_searches_are_literal() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn cursors_round_trip() {
        let row = TenantRow {
            id: Uuid::new_v4(),
            slug: "acme".into(),
            name: "Acme".into(),
            tier_id: "free".into(),
            isolation_level: 1,
            status: "active".into(),
            region: "eu-west-1".into(),
            environment: "production".into(),
            created_at: OffsetDateTime::from_unix_timestamp_nanos(1_795_000_000_123_456_000).unwrap(),
        };
        assert_eq!(parse_cursor(&cursor(&row)), Some((row.created_at, row.id)));
        assert_eq!(parse_cursor("garbage"), None);
    }
}
