//! Operations and hardening: health, readiness, CSRF, oversized and malformed
//! requests, and recovery when the database comes back.

mod common;

use bulkhead::app::startup;
use bulkhead::server::config::Config;
use common::{fresh_database, location, spawn_app, spawn_app_on, tenant_form};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let res = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("x-request-id"));
    assert_eq!(reqwest::get(app.url("/readyz")).await.unwrap().status(), 200);
}

#[tokio::test]
async fn state_changing_requests_from_other_origins_are_refused() {
    let app = spawn_app().await;
    app.create_admin("ops@example.com", "correct horse battery staple").await;
    let bare = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let form = [("email", "ops@example.com"), ("password", "correct horse battery staple")];
    for origin in [Some("http://evil.example"), Some("null"), None] {
        let mut req = bare.post(app.url("/api/login")).form(&form);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 403, "origin {origin:?}");
    }
    let res = bare.post(app.url("/api/login")).header("sec-fetch-site", "cross-site").form(&form).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res = bare
        .post(app.url("/api/login"))
        .header("sec-fetch-site", "same-origin")
        .header("accept", "text/html")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), "/");
    assert_eq!(app.count_events("auth.login.succeeded").await, 1, "only the same-origin request signed in");
}

#[tokio::test]
async fn oversized_and_malformed_requests_get_a_4xx_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let client = app.client();
    let huge = "x".repeat(1024 * 1024);
    let res =
        client.post(app.url("/api/login")).form(&[("email", huge.as_str()), ("password", "p")]).send().await.unwrap();
    assert_eq!(res.status(), 413);
    let res = client
        .post(app.url("/api/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("%%%garbage=&&&")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "malformed body: {}", res.status());
    let res = client
        .post(app.url("/api/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "missing fields: {}", res.status());
    let res = client.post(app.url("/api/no_such_function")).send().await.unwrap();
    assert!(res.status().is_client_error());
    assert_eq!(reqwest::get(app.url("/healthz")).await.unwrap().status(), 200);
    let res = reqwest::get(app.url("/login")).await.unwrap();
    assert_eq!(res.status(), 200);
}

/// A TCP proxy to PostgreSQL that can be cut and restored, to play a database outage.
struct Proxy {
    port: u16,
    cut: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

async fn start_proxy(port: u16, upstream: String) -> Proxy {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let cut = Arc::new(Notify::new());
    let cut2 = cut.clone();
    let task = tokio::spawn(async move {
        loop {
            let (mut inbound, _) = tokio::select! {
                a = listener.accept() => a.unwrap(),
                _ = cut2.notified() => return,
            };
            let upstream = upstream.clone();
            let cut3 = cut2.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else { return };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = cut3.notified() => {}
                }
            });
        }
    });
    Proxy { port, cut, task }
}

impl Proxy {
    async fn stop(self) {
        self.cut.notify_waiters();
        let _ = self.task.await;
    }
}

#[tokio::test]
async fn the_console_reports_a_database_outage_and_recovers_without_a_restart() {
    let database_url = fresh_database().await;
    let parsed = url_parts(&database_url);
    let proxy = start_proxy(0, parsed.0.clone()).await;
    let port = proxy.port;
    let via_proxy = format!("postgres://postgres@127.0.0.1:{port}/{}", parsed.1);
    let app = spawn_app_on(database_url, via_proxy, Config::default()).await;
    app.create_admin("ops@example.com", "correct horse battery staple").await;
    let client = app.client();
    app.login(&client, "ops@example.com", "correct horse battery staple").await;
    assert_eq!(client.get(app.url("/readyz")).send().await.unwrap().status(), 200);

    proxy.stop().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(client.get(app.url("/readyz")).send().await.unwrap().status(), 503);
    let page = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 503);
    let html = page.text().await.unwrap();
    assert!(html.contains("cannot reach its database"), "{html}");
    assert!(html.contains("Request id"));
    assert_eq!(client.get(app.url("/healthz")).send().await.unwrap().status(), 200);

    let proxy = start_proxy(port, parsed.0).await;
    let mut ready = false;
    for _ in 0..50 {
        if client.get(app.url("/readyz")).send().await.unwrap().status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready, "readiness recovers");
    assert_eq!(client.get(app.url("/")).send().await.unwrap().status(), 200, "the session survived the outage");
    proxy.stop().await;
}

/// ("host:port", "database") of a postgres URL.
fn url_parts(url: &str) -> (String, String) {
    let rest = url.split_once("://").unwrap().1;
    let (authority, db) = rest.split_once('/').unwrap();
    let hostport = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    (hostport.to_string(), db.to_string())
}

