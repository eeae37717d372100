//! The billing export: a month's figures per tenant from the console, the
//! machine API and the command line, the same in each; refusals by status;
//! and a month's closing sent to billing webhooks once.

mod common;

use bulkhead::audit::Actor;
use bulkhead::auth::Role;
use bulkhead::billing::Period;
use bulkhead::tokens::ssr::{create, NewToken};
use common::{spawn_app_with, TestApp};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// Acme (Free: 10,000 calls, 10 users) over its month's calls and users last
/// month, Globex (Standard) under; Initech created this month, not billed for last.
async fn arranged() -> (TestApp, Period) {
    arranged_with(bulkhead::server::config::Config::default()).await
}

async fn arranged_with(config: bulkhead::server::config::Config) -> (TestApp, Period) {
    let app = spawn_app_with(config).await;
    let period = Period::of(time::OffsetDateTime::now_utc().date()).previous();
    let start = period.first_day();
    sqlx::query(
        "INSERT INTO tenants (slug, name, tier_id, status, created_at) VALUES
           ('acme', '=Acme, Inc.', 'free', 'active', $1::date - 40), ('globex', 'Globex', 'standard', 'active', $1::date - 40),
           ('initech', 'Initech', 'free', 'active', now())",
    )
    .bind(start)
    .execute(&app.owner)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO api_calls (tenant_id, month, calls) SELECT id, $1, CASE slug WHEN 'acme' THEN 12000 ELSE 300 END
           FROM tenants WHERE slug IN ('acme', 'globex')",
    )
    .bind(start)
    .execute(&app.owner)
    .await
    .unwrap();
    // Acme's users: 8 for the month's first hour, 12 at its peak, and 99 the month after (not counted).
    sqlx::query(
        "INSERT INTO usage_hourly (tenant_id, metric, hour, last_value, last_at, max_value, sum_value, samples)
         SELECT id, 'users', h, v, h, v, v * 2, 2 FROM tenants,
           (VALUES ($1::timestamptz, 8.0), ($1::timestamptz + interval '5 days', 12.0),
                   ($1::timestamptz + interval '1 month', 99.0)) AS x(h, v)
          WHERE slug = 'acme'",
    )
    .bind(start.midnight().assume_utc())
    .execute(&app.owner)
    .await
    .unwrap();
    (app, period)
}

async fn token(app: &TestApp, scope: &str) -> String {
    create(&app.pool, &Actor::cli(), None, NewToken::parse(scope, &[scope], "").unwrap()).await.unwrap()
}

