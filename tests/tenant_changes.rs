//! Changing a tenant: tier (with the downgrade check), status, deletion
//! protection and deletion, with stale edits refused and every change audited.

mod common;

use common::{spawn_app, TestApp};

const EMAIL: &str = "ops@example.com";

async fn signed_in(app: &TestApp) -> reqwest::Client {
    app.signed_in(bulkhead::auth::Role::PlatformAdmin, EMAIL).await
}

async fn tenant(app: &TestApp, slug: &str, tier: &str, level: i16) -> uuid::Uuid {
    sqlx::query_scalar("INSERT INTO tenants (slug, name, tier_id, isolation_level, status) VALUES ($1, $1, $2, $3, 'active') RETURNING id")
        .bind(slug)
        .bind(tier)
        .bind(level)
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

async fn state(app: &TestApp, slug: &str) -> (String, i16, String, i32) {
    sqlx::query_as("SELECT tier_id, isolation_level, status, version FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

async fn events(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action LIKE 'tenant.%'")
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_upgrade_is_applied_and_audited_with_before_and_after() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    tenant(&app, "acme", "free", 1).await;
    let to = app.submit(&client, "change_tier", &[("slug", "acme"), ("version", "1"), ("tier", "standard")]).await;
    assert_eq!(to, "/tenants/acme?done=tier");
    assert_eq!(state(&app, "acme").await, ("standard".into(), 1, "active".into(), 2));
    let (before, after): (serde_json::Value, serde_json::Value) =
        sqlx::query_as("SELECT before, after FROM audit_events WHERE action = 'tenant.tier_changed'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!((before["tier"].as_str(), after["tier"].as_str()), (Some("free"), Some("standard")));
}

#[tokio::test]
async fn a_downgrade_that_usage_forbids_is_refused_naming_limit_usage_and_ceiling() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    let id = tenant(&app, "bigco", "premium", 2).await;
    sqlx::query("INSERT INTO usage_samples (tenant_id, metric, value) VALUES ($1, 'storage', 500 * 1024::bigint ^ 3), ($1, 'users', 20)")
        .bind(id)
        .execute(&app.owner)
        .await
        .unwrap();
    let before = events(&app).await;
    let to = app
        .submit(
            &client,
            "change_tier",
            &[("slug", "bigco"), ("version", "1"), ("tier", "standard"), ("isolation", "2")],
        )
        .await;
    let message = app.refusal(&client, &to, "/tenants/bigco", "tier").await;
    assert!(message.contains("Storage: current usage 500 GiB is over the new limit of 100 GiB"), "{message}");
    assert!(!message.contains("Users"), "users fit: {message}");
    assert_eq!(state(&app, "bigco").await, ("premium".into(), 2, "active".into(), 1), "nothing changed");
    assert_eq!(events(&app).await, before, "nothing audited");

    // The page shows the refusal in the preview, before anyone confirms.
    let html = client.get(app.url("/tenants/bigco?preview_tier=standard")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("This change will be refused"), "preview warns");
}

#[tokio::test]
async fn an_isolation_level_the_new_tier_forbids_must_change_in_the_same_step() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    tenant(&app, "mid", "premium", 2).await;
    let to = app.submit(&client, "change_tier", &[("slug", "mid"), ("version", "1"), ("tier", "free")]).await;
    assert!(app.refusal(&client, &to, "/tenants/mid", "isolation").await.contains("in the same step"));
    let to = app
        .submit(&client, "change_tier", &[("slug", "mid"), ("version", "1"), ("tier", "free"), ("isolation", "2")])
        .await;
    app.refusal(&client, &to, "/tenants/mid", "isolation").await;
    let to = app
        .submit(&client, "change_tier", &[("slug", "mid"), ("version", "1"), ("tier", "free"), ("isolation", "1")])
        .await;
    assert_eq!(to, "/tenants/mid?done=tier");
    assert_eq!(state(&app, "mid").await, ("free".into(), 1, "active".into(), 2));
    // Moving to level 3 waits for the activation checklist.
    app.submit(
        &client,
        "change_tier",
        &[("slug", "mid"), ("version", "2"), ("tier", "enterprise"), ("isolation", "3")],
    )
    .await;
    let (_, level, status, _) = state(&app, "mid").await;
    assert_eq!((level, status.as_str()), (3, "provisioning"));
    assert_eq!(activations(&app, "mid").await, vec!["requested".to_string()], "its checklist opened");
}

#[tokio::test]
async fn a_stale_edit_is_a_conflict_and_loses_nothing() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    tenant(&app, "shared", "free", 1).await;
    // Two admins opened version 1; the first saves.
    assert_eq!(
        app.submit(&client, "set_tenant_status", &[("slug", "shared"), ("version", "1"), ("action", "suspend")]).await,
        "/tenants/shared?done=suspended"
    );
    let to = app.submit(&client, "change_tier", &[("slug", "shared"), ("version", "1"), ("tier", "standard")]).await;
    assert!(app
        .refusal(&client, &to, "/tenants/shared", "_form")
        .await
        .starts_with("Someone else changed this tenant"));
    assert_eq!(state(&app, "shared").await, ("free".into(), 1, "suspended".into(), 2), "the first change stands");
}

#[tokio::test]
async fn suspend_reactivate_protect_and_delete() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    tenant(&app, "gone", "free", 1).await;
    assert_eq!(
        app.submit(&client, "set_tenant_status", &[("slug", "gone"), ("version", "1"), ("action", "suspend")]).await,
        "/tenants/gone?done=suspended"
    );
    assert_eq!(
        app.submit(&client, "set_tenant_status", &[("slug", "gone"), ("version", "2"), ("action", "reactivate")]).await,
        "/tenants/gone?done=reactivated"
    );
    assert_eq!(
        app.submit(&client, "set_deletion_protection", &[("slug", "gone"), ("version", "3"), ("protect", "on")]).await,
        "/tenants/gone?done=protected"
    );
    let to = app.submit(&client, "delete_tenant", &[("slug", "gone"), ("version", "4"), ("confirm", "gone")]).await;
    let echo = app.echo(&client, &to).await;
    assert!(echo.errors.values().any(|m| m.contains("Deletion protection is on")), "{echo:?}");
    assert_eq!(
        app.submit(&client, "set_deletion_protection", &[("slug", "gone"), ("version", "4"), ("protect", "off")]).await,
        "/tenants/gone?done=unprotected"
    );
    let to = app.submit(&client, "delete_tenant", &[("slug", "gone"), ("version", "5"), ("confirm", "gon")]).await;
    app.refusal(&client, &to, "/tenants/gone", "confirm").await;
    assert_eq!(state(&app, "gone").await.2, "active");
    assert_eq!(
        app.submit(&client, "delete_tenant", &[("slug", "gone"), ("version", "5"), ("confirm", "gone")]).await,
        "/tenants?done=deleted"
    );
    assert_eq!(state(&app, "gone").await.2, "deleted", "soft: the row stays");
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_events WHERE target = 'gone' ORDER BY id")
        .fetch_all(&app.owner)
        .await
        .unwrap();
    assert_eq!(
        actions,
        [
            "tenant.suspended",
            "tenant.reactivated",
            "tenant.deletion_protection",
            "tenant.deletion_protection",
            "tenant.deleted"
        ]
    );
    let html = client.get(app.url("/tenants")).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains(">gone<"), "deleted tenants leave the default list");
}

