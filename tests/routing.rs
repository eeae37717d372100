//! The routing check as a reverse proxy calls it: the caller identified by
//! its tenant key before anything is counted; the host, own domain or
//! `X-Tenant-ID` checked against the key's tenant; refusals that say nothing
//! more than their status; monthly allowances counted exactly; changes
//! followed within a second, and within a minute when the database's notices
//! are lost.

mod common;

use bulkhead::audit::Actor;
use bulkhead::server::config::Config;
use bulkhead::tokens::ssr::{create, NewToken};
use common::{spawn_app_with, TestApp};
use reqwest::StatusCode;

async fn routed_app() -> (TestApp, String) {
    routed_app_with(Config::default()).await
}

async fn routed_app_with(config: Config) -> (TestApp, String) {
    let config = Config {
        base_domain: Some("tenants.test".into()),
        shared_upstream: "http://shared-pool:8080".into(),
        ..config
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
    bulkhead::app::background::stop_routing(&app.state).await;
    sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::bigint FROM api_calls JOIN tenants t ON t.id = tenant_id WHERE t.slug = $1",
    )
    .bind(slug)
    .fetch_one(&app.owner)
    .await
    .unwrap()
}

async fn key_of(app: &TestApp, slug: &str) -> String {
    app.tenant_key(slug, &format!("{slug}-service")).await
}

#[tokio::test]
async fn the_key_decides_the_tenant_and_the_host_must_agree_with_it() {
    let (app, token) = routed_app().await;
    let (acme_key, globex_key) = (key_of(&app, "acme").await, key_of(&app, "globex").await);
    let acme: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'").fetch_one(&app.owner).await.unwrap();

    let res = check(&app, &token, &[("x-forwarded-host", "acme.tenants.test"), ("x-api-key", &acme_key)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "x-tenant-id"), acme.to_string());
    assert_eq!(header(&res, "x-tenant-slug"), "acme");
    assert_eq!(header(&res, "x-tenant-tier"), "standard");
    assert_eq!(header(&res, "x-upstream"), "http://shared-pool:8080");

    for host in ["GLOBEX.tenants.test", "globex.tenants.test.", "globex.tenants.test:443"] {
        let res = check(&app, &token, &[("x-forwarded-host", host), ("x-api-key", &globex_key)]).await;
        assert_eq!(header(&res, "x-tenant-slug"), "globex", "{host}");
    }
    // The key alone names its tenant, whatever host the client's API is reached by.
    let res = check(&app, &token, &[("x-forwarded-host", "api.elsewhere.example"), ("x-api-key", &acme_key)]).await;
    assert_eq!(header(&res, "x-tenant-slug"), "acme");
    let res = check(&app, &token, &[("x-tenant-id", &acme.to_string()), ("x-api-key", &acme_key)]).await;
    assert_eq!(header(&res, "x-tenant-slug"), "acme", "X-Tenant-ID agreeing with the key");
    // The caller's own Authorization may carry the key when the proxy proves itself in X-Bulkhead-Token.
    let res = app
        .client()
        .get(app.url("/route/check"))
        .bearer_auth(&acme_key)
        .header("x-bulkhead-token", &token)
        .header("x-forwarded-host", "acme.tenants.test")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&res, "x-tenant-slug"), "acme", "Authorization: Bearer bk_live_…");

    // Another tenant's host, slug or id with this key: 403, and nothing counted for either.
    for named in [
        ("x-forwarded-host", "globex.tenants.test"),
        ("x-tenant-id", "globex"),
        ("x-forwarded-host", "nobody.tenants.test"),
    ] {
        let res = check(&app, &token, &[named, ("x-api-key", &acme_key)]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{named:?}");
    }
    assert_eq!(counted(&app, "acme").await, 4);
    assert_eq!(counted(&app, "globex").await, 3);
}

