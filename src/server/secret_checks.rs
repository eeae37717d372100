//! The endpoints that check a secret (a password, a second-factor or recovery
//! code, an invitation) are bounded before they touch the database or argon2:
//! a per-address token bucket (governor) refuses floods with 429, and a queue
//! of hashing slots (the cores but one) answers 503 when too many wait.

use super::client_address::{client_address, throttle_group};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The server functions that check a secret.
const ENDPOINTS: &[&str] = &[
    "/api/login",
    "/api/verify_code",
    "/api/confirm_enrolment",
    "/api/change_password",
    "/api/regenerate_recovery_codes",
    "/api/restart_enrolment",
    "/api/begin_enrolment",
    "/api/open_mfa_reset",
    "/api/invitation",
    "/api/accept_invitation",
];

/// The limits, shared by every request of the process.
pub struct SecretChecks {
    per_address: DefaultKeyedRateLimiter<String>,
    slots: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
    /// Whose `X-Forwarded-For` is believed (`BULKHEAD_TRUSTED_PROXIES`).
    trusted_proxies: Vec<ipnet::IpNet>,
}

impl SecretChecks {
    /// `per_second` checks an address may make, `burst` at once; `slots`
    /// checks run together, `max_waiting` more may wait for a slot.
    pub fn new(
        per_second: u32,
        burst: u32,
        slots: usize,
        max_waiting: usize,
        trusted_proxies: Vec<ipnet::IpNet>,
    ) -> SecretChecks {
        let quota = Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        SecretChecks {
            per_address: RateLimiter::keyed(quota),
            slots: Semaphore::new(slots.max(1)),
            waiting: AtomicUsize::new(0),
            max_waiting,
            trusted_proxies,
        }
    }

    /// Forgets addresses whose bucket is full again.
    pub fn tidy(&self) {
        self.per_address.retain_recent();
        self.per_address.shrink_to_fit();
    }
}

fn refuse(status: StatusCode, retry_after_secs: u64, message: &'static str) -> Response {
    let mut res = (status, message).into_response();
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs.max(1)));
    res
}

/// The middleware.
pub async fn guard(State(checks): State<Arc<SecretChecks>>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || !ENDPOINTS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        let client = client_address(peer.ip(), req.headers(), &checks.trusted_proxies);
        if let Err(not_until) = checks.per_address.check_key(&throttle_group(client)) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                wait.as_secs_f64().ceil() as u64,
                "Too many attempts from your address. Wait a moment, then try again.",
            );
        }
    }
    let permit = match checks.slots.try_acquire() {
        Ok(permit) => permit,
        Err(_) => {
            // A bounded queue: past it, the answer is "later" rather than memory.
            if checks.waiting.fetch_add(1, Ordering::AcqRel) >= checks.max_waiting {
                checks.waiting.fetch_sub(1, Ordering::AcqRel);
                return refuse(StatusCode::SERVICE_UNAVAILABLE, 2, "The console is busy. Try again in a few seconds.");
            }
            let permit = checks.slots.acquire().await;
            checks.waiting.fetch_sub(1, Ordering::AcqRel);
            match permit {
                Ok(permit) => permit,
                Err(_) => return refuse(StatusCode::SERVICE_UNAVAILABLE, 2, "The console is stopping."),
            }
        }
    };
    let res = next.run(req).await;
    drop(permit);
    res
}
