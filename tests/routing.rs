//! The routing check as a reverse proxy calls it: tenants found by subdomain,
//! own domain or `X-Tenant-ID`; refusals that say nothing more than their
//! status; monthly allowances counted exactly; changes followed within a second.

mod common;

use bulkhead::audit::Actor;
use bulkhead::server::config::Config;
use bulkhead::tokens::ssr::{create, NewToken};
use common::{spawn_app_with, TestApp};
use reqwest::StatusCode;

async fn routed_app() -> (TestApp, String) {
    let config = Config {
        base_domain: Some("tenants.test".into()),
        shared_upstream: "http://shared-pool:8080".into(),
        ..Config::default()
    };
    let app = spawn_app_with(config).await;
    sqlx::query(
        "INSERT INTO tenants (slug, name, tier_id) VALUES ('acme', 'Acme', 'standard'), ('globex', 'Globex', 'premium')",
    )
    .execute(&app.owner)
    .await
    .unwrap();
    let token =
        create(&app.pool, &Actor::cli(), None, NewToken::parse("edge", &["routing"], "").unwrap()).await.unwrap();
    app.start_routing().await;
    (app, token)
}

async fn check(app: &TestApp, token: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.client().get(app.url("/route/check")).bearer_auth(token);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

async fn counted(app: &TestApp, slug: &str) -> i64 {
    bulkhead::server::startup::stop_routing(&app.state).await;
    sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::bigint FROM api_calls JOIN tenants t ON t.id = tenant_id WHERE t.slug = $1",
    )
    .bind(slug)
    .fetch_one(&app.owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn tenants_are_found_by_subdomain_by_header_and_by_their_own_domain() {
    let (app, token) = routed_app().await;
    let acme: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'").fetch_one(&app.owner).await.unwrap();

    let res = check(&app, &token, &[("x-forwarded-host", "acme.tenants.test")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "x-tenant-id"), acme.to_string());
    assert_eq!(header(&res, "x-tenant-slug"), "acme");
    assert_eq!(header(&res, "x-tenant-tier"), "standard");
    assert_eq!(header(&res, "x-upstream"), "http://shared-pool:8080");

    for host in ["GLOBEX.tenants.test", "globex.tenants.test.", "globex.tenants.test:443"] {
        let res = check(&app, &token, &[("x-forwarded-host", host)]).await;
        assert_eq!(header(&res, "x-tenant-slug"), "globex", "{host}");
    }
    let res = check(&app, &token, &[("x-forwarded-host", "api.elsewhere.example"), ("x-tenant-id", "acme")]).await;
    assert_eq!(header(&res, "x-tenant-slug"), "acme", "X-Tenant-ID when the host names no tenant");
    let res = check(&app, &token, &[("x-tenant-id", &acme.to_string())]).await;
    assert_eq!(header(&res, "x-tenant-slug"), "acme", "by id");

    // At level 3 with its own domain and upstream but no completed checklist: still the shared pool,
    // and the database refuses to make it dedicated.
    sqlx::query("UPDATE tenants SET isolation_level = 3, status = 'provisioning' WHERE slug = 'acme'")
        .execute(&app.owner)
        .await
        .unwrap();
    sqlx::query("INSERT INTO activations (tenant_id, state) SELECT id, 'verified' FROM tenants WHERE slug = 'acme'")
        .execute(&app.owner)
        .await
        .unwrap();
    app.routing_follows(
        "UPDATE tenants SET domain = 'xn--bcher-kva.example', upstream = 'http://acme-dedicated:9000' WHERE slug = 'acme'",
    )
    .await;
    let res = check(&app, &token, &[("x-forwarded-host", "Bücher.example")]).await;
    assert_eq!(header(&res, "x-upstream"), "http://shared-pool:8080", "not dedicated before its checklist ends");
    for sneak in [
        "UPDATE tenants SET dedicated_instance = true WHERE slug = 'acme'",
        "UPDATE tenants SET status = 'active' WHERE slug = 'acme'",
    ] {
        let err = sqlx::query(sneak).execute(&app.owner).await.expect_err(sneak);
        assert!(err.to_string().contains("checklist") || err.to_string().contains("level_3"), "{sneak}: {err}");
    }

    // Once its checklist is complete, its own domain (an international one here) leads to its own upstream.
    sqlx::query("UPDATE activations SET state = 'active'").execute(&app.owner).await.unwrap();
    let took = app
        .routing_follows("UPDATE tenants SET dedicated_instance = true, status = 'active' WHERE slug = 'acme'")
        .await;
    assert!(took < std::time::Duration::from_secs(2), "followed in {took:?}");
    let res = check(&app, &token, &[("x-forwarded-host", "Bücher.example")]).await;
    assert_eq!(header(&res, "x-tenant-slug"), "acme");
    assert_eq!(header(&res, "x-upstream"), "http://acme-dedicated:9000");
    assert_eq!(counted(&app, "acme").await, 5);
}

#[tokio::test]
async fn refusals_say_only_their_status_and_count_nothing() {
    let (app, token) = routed_app().await;
    let ingest =
        create(&app.pool, &Actor::cli(), None, NewToken::parse("collector", &["ingest"], "").unwrap()).await.unwrap();
    app.routing_follows("UPDATE tenants SET status = 'suspended' WHERE slug = 'globex'").await;
    let acme_host = [("x-forwarded-host", "acme.tenants.test")];

    let res =
        app.client().get(app.url("/route/check")).header("x-forwarded-host", "acme.tenants.test").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "no token");
    assert_eq!(check(&app, "bkh_not-a-token", &acme_host).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(check(&app, &ingest, &acme_host).await.status(), StatusCode::FORBIDDEN, "no routing scope");
    // A proxy that forwards the client's Authorization presents its own token beside it.
    let res = app
        .client()
        .get(app.url("/route/check"))
        .bearer_auth("the-tenant-api-own-token")
        .header("x-bulkhead-token", &token)
        .header("x-forwarded-host", "acme.tenants.test")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(counted(&app, "acme").await, 1);
    let long = "a".repeat(10 * 1024);
    for (headers, status) in [
        (vec![("x-forwarded-host", "globex.tenants.test")], StatusCode::FORBIDDEN),
        (vec![("x-forwarded-host", "nobody.tenants.test")], StatusCode::NOT_FOUND),
        (vec![("x-forwarded-host", "elsewhere.example")], StatusCode::NOT_FOUND),
        (vec![("x-tenant-id", "9b2f3c1e-0000-4000-8000-000000000000")], StatusCode::NOT_FOUND),
        (vec![("x-tenant-id", "Not A Slug!")], StatusCode::BAD_REQUEST),
        (vec![("x-tenant-id", long.as_str())], StatusCode::BAD_REQUEST),
        (vec![("x-forwarded-host", long.as_str())], StatusCode::BAD_REQUEST),
        (vec![("x-forwarded-host", "[::1]:80")], StatusCode::BAD_REQUEST),
        (vec![("x-tenant-id", "acme"), ("x-tenant-id", "globex")], StatusCode::BAD_REQUEST),
    ] {
        let res = check(&app, &token, &headers).await;
        assert_eq!(
            res.status(),
            status,
            "{:?}",
            headers.iter().map(|(k, v)| (k, &v[..v.len().min(40)])).collect::<Vec<_>>()
        );
        assert!(res.headers().get("x-tenant-id").is_none(), "a refusal names no tenant");
        assert!(res.text().await.unwrap().is_empty(), "and says nothing else");
    }
    assert_eq!(counted(&app, "acme").await, 1, "the refusals counted nothing");
    assert_eq!(counted(&app, "globex").await, 0);
}

#[tokio::test]
async fn a_spent_month_is_refused_until_its_allowance_grows() {
    let (app, token) = routed_app().await;
    app.routing_follows(
        "INSERT INTO quota_overrides (tenant_id, metric, value, reason)
         SELECT id, 'api_calls', 3, 'test allowance' FROM tenants WHERE slug = 'acme'",
    )
    .await;
    let host = [("x-forwarded-host", "acme.tenants.test")];
    for _ in 0..3 {
        assert_eq!(check(&app, &token, &host).await.status(), StatusCode::OK);
    }
    let res = check(&app, &token, &host).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = header(&res, "retry-after").parse().unwrap();
    assert!(retry > 0 && retry <= 31 * 24 * 3600, "until the month ends: {retry}");

    // nginx's auth_request knows only 2xx, 401 and 403: the real status travels in a header.
    let res = app
        .client()
        .get(app.url("/route/check?proxy=nginx"))
        .bearer_auth(&token)
        .header("x-forwarded-host", "acme.tenants.test")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&res, "x-bulkhead-status"), "429");
    assert!(!header(&res, "retry-after").is_empty());

    assert_eq!(check(&app, &token, &host).await.status(), StatusCode::TOO_MANY_REQUESTS);

    // The console shows it: the API calls meter, and the tenant marked throttled.
    assert_eq!(counted(&app, "acme").await, 3);
    let admin = app.signed_in(bulkhead::auth::Role::PlatformAdmin, "ops@example.com").await;
    let page = admin.get(app.url("/tenants/acme")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(">throttled<"), "the throttled badge");
    assert!(page.contains("3 of 3"), "API calls against the quota");
    let dashboard = admin.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(
        dashboard.contains(r#"href="/tenants/acme/usage">Acme</a>"#),
        "the dashboard lists the tenants nearest their quota, each leading to its usage"
    );
    assert!(!dashboard.contains(r#"href="/tenants/globex"#), "and only them");

    app.routing_follows("UPDATE quota_overrides SET value = 10").await;
    assert_eq!(check(&app, &token, &host).await.status(), StatusCode::OK, "a larger allowance lifts the refusal");
    assert_eq!(counted(&app, "acme").await, 4, "refused calls are not counted");
    let page = admin.get(app.url("/tenants/acme")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains(">throttled<"));
    // One event per transition, however many calls were refused.
    assert_eq!(app.count_events("tenant.throttled").await, 1);
    assert_eq!(app.count_events("tenant.unthrottled").await, 1);
}

#[tokio::test]
async fn concurrent_calls_are_counted_exactly() {
    let (app, token) = routed_app().await;
    app.routing_follows("UPDATE tiers SET api_rate_per_second = 100000, api_burst = 100000").await;
    let calls = 400;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..calls {
        let (client, url, token) = (app.client(), app.url("/route/check"), token.clone());
        let host = if i % 2 == 0 { "acme.tenants.test" } else { "globex.tenants.test" };
        tasks.spawn(async move {
            client.get(url).bearer_auth(token).header("x-forwarded-host", host).send().await.unwrap().status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    assert_eq!(counted(&app, "acme").await + counted(&app, "globex").await, calls);
    let last_used: bool =
        sqlx::query_scalar("SELECT last_used_at IS NOT NULL FROM api_tokens").fetch_one(&app.owner).await.unwrap();
    assert!(last_used, "the proxy's token shows its last use");
}

#[tokio::test]
async fn a_tenant_calling_faster_than_its_tier_allows_waits_and_spends_nothing() {
    let (app, token) = routed_app().await;
    app.routing_follows("UPDATE tiers SET api_rate_per_second = 1, api_burst = 2 WHERE id = 'standard'").await;
    let host = [("x-forwarded-host", "acme.tenants.test")];
    assert_eq!(check(&app, &token, &host).await.status(), StatusCode::OK);
    assert_eq!(check(&app, &token, &host).await.status(), StatusCode::OK);
    let res = check(&app, &token, &host).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "the burst is spent");
    assert_eq!(header(&res, "retry-after"), "1");
    let other = check(&app, &token, &[("x-forwarded-host", "globex.tenants.test")]).await;
    assert_eq!(other.status(), StatusCode::OK, "another tenant has its own bucket");
    assert_eq!(counted(&app, "acme").await, 2, "a call refused for its speed does not spend the month");
}
