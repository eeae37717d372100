//! `POST /api/v1/usage`: batches of samples into hourly buckets, idempotent by
//! sample id, refused whole on any bad sample (nothing written), fenced by
//! token scope, and read back under Row-Level Security.

mod common;

use bulkhead::audit::Actor;
use bulkhead::tokens::ssr::{create, NewToken};
use common::{spawn_app, TestApp};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

async fn arranged() -> (TestApp, String, uuid::Uuid) {
    let app = spawn_app().await;
    let acme: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO tenants (slug, name, tier_id, status) VALUES ('acme', 'Acme', 'standard', 'active') RETURNING id",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    sqlx::query("INSERT INTO tenants (slug, name, tier_id, status) VALUES ('globex', 'Globex', 'standard', 'active')")
        .execute(&app.owner)
        .await
        .unwrap();
    let token =
        create(&app.pool, &Actor::cli(), None, NewToken::parse("collector", &["ingest"], "").unwrap()).await.unwrap();
    app.start_routing().await;
    (app, token, acme)
}

fn at(ago: Duration) -> String {
    (OffsetDateTime::now_utc() - ago).format(&Rfc3339).unwrap()
}

async fn send(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    let res = reqwest::Client::new().post(app.url("/api/v1/usage")).bearer_auth(token).json(body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn written(app: &TestApp) -> (i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM usage_sample_ids), (SELECT coalesce(sum(samples), 0)::bigint FROM usage_hourly)",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_batch_lands_in_hourly_buckets_once_however_often_it_is_sent() {
    let (app, token, acme) = arranged().await;
    let batch = json!({ "samples": [
        { "id": "s-1", "tenant": "acme", "metric": "storage_bytes", "value": 100, "at": at(Duration::minutes(50)) },
        { "id": "s-2", "tenant": "acme", "metric": "storage_bytes", "value": 300, "at": at(Duration::minutes(20)) },
        { "id": "s-3", "tenant": acme.to_string(), "metric": "storage_bytes", "value": 200, "at": at(Duration::minutes(10)) },
        { "id": "s-4", "tenant": "globex", "metric": "users", "value": 7, "at": at(Duration::days(30)) },
    ]});
    let (status, answer) = send(&app, &token, &batch).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!((answer["new"].as_i64(), answer["known"].as_i64()), (Some(4), Some(0)));
    let (status, answer) = send(&app, &token, &batch).await;
    assert_eq!(
        (status, answer["new"].as_i64(), answer["known"].as_i64()),
        (200, Some(0), Some(4)),
        "a retry changes nothing"
    );
    assert_eq!(written(&app).await, (4, 0), "appended, not yet folded");
    assert_eq!(bulkhead::usage::fold::fold(&app.pool).await.unwrap(), 4);
    assert_eq!(bulkhead::usage::fold::fold(&app.pool).await.unwrap(), 0, "each sample folded once");
    assert_eq!(written(&app).await, (4, 4));

    // The newest sample is the current usage; max and average per hour.
    let (max, sum, n): (f64, f64, i64) = sqlx::query_as(
        "SELECT max(max_value), sum(sum_value), sum(samples)::bigint FROM usage_hourly WHERE tenant_id = $1 AND metric = 'storage_bytes'",
    )
    .bind(acme)
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!((max, sum, n), (300.0, 600.0, 3));
    let current = || async {
        sqlx::query_scalar::<_, i64>("SELECT value FROM usage_current WHERE tenant_id = $1 AND metric = 'storage'")
            .bind(acme)
            .fetch_one(&app.owner)
            .await
            .unwrap()
    };
    assert_eq!(current().await, 200, "the newest sample, not the largest");
    // A late sample lands in its bucket and leaves the current value alone.
    let late = json!({ "samples": [
        { "id": "late-1", "tenant": "acme", "metric": "storage_bytes", "value": 999, "at": at(Duration::hours(5)) },
    ]});
    assert_eq!(send(&app, &token, &late).await.0, 200);
    bulkhead::usage::fold::fold(&app.pool).await.unwrap();
    assert_eq!(current().await, 200, "a late sample is not the current usage");
    // The history is the buckets: one row per tenant, metric and hour, however often a tenant reports.
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_samples").fetch_one(&app.owner).await.unwrap();
    assert_eq!(rows, 0, "no row per sample or per fold besides the buckets");

    // A tenant admin reads their own buckets only.
    let mut tx = bulkhead::server::db::begin(&app.pool, bulkhead::server::db::Scope::Tenant(acme)).await.unwrap();
    let seen: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT metric FROM usage_hourly").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(seen, vec!["storage_bytes".to_string()]);
}

#[tokio::test]
async fn bad_input_is_refused_whole_with_a_reason_per_sample_and_nothing_written() {
    let (app, token, _) = arranged().await;
    let good = json!({ "id": "ok-1", "tenant": "acme", "metric": "users", "value": 1, "at": at(Duration::minutes(1)) });
    let batch = json!({ "samples": [
        good,
        { "id": "b-1", "tenant": "nobody", "metric": "users", "value": 1, "at": at(Duration::minutes(1)) },
        { "id": "b-2", "tenant": "acme", "metric": "gpu_hours", "value": 1, "at": at(Duration::minutes(1)) },
        { "id": "b-3", "tenant": "acme", "metric": "users", "value": -1, "at": at(Duration::minutes(1)) },
        { "id": "b-4", "tenant": "acme", "metric": "users", "value": 1, "at": at(-Duration::hours(1)) },
        { "id": "b-5", "tenant": "acme", "metric": "users", "value": 1, "at": at(Duration::days(36)) },
        { "id": "b-6", "tenant": "acme", "metric": "users", "value": "NaN", "at": "yesterday" },
    ]});
    let (status, answer) = send(&app, &token, &batch).await;
    assert_eq!(status, 422, "{answer}");
    let problems: Vec<(i64, String)> = answer["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["index"].as_i64().unwrap(), p["field"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        problems,
        vec![
            (1, "tenant".into()),
            (2, "metric".into()),
            (3, "value".into()),
            (4, "at".into()),
            (5, "at".into()),
            (6, "value".into()),
            (6, "at".into())
        ]
    );
    assert!(answer["problems"][3]["reason"].as_str().unwrap().contains("future"));
    bulkhead::usage::fold::fold(&app.pool).await.unwrap();
    assert_eq!(written(&app).await, (0, 0), "nothing of the batch, not even its good sample");

    let many: Vec<Value> = (0..1001)
        .map(|i| json!({ "id": format!("m-{i}"), "tenant": "acme", "metric": "users", "value": 1, "at": at(Duration::minutes(1)) }))
        .collect();
    let (status, answer) = send(&app, &token, &json!({ "samples": many })).await;
    assert_eq!(status, 422);
    assert!(answer["problems"][0]["reason"].as_str().unwrap().contains("at most 1000"), "{answer}");

    let res = reqwest::Client::new()
        .post(app.url("/api/v1/usage"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(vec![b' '; 10 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413, "a 10 MB body");
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/usage"))
        .bearer_auth(&token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("not JSON"));

    // Tokens: none, wrong, out of scope.
    let routing =
        create(&app.pool, &Actor::cli(), None, NewToken::parse("edge", &["routing"], "").unwrap()).await.unwrap();
    let (status, _) = send(&app, "bkh_wrong", &json!({ "samples": [] })).await;
    assert_eq!(status, 401);
    let mut fenced = 0;
    for _ in 0..100 {
        fenced = send(&app, &routing, &json!({ "samples": [] })).await.0;
        if fenced != 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(fenced, 403, "a token without the ingest scope");
    assert_eq!(written(&app).await, (0, 0));
    // The server is still up.
    assert_eq!(reqwest::get(app.url("/livez")).await.unwrap().status(), 204);
}

#[tokio::test]
async fn the_usage_page_draws_30_days_against_the_quota_for_whoever_may_see_them() {
    let (app, token, acme) = arranged().await;
    // A year of hourly users for Acme (quota 1,000 on Standard), with one peak of
    // 900 ten days ago and a larger one 40 days ago, outside the chart.
    sqlx::query(
        "INSERT INTO usage_hourly (tenant_id, metric, hour, last_value, last_at, max_value, sum_value, samples)
         SELECT $1, 'users', h, 100, h, CASE WHEN h = date_trunc('hour', now()) - interval '10 days' THEN 900
                                             WHEN h = date_trunc('hour', now()) - interval '40 days' THEN 990 ELSE 100 END, 200, 2
           FROM generate_series(date_trunc('hour', now()) - interval '365 days', date_trunc('hour', now()), interval '1 hour') AS h",
    )
    .bind(acme)
    .execute(&app.owner)
    .await
    .unwrap();
    let (status, _) = send(
        &app,
        &token,
        &json!({ "samples": [{ "id": "now-1", "tenant": "acme", "metric": "users", "value": 850, "at": at(Duration::minutes(1)) }] }),
    )
    .await;
    assert_eq!(status, 200);
    bulkhead::usage::fold::fold(&app.pool).await.unwrap();
    let now = OffsetDateTime::now_utc();
    for _ in 0..42 {
        app.routing().meter.admit(acme, 1_000_000, now);
    }
    app.routing().flush(&app.pool).await.unwrap();

    let admin = app.signed_in(bulkhead::auth::Role::PlatformAuditor, "audit@example.com").await;
    let page = admin.get(app.url("/tenants/acme/usage")).send().await.unwrap().text().await.unwrap();
    let peak_day = (now - Duration::days(10)).date().to_string();
    let old_day = (now - Duration::days(40)).date().to_string();
    let body = &page[page.find("<main").unwrap_or(0)..];
    assert!(page.contains(r#"<title id="chart-users-title">Users</title>"#), "{body}");
    assert!(
        body.contains(&format!("Peak 900 on {peak_day}. Quota 1,000; at or over 80 % on 2 of 30 days")),
        "the peak day and today (850): {body}"
    );
    assert!(page.contains(r#"class="chart-quota""#) && page.contains(r#"class="chart-warn""#), "quota and 80 % lines");
    assert!(!page.contains(&old_day), "nothing older than 30 days");
    assert!(page.contains("850 of 1,000 (85 %)"), "the meter reads the newest sample");
    assert!(page.contains(r#"class="meter meter-warning""#), "amber from 80 %");
    assert!(page.contains(r#"class="chart-bar""#), "API calls per day, as bars");
    assert!(page.contains(">42<"), "today's calls in the table");

    // A tenant admin reads their own usage, and finds nothing of another tenant's.
    let globex: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'globex'").fetch_one(&app.owner).await.unwrap();
    let globex_admin = app.tenant_admin(globex, "admin@globex.example").await;
    let own = globex_admin.get(app.url("/usage")).send().await.unwrap().text().await.unwrap();
    assert!(own.contains("Usage · Globex") && !own.contains("Peak 900"), "{own}");
    let res = globex_admin.post(app.url("/api/tenant_usage")).form(&[("slug", "acme")]).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

/// The first instant of the current month (UTC), less `before`.
fn before_this_month(before: Duration) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_day(1).unwrap().replace_time(time::Time::MIDNIGHT) - before
}

#[tokio::test]
async fn values_no_bucket_can_hold_are_refused_whole_naming_the_sample() {
    let (app, token, _) = arranged().await;
    let good = json!({ "id": "ok", "tenant": "acme", "metric": "users", "value": 3, "at": at(Duration::minutes(5)) });
    for (bad, why) in [
        (json!(18446744073709551615u64), "an unsigned −1"),
        (json!(1e308), "1e308"),
        (json!(2.5), "half a user"),
        (json!(-1), "below zero"),
        (json!(2_000_000_000i64), "more users than any platform has"),
    ] {
        let body = json!({ "samples": [good, { "id": "bad", "tenant": "acme", "metric": "users", "value": bad, "at": at(Duration::minutes(5)) }] });
        let (status, answer) = send(&app, &token, &body).await;
        assert_eq!(status, 422, "{why}: {answer}");
        assert_eq!(answer["problems"].as_array().unwrap().len(), 1, "{why}: {answer}");
        assert_eq!(
            (answer["problems"][0]["index"].as_i64(), answer["problems"][0]["field"].as_str()),
            (Some(1), Some("value")),
            "{why}"
        );
    }
    // Whole numbers in any JSON spelling are taken, within the metric's bound.
    let body = json!({ "samples": [
        { "id": "a", "tenant": "acme", "metric": "storage_bytes", "value": 9007199254740992u64, "at": at(Duration::minutes(5)) },
        { "id": "b", "tenant": "acme", "metric": "users", "value": 2.0, "at": at(Duration::minutes(5)) },
        { "id": "c", "tenant": "acme", "metric": "cpu_millicores", "value": 1e3, "at": at(Duration::minutes(5)) },
    ]});
    let (status, answer) = send(&app, &token, &body).await;
    assert_eq!((status, answer["new"].as_i64()), (200, Some(3)), "{answer}");
    assert_eq!(written(&app).await.0, 3, "nothing of the refused batches");
}

#[tokio::test]
async fn rows_the_fold_cannot_take_are_set_aside_and_every_other_tenant_keeps_moving() {
    let (app, token, acme) = arranged().await;
    // A receiver for the alert the good sample raises.
    sqlx::query("INSERT INTO webhook_endpoints (url, event_types, secret_sealed) VALUES ('https://hooks.example/in', ARRAY['quota.warning'], '\\x00')")
        .execute(&app.owner)
        .await
        .unwrap();
    // Rows no ingestion would write, put there by hand (or by an older version).
    sqlx::query(
        "INSERT INTO usage_raw (tenant_id, metric, at, value) VALUES
           ($1, 'storage_bytes', now(), 18446744073709551615),
           ($1, 'bogus', now(), 1),
           ('9b2f3c1e-0000-4000-8000-000000000000', 'users', now(), 1),
           ($1, 'users', now(), 0.5),
           ($1, 'users', $2, 1)",
    )
    .bind(acme)
    .bind(before_this_month(Duration::hours(1)))
    .execute(&app.owner)
    .await
    .unwrap();
    sqlx::query("INSERT INTO billing_periods (month, tenants) VALUES (date_trunc('month', now() AT TIME ZONE 'UTC')::date - interval '1 month', 0)")
        .execute(&app.owner)
        .await
        .unwrap();
    // And one the database refuses for a reason nobody foresaw (here: a constraint added by hand).
    sqlx::query("ALTER TABLE usage_hourly ADD CONSTRAINT no_thirteen CHECK (max_value <> 13)")
        .execute(&app.owner)
        .await
        .unwrap();
    sqlx::query("INSERT INTO usage_raw (tenant_id, metric, at, value) VALUES ($1, 'db_connections', now(), 13)")
        .bind(acme)
        .execute(&app.owner)
        .await
        .unwrap();
    let body = json!({ "samples": [{ "id": "g-1", "tenant": "globex", "metric": "users", "value": 900, "at": at(Duration::minutes(1)) }] });
    assert_eq!(send(&app, &token, &body).await.0, 200);

    bulkhead::usage::fold::fold(&app.pool).await.unwrap();
    let reasons: Vec<String> =
        sqlx::query_scalar("SELECT reason FROM usage_quarantine ORDER BY id").fetch_all(&app.owner).await.unwrap();
    assert_eq!(reasons.len(), 6, "{reasons:?}");
    for expected in [
        "value out of range",
        "unknown metric",
        "no such tenant",
        "not a whole number",
        "closed for billing",
        "no_thirteen",
    ] {
        assert!(reasons.iter().any(|r| r.contains(expected)), "{expected}: {reasons:?}");
    }
    assert_eq!(sqlx::query_scalar::<_, i64>("SELECT count(*) FROM usage_raw").fetch_one(&app.owner).await.unwrap(), 0);
    let globex_users: i64 = sqlx::query_scalar(
        "SELECT value FROM usage_current c JOIN tenants t ON t.id = c.tenant_id WHERE t.slug = 'globex' AND metric = 'users'",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(globex_users, 900, "the good sample reached its tenant's current usage");
    let alerted: i64 = sqlx::query_scalar("SELECT count(*) FROM quota_alerts a JOIN tenants t ON t.id = a.tenant_id WHERE t.slug = 'globex' AND kind = 'quota.warning'")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(alerted, 1, "and its alert");
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_messages WHERE event_type = 'quota.warning'")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(queued, 1, "and its webhook");
    assert!(bulkhead::usage::fold_stats::quarantined_total() >= 6);
    assert!(bulkhead::usage::fold_stats::fold_lag().is_some_and(|l| l.is_zero()), "nothing left behind");
    // Platform admins see what was set aside, and why.
    let admin = app.signed_in(bulkhead::auth::Role::PlatformAdmin, "ops@example.com").await;
    let page = admin.get(app.url("/alerts")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Usage samples set aside") && page.contains("no such tenant"), "the alerts page lists them");
}

#[tokio::test]
async fn sample_ids_belong_to_their_tenant_and_parallel_retries_are_stored_once() {
    let (app, token, _) = arranged().await;
    let body = json!({ "samples": [
        { "id": "s-1", "tenant": "acme", "metric": "users", "value": 1, "at": at(Duration::minutes(3)) },
        { "id": "s-1", "tenant": "globex", "metric": "users", "value": 2, "at": at(Duration::minutes(3)) },
        { "id": "s-2", "tenant": "acme", "metric": "users", "value": 3, "at": at(Duration::minutes(2)) },
        { "id": "s-2", "tenant": "acme", "metric": "users", "value": 3, "at": at(Duration::minutes(2)) },
    ]});
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (client, url, token, body) =
            (reqwest::Client::new(), app.url("/api/v1/usage"), token.clone(), body.clone());
        tasks.spawn(async move {
            let res = client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        });
    }
    let (mut new, mut known) = (0, 0);
    while let Some(answer) = tasks.join_next().await {
        let answer = answer.unwrap();
        assert_eq!(answer["received"], 4, "{answer}");
        new += answer["new"].as_i64().unwrap();
        known += answer["known"].as_i64().unwrap();
    }
    assert_eq!((new, known), (3, 37), "three samples, each stored once: acme's s-1, globex's s-1, acme's s-2");
    assert_eq!(written(&app).await.0, 3);
    assert_eq!(sqlx::query_scalar::<_, i64>("SELECT count(*) FROM usage_raw").fetch_one(&app.owner).await.unwrap(), 3);
}

#[tokio::test]
async fn a_month_closed_for_billing_takes_no_late_sample() {
    let (app, token, _) = arranged().await;
    sqlx::query("INSERT INTO billing_periods (month, tenants) VALUES (date_trunc('month', now() AT TIME ZONE 'UTC')::date - interval '1 month', 0)")
        .execute(&app.owner)
        .await
        .unwrap();
    let late = before_this_month(Duration::hours(1)).format(&Rfc3339).unwrap();
    let body = json!({ "samples": [
        { "id": "now", "tenant": "acme", "metric": "users", "value": 1, "at": at(Duration::minutes(1)) },
        { "id": "late", "tenant": "acme", "metric": "users", "value": 1, "at": late },
    ]});
    let (status, answer) = send(&app, &token, &body).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        (answer["problems"][0]["index"].as_i64(), answer["problems"][0]["field"].as_str()),
        (Some(1), Some("at"))
    );
    assert!(answer["problems"][0]["reason"].as_str().unwrap().contains("closed for billing"), "{answer}");
    assert_eq!(written(&app).await.0, 0, "nothing of the batch");
}

/// The official CloudEvents SDK (PyPI `cloudevents`, in target/venv) sends
/// one structured event and a batch holding a retry of it.
async fn cloudevents_sdk(app: &TestApp, token: &str, tenant: &str) -> Vec<Value> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new(root.join("target/venv/bin/python"))
        .arg(root.join("tests/clients/cloudevents_send.py"))
        .args([&app.url("/api/v1/usage"), token, tenant, "//collector/eu-1"])
        .output()
        .await
        .expect("target/venv holds the CloudEvents SDK (scripts/test installs it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

async fn send_as(app: &TestApp, token: &str, content_type: &str, body: &Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/usage"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn cloudevents_from_the_official_sdk_are_ingested_and_a_bad_event_is_named() {
    let (app, token, acme) = arranged().await;
    let answers = cloudevents_sdk(&app, &token, "acme").await;
    assert_eq!(answers[0]["status"], 200, "{answers:?}");
    assert_eq!((answers[0]["body"]["received"].as_i64(), answers[0]["body"]["new"].as_i64()), (Some(1), Some(1)));
    assert_eq!(answers[1]["status"], 200, "{answers:?}");
    assert_eq!(
        (
            answers[1]["body"]["received"].as_i64(),
            answers[1]["body"]["new"].as_i64(),
            answers[1]["body"]["known"].as_i64()
        ),
        (Some(3), Some(2), Some(1)),
        "source + id make the sample's id: the retried event is known"
    );
    bulkhead::usage::fold::fold(&app.pool).await.unwrap();
    let current: Vec<(String, i64)> =
        sqlx::query_as("SELECT metric, value FROM usage_current WHERE tenant_id = $1 ORDER BY metric")
            .bind(acme)
            .fetch_all(&app.owner)
            .await
            .unwrap();
    assert_eq!(current, [("storage".to_string(), 1_048_576), ("users".to_string(), 9)]);
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM usage_sample_ids WHERE tenant_id = $1 ORDER BY id")
        .bind(acme)
        .fetch_all(&app.owner)
        .await
        .unwrap();
    assert_eq!(ids, ["//collector/eu-1 ev-1", "//collector/eu-1 ev-2", "//collector/eu-1 ev-3"]);

    // Malformed events: refused whole, each problem by the event's index and attribute.
    let good = json!({ "specversion": "1.0", "type": "bulkhead.usage", "source": "//c", "id": "x-1", "subject": "globex",
                       "time": at(Duration::minutes(1)), "data": { "metric": "users", "value": 3 } });
    let mut wrong_type = good.clone();
    wrong_type["id"] = json!("x-2");
    wrong_type["type"] = json!("com.example.clicks");
    let mut too_big = good.clone();
    too_big["id"] = json!("x-3");
    too_big["data"]["value"] = json!(18446744073709551615u64);
    let mut nobody = good.clone();
    nobody["id"] = json!("x-4");
    nobody["subject"] = json!("nobody");
    nobody.as_object_mut().unwrap().remove("specversion");
    let batch = json!([good, wrong_type, too_big, nobody]);
    let (status, answer) = send_as(&app, &token, "application/cloudevents-batch+json", &batch).await;
    assert_eq!(status, 422, "{answer}");
    let named: Vec<(i64, &str)> = answer["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["index"].as_i64().unwrap(), p["field"].as_str().unwrap()))
        .collect();
    assert_eq!(named, [(1, "type"), (2, "data.value"), (3, "subject"), (3, "specversion")]);
    let (status, _) = send_as(&app, &token, "application/cloudevents+json", &batch).await;
    assert_eq!(status, 422, "a structured event is one object");
    let (status, _) = send_as(&app, &token, "text/csv", &batch).await;
    assert_eq!(status, 415);
    assert_eq!(written(&app).await.0, 3, "nothing of the refused batches");
}
