//! Password hashing with argon2id at OWASP's parameters, off the async runtime.

use crate::error::AppError;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

/// Shortest password accepted for a new account.
pub const MIN_LENGTH: usize = 12;
/// The least zxcvbn score (0–4) a new password must reach: 3 is "safely
/// unguessable" (about 10^8 guesses and more), against online and throttled attacks.
const MIN_SCORE: u8 = 3;
/// Longest password looked at; longer input is refused before hashing.
pub const MAX_LENGTH: usize = 1024;

fn hasher() -> Argon2<'static> {
    // m = 19 MiB, t = 2, p = 1 (OWASP password storage cheat sheet).
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(hasher().hash_password(password.as_bytes(), &salt)?.to_string())
}

/// A hash of a random password, verified against when the e-mail is unknown so
/// that an unknown address takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking("bulkhead-dummy-password-never-matches").expect("hash"))
}

/// Hashes a new password.
pub async fn hash(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)
}

/// Checks `password` against `stored` (or against a dummy hash when there is
/// no such user), always spending the same work.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_string());
        let parsed = PasswordHash::new(&stored).map_err(AppError::internal)?;
        let ok = hasher().verify_password(password.as_bytes(), &parsed).is_ok();
        Ok(ok && known)
    })
    .await
    .map_err(AppError::internal)?
}

/// Checks a new password; `None` when it is acceptable. `email` is the
/// account's address: a password containing it (or its name part) is refused.
pub fn weakness(password: &str, email: Option<&str>) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Some(format!("Use at least {MIN_LENGTH} characters."));
    }
    if password.len() > MAX_LENGTH {
        return Some(format!("Use at most {MAX_LENGTH} characters."));
    }
    let lower = password.to_lowercase();
    if let Some(email) = email.map(str::to_lowercase) {
        let name = email.split('@').next().unwrap_or_default();
        if lower.contains(&email) || (name.chars().count() >= 3 && lower.contains(name)) {
            return Some("Do not use your e-mail address in your password.".into());
        }
    }
    // zxcvbn estimates the guesses an attacker needs (dictionaries, names,
    // keyboard runs, dates, l33t); the account's address and the product's
    // own words count as known to the attacker.
    let mut known: Vec<&str> = vec!["bulkhead", "tenant", "tenants", "console", "platform", "admin"];
    if let Some(email) = email {
        known.push(email);
        known.extend(email.split(['@', '.', '-', '_', '+']).filter(|p| p.len() >= 3));
    }
    let estimate = zxcvbn::zxcvbn(password, &known);
    if u8::from(estimate.score()) < MIN_SCORE {
        let why = estimate.feedback().and_then(|f| f.warning()).map(|w| format!(" ({w})")).unwrap_or_default();
        return Some(format!(
            "This password is too easy to guess{why}. Use a few unrelated words, or a longer phrase."
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery".into(), Some(h.clone())).await.unwrap());
        assert!(!verify("correct horse batterY".into(), Some(h)).await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        assert!(!verify("bulkhead-dummy-password-never-matches".into(), None).await.unwrap());
    }

    #[test]
    fn short_common_or_personal_passwords_are_weak() {
        assert!(weakness("short", None).is_some());
        assert!(weakness("twelve chars", None).is_none());
        assert!(weakness("correct horse battery staple", Some("ops@example.com")).is_none());
        assert!(weakness(&"x".repeat(MAX_LENGTH + 1), None).is_some());
        for common in [
            "password1234",
            "Password123!",
            "123456789012",
            "qwertyuiop12",
            "aaaaaaaaaaaa",
            "iloveyou2024!",
            "abcdefghijkl",
            "Welcome12345",
        ] {
            assert!(weakness(common, None).unwrap().contains("too easy to guess"), "{common}");
        }
        let personal = weakness("jane.doe-rocks-2026", Some("Jane.Doe@acme.example")).unwrap();
        assert!(personal.contains("e-mail"), "{personal}");
        assert!(weakness("my jane.doe@acme.example pw", Some("jane.doe@acme.example")).is_some());
        // The product's own words are known to the attacker.
        assert!(weakness("Bulkhead2026!", None).is_some());
        // Length alone is not strength; unrelated words are.
        assert!(weakness("Password1234567", None).is_some());
        assert!(weakness("violet harbour lantern", None).is_none());
    }
}
