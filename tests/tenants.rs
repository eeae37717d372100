//! Tenants: creation through the form endpoint, refusals that write nothing,
//! the list's search, filters and paging, and the tenant's page.

mod common;

use common::{location, spawn_app, tenant_form, TestApp};

const EMAIL: &str = "ops@example.com";

async fn signed_in(app: &TestApp) -> reqwest::Client {
    app.signed_in(bulkhead::auth::Role::PlatformAdmin, EMAIL).await
}

async fn create(app: &TestApp, client: &reqwest::Client, fields: &[(&str, &str)]) -> String {
    let res =
        client.post(app.url("/api/create_tenant")).header("accept", "text/html").form(fields).send().await.unwrap();
    assert_eq!(res.status(), 302);
    location(&res)
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.owner).await.unwrap()
}

#[tokio::test]
async fn a_platform_admin_creates_a_tenant_and_the_change_is_audited() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    let mut fields = tenant_form("Société Générale", "", "premium", "");
    fields.push(("compliance[]", "gdpr"));
    fields.push(("compliance[]", "pci-dss"));
    assert_eq!(create(&app, &client, &fields).await, "/tenants/societe-generale?created=1");

    let (tier, level, compliance, namespace): (String, i16, Vec<String>, Option<String>) = sqlx::query_as(
        "SELECT tier_id, isolation_level, compliance, namespace_target FROM tenants WHERE slug = 'societe-generale'",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!((tier.as_str(), level), ("premium", 2), "the tier's default isolation level");
    assert_eq!(compliance, vec!["gdpr".to_string(), "pci-dss".to_string()]);
    assert_eq!(namespace.as_deref(), Some("tenant-societe-generale"));

    let after: serde_json::Value = sqlx::query_scalar("SELECT after FROM audit_events WHERE action = 'tenant.created'")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(after["slug"], "societe-generale");
    assert_eq!(after["tier"], "premium");
    let actor: String = sqlx::query_scalar("SELECT actor_email FROM audit_events WHERE action = 'tenant.created'")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(actor, EMAIL);

    let page = client.get(app.url("/tenants/societe-generale?created=1")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Tenant created."));
    assert!(page.contains("Société Générale"));
    assert!(page.contains("8 cores"), "premium CPU in production");
}

#[tokio::test]
async fn bad_input_is_refused_field_by_field_and_nothing_is_written() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    assert!(create(&app, &client, &tenant_form("Taken", "taken", "free", "")).await.starts_with("/tenants/taken"));
    let before =
        (count(&app, "SELECT count(*) FROM tenants").await, count(&app, "SELECT count(*) FROM audit_events").await);

    let long_name = "n".repeat(10_000);
    let slug64 = "a".repeat(64);
    // (the form, the field refused, the start of its message)
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (tenant_form("", "empty-name", "free", ""), "name", "Enter the tenant"),
        (tenant_form(&long_name, "long-name", "free", ""), "name", "at most 100"),
        (tenant_form("Caps", "Acme", "free", ""), "slug", "capital"),
        (tenant_form("Spaces", "ac me", "free", ""), "slug", "spaces"),
        (tenant_form("Accents", "acmé", "free", ""), "slug", "é"),
        (tenant_form("Hyphen", "-acme", "free", ""), "slug", "hyphen"),
        (tenant_form("Long slug", &slug64, "free", ""), "slug", "at most 63"),
        (tenant_form("Reserved", "admin", "free", ""), "slug", "reserved"),
        (tenant_form("Duplicate", "taken", "free", ""), "slug", "already taken"),
        (tenant_form("Forbidden level", "forbidden-level", "free", "3"), "isolation", "allows isolation level 1 only"),
        (tenant_form("Bad level", "bad-level", "free", "7"), "isolation", "Choose isolation"),
        (tenant_form("No tier", "no-tier", "platinum", ""), "tier", "There is no tier"),
        (
            vec![
                ("name", "Bad region"),
                ("slug", "bad-region"),
                ("tier", "free"),
                ("region", "mars-1"),
                ("environment", "production"),
            ],
            "region",
            "region",
        ),
        (
            vec![
                ("name", "Bad env"),
                ("slug", "bad-env"),
                ("tier", "free"),
                ("region", "eu-west-1"),
                ("environment", "prod"),
            ],
            "environment",
            "staging",
        ),
    ];
    for (fields, field, words) in cases {
        let target = create(&app, &client, &fields).await;
        let message = app.refusal(&client, &target, "/tenants/new", field).await;
        assert!(message.contains(words), "{field} {words}: {message}");
    }
    let after =
        (count(&app, "SELECT count(*) FROM tenants").await, count(&app, "SELECT count(*) FROM audit_events").await);
    assert_eq!(before, after, "nothing was written");

    // What was typed comes back to the form, with the message under the field.
    let target = create(&app, &client, &tenant_form("Keep me", "Bad Slug", "free", "")).await;
    let page = client.get(app.url(&target)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"value="Keep me""#), "the name typed is kept");
    assert!(page.contains("capital letters"));
}

