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

/// Checks a new password's strength; `None` when it is acceptable.
pub fn weakness(password: &str) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        Some(format!("Use at least {MIN_LENGTH} characters."))
    } else if password.len() > MAX_LENGTH {
        Some(format!("Use at most {MAX_LENGTH} characters."))
    } else {
        None
    }
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
    fn short_passwords_are_weak() {
        assert!(weakness("short").is_some());
        assert!(weakness("twelve chars").is_none());
        assert!(weakness(&"x".repeat(MAX_LENGTH + 1)).is_some());
    }
}
