//! Tenant input, parsed at the boundary: slug, name, isolation level,
//! region and compliance regimes (the environment is a domain value:
//! [`crate::domain::environment::Environment`]).

use serde::{Deserialize, Serialize};

pub use crate::domain::isolation::{isolation_label, parse_isolation};
pub use crate::domain::namespace::parse_namespace;
pub use crate::domain::slug::{Slug, RESERVED_SLUGS};

/// A slug suggested from a tenant's name: ASCII-folded, lowercased, hyphenated.
pub fn suggest_slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(fold) {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut s: String = out.trim_matches('-').chars().take(63).collect();
    while s.ends_with('-') {
        s.pop();
    }
    s
}

fn fold(c: char) -> Vec<char> {
    let mapped = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "a",
        'æ' | 'Æ' => "ae",
        'ç' | 'Ç' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "o",
        'œ' | 'Œ' => "oe",
        'ß' => "ss",
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => "u",
        'ý' | 'ÿ' | 'Ý' => "y",
        _ => return vec![c],
    };
    mapped.chars().collect()
}

/// A tenant's display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantName(String);

impl TenantName {
    pub const MAX: usize = 100;

    pub fn parse(input: &str) -> Result<TenantName, String> {
        if input.trim().is_empty() {
            return Err("Enter the tenant's name.".into());
        }
        let s = crate::domain::text::parse_line(input)?;
        let len = s.chars().count();
        if len > Self::MAX {
            return Err(format!("A name has at most {} characters (this one has {len}).", Self::MAX));
        }
        Ok(TenantName(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Regions tenants can be placed in.
pub const REGIONS: &[&str] = &["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-1"];

pub fn parse_region(input: &str) -> Result<&'static str, String> {
    REGIONS.iter().find(|r| **r == input.trim()).copied().ok_or_else(|| "Choose a region from the list.".to_string())
}

/// Compliance regimes a tenant can be subject to.
pub const COMPLIANCE: &[(&str, &str)] = &[("gdpr", "GDPR"), ("sox", "SOX"), ("hipaa", "HIPAA"), ("pci-dss", "PCI-DSS")];

pub fn parse_compliance(values: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for v in values {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        if !COMPLIANCE.iter().any(|(id, _)| *id == v) {
            return Err(format!("Unknown compliance regime “{v}”."));
        }
        if !out.iter().any(|o: &String| o == v) {
            out.push(v.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn good_slugs_parse() {
        for ok in ["acme", "acme-corp", "a1b", "x".repeat(63).as_str(), "123"] {
            assert!(Slug::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn bad_slugs_say_why() {
        assert!(Slug::parse("Acme").unwrap_err().contains("capital"));
        assert!(Slug::parse("ac me").unwrap_err().contains("spaces"));
        assert!(Slug::parse("acmé").unwrap_err().contains("é"));
        assert!(Slug::parse("-acme").unwrap_err().contains("hyphen"));
        assert!(Slug::parse("acme-").unwrap_err().contains("hyphen"));
        assert!(Slug::parse(&"a".repeat(64)).unwrap_err().contains("at most 63"));
        assert!(Slug::parse("ab").unwrap_err().contains("at least 3"));
        assert!(Slug::parse("www").unwrap_err().contains("reserved"));
        assert!(Slug::parse("admin").unwrap_err().contains("reserved"));
        assert!(Slug::parse("").is_err());
        assert!(Slug::parse("xn--80ak6aa92e").unwrap_err().contains("internationalised"));
        assert!(Slug::parse("ab--cd").is_err(), "every label reserved for such forms");
        assert!(Slug::parse("abc--d").is_ok(), "hyphens elsewhere are fine");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(TenantName::parse("  Acme  ").unwrap().as_str(), "Acme");
        assert!(TenantName::parse("   ").is_err());
        assert!(TenantName::parse(&"n".repeat(10_000)).unwrap_err().contains("at most 100"));
        assert!(TenantName::parse("a\u{0}b").is_err());
        assert!(TenantName::parse("\u{200B}").unwrap_err().contains("U+200B"));
        assert!(TenantName::parse("Acme\u{202E}gnp.exe").unwrap_err().contains("bidirectional"));
    }

    #[test]
    fn slugs_are_suggested_from_names() {
        assert_eq!(suggest_slug("Société Générale"), "societe-generale");
        assert_eq!(suggest_slug("  ACME  Corp. (EU) "), "acme-corp-eu");
        assert_eq!(suggest_slug("日本"), "");
    }

    #[test]
    fn namespaces_are_dns_labels_outside_the_system_ones() {
        assert_eq!(parse_namespace(" tenant-acme ").as_deref(), Ok("tenant-acme"));
        assert!(parse_namespace("Tenant").is_err());
        assert!(parse_namespace("kube-system").unwrap_err().contains("system"));
        assert!(parse_namespace("").is_err());
        assert!(parse_namespace(&"n".repeat(64)).is_err());
    }

    #[test]
    fn compliance_regimes_are_known_and_deduplicated() {
        let v = parse_compliance(&["gdpr".into(), "hipaa".into(), "gdpr".into(), "".into()]).unwrap();
        assert_eq!(v, vec!["gdpr".to_string(), "hipaa".to_string()]);
        assert!(parse_compliance(&["iso".into()]).is_err());
    }

    proptest! {
        #[test]
        fn parsed_slugs_are_dns_labels(s in "\\PC{0,80}") {
            if let Ok(slug) = Slug::parse(&s) {
                let v = slug.as_str();
                prop_assert!((3..=63).contains(&v.len()));
                prop_assert!(v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
                prop_assert!(!v.starts_with('-') && !v.ends_with('-'));
                prop_assert!(!RESERVED_SLUGS.contains(&v));
            }
        }

        #[test]
        fn suggestions_are_valid_or_too_short(name in "\\PC{0,120}") {
            let s = suggest_slug(&name);
            if s.len() >= 3 && !RESERVED_SLUGS.contains(&s.as_str()) {
                prop_assert!(Slug::parse(&s).is_ok(), "{}", s);
            }
        }

        #[test]
        fn label_shaped_strings_parse(s in "[a-z0-9][a-z0-9-]{1,61}[a-z0-9]") {
            prop_assume!(!RESERVED_SLUGS.contains(&s.as_str()));
            // (Hyphens as third and fourth characters are reserved for IDNA forms.)
            prop_assume!(s.get(2..4) != Some("--"));
            prop_assert_eq!(Slug::parse(&s).map(|x| x.to_string()), Ok(s));
        }
    }
}