/// Texts an attacker would store to break out of the HTML they land in.
const TITLE_BREAKOUT: &str = "</title><script>alert(1)</script>";
const ATTRIBUTE_BREAKOUT: &str = "\"><img src=x onerror=alert(1)>";

/// Fails when `body` holds any of the attacker's markup as markup: the script
/// tag, the image with its handler, or a `</script>` that closes no script of
/// the page's own.
fn assert_inert(what: &str, body: &str) {
    for raw in ["<script>alert(1)", "<img src=x"] {
        assert!(!body.contains(raw), "{what} holds {raw:?} unescaped");
    }
    let opened = body.matches("<script").count();
    let closed = body.matches("</script>").count();
    assert_eq!(opened, closed, "{what}: a </script> closes no script of the page's own");
}

/// Every HTML page carries the policy naming its own scripts' nonce, and the
/// other security headers.
fn assert_policed(what: &str, h: &reqwest::header::HeaderMap, body: &str) {
    assert_eq!(h.get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{what}");
    assert_eq!(h.get("referrer-policy").map(|v| v.to_str().unwrap()), Some("same-origin"), "{what}");
    let csp = h.get("content-security-policy").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    let nonce = csp.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).expect("a nonce in script-src");
    let scripts = body.matches("<script").count();
    assert!(scripts > 0, "{what}: a page hydrates");
    assert_eq!(body.matches(&format!("nonce=\"{nonce}\"")).count(), scripts, "{what}: every script carries the nonce");
}

