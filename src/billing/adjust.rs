//! Adjustments: the one way a closed month's figures change. A month closed
//! for billing takes no late sample (its figures were sent); a correction is
//! written as an adjustment with its reason, audited, and the tenant's
//! figures for the month are sent again as `billing.period_adjusted`, as
//! metering services correct invoiced periods with adjustments rather than
//! silent rewrites.
//!
//! - `api_calls`: a signed number of calls added to the month's count (the
//!   count may not go below zero).
//! - a gauge (`storage_bytes`, `users`, …): the value the month's peak should
//!   have been; the newest adjustment of a gauge wins, and the average is
//!   kept at or under it.

use super::ssr::{figures_of, json_row};
use super::Period;
use crate::audit::{self, Actor, NewEvent};
use crate::error::{AppError, FieldError};
use crate::server::db::{self, Scope};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// A checked adjustment, its tenant not yet looked up.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAdjustment {
    pub period: Period,
    /// A slug or an id.
    pub tenant: String,
    pub metric: &'static str,
    pub value: i64,
    pub reason: String,
}

/// What an adjustment may name: API calls, or a reported gauge.
pub fn metric(name: &str) -> Option<&'static str> {
    std::iter::once("api_calls").chain(crate::usage::ingest::METRICS).find(|m| *m == name.trim())
}

impl NewAdjustment {
    /// Checks every field; each problem is named by its field.
    pub fn parse(period: &str, tenant: &str, metric_name: &str, value: &str, reason: &str) -> Result<Self, AppError> {
        let mut errors = Vec::new();
        let mut bad = |field: &str, message: String| errors.push(FieldError { field: field.into(), message });
        let period = match Period::parse(period) {
            Ok(p) => Some(p),
            Err(_) => {
                bad("period", "Give the closed month as YYYY-MM, for example 2026-10.".into());
                None
            }
        };
        if tenant.trim().is_empty() {
            bad("tenant", "Name the tenant (its slug or id).".into());
        }
        let metric = metric(metric_name);
        if metric.is_none() {
            bad("metric", format!("One of api_calls, {}.", crate::usage::ingest::METRICS.join(", ")));
        }
        let value = match (metric, value.trim().parse::<i64>()) {
            (Some("api_calls"), Ok(v)) if v != 0 && v.unsigned_abs() <= 1 << 53 => Some(v),
            (Some("api_calls"), _) => {
                bad("value", "A whole number of calls to add (negative to remove), not zero.".into());
                None
            }
            (Some(m), Ok(v)) if (0..=crate::usage::ingest::bound(m).1).contains(&v) => Some(v),
            (Some(m), _) => {
                let (unit, max) = crate::usage::ingest::bound(m);
                bad("value", format!("The month's corrected peak: a whole number of {unit} from 0 to {max}."));
                None
            }
            (None, _) => None,
        };
        let reason = reason.trim();
        if !(3..=500).contains(&reason.chars().count()) {
            bad("reason", "Say why (3 to 500 characters): it is sent with the figures and kept in the trail.".into());
        }
        match (period, metric, value) {
            (Some(period), Some(metric), Some(value)) if errors.is_empty() => Ok(NewAdjustment {
                period,
                tenant: tenant.trim().to_string(),
                metric,
                value,
                reason: reason.to_string(),
            }),
            _ => Err(AppError::Invalid(errors)),
        }
    }
}

/// An adjustment written, with the tenant's figures for the month after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjusted {
    pub id: i64,
    pub tenant_id: Uuid,
    pub figures: serde_json::Value,
}

