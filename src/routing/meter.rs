//! API calls counted in memory, per tenant and calendar month (UTC), and added
//! to PostgreSQL at every flush. Each flush also reads the month's totals, so
//! several consoles behind one proxy share a tenant's allowance (each can
//! overshoot by the calls it admits between two flushes).

use crate::server::db::{self, Scope};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

#[derive(Debug, Default)]
struct Counter {
    /// Calls admitted here since the last flush.
    pending: AtomicI64,
    /// The month's total in the database at the last flush (every console's).
    known: AtomicI64,
    /// The month is spent: calls are being refused.
    spent: AtomicBool,
}

/// What the month allows a tenant's next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counted; `used` calls this month, this one included.
    Allowed { used: i64 },
    /// The month's calls are spent: try again when the next month begins.
    Spent { retry_after_secs: u64 },
}

#[derive(Debug, Default)]
pub struct Meter {
    counters: RwLock<HashMap<(Uuid, Date), Arc<Counter>>>,
    tokens_used: Mutex<HashSet<Uuid>>,
    /// Tenants that started (true) or stopped (false) being refused, to audit.
    transitions: Mutex<Vec<(Uuid, Date, bool)>>,
    /// The database's clock at the last read of the month's totals.
    synced_at: Mutex<Option<OffsetDateTime>>,
}

/// The first day of `now`'s month.
pub fn month_of(now: OffsetDateTime) -> Date {
    now.date().replace_day(1).expect("every month has a first day")
}

/// Seconds until the next month begins (UTC).
pub fn until_next_month(now: OffsetDateTime) -> u64 {
    let first = month_of(now);
    let next = if first.month() == time::Month::December {
        Date::from_calendar_date(first.year() + 1, time::Month::January, 1)
    } else {
        Date::from_calendar_date(first.year(), first.month().next(), 1)
    }
    .expect("a valid date");
    (next.midnight().assume_utc() - now).whole_seconds().max(1) as u64
}

impl Meter {
    fn counter(&self, tenant: Uuid, month: Date) -> Arc<Counter> {
        if let Some(c) = self.counters.read().unwrap_or_else(|e| e.into_inner()).get(&(tenant, month)) {
            return c.clone();
        }
        self.counters.write().unwrap_or_else(|e| e.into_inner()).entry((tenant, month)).or_default().clone()
    }

    /// Counts one call of `tenant` if its month allows `allowance` calls more
    /// than it has made.
    pub fn admit(&self, tenant: Uuid, allowance: i64, now: OffsetDateTime) -> Admission {
        let month = month_of(now);
        // Under the map's read lock, without taking a reference to the
        // counter: one atomic fewer on the line every core shares.
        if let Some(c) = self.counters.read().unwrap_or_else(|e| e.into_inner()).get(&(tenant, month)) {
            return self.admit_on(c, tenant, month, allowance, now);
        }
        let c = self.counter(tenant, month);
        self.admit_on(&c, tenant, month, allowance, now)
    }

    fn admit_on(&self, c: &Counter, tenant: Uuid, month: Date, allowance: i64, now: OffsetDateTime) -> Admission {
        let known = c.known.load(Ordering::Acquire);
        let mine = c.pending.fetch_add(1, Ordering::AcqRel) + 1;
        if known + mine > allowance {
            c.pending.fetch_sub(1, Ordering::AcqRel);
            if !c.spent.swap(true, Ordering::AcqRel) {
                self.transition(tenant, month, true);
            }
            Admission::Spent { retry_after_secs: until_next_month(now) }
        } else {
            if c.spent.load(Ordering::Acquire) && c.spent.swap(false, Ordering::AcqRel) {
                self.transition(tenant, month, false);
            }
            Admission::Allowed { used: known + mine }
        }
    }

    fn transition(&self, tenant: Uuid, month: Date, throttled: bool) {
        self.transitions.lock().unwrap_or_else(|e| e.into_inner()).push((tenant, month, throttled));
    }

    /// The calls `tenant` has made this month, as far as this console knows.
    pub fn used(&self, tenant: Uuid, now: OffsetDateTime) -> i64 {
        let c = self.counter(tenant, month_of(now));
        c.known.load(Ordering::Acquire) + c.pending.load(Ordering::Acquire)
    }