#[tokio::test]
async fn a_dedicated_tenant_goes_to_its_own_instance_and_never_to_the_shared_pool() {
    let (app, token) = routed_app().await;
    let key = key_of(&app, "acme").await;
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
    let res = check(&app, &token, &[("x-forwarded-host", "Bücher.example"), ("x-api-key", &key)]).await;
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
    for host in ["Bücher.example", "acme.tenants.test"] {
        let res = check(&app, &token, &[("x-forwarded-host", host), ("x-api-key", &key)]).await;
        assert_eq!(header(&res, "x-tenant-slug"), "acme", "{host}");
        assert_eq!(header(&res, "x-upstream"), "http://acme-dedicated:9000", "{host}");
    }
    // A proxy that sends whatever it lets through to the shared pool (Traefik's router for
    // <slug>.<base>) is told no for a dedicated tenant.
    let res = app
        .client()
        .get(app.url("/route/check?expect=shared"))
        .bearer_auth(&token)
        .header("x-forwarded-host", "acme.tenants.test")
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::MISDIRECTED_REQUEST);
    // Without an upstream of its own it is refused, not sent to the shared pool.
    app.routing_follows("UPDATE tenants SET upstream = NULL WHERE slug = 'acme'").await;
    let res = check(&app, &token, &[("x-forwarded-host", "acme.tenants.test"), ("x-api-key", &key)]).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().get("x-upstream").is_none());
    // Another tenant's dedicated domain cannot stand for acme's <slug>.<base> name.
    sqlx::query("UPDATE tenants SET domain = NULL WHERE slug = 'acme'").execute(&app.owner).await.unwrap();
    app.routing_follows("UPDATE tenants SET domain = 'acme.tenants.test' WHERE slug = 'globex'").await;
    let globex_key = key_of(&app, "globex").await;
    let res = check(&app, &token, &[("x-forwarded-host", "acme.tenants.test"), ("x-api-key", &globex_key)]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "the name under the base domain is acme's");
}

