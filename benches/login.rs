//! Sign-in timing: a wrong password, an unknown e-mail and a correct password
//! should cost the same (argon2id against the stored or a dummy hash), so the
//! answer time does not reveal who has an account.
//!
//! Run with `cargo bench --features ssr --bench login`. Needs a PostgreSQL
//! server (BULKHEAD_TEST_DATABASE_URL, as for the tests). Prints the median and
//! 95th percentile of each case and their ratios, measured in the same run.

#[path = "../tests/common/mod.rs"]
mod common;

use bulkhead::server::config::Config;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    let config = Config { login_account_limit: i32::MAX, login_ip_limit: i32::MAX, ..Config::default() };
    let app = common::spawn_app_with(config).await;
    let (email, password) = ("bench@example.com", "a long bench password");
    app.create_admin(email, password).await;

    let cases: [(&str, &str, &str); 3] = [
        ("wrong password", email, "not the password at all"),
        ("unknown e-mail", "nobody@example.com", password),
        ("correct password", email, password),
    ];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    for round in 0..rounds + 3 {
        for (i, (_, who, secret)) in cases.iter().enumerate() {
            let client = app.client();
            let start = Instant::now();
            let target = app.login(&client, who, secret).await;
            let took = start.elapsed();
            assert!(!target.is_empty());
            if round >= 3 {
                samples[i].push(took);
            }
        }
    }
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    println!(
        "machine: {} ({} cores), {rounds} rounds",
        host.trim(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    let mut medians = Vec::new();
    for (i, (name, _, _)) in cases.iter().enumerate() {
        samples[i].sort();
        let (p50, p95) = (percentile(&samples[i], 0.5), percentile(&samples[i], 0.95));
        medians.push(p50);
        println!("{name:>17}: median {:>7.1} ms, p95 {:>7.1} ms", p50.as_secs_f64() * 1e3, p95.as_secs_f64() * 1e3);
    }
    println!(
        "ratios of medians: unknown/wrong {:.3}, correct/wrong {:.3}",
        medians[1].as_secs_f64() / medians[0].as_secs_f64(),
        medians[2].as_secs_f64() / medians[0].as_secs_f64()
    );
}
