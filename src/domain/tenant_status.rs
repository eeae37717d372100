//! Where a tenant stands in its life: provisioning, active, suspended, deleted.

use super::isolation::IsolationLevel;
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
    /// The status after the isolation level moves from `from` to `to` (by a
    /// tier change or on its own): an active tenant moving to a dedicated
    /// instance waits for its activation checklist; one waiting that moves
    /// back below level 3 runs again. Suspended and deleted tenants stay so.
    pub fn after_isolation_change(self, from: IsolationLevel, to: IsolationLevel) -> TenantStatus {
        match self {
            TenantStatus::Active if to == IsolationLevel::INSTANCE && from != IsolationLevel::INSTANCE => {
                TenantStatus::Provisioning
            }
            TenantStatus::Provisioning if to < IsolationLevel::INSTANCE => TenantStatus::Active,
            other => other,
        }
    }

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
    fn level_3_waits_for_its_checklist_and_leaving_it_runs_again() {
        use IsolationLevel as L;
        assert_eq!(TenantStatus::Active.after_isolation_change(L::LOGICAL, L::INSTANCE), TenantStatus::Provisioning);
        assert_eq!(TenantStatus::Active.after_isolation_change(L::INSTANCE, L::INSTANCE), TenantStatus::Active);
        assert_eq!(TenantStatus::Provisioning.after_isolation_change(L::INSTANCE, L::NAMESPACE), TenantStatus::Active);
        assert_eq!(TenantStatus::Suspended.after_isolation_change(L::LOGICAL, L::INSTANCE), TenantStatus::Suspended);
    }

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for s in TenantStatus::ALL {
            assert_eq!(TenantStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(TenantStatus::parse("archived"), None);
    }
}
