//! The deployment environment a tenant runs in, and the share of its tier's
//! CPU and memory it gets there.

use serde::{Deserialize, Serialize};

/// A tenant's environment, stored as its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(type_name = "text", rename_all = "lowercase"))]
pub enum Environment {
    Development,
    Staging,
    Production,
}

impl Environment {
    /// Every environment, in the order forms offer them.
    pub const ALL: [Environment; 3] = [Environment::Development, Environment::Staging, Environment::Production];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }

    /// Its name for people.
    pub fn label(self) -> &'static str {
        match self {
            Environment::Development => "Development",
            Environment::Staging => "Staging",
            Environment::Production => "Production",
        }
    }

    /// The share of the tier's CPU and memory limits a tenant gets here.
    pub fn factor(self) -> f64 {
        match self {
            Environment::Development => 0.5,
            Environment::Staging => 0.7,
            Environment::Production => 1.0,
        }
    }

    /// Parses a typed or chosen name.
    pub fn parse(input: &str) -> Result<Environment, String> {
        Environment::ALL
            .into_iter()
            .find(|e| e.as_str() == input.trim())
            .ok_or_else(|| "Choose development, staging or production.".to_string())
    }

    /// A stored name as read back (the column's check admits these three; anything else reads as production,
    /// the environment with the tier's whole limits).
    pub fn from_stored(stored: &str) -> Environment {
        Environment::parse(stored).unwrap_or(Environment::Production)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_environment_parses_from_its_name_and_scales_cpu_and_memory() {
        for e in Environment::ALL {
            assert_eq!(Environment::parse(e.as_str()), Ok(e));
        }
        assert_eq!(Environment::parse(" staging "), Ok(Environment::Staging));
        assert!(Environment::parse("prod").is_err());
        assert_eq!(Environment::ALL.map(Environment::factor), [0.5, 0.7, 1.0], "development gets half, staging 70 %");
        assert_eq!(Environment::from_stored("bogus"), Environment::Production);
    }
}
