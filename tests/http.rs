//! Operations and hardening: health, readiness, CSRF, oversized and malformed
//! requests, and recovery when the database comes back.

mod common;

use bulkhead::server::config::Config;
use common::{fresh_database, location, spawn_app, spawn_app_on};
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
