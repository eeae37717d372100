//! Changes to an existing tenant: tier, isolation level, status, deletion
//! protection and deletion, each on the version it was made on.

use super::super::domain;
use super::lock::{refuse_overrun, Change};
use crate::audit::{Actor, NewEvent};
use crate::domain::environment::Environment;
use crate::domain::isolation::IsolationLevel;
use crate::domain::limits::Limit;
use crate::domain::tenant_status::TenantStatus;
use crate::error::AppError;
use serde_json::json;
use sqlx::PgPool;

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
    let Change { mut tx, t } = Change::begin(pool, slug, version).await?;
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
    let namespace_target = if level >= IsolationLevel::NAMESPACE {
        t.namespace_target.clone().or(Some(format!("tenant-{}", t.slug)))
    } else {
        t.namespace_target.clone()
    };
    let status = t.status.after_isolation_change(t.isolation_level, level);
    sqlx::query!(
        r#"UPDATE tenants SET tier_id = $2, isolation_level = $3, namespace_target = $4, status = $5,
                  dedicated_instance = dedicated_instance AND $3::smallint = 3, version = version + 1, updated_at = now()
           WHERE id = $1"#,
        t.id,
        tier.id.as_str(),
        level.number(),
        namespace_target,
        status.as_str()
    )
    .execute(&mut *tx)
    .await?;
    refuse_overrun(&mut tx, t.id, "tier", &[], |over| {
        format!("Refused: the {} tier would put the tenant over its limits. {over}", tier.name)
    })
    .await?;
    super::activation::follow_level(&mut tx, actor, t.id, &t.slug, t.isolation_level, level).await?;
    let event = NewEvent::new("tenant.tier_changed")
        .before(json!({ "tier": t.tier_id, "isolation_level": t.isolation_level, "status": t.status }))
        .after(json!({ "tier": tier.id, "isolation_level": level, "status": status, "namespace_target": namespace_target }));
    Change { tx, t }.commit(actor, event).await?;
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
    runtime: &crate::server::config::TenantRuntime,
) -> Result<(), AppError> {
    let level = domain::parse_isolation(isolation).map_err(|m| AppError::invalid("isolation", m))?;
    let namespace_target = if level >= IsolationLevel::NAMESPACE {
        Some(domain::parse_namespace(namespace).map_err(|m| AppError::invalid("namespace", m))?)
    } else {
        None
    };
    let Change { mut tx, t } = Change::begin(pool, slug, version).await?;
    let tier = crate::tiers::ssr::find(&mut tx, t.tier_id.as_str()).await?.ok_or(sqlx::Error::RowNotFound)?;
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
    if t.dedicated_instance && level == IsolationLevel::INSTANCE {
        return Err(AppError::invalid(
            "namespace",
            "A dedicated instance is running: its namespace changes only with a new activation checklist.",
        ));
    }
    let status = t.status.after_isolation_change(t.isolation_level, level);
    sqlx::query!(
        r#"UPDATE tenants SET isolation_level = $2, namespace_target = $3, status = $4,
                  dedicated_instance = dedicated_instance AND $2::smallint = 3, version = version + 1, updated_at = now()
           WHERE id = $1"#,
        t.id,
        level.number(),
        namespace_target,
        status.as_str()
    )
    .execute(&mut *tx)
    .await?;
    super::activation::follow_level(&mut tx, actor, t.id, &t.slug, t.isolation_level, level).await?;
    if level == IsolationLevel::NAMESPACE {
        super::namespace::record(&mut tx, actor, runtime, t.id).await?;
    }
    let event = NewEvent::new("tenant.isolation_changed")
        .before(
            json!({ "isolation_level": t.isolation_level, "namespace_target": t.namespace_target, "status": t.status }),
        )
        .after(json!({ "isolation_level": level, "namespace_target": namespace_target, "status": status }));
    Change { tx, t }.commit(actor, event).await?;
    Ok(())
}

/// Ends the sessions of a tenant's admins, in the caller's transaction (the
/// tenant is being suspended or deleted); returns how many ended. Signing in
/// again is refused while the tenant stays closed (`tenant_access_open`).
async fn end_admin_sessions(conn: &mut sqlx::PgConnection, tenant: uuid::Uuid) -> Result<i64, sqlx::Error> {
    let done = sqlx::query!(
        "UPDATE auth_sessions s SET revoked_at = now()
         FROM users u WHERE u.id = s.user_id AND u.tenant_id = $1 AND s.revoked_at IS NULL",
        tenant
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() as i64)
}

