//! The audit trail over HTTP: filters, paging, one event, exports, the chain
//! check, and a tenant admin who sees only their tenant's events.

mod common;

use bulkhead::audit::{self, Actor, EventDetail, EventPage, NewEvent, Verification};
use bulkhead::auth::Role;
use bulkhead::server::db::{self, Scope};
use common::{spawn_app, TestApp};
use serde_json::json;
use std::collections::BTreeSet;
use uuid::Uuid;

async fn tenant(app: &TestApp, slug: &str) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO tenants (slug, name, tier_id, isolation_level, status) VALUES ($1, $1, 'standard', 1, 'active') RETURNING id",
    )
    .bind(slug)
    .fetch_one(&app.owner)
    .await
    .unwrap()
}

/// Appends one event as `email` and returns its id.
async fn event(app: &TestApp, email: &str, action: &str, tenant: Option<Uuid>, n: i64) -> i64 {
    let actor = Actor {
        email: Some(email.to_string()),
        role: Some("platform_admin".into()),
        ip: Some("192.0.2.7".into()),
        user_agent: Some("Integration/1.0".into()),
        ..Actor::default()
    };
    let mut tx = db::begin(&app.pool, Scope::Platform).await.unwrap();
    let mut e = NewEvent::new(action).target(format!("thing-{n}")).before(json!({ "n": n, "tier_id": "standard" }));
    e = e.after(json!({ "n": n, "tier_id": "premium" }));
    if let Some(t) = tenant {
        e = e.tenant(t);
    }
    audit::record(&mut tx, &actor, e).await.unwrap();
    let id: i64 = sqlx::query_scalar("SELECT max(id) FROM audit_events").fetch_one(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    id
}

async fn page(app: &TestApp, client: &reqwest::Client, filters: &[(&str, &str)]) -> reqwest::Response {
    client.post(app.url("/api/audit_events")).form(filters).send().await.unwrap()
}

async fn ids(app: &TestApp, client: &reqwest::Client, filters: &[(&str, &str)]) -> Vec<i64> {
    let res = page(app, client, filters).await;
    assert_eq!(res.status(), 200, "{filters:?}");
    let body: EventPage = res.json().await.unwrap();
    body.events.iter().map(|e| e.id).collect()
}

/// Two tenants, two actors, two actions: 8 events, ids returned in order.
async fn scenario(app: &TestApp) -> (Uuid, Uuid, Vec<i64>) {
    let a = tenant(app, "acme").await;
    let b = tenant(app, "globex").await;
    let mut ids = Vec::new();
    for (i, (who, action, t)) in [
        ("x@example.com", "tenant.tier_changed", a),
        ("y@example.com", "tenant.tier_changed", a),
        ("x@example.com", "tenant.suspended", a),
        ("y@example.com", "tenant.suspended", b),
        ("x@example.com", "tenant.tier_changed", b),
        ("y@example.com", "tenant.tier_changed", b),
        ("x@example.com", "tenant.suspended", b),
        ("x@example.com", "tenant.tier_changed", a),
    ]
    .into_iter()
    .enumerate()
    {
        ids.push(event(app, who, action, Some(t), i as i64).await);
    }
    (a, b, ids)
}

#[tokio::test]
async fn filters_combine_and_select_exactly_the_matching_events() {
    let app = spawn_app().await;
    let (_, _, e) = scenario(&app).await;
    let client = app.signed_in(Role::PlatformAuditor, "auditor@example.com").await;
    // The auditor's own sign-in and account creation are in the trail too.
    let all = ids(&app, &client, &[]).await;
    assert!(all.windows(2).all(|w| w[0] > w[1]), "newest first: {all:?}");
    for id in &e {
        assert!(all.contains(id));
    }

    let newest_first = |picked: &[usize]| picked.iter().rev().map(|&i| e[i]).collect::<Vec<_>>();
    assert_eq!(ids(&app, &client, &[("tenant", "acme")]).await, newest_first(&[0, 1, 2, 7]));
    assert_eq!(ids(&app, &client, &[("actor", "Y@example.com")]).await, newest_first(&[1, 3, 5]));
    assert_eq!(ids(&app, &client, &[("action", "tenant.suspended")]).await, newest_first(&[2, 3, 6]));
    assert_eq!(
        ids(&app, &client, &[("tenant", "globex"), ("action", "tenant.tier_changed"), ("actor", "x@example.com")])
            .await,
        newest_first(&[4])
    );

    let today = time::OffsetDateTime::now_utc().date();
    let day = |d: time::Date| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
    let (yesterday, tomorrow) = (day(today.previous_day().unwrap()), day(today.next_day().unwrap()));
    assert_eq!(ids(&app, &client, &[("tenant", "acme"), ("from", &day(today)), ("to", &day(today))]).await.len(), 4);
    assert!(ids(&app, &client, &[("to", &yesterday)]).await.is_empty());
    assert!(ids(&app, &client, &[("from", &tomorrow)]).await.is_empty());

    // Bad filters are refused field by field; an unknown tenant is named as such.
    let res = page(&app, &client, &[("tenant", "nobody-here"), ("from", "2026-99-01")]).await;
    assert_eq!(res.status(), 422);
    let res = page(&app, &client, &[("tenant", "nobody-here")]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("No tenant has this slug"));

    // The page itself, as a browser without JavaScript gets it: filters in the address.
    let html = client.get(app.url("/audit?tenant=globex&action=tenant.suspended")).send().await.unwrap();
    assert_eq!(html.status(), 200);
    let html = html.text().await.unwrap();
    assert!(html.contains(&format!("href=\"/audit/{}\"", e[6])), "the matching event is listed");
    assert!(!html.contains(&format!("href=\"/audit/{}\"", e[2])), "acme's suspension is not");
    assert!(
        html.contains("/audit/export?format=csv&amp;tenant=globex&amp;action=tenant.suspended"),
        "export keeps the filters"
    );
}

#[tokio::test]
async fn keyset_paging_walks_every_event_once() {
    let app = spawn_app().await;
    let t = tenant(&app, "pager").await;
    let mut mine = Vec::new();
    for i in 0..120 {
        mine.push(event(&app, "bulk@example.com", "tenant.tier_changed", Some(t), i).await);
    }
    let client = app.signed_in(Role::PlatformAdmin, "admin@example.com").await;
    let mut seen = Vec::new();
    let mut before: Option<i64> = None;
    let mut pages = 0;
    loop {
        let cursor = before.map(|b| b.to_string()).unwrap_or_default();
        let res = page(&app, &client, &[("tenant", "pager"), ("before", &cursor)]).await;
        let body: EventPage = res.json().await.unwrap();
        pages += 1;
        assert!(body.events.len() <= 50);
        seen.extend(body.events.iter().map(|e| e.id));
        match body.next {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    mine.reverse();
    assert_eq!(seen, mine, "every event once, newest first");
}

#[tokio::test]
async fn an_event_opens_with_who_where_and_what_changed() {
    let app = spawn_app().await;
    let (_, _, e) = scenario(&app).await;
    let client = app.signed_in(Role::PlatformAdmin, "admin@example.com").await;
    let res = client.post(app.url("/api/audit_event")).form(&[("id", e[3].to_string())]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let d: EventDetail = res.json().await.unwrap();
    assert_eq!(d.actor_email.as_deref(), Some("y@example.com"));
    assert_eq!(d.ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(d.user_agent.as_deref(), Some("Integration/1.0"));
    assert_eq!(d.tenant_slug.as_deref(), Some("globex"));
    assert_eq!(d.hash.len(), 64);

    let html = client.get(app.url(&format!("/audit/{}", e[3]))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Before and after"));
    assert!(html.contains("Integration/1.0"));
    assert!(html.contains("diff-changed"), "tier_id changed");
    assert!(html.contains("standard") && html.contains("premium"));

    let missing = client.post(app.url("/api/audit_event")).form(&[("id", "999999")]).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

fn csv_ids(body: &str) -> Vec<i64> {
    let mut lines = body.split("\r\n").filter(|l| !l.is_empty());
    assert!(lines.next().unwrap().starts_with("id,occurred_at,"), "a header line");
    lines.map(|l| l.split(',').next().unwrap().parse().unwrap()).collect()
}

#[tokio::test]
async fn exports_hold_exactly_the_filtered_events() {
    let app = spawn_app().await;
    let (_, b, _) = scenario(&app).await;
    let client = app.signed_in(Role::PlatformAuditor, "auditor@example.com").await;
    let expected: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM audit_events WHERE tenant_id = $1 AND action = 'tenant.tier_changed' ORDER BY id DESC",
    )
    .bind(b)
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert_eq!(expected.len(), 2);

    let res =
        client.get(app.url("/audit/export?format=csv&tenant=globex&action=tenant.tier_changed")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
    assert_eq!(csv_ids(&res.text().await.unwrap()), expected);

    let res = client
        .get(app.url("/audit/export?format=jsonl&tenant=globex&action=tenant.tier_changed"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let lines: Vec<EventDetail> = res.text().await.unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.iter().map(|e| e.id).collect::<Vec<_>>(), expected);
    assert_eq!(lines[0].after.as_ref().unwrap()["tier_id"], "premium");

    // Unfiltered: every event there was when it started, newest first (the export's own event included).
    let res = client.get(app.url("/audit/export?format=csv")).send().await.unwrap();
    let exported = csv_ids(&res.text().await.unwrap());
    let all: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM audit_events ORDER BY id DESC").fetch_all(&app.owner).await.unwrap();
    assert_eq!(exported, all);
    assert_eq!(app.count_events("audit.exported").await, 3, "every export is on record");

    let bad = client.get(app.url("/audit/export?format=xlsx")).send().await.unwrap();
    assert_eq!(bad.status(), 422);
    let anonymous = app.client().get(app.url("/audit/export?format=csv")).send().await.unwrap();
    assert_ne!(anonymous.status(), 200);
}

/// Every event of `tenant`, read as the owner.
async fn tenant_events(app: &TestApp, tenant: Uuid) -> BTreeSet<i64> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM audit_events WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_all(&app.owner)
        .await
        .unwrap();
    ids.into_iter().collect()
}

#[tokio::test]
async fn a_tenant_admin_sees_only_their_tenants_events() {
    let app = spawn_app().await;
    let (a, _b, e) = scenario(&app).await;
    let client = app.tenant_admin(a, "owner@acme.example").await;

    // No filter at all: the database alone limits the answer to acme.
    let seen: BTreeSet<i64> = ids(&app, &client, &[]).await.into_iter().collect();
    let acme = tenant_events(&app, a).await;
    assert_eq!(seen, acme);
    assert!(seen.contains(&e[0]) && !seen.contains(&e[3]));
    let own_sign_in: i64 = sqlx::query_scalar(
        "SELECT id FROM audit_events WHERE action = 'auth.login.succeeded' AND actor_email = 'owner@acme.example'",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert!(seen.contains(&own_sign_in), "their own sign-in is in their tenant's trail");

    // Another tenant's slug is unknown, its events are not found, its rows are not exported.
    assert_eq!(page(&app, &client, &[("tenant", "globex")]).await.status(), 422);
    let other = client.post(app.url("/api/audit_event")).form(&[("id", e[3].to_string())]).send().await.unwrap();
    assert_eq!(other.status(), 404);
    let export = client.get(app.url("/audit/export?format=csv")).send().await.unwrap().text().await.unwrap();
    let exported: BTreeSet<i64> = csv_ids(&export).into_iter().collect();
    let acme_now = tenant_events(&app, a).await;
    assert_eq!(exported, acme_now, "acme's events, its export's own event included");
    assert!(!exported.contains(&e[3]));

    // The chain check is for platform staff.
    assert_eq!(client.post(app.url("/api/audit_verify")).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn verification_from_the_console_names_the_altered_event() {
    let app = spawn_app().await;
    let (_, _, e) = scenario(&app).await;
    let client = app.signed_in(Role::PlatformAuditor, "auditor@example.com").await;
    let v: Verification = client.post(app.url("/api/audit_verify")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v.first_broken, None);
    assert!(v.checked >= 8);
    assert_eq!(app.count_events("audit.verified").await, 1, "the check itself is on record");

    sqlx::query("UPDATE audit_events SET after = '{\"tier_id\": \"enterprise\"}' WHERE id = $1")
        .bind(e[5])
        .execute(&app.owner)
        .await
        .unwrap();
    // Verification is a POST; the browser lands on the page of its record.
    assert_eq!(client.get(app.url("/audit/verify?run=1")).send().await.unwrap().status(), 200);
    assert_eq!(app.count_events("audit.verified").await, 1, "a GET runs nothing");
    let to = app.submit(&client, "audit_verify", &[]).await;
    assert!(to.starts_with("/audit/verify?result="), "{to}");
    let html = client.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(&format!("the chain breaks at event #{}", e[5])), "{html}");
    // An address cannot make the page say anything the trail does not: another event shows nothing.
    let other =
        client.get(app.url(&format!("/audit/verify?result={}", e[0]))).send().await.unwrap().text().await.unwrap();
    assert!(!other.contains("Intact") && !other.contains("breaks at"), "{other}");

    // Removing the newest events shows too: the chain head points past them.
    sqlx::query("DELETE FROM audit_events WHERE id > $1").bind(e[7]).execute(&app.owner).await.unwrap();
    sqlx::query("UPDATE audit_events SET after = before WHERE id = $1").bind(e[5]).execute(&app.owner).await.unwrap();
    let mut tx = db::begin(&app.pool, Scope::Platform).await.unwrap();
    let report = audit::verify_chain(&mut tx).await.unwrap();
    assert_eq!(report.first_broken, Some(e[5]), "still the altered one first");
    sqlx::query("UPDATE audit_events SET after = jsonb_build_object('n', 5, 'tier_id', 'premium') WHERE id = $1")
        .bind(e[5])
        .execute(&app.owner)
        .await
        .unwrap();
    let report = audit::verify_chain(&mut tx).await.unwrap();
    assert_eq!(report.first_broken, Some(e[7] + 1), "then the first removed id");
}

#[tokio::test]
async fn a_tenant_admin_sees_platform_staff_as_platform_staff_only() {
    let app = spawn_app().await;
    let acme = tenant(&app, "acme").await;
    let staff = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    let owner = app.tenant_admin(acme, "owner@acme.example").await;
    app.submit(&staff, "set_deletion_protection", &[("slug", "acme"), ("version", "1"), ("protect", "on")]).await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM audit_events WHERE action = 'tenant.deletion_protection'")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    let stored: Option<String> =
        sqlx::query_scalar("SELECT ip FROM audit_events WHERE id = $1").bind(id).fetch_one(&app.owner).await.unwrap();
    assert!(stored.is_some(), "the trail keeps the address");

    // The tenant admin: the event, without who exactly, from where, with what.
    let seen: EventDetail = owner
        .post(app.url("/api/audit_event"))
        .form(&[("id", id.to_string())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen.actor_email.as_deref(), Some("Platform staff"));
    assert_eq!((seen.ip, seen.user_agent, seen.actor_user_id), (None, None, None));
    let export = owner.get(app.url("/audit/export?format=jsonl")).send().await.unwrap().text().await.unwrap();
    assert!(!export.contains("ops@example.com") && export.contains("Platform staff"), "{export}");
    assert!(export.contains("owner@acme.example"), "their own events keep their names");
    assert!(ids(&app, &owner, &[("actor", "ops@example.com")]).await.is_empty(), "no probing by e-mail");

    // Platform staff see everything.
    let full: EventDetail = staff
        .post(app.url("/api/audit_event"))
        .form(&[("id", id.to_string())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(full.actor_email.as_deref(), Some("ops@example.com"));
    assert!(full.ip.is_some());
}

#[tokio::test]
async fn the_signing_key_is_published_as_a_jwk_set_and_the_console_check_uses_the_checkpoints() {
    let signer = bulkhead::audit::checkpoint::Signer25519::parse(&"07".repeat(32)).unwrap();
    let config = bulkhead::server::config::Config { signing_key: Some(signer.clone()), ..Default::default() };
    let app = common::spawn_app_with(config).await;
    let jwks: serde_json::Value =
        app.client().get(app.url("/.well-known/bulkhead/report-keys")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks, signer.jwk_set());
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    let plain = spawn_app().await;
    let res = plain.client().get(plain.url("/.well-known/bulkhead/report-keys")).send().await.unwrap();
    assert_eq!(res.status(), 404, "no key, nothing published");

    // A checkpoint, then the owner rewrites and re-chains: the console's check names the checkpoint's event.
    let (_, _, e) = scenario(&app).await;
    let mut tx = db::begin(&app.pool, Scope::Platform).await.unwrap();
    let c = bulkhead::audit::checkpoint::sign(&mut tx, &signer).await.unwrap();
    tx.commit().await.unwrap();
    assert!(c.head_id >= e[7]);
    common::rewrite_and_rechain(
        &app.owner,
        r#"UPDATE audit_events SET after = '{"tier_id": "enterprise"}' WHERE id = 2"#,
    )
    .await;
    let client = app.signed_in(Role::PlatformAuditor, "auditor@example.com").await;
    let v: Verification = client.post(app.url("/api/audit_verify")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v.first_broken, Some(c.head_id));
}

#[tokio::test]
async fn stalled_exports_hold_no_connection_for_long_and_the_console_answers() {
    let config = bulkhead::server::config::Config {
        export_send_timeout: std::time::Duration::from_secs(1),
        heavy_connections: 1,
        ..Default::default()
    };
    let app = common::spawn_app_with(config).await;
    // Enough rows that the export fills its buffers and waits for its reader.
    sqlx::query("SELECT audit_seed(30000, 5, 30)").execute(&app.owner).await.unwrap();
    let client = app.signed_in(Role::PlatformAuditor, "auditor@example.com").await;

    // One export at a time per user: the first stalls (nobody reads it), the others are told to wait.
    let stalled = client.get(app.url("/audit/export?format=jsonl")).send().await.unwrap();
    assert_eq!(stalled.status(), 200);
    for _ in 0..9 {
        let res = client.get(app.url("/audit/export?format=csv")).send().await.unwrap();
        assert_eq!(res.status(), 429);
        assert!(res.headers().contains_key("retry-after"));
    }
    // Meanwhile the console answers.
    assert_eq!(client.get(app.url("/tenants")).send().await.unwrap().status(), 200);
    // The stalled export is abandoned after the send timeout, its connection
    // back in the (one-connection) pool: the user may export again.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let again = client.get(app.url("/audit/export?format=csv")).send().await.unwrap();
    assert_eq!(again.status(), 200);
    let body = again.text().await.unwrap();
    assert!(body.lines().count() > 30000, "a whole export through the same single connection");
    drop(stalled);
}