#[tokio::test]
async fn an_auditor_cannot_create_tenants() {
    let app = spawn_app().await;
    let client = app.signed_in(bulkhead::auth::Role::PlatformAuditor, "audit@example.com").await;
    let target = create(&app, &client, &tenant_form("Sneaky", "sneaky", "free", "")).await;
    assert!(app.refusal(&client, &target, "/tenants/new", "_form").await.starts_with("You do not have permission"));
    assert_eq!(count(&app, "SELECT count(*) FROM tenants").await, 0);
    // Reading is allowed, and no change is offered.
    assert_eq!(client.get(app.url("/tenants")).send().await.unwrap().status(), 200);
    let tiers = client.get(app.url("/tiers")).send().await.unwrap().text().await.unwrap();
    assert!(tiers.contains("Enterprise") && !tiers.contains("Edit Enterprise"));
}

#[tokio::test]
async fn the_list_searches_filters_and_pages_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    sqlx::query(
        "INSERT INTO tenants (slug, name, tier_id, created_at)
         SELECT 'tenant-' || i, 'Tenant ' || i, CASE WHEN i % 2 = 0 THEN 'standard' ELSE 'free' END,
                now() - make_interval(secs => i)
         FROM generate_series(1, 120) i",
    )
    .execute(&app.owner)
    .await
    .unwrap();
    sqlx::query("INSERT INTO tenants (slug, name, tier_id, isolation_level) VALUES ('acme-corp', 'ACME 100% Corp', 'enterprise', 3)")
        .execute(&app.owner)
        .await
        .unwrap();

    let list = |q: &'static [(&'static str, &'static str)]| {
        let client = client.clone();
        let url = app.url("/api/tenants");
        async move {
            let res = client.post(url).form(q).send().await.unwrap();
            assert_eq!(res.status(), 200);
            res.json::<bulkhead::tenants::TenantPageData>().await.unwrap()
        }
    };
    let found = list(&[("q", "100%")]).await;
    assert_eq!(found.tenants.iter().map(|t| t.slug.as_str()).collect::<Vec<_>>(), vec!["acme-corp"]);
    // The tier filter's choices come with the page, cheapest first.
    assert_eq!(
        found.tiers.iter().map(|t| (t.id.as_str(), t.name.as_str())).collect::<Vec<_>>(),
        [("free", "Free"), ("standard", "Standard"), ("premium", "Premium"), ("enterprise", "Enterprise")]
    );
    let found = list(&[("q", "tenant-11")]).await;
    assert_eq!(found.tenants.len(), 11, "tenant-11 and tenant-110..119");
    let standard = list(&[("tier", "standard")]).await;
    assert!(standard.tenants.iter().all(|t| t.tier_id == "standard"));
    let dedicated = list(&[("isolation", "3")]).await;
    assert_eq!(dedicated.tenants.iter().map(|t| t.slug.as_str()).collect::<Vec<_>>(), vec!["acme-corp"]);

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut form = vec![("tier".to_string(), "".to_string())];
        if let Some(a) = &after {
            form.push(("after".into(), a.clone()));
        }
        let res = client.post(app.url("/api/tenants")).form(&form).send().await.unwrap();
        let page: bulkhead::tenants::TenantPageData = res.json().await.unwrap();
        pages += 1;
        seen.extend(page.tenants.into_iter().map(|t| t.slug));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 121);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 121, "no tenant twice");

    // In name order, across pages, still without gaps and in order.
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut form = vec![("sort".to_string(), "name".to_string())];
        if let Some(a) = &after {
            form.push(("after".into(), a.clone()));
        }
        let page: bulkhead::tenants::TenantPageData =
            client.post(app.url("/api/tenants")).form(&form).send().await.unwrap().json().await.unwrap();
        names.extend(page.tenants.into_iter().map(|t| t.name));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(names.len(), 121);
    let db_order: Vec<String> =
        sqlx::query_scalar("SELECT name FROM tenants ORDER BY name, id").fetch_all(&app.owner).await.unwrap();
    assert_eq!(names, db_order);
    let res = client.post(app.url("/api/tenants")).form(&[("sort", "price")]).send().await.unwrap();
    assert_eq!(res.status(), 422);

    let html = client.get(app.url("/tenants?tier=standard")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Next page"));
    assert!(html.contains(r#"<option value="standard" selected>Standard</option>"#), "the chosen tier stays chosen");
    assert!(!html.contains(">ACME 100% Corp<"));
}

#[tokio::test]
async fn effective_quotas_follow_the_environment() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    let mut fields = tenant_form("Dev shop", "dev-shop", "standard", "1");
    fields.retain(|(k, _)| *k != "environment");
    fields.push(("environment", "development"));
    create(&app, &client, &fields).await;
    let html = client.get(app.url("/tenants/dev-shop")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("1 core"), "2 cores × 0.5");
    assert!(html.contains("4 GiB"), "8 GiB × 0.5");
    assert!(html.contains("100 GiB"), "storage is not scaled");
    assert!(html.contains("tier × environment factor 0.5"));
    let res = client.get(app.url("/tenants/no-such-tenant")).send().await.unwrap();
    assert!(res.text().await.unwrap().contains("Not found"));
}

#[tokio::test]
async fn a_tenant_exports_as_json_and_yaml_for_staff_only() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    create(&app, &client, &tenant_form("Export Me", "export-me", "premium", "")).await;
    let res = client.get(app.url("/tenants/export-me/export?format=json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-disposition"], "attachment; filename=\"tenant-export-me.json\"");
    let doc: serde_json::Value = res.json().await.unwrap();
    assert_eq!(doc["tenant"]["slug"], "export-me");
    assert_eq!(doc["tenant"]["tier"], "premium");
    assert_eq!(doc["quotas"][0]["limit"], "cpu");
    assert_eq!(doc["quotas"][0]["effective"], 8000);
    let yaml = client.get(app.url("/tenants/export-me/export?format=yaml")).send().await.unwrap().text().await.unwrap();
    assert!(yaml.contains("slug: export-me"), "{yaml}");
    assert!(yaml.contains("slug: export-me"));
    assert_eq!(client.get(app.url("/tenants/export-me/export?format=xml")).send().await.unwrap().status(), 422);
    assert_eq!(client.get(app.url("/tenants/nope/export")).send().await.unwrap().status(), 404);
    let anonymous = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = anonymous.get(app.url("/tenants/export-me/export")).send().await.unwrap();
    assert_eq!(res.status(), 303, "signed-out users are sent to the login page");
    // Each copy taken is on record, with its form; refusals took none.
    let formats: Vec<String> = sqlx::query_scalar(
        "SELECT after ->> 'format' FROM audit_events WHERE action = 'tenant.exported' AND target = 'export-me' ORDER BY id",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert_eq!(formats, ["json", "yaml"]);
}

#[tokio::test]
async fn a_tenant_page_that_cannot_be_shown_answers_with_the_status_of_why() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    assert!(create(&app, &client, &tenant_form("Acme", "acme", "free", "")).await.starts_with("/tenants/acme"));
    for (path, status) in
        [("/tenants/acme", 200), ("/tenants/nobody-here", 404), ("/tenants/%2F", 404), ("/tenants/acme%00", 400)]
    {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        let html = res.text().await.unwrap();
        if status != 200 {
            assert!(html.contains("role=\"alert\""), "{path}: the page says why");
            assert!(!html.contains("Something went wrong"), "{path}: not an internal error");
        }
    }
}