#[tokio::test]
async fn stored_markup_stays_text_on_every_page_and_in_every_export() {
    let app = spawn_app().await;
    let admin = app.signed_in(bulkhead::auth::Role::PlatformAdmin, "ops@example.com").await;

    // A tenant named to break out of the title and of an attribute, through the form.
    let name = format!("Evil{TITLE_BREAKOUT}{ATTRIBUTE_BREAKOUT}");
    let to = app.submit(&admin, "create_tenant", &tenant_form(&name, "evil", "standard", "")).await;
    assert_eq!(to, "/tenants/evil?created=1");
    let tenant: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'evil'").fetch_one(&app.owner).await.unwrap();
    let stored: String =
        sqlx::query_scalar("SELECT name FROM tenants WHERE id = $1").bind(tenant).fetch_one(&app.owner).await.unwrap();
    assert_eq!(stored, name, "markup is a name's text, stored as typed");

    // A tier and a quota override reason holding the same, and an e-mail (written
    // directly: the address parser refuses these characters) on the tenant's admins.
    sqlx::query("UPDATE tiers SET name = $1, support = $1 WHERE id = 'standard'")
        .bind(format!("Standard{TITLE_BREAKOUT}{ATTRIBUTE_BREAKOUT}"))
        .execute(&app.owner)
        .await
        .unwrap();
    sqlx::query("INSERT INTO invitations (tenant_id, email, token_hash, expires_at) VALUES ($1, $2, sha256('evil'), now() + interval '1 day')")
        .bind(tenant)
        .bind(format!("x{ATTRIBUTE_BREAKOUT}</script>@evil.example").to_lowercase())
        .execute(&app.owner)
        .await
        .unwrap();
    let version: i32 = sqlx::query_scalar("SELECT version FROM tenants WHERE id = $1")
        .bind(tenant)
        .fetch_one(&app.owner)
        .await
        .unwrap();
    let to = app
        .submit(
            &admin,
            "set_quota_override",
            &[
                ("slug", "evil"),
                ("version", &version.to_string()),
                ("metric", "users"),
                ("value", "5000"),
                ("reason", &format!("Because{ATTRIBUTE_BREAKOUT}{TITLE_BREAKOUT}")),
            ],
        )
        .await;
    assert!(!to.contains("error"), "{to}");

    // An audit event whose e-mail and user agent hold both: a failed sign-in.
    let res = app
        .client()
        .post(app.url("/api/login"))
        .header("accept", "text/html")
        .header("user-agent", format!("agent{TITLE_BREAKOUT}{ATTRIBUTE_BREAKOUT}"))
        .form(&[("email", format!("{TITLE_BREAKOUT}{ATTRIBUTE_BREAKOUT}").as_str()), ("password", "x"), ("next", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let events: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM audit_events ORDER BY id").fetch_all(&app.owner).await.unwrap();
    let tenant_admin = app.tenant_admin(tenant, "owner@evil.example").await;

    let mut staff_pages: Vec<String> = [
        "/",
        "/tenants",
        "/tenants?q=evil",
        "/tenants/new",
        "/tenants/evil",
        "/tiers",
        "/tiers/standard/edit",
        "/audit",
        "/audit?tenant=evil",
        "/audit/verify",
        "/account",
        "/no/such/page",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    staff_pages.extend(events.iter().map(|id| format!("/audit/{id}")));
    let tenant_pages = ["/", "/team", "/audit", "/account"].map(String::from);
    for (who, client, pages) in
        [("staff", &admin, &staff_pages[..]), ("tenant admin", &tenant_admin, &tenant_pages[..])]
    {
        let mut shown = 0;
        for path in pages {
            let res = client.get(app.url(path)).send().await.unwrap();
            let status = res.status();
            let what = format!("{who} {path} ({status})");
            assert!(status == 200 || path == "/no/such/page", "{what}");
            let headers = res.headers().clone();
            let body = res.text().await.unwrap();
            assert_inert(&what, &body);
            assert_policed(&what, &headers, &body);
            shown += usize::from(body.contains("Evil&lt;/title&gt;&lt;script&gt;"));
        }
        assert!(shown >= 1, "{who}: the name is shown, escaped");
    }
    // The title itself: escaped in the head, not cut short.
    let page = admin.get(app.url("/tenants/evil")).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("<title>Evil&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;\"&gt;&lt;img src=x onerror=alert(1)&gt; · Bulkhead</title>"),
        "{}",
        page.split("<title>").nth(1).unwrap_or("no title").chars().take(200).collect::<String>()
    );

    // Exports are files, never pages: not HTML, not sniffed; JSON keeps no markup and reads back exactly.
    for (client, path) in [
        (&admin, "/tenants/evil/export?format=json"),
        (&admin, "/tenants/evil/export?format=yaml"),
        (&admin, "/audit/export?format=csv"),
        (&admin, "/audit/export?format=jsonl"),
        (&tenant_admin, "/audit/export?format=jsonl"),
    ] {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers().clone();
        assert!(!h["content-type"].to_str().unwrap().contains("html"), "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert!(h["content-disposition"].to_str().unwrap().starts_with("attachment"), "{path}");
        let body = res.text().await.unwrap();
        if path.contains("json") {
            assert!(!body.contains(['<', '>']), "{path} holds markup");
            let first: serde_json::Value = serde_json::from_str(body.lines().next().unwrap_or("")).unwrap_or_default();
            if path.starts_with("/tenants") {
                let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(doc["tenant"]["name"], name.as_str(), "the export reads back the name exactly");
            } else {
                assert!(first.is_object(), "{path}");
                assert!(body.contains("\\u003c/title\\u003e"), "{path}");
            }
        } else {
            assert!(body.contains("</title>"), "{path}: the data itself is kept");
        }
    }
}

#[tokio::test]
async fn names_nobody_can_read_are_refused_and_nothing_is_written() {
    let app = spawn_app().await;
    let admin = app.signed_in(bulkhead::auth::Role::PlatformAdmin, "ops@example.com").await;
    for (name, problem) in [("\u{200B}", "U+200B"), ("Acme\u{202E}gnp.exe", "bidirectional"), ("\u{3164}", "visible")] {
        let to = app.submit(&admin, "create_tenant", &tenant_form(name, "acme", "standard", "")).await;
        assert!(to.starts_with("/tenants/new?"), "{name:?}: {to}");
        let page = admin.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(problem), "{name:?}: the message under the field names the problem");
    }
    // Escapes that decode to bytes that are not UTF-8: refused, not stored as U+FFFD.
    let res = admin
        .post(app.url("/api/create_tenant"))
        .header("accept", "text/html")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=%FF%FE%FD&slug=ffe&tier=standard&isolation=1&region=eu-west-1&environment=production")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let tenants: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants").fetch_one(&app.owner).await.unwrap();
    assert_eq!(tenants, 0);
    let to = app.submit(&admin, "create_tenant", &tenant_form("Cafe\u{301}", "cafe", "standard", "")).await;
    assert_eq!(to, "/tenants/cafe?created=1");
    let stored: String = sqlx::query_scalar("SELECT name FROM tenants").fetch_one(&app.owner).await.unwrap();
    assert_eq!(stored, "Caf\u{e9}", "stored in NFC");
}

#[tokio::test]
async fn every_flow_works_on_a_pool_of_one_connection() {
    // A request that needed two connections at once would wait on itself here.
    let app = common::spawn_app_with(Config { db_max_connections: 1, ..Config::default() }).await;
    let admin = app.signed_in(bulkhead::auth::Role::PlatformAdmin, "ops@example.com").await;
    let to = app.submit(&admin, "create_tenant", &tenant_form("Acme", "acme", "standard", "")).await;
    assert_eq!(to, "/tenants/acme?created=1");
    for path in ["/", "/tenants", "/tenants/acme", "/tenants/acme?preview_tier=free", "/tiers", "/audit", "/account"] {
        let res = admin.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let version: i32 =
        sqlx::query_scalar("SELECT version FROM tenants WHERE slug = 'acme'").fetch_one(&app.owner).await.unwrap();
    let to = app
        .submit(
            &admin,
            "change_tier",
            &[("slug", "acme"), ("version", &version.to_string()), ("tier", "premium"), ("isolation", "2")],
        )
        .await;
    assert!(!to.contains("error"), "{to}");
    let tenant: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'").fetch_one(&app.owner).await.unwrap();
    let tenant_admin = app.tenant_admin(tenant, "owner@acme.example").await;
    for path in ["/", "/team", "/audit"] {
        assert_eq!(tenant_admin.get(app.url(path)).send().await.unwrap().status(), 200, "tenant admin {path}");
    }
}

#[tokio::test]
async fn pages_keep_streaming_while_another_console_starts_in_the_same_process() {
    // Building a router walks the page tree once; nothing a page loads meanwhile may be held up by it.
    let app = spawn_app().await;
    let admin = app.signed_in(bulkhead::auth::Role::PlatformAdmin, "ops@example.com").await;
    let to = app.submit(&admin, "create_tenant", &tenant_form("Acme", "acme", "standard", "")).await;
    assert_eq!(to, "/tenants/acme?created=1");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let builder = {
        let (stop, pool, runtime) = (stop.clone(), app.pool.clone(), tokio::runtime::Handle::current());
        std::thread::spawn(move || {
            let _runtime = runtime.enter();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let state = startup::state(pool.clone(), Config::default(), startup::leptos_options());
                drop(startup::router(state));
            }
        })
    };
    let mut stalled = Vec::new();
    for round in 0..60 {
        for path in ["/", "/tenants", "/tenants/acme", "/audit"] {
            let page = tokio::time::timeout(Duration::from_secs(5), async {
                admin.get(app.url(path)).send().await.unwrap().text().await.unwrap()
            })
            .await;
            if page.is_err() {
                stalled.push(format!("{path} (round {round})"));
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    builder.join().unwrap();
    assert!(stalled.is_empty(), "pages that never finished: {stalled:?}");
}

#[tokio::test]
async fn a_crafted_link_puts_no_words_on_a_page() {
    // Refusals travel in the session of the one who sent the form; an address only names them.
    let app = spawn_app().await;
    let admin = app.signed_in(bulkhead::auth::Role::PlatformAdmin, "ops@example.com").await;
    let bait = "Your session expired: call +1 555 0100";
    let encoded = bulkhead::ui::url_encode(bait);
    for path in [
        format!("/tenants/new?error._form={encoded}&error.name={encoded}&name={encoded}"),
        format!("/account?error._form={encoded}&error.current={encoded}"),
        format!("/tiers?updated={encoded}"),
        format!("/tiers/standard/edit?error._form={encoded}&backup={encoded}"),
        format!("/tenants/new?form={encoded}"),
    ] {
        let page = admin.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
        assert!(!page.contains("call +1 555 0100"), "{path} shows the link's words");
    }
    let page = app.client().get(app.url(&format!("/invite/x?error._form={encoded}"))).send().await.unwrap();
    assert!(!page.text().await.unwrap().contains("call +1 555 0100"), "the public invitation page too");

    // A refusal shows once, to the one who sent it, with what they typed.
    let to = app.submit(&admin, "create_tenant", &tenant_form("Keep me", "Bad Slug", "standard", "")).await;
    assert!(to.starts_with("/tenants/new?form="), "{to}");
    let other = app.signed_in(bulkhead::auth::Role::PlatformAdmin, "other@example.com").await;
    let page = other.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("Keep me") && !page.contains("capital letters"), "another session sees nothing");
    let page = admin.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"value="Keep me""#) && page.contains("capital letters"), "the sender sees it");
    let again = admin.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
    assert!(!again.contains("capital letters"), "once");
}
