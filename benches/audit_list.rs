//! The audit trail at scale: a million events across a thousand tenants
//! (`audit_seed`, as `bulkhead audit seed` runs it), then the first page, a
//! page deep in the paging, a tenant + action filter, an actor filter, a
//! one-month period and a tenant admin's first page (scoped by Row-Level
//! Security alone), timed end to end over HTTP, with each query's plan; then
//! the chain check and a full export, with the server's peak memory before
//! and after it.
//!
//! Run with `cargo bench --profile dev --features ssr --bench audit_list`
//! (BENCH_EVENTS, BENCH_TENANTS and BENCH_ROUNDS override 1,000,000, 1,000
//! and 30). Needs a PostgreSQL server (BULKHEAD_TEST_DATABASE_URL, as for the tests).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.95))
}

/// This process' peak resident memory (the server runs in it), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let events: i64 = env_or("BENCH_EVENTS", 1_000_000);
    let tenants: i32 = env_or("BENCH_TENANTS", 1_000);
    let rounds: usize = env_or("BENCH_ROUNDS", 30);
    let app = common::spawn_app().await;
    let seeded = Instant::now();
    sqlx::query("SELECT audit_seed($1, $2)").bind(events).bind(tenants).execute(&app.owner).await.unwrap();
    sqlx::query("ANALYZE audit_events, tenants").execute(&app.owner).await.unwrap();
    println!("seeded {events} events across {tenants} tenants in {:.1} s", seeded.elapsed().as_secs_f64());
    app.create_admin("bench@example.com", "a long bench password").await;
    let client = app.client();
    app.login(&client, "bench@example.com", "a long bench password").await;

    // A tenant admin of one seeded tenant, signed in like anyone else.
    let (tenant_id, slug): (uuid::Uuid, String) =
        sqlx::query_as("SELECT id, slug FROM tenants WHERE slug = 'audit-seed-500' OR slug = 'audit-seed-1' ORDER BY slug DESC LIMIT 1")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    let hash = bulkhead::auth::password::hash("a long bench password".into()).await.unwrap();
    sqlx::query("INSERT INTO users (email, password_hash, role, tenant_id) VALUES ('owner@tenant.example', $1, 'tenant_admin', $2)")
        .bind(hash)
        .bind(tenant_id)
        .execute(&app.owner)
        .await
        .unwrap();
    let tenant_client = app.client();
    app.login(&tenant_client, "owner@tenant.example", "a long bench password").await;
    app.enrol_totp(&tenant_client).await;

    let deep: i64 = sqlx::query_scalar("SELECT id FROM audit_events ORDER BY id DESC OFFSET $1 LIMIT 1")
        .bind(events / 2)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    let month_from = "2026-05-01";
    let month_to = "2026-05-31";
    type Case<'a> = (&'a str, &'a reqwest::Client, Vec<(&'a str, String)>);
    let cases: Vec<Case> = vec![
        ("first page", &client, vec![]),
        ("deep page (keyset)", &client, vec![("before", deep.to_string())]),
        ("tenant + action", &client, vec![("tenant", slug.clone()), ("action", "tenant.suspended".into())]),
        ("actor", &client, vec![("actor", "staff-7@example.com".into())]),
        ("one month", &client, vec![("from", month_from.into()), ("to", month_to.into())]),
        ("tenant admin, first page", &tenant_client, vec![]),
    ];
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    println!(
        "machine: {} ({} cores), {rounds} rounds per case",
        host.trim(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!("{:<26} {:>22} {:>22}", "case", "server fn p50/p95 ms", "page p50/p95 ms");
    for (name, client, form) in &cases {
        let mut api = Vec::new();
        let mut page = Vec::new();
        let query: String = form.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
        for round in 0..rounds + 2 {
            let t = Instant::now();
            let res = client.post(app.url("/api/audit_events")).form(form).send().await.unwrap();
            assert_eq!(res.status(), 200, "{name}");
            let body: bulkhead::audit::EventPage = res.json().await.unwrap();
            let api_time = t.elapsed();
            let t = Instant::now();
            let html = client.get(app.url(&format!("/audit?{query}"))).send().await.unwrap().text().await.unwrap();
            let page_time = t.elapsed();
            assert!(html.contains("Audit trail"));
            if round == 0 {
                assert!(!body.events.is_empty(), "{name} found nothing");
            }
            if round >= 2 {
                api.push(api_time);
                page.push(page_time);
            }
        }
        let (a50, a95) = stats(api);
        let (p50, p95) = stats(page);
        println!("{name:<26} {:>10.1} / {:<9.1} {:>10.1} / {:<9.1}", a50, a95, p50, p95);
    }

    println!("\nquery plans (EXPLAIN ANALYZE of the page's query, parameters bound, custom plans as the page sets):");
    // The list query of src/audit/ssr.rs, word for word.
    const LIST: &str = r#"SELECT e.id, e.occurred_at, e.actor_email, e.actor_role, e.ip, e.action, e.target,
                  t.slug AS "tenant_slug?"
           FROM audit_events e LEFT JOIN tenants t ON t.id = e.tenant_id
           WHERE ($1::uuid IS NULL OR e.tenant_id = $1)
             AND ($2::text IS NULL OR e.actor_email = $2)
             AND ($3::text IS NULL OR e.action = $3)
             AND ($4::bigint IS NULL OR e.id >= $4)
             AND ($5::bigint IS NULL OR e.id <= $5)
             AND ($6::timestamptz IS NULL OR e.occurred_at >= $6)
             AND ($7::timestamptz IS NULL OR e.occurred_at < $7)
           ORDER BY e.id DESC
           LIMIT $8"#;
    use bulkhead::server::db::Scope;
    type Params = (Option<uuid::Uuid>, Option<&'static str>, Option<&'static str>, Option<i64>);
    let plans: [(&str, Scope, Params); 5] = [
        ("first page", Scope::Platform, (None, None, None, None)),
        ("deep page", Scope::Platform, (None, None, None, Some(deep - 1))),
        ("tenant + action", Scope::Platform, (Some(tenant_id), None, Some("tenant.suspended"), None)),
        ("actor", Scope::Platform, (None, Some("staff-7@example.com"), None, None)),
        ("tenant admin (RLS only)", Scope::Tenant(tenant_id), (None, None, None, None)),
    ];
    for (name, scope, (tenant, actor, action, max_id)) in plans {
        let mut tx = bulkhead::server::db::begin(&app.pool, scope).await.unwrap();
        sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan").execute(&mut *tx).await.unwrap();
        let lines: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN (ANALYZE, COSTS OFF) {LIST}"))
            .bind(tenant)
            .bind(actor)
            .bind(action)
            .bind(None::<i64>)
            .bind(max_id)
            .bind(None::<time::OffsetDateTime>)
            .bind(None::<time::OffsetDateTime>)
            .bind(51_i64)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        println!("-- {name}");
        for l in lines {
            println!("   {l}");
        }
    }

    let t = Instant::now();
    let v: bulkhead::audit::Verification =
        client.post(app.url("/api/audit_verify")).send().await.unwrap().json().await.unwrap();
    println!("\nchain check: {} events, broken at {:?}, {:.1} s", v.checked, v.first_broken, t.elapsed().as_secs_f64());

    // A client without the helper's 20-second timeout: a million rows take longer.
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", app.base.parse().unwrap());
    let export_client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap();
    app.login(&export_client, "bench@example.com", "a long bench password").await;
    for format in ["csv", "jsonl"] {
        let before = peak_rss_mib();
        let t = Instant::now();
        let mut res = export_client.get(app.url(&format!("/audit/export?format={format}"))).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let mut bytes = 0usize;
        let mut lines = 0usize;
        while let Some(chunk) = res.chunk().await.unwrap() {
            bytes += chunk.len();
            lines += chunk.iter().filter(|b| **b == b'\n').count();
        }
        println!(
            "export {format}: {lines} lines, {:.0} MiB in {:.1} s; peak memory of the process {before:.0} MiB before, {:.0} MiB after",
            bytes as f64 / 1048576.0,
            t.elapsed().as_secs_f64(),
            peak_rss_mib()
        );
    }
}
