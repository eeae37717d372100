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

impl Limit {
    /// The limit measured by `metric`.
    pub fn from_metric(metric: &str) -> Option<Limit> {
        Limit::ALL.into_iter().find(|l| l.metric() == metric)
    }

    /// The largest value an override may set: far above any tier, below absurd.
    pub fn ceiling(self) -> i64 {
        match self {
            Limit::Cpu => 4_096_000,                // 4,096 cores
            Limit::Memory => 1024_i64.pow(4) * 64,  // 64 TiB
            Limit::Storage => 1024_i64.pow(5) * 10, // 10 PiB
            Limit::Users => 100_000_000,
            Limit::ApiCalls => 1_000_000_000_000,
            Limit::DbConnections => 100_000,
        }
    }

    /// Parses an amount of this limit as people type it: `2`, `0.5 cores`,
    /// `500m` (CPU); `512 MiB`, `8 GiB`, `1.5 TiB` (memory, storage);
    /// `1,000,000` (counts). Zero, negative, fractional counts and values
    /// above [`Limit::ceiling`] are refused.
    pub fn parse_amount(self, input: &str) -> Result<i64, String> {
        let s = input.trim().to_ascii_lowercase().replace(['_', ','], "");
        if s.is_empty() {
            return Err("Enter a value.".into());
        }
        let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+')).unwrap_or(s.len());
        let (number, unit) = (s[..split].trim(), s[split..].trim());
        let n: f64 = number.parse().map_err(|_| format!("“{}” is not a number.", input.trim()))?;
        if !n.is_finite() || n <= 0.0 {
            return Err("The value must be greater than zero.".into());
        }
        let scale: f64 = match self {
            Limit::Cpu => match unit {
                "" | "core" | "cores" | "cpu" | "cpus" => 1000.0,
                "m" | "millicores" => 1.0,
                _ => return Err("Give CPU in cores (2, 0.5 cores) or millicores (500m).".into()),
            },
            Limit::Memory | Limit::Storage => match unit {
                "b" => 1.0,
                "kib" => 1024.0,
                "mib" => 1024f64.powi(2),
                "gib" => 1024f64.powi(3),
                "tib" => 1024f64.powi(4),
                "pib" => 1024f64.powi(5),
                "" => return Err("Give a unit: MiB, GiB or TiB.".into()),
                _ => return Err(format!("Unknown unit “{unit}”: use MiB, GiB or TiB.")),
            },
            _ => match unit {
                "" => 1.0,
                _ => return Err("Give a whole number.".into()),
            },
        };
        let value = n * scale;
        if value.fract() != 0.0 && !matches!(self, Limit::Memory | Limit::Storage | Limit::Cpu) {
            return Err("Give a whole number.".into());
        }
        let value = value.round();
        if value < 1.0 {
            return Err("The value is too small.".into());
        }
        if value > self.ceiling() as f64 {
            return Err(format!("The value is too large: at most {}.", self.format(self.ceiling())));
        }
        Ok(value as i64)
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
    environment_factor: f64,
    usage: &[(String, i64)],
    overrides: &[Override],
) -> Vec<EffectiveLimit> {
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
            db_connections: 100,
            allowed_isolation_levels: vec![1, 2],
            default_isolation_level: 1,
            backup: String::new(),
            support: String::new(),
            version: 1,
        }
    }

    #[test]
    fn the_environment_scales_cpu_and_memory_only() {
        let limits = effective_limits(&standard(), 0.5, &[], &[]);
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
        let limits = effective_limits(&standard(), 0.7, &[], &[]);
        assert_eq!(limits[0].value, 1400);
        assert_eq!(limits[0].limit.format(limits[0].value), "1.4 cores");
    }

    #[test]
    fn a_downgrade_names_every_limit_usage_would_exceed() {
        let usage = vec![("storage".to_string(), 150 * 1024_i64.pow(3)), ("users".to_string(), 1000)];
        let limits = effective_limits(&standard(), 1.0, &usage, &[]);
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
        let limits = effective_limits(&standard(), 0.5, &[], &[o]);
        let storage = limits.iter().find(|l| l.limit == Limit::Storage).unwrap();
        assert_eq!(storage.value, 200 * 1024_i64.pow(3));
        assert!(storage.source().starts_with("override by ops@example.com on 2026-11-18"), "{}", storage.source());
        assert!(storage.source().ends_with("migration in progress"));
    }

    #[test]
    fn amounts_parse_with_their_units() {
        assert_eq!(Limit::Cpu.parse_amount("2"), Ok(2000));
        assert_eq!(Limit::Cpu.parse_amount("0.25 cores"), Ok(250));
        assert_eq!(Limit::Cpu.parse_amount("500m"), Ok(500));
        assert_eq!(Limit::Memory.parse_amount("512 MiB"), Ok(512 * 1024 * 1024));
        assert_eq!(Limit::Storage.parse_amount("1.5 TiB"), Ok(1024_i64.pow(4) * 3 / 2));
        assert_eq!(Limit::Users.parse_amount("1,000,000"), Ok(1_000_000));
        assert_eq!(Limit::ApiCalls.parse_amount("10_000"), Ok(10_000));
    }

    #[test]
    fn bad_amounts_say_why() {
        assert!(Limit::Users.parse_amount("-5").unwrap_err().contains("greater than zero"));
        assert!(Limit::Users.parse_amount("0").unwrap_err().contains("greater than zero"));
        assert!(Limit::Users.parse_amount("lots").unwrap_err().contains("not a number"));
        assert!(Limit::Users.parse_amount("1.5").unwrap_err().contains("whole number"));
        assert!(Limit::Users.parse_amount("99999999999999999999").unwrap_err().contains("too large"));
        assert!(Limit::Storage.parse_amount("100").unwrap_err().contains("unit"));
        assert!(Limit::Storage.parse_amount("100 GB").unwrap_err().contains("Unknown unit"));
        assert!(Limit::Cpu.parse_amount("1e400").is_err());
        assert!(Limit::Cpu.parse_amount("").is_err());
    }

    proptest::proptest! {
        #[test]
        fn formatted_counts_parse_back(n in 1i64..100_000_000) {
            proptest::prop_assert_eq!(Limit::Users.parse_amount(&crate::ui::format_count(n)), Ok(n));
        }

        #[test]
        fn whole_gib_parse_back(n in 1i64..1024) {
            let bytes = n * 1024_i64.pow(3);
            proptest::prop_assert_eq!(Limit::Memory.parse_amount(&Limit::Memory.format(bytes)), Ok(bytes));
        }

        #[test]
        fn parsing_never_panics_and_stays_in_bounds(s in "\\PC{0,40}") {
            for limit in Limit::ALL {
                if let Ok(v) = limit.parse_amount(&s) {
                    proptest::prop_assert!(v >= 1 && v <= limit.ceiling());
                }
            }
        }
    }

    #[test]
    fn production_is_the_tier_itself() {
        let limits = effective_limits(&standard(), 1.0, &[], &[]);
        assert!(limits.iter().all(|l| l.value == l.tier_value && l.source() == "tier"));
    }
}
