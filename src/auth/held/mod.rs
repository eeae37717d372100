//! Sessions held in memory: what an instance has already checked, so a request
//! reads its session and user without a database round trip.
//!
//! The database stays the authority. Its triggers notify `bulkhead_sessions`
//! in the transaction of every change that ends or alters a session (sign-out,
//! a disabled user, a new password, a suspended tenant, a rewritten browser
//! session), and every instance lets the matching entries go when the notice
//! arrives. Nothing is held while the instance is not listening (at start, or
//! after the connection to the database was lost): then every request reads
//! the database, as if there were no memory at all.
//!
//! The idle clock (`last_seen_at`) is kept here too and written at most once
//! a minute per session, in the background, never on a request's path.

use super::CurrentUser;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tower_sessions::session::{Id, Record};
use uuid::Uuid;

/// The channel the database's triggers notify.
pub const CHANNEL: &str = "bulkhead_sessions";

/// How many sessions and records an instance holds at most; beyond that it
/// reads the database for the newcomers.
const MAX_HELD: usize = 200_000;

/// A signed-in session as the database last answered for it.
#[derive(Debug, Clone)]
struct Held {
    user: CurrentUser,
    expires_at: OffsetDateTime,
    /// This instance's latest request on the session.
    seen: OffsetDateTime,
    /// The `last_seen_at` the database holds, as far as this instance knows.
    written: OffsetDateTime,
}

/// The sessions and browser-session records one instance holds.
#[derive(Debug, Default)]
pub struct HeldSessions {
    listening: AtomicBool,
    /// Moves at every notice: an entry read from the database while a notice
    /// arrived may already be stale, and is not kept.
    epoch: AtomicU64,
    signed_in: Mutex<HashMap<Uuid, Held>>,
    records: Mutex<HashMap<Id, Record>>,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Where requests ask the listening task for a fence (see [`HeldSessions::fence`]).
    fences: Mutex<Option<mpsc::UnboundedSender<oneshot::Sender<()>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl HeldSessions {
    /// Where a read of the database starts: pass it back to `hold`.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Whether notices reach this instance (and so whether anything is held).
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// Waits until every notice committed before this call has been acted
    /// on: the listening connection runs a query, and PostgreSQL sends the
    /// notices pending for it before that query's answer. Requests waiting at
    /// the same time share one fence (one round trip on the listening
    /// connection, not on the pool). `false` when the instance is not
    /// listening or the fence did not come back in time: then nothing held
    /// may be trusted, and the caller reads the database.
    pub async fn fence(&self) -> bool {
        if !self.listening() {
            return false;
        }
        let (done, answer) = oneshot::channel();
        let sent = lock(&self.fences).as_ref().is_some_and(|fences| fences.send(done).is_ok());
        sent && matches!(tokio::time::timeout(Duration::from_secs(1), answer).await, Ok(Ok(())))
    }

    /// Sessions answered from memory and from the database since the start.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// The user of a held session, when it is still within its absolute
    /// expiry and this instance saw it within the idle timeout; notes the
    /// request. `None` sends the caller to the database (which may know of a
    /// request another instance served since).
    pub fn user(&self, id: Uuid, idle: Duration, now: OffsetDateTime) -> Option<CurrentUser> {
        if !self.listening() {
            return None;
        }
        let mut held = lock(&self.signed_in);
        let found = match held.get_mut(&id) {
            Some(h) if h.expires_at > now && now - h.seen < idle => {
                h.seen = h.seen.max(now);
                Some(h.user.clone())
            }
            Some(_) => {
                held.remove(&id);
                None
            }
            None => None,
        };
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps a session the database has just vouched for, unless a notice
    /// arrived since `epoch` (the answer may predate it).
    pub fn hold(
        &self,
        id: Uuid,
        user: CurrentUser,
        expires_at: OffsetDateTime,
        last_seen_at: OffsetDateTime,
        epoch: u64,
    ) {
        let now = OffsetDateTime::now_utc();
        let mut held = lock(&self.signed_in);
        if !self.listening() || self.epoch() != epoch || held.len() >= MAX_HELD {
            return;
        }
        held.insert(id, Held { user, expires_at, seen: now, written: last_seen_at });
    }

    /// A browser session's record, when held and not expired.
    pub fn record(&self, id: &Id) -> Option<Record> {
        if !self.listening() {
            return None;
        }
        let mut records = lock(&self.records);
        match records.get(id) {
            Some(r) if r.expiry_date > OffsetDateTime::now_utc() => Some(r.clone()),
            Some(_) => {
                records.remove(id);
                None
            }
            None => None,
        }
    }

    /// Keeps a record read or written by this instance, unless a notice
    /// arrived since `epoch`.
    pub fn keep_record(&self, record: &Record, epoch: u64) {
        let mut records = lock(&self.records);
        if !self.listening() || self.epoch() != epoch || records.len() >= MAX_HELD {
            records.remove(&record.id);
            return;
        }
        records.insert(record.id, record.clone());
    }

    pub fn forget_record(&self, id: &Id) {
        lock(&self.records).remove(id);
    }

    /// Acts on one notice from the database.
    pub fn notice(&self, payload: &str) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let Some((kind, id)) = payload.split_once(':') else { return };
        if kind == "record" {
            if let Ok(id) = id.parse::<Id>() {
                self.forget_record(&id);
            }
            return;
        }
        let Ok(id) = id.parse::<Uuid>() else { return };
        let mut held = lock(&self.signed_in);
        match kind {
            "session" => {
                held.remove(&id);
            }
            "user" => held.retain(|_, h| h.user.id != id),
            "tenant" => held.retain(|_, h| h.user.tenant_id != Some(id)),
            _ => {}
        }
    }

    /// Lets everything go (the instance stopped hearing the database, or
    /// starts hearing it again and may have missed notices).
    fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        lock(&self.signed_in).clear();
        lock(&self.records).clear();
    }

