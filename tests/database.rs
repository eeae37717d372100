//! Row-Level Security, the demoted runtime role and the audit chain, against
//! a real PostgreSQL.

mod common;

use bulkhead::audit::{self, Actor, NewEvent};
use bulkhead::server::db::{self, Scope};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

async fn setup() -> (PgPool, PgPool) {
    let url = common::fresh_database().await;
    (db::connect(&url, 2).unwrap(), PgPool::connect(&url).await.unwrap())
}

async fn make_tenant(owner: &PgPool, slug: &str) -> Uuid {
    sqlx::query_scalar("INSERT INTO tenants (slug, name, tier_id) VALUES ($1, $1, 'free') RETURNING id")
        .bind(slug)
        .fetch_one(owner)
        .await
        .unwrap()
}

async fn tenant_event(pool: &PgPool, tenant: Uuid, action: &str) {
    let mut tx = db::begin(pool, Scope::Platform).await.unwrap();
    audit::record(&mut tx, &Actor::cli(), NewEvent::new(action).tenant(tenant)).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn runtime_connections_are_demoted_even_from_a_superuser_url() {
    let (pool, _owner) = setup().await;
    let (user, superuser, bypass): (String, bool, bool) =
        sqlx::query_as("SELECT current_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(user, "bulkhead_app");
    assert!(!superuser && !bypass);

    // Outside a scoped transaction the runtime role reaches no table at all.
    let err = sqlx::query("SELECT count(*) FROM audit_events").fetch_one(&pool).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    let err = sqlx::query("SELECT count(*) FROM users").fetch_one(&pool).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
}

#[tokio::test]
async fn no_tenant_context_reads_zero_rows() {
    let (pool, owner) = setup().await;
    let a = make_tenant(&owner, "alpha").await;
    tenant_event(&pool, a, "test.event").await;

    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE bulkhead_tenant").execute(&mut *tx).await.unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events").fetch_one(&mut *tx).await.unwrap();
    let tenants: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants").fetch_one(&mut *tx).await.unwrap();
    assert_eq!((events, tenants), (0, 0));
}

#[tokio::test]
async fn a_tenant_context_does_not_leak_to_the_next_user_of_the_connection() {
    let url = common::fresh_database().await;
    let pool = db::connect(&url, 1).unwrap(); // one connection: the next transaction reuses it
    let owner = PgPool::connect(&url).await.unwrap();
    let a = make_tenant(&owner, "alpha").await;
    tenant_event(&pool, a, "test.event").await;

    let mut tx = db::begin(&pool, Scope::Tenant(a)).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(seen, 1);
    tx.commit().await.unwrap();

    // Same connection, tenant role, no tenant set: the setting reads '' now.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE bulkhead_tenant").execute(&mut *tx).await.unwrap();
    let setting: Option<String> =
        sqlx::query_scalar("SELECT current_setting('app.tenant_id', true)").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(setting.as_deref(), Some(""));
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(seen, 0);
}

#[tokio::test]
async fn another_tenants_context_reads_nothing_and_cannot_write() {
    let (pool, owner) = setup().await;
    let a = make_tenant(&owner, "alpha").await;
    let b = make_tenant(&owner, "bravo").await;
    tenant_event(&pool, a, "a.event").await;
    tenant_event(&pool, b, "b.event").await;

    let mut tx = db::begin(&pool, Scope::Tenant(b)).await.unwrap();
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_events").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(actions, vec!["b.event".to_string()]);
    let tenants: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM tenants").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(tenants, vec![b]);
    let a_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE tenant_id = $1")
        .bind(a)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(a_rows, 0);
    tx.rollback().await.unwrap();

    // Writing an event into tenant A from tenant B's context is rejected.
    let mut tx = db::begin(&pool, Scope::Tenant(b)).await.unwrap();
    let err = audit::record(&mut tx, &Actor::cli(), NewEvent::new("forged").tenant(a)).await.unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    tx.rollback().await.unwrap();

    // And a tenant cannot change tenants at all, its own or another.
    let mut tx = db::begin(&pool, Scope::Tenant(b)).await.unwrap();
    let err = sqlx::query("UPDATE tenants SET name = 'x' WHERE id = $1").bind(a).execute(&mut *tx).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
}

#[tokio::test]
async fn the_audit_chain_verifies_and_names_the_first_tampered_event() {
    let (pool, owner) = setup().await;
    let a = make_tenant(&owner, "alpha").await;
    for i in 0..5 {
        let mut tx = db::begin(&pool, Scope::Platform).await.unwrap();
        audit::record(&mut tx, &Actor::cli(), NewEvent::new("test.step").tenant(a).after(json!({ "step": i })))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let mut tx = db::begin(&pool, Scope::Platform).await.unwrap();
    let report = audit::verify_chain(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(report, audit::ChainReport { checked: 5, first_broken: None });

    // The application cannot change or remove events.
    let mut tx = db::begin(&pool, Scope::Platform).await.unwrap();
    let err = sqlx::query("UPDATE audit_events SET action = 'x' WHERE id = 3").execute(&mut *tx).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    tx.rollback().await.unwrap();
    let mut tx = db::begin(&pool, Scope::Platform).await.unwrap();
    let err = sqlx::query("DELETE FROM audit_events WHERE id = 3").execute(&mut *tx).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    tx.rollback().await.unwrap();

    // The owner can, and verification finds exactly that event.
    sqlx::query("UPDATE audit_events SET after = '{\"step\": 99}' WHERE id = 3").execute(&owner).await.unwrap();
    let mut tx = db::begin(&pool, Scope::Platform).await.unwrap();
    let report = audit::verify_chain(&mut tx).await.unwrap();
    assert_eq!(report, audit::ChainReport { checked: 5, first_broken: Some(3) });
}

/// The chain is recomputed outside the database; on content that jsonb
/// renders in its own way (escapes, numbers, key order, nesting, NULLs)
/// it must agree with the database's own digest, event by event.
#[tokio::test]
async fn the_chain_is_checked_outside_the_database_exactly_as_inside() {
    let (pool, owner) = setup().await;
    let a = make_tenant(&owner, "alpha").await;
    let awkward = [
        "quote \" backslash \\ slash / tab \t newline \n cr \r",
        "controls \u{1} \u{8} \u{c} \u{1f} del \u{7f}",
        "unicode é ß 漢字 🙂 \u{2028} \u{2029}",
        "",
    ];
    for (i, text) in awkward.iter().enumerate() {
        let actor = Actor {
            user_id: (i % 2 == 0).then(Uuid::new_v4),
            email: Some(format!("{text}@example.com")),
            role: (i == 1).then(|| "platform_admin".to_string()),
            ip: (i != 2).then(|| "2001:db8::1".to_string()),
            user_agent: Some(text.to_string()),
        };
        let mut event = NewEvent::new("test.awkward").target(*text).after(json!({
            "text": text, "zeta": 1.50, "alpha": [1, 2.0, -0.0, 1e300, 12345678901234567890u64, null, true],
            "nested": { "b": { "": "empty key" }, "a": text, "aa": 0.1 }, "k": "é"
        }));
        if i % 2 == 1 {
            event = event.tenant(a).before(json!([text, {}, [], "\\u0041 stays as written"]));
        }
        let mut tx = db::begin(&pool, Scope::Platform).await.unwrap();
        audit::record(&mut tx, &actor, event).await.unwrap();
        tx.commit().await.unwrap();
    }
    let mut tx = db::begin(&pool, Scope::Platform).await.unwrap();
    assert_eq!(audit::verify_chain(&mut tx).await.unwrap(), audit::ChainReport { checked: 4, first_broken: None });
    tx.commit().await.unwrap();
    // And a change the owner makes deep in a document is found where it is.
    sqlx::query("UPDATE audit_events SET after = jsonb_set(after, '{nested,aa}', '0.10') WHERE id = 3")
        .execute(&owner)
        .await
        .unwrap();
    let mut tx = db::begin(&pool, Scope::Platform).await.unwrap();
    assert_eq!(audit::verify_chain(&mut tx).await.unwrap(), audit::ChainReport { checked: 4, first_broken: Some(3) });
    let in_database: Option<i64> =
        sqlx::query_scalar("SELECT first_broken FROM audit_verify()").fetch_one(&owner).await.unwrap();
    assert_eq!(in_database, Some(3), "the database's own check agrees");
}

#[tokio::test]
async fn the_trigger_refuses_changes_from_anyone_but_the_owner_even_a_superuser() {
    let (pool, owner) = setup().await;
    let a = make_tenant(&owner, "alpha").await;
    tenant_event(&pool, a, "test.kept").await;
    // A second superuser: grants and Row-Level Security do not stop it, the trigger does.
    sqlx::query("DO $$ BEGIN CREATE ROLE bulkhead_test_other_superuser SUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        .execute(&owner)
        .await
        .unwrap();
    for sql in ["UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events", "TRUNCATE audit_events"] {
        let mut tx = owner.begin().await.unwrap();
        sqlx::query("SET LOCAL ROLE bulkhead_test_other_superuser").execute(&mut *tx).await.unwrap();
        let err = sqlx::query(sql).execute(&mut *tx).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        tx.rollback().await.unwrap();
    }
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'test.kept'")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(kept, 1);
}

#[tokio::test]
async fn concurrent_events_still_form_one_chain() {
    let (pool, _owner) = setup().await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = db::begin(&pool, Scope::Platform).await.unwrap();
            audit::record(&mut tx, &Actor::cli(), NewEvent::new("test.parallel").after(json!({ "i": i })))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut tx = db::begin(&pool, Scope::Platform).await.unwrap();
    assert_eq!(audit::verify_chain(&mut tx).await.unwrap(), audit::ChainReport { checked: 20, first_broken: None });
}

#[tokio::test]
async fn usage_samples_are_fenced_by_tenant() {
    let (pool, owner) = setup().await;
    let a = make_tenant(&owner, "alpha").await;
    let b = make_tenant(&owner, "bravo").await;
    sqlx::query("INSERT INTO usage_samples (tenant_id, metric, value) VALUES ($1, 'users', 7), ($2, 'users', 9)")
        .bind(a)
        .bind(b)
        .execute(&owner)
        .await
        .unwrap();

    let mut tx = db::begin(&pool, Scope::Tenant(b)).await.unwrap();
    let seen: Vec<i64> = sqlx::query_scalar("SELECT value FROM usage_samples").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(seen, vec![9]);
    // Nothing of a tenant admin's writes usage: not even their own.
    let err = sqlx::query("INSERT INTO usage_samples (tenant_id, metric, value) VALUES ($1, 'users', 1)")
        .bind(b)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    tx.rollback().await.unwrap();

    let mut tx = db::begin(&pool, Scope::Tenant(b)).await.unwrap();
    let err = sqlx::query("UPDATE usage_samples SET tenant_id = $1").bind(a).execute(&mut *tx).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    tx.rollback().await.unwrap();

    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE bulkhead_tenant").execute(&mut *tx).await.unwrap();
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_samples").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(none, 0);
}

#[tokio::test]
async fn quota_overrides_are_read_only_for_their_own_tenant() {
    let (pool, owner) = setup().await;
    let a = make_tenant(&owner, "alpha").await;
    let b = make_tenant(&owner, "bravo").await;
    sqlx::query("INSERT INTO quota_overrides (tenant_id, metric, value, reason) VALUES ($1, 'users', 50, 'pilot'), ($2, 'users', 60, 'pilot')")
        .bind(a)
        .bind(b)
        .execute(&owner)
        .await
        .unwrap();
    let mut tx = db::begin(&pool, Scope::Tenant(a)).await.unwrap();
    let seen: Vec<i64> = sqlx::query_scalar("SELECT value FROM quota_overrides").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(seen, vec![50]);
    let err = sqlx::query("UPDATE quota_overrides SET value = 1").execute(&mut *tx).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
}

#[tokio::test]
async fn auditors_read_everything_but_secrets_and_write_only_audit_events() {
    let (pool, owner) = setup().await;
    let a = make_tenant(&owner, "alpha").await;
    sqlx::query("INSERT INTO users (email, password_hash, role) VALUES ('ops@example.com', 'x', 'platform_admin')")
        .execute(&owner)
        .await
        .unwrap();
    let mut tx = db::begin(&pool, Scope::Auditor).await.unwrap();
    let tenants: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants").fetch_one(&mut *tx).await.unwrap();
    let emails: Vec<String> = sqlx::query_scalar("SELECT email FROM users").fetch_all(&mut *tx).await.unwrap();
    assert_eq!((tenants, emails), (1, vec!["ops@example.com".to_string()]));
    audit::record(&mut tx, &Actor::cli(), NewEvent::new("audit.exported").tenant(a)).await.unwrap();
    tx.commit().await.unwrap();

    for (what, sql) in [
        ("a password hash", "SELECT password_hash FROM users"),
        ("a second factor", "SELECT totp_secret FROM users"),
        ("a token hash", "SELECT token_hash FROM api_tokens"),
        ("a tenant change", "UPDATE tenants SET name = 'x'"),
        ("a new tenant", "INSERT INTO tenants (slug, name, tier_id) VALUES ('zz-top', 'zz', 'free')"),
        ("a tier change", "UPDATE tiers SET max_users = 1"),
        ("an override", "DELETE FROM quota_overrides"),
        ("a session", "UPDATE auth_sessions SET revoked_at = now()"),
        ("a token", "UPDATE api_tokens SET revoked_at = now()"),
        ("a checkpoint", "INSERT INTO audit_checkpoints (head_id, head_hash, signed_at, key_id, signature) VALUES (1, '', now(), 'k', '')"),
    ] {
        let mut tx = db::begin(&pool, Scope::Auditor).await.unwrap();
        let err = sqlx::query(sql).execute(&mut *tx).await.expect_err(what);
        assert!(err.to_string().contains("permission denied"), "{what}: {err}");
    }
}

#[tokio::test]
async fn tenant_admins_update_only_the_columns_their_pages_change() {
    let (pool, owner) = setup().await;
    let a = make_tenant(&owner, "alpha").await;
    sqlx::query(
        "INSERT INTO invitations (tenant_id, email, token_hash, expires_at) VALUES ($1, 'new@example.com', sha256('t'), now() + interval '1 day')",
    )
    .bind(a)
    .execute(&owner)
    .await
    .unwrap();
    for (what, sql) in [
        ("the invitee", "UPDATE invitations SET email = 'attacker@example.com'"),
        ("the expiry", "UPDATE invitations SET expires_at = now() + interval '10 years'"),
        ("the acceptance", "UPDATE invitations SET accepted_at = now()"),
    ] {
        let mut tx = db::begin(&pool, Scope::Tenant(a)).await.unwrap();
        let err = sqlx::query(sql).execute(&mut *tx).await.expect_err(what);
        assert!(err.to_string().contains("permission denied"), "{what}: {err}");
    }
    let mut tx = db::begin(&pool, Scope::Tenant(a)).await.unwrap();
    let revoked = sqlx::query("UPDATE invitations SET revoked_at = now()").execute(&mut *tx).await.unwrap();
    assert_eq!(revoked.rows_affected(), 1, "revoking is what the Team page does");
}

#[tokio::test]
async fn every_runtime_privilege_is_the_one_security_md_documents() {
    let (_pool, owner) = setup().await;
    let actual: Vec<String> = sqlx::query_scalar(include_str!("sql/grants.sql")).fetch_all(&owner).await.unwrap();
    let doc = include_str!("../docs/SECURITY.md");
    let table = doc.split("<!-- grants:begin -->").nth(1).and_then(|t| t.split("<!-- grants:end -->").next()).unwrap();
    let documented: Vec<&str> = table.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| table |")).collect();
    let missing: Vec<&String> = actual.iter().filter(|a| !documented.contains(&a.as_str())).collect();
    let stale: Vec<&&str> = documented.iter().filter(|d| !actual.iter().any(|a| a == **d)).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/SECURITY.md's grants table differs from the database.\nIn the database, not documented:\n{}\nDocumented, not in the database:\n{}",
        missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        stale.iter().map(|s| **s).collect::<Vec<_>>().join("\n")
    );
}

#[tokio::test]
async fn a_tenant_admins_role_writes_no_current_usage_not_even_its_own() {
    let (pool, owner) = setup().await;
    let a = make_tenant(&owner, "alpha").await;
    let mut tx = db::begin(&pool, Scope::Tenant(a)).await.unwrap();
    let err =
        sqlx::query("INSERT INTO usage_current (tenant_id, metric, value, recorded_at) VALUES ($1, 'users', 0, now())")
            .bind(a)
            .execute(&mut *tx)
            .await
            .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
}