#[tokio::test]
async fn an_auditor_changes_nothing() {
    let app = spawn_app().await;
    let client = app.signed_in(bulkhead::auth::Role::PlatformAuditor, "audit@example.com").await;
    tenant(&app, "read-only", "free", 1).await;
    for (f, fields) in [
        ("change_tier", vec![("slug", "read-only"), ("version", "1"), ("tier", "standard")]),
        ("set_tenant_status", vec![("slug", "read-only"), ("version", "1"), ("action", "suspend")]),
        ("delete_tenant", vec![("slug", "read-only"), ("version", "1"), ("confirm", "read-only")]),
    ] {
        let to = app.submit(&client, f, &fields).await;
        assert!(
            app.refusal(&client, &to, "/tenants/read-only", "_form").await.starts_with("You do not have permission"),
            "{f}"
        );
    }
    assert_eq!(state(&app, "read-only").await, ("free".into(), 1, "active".into(), 1));
    let html = client.get(app.url("/tenants/read-only")).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("Delete tenant"), "no actions offered to an auditor");
}

#[tokio::test]
async fn quota_overrides_carry_a_reason_and_removing_one_restores_the_tier() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    let id = tenant(&app, "quota", "standard", 1).await;
    let before = events(&app).await;
    for (value, reason, field) in [
        ("-5 GiB", "growth", "value"),
        ("lots", "growth", "value"),
        ("99999999 TiB", "growth", "value"),
        ("200", "growth", "value"),
        ("200 GiB", "", "reason"),
    ] {
        let to = app
            .submit(
                &client,
                "set_quota_override",
                &[("slug", "quota"), ("version", "1"), ("metric", "storage"), ("value", value), ("reason", reason)],
            )
            .await;
        let echo = app.echo(&client, &to).await;
        assert!(echo.error(field).is_some(), "{value:?}/{reason:?}: {echo:?}");
        assert_eq!(echo.value("value").as_deref(), Some(value).filter(|v| !v.is_empty()), "what was typed comes back");
    }
    let to = app
        .submit(
            &client,
            "set_quota_override",
            &[("slug", "quota"), ("version", "1"), ("metric", "bogus"), ("value", "1"), ("reason", "growth")],
        )
        .await;
    app.refusal(&client, &to, "/tenants/quota", "metric").await;
    assert_eq!(events(&app).await, before, "refusals write nothing");
    let overrides: i64 =
        sqlx::query_scalar("SELECT count(*) FROM quota_overrides").fetch_one(&app.owner).await.unwrap();
    assert_eq!(overrides, 0);

    let to = app
        .submit(
            &client,
            "set_quota_override",
            &[
                ("slug", "quota"),
                ("version", "1"),
                ("metric", "storage"),
                ("value", "2 TiB"),
                ("reason", "data migration until March"),
            ],
        )
        .await;
    assert_eq!(to, "/tenants/quota?done=override_set");
    let html = client.get(app.url("/tenants/quota")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("2 TiB"));
    assert!(html.contains("override by ops@example.com on"), "the source names the author");
    assert!(html.contains("data migration until March"));

    // Usage within the override survives a downgrade that the tier alone would forbid.
    sqlx::query("INSERT INTO usage_samples (tenant_id, metric, value) VALUES ($1, 'storage', 500 * 1024::bigint ^ 3)")
        .bind(id)
        .execute(&app.owner)
        .await
        .unwrap();
    let to = app.submit(&client, "change_tier", &[("slug", "quota"), ("version", "2"), ("tier", "free")]).await;
    assert_eq!(to, "/tenants/quota?done=tier", "the override stays, so storage still fits");

    let to = app
        .submit(&client, "remove_quota_override", &[("slug", "quota"), ("version", "3"), ("metric", "storage")])
        .await;
    assert_eq!(to, "/tenants/quota?done=override_removed");
    let html = client.get(app.url("/tenants/quota")).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("override by"));
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_events WHERE target = 'quota' ORDER BY id")
        .fetch_all(&app.owner)
        .await
        .unwrap();
    // Without the override, 500 GiB is over the free tier's storage: the
    // removal raises the alert with it.
    assert_eq!(
        actions,
        ["tenant.quota_override_set", "tenant.tier_changed", "tenant.quota_override_removed", "quota.exceeded"]
    );
}