    fn set_listening(&self, on: bool) {
        self.forget_all();
        self.listening.store(on, Ordering::Release);
        if on {
            // Anything read while not listening may predate a missed notice.
            self.forget_all();
        }
    }

    /// The sessions whose `last_seen_at` is due (a request since the value
    /// the database holds, and that value at least `every` old), marked as
    /// written; forgets sessions idle past `idle`.
    fn due(&self, every: Duration, idle: Duration, now: OffsetDateTime) -> Vec<(Uuid, OffsetDateTime)> {
        let mut held = lock(&self.signed_in);
        held.retain(|_, h| h.expires_at > now && now - h.seen < idle);
        let mut due = Vec::new();
        for (id, h) in held.iter_mut() {
            if h.seen > h.written && now - h.written >= every {
                due.push((*id, h.seen));
                h.written = h.seen;
            }
        }
        drop(held);
        lock(&self.records).retain(|_, r| r.expiry_date > now);
        due
    }
}

mod follow;
pub use follow::{spawn, write_every};

/// Handlers take this capability's state as `State<Arc<HeldSessions>>` (axum's
/// `FromRef`); the composition root puts it in the state's parts.
impl axum::extract::FromRef<crate::server::state::AppState> for std::sync::Arc<HeldSessions> {
    fn from_ref(state: &crate::server::state::AppState) -> Self {
        state.part::<std::sync::Arc<HeldSessions>>().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn user(tenant: Option<Uuid>) -> CurrentUser {
        CurrentUser { id: Uuid::new_v4(), email: "a@example.com".into(), role: Role::TenantAdmin, tenant_id: tenant }
    }

    fn listening() -> HeldSessions {
        let h = HeldSessions::default();
        h.set_listening(true);
        h
    }

    const IDLE: Duration = Duration::from_secs(1800);

    #[test]
    fn nothing_is_held_while_not_listening() {
        let h = HeldSessions::default();
        let id = Uuid::new_v4();
        let now = OffsetDateTime::now_utc();
        h.hold(id, user(None), now + time::Duration::hours(1), now, h.epoch());
        assert!(h.user(id, IDLE, now).is_none());
    }

    #[test]
    fn notices_let_sessions_go_by_session_user_and_tenant() {
        let h = listening();
        let now = OffsetDateTime::now_utc();
        let tenant = Uuid::new_v4();
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (ua, ub, uc) = (user(None), user(Some(tenant)), user(None));
        for (id, u) in [(a, &ua), (b, &ub), (c, &uc)] {
            h.hold(id, u.clone(), now + time::Duration::hours(1), now, h.epoch());
            assert!(h.user(id, IDLE, now).is_some());
        }
        h.notice(&format!("session:{a}"));
        assert!(h.user(a, IDLE, now).is_none());
        h.notice(&format!("tenant:{tenant}"));
        assert!(h.user(b, IDLE, now).is_none());
        assert!(h.user(c, IDLE, now).is_some());
        h.notice(&format!("user:{}", uc.id));
        assert!(h.user(c, IDLE, now).is_none());
    }

    #[test]
    fn an_answer_older_than_a_notice_is_not_kept() {
        let h = listening();
        let now = OffsetDateTime::now_utc();
        let id = Uuid::new_v4();
        let before = h.epoch();
        h.notice(&format!("user:{}", Uuid::new_v4()));
        h.hold(id, user(None), now + time::Duration::hours(1), now, before);
        assert!(h.user(id, IDLE, now).is_none());
    }

    #[test]
    fn expired_and_idle_sessions_go_to_the_database() {
        let h = listening();
        let now = OffsetDateTime::now_utc();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        h.hold(a, user(None), now + time::Duration::seconds(5), now, h.epoch());
        h.hold(b, user(None), now + time::Duration::hours(1), now, h.epoch());
        assert!(h.user(a, IDLE, now + time::Duration::seconds(6)).is_none());
        assert!(h.user(b, Duration::from_secs(60), now + time::Duration::seconds(61)).is_none());
    }

    #[test]
    fn the_idle_clock_is_written_once_a_minute_at_most() {
        let h = listening();
        let now = OffsetDateTime::now_utc();
        let id = Uuid::new_v4();
        h.hold(id, user(None), now + time::Duration::hours(1), now - time::Duration::seconds(90), h.epoch());
        let every = Duration::from_secs(60);
        let first = h.due(every, IDLE, now);
        assert_eq!(first.len(), 1);
        h.user(id, IDLE, now + time::Duration::seconds(10));
        assert!(h.due(every, IDLE, now + time::Duration::seconds(20)).is_empty(), "written 20 s ago");
        assert_eq!(h.due(every, IDLE, now + time::Duration::seconds(61)).len(), 1);
        assert!(h.due(every, IDLE, now + time::Duration::seconds(200)).is_empty(), "nothing new since");
    }
}
