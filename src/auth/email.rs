//! E-mail addresses, parsed at the boundary.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A syntactically valid e-mail address, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EmailAddress(String);

/// Why a string is not an e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("Enter an e-mail address.")]
    Empty,
    #[error("An e-mail address has at most 254 characters.")]
    TooLong,
    #[error("Enter an e-mail address like name@example.com.")]
    Malformed,
}

impl EmailAddress {
    /// Parses `input` (surrounding spaces ignored, case folded).
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        if s.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let s = s.to_ascii_lowercase();
        let (local, domain) = s.split_once('@').ok_or(EmailError::Malformed)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(EmailAddress(s))
        } else {
            Err(EmailError::Malformed)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_addresses_and_folds_case() {
        assert_eq!(EmailAddress::parse(" Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
        assert!(EmailAddress::parse("first.last+tag@sub.example.org").is_ok());
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        assert_eq!(EmailAddress::parse("   "), Err(EmailError::Empty));
        for bad in [
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a..b@example.com",
            "ada@-x.com",
            "ada@exa mple.com",
            "ada@example..com",
            "adä@example.com",
            "a@b@example.com",
        ] {
            assert_eq!(EmailAddress::parse(bad), Err(EmailError::Malformed), "{bad}");
        }
        assert_eq!(EmailAddress::parse(&format!("{}@example.com", "a".repeat(250))), Err(EmailError::TooLong));
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_is_idempotent(s in "\\PC{0,300}") {
            if let Ok(e) = EmailAddress::parse(&s) {
                prop_assert_eq!(EmailAddress::parse(e.as_str()), Ok(e.clone()));
                prop_assert!(e.as_str().len() <= 254);
                prop_assert_eq!(e.as_str().to_ascii_lowercase(), e.as_str());
            }
        }

        #[test]
        fn generated_addresses_parse(local in "[a-z0-9]{1,20}", host in "[a-z0-9]{1,20}", tld in "[a-z]{2,6}") {
            let addr = format!("{local}@{host}.{tld}");
            prop_assert_eq!(EmailAddress::parse(&addr).map(|e| e.to_string()), Ok(addr));
        }
    }
}
