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
    json!({
        "_type": STATEMENT_TYPE,
        "subject": subjects.iter().map(|(name, sha256)| json!({ "name": name, "digest": { "sha256": sha256 } })).collect::<Vec<_>>(),
        "predicateType": PREDICATE_TYPE,
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

/// The Ed25519 keys of a JWK Set, by id.
pub fn keys_of(jwks: &Value) -> Result<Vec<(String, VerifyingKey)>, String> {
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
        out.push((kid, key));
    }
    if out.is_empty() {
        return Err("the key set holds no Ed25519 key".into());
    }
    Ok(out)
}

/// Checks the envelope against the keys; the statement when a signature by
/// one of them holds and the statement is the one this report format makes.
pub fn verify(envelope: &Envelope, keys: &[(String, VerifyingKey)]) -> Result<Value, String> {
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(format!("the payload type is {:?}, not {PAYLOAD_TYPE}", envelope.payload_type));
    }
    let payload = STANDARD.decode(&envelope.payload).map_err(|_| "the payload is not base64")?;
    let signed = pae(&envelope.payload_type, &payload);
    let good = envelope.signatures.iter().any(|s| {
        let Ok(sig) = STANDARD.decode(&s.sig) else { return false };
        let Ok(sig) = Signature::from_slice(&sig) else { return false };
        keys.iter().filter(|(kid, _)| *kid == s.keyid).any(|(_, key)| key.verify(&signed, &sig).is_ok())
    });
    if !good {
        return Err(
            "no signature on this report holds for the given keys: it was altered, or signed by another key".into()
        );
    }
    let statement: Value = serde_json::from_slice(&payload).map_err(|_| "the payload is not a JSON statement")?;
    if statement["_type"] != STATEMENT_TYPE || statement["predicateType"] != PREDICATE_TYPE {
        return Err("the payload is not a Bulkhead isolation report".into());
    }
    Ok(statement)
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
        assert_eq!(verify(&env, &keys).unwrap(), s);
        let mut payload = STANDARD.decode(&env.payload).unwrap();
        payload[10] ^= 1;
        let altered = Envelope { payload: STANDARD.encode(payload), ..env.clone() };
        assert!(verify(&altered, &keys).is_err());
        let other = crate::audit::checkpoint::Signer25519::parse(&"08".repeat(32)).unwrap();
        assert!(verify(&env, &keys_of(&other.jwk_set()).unwrap()).is_err(), "another key");
    }
}
