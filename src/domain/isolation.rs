//! Isolation levels: how a tenant's data and workloads are kept apart.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a tenant's data lives and how it is separated: 1 (logical), 2
/// (dedicated namespace) or 3 (dedicated instance), stored as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i16", into = "i16")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(transparent))]
pub struct IsolationLevel(i16);

impl IsolationLevel {
    /// A shared database under Row-Level Security.
    pub const LOGICAL: IsolationLevel = IsolationLevel(1);
    /// A Kubernetes namespace or Docker network of its own.
    pub const NAMESPACE: IsolationLevel = IsolationLevel(2);
    /// An instance of its own, reached through the activation checklist.
    pub const INSTANCE: IsolationLevel = IsolationLevel(3);
    /// Every level, lowest first.
    pub const ALL: [IsolationLevel; 3] = [Self::LOGICAL, Self::NAMESPACE, Self::INSTANCE];

    /// The level of a number, if it is one.
    pub fn new(level: i16) -> Option<IsolationLevel> {
        (1..=3).contains(&level).then_some(IsolationLevel(level))
    }

    /// Parses a level from a form value.
    pub fn parse(input: &str) -> Result<IsolationLevel, String> {
        input
            .trim()
            .parse::<i16>()
            .ok()
            .and_then(IsolationLevel::new)
            .ok_or_else(|| "Choose isolation level 1, 2 or 3.".to_string())
    }

    /// The level's number.
    pub fn number(self) -> i16 {
        self.0
    }

    /// Where the tenant's data lives and how it is separated, for people.
    pub fn label(self) -> &'static str {
        match self.0 {
            1 => "1 · Logical (shared database, Row-Level Security)",
            2 => "2 · Dedicated namespace",
            _ => "3 · Dedicated instance",
        }
    }
}

impl fmt::Display for IsolationLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl TryFrom<i16> for IsolationLevel {
    type Error = String;

    fn try_from(level: i16) -> Result<Self, Self::Error> {
        IsolationLevel::new(level).ok_or_else(|| format!("{level} is not an isolation level"))
    }
}

impl From<IsolationLevel> for i16 {
    fn from(level: IsolationLevel) -> i16 {
        level.0
    }
}

/// Where a tenant's data lives and how it is separated.
pub fn isolation_label(level: IsolationLevel) -> &'static str {
    level.label()
}

/// Parses an isolation level from a form value.
pub fn parse_isolation(input: &str) -> Result<IsolationLevel, String> {
    IsolationLevel::parse(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_three_levels_parse() {
        assert_eq!(IsolationLevel::parse(" 2 ").unwrap(), IsolationLevel::NAMESPACE);
        for bad in ["0", "4", "-1", "", "two", "1.0"] {
            assert!(IsolationLevel::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<IsolationLevel>("7").is_err(), "nor deserialise");
        assert_eq!(serde_json::to_string(&IsolationLevel::INSTANCE).unwrap(), "3");
    }
}
