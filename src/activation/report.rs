//! The isolation integrity report: an in-toto Statement (v1) whose subjects
//! are the SHA-256 digests of the rendered manifests and whose predicate is
//! the evidence of every probe, signed with Ed25519 inside a DSSE envelope
//! by the key that signs the audit checkpoints (published as a JWK Set at
//! `/.well-known/bulkhead/report-keys`). Anyone holding the report and the
//! key set can check it offline (`bulkhead report verify`).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "urn:bulkhead:isolation-report:v1";
/// A dedicated instance's teardown (`activation::teardown`), signed the same way.
pub const TEARDOWN_PREDICATE_TYPE: &str = "urn:bulkhead:teardown:v1";

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub payload: String,
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    pub keyid: String,
    pub sig: String,
}

/// DSSE's pre-authentication encoding: what is actually signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The statement about a tenant's dedicated instance.
pub fn statement(subjects: &[(String, String)], predicate: Value) -> Value {
    statement_of(PREDICATE_TYPE, subjects, predicate)
}

/// A statement of `predicate_type` about `subjects` (name, SHA-256 in hex).
pub fn statement_of(predicate_type: &str, subjects: &[(String, String)], predicate: Value) -> Value {
    json!({
        "_type": STATEMENT_TYPE,
        "subject": subjects.iter().map(|(name, sha256)| json!({ "name": name, "digest": { "sha256": sha256 } })).collect::<Vec<_>>(),
        "predicateType": predicate_type,
        "predicate": predicate,
    })
}

/// Signs `statement` into an envelope.
pub fn sign(signer: &crate::audit::checkpoint::Signer25519, statement: &Value) -> Envelope {
    let payload = serde_json::to_vec(statement).unwrap_or_default();
    let sig = signer.sign_bytes(&pae(PAYLOAD_TYPE, &payload));
    Envelope {
        payload: STANDARD.encode(&payload),
        payload_type: PAYLOAD_TYPE.into(),
        signatures: vec![EnvelopeSignature { keyid: signer.key_id(), sig: STANDARD.encode(sig) }],
    }
}

/// A key of a published JWK Set.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedKey {
    pub kid: String,
    pub key: VerifyingKey,
    /// When it was retired: it vouches for nothing issued from then on.
    pub retired_at: Option<time::OffsetDateTime>,
}

/// A report whose signature held: its statement, and the keys that signed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub statement: Value,
    /// The ids of the keys whose signatures verified (and only those).
    pub signers: Vec<String>,
}

/// The Ed25519 keys of a JWK Set, by id.
pub fn keys_of(jwks: &Value) -> Result<Vec<PublishedKey>, String> {
    let keys = jwks["keys"].as_array().ok_or("the key set has no \"keys\"")?;
    let mut out = Vec::new();
    for k in keys {
        if k["kty"] != "OKP" || k["crv"] != "Ed25519" {
            continue;
        }
        let x = k["x"].as_str().ok_or("a key has no \"x\"")?;
        let bytes: [u8; 32] = URL_SAFE_NO_PAD
            .decode(x.trim_end_matches('='))
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("a key's \"x\" is not 32 bytes of base64url")?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|e| format!("a key is not an Ed25519 public key: {e}"))?;
        let kid = k["kid"].as_str().map(str::to_string).unwrap_or_else(|| crate::audit::checkpoint::key_id(&key));
        let retired_at = match k.get("retired_at") {
            None | Some(Value::Null) => None,
            Some(at) => Some(
                at.as_str()
                    .and_then(|at| time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok())
                    .ok_or_else(|| format!("the key {kid} has a \"retired_at\" that is not an RFC 3339 time"))?,
            ),
        };
        out.push(PublishedKey { kid, key, retired_at });
    }
    if out.is_empty() {
        return Err("the key set holds no Ed25519 key".into());
    }
    Ok(out)
}

