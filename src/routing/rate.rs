//! How fast a tenant may call: one token bucket per tenant (governor's GCRA,
//! lock-free per key), refilled at its tier's rate and holding its burst.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use uuid::Uuid;

/// The buckets, one limiter per (rate, burst) pair: tenants of one tier share
/// the limiter, each with a bucket of its own.
#[derive(Default)]
pub struct Rates {
    limiters: RwLock<HashMap<(u32, u32), Arc<DefaultKeyedRateLimiter<Uuid>>>>,
}

impl std::fmt::Debug for Rates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rates")
    }
}

impl Rates {
    fn limiter(&self, rate: u32, burst: u32) -> Arc<DefaultKeyedRateLimiter<Uuid>> {
        let quota = Quota::per_second(NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        self.limiters
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry((rate, burst))
            .or_insert_with(|| Arc::new(RateLimiter::keyed(quota)))
            .clone()
    }

    /// Takes one call from the tenant's bucket; `Err` with the wait until the
    /// next call would fit.
    pub fn take(&self, tenant: Uuid, rate: u32, burst: u32) -> Result<(), Duration> {
        let check = |limiter: &DefaultKeyedRateLimiter<Uuid>| {
            limiter.check_key(&tenant).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
        };
        // The common case under the map's read lock, without a reference count.
        if let Some(limiter) = self.limiters.read().unwrap_or_else(|e| e.into_inner()).get(&(rate, burst)) {
            return check(limiter);
        }
        check(&self.limiter(rate, burst))
    }

    /// Forgets full buckets (tenants that have not called for a while).
    pub fn tidy(&self) {
        for limiter in self.limiters.read().unwrap_or_else(|e| e.into_inner()).values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_its_burst_then_refuses_with_the_wait() {
        let rates = Rates::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        for _ in 0..5 {
            assert!(rates.take(a, 1, 5).is_ok());
        }
        let wait = rates.take(a, 1, 5).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(rates.take(b, 1, 5).is_ok(), "each tenant has its own bucket");
    }
}
