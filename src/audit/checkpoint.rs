//! Signed checkpoints of the audit trail. The hash chain shows an event
//! altered in place; it cannot show a history the database owner rewrote and
//! re-chained from the altered event on. A checkpoint signs the chain head
//! (last id and hash) with an Ed25519 key kept outside the database
//! (`BULKHEAD_SIGNING_KEY`); kept elsewhere too, it proves what the trail held
//! up to that event when it was signed.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use time::OffsetDateTime;

pub use crate::server::signing::{jwk_set, key_id, parse_public_key, Signer25519};

/// One signed checkpoint, as kept in the database and in a checkpoint file
/// (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last event the chain held when signed.
    pub head_id: i64,
    /// Its hash, hex.
    pub head_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub signed_at: OffsetDateTime,
    pub key_id: String,
    /// Ed25519 over [`Checkpoint::message`], base64.
    pub signature: String,
}

impl Checkpoint {
    /// The exact bytes signed.
    pub fn message(head_id: i64, head_hash: &str, signed_at: OffsetDateTime) -> String {
        let at = signed_at.unix_timestamp_nanos() / 1000;
        format!("bulkhead audit checkpoint v1\n{head_id}\n{head_hash}\n{at}")
    }

    /// Whether `key` signed this checkpoint as it reads.
    pub fn signed_by(&self, key: &VerifyingKey) -> bool {
        let Ok(bytes) = STANDARD.decode(&self.signature) else { return false };
        let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else { return false };
        self.key_id == key_id(key)
            && key
                .verify(
                    Checkpoint::message(self.head_id, &self.head_hash, self.signed_at).as_bytes(),
                    &Signature::from_bytes(&bytes),
                )
                .is_ok()
    }
}

/// Signs the chain head now, keeps the checkpoint in the database and answers
/// it. Runs in the caller's (platform) transaction.
pub async fn sign(conn: &mut PgConnection, signer: &Signer25519) -> Result<Checkpoint, sqlx::Error> {
    let head = sqlx::query!(
        r#"SELECT last_id, encode(last_hash, 'hex') AS "hash!", date_trunc('milliseconds', now()) AS "now!"
           FROM audit_chain_head"#
    )
    .fetch_one(&mut *conn)
    .await?;
    let message = Checkpoint::message(head.last_id, &head.hash, head.now);
    let signature = ed25519_dalek::Signature::from_bytes(&signer.sign_bytes(message.as_bytes()));
    let checkpoint = Checkpoint {
        head_id: head.last_id,
        head_hash: head.hash,
        signed_at: head.now,
        key_id: signer.key_id(),
        signature: STANDARD.encode(signature.to_bytes()),
    };
    let signature_bytes = signature.to_bytes();
    sqlx::query!(
        "INSERT INTO audit_checkpoints (head_id, head_hash, signed_at, key_id, signature)
         VALUES ($1, decode($2, 'hex'), $3, $4, $5)",
        checkpoint.head_id,
        checkpoint.head_hash,
        checkpoint.signed_at,
        checkpoint.key_id,
        signature_bytes.as_slice()
    )
    .execute(&mut *conn)
    .await?;
    Ok(checkpoint)
}

/// Signs a checkpoint unless the chain head has not moved since the last one.
pub async fn sign_if_moved(conn: &mut PgConnection, signer: &Signer25519) -> Result<Option<Checkpoint>, sqlx::Error> {
    let moved = sqlx::query_scalar!(
        r#"SELECT NOT EXISTS (SELECT 1 FROM audit_checkpoints c, audit_chain_head h
                              WHERE c.head_id = h.last_id AND c.head_hash = h.last_hash) AS "moved!""#
    )
    .fetch_one(&mut *conn)
    .await?;
    if moved {
        sign(conn, signer).await.map(Some)
    } else {
        Ok(None)
    }
}

/// What a set of checkpoints says of the trail as it reads now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Every checkpoint is signed by the key and its head is still there.
    Holds { checked: usize },
    /// A checkpoint's signature does not hold (a forged or altered line).
    BadSignature { head_id: i64 },
    /// The trail no longer holds the event a checkpoint signed, as signed:
    /// history up to that event was rewritten after the checkpoint.
    Rewritten { head_id: i64, signed_at: OffsetDateTime },
}

