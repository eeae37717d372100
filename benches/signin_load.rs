//! Page speed while sign-ins flood in: the p50 and p95 of a signed-in page
//! (`/tenants`) alone, then while 20 sign-ins run at once without pause
//! (wrong passwords: every one costs an argon2 check), in the same run.
//! Sign-in checks run in one hashing slot per core with a bounded queue, so
//! they cannot take every core from the pages.
//!
//! Run with `cargo bench --features ssr --bench signin_load`. Needs a
//! PostgreSQL server (BULKHEAD_TEST_DATABASE_URL, as for the tests).

#[path = "../tests/common/mod.rs"]
mod common;

use bulkhead::auth::Role;
use bulkhead::server::config::Config;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn page_times(app: &common::TestApp, client: &reqwest::Client, n: usize) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let res = client.get(app.url("/tenants")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap();
        times.push(start.elapsed());
    }
    times.sort();
    times
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    // The sign-in limits out of the way: every attempt reaches argon2.
    let config = Config {
        login_account_limit: i32::MAX,
        login_ip_limit: i32::MAX,
        secret_checks_burst: u32::MAX,
        secret_checks_per_second: u32::MAX,
        account_lock_after: i32::MAX,
        // BENCH_SLOTS: hashing slots (the cores but one by default, as in production).
        hashing_slots: std::env::var("BENCH_SLOTS").ok().and_then(|v| v.parse().ok()),
        ..Config::default()
    };
    let app = common::spawn_app_with(config).await;
    let staff = app.signed_in(Role::PlatformAdmin, "bench@example.com").await;
    page_times(&app, &staff, 20).await; // warm up

    let quiet = page_times(&app, &staff, n).await;

    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicUsize::new(0));
    let busy = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for i in 0..20 {
        let (stop, attempts, busy, url) = (stop.clone(), attempts.clone(), busy.clone(), app.url("/api/login"));
        let client = app.client();
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let res = client
                    .post(&url)
                    .header("accept", "text/html")
                    .form(&[("email", format!("guess{i}@example.com")), ("password", "not the password".into())])
                    .send()
                    .await
                    .unwrap();
                if res.status() == 503 {
                    busy.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                attempts.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let flooded = page_times(&app, &staff, n).await;
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("page /tenants, {n} loads each");
    println!(
        "  alone:                  p50 {:7.2} ms  p95 {:7.2} ms",
        ms(percentile(&quiet, 0.5)),
        ms(percentile(&quiet, 0.95))
    );
    println!(
        "  with 20 sign-ins a time: p50 {:7.2} ms  p95 {:7.2} ms  ({} sign-ins answered, {:.0}/s, {} of them 503)",
        ms(percentile(&flooded, 0.5)),
        ms(percentile(&flooded, 0.95)),
        attempts.load(Ordering::Relaxed),
        attempts.load(Ordering::Relaxed) as f64 / secs,
        busy.load(Ordering::Relaxed)
    );
    println!("  p95 ratio (flooded ÷ alone): {:.2}", ms(percentile(&flooded, 0.95)) / ms(percentile(&quiet, 0.95)));
}