#[tokio::test]
async fn refusals_say_only_their_status_and_count_nothing() {
    let (app, token) = routed_app().await;
    let ingest =
        create(&app.pool, &Actor::cli(), None, NewToken::parse("collector", &["ingest"], "").unwrap()).await.unwrap();
    let key = key_of(&app, "acme").await;
    let globex_key = key_of(&app, "globex").await;
    app.routing_follows("UPDATE tenants SET status = 'suspended' WHERE slug = 'globex'").await;
    let acme = [("x-forwarded-host", "acme.tenants.test"), ("x-api-key", key.as_str())];

    let res = app
        .client()
        .get(app.url("/route/check"))
        .header("x-forwarded-host", "acme.tenants.test")
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "no proxy token");
    assert_eq!(check(&app, "bkh_not-a-token", &acme).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(check(&app, &ingest, &acme).await.status(), StatusCode::FORBIDDEN, "no routing scope");
    // A client's X-Bulkhead-Token does not stand for the proxy's: the proxy sets it.
    let res = app
        .client()
        .get(app.url("/route/check"))
        .header("x-bulkhead-token", "bkh_guess")
        .bearer_auth(&token)
        .header("x-forwarded-host", "acme.tenants.test")
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "X-Bulkhead-Token, when present, is the only proxy token read");
    assert_eq!(check(&app, &token, &acme).await.status(), StatusCode::OK);
    assert_eq!(counted(&app, "acme").await, 1);

    let revoked = app.tenant_key("acme", "old").await;
    let mark = app.routing().begun();
    sqlx::query("UPDATE tenant_api_keys SET revoked_at = now() WHERE name = 'old'").execute(&app.owner).await.unwrap();
    app.routing_reloaded(mark).await;
    let expired = app.tenant_key("acme", "expired").await;
    app.routing_follows("UPDATE tenant_api_keys SET expires_at = now() - interval '1 second' WHERE name = 'expired'")
        .await;
    let long = "a".repeat(10 * 1024);
    for (headers, status) in [
        (vec![("x-forwarded-host", "acme.tenants.test")], StatusCode::UNAUTHORIZED),
        (vec![("x-forwarded-host", "nobody.tenants.test")], StatusCode::UNAUTHORIZED),
        (vec![("x-forwarded-host", "acme.tenants.test"), ("x-api-key", "bk_live_0000")], StatusCode::UNAUTHORIZED),
        (vec![("x-forwarded-host", "acme.tenants.test"), ("x-api-key", revoked.as_str())], StatusCode::UNAUTHORIZED),
        (vec![("x-forwarded-host", "acme.tenants.test"), ("x-api-key", expired.as_str())], StatusCode::UNAUTHORIZED),
        (vec![("x-forwarded-host", "globex.tenants.test"), ("x-api-key", globex_key.as_str())], StatusCode::FORBIDDEN),
        (vec![("x-forwarded-host", "globex.tenants.test"), ("x-api-key", key.as_str())], StatusCode::FORBIDDEN),
        (
            vec![("x-tenant-id", "9b2f3c1e-0000-4000-8000-000000000000"), ("x-api-key", key.as_str())],
            StatusCode::FORBIDDEN,
        ),
        (vec![("x-tenant-id", "Not A Slug!"), ("x-api-key", key.as_str())], StatusCode::BAD_REQUEST),
        (vec![("x-tenant-id", long.as_str()), ("x-api-key", key.as_str())], StatusCode::BAD_REQUEST),
        (vec![("x-forwarded-host", long.as_str()), ("x-api-key", key.as_str())], StatusCode::BAD_REQUEST),
        (vec![("x-forwarded-host", "[::1]:80"), ("x-api-key", key.as_str())], StatusCode::BAD_REQUEST),
        (
            vec![("x-tenant-id", "acme"), ("x-tenant-id", "globex"), ("x-api-key", key.as_str())],
            StatusCode::BAD_REQUEST,
        ),
        (vec![("x-api-key", key.as_str()), ("x-api-key", globex_key.as_str())], StatusCode::BAD_REQUEST),
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
async fn strangers_naming_a_tenant_spend_nothing_of_its_allowance_or_its_bucket() {
    let (app, token) = routed_app().await;
    app.routing_follows(
        "UPDATE tiers SET api_rate_per_second = 1, api_burst = 2, api_calls_per_month = 3 WHERE id = 'standard'",
    )
    .await;
    let key = key_of(&app, "acme").await;
    for _ in 0..1000 {
        let res = check(&app, &token, &[("x-forwarded-host", "acme.tenants.test")]).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // The bucket holds its whole burst and the month its whole allowance for the tenant's own key.
    let acme = [("x-forwarded-host", "acme.tenants.test"), ("x-api-key", key.as_str())];
    assert_eq!(check(&app, &token, &acme).await.status(), StatusCode::OK);
    assert_eq!(check(&app, &token, &acme).await.status(), StatusCode::OK);
    assert_eq!(check(&app, &token, &acme).await.status(), StatusCode::TOO_MANY_REQUESTS, "the burst of 2");
    assert_eq!(counted(&app, "acme").await, 2);
    assert_eq!(app.routing().decisions.counts().find(|(n, _)| *n == "unauthorized").unwrap().1, 1000);
}

#[tokio::test]
async fn pass_through_lets_anonymous_calls_reach_the_api_uncounted_and_limited_per_address() {
    let config = Config { anonymous_rate: 1, anonymous_burst: 3, ..Config::default() };
    let (app, token) = routed_app_with(config).await;
    let key = key_of(&app, "acme").await;
    app.routing_follows("UPDATE tenants SET anonymous_calls = 'pass' WHERE slug = 'acme'").await;
    let anonymous = [("x-forwarded-host", "acme.tenants.test")];
    for _ in 0..3 {
        let res = check(&app, &token, &anonymous).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, "x-tenant-slug"), "acme");
    }
    let res = check(&app, &token, &anonymous).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "limited per address");
    assert_eq!(header(&res, "retry-after"), "1");
    assert_eq!(
        check(&app, &token, &[("x-forwarded-host", "acme.tenants.test"), ("x-api-key", &key)]).await.status(),
        StatusCode::OK,
        "the tenant's own key is not held up"
    );
    assert_eq!(
        check(&app, &token, &[("x-forwarded-host", "globex.tenants.test")]).await.status(),
        StatusCode::UNAUTHORIZED,
        "refuse stays the default"
    );
    assert_eq!(counted(&app, "acme").await, 1, "only the key's call is counted");
}

