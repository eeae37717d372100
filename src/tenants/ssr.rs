//! Tenant queries and the creation rule, server only.

use super::domain::{self, Slug, TenantName};
use super::{TenantDetail, TenantPageData, TenantRow};
use crate::audit::{self, Actor, NewEvent};
use crate::error::{AppError, FieldError};
use crate::server::db::{self, Scope};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Rows per page of the tenant list.
pub const PAGE_SIZE: i64 = 50;

/// The orders the tenant list offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Newest,
    Oldest,
    Name,
}

impl Sort {
    pub fn parse(s: Option<&str>) -> Result<Sort, AppError> {
        match s.map(str::trim) {
            None | Some("") | Some("newest") => Ok(Sort::Newest),
            Some("oldest") => Ok(Sort::Oldest),
            Some("name") => Ok(Sort::Name),
            Some(_) => Err(AppError::invalid("sort", "Sort by newest, oldest or name.")),
        }
    }
}

/// The tenant list's filters, parsed.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub search: Option<String>,
    pub tier: Option<String>,
    pub status: Option<String>,
    pub isolation: Option<i16>,
    pub sort: Sort,
    /// The last tenant of the previous page (keyset paging in the chosen order).
    pub after: Option<Uuid>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl ListFilter {
    pub fn parse(
        q: Option<String>,
        tier: Option<String>,
        status: Option<String>,
        isolation: Option<String>,
        sort: Option<String>,
        after: Option<String>,
    ) -> Result<ListFilter, AppError> {
        let isolation = match non_empty(isolation) {
            None => None,
            Some(l) => Some(domain::parse_isolation(&l).map_err(|m| AppError::invalid("isolation", m))?),
        };
        let search = non_empty(q).map(|s| s.chars().take(100).collect::<String>());
        let status = non_empty(status);
        if let Some(s) = &status {
            if !["provisioning", "active", "suspended", "deleted"].contains(&s.as_str()) {
                return Err(AppError::invalid("status", "Unknown status."));
            }
        }
        let after = match non_empty(after) {
            None => None,
            Some(c) => Some(Uuid::parse_str(&c).map_err(|_| AppError::invalid("after", "Invalid page cursor."))?),
        };
        Ok(ListFilter { search, tier: non_empty(tier), status, isolation, sort: Sort::parse(sort.as_deref())?, after })
    }
}

