//! Checking the hash chain: the events stream once, in id order, and each
//! digest is recomputed here, exactly as the database's `audit_event_digest`
//! computes it on insert:
//!
//! `sha256(prev_hash || jsonb_build_array(id, epoch, actor_user_id, actor_email,
//! actor_role, ip, user_agent, tenant_id, action, target, before, after)::text)`
//!
//! The canonical text is jsonb's: elements separated by `", "`, strings
//! escaped as PostgreSQL's `escape_json` does (which is also what
//! `serde_json` writes), SQL NULL as `null`. What only the database can
//! render exactly (the epoch's numeric text, the `before`/`after` documents)
//! is read as the database renders it.

use super::ssr::ChainReport;
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

/// The hash the first event links to.
fn genesis() -> [u8; 32] {
    Sha256::digest(b"bulkhead audit genesis").into()
}

/// One event's fields, as they enter its digest.
pub struct Canonical<'a> {
    pub id: i64,
    pub epoch: &'a str,
    pub actor_user_id: Option<Uuid>,
    pub actor_email: Option<&'a str>,
    pub actor_role: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub tenant_id: Option<Uuid>,
    pub action: &'a str,
    pub target: Option<&'a str>,
    /// The documents as jsonb's text output.
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
}

fn string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail"),
        None => out.extend_from_slice(b"null"),
    }
}

fn uuid(out: &mut Vec<u8>, u: Option<Uuid>) {
    match u {
        Some(u) => {
            out.push(b'"');
            out.extend_from_slice(u.hyphenated().encode_lower(&mut Uuid::encode_buffer()).as_bytes());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
}

fn document(out: &mut Vec<u8>, d: Option<&str>) {
    out.extend_from_slice(d.unwrap_or("null").as_bytes());
}

impl Canonical<'_> {
    /// The text the digest covers after the previous hash.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        out.extend_from_slice(self.id.to_string().as_bytes());
        out.extend_from_slice(b", ");
        string(out, Some(self.epoch));
        out.extend_from_slice(b", ");
        uuid(out, self.actor_user_id);
        for s in [self.actor_email, self.actor_role, self.ip, self.user_agent] {
            out.extend_from_slice(b", ");
            string(out, s);
        }
        out.extend_from_slice(b", ");
        uuid(out, self.tenant_id);
        out.extend_from_slice(b", ");
        string(out, Some(self.action));
        out.extend_from_slice(b", ");
        string(out, self.target);
        out.extend_from_slice(b", ");
        document(out, self.before);
        out.extend_from_slice(b", ");
        document(out, self.after);
        out.push(b']');
    }

    pub fn digest(&self, prev_hash: &[u8], scratch: &mut Vec<u8>) -> [u8; 32] {
        scratch.clear();
        self.write(scratch);
        let mut h = Sha256::new();
        h.update(prev_hash);
        h.update(&scratch[..]);
        h.finalize().into()
    }
}

/// Recomputes every event's hash in id order, up to the chain head read
/// first (events appended meanwhile wait for the next check). Needs a scope
/// that sees the whole trail (platform staff).
///
/// An event is broken when its hash does not match its content, its link
/// does not match the previous event's hash, or its id does not follow the
/// previous one; removed newest events show as the head pointing past the
/// last event. A history re-chained by the owner passes these; the signed
/// checkpoints kept beside it do not.
pub async fn verify_chain(conn: &mut PgConnection) -> Result<ChainReport, sqlx::Error> {
    let head = sqlx::query!("SELECT last_id, last_hash FROM audit_chain_head").fetch_one(&mut *conn).await?;
    let mut checked = 0i64;
    let mut first_broken = None;
    let (mut prev_id, mut prev_hash) = (0i64, genesis().to_vec());
    let mut scratch = Vec::with_capacity(1024);
    {
        let mut rows = sqlx::query!(
            r#"SELECT id, hash, prev_hash, extract(epoch FROM occurred_at)::text AS "epoch!",
                      actor_user_id, actor_email, actor_role, ip, user_agent, tenant_id, action, target,
                      before::text AS before_text, after::text AS after_text
               FROM audit_events WHERE id <= $1 ORDER BY id"#,
            head.last_id
        )
        .fetch(&mut *conn);
        while let Some(e) = rows.try_next().await? {
            checked += 1;
            if first_broken.is_none() {
                let canonical = Canonical {
                    id: e.id,
                    epoch: &e.epoch,
                    actor_user_id: e.actor_user_id,
                    actor_email: e.actor_email.as_deref(),
                    actor_role: e.actor_role.as_deref(),
                    ip: e.ip.as_deref(),
                    user_agent: e.user_agent.as_deref(),
                    tenant_id: e.tenant_id,
                    action: &e.action,
                    target: e.target.as_deref(),
                    before: e.before_text.as_deref(),
                    after: e.after_text.as_deref(),
                };
                let computed = canonical.digest(&e.prev_hash, &mut scratch);
                if computed[..] != e.hash[..] || e.prev_hash != prev_hash || e.id != prev_id + 1 {
                    first_broken = Some(e.id);
                }
            }
            prev_id = e.id;
            prev_hash = e.hash;
        }
    }
    if first_broken.is_none() && (head.last_id != prev_id || head.last_hash != prev_hash) {
        first_broken = Some(prev_id + 1);
    }
    // An event past the head (written around the trigger) is no link of the chain.
    let past_head = sqlx::query_scalar!(
        r#"SELECT h.last_id AS "last_id!" FROM audit_chain_head h
           WHERE EXISTS (SELECT 1 FROM audit_events e WHERE e.id > h.last_id)"#
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(last_id) = past_head {
        first_broken = Some(first_broken.map_or(last_id + 1, |b: i64| b.min(last_id + 1)));
    }
    let rewritten = super::checkpoint::first_rewritten(conn).await?;
    let first_broken = match (first_broken, rewritten) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(ChainReport { checked, first_broken })
}
