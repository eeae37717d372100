//! Password hashing with argon2id at OWASP's parameters, off the async runtime.

use crate::error::AppError;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

/// Shortest password accepted for a new account.
pub const MIN_LENGTH: usize = 12;
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

/// Words that, with digits and symbols around them, make most of the
/// passwords found in breaches; a password that is one of them (or a keyboard
/// run, or one repeated character) once its digits and symbols are removed is
/// refused whatever its length.
const COMMON_WORDS: &[&str] = &[
    "password",
    "passw",
    "passwd",
    "qwerty",
    "qwertyuiop",
    "asdfgh",
    "asdfghjkl",
    "zxcvbnm",
    "letmein",
    "welcome",
    "admin",
    "administrator",
    "iloveyou",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "soccer",
    "sunshine",
    "princess",
    "master",
    "shadow",
    "superman",
    "batman",
    "trustno",
    "changeme",
    "secret",
    "login",
    "abc",
    "abcdef",
    "abcdefgh",
    "qazwsx",
    "starwars",
    "whatever",
    "freedom",
    "hello",
    "hunter",
    "michael",
    "jennifer",
    "charlie",
    "jordan",
    "summer",
    "winter",
    "spring",
    "autumn",
    "january",
    "bulkhead",
    "tenant",
    "default",
    "test",
    "testing",
    "root",
    "toor",
    "pass",
    "mypassword",
    "passwordpassword",
];

/// Every character the same, or a run along the keyboard or the alphabet.
fn is_run(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 2 {
        return true;
    }
    b.windows(2).all(|w| w[0] == w[1])
        || b.windows(2).all(|w| w[1] == w[0].wrapping_add(1))
        || b.windows(2).all(|w| w[1].wrapping_add(1) == w[0])
        || ["qwertyuiopasdfghjklzxcvbnm", "1234567890", "0987654321"].iter().any(|row| row.contains(s))
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
    let letters: String = lower.chars().filter(|c| c.is_alphabetic()).collect();
    let compact: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
    if is_run(&compact) || letters.is_empty() || COMMON_WORDS.contains(&letters.as_str()) || is_run(&letters) {
        return Some("This password is too common or too easy to guess. Use a few unrelated words.".into());
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
            assert!(weakness(common, None).unwrap().contains("too common"), "{common}");
        }
        let personal = weakness("jane.doe-rocks-2026", Some("Jane.Doe@acme.example")).unwrap();
        assert!(personal.contains("e-mail"), "{personal}");
        assert!(weakness("my jane.doe@acme.example pw", Some("jane.doe@acme.example")).is_some());
    }
}
