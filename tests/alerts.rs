//! Quota alerts and the webhooks that carry them: one alert per crossing of
//! 80 % and 100 % (hysteresis), audited, counted in the header, written to an
//! outbox with the usage that raised it, delivered signed as Standard
//! Webhooks define, retried until the receiver takes it, and an endpoint
//! answering 410 turned off.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bulkhead::audit::Actor;
use bulkhead::auth::Role;
use bulkhead::server::config::Config;
use bulkhead::tokens::ssr::{create, NewToken};
use common::{spawn_app_with, TestApp};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A webhook receiver: answers `failures` first attempts with 500 (or every
/// one with `always`), then checks the signature with the endpoint's secret.
#[derive(Default)]
struct Receiver {
    failures: usize,
    always: Option<u16>,
    secret: Option<String>,
    /// Every attempt's `webhook-id`.
    seen: Vec<String>,
    /// The bodies taken, signature verified.
    taken: Vec<Value>,
    refused_signatures: usize,
}

type Shared = Arc<Mutex<Receiver>>;

async fn receive(State(r): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut r = r.lock().unwrap();
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    r.seen.push(id);
    if let Some(code) = r.always {
        return StatusCode::from_u16(code).unwrap();
    }
    if r.seen.len() <= r.failures {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let secret = r.secret.clone().expect("the secret is known before anything is sent");
    match standardwebhooks::Webhook::new(&secret).unwrap().verify(&body, &headers) {
        Ok(()) => {
            r.taken.push(serde_json::from_slice(&body).unwrap());
            StatusCode::NO_CONTENT
        }
        Err(_) => {
            r.refused_signatures += 1;
            StatusCode::UNAUTHORIZED
        }
    }
}

async fn start_receiver(receiver: Receiver) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(receiver));
    let router = axum::Router::new().route("/hooks", axum::routing::post(receive)).with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}/hooks"), shared)
}

fn retrying_every_second() -> Config {
    Config { webhook_retry: vec![Duration::from_secs(1); 7], ..Config::default() }
}

/// A console retrying every second that may send to this machine (where the
/// test receivers listen), a free-tier tenant (10 users), an ingest token.
async fn arranged() -> (TestApp, String, uuid::Uuid) {
    let config = Config { webhook_allow_networks: vec!["127.0.0.0/8".parse().unwrap()], ..retrying_every_second() };
    let app = spawn_app_with(config).await;
    let acme: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO tenants (slug, name, tier_id, status) VALUES ('acme', 'Acme', 'free', 'active') RETURNING id",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    let token =
        create(&app.pool, &Actor::cli(), None, NewToken::parse("collector", &["ingest"], "").unwrap()).await.unwrap();
    app.start_routing().await;
    (app, token, acme)
}

/// Reports `users` for `tenant` now and folds it.
async fn report_users(app: &TestApp, token: &str, tenant: &str, users: i64) {
    let at = OffsetDateTime::now_utc().format(&Rfc3339).unwrap();
    let id = format!("{tenant}-{}", uuid::Uuid::new_v4());
    let body = json!({ "samples": [{ "id": id, "tenant": tenant, "metric": "users", "value": users, "at": at }] });
    let res =
        reqwest::Client::new().post(app.url("/api/v1/usage")).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    bulkhead::usage::fold::fold(&app.pool).await.unwrap();
}

async fn alerts(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("SELECT kind FROM quota_alerts ORDER BY id").fetch_all(&app.owner).await.unwrap()
}

