//! Where a tenant stands in its life: provisioning, active, suspended, deleted.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A tenant's status, stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(type_name = "text", rename_all = "snake_case"))]
pub enum TenantStatus {
    /// Created, or moving to a dedicated instance, and not yet running as asked.
    Provisioning,
    Active,
    /// Its API calls are refused until a platform admin reactivates it.
    Suspended,
    /// Deleted softly: kept for the record, shown nowhere by default.
    Deleted,
}

impl TenantStatus {
    /// Every status, in the order filters offer them.
    pub const ALL: [TenantStatus; 4] =
        [TenantStatus::Provisioning, TenantStatus::Active, TenantStatus::Suspended, TenantStatus::Deleted];

    /// The stored name, as the database, the audit trail and addresses carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Provisioning => "provisioning",
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
            TenantStatus::Deleted => "deleted",
        }
    }

    /// Parses a stored or typed name.
    pub fn parse(input: &str) -> Option<TenantStatus> {
        TenantStatus::ALL.into_iter().find(|s| s.as_str() == input.trim())
    }

    /// The tone of its badge.
    pub fn tone(self) -> &'static str {
        match self {
            TenantStatus::Active => "success",
            TenantStatus::Provisioning => "info",
            TenantStatus::Suspended => "warning",
            TenantStatus::Deleted => "danger",
        }
    }
}

impl fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for s in TenantStatus::ALL {
            assert_eq!(TenantStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(TenantStatus::parse("archived"), None);
    }
}
