//! Calls counted per tenant key and calendar month (UTC), for the keys that
//! carry a monthly cap of their own. Counted in memory, added to PostgreSQL
//! (`api_key_calls`) at every flush, whose answer brings back every
//! console's totals, as the tenants' [`super::meter::Meter`] does.

use super::meter::month_of;
use crate::server::db::{self, Scope};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

#[derive(Debug)]
struct Counter {
    tenant: Uuid,
    /// Calls admitted here since the last flush.
    pending: AtomicI64,
    /// The month's total in the database at the last flush.
    known: AtomicI64,
}

#[derive(Debug, Default)]
pub struct KeyMeter {
    counters: RwLock<HashMap<(Uuid, Date), Arc<Counter>>>,
}

impl KeyMeter {
    fn counter(&self, key: Uuid, tenant: Uuid, month: Date) -> Arc<Counter> {
        if let Some(c) = self.counters.read().unwrap_or_else(|e| e.into_inner()).get(&(key, month)) {
            return c.clone();
        }
        let mut counters = self.counters.write().unwrap_or_else(|e| e.into_inner());
        counters
            .entry((key, month))
            .or_insert_with(|| Arc::new(Counter { tenant, pending: AtomicI64::new(0), known: AtomicI64::new(0) }))
            .clone()
    }

    /// Counts one call of `key` if its month allows `cap` calls more than it
    /// has made; `false` (nothing counted) when the cap is reached.
    pub fn admit(&self, key: Uuid, tenant: Uuid, cap: i64, now: OffsetDateTime) -> bool {
        let c = self.counter(key, tenant, month_of(now));
        let mine = c.pending.fetch_add(1, Ordering::AcqRel) + 1;
        if c.known.load(Ordering::Acquire) + mine > cap {
            c.pending.fetch_sub(1, Ordering::AcqRel);
            false
        } else {
            true
        }
    }

    /// Gives back a call [`KeyMeter::admit`] counted, when the tenant's own
    /// allowance then refused it.
    pub fn give_back(&self, key: Uuid, tenant: Uuid, now: OffsetDateTime) {
        self.counter(key, tenant, month_of(now)).pending.fetch_sub(1, Ordering::AcqRel);
    }

    /// The calls `key` made this month, as far as this console knows.
    pub fn used(&self, key: Uuid, now: OffsetDateTime) -> i64 {
        let counters = self.counters.read().unwrap_or_else(|e| e.into_inner());
        counters
            .get(&(key, month_of(now)))
            .map(|c| c.known.load(Ordering::Acquire) + c.pending.load(Ordering::Acquire))
            .unwrap_or(0)
    }

    /// Adds the calls counted since the last flush and learns every console's
    /// totals of the keys this console counts; on failure the calls stay
    /// counted here for the next flush.
    pub async fn flush(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let now = OffsetDateTime::now_utc();
        let mut taken: Vec<(Uuid, Uuid, Date, i64, Arc<Counter>)> = Vec::new();
        let mut watched: Vec<Uuid> = Vec::new();
        for ((key, month), c) in self.counters.read().unwrap_or_else(|e| e.into_inner()).iter() {
            let n = c.pending.swap(0, Ordering::AcqRel);
            if n > 0 {
                c.known.fetch_add(n, Ordering::AcqRel);
                taken.push((*key, c.tenant, *month, n, c.clone()));
            }
            if *month == month_of(now) {
                watched.push(*key);
            }
        }
        if taken.is_empty() && watched.is_empty() {
            return Ok(());
        }
        let result = async {
            let mut tx = db::begin(pool, Scope::Platform).await?;
            if !taken.is_empty() {
                let keys: Vec<Uuid> = taken.iter().map(|t| t.0).collect();
                let tenants: Vec<Uuid> = taken.iter().map(|t| t.1).collect();
                let months: Vec<Date> = taken.iter().map(|t| t.2).collect();
                let calls: Vec<i64> = taken.iter().map(|t| t.3).collect();
                sqlx::query!(
                    "INSERT INTO api_key_calls (key_id, tenant_id, month, calls)
                     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::date[], $4::bigint[])
                     ON CONFLICT (key_id, month)
                     DO UPDATE SET calls = api_key_calls.calls + EXCLUDED.calls, updated_at = now()",
                    &keys,
                    &tenants,
                    &months,
                    &calls
                )
                .execute(&mut *tx)
                .await?;
            }
            let totals = sqlx::query!(
                "SELECT key_id, calls FROM api_key_calls WHERE month = $1 AND key_id = ANY($2)",
                month_of(now),
                &watched
            )
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(totals)
        }
        .await;
        match result {
            Ok(totals) => {
                let counters = self.counters.read().unwrap_or_else(|e| e.into_inner());
                for t in totals {
                    if let Some(c) = counters.get(&(t.key_id, month_of(now))) {
                        c.known.fetch_max(t.calls, Ordering::AcqRel);
                    }
                }
                drop(counters);
                let current = month_of(now);
                self.counters
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|(_, month), c| *month >= current || c.pending.load(Ordering::Acquire) > 0);
                Ok(())
            }
            Err(err) => {
                for (_, _, _, n, c) in &taken {
                    c.known.fetch_sub(*n, Ordering::AcqRel);
                    c.pending.fetch_add(*n, Ordering::AcqRel);
                }
                Err(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_key_is_admitted_up_to_its_cap_and_a_call_given_back_frees_its_place() {
        let meter = KeyMeter::default();
        let (key, tenant, now) = (Uuid::new_v4(), Uuid::new_v4(), datetime!(2026-12-06 12:00 UTC));
        assert!(meter.admit(key, tenant, 2, now));
        assert!(meter.admit(key, tenant, 2, now));
        assert!(!meter.admit(key, tenant, 2, now), "the cap is reached");
        assert_eq!(meter.used(key, now), 2);
        meter.give_back(key, tenant, now);
        assert!(meter.admit(key, tenant, 2, now), "the place given back");
        assert!(meter.admit(key, tenant, 2, datetime!(2027-01-01 00:00 UTC)), "a new month");
    }
}