#[tokio::test]
async fn isolation_changes_stay_within_the_tier_and_level_3_awaits_the_checklist() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    tenant(&app, "iso", "premium", 2).await;
    let to = app.submit(&client, "change_isolation", &[("slug", "iso"), ("version", "1"), ("isolation", "1")]).await;
    assert!(app.refusal(&client, &to, "/tenants/iso", "isolation").await.contains("change the tier first"));
    let to = app
        .submit(
            &client,
            "change_isolation",
            &[("slug", "iso"), ("version", "1"), ("isolation", "3"), ("namespace", "Bad NS")],
        )
        .await;
    app.refusal(&client, &to, "/tenants/iso", "namespace").await;
    let to = app
        .submit(
            &client,
            "change_isolation",
            &[("slug", "iso"), ("version", "1"), ("isolation", "3"), ("namespace", "iso-dedicated")],
        )
        .await;
    assert_eq!(to, "/tenants/iso?done=awaiting_checklist");
    let (ns, status, dedicated): (Option<String>, String, bool) =
        sqlx::query_as("SELECT namespace_target, status, dedicated_instance FROM tenants WHERE slug = 'iso'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!((ns.as_deref(), status.as_str(), dedicated), (Some("iso-dedicated"), "provisioning", false));
    let after: serde_json::Value =
        sqlx::query_scalar("SELECT after FROM audit_events WHERE action = 'tenant.isolation_changed'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(after["isolation_level"], 3);
    assert_eq!(activations(&app, "iso").await, vec!["requested".to_string()], "the checklist opened");
    assert_eq!(app.count_events("activation.requested").await, 1);

    // Suspending and reactivating does not skip the checklist.
    for (v, action) in [("2", "suspend"), ("3", "reactivate")] {
        app.submit(&client, "set_tenant_status", &[("slug", "iso"), ("version", v), ("action", action)]).await;
    }
    assert_eq!(state(&app, "iso").await.2, "provisioning", "back to waiting, not active");

    // Leaving level 3 rolls the checklist back and keeps it as history; coming back opens a new one.
    let to = app
        .submit(
            &client,
            "change_isolation",
            &[("slug", "iso"), ("version", "4"), ("isolation", "2"), ("namespace", "iso-ns")],
        )
        .await;
    assert_eq!(to, "/tenants/iso?done=isolation");
    assert_eq!(state(&app, "iso").await.2, "active");
    assert_eq!(activations(&app, "iso").await, vec!["rolled_back".to_string()]);
    let to = app
        .submit(
            &client,
            "change_tier",
            &[("slug", "iso"), ("version", "5"), ("tier", "enterprise"), ("isolation", "3")],
        )
        .await;
    assert_eq!(to, "/tenants/iso?done=tier");
    assert_eq!(activations(&app, "iso").await, vec!["rolled_back".to_string(), "requested".to_string()]);
    assert_eq!(app.count_events("activation.rolled_back").await, 1);
}

/// The states of a tenant's activations, oldest first.
async fn activations(app: &TestApp, slug: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT a.state FROM activations a JOIN tenants t ON t.id = a.tenant_id WHERE t.slug = $1 ORDER BY a.created_at, a.id",
    )
    .bind(slug)
    .fetch_all(&app.owner)
    .await
    .unwrap()
}