/// Escapes LIKE wildcards in user input.
fn like_pattern(s: &str) -> String {
    let escaped = s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// One page of tenants. The cursor is the last row's id; its sort key is
/// read back from the row, so every order pages by index without OFFSET.
pub async fn list(conn: &mut PgConnection, f: &ListFilter) -> Result<TenantPageData, sqlx::Error> {
    let pattern = f.search.as_deref().map(like_pattern);
    let mut tenants = match f.sort {
        Sort::Newest => {
            sqlx::query_as!(
                TenantRow,
                r#"SELECT id, slug, name, tier_id, isolation_level, status, region, environment, created_at
                   FROM tenants
                   WHERE ($1::text IS NULL OR (name || ' ' || slug) ILIKE $1)
                     AND ($2::text IS NULL OR tier_id = $2)
                     AND (CASE WHEN $3::text IS NULL THEN status <> 'deleted' ELSE status = $3 END)
                     AND ($6::smallint IS NULL OR isolation_level = $6)
                     AND ($4::uuid IS NULL OR (created_at, id) < ((SELECT created_at FROM tenants WHERE id = $4), $4))
                   ORDER BY created_at DESC, id DESC
                   LIMIT $5"#,
                pattern,
                f.tier,
                f.status,
                f.after,
                PAGE_SIZE + 1,
                f.isolation
            )
            .fetch_all(&mut *conn)
            .await?
        }
        Sort::Oldest => {
            sqlx::query_as!(
                TenantRow,
                r#"SELECT id, slug, name, tier_id, isolation_level, status, region, environment, created_at
                   FROM tenants
                   WHERE ($1::text IS NULL OR (name || ' ' || slug) ILIKE $1)
                     AND ($2::text IS NULL OR tier_id = $2)
                     AND (CASE WHEN $3::text IS NULL THEN status <> 'deleted' ELSE status = $3 END)
                     AND ($6::smallint IS NULL OR isolation_level = $6)
                     AND ($4::uuid IS NULL OR (created_at, id) > ((SELECT created_at FROM tenants WHERE id = $4), $4))
                   ORDER BY created_at, id
                   LIMIT $5"#,
                pattern,
                f.tier,
                f.status,
                f.after,
                PAGE_SIZE + 1,
                f.isolation
            )
            .fetch_all(&mut *conn)
            .await?
        }
        Sort::Name => {
            sqlx::query_as!(
                TenantRow,
                r#"SELECT id, slug, name, tier_id, isolation_level, status, region, environment, created_at
                   FROM tenants
                   WHERE ($1::text IS NULL OR (name || ' ' || slug) ILIKE $1)
                     AND ($2::text IS NULL OR tier_id = $2)
                     AND (CASE WHEN $3::text IS NULL THEN status <> 'deleted' ELSE status = $3 END)
                     AND ($6::smallint IS NULL OR isolation_level = $6)
                     AND ($4::uuid IS NULL OR (name, id) > ((SELECT name FROM tenants WHERE id = $4), $4))
                   ORDER BY name, id
                   LIMIT $5"#,
                pattern,
                f.tier,
                f.status,
                f.after,
                PAGE_SIZE + 1,
                f.isolation
            )
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let next = if tenants.len() as i64 > PAGE_SIZE {
        tenants.truncate(PAGE_SIZE as usize);
        tenants.last().map(|t| t.id.to_string())
    } else {
        None
    };
    Ok(TenantPageData { tenants, next })
}

/// A tenant's page data.
pub async fn detail(conn: &mut PgConnection, slug: &str) -> Result<Option<TenantDetail>, sqlx::Error> {
    let Some(row) = sqlx::query!(
        r#"SELECT id, slug, name, tier_id, isolation_level, status, region, environment, created_at,
                  compliance, dedicated_instance, namespace_target, version, prevent_deletion
           FROM tenants WHERE slug = $1"#,
        slug
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let tier = crate::tiers::ssr::find(conn, &row.tier_id).await?.ok_or(sqlx::Error::RowNotFound)?;
    let usage = current_usage(conn, row.id).await?;
    let overrides = overrides(conn, row.id).await?;
    let limits =
        crate::quotas::effective_limits(&tier, domain::environment_factor(&row.environment), &usage, &overrides);
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
        prevent_deletion: row.prevent_deletion,
        can_edit: false,
        viewer_is_staff: false,
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
pub async fn create(
    pool: &PgPool,
    actor: &Actor,
    created_by: Option<Uuid>,
    input: NewTenant,
) -> Result<Slug, AppError> {
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
    let isolation =
        if input.isolation.trim().is_empty() { Ok(None) } else { domain::parse_isolation(&input.isolation).map(Some) };
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
        let taken =
            sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM tenants WHERE slug = $1) AS "taken!""#, slug.as_str())
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
    // A dedicated instance runs only once its activation checklist is done.
    let status = if level == 3 { "provisioning" } else { "active" };

    let id = sqlx::query_scalar!(
        r#"INSERT INTO tenants (slug, name, tier_id, isolation_level, region, environment, compliance,
                                namespace_target, created_by, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"#,
        slug.as_str(),
        name.as_str(),
        tier.id,
        level,
        region,
        environment,
        &compliance,
        namespace_target,
        created_by,
        status
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
            "compliance": compliance, "namespace_target": namespace_target, "status": status,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(slug)
}

/// The latest sample of each usage metric of a tenant.
pub async fn current_usage(conn: &mut PgConnection, tenant_id: Uuid) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT DISTINCT ON (metric) metric, value FROM usage_samples
           WHERE tenant_id = $1 ORDER BY metric, recorded_at DESC"#,
        tenant_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.metric, r.value)).collect())
}

/// A tenant's configuration as an export document. Tenants hold no secrets
/// yet; any added later must be left out here unless asked for and audited.
pub fn export_document(d: &TenantDetail) -> serde_json::Value {
    json!({
        "kind": "BulkheadTenant",
        "version": 1,
        "tenant": {
            "id": d.tenant.id,
            "slug": d.tenant.slug,
            "name": d.tenant.name,
            "status": d.tenant.status,
            "tier": d.tier.id,
            "isolation_level": d.tenant.isolation_level,
            "dedicated_instance": d.dedicated_instance,
            "namespace_target": d.namespace_target,
            "region": d.tenant.region,
            "environment": d.tenant.environment,
            "compliance": d.compliance,
            "prevent_deletion": d.prevent_deletion,
            "created_at": d.tenant.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "config_version": d.version,
        },
        "quotas": d.limits.iter().map(|l| json!({
            "limit": l.limit.metric(),
            "effective": l.value,
            "tier_value": l.tier_value,
            "environment_factor": l.factor,
            "override": l.overridden.as_ref().map(|o| json!({ "value": o.value, "reason": o.reason, "by": o.by })),
        })).collect::<Vec<_>>(),
    })
}

/// `GET /tenants/{slug}/export?format=json|yaml`: the configuration as a file, for platform staff.
pub async fn export_handler(
    axum::extract::State(state): axum::extract::State<crate::server::state::AppState>,
    axum::extract::Path(slug): axum::extract::Path<String>,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
    auth: Option<axum::Extension<crate::auth::session::AuthContext>>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let user = auth.and_then(|axum::Extension(a)| a.user).ok_or(AppError::Unauthorized)?;
    // In the user's scope: a tenant admin exports their own tenant, and finds no other.
    let scope = crate::auth::session::scope_for(&user)?;
    let yaml = match params.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("yaml") => true,
        Some(_) => return Err(AppError::invalid("format", "Choose json or yaml.")),
    };
    let mut tx = db::begin(&state.pool, scope).await?;
    let detail = detail(&mut tx, &slug).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    let doc = export_document(&detail);
    let (body, mime, ext) = if yaml {
        (serde_yaml::to_string(&doc).map_err(AppError::internal)?, "application/yaml", "yaml")
    } else {
        (
            crate::server::json::html_safe(serde_json::to_string_pretty(&doc).map_err(AppError::internal)?),
            "application/json",
            "json",
        )
    };
    Ok((
        [
            (http::header::CONTENT_TYPE, mime.to_string()),
            (http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"tenant-{slug}.{ext}\"")),
        ],
        body,
    )
        .into_response())
}

