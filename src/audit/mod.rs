//! The audit trail: every change and every authentication event, chained by hash.
//!
//! The database assigns each event's id, time and hashes (trigger
//! `audit_events_chain`), so the application can only append.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// One line of the trail, as the console lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSummary {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub actor_email: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub tenant_id: Option<Uuid>,
}

#[cfg(feature = "ssr")]
pub use ssr::*;

#[cfg(feature = "ssr")]
mod ssr {
    use super::EventSummary;
    use serde_json::Value;
    use sqlx::PgConnection;
    use uuid::Uuid;

    /// Who did something, and from where.
    #[derive(Debug, Clone, Default)]
    pub struct Actor {
        pub user_id: Option<Uuid>,
        pub email: Option<String>,
        pub role: Option<String>,
        pub ip: Option<String>,
        pub user_agent: Option<String>,
    }

    impl Actor {
        /// The command line, acting as the operating-system user who ran it.
        pub fn cli() -> Actor {
            Actor {
                email: std::env::var("USER").ok().map(|u| format!("{u} (command line)")),
                role: Some("cli".to_string()),
                ..Actor::default()
            }
        }
    }

    /// One event to append.
    #[derive(Debug, Clone)]
    pub struct NewEvent<'a> {
        pub action: &'a str,
        pub tenant_id: Option<Uuid>,
        pub target: Option<String>,
        pub before: Option<Value>,
        pub after: Option<Value>,
    }

    impl<'a> NewEvent<'a> {
        pub fn new(action: &'a str) -> Self {
            NewEvent { action, tenant_id: None, target: None, before: None, after: None }
        }
        pub fn target(mut self, target: impl Into<String>) -> Self {
            self.target = Some(target.into());
            self
        }
        pub fn tenant(mut self, tenant_id: Uuid) -> Self {
            self.tenant_id = Some(tenant_id);
            self
        }
        pub fn before(mut self, v: Value) -> Self {
            self.before = Some(v);
            self
        }
        pub fn after(mut self, v: Value) -> Self {
            self.after = Some(v);
            self
        }
    }

    /// Appends `event` inside the caller's transaction, so the event commits
    /// with the change it describes or not at all.
    pub async fn record(conn: &mut PgConnection, actor: &Actor, event: NewEvent<'_>) -> Result<(), sqlx::Error> {
        sqlx::query!(
            r#"INSERT INTO audit_events
                 (actor_user_id, actor_email, actor_role, ip, user_agent, tenant_id, action, target, before, after)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#,
            actor.user_id,
            actor.email,
            actor.role,
            actor.ip,
            actor.user_agent,
            event.tenant_id,
            event.action,
            event.target,
            event.before,
            event.after,
        )
        .execute(conn)
        .await?;
        Ok(())
    }

    /// The newest events the connection's scope may see.
    pub async fn recent(conn: &mut PgConnection, limit: i64) -> Result<Vec<EventSummary>, sqlx::Error> {
        sqlx::query_as!(
            EventSummary,
            r#"SELECT id, occurred_at, actor_email, action, target, tenant_id
               FROM audit_events ORDER BY id DESC LIMIT $1"#,
            limit
        )
        .fetch_all(conn)
        .await
    }

    /// The result of checking the hash chain.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ChainReport {
        pub checked: i64,
        /// The first event whose hash or link does not match, if any.
        pub first_broken: Option<i64>,
    }

    /// Recomputes every event's hash in id order and compares it with the
    /// stored hash and the next event's link.
    pub async fn verify_chain(conn: &mut PgConnection) -> Result<ChainReport, sqlx::Error> {
        let row = sqlx::query!(
            r#"WITH chain AS (
                 SELECT e.id, e.hash, e.prev_hash, audit_event_digest(e) AS computed,
                        lag(e.hash) OVER (ORDER BY e.id) AS expected_prev,
                        lag(e.id) OVER (ORDER BY e.id) AS previous_id
                 FROM audit_events e)
               SELECT (SELECT count(*) FROM chain) AS "checked!",
                      (SELECT min(id) FROM chain
                        WHERE computed <> hash
                           OR prev_hash <> coalesce(expected_prev, sha256('bulkhead audit genesis'::bytea))
                           OR id <> coalesce(previous_id, 0) + 1) AS first_broken"#
        )
        .fetch_one(conn)
        .await?;
        Ok(ChainReport { checked: row.checked, first_broken: row.first_broken })
    }
}