#[tokio::test]
async fn a_key_keeps_to_its_own_rate_and_monthly_cap_inside_the_tenants() {
    let (app, token) = routed_app().await;
    let mark = app.routing().begun();
    let limited = bulkhead::keys::ssr::create(
        &app.pool,
        bulkhead::server::db::Scope::Platform,
        &Actor::cli(),
        None,
        "acme",
        bulkhead::keys::ssr::NewKey::parse("batch", "1", "2", "3", "").unwrap(),
    )
    .await
    .unwrap();
    app.routing_reloaded(mark).await;
    let free = key_of(&app, "acme").await;
    let with = |k: &str| vec![("x-forwarded-host", "acme.tenants.test".to_string()), ("x-api-key", k.to_string())];
    let call = |k: String| {
        let app = &app;
        let token = token.clone();
        async move {
            let h = with(&k);
            let h: Vec<(&str, &str)> = h.iter().map(|(a, b)| (*a, b.as_str())).collect();
            check(app, &token, &h).await.status()
        }
    };
    assert_eq!(call(limited.secret.clone()).await, StatusCode::OK);
    assert_eq!(call(limited.secret.clone()).await, StatusCode::OK);
    assert_eq!(call(limited.secret.clone()).await, StatusCode::TOO_MANY_REQUESTS, "its own burst of 2");
    assert_eq!(call(free.clone()).await, StatusCode::OK, "the tenant's other key has the tier's bucket");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(call(limited.secret.clone()).await, StatusCode::OK, "the third call of its month");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(call(limited.secret.clone()).await, StatusCode::TOO_MANY_REQUESTS, "its cap of 3 a month");
    assert_eq!(call(free.clone()).await, StatusCode::OK, "the tenant's allowance is not spent");
    assert_eq!(counted(&app, "acme").await, 5);
    let key_calls: i64 = sqlx::query_scalar("SELECT calls FROM api_key_calls WHERE key_id = $1")
        .bind(limited.id)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(key_calls, 3);
    // A key's limits stay within the tenant's: the tier allows 50 a second.
    let refused = bulkhead::keys::ssr::create(
        &app.pool,
        bulkhead::server::db::Scope::Platform,
        &Actor::cli(),
        None,
        "acme",
        bulkhead::keys::ssr::NewKey::parse("greedy", "500", "1000", "", "").unwrap(),
    )
    .await
    .err()
    .unwrap();
    assert!(refused.field_message("rate").is_some() && refused.field_message("burst").is_some(), "{refused:?}");
}

#[tokio::test]
async fn a_spent_month_is_refused_until_its_allowance_grows() {
    let (app, token) = routed_app().await;
    let key = key_of(&app, "acme").await;
    app.routing_follows(
        "INSERT INTO quota_overrides (tenant_id, metric, value, reason)
         SELECT id, 'api_calls', 3, 'test allowance' FROM tenants WHERE slug = 'acme'",
    )
    .await;
    let host = [("x-forwarded-host", "acme.tenants.test"), ("x-api-key", key.as_str())];
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
        .header("x-api-key", &key)
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
    let (acme_key, globex_key) = (key_of(&app, "acme").await, key_of(&app, "globex").await);
    let calls = 400;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..calls {
        let (client, url, token) = (app.client(), app.url("/route/check"), token.clone());
        let (host, key) = if i % 2 == 0 {
            ("acme.tenants.test", acme_key.clone())
        } else {
            ("globex.tenants.test", globex_key.clone())
        };
        tasks.spawn(async move {
            let req = client.get(url).bearer_auth(token).header("x-forwarded-host", host).header("x-api-key", key);
            req.send().await.unwrap().status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    assert_eq!(counted(&app, "acme").await + counted(&app, "globex").await, calls);
    let last_used: bool =
        sqlx::query_scalar("SELECT last_used_at IS NOT NULL FROM api_tokens").fetch_one(&app.owner).await.unwrap();
    assert!(last_used, "the proxy's token shows its last use");
    let keys_used: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_api_keys WHERE last_used_at IS NOT NULL")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(keys_used, 2, "and each key its own");
}

#[tokio::test]
async fn a_tenant_calling_faster_than_its_tier_allows_waits_and_spends_nothing() {
    let (app, token) = routed_app().await;
    app.routing_follows("UPDATE tiers SET api_rate_per_second = 1, api_burst = 2 WHERE id = 'standard'").await;
    let (key, globex_key) = (key_of(&app, "acme").await, key_of(&app, "globex").await);
    let host = [("x-forwarded-host", "acme.tenants.test"), ("x-api-key", key.as_str())];
    assert_eq!(check(&app, &token, &host).await.status(), StatusCode::OK);
    assert_eq!(check(&app, &token, &host).await.status(), StatusCode::OK);
    let res = check(&app, &token, &host).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "the burst is spent");
    assert_eq!(header(&res, "retry-after"), "1");
    let other = check(&app, &token, &[("x-forwarded-host", "globex.tenants.test"), ("x-api-key", &globex_key)]).await;
    assert_eq!(other.status(), StatusCode::OK, "another tenant has its own bucket");
    assert_eq!(counted(&app, "acme").await, 2, "a call refused for its speed does not spend the month");
}

/// A TCP proxy to PostgreSQL that can start dropping everything without a
/// word, as a NAT that forgot the connection or a failed-over address does:
/// once frozen, nothing is forwarded either way and nothing is closed.
struct BlackHole {
    port: u16,
    frozen: tokio::sync::watch::Sender<bool>,
}

async fn black_hole(upstream: String) -> BlackHole {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (frozen, watch) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        loop {
            let (mut inbound, _) = listener.accept().await.unwrap();
            let (upstream, mut watch) = (upstream.clone(), watch.clone());
            tokio::spawn(async move {
                let frozen_now = *watch.borrow();
                if frozen_now {
                    return std::future::pending::<()>().await;
                }
                let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else { return };
                let froze = tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => false,
                    _ = async { let _ = watch.wait_for(|f| *f).await; } => true,
                };
                if froze {
                    // Both sockets stay open and unread: the peers hear nothing, ever.
                    std::future::pending::<()>().await;
                }
            });
        }
    });
    BlackHole { port, frozen }
}

