//! Secrets at rest: AES-256-GCM under a key derived from
//! `BULKHEAD_SECRET_KEY`, each sealed value bound to its owner's id. TOTP
//! secrets, recovery codes, webhook secrets and the secrets shown once are
//! sealed with it.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use sha2::Sha256;
use uuid::Uuid;

/// Why a sealed secret could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the sealed secret is malformed")]
    Malformed,
    #[error("the sealed secret does not open with this key for this user")]
    WrongKeyOrOwner,
}

/// Encrypts TOTP secrets with AES-256-GCM under a key derived from
/// `BULKHEAD_SECRET_KEY`. Each sealed value is bound to its user's id, so a
/// sealed secret copied onto another account does not open.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox([redacted])")
    }
}

const SEAL_VERSION: u8 = 1;

impl SecretBox {
    /// The box for a configured key (any length; it is stretched to 256 bits with HKDF-SHA-256).
    pub fn new(key_material: &str) -> SecretBox {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"bulkhead secret box v1"), key_material.as_bytes());
        let mut key = [0u8; 32];
        hk.expand(b"totp secrets", &mut key).expect("32 bytes is a valid HKDF output length");
        SecretBox { cipher: Aes256Gcm::new(&key.into()) }
    }

    /// `version || nonce || ciphertext+tag`.
    pub fn seal(&self, owner: Uuid, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: owner.as_bytes() })
            .expect("AES-GCM encryption of a short secret cannot fail");
        let mut out = Vec::with_capacity(1 + 12 + sealed.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, owner: Uuid, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 1 + 12 + 16 || sealed[0] != SEAL_VERSION {
            return Err(SealError::Malformed);
        }
        let (nonce, body) = sealed[1..].split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad: owner.as_bytes() })
            .map_err(|_| SealError::WrongKeyOrOwner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn sealed_secrets_open_only_with_the_key_for_their_owner() {
        let key = SecretBox::new("a key of at least thirty-two characters!");
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let sealed = key.seal(alice, RFC_SECRET);
        assert!(!sealed.windows(RFC_SECRET.len()).any(|w| w == RFC_SECRET), "not in clear");
        assert_ne!(sealed, key.seal(alice, RFC_SECRET), "a fresh nonce each time");
        assert_eq!(key.open(alice, &sealed).unwrap(), RFC_SECRET);
        assert_eq!(key.open(bob, &sealed), Err(SealError::WrongKeyOrOwner));
        assert_eq!(
            SecretBox::new("another key, also long enough, really").open(alice, &sealed),
            Err(SealError::WrongKeyOrOwner)
        );
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(alice, &flipped), Err(SealError::WrongKeyOrOwner));
        assert_eq!(key.open(alice, &sealed[..10]), Err(SealError::Malformed));
        assert_eq!(format!("{key:?}"), "SecretBox([redacted])");
    }
}
