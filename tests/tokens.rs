//! API tokens: made on the console (shown once, stored hashed, audited),
//! checked when a machine presents one, revoked.

mod common;

use bulkhead::auth::Role;
use bulkhead::domain::token_scope::TokenScope;
use bulkhead::tokens::ssr::{authenticate, Refusal};
use common::{spawn_app, TestApp};
use sha2::{Digest, Sha256};

async fn made(app: &TestApp, admin: &reqwest::Client, name: &str, scopes: &[&str]) -> String {
    let mut fields = vec![("name", name), ("expires", "30")];
    fields.extend(scopes.iter().map(|s| (*s, "on")));
    let to = app.submit(admin, "create_api_token", &fields).await;
    assert!(to.starts_with("/settings/tokens?form="), "{to}");
    let page = admin.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
    let start = page.find("bkh_").expect("the page shows the new token");
    page[start..start + 68].to_string()
}

#[tokio::test]
async fn a_token_is_shown_once_kept_as_its_hash_and_audited() {
    let app = spawn_app().await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    let token = made(&app, &admin, "edge-proxy", &["routing"]).await;
    assert!(token[4..].chars().all(|c| c.is_ascii_hexdigit()), "{token}");

    let again = admin.get(app.url("/settings/tokens")).send().await.unwrap().text().await.unwrap();
    assert!(again.contains("edge-proxy") && again.contains(&token[..10]), "listed by its start");
    assert!(!again.contains(&token), "shown once");

    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM api_tokens").fetch_one(&app.owner).await.unwrap();
    assert_eq!(stored, Sha256::digest(token.as_bytes()).to_vec());
    for (table, column) in [("api_tokens", "t"), ("tower_sessions.session", "s"), ("audit_events", "a")] {
        let found: bool =
            sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {table} {column} WHERE {column}::text LIKE $1)"))
                .bind(format!("%{}%", &token[4..]))
                .fetch_one(&app.owner)
                .await
                .unwrap();
        assert!(!found, "the token is nowhere in {table}");
    }
    assert_eq!(app.count_events("token.created").await, 1);
}

#[tokio::test]
async fn a_machine_is_let_in_only_with_a_token_in_force_that_has_the_scope() {
    let app = spawn_app().await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    let token = made(&app, &admin, "edge-proxy", &["routing"]).await;
    let bearer = format!("Bearer {token}");
    let check = |header: Option<String>, scope| {
        let pool = app.pool.clone();
        async move { authenticate(&pool, header.as_deref(), scope).await }
    };
    assert!(check(Some(bearer.clone()), TokenScope::Routing).await.is_ok());
    let used: bool =
        sqlx::query_scalar("SELECT last_used_at IS NOT NULL FROM api_tokens").fetch_one(&app.owner).await.unwrap();
    assert!(used, "its last use is noted");
    assert_eq!(check(Some(bearer.clone()), TokenScope::Ingest).await, Err(Refusal::Forbidden));
    assert_eq!(check(None, TokenScope::Routing).await, Err(Refusal::Unauthorized));
    assert_eq!(check(Some(token.clone()), TokenScope::Routing).await, Err(Refusal::Unauthorized), "Bearer only");
    let wrong = format!("Bearer bkh_{}", "0".repeat(64));
    assert_eq!(check(Some(wrong), TokenScope::Routing).await, Err(Refusal::Unauthorized));

    sqlx::query("UPDATE api_tokens SET expires_at = now() - interval '1 second'").execute(&app.owner).await.unwrap();
    assert_eq!(check(Some(bearer.clone()), TokenScope::Routing).await, Err(Refusal::Unauthorized), "expired");
    sqlx::query("UPDATE api_tokens SET expires_at = NULL").execute(&app.owner).await.unwrap();
    assert!(check(Some(bearer.clone()), TokenScope::Routing).await.is_ok());

    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM api_tokens").fetch_one(&app.owner).await.unwrap();
    let to = app.submit(&admin, "revoke_api_token", &[("id", &id.to_string())]).await;
    assert_eq!(to, "/settings/tokens?done=revoked");
    assert_eq!(check(Some(bearer), TokenScope::Routing).await, Err(Refusal::Unauthorized), "revoked");
    assert_eq!(app.count_events("token.revoked").await, 1);
}

#[tokio::test]
async fn bad_input_is_refused_by_field_and_only_platform_admins_make_tokens() {
    let app = spawn_app().await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    made(&app, &admin, "taken", &["billing"]).await;
    for (fields, field) in [
        (vec![("name", ""), ("routing", "on"), ("expires", "30")], "name"),
        (vec![("name", "no-scope"), ("expires", "30")], "scopes"),
        (vec![("name", "forever"), ("routing", "on"), ("expires", "100000")], "expires"),
        (vec![("name", "taken"), ("routing", "on"), ("expires", "30")], "name"),
    ] {
        let to = app.submit(&admin, "create_api_token", &fields).await;
        app.refusal(&admin, &to, "/settings/tokens", field).await;
    }
    let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens").fetch_one(&app.owner).await.unwrap();
    assert_eq!(tokens, 1, "nothing written");

    let auditor = app.signed_in(Role::PlatformAuditor, "audit@example.com").await;
    let page = auditor.get(app.url("/settings/tokens")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("taken") && !page.contains("Create token"), "auditors read, and make nothing");
    let to =
        app.submit(&auditor, "create_api_token", &[("name", "sneaky"), ("routing", "on"), ("expires", "30")]).await;
    assert!(app.refusal(&auditor, &to, "/settings/tokens", "_form").await.starts_with("You do not have permission"));
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM api_tokens").fetch_one(&app.owner).await.unwrap();
    let to = app.submit(&auditor, "revoke_api_token", &[("id", &id.to_string())]).await;
    app.refusal(&auditor, &to, "/settings/tokens", "_form").await;
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(live, 1);

    let tenant: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO tenants (slug, name, tier_id) VALUES ('acme', 'Acme', 'standard') RETURNING id",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    let tenant_admin = app.tenant_admin(tenant, "owner@acme.example").await;
    let res = tenant_admin.post(app.url("/api/api_tokens")).form(&[("form", "")]).send().await.unwrap();
    assert_eq!(res.status(), 403, "tenant admins never see tokens");
}
