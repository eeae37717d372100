//! `/metrics`: fenced by token scope, tenant labels bounded, and scraped by
//! the real Prometheus, which answers every query of the shipped Grafana
//! dashboard with data.

mod common;

use bulkhead::audit::Actor;
use bulkhead::server::config::Config;
use bulkhead::tokens::ssr::{create, NewToken};
use common::{spawn_app_with, TestApp};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Six Free tenants (10 users each) at 10, 40, 60, 70, 90 and 120 % of their users.
async fn arranged(series: usize) -> (TestApp, String, String) {
    let app = spawn_app_with(Config { metrics_tenant_series: series, ..Config::default() }).await;
    sqlx::query(
        "INSERT INTO tenants (slug, name, tier_id, status)
         SELECT 'tenant-' || u, 'Tenant ' || u, 'free', 'active' FROM unnest(ARRAY[1, 4, 6, 7, 9, 12]) AS u",
    )
    .execute(&app.owner)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO usage_samples (tenant_id, metric, value) SELECT id, 'users', substr(slug, 8)::int FROM tenants",
    )
    .execute(&app.owner)
    .await
    .unwrap();
    let metrics =
        create(&app.pool, &Actor::cli(), None, NewToken::parse("prometheus", &["metrics"], "").unwrap()).await.unwrap();
    let ingest =
        create(&app.pool, &Actor::cli(), None, NewToken::parse("collector", &["ingest"], "").unwrap()).await.unwrap();
    app.start_routing().await;
    let snapshot = bulkhead::metrics::tenants::snapshot(&app.pool, series).await.unwrap();
    app.metrics().set_tenants(snapshot);
    (app, metrics, ingest)
}

async fn scrape(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().get(app.url("/metrics"));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let res = request.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn metrics_need_the_scope_and_label_only_the_fullest_tenants() {
    let (app, metrics, ingest) = arranged(2).await;
    assert_eq!(scrape(&app, None).await.0, 401);
    assert_eq!(scrape(&app, Some(&ingest)).await.0, 403);
    // A page view, to be counted by its route's pattern.
    reqwest::get(app.url("/login")).await.unwrap();
    let (status, body) = scrape(&app, Some(&metrics)).await;
    assert_eq!(status, 200);
    assert!(body.ends_with("# EOF\n"), "one complete exposition");
    // (A family's series come in no set order.)
    let mut labelled: Vec<&str> =
        body.lines().filter(|l| l.starts_with("bulkhead_tenant_utilisation_ratio{")).collect();
    labelled.sort_unstable();
    assert_eq!(
        labelled,
        [
            r#"bulkhead_tenant_utilisation_ratio{tenant="tenant-12",metric="api_calls"} 0.0"#,
            r#"bulkhead_tenant_utilisation_ratio{tenant="tenant-12",metric="users"} 1.2"#,
            r#"bulkhead_tenant_utilisation_ratio{tenant="tenant-9",metric="api_calls"} 0.0"#,
            r#"bulkhead_tenant_utilisation_ratio{tenant="tenant-9",metric="users"} 0.9"#
        ],
        "the two fullest, of the four from 50 %, with the month's calls (none counted yet: zero, as on their pages)"
    );
    for line in [
        r#"bulkhead_tenants_in_band{metric="users",band="under_50"} 2"#,
        r#"bulkhead_tenants_in_band{metric="users",band="50_to_80"} 2"#,
        r#"bulkhead_tenants_in_band{metric="users",band="80_to_100"} 1"#,
        r#"bulkhead_tenants_in_band{metric="users",band="100_and_over"} 1"#,
        r#"bulkhead_tenants{status="active",tier="free"} 6"#,
        "bulkhead_tenants_labelled 2",
        r#"bulkhead_routing_decisions_total{outcome="throttled"} 0"#,
        r#"bulkhead_routing_table_entries{kind="tenants"} 6"#,
        r#"bulkhead_routing_table_entries{kind="keys"} 0"#,
        "bulkhead_routing_table_listening 1",
    ] {
        assert!(body.lines().any(|l| l == line), "{line} in\n{body}");
    }
    // The table's age (fresh: just loaded), the quarantine and the fold's lag are exposed.
    let value = |name: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{name} in\n{body}"))
            .parse::<f64>()
            .unwrap()
    };
    assert!((0.0..30.0).contains(&value("bulkhead_routing_table_age_seconds")), "{body}");
    assert!(value("bulkhead_usage_quarantined_total") >= 0.0);
    value("bulkhead_usage_fold_lag_seconds");
    assert!(
        body.lines()
            .any(|l| l.starts_with(r#"bulkhead_http_requests_total{route="/login",method="GET",status="200"}"#)),
        "{body}"
    );
    assert!(!body.contains(r#"tenant="tenant-6""#), "a tenant under the cap has no series of its own");
}

/// A Prometheus server, stopped when dropped.
struct Prometheus(Child, std::path::PathBuf);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_answers_every_query_of_the_grafana_dashboard() {
    let (app, metrics, _) = arranged(500).await;
    let dir = std::env::temp_dir().join(format!("bulkhead-prometheus-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("token"), &metrics).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: bulkhead\n    metrics_path: /metrics\n    \
             authorization:\n      type: Bearer\n      credentials_file: {}\n    static_configs:\n      - targets: [\"{}\"]\n",
            dir.join("token").display(),
            app.addr
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the Prometheus server (Debian package prometheus) is installed");
    let _prometheus = Prometheus(child, dir);
    let api = format!("http://127.0.0.1:{port}/api/v1/query");
    let query = |q: String| {
        let api = api.clone();
        async move {
            let res = reqwest::Client::new().get(&api).query(&[("query", q.as_str())]).send().await.ok()?;
            res.json::<Value>().await.ok()
        }
    };
    // Up, and scraped enough times for rates over the last minute.
    let mut scrapes = 0.0;
    for _ in 0..120 {
        reqwest::get(app.url("/login")).await.unwrap();
        if let Some(v) = query("count_over_time(up{job=\"bulkhead\"}[1m])".into()).await {
            scrapes = v["data"]["result"][0]["value"][1].as_str().and_then(|s| s.parse().ok()).unwrap_or(0.0);
            if scrapes >= 4.0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(scrapes >= 4.0, "Prometheus scraped Bulkhead {scrapes} times in 30 s");
    let up = query("up{job=\"bulkhead\"}".into()).await.unwrap();
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "the scrape succeeds: {up}");

    let dashboard: Value = serde_json::from_str(include_str!("../deploy/grafana/dashboards/bulkhead.json")).unwrap();
    assert_eq!(dashboard["uid"], "bulkhead-usage");
    let mut queries: Vec<String> = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            queries.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = variable["query"]["query"].as_str() {
            // label_values(metric, label) is Grafana's; Prometheus answers the metric.
            let metric = q.trim_start_matches("label_values(").split(',').next().unwrap();
            queries.push(metric.to_string());
        }
    }
    assert!(queries.len() >= 10, "{queries:?}");
    for q in queries {
        let concrete = q.replace("$__rate_interval", "1m").replace("$tenant", ".+").replace("$job", "bulkhead");
        let answer = query(concrete.clone()).await.unwrap();
        assert_eq!(answer["status"], "success", "{concrete}: {answer}");
        let result = answer["data"]["result"].as_array().unwrap();
        assert!(!result.is_empty(), "{concrete} returns no data");
    }
}
