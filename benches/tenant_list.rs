//! The tenant list at scale: 100,000 tenants, then the first page, a deep
//! page (keyset), a search, and a tier + status filter, timed end to end over
//! HTTP (server function and the rendered page), with each query's plan.
//!
//! Run with `cargo bench --profile dev --features ssr --bench tenant_list`
//! (BENCH_TENANTS and BENCH_ROUNDS override 100,000 and 30). Needs a
//! PostgreSQL server (BULKHEAD_TEST_DATABASE_URL, as for the tests).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.95))
}

#[tokio::main]
async fn main() {
    let tenants: i64 = std::env::var("BENCH_TENANTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let app = common::spawn_app().await;
    app.create_admin("bench@example.com", "a long bench password").await;
    let seeded = Instant::now();
    bulkhead::tenants::ssr::seed(&app.pool, &bulkhead::audit::Actor::cli(), tenants).await.unwrap();
    sqlx::query("ANALYZE tenants").execute(&app.owner).await.unwrap();
    println!("seeded {tenants} tenants in {:.1} s", seeded.elapsed().as_secs_f64());
    let client = app.client();
    app.login(&client, "bench@example.com", "a long bench password").await;

    // A cursor deep in the list: after the 50,000th tenant (or the middle).
    let deep: (time::OffsetDateTime, uuid::Uuid) = sqlx::query_as(
        "SELECT created_at, id FROM tenants WHERE status <> 'deleted' ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1",
    )
    .bind(tenants / 2)
    .fetch_one(&app.owner)
    .await
    .unwrap();
    let deep_cursor = deep.1.to_string();

    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("first page", vec![]),
        ("deep page (keyset)", vec![("after", deep_cursor.clone())]),
        ("search \"globex 4242\"", vec![("q", "globex 4242".into())]),
        ("tier + status filter", vec![("tier", "premium".into()), ("status", "suspended".into())]),
        ("sorted by name, deep", vec![("sort", "name".into()), ("after", deep_cursor.clone())]),
    ];
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    println!(
        "machine: {} ({} cores), {rounds} rounds per case",
        host.trim(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!("{:<24} {:>22} {:>22}", "case", "server fn p50/p95 ms", "page p50/p95 ms");
    for (name, form) in &cases {
        let mut api = Vec::new();
        let mut page = Vec::new();
        let query: String =
            form.iter().map(|(k, v)| format!("{k}={}", v.replace(' ', "+"))).collect::<Vec<_>>().join("&");
        for round in 0..rounds + 2 {
            let t = Instant::now();
            let res = client.post(app.url("/api/tenants")).form(form).send().await.unwrap();
            assert_eq!(res.status(), 200);
            let body: bulkhead::tenants::TenantPageData = res.json().await.unwrap();
            let api_time = t.elapsed();
            let t = Instant::now();
            let html = client.get(app.url(&format!("/tenants?{query}"))).send().await.unwrap().text().await.unwrap();
            let page_time = t.elapsed();
            assert!(html.contains("Tenants"));
            if round == 0 {
                assert!(!body.tenants.is_empty(), "{name} found nothing");
            }
            if round >= 2 {
                api.push(api_time);
                page.push(page_time);
            }
        }
        let (a50, a95) = stats(api);
        let (p50, p95) = stats(page);
        println!("{name:<24} {:>10.1} / {:<9.1} {:>10.1} / {:<9.1}", a50, a95, p50, p95);
    }

    println!("\nquery plans (EXPLAIN ANALYZE, as the platform role):");
    let plans = [
        ("first page", "SELECT id FROM tenants WHERE status <> 'deleted' ORDER BY created_at DESC, id DESC LIMIT 51".to_string()),
        ("deep page", format!("SELECT id FROM tenants WHERE status <> 'deleted' AND (created_at, id) < ('{}'::timestamptz, '{}'::uuid) ORDER BY created_at DESC, id DESC LIMIT 51", deep.0, deep.1)),
        ("search", "SELECT id FROM tenants WHERE (name || ' ' || slug) ILIKE '%globex 4242%' AND status <> 'deleted' ORDER BY created_at DESC, id DESC LIMIT 51".to_string()),
        ("tier + status", "SELECT id FROM tenants WHERE tier_id = 'premium' AND status = 'suspended' ORDER BY created_at DESC, id DESC LIMIT 51".to_string()),
    ];
    for (name, sql) in plans {
        let mut tx = bulkhead::server::db::begin(&app.pool, bulkhead::server::db::Scope::Platform).await.unwrap();
        let lines: Vec<String> =
            sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, COSTS OFF) {sql}")).fetch_all(&mut *tx).await.unwrap();
        println!("-- {name}");
        for l in lines {
            println!("   {l}");
        }
    }
}
