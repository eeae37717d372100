//! Tenant queries and the creation rule, server only; the list, changes,
//! overrides, export and seeding each in a file of their own.

pub mod activation;
mod changes;
mod export;
mod list;
mod lock;
pub mod namespace;
mod overrides;
mod seed;

pub use changes::{change_details, change_isolation, change_tier, delete, set_prevent_deletion, set_status, Details};
pub use export::{export_document, export_handler};
pub use list::{list, ListFilter, Sort, PAGE_SIZE};
pub use overrides::{remove_override, set_override};
pub use seed::seed;

use super::domain::{self, Slug, TenantName};
use super::{TenantDetail, TenantRow};
use crate::audit::{self, Actor, NewEvent};
use crate::domain::environment::Environment;
use crate::domain::isolation::IsolationLevel;
use crate::domain::tenant_status::TenantStatus;
use crate::domain::tier_id::TierId;
use crate::error::OnConstraint;
use crate::error::{AppError, FieldError};
use crate::server::db::{self, Scope};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// A tenant's page data.
pub async fn detail(conn: &mut PgConnection, slug: &str) -> Result<Option<TenantDetail>, sqlx::Error> {
    let Some(row) = sqlx::query!(
        r#"SELECT id, slug, name, tier_id AS "tier_id: TierId", isolation_level AS "isolation_level: IsolationLevel", status AS "status: TenantStatus", region, environment AS "environment: Environment", created_at,
                  compliance, dedicated_instance, namespace_target, version, prevent_deletion
           FROM tenants WHERE slug = $1"#,
        slug
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    // The standing brings the tier's terms with the limits: one read of each.
    let standing = crate::quotas::ssr::standings(conn, crate::quotas::ssr::Which::Ever(Some(&[row.id])))
        .await?
        .pop()
        .ok_or(sqlx::Error::RowNotFound)?;
    let (tier, limits) = ((*standing.tier).clone(), standing.limits);
    let teardown = activation::teardown_of(conn, row.id).await?;
    let namespace_render = namespace::newest(conn, row.id).await?;
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
        teardown,
        namespace_render,
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
    runtime: &crate::server::config::TenantRuntime,
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
    let environment = Environment::parse(&input.environment);
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
    let namespace_target = (level >= IsolationLevel::NAMESPACE).then(|| format!("tenant-{slug}"));
    // A dedicated instance runs only once its activation checklist is done.
    let status = if level == IsolationLevel::INSTANCE { TenantStatus::Provisioning } else { TenantStatus::Active };

    let id = sqlx::query_scalar!(
        r#"INSERT INTO tenants (slug, name, tier_id, isolation_level, region, environment, compliance,
                                namespace_target, created_by, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"#,
        slug.as_str(),
        name.as_str(),
        tier.id.as_str(),
        level.number(),
        region,
        environment.as_str(),
        &compliance,
        namespace_target,
        created_by,
        status.as_str()
    )
    .fetch_one(&mut *tx)
    .await
    .on_constraint("tenants_slug_key", || AppError::invalid("slug", format!("The slug “{slug}” is already taken.")))?;
    if level == IsolationLevel::INSTANCE {
        activation::request(&mut tx, actor, id, slug.as_str()).await?;
    }
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
    if level == IsolationLevel::NAMESPACE {
        namespace::record(&mut tx, actor, runtime, id).await?;
    }
    tx.commit().await?;
    Ok(slug)
}
