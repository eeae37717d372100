//! What an API token lets a machine do.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One permission of an API token, stored by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// A reverse proxy asks which tenant a request is for, and whether it may pass.
    Routing,
    /// A platform reports tenants' usage.
    Ingest,
    /// Prometheus reads the metrics.
    Metrics,
    /// A billing system reads usage for invoices.
    Billing,
}

impl TokenScope {
    pub const ALL: [TokenScope; 4] =
        [TokenScope::Routing, TokenScope::Ingest, TokenScope::Metrics, TokenScope::Billing];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Routing => "routing",
            TokenScope::Ingest => "ingest",
            TokenScope::Metrics => "metrics",
            TokenScope::Billing => "billing",
        }
    }

    pub fn parse(name: &str) -> Option<TokenScope> {
        TokenScope::ALL.into_iter().find(|s| s.as_str() == name.trim())
    }

    /// What the scope allows, for people.
    pub fn description(self) -> &'static str {
        match self {
            TokenScope::Routing => "a reverse proxy's routing check",
            TokenScope::Ingest => "usage reports",
            TokenScope::Metrics => "Prometheus metrics",
            TokenScope::Billing => "the billing export",
        }
    }
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_by_name_and_nothing_else_parses() {
        for s in TokenScope::ALL {
            assert_eq!(TokenScope::parse(s.as_str()), Some(s));
        }
        assert_eq!(TokenScope::parse("admin"), None);
        assert_eq!(TokenScope::parse("Routing"), None);
    }
}
