//! Server side of the trail: appending, reading in the reader's scope,
//! verifying the chain and streaming exports.

use super::{AuditQuery, EventDetail, EventPage, EventRow, EventSummary, PAGE_SIZE};
use crate::error::AppError;
use futures_util::stream::BoxStream;
use futures_util::TryStreamExt;
use serde_json::Value;
use sqlx::PgConnection;
use time::{Duration, OffsetDateTime, Time};
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

/// How long a rolled-up refusal's window lasts: one event per key in it.
pub const ROLLUP_WINDOW_SECS: i32 = 15 * 60;

/// Records `event` for a refusal a flood could repeat (a guessed link), once
/// per action and client address (an IPv6 client's /64) and window: the
/// refusals after it in the window are only counted, and the next event
/// recorded for them carries their number (`refused_since_last_event` in
/// its `after`). Answers whether an event was written.
pub async fn record_rolled_up(
    conn: &mut PgConnection,
    actor: &Actor,
    event: NewEvent<'_>,
) -> Result<bool, sqlx::Error> {
    let group = match actor.ip.as_deref().map(str::parse::<std::net::IpAddr>) {
        Some(Ok(ip)) => crate::server::client_address::throttle_group(ip),
        _ => "unknown".to_string(),
    };
    let key: String = format!("{}:{group}", event.action).chars().take(200).collect();
    let rolled = sqlx::query!(
        r#"WITH prev AS (SELECT suppressed FROM audit_rollups WHERE key = $1),
           up AS (
             INSERT INTO audit_rollups AS r (key, window_start, suppressed) VALUES ($1, now(), 0)
             ON CONFLICT (key) DO UPDATE SET
               suppressed = CASE WHEN r.window_start > now() - make_interval(secs => $2) THEN r.suppressed + 1 ELSE 0 END,
               window_start = CASE WHEN r.window_start > now() - make_interval(secs => $2) THEN r.window_start ELSE now() END
             RETURNING window_start = now() AS fresh)
           SELECT up.fresh AS "record!", coalesce(prev.suppressed, 0) AS "suppressed!" FROM up LEFT JOIN prev ON true"#,
        key,
        f64::from(ROLLUP_WINDOW_SECS)
    )
    .fetch_one(&mut *conn)
    .await?;
    if !rolled.record {
        return Ok(false);
    }
    let event = if rolled.suppressed > 0 {
        let mut after = event.after.clone().unwrap_or_else(|| serde_json::json!({}));
        if let Some(map) = after.as_object_mut() {
            map.insert("refused_since_last_event".into(), rolled.suppressed.into());
        }
        event.after(after)
    } else {
        event
    };
    record(conn, actor, event).await?;
    Ok(true)
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

/// A query turned into what the database needs: the tenant's id and the
/// period as times and as a range of ids. Time follows id in the trail (the
/// chain trigger assigns both under one lock), so a period becomes an id range
/// that every `(column, id DESC)` index can serve; the times are checked too.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub tenant_id: Option<Uuid>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    pub min_id: Option<i64>,
    pub max_id: Option<i64>,
}

/// Makes the planner plan each query of this transaction for its actual
/// parameters: the trail's query has one optional condition per filter, and
/// only a custom plan drops the absent ones and picks the index that fits.
async fn custom_plans(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan").execute(conn).await.map(|_| ())
}

/// Resolves `q` in the connection's scope (a tenant slug the scope cannot
/// see is unknown).
pub async fn resolve(conn: &mut PgConnection, q: &AuditQuery) -> Result<Resolved, AppError> {
    custom_plans(conn).await?;
    let tenant_id = match &q.tenant {
        None => None,
        Some(slug) => Some(
            sqlx::query_scalar!("SELECT id FROM tenants WHERE slug = $1", slug)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| AppError::invalid("tenant", "No tenant has this slug."))?,
        ),
    };
    let from = q.from.map(|d| d.with_time(Time::MIDNIGHT).assume_utc());
    let until = q.to.map(|d| d.with_time(Time::MIDNIGHT).assume_utc() + Duration::days(1));
    let mut min_id = None;
    let mut max_id = q.before.map(|b| b - 1);
    if let Some(from) = from {
        let first = sqlx::query_scalar!(
            "SELECT id FROM audit_events WHERE occurred_at >= $1 ORDER BY occurred_at LIMIT 1",
            from
        )
        .fetch_optional(&mut *conn)
        .await?;
        // Nothing that recent: an empty range.
        min_id = Some(first.unwrap_or(i64::MAX));
    }
    if let Some(until) = until {
        let last = sqlx::query_scalar!(
            "SELECT id FROM audit_events WHERE occurred_at < $1 ORDER BY occurred_at DESC LIMIT 1",
            until
        )
        .fetch_optional(&mut *conn)
        .await?
        .unwrap_or(0);
        max_id = Some(max_id.map_or(last, |m| m.min(last)));
    }
    Ok(Resolved { tenant_id, actor: q.actor.clone(), action: q.action.clone(), from, until, min_id, max_id })
}