#[tokio::test]
async fn a_tenant_admin_reads_platform_staff_for_who_set_an_override() {
    let app = spawn_app().await;
    let staff = signed_in(&app).await;
    create(&app, &staff, &tenant_form("Acme", "acme", "premium", "")).await;
    // (At level 2, the tenant's page also names who rendered its namespace.)
    let level: i16 = sqlx::query_scalar("SELECT isolation_level FROM tenants WHERE slug = 'acme'")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(level, 2);
    let to = app
        .submit(
            &staff,
            "set_quota_override",
            &[("slug", "acme"), ("version", "1"), ("metric", "storage"), ("value", "200 GiB"), ("reason", "growth")],
        )
        .await;
    assert!(to.starts_with("/tenants/acme"), "{to}");
    let id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'").fetch_one(&app.owner).await.unwrap();
    let staff_email: String =
        sqlx::query_scalar("SELECT created_by_email FROM quota_overrides").fetch_one(&app.owner).await.unwrap();
    let owner = app.tenant_admin(id, "owner@acme.example").await;
    for client in [&owner] {
        let json = client.get(app.url("/tenants/acme/export?format=json")).send().await.unwrap().text().await.unwrap();
        assert!(!json.contains(&staff_email) && json.contains("Platform staff"), "{json}");
        let page = client.get(app.url("/tenants/acme")).send().await.unwrap().text().await.unwrap();
        assert!(!page.contains(&staff_email), "the page hides them too");
    }
    let json = staff.get(app.url("/tenants/acme/export?format=json")).send().await.unwrap().text().await.unwrap();
    assert!(json.contains(&staff_email), "platform staff see who");
}