/// Checks `checkpoints` (from a file kept elsewhere, or from the database)
/// against the trail, in id order; with `key`, their signatures too.
pub async fn check(
    conn: &mut PgConnection,
    checkpoints: &[Checkpoint],
    key: Option<&VerifyingKey>,
) -> Result<Finding, sqlx::Error> {
    let mut sorted: Vec<&Checkpoint> = checkpoints.iter().collect();
    sorted.sort_by_key(|c| c.head_id);
    for c in &sorted {
        if key.is_some_and(|k| !c.signed_by(k)) {
            return Ok(Finding::BadSignature { head_id: c.head_id });
        }
        if c.head_id == 0 {
            continue;
        }
        let hash = sqlx::query_scalar!("SELECT encode(hash, 'hex') FROM audit_events WHERE id = $1", c.head_id)
            .fetch_optional(&mut *conn)
            .await?
            .flatten();
        if hash.as_deref() != Some(c.head_hash.as_str()) {
            return Ok(Finding::Rewritten { head_id: c.head_id, signed_at: c.signed_at });
        }
    }
    Ok(Finding::Holds { checked: sorted.len() })
}

/// The first checkpoint kept in the database whose event no longer has the
/// hash it signed, in one query (a checkpoint every few minutes is a hundred
/// thousand a year; the console's check reads them all each time).
pub async fn first_rewritten(conn: &mut PgConnection) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT c.head_id AS "head_id!" FROM audit_checkpoints c
           LEFT JOIN audit_events e ON e.id = c.head_id
           WHERE c.head_id > 0 AND e.hash IS DISTINCT FROM c.head_hash
           ORDER BY c.head_id LIMIT 1"#
    )
    .fetch_optional(conn)
    .await
}

/// Signs the audit chain's head every `every` while it moves, in the background.
pub fn spawn_signer(pool: sqlx::PgPool, signer: Signer25519, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let result = async {
                let mut tx = crate::server::db::begin(&pool, crate::server::db::Scope::Platform).await?;
                let signed = sign_if_moved(&mut tx, &signer).await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(signed)
            }
            .await;
            match result {
                Ok(Some(c)) => tracing::info!(head_id = c.head_id, "audit checkpoint signed"),
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "the audit checkpoint could not be signed; trying again later")
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_holds_only_as_signed_and_only_under_its_key() {
        let signer = Signer25519::parse(&STANDARD.encode([7u8; 32])).unwrap();
        let other = Signer25519::parse(&hex::encode([8u8; 32])).unwrap();
        let at = time::macros::datetime!(2026-11-26 12:00:00.123 UTC);
        let message = Checkpoint::message(42, "ab", at);
        let c = Checkpoint {
            head_id: 42,
            head_hash: "ab".into(),
            signed_at: at,
            key_id: signer.key_id(),
            signature: STANDARD.encode(signer.sign_bytes(message.as_bytes())),
        };
        assert!(c.signed_by(&signer.verifying_key()));
        assert!(!c.signed_by(&other.verifying_key()));
        assert!(!Checkpoint { head_hash: "ac".into(), ..c.clone() }.signed_by(&signer.verifying_key()));
        assert!(!Checkpoint { head_id: 43, ..c.clone() }.signed_by(&signer.verifying_key()));
        let line = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Checkpoint>(&line).unwrap(), c, "a file's line reads back as written");
    }

    #[test]
    fn keys_are_32_bytes_in_base64_or_hex_and_published_as_a_jwk_set() {
        assert!(Signer25519::parse("too short").is_err());
        assert!(Signer25519::parse(&STANDARD.encode([1u8; 31])).is_err());
        let s = Signer25519::parse(&STANDARD.encode([1u8; 32])).unwrap();
        let jwks = s.jwk_set();
        let k = &jwks["keys"][0];
        assert_eq!(
            (k["kty"].as_str(), k["crv"].as_str(), k["alg"].as_str()),
            (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
        );
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(k["x"].as_str().unwrap()).unwrap();
        assert_eq!(x, s.verifying_key().as_bytes());
        assert!(!format!("{s:?}").contains(&STANDARD.encode([1u8; 32])), "the seed never shows");
    }
}