/// Writes an adjustment to a closed month: checked against the month (closed),
/// the tenant (existing then) and the count (not below zero), audited as
/// `billing.period_adjusted` with the figures before and after, and the
/// figures after queued for the billing webhooks, all in one transaction.
pub async fn adjust(pool: &PgPool, actor: &Actor, new: NewAdjustment) -> Result<Adjusted, AppError> {
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let month = new.period.first_day();
    // The month's row is locked so that two adjustments of it are applied one after the other.
    let closed = sqlx::query_scalar!("SELECT month FROM billing_periods WHERE month = $1 FOR UPDATE", month)
        .fetch_optional(&mut *tx)
        .await?;
    if closed.is_none() {
        return Err(AppError::invalid(
            "period",
            format!("{} is not closed for billing: its usage is still reported as samples.", new.period),
        ));
    }
    let tenant_id =
        sqlx::query_scalar!("SELECT id FROM tenants WHERE slug = $1 OR id::text = $1", new.tenant.to_lowercase())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| AppError::invalid("tenant", format!("No tenant {:?}.", new.tenant)))?;
    let before = figures_of(&mut tx, new.period, Some(tenant_id)).await?;
    let Some(before) = before.into_iter().next() else {
        return Err(AppError::invalid("tenant", format!("{} has no figures for {}.", new.tenant, new.period)));
    };
    if new.metric == "api_calls" && before.api_calls + new.value < 0 {
        return Err(AppError::invalid(
            "value",
            format!("The month counts {} calls: it cannot lose {}.", before.api_calls, -new.value),
        ));
    }
    let id = sqlx::query_scalar!(
        "INSERT INTO billing_adjustments (month, tenant_id, metric, value, reason, actor)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        month,
        tenant_id,
        new.metric,
        new.value,
        new.reason,
        actor.email.clone().unwrap_or_else(|| "unknown".into()).chars().take(200).collect::<String>()
    )
    .fetch_one(&mut *tx)
    .await?;
    let after = figures_of(&mut tx, new.period, Some(tenant_id))
        .await?
        .into_iter()
        .next()
        .expect("a tenant with figures before has figures after");
    let adjustment = json!({ "id": id, "metric": new.metric, "value": new.value, "reason": new.reason });
    let figures = json_row(&after);
    crate::webhooks::outbox::enqueue(
        &mut tx,
        "billing.period_adjusted",
        json!({ "period": new.period.to_string(), "adjustment": adjustment, "tenant": figures }),
    )
    .await?;
    let event = NewEvent::new("billing.period_adjusted")
        .tenant(tenant_id)
        .target(format!("{} {}", new.period, after.slug))
        .before(json!({ "figures": json_row(&before) }))
        .after(json!({ "adjustment": adjustment, "figures": figures }));
    audit::record(&mut tx, actor, event).await?;
    tx.commit().await?;
    Ok(Adjusted { id, tenant_id, figures })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(e: AppError) -> Vec<String> {
        match e {
            AppError::Invalid(errors) => errors.into_iter().map(|f| f.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_field_is_checked_and_named() {
        let ok = NewAdjustment::parse("2026-10", "acme", "api_calls", "-1200", "double-counted retries").unwrap();
        assert_eq!((ok.metric, ok.value), ("api_calls", -1200));
        assert!(NewAdjustment::parse("2026-10", "acme", "users", "12", "seat count fixed").is_ok());
        assert_eq!(
            fields(NewAdjustment::parse("10/2026", " ", "bogus", "1", "x").unwrap_err()),
            ["period", "tenant", "metric", "reason"]
        );
        assert_eq!(fields(NewAdjustment::parse("2026-10", "acme", "users", "-1", "why not").unwrap_err()), ["value"]);
        assert_eq!(fields(NewAdjustment::parse("2026-10", "acme", "users", "1.5", "why not").unwrap_err()), ["value"]);
        assert_eq!(
            fields(NewAdjustment::parse("2026-10", "acme", "api_calls", "0", "why not").unwrap_err()),
            ["value"]
        );
        assert_eq!(
            fields(NewAdjustment::parse("2026-10", "acme", "users", "18446744073709551615", "bug").unwrap_err()),
            ["value"]
        );
    }
}