/// The dashboard's figures, as its server function answers them.
async fn figures(app: &TestApp, client: &reqwest::Client) -> (i64, i64, i64) {
    let o: serde_json::Value = client.post(app.url("/api/overview")).send().await.unwrap().json().await.unwrap();
    (o["tenants"].as_i64().unwrap(), o["active_tenants"].as_i64().unwrap(), o["users"].as_i64().unwrap())
}

/// The same figures counted the slow way.
async fn counted(app: &TestApp) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM tenants WHERE status <> 'deleted'), (SELECT count(*) FROM tenants WHERE status = 'active'),
                (SELECT count(*) FROM users WHERE disabled_at IS NULL)",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_dashboards_counters_follow_every_change_to_tenants_and_users() {
    let app = spawn_app().await;
    let client = signed_in(&app).await;
    bulkhead::tenants::ssr::seed(&app.pool, &bulkhead::audit::Actor::cli(), 500).await.unwrap();
    assert_eq!(figures(&app, &client).await, counted(&app).await);
    let before = figures(&app, &client).await;

    // Through the console: a new tenant, then suspended; the counters move with each.
    let to = create(&app, &client, &tenant_form("Counted Co", "counted-co", "standard", "")).await;
    assert!(to.starts_with("/tenants/counted-co"), "{to}");
    assert_eq!(figures(&app, &client).await.0, before.0 + 1);
    // And by any statement at all: many rows at once, tiers, deletions, users.
    for change in [
        "UPDATE tenants SET status = 'suspended' WHERE slug = 'counted-co'",
        "UPDATE tenants SET status = 'active' WHERE status = 'provisioning' AND tier_id = 'free'",
        "UPDATE tenants SET tier_id = 'premium' WHERE slug LIKE 'seed-1%'",
        "UPDATE tenants SET status = 'deleted' WHERE slug LIKE 'seed-2%'",
        "INSERT INTO tenants (slug, name, tier_id, status) VALUES ('gone-a', 'Gone A', 'free', 'active'), ('gone-b', 'Gone B', 'free', 'suspended')",
        "DELETE FROM tenants WHERE slug LIKE 'gone-%'",
        "UPDATE tenants SET name = name || ' renamed'",
        "INSERT INTO users (email, password_hash, role) VALUES ('spare@example.com', 'x', 'platform_auditor'), ('gone@example.com', 'x', 'platform_auditor')",
        "UPDATE users SET disabled_at = now() WHERE email = 'spare@example.com'",
        "UPDATE users SET disabled_at = now() WHERE email LIKE '%@example.com' AND email <> 'ops@example.com'",
        "UPDATE users SET disabled_at = NULL WHERE email = 'spare@example.com'",
        "DELETE FROM users WHERE email = 'gone@example.com'",
    ] {
        sqlx::query(change).execute(&app.owner).await.unwrap_or_else(|e| panic!("{change}: {e}"));
        assert_eq!(figures(&app, &client).await, counted(&app).await, "after {change}");
    }
    let per_tier: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT c.status, c.tier_id, c.n, (SELECT count(*) FROM tenants t WHERE t.status = c.status AND t.tier_id = c.tier_id)
         FROM tenant_counts c ORDER BY 1, 2",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert!(per_tier.iter().all(|(_, _, kept, real)| kept == real), "{per_tier:?}");

    // The dashboard reads the counters, never counts the tenants: a counter
    // set apart from the rows shows as it is.
    sqlx::query("UPDATE tenant_counts SET n = n + 1000 WHERE status = 'active' AND tier_id = 'free'")
        .execute(&app.owner)
        .await
        .unwrap();
    let (tenants, active, _) = counted(&app).await;
    let (shown_tenants, shown_active, _) = figures(&app, &client).await;
    assert_eq!((shown_tenants, shown_active), (tenants + 1000, active + 1000));
}