/// Whether `client` still holds a working session: the dashboard answers it,
/// rather than sending it to the sign-in page.
async fn still_signed_in(app: &TestApp, client: &reqwest::Client) -> bool {
    let res = client.get(app.url("/")).send().await.unwrap();
    let to = common::location(&res);
    assert!(res.status().is_success() || to.starts_with("/login"), "{} {to}", res.status());
    res.status().is_success()
}

#[tokio::test]
async fn access_ends_with_the_tenant_and_returns_with_it() {
    let app = spawn_app().await;
    let staff = signed_in(&app).await;
    let acme = tenant(&app, "acme", "free", 1).await;
    let gone = tenant(&app, "gone", "free", 1).await;
    let owner = app.tenant_admin(acme, "owner@acme.example").await;
    let other = app.tenant_admin(gone, "owner@gone.example").await;
    assert!(still_signed_in(&app, &owner).await && still_signed_in(&app, &other).await);

    // Suspension ends the sessions of the tenant's admins, and only theirs.
    app.submit(&staff, "set_tenant_status", &[("slug", "acme"), ("version", "1"), ("action", "suspend")]).await;
    assert!(!still_signed_in(&app, &owner).await, "the suspended tenant's admin is signed out");
    assert!(still_signed_in(&app, &other).await, "another tenant's admin is not");
    assert!(still_signed_in(&app, &staff).await, "platform staff are not");
    let ended: i64 = sqlx::query_scalar(
        "SELECT (after ->> 'sessions_ended')::bigint FROM audit_events WHERE action = 'tenant.suspended' AND target = 'acme'",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(ended, 1);

    // Signing in again is refused with a clear message, told only to whoever knows the password.
    let client = app.client();
    assert_eq!(app.login(&client, "owner@acme.example", common::TEST_PASSWORD).await, "/login?error=suspended");
    assert_eq!(app.login(&client, "owner@acme.example", "not the password").await, "/login?error=invalid");
    assert_eq!(app.count_events("auth.login.refused").await, 1);
    let page = client.get(app.url("/login?error=suspended")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("access to the console is suspended"), "the sign-in page says why");

    // Reactivation restores sign-in (the second factor comes next, as before).
    app.submit(&staff, "set_tenant_status", &[("slug", "acme"), ("version", "2"), ("action", "reactivate")]).await;
    assert_eq!(app.login(&app.client(), "owner@acme.example", common::TEST_PASSWORD).await, "/login/code");

    // Deletion ends access the same way.
    app.submit(&staff, "delete_tenant", &[("slug", "gone"), ("version", "1"), ("confirm", "gone")]).await;
    assert!(!still_signed_in(&app, &other).await);
    assert_eq!(app.login(&app.client(), "owner@gone.example", common::TEST_PASSWORD).await, "/login?error=suspended");
}

async fn details(app: &TestApp, slug: &str) -> (String, String, String, Vec<String>, i32) {
    sqlx::query_as("SELECT name, region, environment, compliance, version FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

#[tokio::test]
async fn name_region_environment_and_compliance_are_edited_versioned_and_audited() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    tenant(&app, "renamed", "standard", 1).await;
    let page = client.get(app.url("/tenants/renamed")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Save details"), "the page offers the form");

    let to = app
        .submit(
            &client,
            "change_tenant_details",
            &[
                ("slug", "renamed"),
                ("version", "1"),
                ("name", "Renamed & Co"),
                ("region", "us-east-1"),
                ("environment", "staging"),
                ("compliance[]", "gdpr"),
                ("compliance[]", "pci-dss"),
            ],
        )
        .await;
    assert_eq!(to, "/tenants/renamed?done=details");
    assert_eq!(
        details(&app, "renamed").await,
        ("Renamed & Co".into(), "us-east-1".into(), "staging".into(), vec!["gdpr".into(), "pci-dss".into()], 2)
    );
    let (before, after): (serde_json::Value, serde_json::Value) =
        sqlx::query_as("SELECT before, after FROM audit_events WHERE action = 'tenant.details_changed'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!((before["name"].as_str(), after["name"].as_str()), (Some("renamed"), Some("Renamed & Co")));
    assert_eq!(after["compliance"], serde_json::json!(["gdpr", "pci-dss"]));

    // Bad input: every field named, nothing written, nothing audited, what was typed kept.
    let before = events(&app).await;
    let to = app
        .submit(
            &client,
            "change_tenant_details",
            &[("slug", "renamed"), ("version", "2"), ("name", " "), ("region", "mars-1"), ("environment", "prod")],
        )
        .await;
    let echo = app.echo(&client, &to).await;
    assert!(echo.error("name").is_some_and(|m| m.contains("Enter the tenant")), "{echo:?}");
    assert!(echo.error("region").is_some_and(|m| m.contains("region")), "{echo:?}");
    assert!(echo.error("environment").is_some_and(|m| m.contains("Choose development")), "{echo:?}");
    // The page shows each message next to its field, with what was typed.
    let to = app
        .submit(
            &client,
            "change_tenant_details",
            &[
                ("slug", "renamed"),
                ("version", "2"),
                ("name", "Kept as typed"),
                ("region", "mars-1"),
                ("environment", "staging"),
            ],
        )
        .await;
    let html = client.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Choose a region from the list.") && html.contains("Kept as typed"), "{html}");
    assert_eq!(details(&app, "renamed").await.4, 2, "nothing written");
    assert_eq!(events(&app).await, before, "nothing audited");

    // A stale version is refused; so is a change to nothing.
    let to = app
        .submit(
            &client,
            "change_tenant_details",
            &[
                ("slug", "renamed"),
                ("version", "1"),
                ("name", "Other"),
                ("region", "us-east-1"),
                ("environment", "staging"),
            ],
        )
        .await;
    assert!(app.refusal(&client, &to, "/tenants/renamed", "_form").await.starts_with("Someone else changed"));
    assert_eq!(details(&app, "renamed").await.0, "Renamed & Co");

    // An auditor changes nothing.
    let auditor = app.signed_in(bulkhead::auth::Role::PlatformAuditor, "audit@example.com").await;
    let to = app
        .submit(
            &auditor,
            "change_tenant_details",
            &[
                ("slug", "renamed"),
                ("version", "2"),
                ("name", "Mine"),
                ("region", "us-east-1"),
                ("environment", "staging"),
            ],
        )
        .await;
    assert!(app.refusal(&auditor, &to, "/tenants/renamed", "_form").await.starts_with("You do not have permission"));
    assert_eq!(details(&app, "renamed").await.4, 2);
}

#[tokio::test]
async fn a_smaller_environment_that_usage_forbids_is_refused() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    let id = tenant(&app, "busy", "free", 1).await;
    // The free tier's CPU limit in production, fully used: half of it in development is too small.
    let cpu: i64 =
        sqlx::query_scalar("SELECT cpu_millicores FROM tiers WHERE id = 'free'").fetch_one(&app.owner).await.unwrap();
    sqlx::query("INSERT INTO usage_samples (tenant_id, metric, value) VALUES ($1, 'cpu', $2)")
        .bind(id)
        .bind(cpu)
        .execute(&app.owner)
        .await
        .unwrap();
    let to = app
        .submit(
            &client,
            "change_tenant_details",
            &[
                ("slug", "busy"),
                ("version", "1"),
                ("name", "busy"),
                ("region", "eu-west-1"),
                ("environment", "development"),
            ],
        )
        .await;
    let message = app.refusal(&client, &to, "/tenants/busy", "environment").await;
    assert!(message.contains("over its limits"), "{message}");
    assert_eq!(details(&app, "busy").await.2, "production");
}

#[tokio::test]
async fn a_quota_goes_below_current_usage_neither_by_a_tier_change_nor_by_an_override() {
    let app = spawn_app().await;
    let ops = bulkhead::audit::Actor::cli();
    let id = tenant(&app, "crowded", "standard", 1).await;
    // 50 users: over the free tier's 10.
    sqlx::query("INSERT INTO usage_current (tenant_id, metric, value, recorded_at) VALUES ($1, 'users', 50, now())")
        .bind(id)
        .execute(&app.owner)
        .await
        .unwrap();
    let tier = bulkhead::tenants::ssr::change_tier(&app.pool, &ops, "crowded", 1, "free", "").await.unwrap_err();
    assert!(tier.field_message("tier").is_some_and(|m| m.contains("over")), "{tier:?}");
    let over = bulkhead::tenants::ssr::set_override(&app.pool, &ops, "crowded", 1, "users", "40", "a smaller team")
        .await
        .unwrap_err();
    assert!(over.field_message("value").is_some_and(|m| m.contains("current usage 50")), "{over:?}");
    assert_eq!(state(&app, "crowded").await.3, 1, "nothing written");
    let overrides: i64 =
        sqlx::query_scalar("SELECT count(*) FROM quota_overrides").fetch_one(&app.owner).await.unwrap();
    assert_eq!(overrides, 0);
    // At what it uses, an override is taken.
    bulkhead::tenants::ssr::set_override(&app.pool, &ops, "crowded", 1, "users", "50", "exactly the team")
        .await
        .unwrap();
}