/// The quota overrides of a tenant.
pub async fn overrides(conn: &mut PgConnection, tenant_id: Uuid) -> Result<Vec<crate::quotas::Override>, sqlx::Error> {
    sqlx::query_as!(
        crate::quotas::Override,
        r#"SELECT metric, value, reason, created_by_email AS by, created_at AS at
           FROM quota_overrides WHERE tenant_id = $1"#,
        tenant_id
    )
    .fetch_all(conn)
    .await
}

/// Sets (or replaces) the override of one limit, with its reason.
pub async fn set_override(
    pool: &PgPool,
    actor: &Actor,
    slug: &str,
    version: i32,
    metric: &str,
    amount: &str,
    reason: &str,
) -> Result<(), AppError> {
    let limit = crate::domain::limits::Limit::from_metric(metric)
        .ok_or_else(|| AppError::invalid("metric", "Choose a limit."))?;
    let value = limit.parse_amount(amount).map_err(|m| AppError::invalid("value", m))?;
    let reason = crate::domain::text::parse_line(reason)
        .and_then(|r| {
            if (3..=500).contains(&r.chars().count()) {
                Ok(r)
            } else {
                Err("Say why, in 3 to 500 characters.".into())
            }
        })
        .map_err(|message| AppError::invalid("reason", message))?;
    let reason = reason.as_str();
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let t = lock(&mut tx, slug, version).await?;
    let before =
        sqlx::query_scalar!("SELECT value FROM quota_overrides WHERE tenant_id = $1 AND metric = $2", t.id, metric)
            .fetch_optional(&mut *tx)
            .await?;
    sqlx::query!(
        r#"INSERT INTO quota_overrides (tenant_id, metric, value, reason, created_by, created_by_email)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (tenant_id, metric) DO UPDATE
             SET value = EXCLUDED.value, reason = EXCLUDED.reason, created_by = EXCLUDED.created_by,
                 created_by_email = EXCLUDED.created_by_email, created_at = now()"#,
        t.id,
        metric,
        value,
        reason,
        actor.user_id,
        actor.email
    )
    .execute(&mut *tx)
    .await?;
    bump(&mut tx, t.id).await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("tenant.quota_override_set")
            .tenant(t.id)
            .target(t.slug.as_str())
            .before(json!({ "metric": metric, "override": before }))
            .after(json!({ "metric": metric, "override": value, "reason": reason })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes the override of one limit: the tier's value applies again.
pub async fn remove_override(
    pool: &PgPool,
    actor: &Actor,
    slug: &str,
    version: i32,
    metric: &str,
) -> Result<(), AppError> {
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let t = lock(&mut tx, slug, version).await?;
    let removed = sqlx::query!(
        "DELETE FROM quota_overrides WHERE tenant_id = $1 AND metric = $2 RETURNING value, reason",
        t.id,
        metric
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    bump(&mut tx, t.id).await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("tenant.quota_override_removed")
            .tenant(t.id)
            .target(t.slug.as_str())
            .before(json!({ "metric": metric, "override": removed.value, "reason": removed.reason }))
            .after(json!({ "metric": metric, "override": null })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Records that the tenant changed (its version moves on).
async fn bump(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query!("UPDATE tenants SET version = version + 1, updated_at = now() WHERE id = $1", id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A tenant locked for a change.
struct Locked {
    id: Uuid,
    slug: String,
    tier_id: String,
    isolation_level: i16,
    status: String,
    environment: String,
    namespace_target: Option<String>,
    prevent_deletion: bool,
}

const STALE: &str = "Someone else changed this tenant since you opened the page. Nothing was saved: reload to see their change, then try again.";

/// Locks the tenant's row, checking that nobody changed it since `version`.
async fn lock(conn: &mut PgConnection, slug: &str, version: i32) -> Result<Locked, AppError> {
    let row = sqlx::query!(
        r#"SELECT id, slug, tier_id, isolation_level, status, environment, namespace_target, prevent_deletion, version
           FROM tenants WHERE slug = $1 FOR UPDATE"#,
        slug
    )
    .fetch_optional(&mut *conn)
    .await?
    .filter(|r| r.status != "deleted")
    .ok_or(AppError::NotFound)?;
    if row.version != version {
        return Err(AppError::Conflict(STALE.into()));
    }
    Ok(Locked {
        id: row.id,
        slug: row.slug,
        tier_id: row.tier_id,
        isolation_level: row.isolation_level,
        status: row.status,
        environment: row.environment,
        namespace_target: row.namespace_target,
        prevent_deletion: row.prevent_deletion,
    })
}

/// Moves a tenant to `tier_id`, refusing when current usage exceeds a new limit.
pub async fn change_tier(
    pool: &PgPool,
    actor: &Actor,
    slug: &str,
    version: i32,
    tier_id: &str,
    isolation: &str,
) -> Result<(), AppError> {
    let requested = if isolation.trim().is_empty() {
        None
    } else {
        Some(domain::parse_isolation(isolation).map_err(|m| AppError::invalid("isolation", m))?)
    };
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let t = lock(&mut tx, slug, version).await?;
    let tier = crate::tiers::ssr::find(&mut tx, tier_id.trim())
        .await?
        .ok_or_else(|| AppError::invalid("tier", format!("There is no tier “{}”.", tier_id.trim())))?;
    if tier.id == t.tier_id && requested.is_none_or(|l| l == t.isolation_level) {
        return Err(AppError::invalid("tier", format!("The tenant is already on the {} tier.", tier.name)));
    }
    let allowed = tier.allowed_isolation_levels.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ");
    let level = match requested {
        Some(l) if tier.allows(l) => l,
        Some(l) => {
            return Err(AppError::invalid(
                "isolation",
                format!("The {} tier does not allow isolation level {l} (allowed: {allowed}).", tier.name),
            ))
        }
        None if tier.allows(t.isolation_level) => t.isolation_level,
        None => {
            return Err(AppError::invalid(
                "isolation",
                format!(
                    "The {} tier does not allow isolation level {}: choose one of {allowed} in the same step.",
                    tier.name, t.isolation_level
                ),
            ))
        }
    };
    let usage = current_usage(&mut tx, t.id).await?;
    let overrides = overrides(&mut tx, t.id).await?;
    let limits = crate::quotas::effective_limits(&tier, domain::environment_factor(&t.environment), &usage, &overrides);
    let over = crate::quotas::overruns(&limits);
    if !over.is_empty() {
        return Err(AppError::invalid(
            "tier",
            format!("Refused: the {} tier would put the tenant over its limits. {}", tier.name, over.join(" ")),
        ));
    }
    let namespace_target = if level >= 2 {
        t.namespace_target.clone().or(Some(format!("tenant-{}", t.slug)))
    } else {
        t.namespace_target.clone()
    };
    let status =
        if level == 3 && t.isolation_level != 3 && t.status == "active" { "provisioning" } else { t.status.as_str() };
    sqlx::query!(
        r#"UPDATE tenants SET tier_id = $2, isolation_level = $3, namespace_target = $4, status = $5,
                  version = version + 1, updated_at = now()
           WHERE id = $1"#,
        t.id,
        tier.id,
        level,
        namespace_target,
        status
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("tenant.tier_changed")
            .tenant(t.id)
            .target(t.slug.as_str())
            .before(json!({ "tier": t.tier_id, "isolation_level": t.isolation_level, "status": t.status }))
            .after(json!({ "tier": tier.id, "isolation_level": level, "status": status, "namespace_target": namespace_target })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Changes a tenant's isolation level within its tier. Levels 2 and 3 run in
/// `namespace`; level 3 sets the tenant to await its activation checklist
/// rather than running dedicated at once.
pub async fn change_isolation(
    pool: &PgPool,
    actor: &Actor,
    slug: &str,
    version: i32,
    isolation: &str,
    namespace: &str,
) -> Result<(), AppError> {
    let level = domain::parse_isolation(isolation).map_err(|m| AppError::invalid("isolation", m))?;
    let namespace_target = if level >= 2 {
        Some(domain::parse_namespace(namespace).map_err(|m| AppError::invalid("namespace", m))?)
    } else {
        None
    };
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let t = lock(&mut tx, slug, version).await?;
    let tier = crate::tiers::ssr::find(&mut tx, &t.tier_id).await?.ok_or(sqlx::Error::RowNotFound)?;
    if !tier.allows(level) {
        let allowed = tier.allowed_isolation_levels.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ");
        return Err(AppError::invalid(
            "isolation",
            format!("The {} tier allows isolation level {allowed} only: change the tier first.", tier.name),
        ));
    }
    if level == t.isolation_level && namespace_target == t.namespace_target {
        return Err(AppError::invalid("isolation", "Nothing to change."));
    }
    let status = match (level, t.status.as_str()) {
        (3, "active") if t.isolation_level != 3 => "provisioning",
        (l, "provisioning") if l < 3 => "active",
        (_, s) => s,
    }
    .to_string();
    sqlx::query!(
        r#"UPDATE tenants SET isolation_level = $2, namespace_target = $3, status = $4, dedicated_instance = false,
                  version = version + 1, updated_at = now()
           WHERE id = $1"#,
        t.id,
        level,
        namespace_target,
        status
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("tenant.isolation_changed")
            .tenant(t.id)
            .target(t.slug.as_str())
            .before(json!({ "isolation_level": t.isolation_level, "namespace_target": t.namespace_target, "status": t.status }))
            .after(json!({ "isolation_level": level, "namespace_target": namespace_target, "status": status })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Suspends or reactivates a tenant; returns the outcome's code.
pub async fn set_status(
    pool: &PgPool,
    actor: &Actor,
    slug: &str,
    version: i32,
    action: &str,
) -> Result<&'static str, AppError> {
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let t = lock(&mut tx, slug, version).await?;
    let (new_status, code) = match (action, t.status.as_str()) {
        ("suspend", "active" | "provisioning") => ("suspended", "suspended"),
        ("reactivate", "suspended") => ("active", "reactivated"),
        ("suspend", _) => return Err(AppError::Conflict("The tenant is already suspended.".into())),
        ("reactivate", _) => return Err(AppError::Conflict("Only a suspended tenant can be reactivated.".into())),
        _ => return Err(AppError::invalid("action", "Unknown action.")),
    };
    sqlx::query!(
        "UPDATE tenants SET status = $2, version = version + 1, updated_at = now() WHERE id = $1",
        t.id,
        new_status
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new(if code == "suspended" { "tenant.suspended" } else { "tenant.reactivated" })
            .tenant(t.id)
            .target(t.slug.as_str())
            .before(json!({ "status": t.status }))
            .after(json!({ "status": new_status })),
    )
    .await?;
    tx.commit().await?;
    Ok(code)
}

/// Turns deletion protection on or off; returns the outcome's code.
pub async fn set_prevent_deletion(
    pool: &PgPool,
    actor: &Actor,
    slug: &str,
    version: i32,
    on: bool,
) -> Result<&'static str, AppError> {
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let t = lock(&mut tx, slug, version).await?;
    sqlx::query!(
        "UPDATE tenants SET prevent_deletion = $2, version = version + 1, updated_at = now() WHERE id = $1",
        t.id,
        on
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("tenant.deletion_protection")
            .tenant(t.id)
            .target(t.slug.as_str())
            .before(json!({ "prevent_deletion": t.prevent_deletion }))
            .after(json!({ "prevent_deletion": on })),
    )
    .await?;
    tx.commit().await?;
    Ok(if on { "protected" } else { "unprotected" })
}

/// Deletes a tenant softly, once `confirm` repeats its slug and unless protected.
pub async fn delete(pool: &PgPool, actor: &Actor, slug: &str, version: i32, confirm: &str) -> Result<(), AppError> {
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let t = lock(&mut tx, slug, version).await?;
    if t.prevent_deletion {
        return Err(AppError::Conflict("Deletion protection is on for this tenant: turn it off first.".into()));
    }
    if confirm.trim() != t.slug {
        return Err(AppError::invalid("confirm", format!("Type “{}” exactly to confirm the deletion.", t.slug)));
    }
    sqlx::query!(
        "UPDATE tenants SET status = 'deleted', version = version + 1, updated_at = now() WHERE id = $1",
        t.id
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("tenant.deleted")
            .tenant(t.id)
            .target(t.slug.as_str())
            .before(json!({ "status": t.status }))
            .after(json!({ "status": "deleted" })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Creates `count` synthetic tenants (`seed-<n>`, tiers and statuses mixed,
/// creation times spread over a year) for load and paging tests, with one
/// audit event for the batch. Returns how many were created.
pub async fn seed(pool: &PgPool, actor: &Actor, count: i64) -> Result<u64, AppError> {
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let start = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM tenants WHERE slug LIKE 'seed-%'"#)
        .fetch_one(&mut *tx)
        .await?;
    let created = sqlx::query!(
        r#"INSERT INTO tenants (slug, name, tier_id, isolation_level, status, region, environment, created_at)
           SELECT 'seed-' || n,
                  'Seeded ' || (ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Vandelay'])[1 + n % 6] || ' ' || n,
                  (ARRAY['free', 'standard', 'premium', 'enterprise'])[1 + n % 4],
                  (ARRAY[1, 1, 2, 3])[1 + n % 4],
                  (ARRAY['active', 'active', 'active', 'suspended', 'provisioning'])[1 + n % 5],
                  (ARRAY['eu-west-1', 'eu-central-1', 'us-east-1', 'us-west-2', 'ap-southeast-1'])[1 + n % 5],
                  (ARRAY['production', 'staging', 'development'])[1 + n % 3],
                  now() - make_interval(secs => (n * 317) % 31536000)
           FROM generate_series($1::bigint + 1, $1::bigint + $2::bigint) AS n"#,
        start,
        count
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("tenant.seeded").after(json!({ "count": created, "first": start + 1 })),
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_searches_are_literal() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn sorts_parse_and_refuse_the_unknown() {
        assert_eq!(Sort::parse(None).unwrap(), Sort::Newest);
        assert_eq!(Sort::parse(Some("name")).unwrap(), Sort::Name);
        assert!(Sort::parse(Some("price")).is_err());
        assert!(ListFilter::parse(None, None, None, None, None, Some("not-a-uuid".into())).is_err());
        assert!(ListFilter::parse(None, None, None, Some("9".into()), None, None).is_err());
    }
}
