//! Editing the tier catalogue.

mod common;

use common::{location, spawn_app, TestApp};

async fn signed_in(app: &TestApp) -> reqwest::Client {
    app.signed_in(bulkhead::auth::Role::PlatformAdmin, "ops@example.com").await
}

fn form<'a>(version: &'a str, users: &'a str, levels: &[&'a str], default_level: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("id", "standard"),
        ("version", version),
        ("cpu", "4 cores"),
        ("memory", "16 GiB"),
        ("storage", "200 GiB"),
        ("users", users),
        ("api_calls", "2,000,000"),
        ("db_connections", "150"),
        ("default_level", default_level),
        ("backup", "Daily"),
        ("support", "12 h"),
    ];
    for l in levels {
        // Each checkbox carries its level: "level2" ticked sends levels[]=2.
        f.push(("levels[]", l.trim_start_matches("level")));
    }
    f
}

async fn post(app: &TestApp, client: &reqwest::Client, fields: &[(&str, &str)]) -> String {
    let res = client.post(app.url("/api/update_tier")).header("accept", "text/html").form(fields).send().await.unwrap();
    assert_eq!(res.status(), 302);
    location(&res)
}

#[tokio::test]
async fn a_tier_is_edited_with_validation_and_audit() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    let to = post(&app, &client, &form("1", "-4", &["level1"], "2")).await;
    let echo = app.echo(&client, &to).await;
    assert!(to.starts_with("/tiers/standard/edit?form="), "{to}");
    assert!(echo.error("users").is_some() && echo.error("default_level").is_some(), "{echo:?}");
    assert_eq!(echo.value("users").as_deref(), Some("-4"), "what was typed comes back");
    let unchanged: i64 =
        sqlx::query_scalar("SELECT max_users FROM tiers WHERE id = 'standard'").fetch_one(&app.owner).await.unwrap();
    assert_eq!(unchanged, 1000);

    // A level some tenant uses cannot be removed.
    sqlx::query("INSERT INTO tenants (slug, name, tier_id, isolation_level) VALUES ('ns-user', 'x', 'standard', 2)")
        .execute(&app.owner)
        .await
        .unwrap();
    let to = post(&app, &client, &form("1", "2000", &["level1"], "1")).await;
    assert!(app.refusal(&client, &to, "/tiers/standard/edit", "levels").await.starts_with("1 tenant"));

    let to = post(&app, &client, &form("1", "2000", &["level1", "level2"], "1")).await;
    assert_eq!(to, "/tiers?updated=standard");
    let (cpu, users, version): (i64, i64, i32) =
        sqlx::query_as("SELECT cpu_millicores, max_users, version FROM tiers WHERE id = 'standard'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!((cpu, users, version), (4000, 2000, 2));
    let (before, after): (serde_json::Value, serde_json::Value) =
        sqlx::query_as("SELECT before, after FROM audit_events WHERE action = 'tier.updated'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!((before["max_users"].as_i64(), after["max_users"].as_i64()), (Some(1000), Some(2000)));

    // The same stale form again is a conflict.
    let to = post(&app, &client, &form("1", "3000", &["level1", "level2"], "1")).await;
    assert!(app
        .refusal(&client, &to, "/tiers/standard/edit", "_form")
        .await
        .starts_with("Someone else changed this tier"));
}

#[tokio::test]
async fn a_tiers_call_rate_and_burst_are_edited_like_its_limits() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    let mut fields = form("1", "2000", &["level1", "level2"], "1");
    fields.extend([("rate", "0"), ("burst", "lots")]);
    let to = post(&app, &client, &fields).await;
    let echo = app.echo(&client, &to).await;
    assert!(echo.error("rate").is_some() && echo.error("burst").is_some(), "{echo:?}");

    let mut fields = form("1", "2000", &["level1", "level2"], "1");
    fields.extend([("rate", "75"), ("burst", "1,500")]);
    assert_eq!(post(&app, &client, &fields).await, "/tiers?updated=standard");
    let (rate, burst): (i32, i32) =
        sqlx::query_as("SELECT api_rate_per_second, api_burst FROM tiers WHERE id = 'standard'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!((rate, burst), (75, 1500));
    let html = client.get(app.url("/tiers")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("API calls / second") && html.contains("1,500"));
}
