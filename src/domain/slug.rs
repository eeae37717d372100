//! A tenant's slug: the DNS label that names it in addresses, queues and namespaces.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Subdomains the console and the platform keep for themselves.
pub const RESERVED_SLUGS: &[&str] = &[
    "www",
    "api",
    "admin",
    "app",
    "apps",
    "auth",
    "login",
    "console",
    "dashboard",
    "mail",
    "smtp",
    "status",
    "static",
    "assets",
    "cdn",
    "docs",
    "help",
    "support",
    "billing",
    "bulkhead",
    "metrics",
    "grafana",
    "prometheus",
    "internal",
    "system",
    "root",
    "default",
    "public",
    "localhost",
    "new",
];

/// A tenant's slug: a DNS label used in `<slug>.<base domain>`, queue and namespace names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Slug(String);

impl Slug {
    /// Parses a slug exactly as typed (no case folding: capitals are an error to show).
    pub fn parse(input: &str) -> Result<Slug, String> {
        let s = input.trim();
        let len = s.chars().count();
        if len == 0 {
            return Err("Enter a slug.".into());
        }
        if len < 3 {
            return Err("A slug has at least 3 characters.".into());
        }
        if len > 63 {
            return Err(format!("A slug has at most 63 characters (this one has {len})."));
        }
        if let Some(c) = s.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
            let what = if c.is_uppercase() {
                "capital letters".to_string()
            } else if c.is_whitespace() {
                "spaces".to_string()
            } else {
                format!("“{c}”")
            };
            return Err(format!("Use only lowercase letters a–z, digits and hyphens (not {what})."));
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err("A slug cannot start or end with a hyphen.".into());
        }
        // "xn--…" is an internationalised name in ASCII form (an A-label): the
        // address bar shows it in another script. RFC 5891 reserves every
        // label with hyphens as its third and fourth characters for such forms.
        if s.get(2..4) == Some("--") {
            return Err(format!(
                "A slug cannot have “--” as its third and fourth characters (“{}…” is how internationalised domain names are written).",
                &s[..4]
            ));
        }
        if RESERVED_SLUGS.contains(&s) {
            return Err(format!("“{s}” is reserved; choose another slug."));
        }
        Ok(Slug(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
