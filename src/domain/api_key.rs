//! What a tenant API key looks like, for the pages that make keys and the
//! routing check that reads them alike.

/// What every tenant key starts with, so people and secret scanners
/// recognise one (and tell it from a machine token, `bkh_`).
pub const PREFIX: &str = "bk_live_";

/// A key's length: the prefix and 32 random bytes in hexadecimal.
pub const LENGTH: usize = PREFIX.len() + 64;
