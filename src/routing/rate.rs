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
    limiters: RwLock<HashMap<(u32, u32), Limiter>>,
}

/// The keyed limiter shared by every tenant with the same rate and burst.
type Limiter = Arc<DefaultKeyedRateLimiter<Uuid>>;

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

/// The buckets of calls that carry no key, for tenants that let them pass:
/// one per tenant and client address (an IPv6 client's /64), refilled at the
/// rate `BULKHEAD_ANONYMOUS_RATE` sets. Never the tenant's own allowance.
pub struct AddressRates {
    limiter: governor::DefaultKeyedRateLimiter<(Uuid, std::net::IpAddr)>,
}

impl std::fmt::Debug for AddressRates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddressRates")
    }
}

impl AddressRates {
    pub fn new(rate: u32, burst: u32) -> AddressRates {
        let quota = Quota::per_second(NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        AddressRates { limiter: RateLimiter::keyed(quota) }
    }

    /// Takes one call of `client` to `tenant`; `Err` with the wait.
    pub fn take(&self, tenant: Uuid, client: std::net::IpAddr) -> Result<(), Duration> {
        let group = match client {
            std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                std::net::IpAddr::V6(ipnet::Ipv6Net::new(v6, 64).expect("64 is a valid prefix").trunc().network())
            }
            std::net::IpAddr::V6(v6) => std::net::IpAddr::V4(v6.to_ipv4_mapped().expect("mapped")),
            v4 => v4,
        };
        self.limiter
            .check_key(&(tenant, group))
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forgets full buckets.
    pub fn tidy(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
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

    #[test]
    fn calls_without_a_key_are_limited_per_address_and_an_ipv6_client_per_64() {
        let rates = AddressRates::new(1, 2);
        let tenant = Uuid::new_v4();
        let a: std::net::IpAddr = "2001:db8::1".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8::ffff".parse().unwrap();
        assert!(rates.take(tenant, a).is_ok());
        assert!(rates.take(tenant, b).is_ok());
        assert!(rates.take(tenant, a).is_err(), "the same /64");
        assert!(rates.take(tenant, "192.0.2.1".parse().unwrap()).is_ok(), "another client");
        assert!(rates.take(Uuid::new_v4(), a).is_ok(), "another tenant");
    }
}
