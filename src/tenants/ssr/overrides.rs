//! Per-tenant overrides of a tier's limits, each with its reason.

use super::lock::{bump, refuse_overrun, Change};
use crate::audit::{Actor, NewEvent};
use crate::error::AppError;
use serde_json::json;
use sqlx::PgPool;

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
    let Change { mut tx, t } = Change::begin(pool, slug, version).await?;
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
    refuse_overrun(&mut tx, t.id, "value", &[limit], |over| format!("Refused: {over}")).await?;
    bump(&mut tx, t.id).await?;
    let event = NewEvent::new("tenant.quota_override_set")
        .before(json!({ "metric": metric, "override": before }))
        .after(json!({ "metric": metric, "override": value, "reason": reason }));
    Change { tx, t }.commit(actor, event).await?;
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
    let Change { mut tx, t } = Change::begin(pool, slug, version).await?;
    let removed = sqlx::query!(
        "DELETE FROM quota_overrides WHERE tenant_id = $1 AND metric = $2 RETURNING value, reason",
        t.id,
        metric
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    bump(&mut tx, t.id).await?;
    let event = NewEvent::new("tenant.quota_override_removed")
        .before(json!({ "metric": metric, "override": removed.value, "reason": removed.reason }))
        .after(json!({ "metric": metric, "override": null }));
    Change { tx, t }.commit(actor, event).await?;
    Ok(())
}