/// Adds an endpoint through the console's form; answers the secret the page shows once.
async fn add_endpoint(app: &TestApp, admin: &reqwest::Client, url: &str, events: &[&str]) -> String {
    let mut fields = vec![("url", url), ("description", "billing")];
    fields.extend(events.iter().map(|e| ("events[]", *e)));
    let to = app.submit(admin, "create_webhook", &fields).await;
    assert!(to.starts_with("/settings/webhooks?form="), "{to}");
    let page = admin.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
    let start = page.find("whsec_").expect("the page shows the new secret");
    let end = page[start..].find('<').unwrap();
    let secret = page[start..start + end].to_string();
    let again = admin.get(app.url("/settings/webhooks")).send().await.unwrap().text().await.unwrap();
    assert!(again.contains(url) && !again.contains(&secret), "listed, the secret shown once");
    secret
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("waited 20 s for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_80_percent_alerts_once_and_a_failing_receiver_gets_it_exactly_once_signed() {
    let (app, token, acme) = arranged().await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    let (url, receiver) = start_receiver(Receiver { failures: 3, ..Receiver::default() }).await;
    let secret = add_endpoint(&app, &admin, &url, &["quota.warning", "quota.exceeded", "quota.recovered"]).await;
    receiver.lock().unwrap().secret = Some(secret);

    // Hovering around 80 % of 10 users raises one warning; under 75 % re-arms it.
    report_users(&app, &token, "acme", 5).await;
    assert!(alerts(&app).await.is_empty());
    for users in [8, 9, 8, 8] {
        report_users(&app, &token, "acme", users).await;
    }
    assert_eq!(alerts(&app).await, ["quota.warning"]);
    assert_eq!(app.count_events("quota.warning").await, 1, "audited once");
    let count: i64 = admin.post(app.url("/api/open_alert_count")).send().await.unwrap().json().await.unwrap();
    assert_eq!(count, 1, "the header counts it");
    let page = admin.get(app.url("/alerts")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Acme") && page.contains("80 % passed") && page.contains("8 of 10 (80 %)"), "{page}");
    let dashboard = admin.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    let near = &dashboard[dashboard.find("Nearest their quotas").expect("the dashboard lists them")..];
    assert!(near.contains("/tenants/acme/usage") && near.contains("8 of 10 (80 %)"), "{near}");

    // The message waited in the outbox: the sender starts only now, as after a restart.
    bulkhead::webhooks::send::spawn_sender(&app.state);
    wait_for("the fourth attempt to succeed", || receiver.lock().unwrap().taken.len() == 1).await;
    report_users(&app, &token, "acme", 12).await;
    report_users(&app, &token, "acme", 7).await;
    assert_eq!(alerts(&app).await, ["quota.warning", "quota.exceeded", "quota.recovered"]);
    wait_for("the next two events", || receiver.lock().unwrap().taken.len() == 3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    {
        let r = receiver.lock().unwrap();
        assert_eq!(r.refused_signatures, 0, "every delivery's signature checks out");
        let first = &r.taken[0];
        assert_eq!(first["type"], "quota.warning");
        assert_eq!(first["data"]["tenant"]["slug"], "acme");
        assert_eq!(first["data"]["tenant"]["id"], acme.to_string());
        assert_eq!((first["data"]["metric"].as_str(), first["data"]["used"].as_i64()), (Some("users"), Some(8)));
        let kinds: Vec<&str> = r.taken.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["quota.warning", "quota.exceeded", "quota.recovered"], "each event once, in order");
        // Four attempts at the first message, all with its one id.
        assert_eq!(r.seen.len(), 6, "{:?}", r.seen);
        assert!(r.seen[..4].iter().all(|id| id == &r.seen[0]) && r.seen[0].starts_with("msg_"));
    }
    let attempts: Vec<Option<i32>> = sqlx::query_scalar(
        "SELECT a.status FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
         WHERE d.id = (SELECT min(id) FROM webhook_deliveries) ORDER BY a.id",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert_eq!(attempts, [Some(500), Some(500), Some(500), Some(204)]);

    // The delivery log shows it, and "send again" sends the same message once more.
    let endpoint: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM webhook_endpoints").fetch_one(&app.owner).await.unwrap();
    let log = admin.get(app.url(&format!("/settings/webhooks/{endpoint}"))).send().await.unwrap().text().await.unwrap();
    assert!(log.contains("delivered") && log.contains("500") && log.contains("204"), "{log}");
    let first_delivery: i64 =
        sqlx::query_scalar("SELECT min(id) FROM webhook_deliveries").fetch_one(&app.owner).await.unwrap();
    let to = app
        .submit(
            &admin,
            "change_webhook",
            &[("id", &endpoint.to_string()), ("change", "again"), ("delivery", &first_delivery.to_string())],
        )
        .await;
    assert_eq!(to, format!("/settings/webhooks/{endpoint}?done=again"));
    wait_for("the message sent again", || receiver.lock().unwrap().taken.len() == 4).await;
    {
        let r = receiver.lock().unwrap();
        assert_eq!(r.taken[3], r.taken[0], "the same message, byte for byte");
    }
    assert_eq!(app.count_events("webhook.resent").await, 1, "sending again is audited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_answering_410_is_turned_off_and_audited() {
    let (app, _, _) = arranged().await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    let (url, receiver) = start_receiver(Receiver { always: Some(410), ..Receiver::default() }).await;
    add_endpoint(&app, &admin, &url, &["quota.warning"]).await;
    let endpoint: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM webhook_endpoints").fetch_one(&app.owner).await.unwrap();
    let to = app.submit(&admin, "change_webhook", &[("id", &endpoint.to_string()), ("change", "test")]).await;
    assert_eq!(to, format!("/settings/webhooks/{endpoint}?done=test"));
    bulkhead::webhooks::send::spawn_sender(&app.state);
    wait_for("the test event's attempt", || receiver.lock().unwrap().seen.len() == 1).await;
    let mut turned_off = false;
    for _ in 0..50 {
        let (enabled, reason): (bool, Option<String>) =
            sqlx::query_as("SELECT enabled, disabled_reason FROM webhook_endpoints")
                .fetch_one(&app.owner)
                .await
                .unwrap();
        if !enabled {
            assert!(reason.unwrap().contains("410"));
            turned_off = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(turned_off, "a 410 turns the endpoint off");
    assert_eq!(app.count_events("webhook.disabled").await, 1);

    // Nothing more goes to it: another test event waits, unsent.
    app.submit(&admin, "change_webhook", &[("id", &endpoint.to_string()), ("change", "test")]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.lock().unwrap().seen.len(), 1);
    let page =
        admin.get(app.url(&format!("/settings/webhooks/{endpoint}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("410 Gone") && page.contains("given up"), "{page}");
    assert_eq!(app.count_events("webhook.test_sent").await, 2);
}

#[tokio::test]
async fn api_calls_alert_from_the_routing_counts_and_each_tenant_sees_its_own() {
    let (app, _, acme) = arranged().await;
    let globex: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO tenants (slug, name, tier_id, status) VALUES ('globex', 'Globex', 'free', 'active') RETURNING id",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    for tenant in [acme, globex] {
        sqlx::query(
            "INSERT INTO quota_overrides (tenant_id, metric, value, reason) VALUES ($1, 'api_calls', 10, 'a small test month')",
        )
        .bind(tenant)
        .execute(&app.owner)
        .await
        .unwrap();
    }
    let now = OffsetDateTime::now_utc();
    for (tenant, calls) in [(acme, 10), (globex, 8)] {
        for _ in 0..calls {
            app.routing().meter.admit(tenant, 10, now);
        }
    }
    app.routing().flush(&app.pool).await.unwrap();
    let raised: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT t.slug, q.kind, q.period FROM quota_alerts q JOIN tenants t ON t.id = q.tenant_id ORDER BY t.slug",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    let month = format!("{:04}-{:02}", now.year(), now.month() as u8);
    assert_eq!(
        raised,
        [("acme".into(), "quota.exceeded".into(), month.clone()), ("globex".into(), "quota.warning".into(), month)]
    );
    // Flushing again, with no new calls, raises nothing.
    app.routing().flush(&app.pool).await.unwrap();
    assert_eq!(alerts(&app).await.len(), 2);

    // A call past the month's allowance throttles Acme: announced to the webhooks that asked.
    let admin = app.create_admin("ops@example.com", common::TEST_PASSWORD).await;
    let endpoint =
        bulkhead::webhooks::ssr::NewEndpoint::parse("https://ops.example/h", "", &["tenant.throttled"]).unwrap();
    bulkhead::webhooks::ssr::create(&app.state, &Actor::cli(), admin, endpoint).await.unwrap();
    assert!(matches!(app.routing().meter.admit(acme, 10, now), bulkhead::routing::meter::Admission::Spent { .. }));
    app.routing().flush(&app.pool).await.unwrap();
    let throttled: Vec<String> =
        sqlx::query_scalar("SELECT body FROM webhook_messages WHERE event_type = 'tenant.throttled'")
            .fetch_all(&app.owner)
            .await
            .unwrap();
    assert_eq!(throttled.len(), 1);
    assert!(throttled[0].contains(&acme.to_string()), "{throttled:?}");

    let acme_admin = app.tenant_admin(acme, "admin@acme.example").await;
    let count: i64 = acme_admin.post(app.url("/api/open_alert_count")).send().await.unwrap().json().await.unwrap();
    assert_eq!(count, 1, "a tenant admin counts their own tenant's alerts only");
    let page = acme_admin.get(app.url("/alerts")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Acme") && !page.contains("Globex"), "{page}");
    // And never reaches the webhooks.
    let to = app
        .submit(&acme_admin, "create_webhook", &[("url", "https://x.example/h"), ("events[]", "quota.warning")])
        .await;
    assert!(app.refusal(&acme_admin, &to, "/settings/webhooks", "_form").await.contains("permission"));
}

async fn version_of(app: &TestApp, table: &str, key: &str, id: &str) -> i32 {
    sqlx::query_scalar(&format!("SELECT version FROM {table} WHERE {key} = $1"))
        .bind(id)
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

/// The standard tier's terms with `users` as its user limit.
fn standard_terms(users: &str) -> bulkhead::tiers::ssr::TierEdit {
    let amounts = [
        ("cpu", "4 cores"),
        ("memory", "16 GiB"),
        ("storage", "200 GiB"),
        ("users", users),
        ("api_calls", "2,000,000"),
        ("db_connections", "150"),
    ];
    bulkhead::tiers::ssr::TierEdit {
        amounts: amounts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        levels: vec![1, 2],
        default_level: "1".into(),
        backup: "Daily".into(),
        support: "12 h".into(),
        rate: None,
        burst: None,
    }
}

#[tokio::test]
async fn a_quota_lowered_by_an_override_a_tier_change_or_a_tier_edit_raises_its_alert_with_the_change() {
    let (app, token, _) = arranged().await;
    let ops = Actor::cli();
    report_users(&app, &token, "acme", 5).await;
    assert!(alerts(&app).await.is_empty(), "5 of the free tier's 10 users");

    // Usage stays where it is: only the quota moves, and each change raises
    // (or clears) the alert in its own transaction.
    let v = version_of(&app, "tenants", "slug", "acme").await;
    bulkhead::tenants::ssr::set_override(&app.pool, &ops, "acme", v, "users", "6", "a smaller team").await.unwrap();
    assert_eq!(alerts(&app).await, ["quota.warning"], "5 of 6");
    let v = version_of(&app, "tenants", "slug", "acme").await;
    bulkhead::tenants::ssr::remove_override(&app.pool, &ops, "acme", v, "users").await.unwrap();
    assert_eq!(alerts(&app).await, ["quota.warning", "quota.recovered"], "5 of 10 again");

    let v = version_of(&app, "tenants", "slug", "acme").await;
    bulkhead::tenants::ssr::change_tier(&app.pool, &ops, "acme", v, "standard", "").await.unwrap();
    assert_eq!(alerts(&app).await.len(), 2, "5 of 1,000 raises nothing");
    let v = version_of(&app, "tiers", "id", "standard").await;
    bulkhead::tiers::ssr::update(&app.pool, &ops, "standard", v, standard_terms("5")).await.unwrap();
    assert_eq!(alerts(&app).await[2..], ["quota.exceeded"], "the standard tier cut to 5 users: its tenants alerted");
    let v = version_of(&app, "tenants", "slug", "acme").await;
    bulkhead::tenants::ssr::change_tier(&app.pool, &ops, "acme", v, "free", "").await.unwrap();
    assert_eq!(alerts(&app).await[3..], ["quota.recovered"], "back on the free tier, 5 of 10");

    // Each alert is audited and queued with the change that raised it.
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action LIKE 'quota.%'")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(audited, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_reach_no_private_address_unless_an_operator_allows_its_network() {
    let app = spawn_app_with(retrying_every_second()).await;
    let (url, receiver) = start_receiver(Receiver::default()).await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    // An address written as a number on a private network: refused under the field.
    for bad in [url.as_str(), "http://169.254.169.254/latest/meta-data", "http://[::1]/h", "https://0x7f.1/h"] {
        let to = app.submit(&admin, "create_webhook", &[("url", bad), ("events[]", "quota.warning")]).await;
        let echo = app.echo(&admin, &to).await;
        assert!(echo.error("url").is_some_and(|e| e.contains("private")), "{bad}: {echo:?}");
    }
    let endpoints: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints").fetch_one(&app.owner).await.unwrap();
    assert_eq!(endpoints, 0);

    // A name is checked each time it is resolved: "localhost" is saved, and
    // every attempt is refused before a connection is made.
    let named = url.replace("127.0.0.1", "localhost");
    let ops: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'ops@example.com'").fetch_one(&app.owner).await.unwrap();
    let new = bulkhead::webhooks::ssr::NewEndpoint::parse(&named, "", &["quota.warning"]).unwrap();
    bulkhead::webhooks::ssr::create(&app.state, &Actor::cli(), ops, new).await.unwrap();
    let endpoint: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM webhook_endpoints").fetch_one(&app.owner).await.unwrap();
    let to = app.submit(&admin, "change_webhook", &[("id", &endpoint.to_string()), ("change", "test")]).await;
    assert_eq!(to, format!("/settings/webhooks/{endpoint}?done=test"));
    bulkhead::webhooks::send::spawn_sender(&app.state);
    let mut refused = Vec::new();
    for _ in 0..100 {
        refused = sqlx::query_scalar("SELECT error FROM webhook_attempts WHERE error IS NOT NULL")
            .fetch_all(&app.owner)
            .await
            .unwrap();
        if refused.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused.len() >= 2, "tried again, refused again: {refused:?}");
    assert!(refused.iter().all(|e: &String| e.contains("private")), "{refused:?}");
    assert!(receiver.lock().unwrap().seen.is_empty(), "the receiver was never reached");
    // The page shows why, in the delivery log.
    let page =
        admin.get(app.url(&format!("/settings/webhooks/{endpoint}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("private or reserved network"), "{page}");
}

#[tokio::test]
async fn bad_endpoints_are_refused_by_field_and_nothing_is_written() {
    let (app, _, _) = arranged().await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    let auditor = app.signed_in(Role::PlatformAuditor, "audit@example.com").await;
    let to = app.submit(&admin, "create_webhook", &[("url", "ftp://files.example"), ("description", "")]).await;
    let echo = app.echo(&admin, &to).await;
    assert!(echo.error("url").unwrap().contains("http"), "{echo:?}");
    assert!(echo.error("events").unwrap().contains("at least one"), "{echo:?}");
    let to =
        app.submit(&auditor, "create_webhook", &[("url", "https://x.example/h"), ("events[]", "quota.warning")]).await;
    assert!(app.refusal(&auditor, &to, "/settings/webhooks", "_form").await.contains("permission"));
    let endpoints: i64 =
        sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints").fetch_one(&app.owner).await.unwrap();
    assert_eq!(endpoints, 0);
    // A message queued in a transaction that rolls back is never sent.
    let mut tx = bulkhead::server::db::begin(&app.pool, bulkhead::server::db::Scope::Platform).await.unwrap();
    sqlx::query(
        "INSERT INTO webhook_endpoints (url, event_types, secret_sealed) VALUES ('https://x.example/h', '{quota.warning}', '\\x00')",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    bulkhead::webhooks::outbox::enqueue(&mut tx, "quota.warning", json!({})).await.unwrap();
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(queued, 1);
    tx.rollback().await.unwrap();
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_messages").fetch_one(&app.owner).await.unwrap();
    assert_eq!(kept, 0);
}

/// A receiver that counts what reaches it and answers as `kind` says:
/// `normal` (204), `silent` (never), `stream` (200 and a body without end,
/// counting the bytes it managed to send) or `redirect` (307 to `to`).
async fn odd_receiver(
    kind: &'static str,
    to: Option<String>,
) -> (String, Arc<Mutex<Vec<Duration>>>, Arc<std::sync::atomic::AtomicU64>) {
    use axum::response::IntoResponse;
    let hits: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let streamed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = std::time::Instant::now();
    let (h, st) = (hits.clone(), streamed.clone());
    let handler = move || {
        let (h, st, to) = (h.clone(), st.clone(), to.clone());
        async move {
            h.lock().unwrap().push(started.elapsed());
            match kind {
                "silent" => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    StatusCode::NO_CONTENT.into_response()
                }
                "stream" => {
                    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
                    let body = futures_util::stream::repeat_with(move || {
                        st.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
                        Ok::<_, std::io::Error>(chunk.clone())
                    });
                    axum::body::Body::from_stream(body).into_response()
                }
                "redirect" => (StatusCode::TEMPORARY_REDIRECT, [("location", to.unwrap())]).into_response(),
                _ => StatusCode::NO_CONTENT.into_response(),
            }
        }
    };
    let router = axum::Router::new().route("/hooks", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}/hooks"), hits, streamed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_receiver_can_stall_another_or_the_sender() {
    let config = Config { webhook_allow_networks: vec!["127.0.0.0/8".parse().unwrap()], ..Config::default() };
    let app = spawn_app_with(config).await;
    sqlx::query("INSERT INTO tenants (slug, name, tier_id, status) VALUES ('acme', 'Acme', 'free', 'active')")
        .execute(&app.owner)
        .await
        .unwrap();
    let token =
        create(&app.pool, &Actor::cli(), None, NewToken::parse("collector", &["ingest"], "").unwrap()).await.unwrap();
    app.start_routing().await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    let (target, target_hits, _) = odd_receiver("normal", None).await;
    let (normal, normal_hits, _) = odd_receiver("normal", None).await;
    let (silent, silent_hits, _) = odd_receiver("silent", None).await;
    let (stream, stream_hits, streamed) = odd_receiver("stream", None).await;
    let (redirect, redirect_hits, _) = odd_receiver("redirect", Some(target)).await;
    for url in [&silent, &stream, &redirect, &normal] {
        add_endpoint(&app, &admin, url, &["quota.warning", "quota.exceeded"]).await;
    }
    bulkhead::webhooks::send::spawn_sender(&app.state);

    report_users(&app, &token, "acme", 8).await;
    wait_for("the warning at the normal receiver", || normal_hits.lock().unwrap().len() == 1).await;
    // The silent receiver still holds its attempt (15 s); the next event must not wait for it.
    let sent = std::time::Instant::now();
    report_users(&app, &token, "acme", 12).await;
    wait_for("the exceeded alert at the normal receiver", || normal_hits.lock().unwrap().len() == 2).await;
    let took = sent.elapsed();
    assert!(took < Duration::from_secs(2), "another endpoint's delivery arrived after {took:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;

    let streamed = streamed.load(std::sync::atomic::Ordering::Relaxed);
    assert!(streamed < 32 * 1024 * 1024, "the endless body was read no further than a cap: {streamed} bytes sent");
    assert!(!stream_hits.lock().unwrap().is_empty());
    assert_eq!(redirect_hits.lock().unwrap().len(), 2, "each event once at the redirecting receiver");
    assert!(target_hits.lock().unwrap().is_empty(), "the redirect was not followed");
    assert_eq!(silent_hits.lock().unwrap().len(), 1, "the silent receiver holds its one attempt");
    let most: i64 = sqlx::query_scalar(
        "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM webhook_attempts GROUP BY delivery_id) a",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(most, 1, "no attempt was made twice");
}