/// The app, its proxy token, and a key of acme's, with the routing table
/// listening through `hole` (the rest of the console reaches the database directly).
async fn routed_through(freeze_first: bool) -> (TestApp, String, String, BlackHole) {
    let config = Config {
        base_domain: Some("tenants.test".into()),
        shared_upstream: "http://shared-pool:8080".into(),
        ..Config::default()
    };
    let app = spawn_app_with(config).await;
    sqlx::query("INSERT INTO tenants (slug, name, tier_id) VALUES ('acme', 'Acme', 'standard')")
        .execute(&app.owner)
        .await
        .unwrap();
    let token =
        create(&app.pool, &Actor::cli(), None, NewToken::parse("edge", &["routing"], "").unwrap()).await.unwrap();
    let key = app.tenant_key("acme", "acme-service").await;
    let rest = app.database_url.split_once("://").unwrap().1;
    let (authority, db) = rest.split_once('/').unwrap();
    let hostport = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let hole = black_hole(hostport.to_string()).await;
    hole.frozen.send_replace(freeze_first);
    let listen_url = format!("postgres://postgres@127.0.0.1:{}/{db}", hole.port);
    let (listen_pool, _) = bulkhead::server::db::connect_counting(&listen_url, 1).unwrap();
    let freshness = bulkhead::routing::Freshness {
        probe_every: std::time::Duration::from_secs(1),
        probe_timeout: std::time::Duration::from_secs(1),
        ..bulkhead::routing::Freshness::default()
    };
    bulkhead::routing::spawn_with(
        app.routing().clone(),
        app.pool.clone(),
        listen_pool,
        std::time::Duration::from_millis(200),
        freshness,
    );
    (app, token, key, hole)
}

async fn readyz(app: &TestApp) -> (StatusCode, serde_json::Value) {
    let res = app.client().get(app.url("/readyz")).send().await.unwrap();
    (res.status(), res.json().await.unwrap())
}

