//! A subscription tier: its limits, the isolation levels it allows, its
//! backup and support terms.

use super::isolation::IsolationLevel;
use super::tier_id::TierId;
use serde::{Deserialize, Serialize};

/// One subscription tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tier {
    pub id: TierId,
    pub name: String,
    pub cpu_millicores: i64,
    pub memory_bytes: i64,
    pub storage_bytes: i64,
    pub max_users: i64,
    pub api_calls_per_month: i64,
    pub db_connections: i64,
    /// API calls a second, and the burst a tenant may spend at once.
    pub api_rate_per_second: i32,
    pub api_burst: i32,
    pub allowed_isolation_levels: Vec<IsolationLevel>,
    pub default_isolation_level: IsolationLevel,
    pub backup: String,
    pub support: String,
    pub version: i32,
}

impl Tier {
    pub fn allows(&self, level: IsolationLevel) -> bool {
        self.allowed_isolation_levels.contains(&level)
    }

    /// This tier's limits, by name.
    pub fn limits(&self) -> crate::domain::limits::TierLimits {
        crate::domain::limits::TierLimits {
            cpu_millicores: self.cpu_millicores,
            memory_bytes: self.memory_bytes,
            storage_bytes: self.storage_bytes,
            max_users: self.max_users,
            api_calls_per_month: self.api_calls_per_month,
            db_connections: self.db_connections,
        }
    }

    /// This tier's value of `limit`.
    pub fn limit(&self, limit: crate::domain::limits::Limit) -> i64 {
        self.limits().get(limit)
    }
}