    /// Notes that a token was used, for its "last used" time.
    pub fn note_token(&self, id: Uuid) {
        self.tokens_used.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
    }

    /// Adds the calls counted since the last flush to the database, then reads
    /// the month's totals back. On failure the calls stay counted here, for
    /// the next flush.
    pub async fn flush(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let now = OffsetDateTime::now_utc();
        let mut taken: Vec<(Uuid, Date, i64, Arc<Counter>)> = Vec::new();
        for ((tenant, month), c) in self.counters.read().unwrap_or_else(|e| e.into_inner()).iter() {
            // Moved from pending to known at once: while the write is under way
            // the calls still count against the allowance.
            let n = c.pending.swap(0, Ordering::AcqRel);
            if n > 0 {
                c.known.fetch_add(n, Ordering::AcqRel);
                taken.push((*tenant, *month, n, c.clone()));
            }
        }
        let since = *self.synced_at.lock().unwrap_or_else(|e| e.into_inner());
        let written = self.write(pool, &taken, month_of(now), since).await;
        match written {
            Ok(db_now) => {
                *self.synced_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(db_now - Duration::seconds(5));
            }
            Err(err) => {
                for (_, _, n, c) in &taken {
                    c.known.fetch_sub(*n, Ordering::AcqRel);
                    c.pending.fetch_add(*n, Ordering::AcqRel);
                }
                return Err(err);
            }
        }
        // Months gone by, with nothing left to write, are forgotten.
        let current = month_of(now);
        self.counters
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, month), c| *month >= current || c.pending.load(Ordering::Acquire) > 0);
        let used: Vec<Uuid> =
            std::mem::take(&mut *self.tokens_used.lock().unwrap_or_else(|e| e.into_inner())).into_iter().collect();
        if !used.is_empty() {
            let mut tx = db::begin(pool, Scope::Auth).await?;
            sqlx::query!("UPDATE api_tokens SET last_used_at = now() WHERE id = ANY($1)", &used)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Writes `taken` and learns the month's totals changed since `since`;
    /// answers the database's clock.
    async fn write(
        &self,
        pool: &PgPool,
        taken: &[(Uuid, Date, i64, Arc<Counter>)],
        month: Date,
        since: Option<OffsetDateTime>,
    ) -> Result<OffsetDateTime, sqlx::Error> {
        let mut tx = db::begin(pool, Scope::Platform).await?;
        // Entering and leaving the throttled state: one event per transition, never one per call.
        let transitions = std::mem::take(&mut *self.transitions.lock().unwrap_or_else(|e| e.into_inner()));
        for (tenant, month, throttled) in &transitions {
            let (action, reason) = if *throttled {
                ("tenant.throttled", "this month's API calls are spent")
            } else {
                ("tenant.unthrottled", "the month's allowance covers its calls again")
            };
            let event = crate::audit::NewEvent::new(action)
                .tenant(*tenant)
                .after(serde_json::json!({ "month": month.to_string(), "reason": reason }));
            let recorded = async {
                crate::audit::record(&mut tx, &routing_actor(), event).await?;
                if *throttled {
                    let data =
                        serde_json::json!({ "tenant": { "id": tenant }, "month": month.to_string(), "reason": reason });
                    crate::webhooks::outbox::enqueue(&mut tx, "tenant.throttled", data).await?;
                }
                Ok::<_, sqlx::Error>(())
            }
            .await;
            if let Err(err) = recorded {
                self.transitions.lock().unwrap_or_else(|e| e.into_inner()).extend(transitions.iter().copied());
                return Err(err);
            }
        }
        if !taken.is_empty() {
            let tenants: Vec<Uuid> = taken.iter().map(|t| t.0).collect();
            let months: Vec<Date> = taken.iter().map(|t| t.1).collect();
            let calls: Vec<i64> = taken.iter().map(|t| t.2).collect();
            let totals = sqlx::query!(
                r#"INSERT INTO api_calls (tenant_id, month, calls)
                   SELECT * FROM unnest($1::uuid[], $2::date[], $3::bigint[])
                   ON CONFLICT (tenant_id, month)
                   DO UPDATE SET calls = api_calls.calls + EXCLUDED.calls, updated_at = now()
                   RETURNING tenant_id, month, calls"#,
                &tenants,
                &months,
                &calls
            )
            .fetch_all(&mut *tx)
            .await?;
            for t in totals {
                self.counter(t.tenant_id, t.month).known.fetch_max(t.calls, Ordering::AcqRel);
            }
            // And per day, for the usage page's chart (calls counted since the
            // last flush, a second ago at most, belong to today).
            sqlx::query!(
                "INSERT INTO api_calls_daily (tenant_id, day, calls)
                 SELECT t, (now() AT TIME ZONE 'UTC')::date, sum(c) FROM unnest($1::uuid[], $2::bigint[]) AS x(t, c) GROUP BY t
                 ON CONFLICT (tenant_id, day) DO UPDATE SET calls = api_calls_daily.calls + EXCLUDED.calls",
                &tenants,
                &calls
            )
            .execute(&mut *tx)
            .await?;
            // 80 % and 100 % of the month's calls are alerted with the write that passes them.
            crate::alerts::ssr::evaluate(&mut tx, &tenants).await?;
        }
        let others = sqlx::query!(
            r#"SELECT tenant_id, calls, now() AS "now!" FROM api_calls
               WHERE month = $1 AND ($2::timestamptz IS NULL OR updated_at >= $2)"#,
            month,
            since
        )
        .fetch_all(&mut *tx)
        .await?;
        let db_now = match others.first() {
            Some(r) => r.now,
            None => sqlx::query_scalar!(r#"SELECT now() AS "now!""#).fetch_one(&mut *tx).await?,
        };
        for r in others {
            self.counter(r.tenant_id, month).known.fetch_max(r.calls, Ordering::AcqRel);
        }
        tx.commit().await?;
        Ok(db_now)
    }
}

/// Who the routing check's audit events name.
fn routing_actor() -> crate::audit::Actor {
    crate::audit::Actor {
        email: Some("routing check".to_string()),
        role: Some("system".to_string()),
        ..crate::audit::Actor::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_month_ends_at_midnight_utc_on_the_first() {
        assert_eq!(until_next_month(datetime!(2026-11-30 23:59:00 UTC)), 60);
        assert_eq!(until_next_month(datetime!(2026-12-31 23:00:00 UTC)), 3600);
        assert_eq!(month_of(datetime!(2026-02-28 12:00 UTC)), time::macros::date!(2026 - 02 - 01));
    }

    #[tokio::test]
    async fn calls_being_written_still_count_against_the_allowance() {
        // A flush that cannot reach the database (here: no server at all) takes
        // its time; meanwhile no call may slip past the allowance.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(std::time::Duration::from_millis(300))
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .unwrap();
        let meter = std::sync::Arc::new(Meter::default());
        let (tenant, now) = (Uuid::new_v4(), OffsetDateTime::now_utc());
        for _ in 0..3 {
            assert!(matches!(meter.admit(tenant, 3, now), Admission::Allowed { .. }));
        }
        let flushing = {
            let (meter, pool) = (meter.clone(), pool.clone());
            tokio::spawn(async move { meter.flush(&pool).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(matches!(meter.admit(tenant, 3, now), Admission::Spent { .. }), "during the flush");
        assert!(flushing.await.unwrap().is_err());
        assert!(matches!(meter.admit(tenant, 3, now), Admission::Spent { .. }), "after it failed");
        assert_eq!(meter.used(tenant, now), 3, "kept for the next flush");
    }

    #[test]
    fn calls_are_admitted_up_to_the_allowance_and_not_one_more() {
        let meter = Meter::default();
        let (tenant, now) = (Uuid::new_v4(), datetime!(2026-11-26 12:00 UTC));
        for i in 1..=3 {
            assert_eq!(meter.admit(tenant, 3, now), Admission::Allowed { used: i });
        }
        assert!(matches!(meter.admit(tenant, 3, now), Admission::Spent { .. }));
        assert_eq!(meter.used(tenant, now), 3, "a refused call is not counted");
        assert_eq!(
            meter.admit(tenant, 3, datetime!(2026-12-01 00:00 UTC)),
            Admission::Allowed { used: 1 },
            "a new month"
        );
    }
}