/// The events `r` selects in the connection's scope, newest first, at most
/// `limit` (all of them without one), as a stream: the page, one event and
/// the export all read the trail through this one query.
pub fn events<'c>(
    conn: &'c mut PgConnection,
    r: &Resolved,
    limit: Option<i64>,
) -> BoxStream<'c, Result<EventDetail, sqlx::Error>> {
    sqlx::query_as!(
        EventDetail,
        // A tenant admin (the database role says so, not the caller) sees
        // platform staff as "Platform staff": no address, browser or e-mail.
        r#"SELECT e.id, e.occurred_at,
                  CASE WHEN s.hidden THEN NULL ELSE e.actor_user_id END AS actor_user_id,
                  CASE WHEN s.hidden THEN 'Platform staff' ELSE e.actor_email END AS actor_email,
                  e.actor_role,
                  CASE WHEN s.hidden THEN NULL ELSE e.ip END AS ip,
                  CASE WHEN s.hidden THEN NULL ELSE e.user_agent END AS user_agent,
                  e.tenant_id, t.slug AS "tenant_slug?", e.action, e.target, e.before, e.after,
                  encode(e.prev_hash, 'hex') AS "prev_hash!", encode(e.hash, 'hex') AS "hash!"
           FROM audit_events e LEFT JOIN tenants t ON t.id = e.tenant_id
           CROSS JOIN LATERAL (
             SELECT current_user = 'bulkhead_tenant' AND e.actor_role IS NOT NULL
                    AND e.actor_role <> 'tenant_admin' AS hidden
           ) s
           WHERE ($1::uuid IS NULL OR e.tenant_id = $1)
             AND ($2::text IS NULL OR (e.actor_email = $2 AND NOT s.hidden))
             AND ($3::text IS NULL OR e.action = $3)
             AND ($4::bigint IS NULL OR e.id >= $4)
             AND ($5::bigint IS NULL OR e.id <= $5)
             AND ($6::timestamptz IS NULL OR e.occurred_at >= $6)
             AND ($7::timestamptz IS NULL OR e.occurred_at < $7)
           ORDER BY e.id DESC
           LIMIT $8"#,
        r.tenant_id,
        r.actor,
        r.action,
        r.min_id,
        r.max_id,
        r.from,
        r.until,
        limit
    )
    .fetch(conn)
}

/// One page of the trail, newest first, in the connection's scope.
pub async fn list(conn: &mut PgConnection, q: &AuditQuery) -> Result<EventPage, AppError> {
    let r = resolve(conn, q).await?;
    let mut events: Vec<EventRow> = events(conn, &r, Some(PAGE_SIZE + 1)).map_ok(EventRow::from).try_collect().await?;
    let next = if events.len() as i64 > PAGE_SIZE {
        events.truncate(PAGE_SIZE as usize);
        events.last().map(|e| e.id)
    } else {
        None
    };
    Ok(EventPage { events, next })
}

/// One event in full, if the connection's scope includes it.
pub async fn detail(conn: &mut PgConnection, id: i64) -> Result<Option<EventDetail>, sqlx::Error> {
    custom_plans(conn).await?;
    let r = Resolved { min_id: Some(id), max_id: Some(id), ..Resolved::default() };
    events(conn, &r, Some(1)).try_next().await
}

/// The result of checking the hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub checked: i64,
    /// The first event whose hash, link or id does not follow from the one
    /// before (or, when the newest events were removed, the first missing id).
    pub first_broken: Option<i64>,
}