/// Suspends or reactivates a tenant; returns the outcome's code.
pub async fn set_status(
    pool: &PgPool,
    actor: &Actor,
    slug: &str,
    version: i32,
    action: &str,
) -> Result<&'static str, AppError> {
    let Change { mut tx, t } = Change::begin(pool, slug, version).await?;
    let (new_status, code) = match (action, t.status) {
        ("suspend", TenantStatus::Active | TenantStatus::Provisioning) => (TenantStatus::Suspended, "suspended"),
        // A level-3 tenant whose checklist is not complete goes back to waiting for it.
        ("reactivate", TenantStatus::Suspended)
            if t.isolation_level == IsolationLevel::INSTANCE && !t.dedicated_instance =>
        {
            (TenantStatus::Provisioning, "reactivated")
        }
        ("reactivate", TenantStatus::Suspended) => (TenantStatus::Active, "reactivated"),
        ("suspend", _) => return Err(AppError::Conflict("The tenant is already suspended.".into())),
        ("reactivate", _) => return Err(AppError::Conflict("Only a suspended tenant can be reactivated.".into())),
        _ => return Err(AppError::invalid("action", "Unknown action.")),
    };
    sqlx::query!(
        "UPDATE tenants SET status = $2, version = version + 1, updated_at = now() WHERE id = $1",
        t.id,
        new_status.as_str()
    )
    .execute(&mut *tx)
    .await?;
    let sessions_ended =
        if new_status == TenantStatus::Suspended { end_admin_sessions(&mut tx, t.id).await? } else { 0 };
    let event = NewEvent::new(if code == "suspended" { "tenant.suspended" } else { "tenant.reactivated" })
        .before(json!({ "status": t.status }))
        .after(json!({ "status": new_status, "sessions_ended": sessions_ended }));
    Change { tx, t }.commit(actor, event).await?;
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
    let Change { mut tx, t } = Change::begin(pool, slug, version).await?;
    sqlx::query!(
        "UPDATE tenants SET prevent_deletion = $2, version = version + 1, updated_at = now() WHERE id = $1",
        t.id,
        on
    )
    .execute(&mut *tx)
    .await?;
    let event = NewEvent::new("tenant.deletion_protection")
        .before(json!({ "prevent_deletion": t.prevent_deletion }))
        .after(json!({ "prevent_deletion": on }));
    Change { tx, t }.commit(actor, event).await?;
    Ok(if on { "protected" } else { "unprotected" })
}

/// Deletes a tenant softly, once `confirm` repeats its slug and unless protected.
pub async fn delete(pool: &PgPool, actor: &Actor, slug: &str, version: i32, confirm: &str) -> Result<(), AppError> {
    let Change { mut tx, t } = Change::begin(pool, slug, version).await?;
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
    let sessions_ended = end_admin_sessions(&mut tx, t.id).await?;
    // A dedicated instance is taken down with the tenant.
    super::activation::roll_back(&mut tx, actor, t.id, &t.slug, super::activation::Leaving::Deleted).await?;
    let event = NewEvent::new("tenant.deleted")
        .before(json!({ "status": t.status }))
        .after(json!({ "status": TenantStatus::Deleted, "sessions_ended": sessions_ended }));
    Change { tx, t }.commit(actor, event).await?;
    Ok(())
}

/// What a platform admin may edit about a tenant besides its tier and level.
pub struct Details {
    pub name: String,
    pub region: String,
    pub environment: String,
    pub compliance: Vec<String>,
}

/// Changes a tenant's name, region, environment and compliance regimes: every
/// field checked (all problems at once), refused when a smaller environment
/// would put the tenant over its CPU or memory limit.
pub async fn change_details(
    pool: &PgPool,
    actor: &Actor,
    slug: &str,
    version: i32,
    input: Details,
) -> Result<(), AppError> {
    let mut errors = Vec::new();
    let name = domain::TenantName::parse(&input.name).map_err(|m| errors.push(("name", m))).ok();
    let region = domain::parse_region(&input.region).map_err(|m| errors.push(("region", m))).ok();
    let environment = Environment::parse(&input.environment).map_err(|m| errors.push(("environment", m))).ok();
    let compliance = domain::parse_compliance(&input.compliance).map_err(|m| errors.push(("compliance", m))).ok();
    let (Some(name), Some(region), Some(environment), Some(compliance)) = (name, region, environment, compliance)
    else {
        return Err(AppError::Invalid(
            errors
                .into_iter()
                .map(|(field, message)| crate::error::FieldError { field: field.into(), message })
                .collect(),
        ));
    };
    let Change { mut tx, t } = Change::begin(pool, slug, version).await?;
    let before =
        sqlx::query!("SELECT name, region, compliance FROM tenants WHERE id = $1", t.id).fetch_one(&mut *tx).await?;
    if before.name == name.as_str()
        && before.region == region
        && t.environment == environment
        && before.compliance == compliance
    {
        return Err(AppError::invalid("name", "Nothing to change."));
    }
    sqlx::query!(
        "UPDATE tenants SET name = $2, region = $3, environment = $4, compliance = $5,
                version = version + 1, updated_at = now()
         WHERE id = $1",
        t.id,
        name.as_str(),
        region,
        environment.as_str(),
        &compliance
    )
    .execute(&mut *tx)
    .await?;
    // The environment scales CPU and memory.
    refuse_overrun(&mut tx, t.id, "environment", &[Limit::Cpu, Limit::Memory], |over| {
        format!("Refused: in {} the tenant would be over its limits. {over}", environment.as_str())
    })
    .await?;
    let event = NewEvent::new("tenant.details_changed")
        .before(json!({ "name": before.name, "region": before.region, "environment": t.environment.as_str(), "compliance": before.compliance }))
        .after(json!({ "name": name.as_str(), "region": region, "environment": environment.as_str(), "compliance": compliance }));
    Change { tx, t }.commit(actor, event).await?;
    Ok(())
}
