//! The tier catalogue's queries and its editing rule, server only.

use super::Tier;
use crate::audit::{Actor, NewEvent};
use crate::domain::isolation::IsolationLevel;
use crate::domain::limits::{Limit, TierLimits};
use crate::domain::tier_id::TierId;
use crate::error::{AppError, FieldError};
use crate::server::db::{self, Scope};
use serde_json::json;
use sqlx::PgPool;

pub use crate::quotas::catalogue::{all, find};

/// A tier's new terms, as typed.
#[derive(Debug, Clone, Default)]
pub struct TierEdit {
    /// Amounts per limit metric (`cpu`, `memory`, …), with units.
    pub amounts: Vec<(String, String)>,
    pub levels: Vec<i16>,
    pub default_level: String,
    pub backup: String,
    pub support: String,
    /// Calls a second and the burst; `None` keeps the tier's.
    pub rate: Option<String>,
    pub burst: Option<String>,
}

/// Changes a tier's limits and isolation levels: every field parsed, the
/// default among the allowed levels, no tenant left on a level the tier
/// stops allowing; audited with the values before and after.
pub async fn update(pool: &PgPool, actor: &Actor, id: &str, version: i32, edit: TierEdit) -> Result<(), AppError> {
    let mut errors = Vec::new();
    let mut values = TierLimits::default();
    for limit in Limit::ALL {
        let typed = edit.amounts.iter().find(|(m, _)| m == limit.metric()).map(|(_, v)| v.as_str()).unwrap_or("");
        match limit.parse_amount(typed) {
            Ok(v) => values.set(limit, v),
            Err(message) => errors.push(FieldError { field: limit.metric().to_string(), message }),
        }
    }
    let mut levels: Vec<IsolationLevel> = edit.levels.iter().filter_map(|l| IsolationLevel::new(*l)).collect();
    levels.sort();
    levels.dedup();
    if levels.is_empty() || levels.len() != edit.levels.iter().collect::<std::collections::BTreeSet<_>>().len() {
        errors.push(FieldError { field: "levels".into(), message: "Allow at least one isolation level.".into() });
    }
    let default_level = crate::domain::isolation::parse_isolation(&edit.default_level);
    match &default_level {
        Ok(l) if !levels.contains(l) => errors.push(FieldError {
            field: "default_level".into(),
            message: "The default level must be one of the allowed levels.".into(),
        }),
        Err(m) => errors.push(FieldError { field: "default_level".into(), message: m.clone() }),
        _ => {}
    }
    let mut term = |field: &str, text: &str| {
        let parsed = crate::domain::text::parse_line(text).and_then(|t| match t.chars().count() {
            1..=500 => Ok(t),
            _ => Err("Enter 1 to 500 characters.".to_string()),
        });
        parsed.map_err(|message| errors.push(FieldError { field: field.into(), message })).unwrap_or_default()
    };
    let backup = term("backup", &edit.backup);
    let support = term("support", &edit.support);
    let mut speed = |field: &str, typed: &Option<String>| match typed.as_deref().map(str::trim) {
        None => None,
        Some(t) => match t.replace([',', '_', ' '], "").parse::<i32>() {
            Ok(n) if (1..=1_000_000).contains(&n) => Some(n),
            _ => {
                errors.push(FieldError {
                    field: field.into(),
                    message: "Enter a whole number from 1 to 1,000,000.".into(),
                });
                None
            }
        },
    };
    let rate = speed("rate", &edit.rate);
    let burst = speed("burst", &edit.burst);
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let default_level = default_level.expect("checked");
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let before = sqlx::query_as!(
        Tier,
        r#"SELECT id AS "id: TierId", name, cpu_millicores, memory_bytes, storage_bytes, max_users, api_calls_per_month,
                      db_connections, api_rate_per_second, api_burst, allowed_isolation_levels AS "allowed_isolation_levels: Vec<IsolationLevel>",
                      default_isolation_level AS "default_isolation_level: IsolationLevel", backup, support, version
               FROM tiers WHERE id = $1 FOR UPDATE"#,
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    if before.version != version {
        return Err(AppError::Conflict(
            "Someone else changed this tier since you opened the page. Nothing was saved: reload to see their change."
                .into(),
        ));
    }
    let level_numbers: Vec<i16> = levels.iter().map(|l| l.number()).collect();
    let stranded = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM tenants
               WHERE tier_id = $1 AND status <> 'deleted' AND NOT (isolation_level = ANY ($2::smallint[]))"#,
        id,
        &level_numbers
    )
    .fetch_one(&mut *tx)
    .await?;
    if stranded > 0 {
        return Err(AppError::invalid(
            "levels",
            format!("{stranded} tenant(s) on this tier use a level you are removing: move them first."),
        ));
    }
    sqlx::query!(
        r#"UPDATE tiers SET cpu_millicores = $2, memory_bytes = $3, storage_bytes = $4, max_users = $5,
                      api_calls_per_month = $6, db_connections = $7, allowed_isolation_levels = $8,
                      default_isolation_level = $9, backup = $10, support = $11,
                      api_rate_per_second = $12, api_burst = $13,
                      version = version + 1, updated_at = now()
               WHERE id = $1"#,
        id,
        values.cpu_millicores,
        values.memory_bytes,
        values.storage_bytes,
        values.max_users,
        values.api_calls_per_month,
        values.db_connections,
        &level_numbers,
        default_level.number(),
        backup,
        support,
        rate.unwrap_or(before.api_rate_per_second),
        burst.unwrap_or(before.api_burst)
    )
    .execute(&mut *tx)
    .await?;
    let snapshot = |t: &Tier| {
        json!({
            "cpu_millicores": t.cpu_millicores, "memory_bytes": t.memory_bytes, "storage_bytes": t.storage_bytes,
            "max_users": t.max_users, "api_calls_per_month": t.api_calls_per_month, "db_connections": t.db_connections,
            "allowed_isolation_levels": t.allowed_isolation_levels, "default_isolation_level": t.default_isolation_level,
            "backup": t.backup, "support": t.support,
            "api_rate_per_second": t.api_rate_per_second, "api_burst": t.api_burst,
        })
    };
    let after = Tier {
        cpu_millicores: values.cpu_millicores,
        memory_bytes: values.memory_bytes,
        storage_bytes: values.storage_bytes,
        max_users: values.max_users,
        api_calls_per_month: values.api_calls_per_month,
        db_connections: values.db_connections,
        allowed_isolation_levels: levels,
        default_isolation_level: default_level,
        backup,
        support,
        api_rate_per_second: rate.unwrap_or(before.api_rate_per_second),
        api_burst: burst.unwrap_or(before.api_burst),
        ..before.clone()
    };
    // The tier's tenants measured against the new terms, in the same
    // transaction: a lowered limit raises its alerts with the change.
    let tenants = sqlx::query_scalar!("SELECT id FROM tenants WHERE tier_id = $1 AND status <> 'deleted'", id)
        .fetch_all(&mut *tx)
        .await?;
    let event = NewEvent::new("tier.updated").target(id).before(snapshot(&before)).after(snapshot(&after));
    crate::alerts::change::commit(tx, actor, event, &tenants).await?;
    Ok(())
}
