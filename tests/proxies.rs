//! The shipped proxy configurations (`deploy/nginx`, `deploy/caddy`) run by a
//! real nginx and a real Caddy, in front of two tiny upstreams (the shared
//! pool and one dedicated instance), with Bulkhead as their routing check:
//! callers identified by their tenant's key, strangers refused at the edge
//! without spending anything, headers a client cannot forge.

mod common;

use bulkhead::audit::Actor;
use bulkhead::server::config::Config;
use bulkhead::tokens::ssr::{create, NewToken};
use common::{spawn_app_with, TestApp};
use reqwest::StatusCode;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A proxy process, stopped when the test ends: asked to quit (nginx's
/// master then stops its workers; killed outright, it would leave them
/// running, listening), and killed only if it does not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bulkhead-{name}-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn wait_for(port: u16, what: &str, log: &Path) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not start: {}", std::fs::read_to_string(log).unwrap_or_default());
}

/// An upstream that says who it is, for which tenant, what Authorization it
/// received, and every header under Bulkhead's names that reached it.
async fn upstream(name: &'static str) -> SocketAddr {
    use axum::http::HeaderMap;
    let app = axum::Router::new().fallback(move |headers: HeaderMap| async move {
        let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
        let mut others: Vec<String> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap_or("?")))
            .filter(|(k, _)| {
                ["x-bulkhead-", "x-upstream", "x-api-key"].iter().any(|p| k.starts_with(p))
                    || (k.starts_with("x-tenant-") && !["x-tenant-id", "x-tenant-slug", "x-tenant-tier"].contains(k))
            })
            .map(|(k, v)| format!(" {k}={v}"))
            .collect();
        others.sort();
        format!(
            "{name} tenant={} id={} auth={}{}",
            h("x-tenant-slug"),
            h("x-tenant-id"),
            h("authorization"),
            others.concat()
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn nginx(bulkhead: &str, token: &str) -> (Running, u16) {
    let (dir, port) = (scratch("nginx"), free_port());
    let template = std::fs::read_to_string("deploy/nginx/bulkhead.conf.template").unwrap();
    let server = template
        .replace("${LISTEN}", &format!("127.0.0.1:{port}"))
        .replace("${BULKHEAD_URL}", bulkhead)
        .replace("${BULKHEAD_ROUTING_TOKEN}", token);
    std::fs::write(dir.join("bulkhead.conf"), server).unwrap();
    let d = dir.display();
    let main = format!(
        "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections 256; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
         include {d}/bulkhead.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let child = Command::new("nginx")
        .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf"), "-g", "daemon off; user root;"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .expect("nginx (Debian: apt-get install nginx-light)");
    let running = Running(child);
    wait_for(port, "nginx", &dir.join("stderr.log")).await;
    (running, port)
}

async fn caddy(bulkhead: &str, token: &str) -> (Running, u16) {
    let (dir, port) = (scratch("caddy"), free_port());
    let child = Command::new("caddy")
        .args(["run", "--config", "deploy/caddy/Caddyfile", "--adapter", "caddyfile"])
        .env("LISTEN", format!(":{port}"))
        .env("BULKHEAD_URL", bulkhead.trim_start_matches("http://"))
        .env("BULKHEAD_ROUTING_TOKEN", token)
        .env("XDG_DATA_HOME", &dir)
        .env("XDG_CONFIG_HOME", &dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
        .spawn()
        .expect("caddy (Debian: apt-get install caddy)");
    let running = Running(child);
    wait_for(port, "caddy", &dir.join("stderr.log")).await;
    (running, port)
}

async fn through(port: u16, host: &str, extra: &[(&str, &str)]) -> (StatusCode, String, String) {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client =
        CLIENT.get_or_init(|| reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap());
    let mut req =
        client.get(format!("http://127.0.0.1:{port}/v1/orders")).header("host", host).bearer_auth("client-secret");
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (res.status(), retry, res.text().await.unwrap())
}

/// The tenants' keys, by slug.
type Keys = std::collections::HashMap<&'static str, String>;

async fn arranged() -> (TestApp, String, Keys) {
    let (shared, dedicated) = (upstream("shared").await, upstream("dedicated").await);
    let config = Config {
        base_domain: Some("tenants.test".into()),
        shared_upstream: format!("http://{shared}"),
        anonymous_rate: 1,
        anonymous_burst: 5,
        ..Config::default()
    };
    let app = spawn_app_with(config).await;
    sqlx::query(&format!(
        "INSERT INTO tenants (slug, name, tier_id, status, domain, upstream, dedicated_instance) VALUES
           ('acme', 'Acme', 'standard', 'active', NULL, NULL, false),
           ('globex', 'Globex', 'premium', 'active', NULL, NULL, false),
           ('vault', 'Vault', 'enterprise', 'active', 'api.vault.example', 'http://{dedicated}', false),
           ('frozen', 'Frozen', 'standard', 'suspended', NULL, NULL, false),
           ('small-n', 'Small N', 'free', 'active', NULL, NULL, false),
           ('small-c', 'Small C', 'free', 'active', NULL, NULL, false),
           ('open-n', 'Open N', 'standard', 'active', NULL, NULL, false),
           ('open-c', 'Open C', 'standard', 'active', NULL, NULL, false)"
    ))
    .execute(&app.owner)
    .await
    .unwrap();
    app.checklist_completed("vault").await;
    sqlx::query("UPDATE tenants SET dedicated_instance = true, status = 'active' WHERE slug = 'vault'")
        .execute(&app.owner)
        .await
        .unwrap();
    sqlx::query("UPDATE tiers SET api_calls_per_month = 1 WHERE id = 'free'").execute(&app.owner).await.unwrap();
    sqlx::query("UPDATE tenants SET anonymous_calls = 'pass' WHERE slug LIKE 'open-%'")
        .execute(&app.owner)
        .await
        .unwrap();
    let token =
        create(&app.pool, &Actor::cli(), None, NewToken::parse("edge", &["routing"], "").unwrap()).await.unwrap();
    let mut keys = Keys::new();
    for slug in ["acme", "globex", "vault", "frozen", "small-n", "small-c"] {
        keys.insert(slug, app.tenant_key(slug, "service").await);
    }
    app.start_routing().await;
    (app, token, keys)
}

async fn monthly_calls(app: &TestApp, slug: &str) -> i64 {
    bulkhead::app::background::stop_routing(&app.state).await;
    sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::bigint FROM api_calls JOIN tenants t ON t.id = tenant_id WHERE t.slug = $1",
    )
    .bind(slug)
    .fetch_one(&app.owner)
    .await
    .unwrap()
}

async fn the_proxy_routes_throttles_and_refuses(app: &TestApp, port: u16, keys: &Keys, small: &str, open: &str) {
    let key = |slug: &str| ("x-api-key", keys[slug].as_str());
    let acme_id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'").fetch_one(&app.owner).await.unwrap();
    let (status, _, body) = through(port, "acme.tenants.test", &[key("acme")]).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, format!("shared tenant=acme id={acme_id} auth=Bearer client-secret").as_str())
    );
    let (_, _, body) = through(port, "api.partner.example", &[key("globex")]).await;
    assert!(body.starts_with("shared tenant=globex "), "the key names its tenant whatever the host: {body}");
    let (_, _, body) = through(port, "api.vault.example", &[key("vault")]).await;
    assert!(body.starts_with("dedicated tenant=vault "), "a dedicated tenant's own upstream: {body}");
    let (_, _, body) = through(port, "vault.tenants.test", &[key("vault")]).await;
    assert!(body.starts_with("dedicated tenant=vault "), "whatever host names it: {body}");
    assert_eq!(through(port, "frozen.tenants.test", &[key("frozen")]).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        through(port, "globex.tenants.test", &[key("acme")]).await.0,
        StatusCode::FORBIDDEN,
        "A's key, B's host"
    );
    assert_eq!(through(port, "nobody.tenants.test", &[key("acme")]).await.0, StatusCode::FORBIDDEN);
    assert_eq!(through(port, "nobody.tenants.test", &[]).await.0, StatusCode::UNAUTHORIZED);

    // What a client sends under Bulkhead's names changes nothing and never reaches the upstream.
    let forged = [
        key("acme"),
        ("x-tenant-id", "globex"),
        ("x-tenant-slug", "globex"),
        ("x-upstream", "http://127.0.0.1:1"),
        ("x-upstream-host", "127.0.0.1:1"),
        ("x-bulkhead-status", "200"),
        ("x-bulkhead-token", "bkh_guess"),
    ];
    let (status, _, body) = through(port, "acme.tenants.test", &forged).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, format!("shared tenant=acme id={acme_id} auth=Bearer client-secret").as_str()),
        "the upstream hears Bulkhead alone"
    );

    // A thousand strangers naming a tenant: refused at the edge, its month and bucket untouched.
    let host = format!("{small}.tenants.test");
    for _ in 0..1000 {
        assert_eq!(through(port, &host, &[]).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(through(port, &host, &[("x-api-key", "bk_live_guess")]).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(monthly_calls(app, small).await, 0, "nothing spent");
    let (status, _, body) = through(port, &host, &[key(small)]).await;
    assert_eq!(status, StatusCode::OK, "the tenant's own key at once: {body}");
    let (status, retry, _) = through(port, &host, &[key(small)]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the month's one call is spent");
    assert!(retry.parse::<u64>().unwrap() > 0, "Retry-After: {retry:?}");

    // A tier change in the console lifts the throttle on the next request.
    let admin = app.signed_in(bulkhead::auth::Role::PlatformAdmin, &format!("ops-{small}@example.com")).await;
    let mark = app.routing().begun();
    let to = app
        .submit(&admin, "change_tier", &[("slug", small), ("version", "1"), ("tier", "standard"), ("isolation", "1")])
        .await;
    assert_eq!(to, format!("/tenants/{small}?done=tier"));
    app.routing_reloaded(mark).await;
    assert_eq!(through(port, &host, &[key(small)]).await.0, StatusCode::OK);

    // A tenant in pass-through mode: strangers reach its API uncounted, limited per address.
    let host = format!("{open}.tenants.test");
    for i in 0..5 {
        let (status, _, body) = through(port, &host, &[]).await;
        assert_eq!(status, StatusCode::OK, "call {i}: {body}");
        assert!(body.starts_with(&format!("shared tenant={open} ")), "{body}");
    }
    let (status, retry, _) = through(port, &host, &[]).await;
    assert_eq!((status, retry.as_str()), (StatusCode::TOO_MANY_REQUESTS, "1"), "the address's burst is spent");
    assert_eq!(monthly_calls(app, open).await, 0, "never against the tenant's allowance");
}

#[tokio::test]
async fn nginx_and_caddy_route_through_the_check_as_shipped() {
    let (app, token, keys) = arranged().await;
    let (_nginx, nginx_port) = nginx(&app.base, &token).await;
    the_proxy_routes_throttles_and_refuses(&app, nginx_port, &keys, "small-n", "open-n").await;
    let (_caddy, caddy_port) = caddy(&app.base, &token).await;
    the_proxy_routes_throttles_and_refuses(&app, caddy_port, &keys, "small-c", "open-c").await;

    // A proxy with a wrong token gets nothing through, and nothing is counted for it.
    let (_bad, bad_port) = nginx(&app.base, "bkh_wrong").await;
    assert_eq!(
        through(bad_port, "acme.tenants.test", &[("x-api-key", &keys["acme"])]).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_stopped_nginx_leaves_no_process_behind() {
    let (app, token, _) = arranged().await;
    let (running, port) = nginx(&app.base, &token).await;
    let master = running.0.id();
    drop(running);
    let ps = Command::new("ps").args(["-eo", "pid,ppid,args"]).output().unwrap();
    let left: Vec<String> = String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| l.contains("nginx") && l.split_whitespace().nth(1) == Some(&master.to_string()))
        .map(str::to_string)
        .collect();
    assert!(left.is_empty(), "workers of the stopped master: {left:?}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "nothing listens on its port");
}