async fn api(app: &TestApp, token: Option<&str>, query: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(app.url(&format!("/api/v1/billing?{query}")));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_months_figures_are_the_same_from_the_console_the_api_and_the_command_line() {
    let (app, period) = arranged().await;
    let billing = token(&app, "billing").await;
    app.start_routing().await;

    let res = api(&app, Some(&billing), &format!("period={period}")).await;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    let tenants = doc["tenants"].as_array().unwrap();
    let slugs: Vec<&str> = tenants.iter().map(|t| t["tenant"]["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["acme", "globex"], "a tenant created after the month is not in it");
    let acme = &tenants[0];
    assert_eq!(acme["tier"], "free");
    assert_eq!(acme["api_calls"], serde_json::json!({ "count": 12000, "quota": 10000, "overage": 2000 }));
    let users = &acme["gauges"]["users"];
    assert_eq!((users["peak"].as_f64(), users["average"].as_f64()), (Some(12.0), Some(10.0)));
    assert_eq!((users["quota"].as_i64(), users["overage"].as_f64()), (Some(10), Some(2.0)));
    assert_eq!(tenants[1]["api_calls"]["overage"], 0);
    assert!(tenants[1]["gauges"]["users"]["peak"].is_null(), "nothing reported: no figure, not zero");

    let csv = api(&app, Some(&billing), &format!("period={period}&format=csv")).await.text().await.unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "a header and a row per tenant: {csv}");
    assert!(lines[0]
        .starts_with("tenant_id,slug,name,tier,period,api_calls,api_calls_quota,api_calls_overage,storage_bytes_peak"));
    assert!(lines[1].contains(&format!(r#",acme,"'=Acme, Inc.",free,{period},12000,10000,2000,"#)), "{}", lines[1]);

    // The console's download, for platform staff, audited.
    let auditor = app.signed_in(Role::PlatformAuditor, "audit@example.com").await;
    let res = auditor.get(app.url(&format!("/billing/export?period={period}&format=csv"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains(&format!("bulkhead-billing-{period}.csv")));
    assert_eq!(res.text().await.unwrap(), csv, "the same figures");
    assert_eq!(app.count_events("billing.exported").await, 1);
    let page = auditor.get(app.url("/billing")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"action="/billing/export""#) && page.contains(&period.to_string()), "{page}");

    // And the command line's.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(["billing", "export", "--period", &period.to_string(), "--format", "csv"])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), csv);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(["billing", "export", "--period", "2026-13"])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("YYYY-MM"));
}

#[tokio::test]
async fn bad_requests_are_refused_with_the_right_status() {
    let (app, period) = arranged().await;
    let (billing, ingest) = (token(&app, "billing").await, token(&app, "ingest").await);
    app.start_routing().await;
    let p = format!("period={period}");
    assert_eq!(api(&app, None, &p).await.status(), 401);
    assert_eq!(api(&app, Some("bkh_nonsense"), &p).await.status(), 401);
    assert_eq!(api(&app, Some(&ingest), &p).await.status(), 403);
    for (query, status) in
        [("period=2026/10", 400), ("", 400), ("period=9999-12", 422), (&format!("{p}&format=xml") as &str, 400)]
    {
        let res = api(&app, Some(&billing), query).await;
        assert_eq!(res.status(), status, "{query}");
        let body: Value = res.json().await.unwrap();
        assert!(!body["error"].as_str().unwrap().is_empty());
    }
    let tenant: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'").fetch_one(&app.owner).await.unwrap();
    let tenant_admin = app.tenant_admin(tenant, "admin@acme.example").await;
    let res = tenant_admin.get(app.url(&format!("/billing/export?{p}"))).send().await.unwrap();
    assert_eq!(res.status(), 403, "billing is for platform staff");
}

#[tokio::test]
async fn a_closing_month_sends_every_tenants_figures_to_billing_webhooks_once() {
    let (app, period) = arranged().await;
    let admin = app.create_admin("ops@example.com", common::TEST_PASSWORD).await;
    let endpoint =
        bulkhead::webhooks::ssr::NewEndpoint::parse("https://billing.example/h", "", &["billing.period_closed"])
            .unwrap();
    bulkhead::webhooks::ssr::create(&app.state, &Actor::cli(), admin, endpoint).await.unwrap();

    assert_eq!(bulkhead::billing::ssr::close_due(&app.pool).await.unwrap(), Some(period));
    assert_eq!(bulkhead::billing::ssr::close_due(&app.pool).await.unwrap(), None, "once, however many consoles ask");
    let bodies: Vec<String> =
        sqlx::query_scalar("SELECT body FROM webhook_messages WHERE event_type = 'billing.period_closed'")
            .fetch_all(&app.owner)
            .await
            .unwrap();
    assert_eq!(bodies.len(), 1);
    let body: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(body["type"], "billing.period_closed");
    assert_eq!(
        (body["data"]["period"].as_str(), body["data"]["parts"].as_i64()),
        (Some(&*period.to_string()), Some(1))
    );
    assert_eq!(body["data"]["tenants"][0]["api_calls"]["overage"], 2000);
    let deliveries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries").fetch_one(&app.owner).await.unwrap();
    assert_eq!(deliveries, 1, "queued for the endpoint that asked");
    assert_eq!(app.count_events("billing.period_closed").await, 1);
}

#[tokio::test]
async fn the_billing_api_reads_on_the_heavy_pool_one_export_at_a_time_per_token() {
    // A statement timeout of one millisecond on the heavy pool: an export that runs there is cut.
    let config = bulkhead::server::config::Config {
        heavy_statement_timeout: std::time::Duration::from_millis(1),
        ..Default::default()
    };
    let app = common::spawn_app_with(config).await;
    sqlx::query("INSERT INTO tenants (slug, name, tier_id, status) SELECT 'seed-' || n, 'Seed ' || n, 'free', 'active' FROM generate_series(1, 30000) n")
        .execute(&app.owner)
        .await
        .unwrap();
    let billing = token(&app, "billing").await;
    app.start_routing().await;
    let period = Period::of(time::OffsetDateTime::now_utc().date()).previous();
    let res = api(&app, Some(&billing), &format!("period={period}")).await;
    assert_eq!(res.status(), 503, "cut by the heavy pool's statement timeout, not run on the console's pool");

    // While the token's previous export runs, the next one waits its turn.
    let id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM api_tokens WHERE name = 'billing'").fetch_one(&app.owner).await.unwrap();
    let running = app.state.heavy_work.start(id).unwrap();
    let res = api(&app, Some(&billing), &format!("period={period}")).await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "5");
    drop(running);
    assert_eq!(api(&app, Some(&billing), &format!("period={period}")).await.status(), 503, "its turn again");
}

async fn adjust(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/billing/adjustments"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_closed_month_changes_only_by_an_audited_adjustment_sent_to_billing_webhooks() {
    // A console that may send to this machine, where the billing system's receiver listens.
    let config = bulkhead::server::config::Config {
        webhook_allow_networks: vec!["127.0.0.0/8".parse().unwrap()],
        ..bulkhead::server::config::Config::default()
    };
    let (app, period) = arranged_with(config).await;
    let admin = app.create_admin("ops@example.com", common::TEST_PASSWORD).await;
    let (url, received) = signed_receiver().await;
    let endpoint = bulkhead::webhooks::ssr::NewEndpoint::parse(&url, "", &["billing.period_adjusted"]).unwrap();
    let secret = bulkhead::webhooks::ssr::create(&app.state, &Actor::cli(), admin, endpoint).await.unwrap();
    *received.secret.lock().unwrap() = Some(secret);
    let (billing, ingest) = (token(&app, "billing").await, token(&app, "ingest").await);
    app.start_routing().await;
    let p = period.to_string();
    let this_month = Period::of(time::OffsetDateTime::now_utc().date()).to_string();

    // Not closed yet: its usage is still samples.
    let (status, body) = adjust(
        &app,
        &billing,
        serde_json::json!({ "period": p, "tenant": "acme", "metric": "api_calls", "value": -500, "reason": "retries" }),
    )
    .await;
    assert_eq!((status, body["problems"][0]["field"].as_str()), (422, Some("period")), "{body}");
    assert_eq!(bulkhead::billing::ssr::close_due(&app.pool).await.unwrap(), Some(period));

    // Bad fields are named, nothing is written; only a billing token adjusts.
    let (status, body) = adjust(
        &app,
        &billing,
        serde_json::json!({ "period": this_month, "tenant": "nobody", "metric": "bogus", "value": 1, "reason": "" }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["problems"].as_array().unwrap().iter().map(|p| p["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["metric", "reason"]);
    let (status, body) = adjust(
        &app,
        &billing,
        serde_json::json!({ "period": p, "tenant": "acme", "metric": "api_calls", "value": -12001, "reason": "typo" }),
    )
    .await;
    assert_eq!((status, body["problems"][0]["field"].as_str()), (422, Some("value")), "below zero: {body}");
    let (status, _) = adjust(
        &app,
        &ingest,
        serde_json::json!({ "period": p, "tenant": "acme", "metric": "api_calls", "value": -500, "reason": "retries" }),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(app.count_events("billing.period_adjusted").await, 0);

    // An adjustment: the figures change, the trail keeps before and after, the webhook hears of it.
    let (status, body) = adjust(
        &app,
        &billing,
        serde_json::json!({ "period": p, "tenant": "acme", "metric": "api_calls", "value": "-2500",
                            "reason": "retries counted twice" }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["tenant"]["api_calls"], serde_json::json!({ "count": 9500, "quota": 10000, "overage": 0 }));
    let (status, _) = adjust(
        &app,
        &billing,
        serde_json::json!({ "period": p, "tenant": "acme", "metric": "users", "value": 9, "reason": "test seats" }),
    )
    .await;
    assert_eq!(status, 201);
    let doc: Value = api(&app, Some(&billing), &format!("period={p}")).await.json().await.unwrap();
    let acme = &doc["tenants"][0];
    assert_eq!(acme["api_calls"]["count"], 9500, "the export reads the adjusted month");
    assert_eq!(
        (acme["gauges"]["users"]["peak"].as_f64(), acme["gauges"]["users"]["average"].as_f64()),
        (Some(9.0), Some(9.0)),
        "the corrected peak, the average kept under it"
    );
    assert_eq!(acme["gauges"]["users"]["overage"].as_f64(), Some(0.0));
    let (before, after, actor): (Value, Value, String) = sqlx::query_as(
        "SELECT before, after, actor_email FROM audit_events WHERE action = 'billing.period_adjusted' ORDER BY id LIMIT 1",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(
        (before["figures"]["api_calls"]["count"].as_i64(), after["figures"]["api_calls"]["count"].as_i64()),
        (Some(12000), Some(9500))
    );
    assert_eq!(after["adjustment"]["reason"], "retries counted twice");
    assert!(actor.starts_with("token "), "{actor}");
    let bodies: Vec<String> =
        sqlx::query_scalar("SELECT m.body FROM webhook_messages m JOIN webhook_deliveries d ON d.message_id = m.id WHERE m.event_type = 'billing.period_adjusted' ORDER BY m.created_at")
            .fetch_all(&app.owner)
            .await
            .unwrap();
    assert_eq!(bodies.len(), 2, "each adjustment queued for the endpoint that asked");
    let first: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(
        (
            first["type"].as_str(),
            first["data"]["period"].as_str(),
            first["data"]["tenant"]["api_calls"]["count"].as_i64()
        ),
        (Some("billing.period_adjusted"), Some(&*p), Some(9500))
    );

    // The command line, with the same checks.
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_bulkhead"))
            .args(["billing", "adjust"])
            .args(args)
            .env("DATABASE_URL", &app.database_url)
            .output()
            .unwrap()
    };
    let out = run(&["--period", &p, "--tenant", "acme", "--metric", "api_calls", "--value", "-10000", "--reason", "x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("reason:"), "{}", String::from_utf8_lossy(&out.stderr));
    let out =
        run(&["--period", &p, "--tenant", "acme", "--metric", "api_calls", "--value", "500", "--reason", "late batch"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["tenant"]["api_calls"]["count"], 10000);
    assert_eq!(app.count_events("billing.period_adjusted").await, 3);

    // The billing system's receiver gets each adjustment, signed (Standard Webhooks).
    bulkhead::webhooks::send::spawn_sender(&app.state);
    let started = std::time::Instant::now();
    while received.bodies.lock().unwrap().len() < 3 && started.elapsed() < std::time::Duration::from_secs(20) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let bodies = received.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3, "every adjustment delivered, its signature verified: {bodies:?}");
    assert!(bodies.iter().all(|b| b["type"] == "billing.period_adjusted"));
    assert!(bodies.iter().any(|b| b["data"]["tenant"]["api_calls"]["count"] == 9500));
    assert_eq!(*received.refused.lock().unwrap(), 0, "no delivery failed its signature check");
}

/// What a billing system's receiver took: the bodies whose Standard Webhooks
/// signature verified, and how many did not.
#[derive(Clone, Default)]
struct Received {
    secret: Arc<Mutex<Option<String>>>,
    bodies: Arc<Mutex<Vec<Value>>>,
    refused: Arc<Mutex<usize>>,
}

async fn signed_receiver() -> (String, Received) {
    let received = Received::default();
    let taken = received.clone();
    let handler = move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
        let taken = taken.clone();
        async move {
            let secret = taken.secret.lock().unwrap().clone().expect("the secret is known before anything is sent");
            match standardwebhooks::Webhook::new(&secret).unwrap().verify(&body, &headers) {
                Ok(()) => {
                    taken.bodies.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                    axum::http::StatusCode::NO_CONTENT
                }
                Err(_) => {
                    *taken.refused.lock().unwrap() += 1;
                    axum::http::StatusCode::UNAUTHORIZED
                }
            }
        }
    };
    let router = axum::Router::new().route("/hooks", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}/hooks"), received)
}