/// Polls the check until it answers `want`; answers how long that took.
async fn until_answer(app: &TestApp, token: &str, key: &str, want: StatusCode) -> std::time::Duration {
    let started = std::time::Instant::now();
    loop {
        let status = check(app, token, &[("x-forwarded-host", "acme.tenants.test"), ("x-api-key", key)]).await.status();
        if status == want {
            return started.elapsed();
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(75), "still {status}, not {want}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_suspension_sent_as_the_listening_connection_is_killed_is_enforced() {
    let (app, token) = routed_app().await;
    let key = key_of(&app, "acme").await;
    assert_eq!(
        check(&app, &token, &[("x-forwarded-host", "acme.tenants.test"), ("x-api-key", &key)]).await.status(),
        StatusCode::OK
    );
    // One call: the change's notice is sent at its commit, after the connection that would hear it is gone.
    sqlx::raw_sql(
        "UPDATE tenants SET status = 'suspended' WHERE slug = 'acme';
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'bulkhead listener';",
    )
    .execute(&app.owner)
    .await
    .unwrap();
    let took = until_answer(&app, &token, &key, StatusCode::FORBIDDEN).await;
    assert!(took < std::time::Duration::from_secs(60), "enforced after {took:?}");
}

#[tokio::test]
async fn a_listening_connection_that_goes_silent_is_noticed_and_changes_still_arrive_within_a_minute() {
    let (app, token, key, hole) = routed_through(false).await;
    let mut loads = app.routing().loads();
    tokio::time::timeout(std::time::Duration::from_secs(10), loads.wait_for(|n| *n > 0)).await.unwrap().unwrap();
    assert_eq!(until_answer(&app, &token, &key, StatusCode::OK).await.as_secs(), 0);
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["routing_table"]["listening"], true, "{body}");

    hole.frozen.send_replace(true);
    sqlx::query("UPDATE tenant_api_keys SET revoked_at = now()").execute(&app.owner).await.unwrap();
    let took = until_answer(&app, &token, &key, StatusCode::UNAUTHORIZED).await;
    assert!(took < std::time::Duration::from_secs(60), "refused after {took:?}");
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "the table is fresh, only the notices are lost: {body}");
    assert_eq!(body["routing_table"]["listening"], false, "the silent connection was noticed: {body}");
    assert!(body["routing_table"]["age_seconds"].as_f64().unwrap() < 31.0, "{body}");
}

#[tokio::test]
async fn the_console_is_not_ready_before_its_routing_table_is_loaded() {
    let (app, token, key, hole) = routed_through(true).await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["routing_table"]["loaded"], false, "{body}");
    assert_eq!(
        check(&app, &token, &[("x-forwarded-host", "acme.tenants.test"), ("x-api-key", &key)]).await.status(),
        StatusCode::UNAUTHORIZED,
        "an empty table knows no one"
    );
    hole.frozen.send_replace(false);
    until_answer(&app, &token, &key, StatusCode::OK).await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["routing_table"]["loaded"], true, "{body}");
}

#[tokio::test]
async fn two_consoles_share_a_tenants_rate_through_redis_and_keep_their_own_when_it_is_gone() {
    let redis = common::redis_server().await;
    let config = || Config {
        base_domain: Some("tenants.test".into()),
        shared_upstream: "http://shared-pool:8080".into(),
        redis_url: Some(format!("redis://127.0.0.1:{}", redis.1)),
        ..Config::default()
    };
    let a = spawn_app_with(config()).await;
    sqlx::query("INSERT INTO tenants (slug, name, tier_id) VALUES ('acme', 'Acme', 'standard')")
        .execute(&a.owner)
        .await
        .unwrap();
    sqlx::query("UPDATE tiers SET api_rate_per_second = 5, api_burst = 5").execute(&a.owner).await.unwrap();
    let token = create(&a.pool, &Actor::cli(), None, NewToken::parse("edge", &["routing"], "").unwrap()).await.unwrap();
    let key = a.tenant_key("acme", "acme-service").await;
    let b = common::spawn_app_on(a.database_url.clone(), a.database_url.clone(), config()).await;
    a.start_routing().await;
    b.start_routing().await;
    let headers = [("x-forwarded-host", "acme.tenants.test"), ("x-api-key", key.as_str())];

    let started = std::time::Instant::now();
    let mut admitted = 0;
    for i in 0..40 {
        let console = if i % 2 == 0 { &a } else { &b };
        if check(console, &token, &headers).await.status() == StatusCode::OK {
            admitted += 1;
        }
    }
    let ceiling = 5.0 + 5.0 * started.elapsed().as_secs_f64();
    assert!(admitted >= 5, "the burst: {admitted}");
    assert!(f64::from(admitted) <= ceiling + 1.0, "two consoles admitted {admitted}, one bucket allows {ceiling:.1}");

    // Redis gone: each console limits on its own (its own bucket, still full), never not at all.
    drop(redis);
    let mut admitted = 0;
    for _ in 0..20 {
        if check(&a, &token, &headers).await.status() == StatusCode::OK {
            admitted += 1;
        }
    }
    assert!((5..=7).contains(&admitted), "this console's own bucket: {admitted}");
}
