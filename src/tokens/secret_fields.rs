//! The fields a secret handed to a machine is made with, parsed alike for
//! machine tokens and tenant keys: a name and a life.

use crate::error::FieldError;

/// The longest life a token or a key may be given, in days.
pub const MAX_DAYS: i64 = 3650;

/// A secret's name: one line of at most 64 characters; `missing` is the
/// message when none is given. Pushes its message to `errors` when refused.
pub fn parse_name(name: &str, missing: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let refused = |message: String| FieldError { field: "name".into(), message };
    match crate::domain::text::parse_line(name) {
        _ if name.trim().is_empty() => {
            errors.push(refused(missing.into()));
            None
        }
        Ok(n) if n.chars().count() > 64 => {
            errors.push(refused("Use at most 64 characters.".into()));
            None
        }
        Ok(n) => Some(n),
        Err(message) => {
            errors.push(refused(message));
            None
        }
    }
}

/// A secret's life in days (`never` or empty: `None`; a number of days with
/// or without a `d`), the field `expires`'s message pushed when refused.
pub fn parse_life(expires: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
    match expires.trim().trim_end_matches('d') {
        "" | "never" => None,
        n => match n.parse::<i64>() {
            Ok(d) if (1..=MAX_DAYS).contains(&d) => Some(d),
            _ => {
                errors.push(FieldError {
                    field: "expires".into(),
                    message: format!("Give a number of days from 1 to {MAX_DAYS}, or never."),
                });
                None
            }
        },
    }
}
