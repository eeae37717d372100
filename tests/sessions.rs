//! The session check reads, from memory where an instance holds the session,
//! and stays immediate: sign-out, a disabled user and a suspended tenant are
//! refused on the next request, on every instance. A page view costs one
//! transaction and one pooled connection at most.

mod common;

use bulkhead::auth::Role;
use bulkhead::server::config::Config;
use common::{location, set_cookie, spawn_app, spawn_app_on, spawn_app_with, tenant_form, TestApp, TEST_PASSWORD};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A second console on the first one's database, as a second replica.
async fn second_instance(first: &TestApp) -> TestApp {
    spawn_app_on(first.database_url.clone(), first.database_url.clone(), Config::default()).await
}

async fn listening(apps: &[&TestApp]) {
    for app in apps {
        for _ in 0..100 {
            if app.sessions().listening() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(app.sessions().listening(), "the instance hears the database's notices");
    }
}

/// A browser's session cookie, sent by hand: what a stolen copy would be.
struct Cookie(String);

impl Cookie {
    async fn sign_in(app: &TestApp, email: &str) -> Cookie {
        let res = bare()
            .post(app.url("/api/login"))
            .header("origin", &app.base)
            .header("accept", "text/html")
            .form(&[("email", email), ("password", TEST_PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(location(&res), "/");
        let cookie = set_cookie(&res, "bulkhead_session").expect("a session cookie");
        Cookie(cookie.split(';').next().unwrap().to_string())
    }

    async fn get(&self, app: &TestApp, path: &str) -> reqwest::Response {
        bare().get(app.url(path)).header("cookie", &self.0).send().await.unwrap()
    }

    async fn status(&self, app: &TestApp, path: &str) -> u16 {
        self.get(app, path).await.status().as_u16()
    }
}

fn bare() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn platform_user(app: &TestApp, role: Role, email: &str) -> uuid::Uuid {
    bulkhead::auth::users::create_platform_user(
        &app.pool,
        &bulkhead::audit::Actor::cli(),
        email,
        TEST_PASSWORD.to_string(),
        role,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_is_refused_at_once_on_another_instance() {
    let a = spawn_app().await;
    let b = second_instance(&a).await;
    listening(&[&a, &b]).await;
    platform_user(&a, Role::PlatformAdmin, "ops@example.com").await;
    // Several rounds: the refusal must not depend on how fast a notice travels.
    for round in 0..5 {
        let cookie = Cookie::sign_in(&a, "ops@example.com").await;
        // Both instances serve the session, and hold it.
        assert_eq!(cookie.status(&a, "/tenants").await, 200);
        assert_eq!(cookie.status(&b, "/tenants").await, 200);
        let (hits, _) = b.sessions().counts();
        let taken = b.taken.load(Ordering::Relaxed);
        assert_eq!(cookie.status(&b, "/tenants").await, 200);
        assert_eq!(b.sessions().counts().0, hits + 1, "the second view is answered from memory");
        assert_eq!(b.taken.load(Ordering::Relaxed) - taken, 1, "one connection for the page, none for the session");

        let res = bare()
            .post(a.url("/api/logout"))
            .header("origin", &a.base)
            .header("accept", "text/html")
            .header("cookie", &cookie.0)
            .send()
            .await
            .unwrap();
        assert_eq!(location(&res), "/login?signed_out=1");
        // The cookie kept after signing out (a stolen copy) is refused by B at once.
        let res = cookie.get(&b, "/tenants").await;
        assert_eq!(res.status(), 303, "round {round}: signed out on A, refused by B on the next request");
        assert!(location(&res).starts_with("/login"), "{}", location(&res));
        assert_eq!(cookie.status(&a, "/tenants").await, 303);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_and_a_suspended_tenant_are_refused_at_once_everywhere() {
    let a = spawn_app().await;
    let b = second_instance(&a).await;
    listening(&[&a, &b]).await;
    let admin = a.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    let auditor_id = platform_user(&a, Role::PlatformAuditor, "audit@example.com").await;
    let auditor = Cookie::sign_in(&a, "audit@example.com").await;
    assert_eq!(
        a.submit(&admin, "create_tenant", &tenant_form("Acme", "acme", "standard", "")).await,
        "/tenants/acme?created=1"
    );
    let acme: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'").fetch_one(&a.owner).await.unwrap();
    let owner = a.tenant_admin(acme, "owner@acme.example").await;
    for app in [&a, &b] {
        assert_eq!(auditor.status(app, "/audit").await, 200);
        assert_eq!(owner.get(app.url("/usage")).send().await.unwrap().status(), 200);
    }

    // Disabled by an operator in the database itself, around the console: B
    // refuses the auditor's very next request (each request first waits for
    // the notices committed before it).
    sqlx::query("UPDATE users SET disabled_at = now() WHERE id = $1").bind(auditor_id).execute(&a.owner).await.unwrap();
    assert_eq!(auditor.status(&b, "/audit").await, 303, "a disabled user's session ends everywhere");

    // A second admin of the tenant, disabled through the console on A: B
    // refuses their next request.
    let second = a.tenant_admin(acme, "second@acme.example").await;
    assert_eq!(second.get(b.url("/usage")).send().await.unwrap().status(), 200);
    let second_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = 'second@acme.example'")
        .fetch_one(&a.owner)
        .await
        .unwrap();
    let to = a
        .submit(
            &admin,
            "manage_tenant_admin",
            &[("slug", "acme"), ("user_id", &second_id.to_string()), ("action", "disable"), ("confirm", "on")],
        )
        .await;
    assert_eq!(to, "/tenants/acme?done=admin_disabled#admins");
    assert_eq!(second.get(b.url("/usage")).send().await.unwrap().status(), 303, "disabled on A, out on B");

    // Suspended on A: B refuses the tenant's admin.
    let version: i32 =
        sqlx::query_scalar("SELECT version FROM tenants WHERE id = $1").bind(acme).fetch_one(&a.owner).await.unwrap();
    a.submit(
        &admin,
        "set_tenant_status",
        &[("slug", "acme"), ("version", &version.to_string()), ("action", "suspend")],
    )
    .await;
    let status: String =
        sqlx::query_scalar("SELECT status FROM tenants WHERE id = $1").bind(acme).fetch_one(&a.owner).await.unwrap();
    assert_eq!(status, "suspended");
    assert_eq!(owner.get(b.url("/usage")).send().await.unwrap().status(), 303, "a suspended tenant's admin is out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_clock_is_written_off_the_request_path() {
    let app = spawn_app().await;
    listening(&[&app]).await;
    platform_user(&app, Role::PlatformAdmin, "ops@example.com").await;
    let cookie = Cookie::sign_in(&app, "ops@example.com").await;
    let seen = || async {
        sqlx::query_scalar::<_, time::OffsetDateTime>("SELECT last_seen_at FROM auth_sessions")
            .fetch_one(&app.owner)
            .await
            .unwrap()
    };
    let at_sign_in = seen().await;
    for _ in 0..20 {
        assert_eq!(cookie.status(&app, "/").await, 200);
    }
    assert_eq!(seen().await, at_sign_in, "twenty requests within the minute write nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_view_takes_one_connection_and_a_pool_of_one_serves_every_page() {
    let app = spawn_app_with(Config { db_max_connections: 1, ..Config::default() }).await;
    listening(&[&app]).await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    assert_eq!(
        app.submit(&admin, "create_tenant", &tenant_form("Acme", "acme", "standard", "")).await,
        "/tenants/acme?created=1"
    );
    let webhook: uuid::Uuid = {
        app.submit(&admin, "create_webhook", &[("url", "https://hooks.example/in"), ("events[]", "quota.warning")])
            .await;
        sqlx::query_scalar("SELECT id FROM webhook_endpoints").fetch_one(&app.owner).await.unwrap()
    };
    let event: i64 = sqlx::query_scalar("SELECT max(id) FROM audit_events").fetch_one(&app.owner).await.unwrap();
    let pages = [
        "/".to_string(),
        "/tenants".into(),
        "/tenants?q=acm".into(),
        "/tenants/new".into(),
        "/tenants/acme".into(),
        "/tenants/acme/usage".into(),
        "/tenants/acme/activation".into(),
        "/tiers".into(),
        "/tiers/standard/edit".into(),
        "/audit".into(),
        format!("/audit/{event}"),
        "/account".into(),
        "/settings/tokens".into(),
        "/settings/webhooks".into(),
        format!("/settings/webhooks/{webhook}"),
        "/alerts".into(),
        "/billing".into(),
    ];
    let acme: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'").fetch_one(&app.owner).await.unwrap();
    let owner = app.tenant_admin(acme, "owner@acme.example").await;
    let theirs = ["/", "/usage", "/team", "/audit", "/alerts", "/account"];
    let views = pages.iter().map(|p| (&admin, p.as_str())).chain(theirs.iter().map(|p| (&owner, *p)));
    for (client, page) in views {
        // Twice: the first view may read the session; the second is as every later one.
        for view in 0..2 {
            let before = app.taken.load(Ordering::Relaxed);
            let res = client.get(app.url(page)).send().await.unwrap();
            assert_eq!(res.status(), 200, "{page} with one connection in the pool");
            let body = res.text().await.unwrap();
            assert!(!body.contains("Something went wrong"), "{page}: {body}");
            let used = app.taken.load(Ordering::Relaxed) - before;
            if view == 1 {
                assert!(used <= 1, "{page} took {used} connections (one transaction at most)");
            }
        }
    }

    // Every page a tenant admin's menu offers is one they may open.
    let home = owner.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    let nav = &home[home.find("class=\"sidenav\"").expect("the menu")..];
    let nav = &nav[..nav.find("</nav>").unwrap()];
    let links: Vec<&str> = nav.split("href=\"").skip(1).map(|s| &s[..s.find('"').unwrap()]).collect();
    assert!(links.len() >= 5, "{nav}");
    for link in links {
        assert_eq!(owner.get(app.url(link)).send().await.unwrap().status(), 200, "{link} offered to a tenant admin");
    }

    // With the routing table following the database too (its listening
    // connection is not one of the pool's), the one connection still serves.
    app.start_routing().await;
    for page in ["/", "/tenants", "/audit", "/tenants/acme"] {
        assert_eq!(admin.get(app.url(page)).send().await.unwrap().status(), 200, "{page} beside the routing table");
    }
}
