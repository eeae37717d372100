//! The Ed25519 key that signs the audit trail's checkpoints and the
//! activation reports (`BULKHEAD_SIGNING_KEY`), and the public keys that
//! verify them, as configuration reads them and JWK Sets publish them.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The key that signs checkpoints (and, later, activation reports).
#[derive(Clone)]
pub struct Signer25519 {
    key: SigningKey,
}

impl std::fmt::Debug for Signer25519 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer25519({})", self.key_id())
    }
}

impl Signer25519 {
    /// From `BULKHEAD_SIGNING_KEY`: the 32-byte seed in base64 (standard or
    /// URL-safe) or hex. Make one with `openssl rand -base64 32`.
    pub fn parse(text: &str) -> Result<Signer25519, String> {
        let bytes = key_bytes(text).ok_or("expected 32 bytes in base64 or hex (openssl rand -base64 32)")?;
        let seed: [u8; 32] = bytes.try_into().map_err(|_| "expected exactly 32 bytes (openssl rand -base64 32)")?;
        Ok(Signer25519 { key: SigningKey::from_bytes(&seed) })
    }

    /// The Ed25519 signature of `message`.
    pub fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The key's id: the first 16 hex digits of the SHA-256 of its public key.
    pub fn key_id(&self) -> String {
        key_id(&self.verifying_key())
    }

    /// The public key as a JWK Set (RFC 7517) of one Ed25519 key (RFC 8037).
    pub fn jwk_set(&self) -> serde_json::Value {
        jwk_set(&[self.verifying_key()], &[])
    }
}

/// An earlier signing key and when it was retired: what it signed before
/// then still verifies, nothing it signed after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetiredKey {
    pub key: VerifyingKey,
    pub retired_at: time::OffsetDateTime,
}

impl RetiredKey {
    /// Parses `KEY@TIME` as `BULKHEAD_RETIRED_SIGNING_KEYS` lists it: the
    /// public key (base64 or hex) and its retirement time (RFC 3339).
    pub fn parse(text: &str) -> Result<RetiredKey, String> {
        let (key, at) = text.trim().split_once('@').ok_or_else(|| {
            "expected KEY@TIME, the public key and when it was retired (such as …@2026-12-01T00:00:00Z): \
             a key without a retirement time would vouch for what it signs forever"
                .to_string()
        })?;
        let retired_at = time::OffsetDateTime::parse(at.trim(), &time::format_description::well_known::Rfc3339)
            .map_err(|_| format!("{at:?} is not an RFC 3339 time such as 2026-12-01T00:00:00Z"))?;
        Ok(RetiredKey { key: parse_public_key(key)?, retired_at })
    }
}

/// Ed25519 public keys (RFC 8037) as a JWK Set (RFC 7517): the current ones
/// first, then retired ones with their retirement time (`retired_at`, RFC
/// 3339): signatures made before it still verify, none made after.
pub fn jwk_set(current: &[VerifyingKey], retired: &[RetiredKey]) -> serde_json::Value {
    let jwk = |k: &VerifyingKey| {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(k.as_bytes()),
            "kid": key_id(k),
            "use": "sig",
            "alg": "EdDSA",
        })
    };
    let mut keys: Vec<serde_json::Value> = current.iter().map(jwk).collect();
    for r in retired {
        let mut k = jwk(&r.key);
        k["retired_at"] =
            serde_json::json!(r.retired_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default());
        keys.push(k);
    }
    serde_json::json!({ "keys": keys })
}

/// A public key as `BULKHEAD_RETIRED_SIGNING_KEYS` lists it: 32 bytes in
/// base64 (standard or URL-safe) or hex.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes = key_bytes(text).ok_or("expected a 32-byte Ed25519 public key in base64 or hex")?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| "expected exactly 32 bytes")?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("not an Ed25519 public key: {e}"))
}

/// A key as configuration writes it: hex, or base64 (standard or URL-safe).
fn key_bytes(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    hex::decode(text)
        .ok()
        .or_else(|| STANDARD.decode(text).ok())
        .or_else(|| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok())
}

/// The id Bulkhead gives an Ed25519 public key.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}
