//! Effective quotas: the tier's limit, scaled by the environment for CPU and
//! memory, and where each value comes from.

use crate::tiers::Tier;
use crate::ui::{format_bytes, format_count, format_cpu};
use serde::{Deserialize, Serialize};

/// The limits a tier sets, in the order the console shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Limit {
    Cpu,
    Memory,
    Storage,
    Users,
    ApiCalls,
    DbConnections,
}

impl Limit {
    pub const ALL: [Limit; 6] =
        [Limit::Cpu, Limit::Memory, Limit::Storage, Limit::Users, Limit::ApiCalls, Limit::DbConnections];

    pub fn label(self) -> &'static str {
        match self {
            Limit::Cpu => "CPU",
            Limit::Memory => "Memory",
            Limit::Storage => "Storage",
            Limit::Users => "Users",
            Limit::ApiCalls => "API calls / month",
            Limit::DbConnections => "DB connections",
        }
    }

    /// Whether the environment factor applies (resource limits only).
    pub fn scales_with_environment(self) -> bool {
        matches!(self, Limit::Cpu | Limit::Memory)
    }

    /// The name of the usage metric measured against this limit.
    pub fn metric(self) -> &'static str {
        match self {
            Limit::Cpu => "cpu",
            Limit::Memory => "memory",
            Limit::Storage => "storage",
            Limit::Users => "users",
            Limit::ApiCalls => "api_calls",
            Limit::DbConnections => "db_connections",
        }
    }

    /// The tier's value for this limit.
    pub fn of(self, tier: &Tier) -> i64 {
        match self {
            Limit::Cpu => tier.cpu_millicores,
            Limit::Memory => tier.memory_bytes,
            Limit::Storage => tier.storage_bytes,
            Limit::Users => tier.max_users,
            Limit::ApiCalls => tier.api_calls_per_month,
            Limit::DbConnections => tier.db_connections,
        }
    }

    /// A value of this limit, as people read it.
    pub fn format(self, value: i64) -> String {
        match self {
            Limit::Cpu => format_cpu(value),
            Limit::Memory | Limit::Storage => format_bytes(value),
            _ => format_count(value),
        }
    }
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
}

impl EffectiveLimit {
    /// Where the value comes from, in words.
    pub fn source(&self) -> String {
        match self.factor {
            Some(f) if f != 1.0 => format!("tier × environment factor {f}"),
            _ => "tier".to_string(),
        }
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
pub fn effective_limits(tier: &Tier, environment_factor: f64, usage: &[(String, i64)]) -> Vec<EffectiveLimit> {
    Limit::ALL
        .iter()
        .map(|&limit| {
            let tier_value = limit.of(tier);
            let factor = limit.scales_with_environment().then_some(environment_factor);
            let value = match factor {
                Some(f) => (tier_value as f64 * f).round() as i64,
                None => tier_value,
            };
            let used = usage.iter().find(|(m, _)| m == limit.metric()).map(|(_, v)| *v);
            EffectiveLimit { limit, tier_value, factor, value, used }
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
            db_connections: 100,
            allowed_isolation_levels: vec![1, 2],
            default_isolation_level: 1,
            backup: String::new(),
            support: String::new(),
        }
    }

    #[test]
    fn the_environment_scales_cpu_and_memory_only() {
        let limits = effective_limits(&standard(), 0.5, &[]);
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
        let limits = effective_limits(&standard(), 0.7, &[]);
        assert_eq!(limits[0].value, 1400);
        assert_eq!(limits[0].limit.format(limits[0].value), "1.4 cores");
    }

    #[test]
    fn a_downgrade_names_every_limit_usage_would_exceed() {
        let usage = vec![("storage".to_string(), 150 * 1024_i64.pow(3)), ("users".to_string(), 1000)];
        let limits = effective_limits(&standard(), 1.0, &usage);
        assert_eq!(
            overruns(&limits),
            vec!["Storage: current usage 150 GiB is over the new limit of 100 GiB.".to_string()],
            "1,000 users on a 1,000-user limit is at the limit, not over it"
        );
    }

    #[test]
    fn production_is_the_tier_itself() {
        let limits = effective_limits(&standard(), 1.0, &[]);
        assert!(limits.iter().all(|l| l.value == l.tier_value && l.source() == "tier"));
    }
}
