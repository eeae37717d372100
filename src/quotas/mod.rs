//! Effective quotas: the tier's limit, scaled by the environment for CPU and
//! memory, and where each value comes from.

#[cfg(feature = "ssr")]
pub mod catalogue;
#[cfg(feature = "ssr")]
pub mod ssr;

use crate::domain::environment::Environment;
pub use crate::domain::limits::Limit;
use crate::domain::tier::Tier;
use serde::{Deserialize, Serialize};

/// A platform admin's override of one limit for one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub metric: String,
    pub value: i64,
    pub reason: String,
    pub by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: time::OffsetDateTime,
}

/// One effective limit and its origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffectiveLimit {
    pub limit: Limit,
    pub tier_value: i64,
    /// The environment factor applied, when it applies.
    pub factor: Option<f64>,
    pub value: i64,
    /// Current usage, when a sample exists.
    pub used: Option<i64>,
    /// The override in force, if any (its value is `value`).
    pub overridden: Option<Override>,
}

impl EffectiveLimit {
    /// Where the value comes from, in words.
    pub fn source(&self) -> String {
        if let Some(o) = &self.overridden {
            let by = o.by.clone().unwrap_or_else(|| "unknown".into());
            return format!("override by {by} on {}: {}", crate::ui::format_time(o.at), o.reason);
        }
        match self.factor {
            Some(f) if f != 1.0 => format!("tier × environment factor {f}"),
            _ => "tier".to_string(),
        }
    }
}

impl EffectiveLimit {
    /// This limit as an entry of a tenant's export document: the effective
    /// value, its usage, and how it was reached.
    pub fn document(&self) -> serde_json::Value {
        serde_json::json!({
            "limit": self.limit.metric(),
            "effective": self.value,
            "used": self.used,
            "tier_value": self.tier_value,
            "environment_factor": self.factor,
            "override": self.overridden.as_ref().map(|o| serde_json::json!({ "value": o.value, "reason": o.reason, "by": o.by })),
        })
    }
}

/// The limits whose current usage is above the value it would have: what a
/// tier change to these limits would break, as messages naming the limit,
/// the usage and the new ceiling.
pub fn overruns(limits: &[EffectiveLimit]) -> Vec<String> {
    limits
        .iter()
        .filter_map(|l| {
            let used = l.used?;
            (used > l.value).then(|| {
                format!(
                    "{}: current usage {} is over the new limit of {}.",
                    l.limit.label(),
                    l.limit.format(used),
                    l.limit.format(l.value)
                )
            })
        })
        .collect()
}

/// The effective limits of a tenant on `tier` in `environment`, with the
/// current usage of each (`usage`: metric name and value).
pub fn effective_limits(
    tier: &Tier,
    environment: Environment,
    usage: &[(String, i64)],
    overrides: &[Override],
) -> Vec<EffectiveLimit> {
    Limit::ALL
        .iter()
        .map(|&limit| {
            let tier_value = tier.limit(limit);
            let factor = limit.scales_with_environment().then_some(environment.factor());
            let value = match factor {
                Some(f) => (tier_value as f64 * f).round() as i64,
                None => tier_value,
            };
            let used = usage.iter().find(|(m, _)| m == limit.metric()).map(|(_, v)| *v);
            let overridden = overrides.iter().find(|o| o.metric == limit.metric()).cloned();
            let value = overridden.as_ref().map(|o| o.value).unwrap_or(value);
            EffectiveLimit { limit, tier_value, factor, value, used, overridden }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standard() -> Tier {
        Tier {
            id: "standard".into(),
            name: "Standard".into(),
            cpu_millicores: 2000,
            memory_bytes: 8 * 1024_i64.pow(3),
            storage_bytes: 100 * 1024_i64.pow(3),
            max_users: 1000,
            api_calls_per_month: 1_000_000,
            api_rate_per_second: 50,
            api_burst: 100,
            db_connections: 100,
            allowed_isolation_levels: vec![
                crate::domain::isolation::IsolationLevel::LOGICAL,
                crate::domain::isolation::IsolationLevel::NAMESPACE,
            ],
            default_isolation_level: crate::domain::isolation::IsolationLevel::LOGICAL,
            backup: String::new(),
            support: String::new(),
            version: 1,
        }
    }

    #[test]
    fn the_environment_scales_cpu_and_memory_only() {
        let limits = effective_limits(&standard(), Environment::Development, &[], &[]);
        let get = |l: Limit| limits.iter().find(|e| e.limit == l).unwrap().clone();
        assert_eq!(get(Limit::Cpu).value, 1000);
        assert_eq!(get(Limit::Memory).value, 4 * 1024_i64.pow(3));
        assert_eq!(get(Limit::Storage).value, 100 * 1024_i64.pow(3));
        assert_eq!(get(Limit::Users).value, 1000);
        assert_eq!(get(Limit::Cpu).source(), "tier × environment factor 0.5");
        assert_eq!(get(Limit::Users).source(), "tier");
    }

    #[test]
    fn staging_gets_seventy_percent() {
        let limits = effective_limits(&standard(), Environment::Staging, &[], &[]);
        assert_eq!(limits[0].value, 1400);
        assert_eq!(limits[0].limit.format(limits[0].value), "1.4 cores");
    }

    #[test]
    fn a_downgrade_names_every_limit_usage_would_exceed() {
        let usage = vec![("storage".to_string(), 150 * 1024_i64.pow(3)), ("users".to_string(), 1000)];
        let limits = effective_limits(&standard(), Environment::Production, &usage, &[]);
        assert_eq!(
            overruns(&limits),
            vec!["Storage: current usage 150 GiB is over the new limit of 100 GiB.".to_string()],
            "1,000 users on a 1,000-user limit is at the limit, not over it"
        );
    }

    #[test]
    fn an_override_replaces_the_scaled_tier_value_and_says_so() {
        let o = Override {
            metric: "storage".into(),
            value: 200 * 1024_i64.pow(3),
            reason: "migration in progress".into(),
            by: Some("ops@example.com".into()),
            at: time::OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap(),
        };
        let limits = effective_limits(&standard(), Environment::Development, &[], &[o]);
        let storage = limits.iter().find(|l| l.limit == Limit::Storage).unwrap();
        assert_eq!(storage.value, 200 * 1024_i64.pow(3));
        assert!(storage.source().starts_with("override by ops@example.com on 2026-11-18"), "{}", storage.source());
        assert!(storage.source().ends_with("migration in progress"));
    }

    #[test]
    fn production_is_the_tier_itself() {
        let limits = effective_limits(&standard(), Environment::Production, &[], &[]);
        assert!(limits.iter().all(|l| l.value == l.tier_value && l.source() == "tier"));
    }
}