/// Checks the envelope against the keys: the statement and the keys whose
/// signatures hold, when at least one does. A retired key vouches only for
/// a report issued before its retirement (the statement's `issued_at`);
/// signatures that do not verify are not named.
pub fn verify(envelope: &Envelope, keys: &[PublishedKey]) -> Result<Verified, String> {
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(format!("the payload type is {:?}, not {PAYLOAD_TYPE}", envelope.payload_type));
    }
    let payload = STANDARD.decode(&envelope.payload).map_err(|_| "the payload is not base64")?;
    let signed = pae(&envelope.payload_type, &payload);
    // Read, not yet trusted: its time decides which retired keys may vouch for it.
    let statement: Option<Value> = serde_json::from_slice(&payload).ok();
    let issued_at = statement
        .as_ref()
        .and_then(|s| s["predicate"]["issued_at"].as_str())
        .and_then(|at| time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok());
    let mut signers = Vec::new();
    let mut after_retirement = None;
    for s in &envelope.signatures {
        let Ok(sig) = STANDARD.decode(&s.sig) else { continue };
        let Ok(sig) = Signature::from_slice(&sig) else { continue };
        for k in keys.iter().filter(|k| k.kid == s.keyid && k.key.verify(&signed, &sig).is_ok()) {
            match (k.retired_at, issued_at) {
                (None, _) => signers.push(k.kid.clone()),
                (Some(retired), Some(issued)) if issued < retired => signers.push(k.kid.clone()),
                (Some(retired), _) => after_retirement = Some((k.kid.clone(), retired)),
            }
        }
    }
    signers.dedup();
    if signers.is_empty() {
        return Err(match after_retirement {
            Some((kid, retired)) => format!(
                "the report is signed by {kid}, a key retired at {retired}, and was not issued before then: \
                 a retired key vouches for nothing newer"
            ),
            None => {
                "no signature on this report holds for the given keys: it was altered, or signed by another key".into()
            }
        });
    }
    let statement = statement.ok_or("the payload is not a JSON statement")?;
    let known = [PREDICATE_TYPE, TEARDOWN_PREDICATE_TYPE].iter().any(|t| statement["predicateType"] == *t);
    if statement["_type"] != STATEMENT_TYPE || !known {
        return Err("the payload is not a Bulkhead isolation report or teardown statement".into());
    }
    Ok(Verified { statement, signers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_follows_the_dsse_specification() {
        // The example from the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn a_report_verifies_and_any_change_breaks_it() {
        let signer = crate::audit::checkpoint::Signer25519::parse(&"07".repeat(32)).unwrap();
        let keys = keys_of(&signer.jwk_set()).unwrap();
        let s = statement(&[("tenant-acme.k8s.yaml".into(), "ab".repeat(32))], json!({ "tenant": "acme" }));
        let env = sign(&signer, &s);
        assert_eq!(verify(&env, &keys).unwrap().statement, s);
        // A signature by a key the set does not hold is not named as a signer.
        let stranger = crate::audit::checkpoint::Signer25519::parse(&"0a".repeat(32)).unwrap();
        let mut two = env.clone();
        two.signatures.push(sign(&stranger, &s).signatures[0].clone());
        two.signatures.push(EnvelopeSignature { keyid: "made-up".into(), sig: STANDARD.encode([0u8; 64]) });
        assert_eq!(verify(&two, &keys).unwrap().signers, vec![signer.key_id()]);
        let mut payload = STANDARD.decode(&env.payload).unwrap();
        payload[10] ^= 1;
        let altered = Envelope { payload: STANDARD.encode(payload), ..env.clone() };
        assert!(verify(&altered, &keys).is_err());
        let other = crate::audit::checkpoint::Signer25519::parse(&"08".repeat(32)).unwrap();
        assert!(verify(&env, &keys_of(&other.jwk_set()).unwrap()).is_err(), "another key");
    }

    #[test]
    fn a_retired_key_vouches_only_for_reports_issued_before_its_retirement() {
        use crate::server::signing::{jwk_set, RetiredKey};
        use time::macros::datetime;
        let old = crate::audit::checkpoint::Signer25519::parse(&"07".repeat(32)).unwrap();
        let new = crate::audit::checkpoint::Signer25519::parse(&"08".repeat(32)).unwrap();
        let retired = RetiredKey { key: old.verifying_key(), retired_at: datetime!(2026-12-01 00:00 UTC) };
        let keys = keys_of(&jwk_set(&[new.verifying_key()], &[retired])).unwrap();
        let issued = |at: &str| sign(&old, &statement(&[], json!({ "issued_at": at })));
        assert_eq!(verify(&issued("2026-11-30T23:59:59Z"), &keys).unwrap().signers, vec![old.key_id()]);
        let late = verify(&issued("2026-12-01T00:00:00Z"), &keys).unwrap_err();
        assert!(late.contains("retired at"), "{late}");
        assert!(verify(&issued("whenever"), &keys).is_err(), "no time: a retired key cannot vouch for it");
        assert!(RetiredKey::parse(&hex::encode(old.verifying_key().as_bytes())).unwrap_err().contains("KEY@TIME"));
    }
}
