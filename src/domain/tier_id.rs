//! The name a tier is known by: `free`, `standard`, `premium`, `enterprise`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A tier's id, as tenants, addresses, exports and the audit trail name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(transparent))]
pub struct TierId(String);

impl TierId {
    pub fn new(id: impl Into<String>) -> Self {
        TierId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TierId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for TierId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for TierId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for TierId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl From<&str> for TierId {
    fn from(id: &str) -> Self {
        TierId(id.to_string())
    }
}
