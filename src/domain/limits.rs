//! The limits a tier sets and a platform admin may override, and their
//! amounts as people type and read them.

use super::amounts::{format_bytes, format_count, format_cpu};
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

    /// A value of this limit, as people read it.
    pub fn format(self, value: i64) -> String {
        match self {
            Limit::Cpu => format_cpu(value),
            Limit::Memory | Limit::Storage => format_bytes(value),
            _ => format_count(value),
        }
    }
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

/// One value of each limit: a tier's terms, named, never read by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TierLimits {
    pub cpu_millicores: i64,
    pub memory_bytes: i64,
    pub storage_bytes: i64,
    pub max_users: i64,
    pub api_calls_per_month: i64,
    pub db_connections: i64,
}

impl TierLimits {
    /// The value of `limit`.
    pub fn get(&self, limit: Limit) -> i64 {
        match limit {
            Limit::Cpu => self.cpu_millicores,
            Limit::Memory => self.memory_bytes,
            Limit::Storage => self.storage_bytes,
            Limit::Users => self.max_users,
            Limit::ApiCalls => self.api_calls_per_month,
            Limit::DbConnections => self.db_connections,
        }
    }

    /// Sets the value of `limit`.
    pub fn set(&mut self, limit: Limit, value: i64) {
        let slot = match limit {
            Limit::Cpu => &mut self.cpu_millicores,
            Limit::Memory => &mut self.memory_bytes,
            Limit::Storage => &mut self.storage_bytes,
            Limit::Users => &mut self.max_users,
            Limit::ApiCalls => &mut self.api_calls_per_month,
            Limit::DbConnections => &mut self.db_connections,
        };
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_has_its_own_slot() {
        let mut t = TierLimits::default();
        for (i, l) in Limit::ALL.into_iter().enumerate() {
            t.set(l, i as i64 + 1);
        }
        let read: Vec<i64> = Limit::ALL.into_iter().map(|l| t.get(l)).collect();
        assert_eq!(read, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!((t.cpu_millicores, t.db_connections), (1, 6));
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
            proptest::prop_assert_eq!(Limit::Users.parse_amount(&format_count(n)), Ok(n));
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
}
