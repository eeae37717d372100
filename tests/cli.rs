//! The command line, run as a user would.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn bulkhead(database_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[tokio::test]
async fn admin_create_reads_the_password_from_stdin_and_refuses_bad_input() {
    let url = common::fresh_database().await;
    let ok = bulkhead(
        &url,
        &["admin", "create", "--email", "Root@Example.com", "--password-stdin"],
        Some("a long enough password\n"),
    );
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(!text(&ok).contains("a long enough password"), "the password is not echoed");

    let dup = bulkhead(
        &url,
        &["admin", "create", "--email", "root@example.com", "--password-stdin"],
        Some("another long password"),
    );
    assert!(!dup.status.success());
    assert!(text(&dup).contains("already exists"), "{}", text(&dup));

    let bad = bulkhead(&url, &["admin", "create", "--email", "not an address"], None);
    assert!(!bad.status.success());
    assert!(text(&bad).contains("e-mail"), "{}", text(&bad));

    let weak = bulkhead(&url, &["admin", "create", "--email", "weak@example.com", "--password-stdin"], Some("short"));
    assert!(!weak.status.success());
    assert!(text(&weak).contains("at least 12"), "{}", text(&weak));

    let gen = bulkhead(&url, &["admin", "create", "--email", "gen@example.com", "--role", "platform_auditor"], None);
    assert!(gen.status.success(), "{}", text(&gen));
    assert!(text(&gen).contains("password: "), "a generated password is printed once");

    // Bootstrap does nothing once an admin exists.
    let boot = bulkhead(&url, &["admin", "bootstrap"], None);
    assert!(boot.status.success());
    assert!(text(&boot).contains("already exists"), "{}", text(&boot));
}

#[tokio::test]
async fn bootstrap_creates_the_first_admin_once() {
    let url = common::fresh_database().await;
    let first = bulkhead(&url, &["admin", "bootstrap", "--email", "first@example.com"], None);
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("first@example.com") && text(&first).contains("password: "));
    let again = bulkhead(&url, &["admin", "bootstrap", "--email", "first@example.com"], None);
    assert!(!text(&again).contains("password: "));
}

#[tokio::test]
async fn secrets_are_read_from_the_files_their_file_variables_name() {
    let url = common::fresh_database().await;
    let file = std::env::temp_dir().join(format!("bulkhead-database-url-{}", uuid::Uuid::new_v4()));
    // As a mounted secret often is: the value and a line break.
    std::fs::write(&file, format!("{url}\n")).unwrap();
    let run = |with_url: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bulkhead"));
        c.args(["admin", "bootstrap", "--email", "file@example.com"]).env_remove("DATABASE_URL");
        c.env("DATABASE_URL_FILE", &file);
        if with_url {
            c.env("DATABASE_URL", &url);
        }
        c.output().unwrap()
    };
    let out = run(false);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("file@example.com"));
    let both = run(true);
    assert_eq!(both.status.code(), Some(2));
    assert!(text(&both).contains("set either DATABASE_URL or DATABASE_URL_FILE"), "{}", text(&both));
    std::fs::remove_file(&file).unwrap();
    let missing = run(false);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("cannot read"), "{}", text(&missing));
}

#[test]
fn an_unreachable_database_is_a_clear_error() {
    let out = bulkhead(
        "postgres://postgres@127.0.0.1:1/nothing",
        &["admin", "create", "--email", "a@example.com", "--password-stdin"],
        Some("a long enough password"),
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("database"), "{}", text(&out));
    let out = bulkhead("postgres://postgres@127.0.0.1:1/nothing", &["migrate"], None);
    assert!(!out.status.success());
    assert!(text(&out).contains("migrating postgres://postgres@127.0.0.1:1/nothing"), "{}", text(&out));
}

#[tokio::test]
async fn tenant_create_from_the_command_line() {
    let url = common::fresh_database().await;
    let ok = bulkhead(
        &url,
        &["tenant", "create", "--name", "Acme Corp", "--tier", "standard", "--compliance", "gdpr"],
        None,
    );
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("created tenant acme-corp"));
    let bad = bulkhead(
        &url,
        &["tenant", "create", "--name", "Acme", "--tier", "free", "--slug", "acme-corp", "--isolation", "2"],
        None,
    );
    assert!(!bad.status.success());
    let out = text(&bad);
    assert!(out.contains("--slug: The slug “acme-corp” is already taken."), "{out}");
    assert!(out.contains("--isolation: The Free tier allows isolation level 1 only."), "{out}");
    let missing = bulkhead(&url, &["tenant", "create", "--name", "X Co", "--tier", "gold"], None);
    assert!(text(&missing).contains("There is no tier"), "{}", text(&missing));
}

#[tokio::test]
async fn audit_seed_writes_a_chain_that_audit_verify_checks() {
    let url = common::fresh_database().await;
    let seed = bulkhead(&url, &["audit", "seed", "--events", "2000", "--tenants", "20", "--days", "30"], None);
    assert!(seed.status.success(), "{}", text(&seed));
    let ok = bulkhead(&url, &["audit", "verify"], None);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("checked 2000 events: intact"), "{}", text(&ok));

    // Seeding again into the same period is refused: time must keep following id.
    let again = bulkhead(&url, &["audit", "seed", "--events", "10", "--tenants", "2", "--days", "30"], None);
    assert!(!again.status.success());
    assert!(text(&again).contains("already has events"), "{}", text(&again));

    let owner = sqlx::PgPool::connect(&url).await.unwrap();
    let (tenants, spread): (i64, f64) = sqlx::query_as(
        "SELECT count(DISTINCT tenant_id), extract(epoch FROM max(occurred_at) - min(occurred_at))::float8 / 86400
         FROM audit_events WHERE id <= 2000",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!(tenants, 20);
    assert!(spread > 29.0, "spread over the period: {spread} days");

    sqlx::query("UPDATE audit_events SET ip = '203.0.113.9' WHERE id = 1234").execute(&owner).await.unwrap();
    let broken = bulkhead(&url, &["audit", "verify"], None);
    assert_eq!(broken.status.code(), Some(1));
    assert!(text(&broken).contains("the chain breaks at event 1234"), "{}", text(&broken));
}

#[tokio::test]
async fn tokens_are_made_listed_and_revoked_from_the_command_line() {
    let url = common::fresh_database().await;
    let made =
        bulkhead(&url, &["token", "create", "--name", "edge-proxy", "--scope", "routing", "--expires", "30d"], None);
    assert!(made.status.success(), "{}", text(&made));
    let token = String::from_utf8(made.stdout.clone()).unwrap();
    let token = token.trim_end();
    assert!(token.starts_with("bkh_") && token.len() == 68 && !token.contains('\n'), "the token alone: {token:?}");

    let list = bulkhead(&url, &["token", "list"], None);
    let listed = text(&list);
    assert!(listed.contains("edge-proxy") && listed.contains("routing") && listed.contains("in force"), "{listed}");
    assert!(!listed.contains(token), "the list never shows a token");

    let dup = bulkhead(&url, &["token", "create", "--name", "edge-proxy", "--scope", "ingest"], None);
    assert!(!dup.status.success() && text(&dup).contains("already exists"), "{}", text(&dup));
    let bad = bulkhead(&url, &["token", "create", "--name", "x", "--scope", "root"], None);
    assert!(!bad.status.success() && text(&bad).contains("Unknown scope"), "{}", text(&bad));

    let revoked = bulkhead(&url, &["token", "revoke", "--name", "edge-proxy"], None);
    assert!(revoked.status.success(), "{}", text(&revoked));
    assert!(text(&bulkhead(&url, &["token", "list"], None)).contains("revoked"));
    let again = bulkhead(&url, &["token", "revoke", "--name", "edge-proxy"], None);
    assert!(!again.status.success(), "nothing left to revoke");

    let owner = sqlx::PgPool::connect(&url).await.unwrap();
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_events WHERE action LIKE 'token.%' ORDER BY id")
            .fetch_all(&owner)
            .await
            .unwrap();
    assert_eq!(actions, ["token.created", "token.revoked"]);
}

#[tokio::test]
async fn tenant_show_prints_the_export_with_this_months_api_calls() {
    let url = common::fresh_database().await;
    assert!(bulkhead(&url, &["tenant", "create", "--name", "Acme", "--tier", "standard"], None).status.success());
    let owner = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO api_calls (tenant_id, month, calls)
         SELECT id, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 1234 FROM tenants",
    )
    .execute(&owner)
    .await
    .unwrap();
    let out = bulkhead(&url, &["tenant", "show", "--slug", "acme"], None);
    assert!(out.status.success(), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["tenant"]["slug"], "acme");
    let calls = doc["quotas"].as_array().unwrap().iter().find(|q| q["limit"] == "api_calls").unwrap();
    assert_eq!(calls["used"], 1234);
    assert_eq!(doc["throttled"], false);
    let yaml = bulkhead(&url, &["tenant", "show", "--slug", "acme", "--format", "yaml"], None);
    assert!(text(&yaml).contains("slug: acme"), "{}", text(&yaml));
    let missing = bulkhead(&url, &["tenant", "show", "--slug", "nobody"], None);
    assert!(!missing.status.success() && text(&missing).contains("no tenant"));
}

/// `url` with `user` as its login role (no password: the test server trusts loopback).
fn as_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{user}@{host}")
}

/// Starts `bulkhead serve` as production would, on `addr`.
fn start_in_production(database_url: &str, addr: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("BULKHEAD_ENV", "production")
        .env("BULKHEAD_SECRET_KEY", "k".repeat(40))
        .env("BULKHEAD_PUBLIC_URL", "https://console.example.com")
        .env("LEPTOS_SITE_ADDR", addr)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[tokio::test]
async fn production_refuses_a_superuser_and_serves_as_a_least_privileged_login() {
    let url = common::fresh_database().await;
    // The test server's own user is a superuser (and owns the tables).
    let mut child = start_in_production(&url, &free_addr());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("superuser") && text(&out).contains("refusing to serve"), "{}", text(&out));

    // A login role that owns nothing and may only switch into the scoped roles.
    let owner = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("DO $$ BEGIN CREATE ROLE bulkhead_test_login LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        .execute(&owner)
        .await
        .unwrap();
    sqlx::query("GRANT bulkhead_app, bulkhead_auth, bulkhead_platform, bulkhead_auditor, bulkhead_tenant TO bulkhead_test_login")
        .execute(&owner)
        .await
        .unwrap();
    let addr = free_addr();
    let mut child = start_in_production(&as_user(&url, "bulkhead_test_login"), &addr);
    let mut ready = false;
    for _ in 0..100 {
        let res = reqwest::get(format!("http://{addr}/readyz")).await;
        if res.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Ready means the database answered, so the role check has had its answer too.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(ready && running, "ready {ready}, running {running}: {}", text(&out));
    assert!(!text(&out).contains("refusing"), "{}", text(&out));

    // Migrations take the owner's URL of their own.
    let o = bulkhead(&as_user(&url, "bulkhead_test_login"), &["migrate", "--database-url", &url], None);
    assert!(o.status.success(), "{}", text(&o));
}

fn bulkhead_signing(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("BULKHEAD_SIGNING_KEY", "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=")
        .output()
        .unwrap()
}

#[tokio::test]
async fn signed_checkpoints_catch_a_history_the_owner_rewrote_and_rechained() {
    let url = common::fresh_database().await;
    for name in ["Acme", "Globex"] {
        assert!(bulkhead(&url, &["tenant", "create", "--name", name, "--tier", "free"], None).status.success());
    }
    let file = std::env::temp_dir().join(format!("bulkhead-checkpoints-{}.jsonl", uuid::Uuid::new_v4()));
    let file_arg = file.to_str().unwrap();
    let signed = bulkhead_signing(&url, &["audit", "checkpoint", "--out", file_arg]);
    assert!(signed.status.success(), "{}", text(&signed));
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 1);
    assert!(bulkhead(&url, &["tenant", "create", "--name", "Initech", "--tier", "free"], None).status.success());
    let holds = bulkhead_signing(&url, &["audit", "verify", "--checkpoints", file_arg]);
    assert!(holds.status.success(), "later events are not a rewrite: {}", text(&holds));

    // The owner alters the first event and re-chains everything after it:
    // the chain alone cannot tell.
    let owner = sqlx::PgPool::connect(&url).await.unwrap();
    common::rewrite_and_rechain(
        &owner,
        r#"UPDATE audit_events SET after = after || '{"name": "Not Acme"}' WHERE id = 1"#,
    )
    .await;
    let chain_only: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_verify() WHERE first_broken IS NULL")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(chain_only, 1, "re-chained: the hash chain alone holds");
    let caught = bulkhead(&url, &["audit", "verify"], None);
    assert!(!caught.status.success(), "the database's own checkpoint catches it: {}", text(&caught));

    // Even with the database's checkpoints gone too, the file kept elsewhere catches it.
    sqlx::query("DELETE FROM audit_checkpoints").execute(&owner).await.unwrap();
    assert!(bulkhead(&url, &["audit", "verify"], None).status.success(), "nothing left in the database to tell");
    let caught = bulkhead_signing(&url, &["audit", "verify", "--checkpoints", file_arg]);
    assert!(!caught.status.success());
    assert!(text(&caught).contains("was rewritten after the checkpoint"), "{}", text(&caught));

    // A checkpoint line altered by hand is not signed by the key.
    let line = std::fs::read_to_string(&file).unwrap();
    let forged = line.replacen("\"head_id\":", "\"head_id\":1", 1);
    std::fs::write(&file, forged).unwrap();
    let refused = bulkhead_signing(&url, &["audit", "verify", "--checkpoints", file_arg]);
    assert!(text(&refused).contains("not signed by this key"), "{}", text(&refused));
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn tenant_render_prints_a_dedicated_instance_and_refuses_a_shared_tenant() {
    let url = common::fresh_database().await;
    for (name, tier, level) in [("Shared Co", "free", "1"), ("Vault Co", "enterprise", "3")] {
        let made = bulkhead(&url, &["tenant", "create", "--name", name, "--tier", tier, "--isolation", level], None);
        assert!(made.status.success(), "{}", text(&made));
    }
    let shared = bulkhead(&url, &["tenant", "render", "--slug", "shared-co"], None);
    assert!(!shared.status.success());
    assert!(text(&shared).contains("isolation level 1"), "{}", text(&shared));
    let k8s = bulkhead(&url, &["tenant", "render", "--slug", "vault-co", "--format", "k8s"], None);
    assert!(k8s.status.success(), "{}", text(&k8s));
    let yaml = String::from_utf8_lossy(&k8s.stdout);
    assert!(yaml.contains("kind: NetworkPolicy") && yaml.contains("namespace: tenant-vault-co"), "{yaml}");
    let compose = bulkhead(&url, &["tenant", "render", "--slug", "vault-co", "--format", "compose"], None);
    assert!(String::from_utf8_lossy(&compose.stdout).contains("internal: true"), "{}", text(&compose));
    let bad = bulkhead(&url, &["tenant", "render", "--slug", "vault-co", "--format", "helm"], None);
    assert!(!bad.status.success());

    // A directory for GitOps, with the database the tenant's pods may reach from the environment.
    let dir = std::env::temp_dir().join(format!("bulkhead-gitops-{}", uuid::Uuid::new_v4()));
    let out = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(["tenant", "render", "--slug", "vault-co", "--out"])
        .arg(&dir)
        .env("DATABASE_URL", &url)
        .env("BULKHEAD_TENANT_DATABASE", "10.20.0.5:5432")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "kustomization.yaml",
            "tenant-vault-co.compose.yaml",
            "tenant-vault-co.k8s.yaml",
            "tenant-vault-co.storage-policy.json"
        ]
    );
    let kustomization = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
    assert!(kustomization.contains("kind: Kustomization") && kustomization.contains("- tenant-vault-co.k8s.yaml"));
    assert!(std::fs::read_to_string(dir.join("tenant-vault-co.k8s.yaml")).unwrap().contains("cidr: 10.20.0.5/32"));
    // The printed digests are sha256sum's own lines: the files check against them.
    let sums = dir.join("SHA256SUMS");
    std::fs::write(&sums, &out.stdout).unwrap();
    let check = Command::new("sha256sum").arg("-c").arg(&sums).output().unwrap();
    assert!(check.status.success(), "{}", text(&check));
    let bad_env = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(["tenant", "render", "--slug", "vault-co"])
        .env("DATABASE_URL", &url)
        .env("BULKHEAD_TENANT_DATABASE", "0.0.0.0/0:5432")
        .output()
        .unwrap();
    assert!(!bad_env.status.success() && text(&bad_env).contains("BULKHEAD_TENANT_DATABASE"), "{}", text(&bad_env));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn key_create_prints_the_key_alone_and_list_and_revoke_name_it_by_its_tenant() {
    let url = common::fresh_database().await;
    let made = bulkhead(&url, &["tenant", "create", "--name", "Acme", "--tier", "standard"], None);
    assert!(made.status.success(), "{}", text(&made));

    let key = bulkhead(
        &url,
        &[
            "key",
            "create",
            "--tenant",
            "acme",
            "--name",
            "checkout",
            "--rate",
            "10",
            "--burst",
            "20",
            "--monthly",
            "1000",
            "--expires",
            "90d",
        ],
        None,
    );
    assert!(key.status.success(), "{}", text(&key));
    let printed = String::from_utf8_lossy(&key.stdout).trim().to_string();
    assert!(
        printed.starts_with("bk_live_") && printed.len() == 8 + 64 && !printed.contains(char::is_whitespace),
        "{printed:?}"
    );

    let greedy =
        bulkhead(&url, &["key", "create", "--tenant", "acme", "--name", "greedy", "--monthly", "999999999999"], None);
    assert!(!greedy.status.success());
    assert!(text(&greedy).contains("--monthly") && text(&greedy).contains("allowance"), "{}", text(&greedy));
    let nowhere = bulkhead(&url, &["key", "create", "--tenant", "nobody", "--name", "k"], None);
    assert!(!nowhere.status.success(), "{}", text(&nowhere));

    let list = bulkhead(&url, &["key", "list", "--tenant", "acme"], None);
    let listed = text(&list);
    assert!(listed.contains("checkout") && listed.contains(&printed[..14]) && listed.contains("in force"), "{listed}");
    assert!(!listed.contains(&printed), "never the key itself");

    // New limits replace the old ones, within the tenant's, audited with before and after.
    let too_fast = bulkhead(
        &url,
        &["key", "update", "--tenant", "acme", "--name", "checkout", "--rate", "500", "--burst", "5"],
        None,
    );
    assert!(!too_fast.status.success() && text(&too_fast).contains("--rate"), "{}", text(&too_fast));
    let changed =
        bulkhead(&url, &["key", "update", "--tenant", "acme", "--name", "checkout", "--monthly", "500"], None);
    assert!(changed.status.success(), "{}", text(&changed));
    let listed = text(&bulkhead(&url, &["key", "list", "--tenant", "acme"], None));
    assert!(listed.contains("tier rate") && listed.contains("0/500 this month"), "{listed}");

    let revoked = bulkhead(&url, &["key", "revoke", "--tenant", "acme", "--name", "checkout"], None);
    assert!(revoked.status.success(), "{}", text(&revoked));
    assert!(text(&bulkhead(&url, &["key", "list", "--tenant", "acme"], None)).contains("revoked"));
    let again = bulkhead(&url, &["key", "revoke", "--tenant", "acme", "--name", "checkout"], None);
    assert!(!again.status.success(), "a key revoked once is not in force: {}", text(&again));

    let pass = bulkhead(&url, &["key", "anonymous-calls", "--tenant", "acme", "pass"], None);
    assert!(pass.status.success(), "{}", text(&pass));
    let owner = sqlx::PgPool::connect(&url).await.unwrap();
    let (mode, events): (String, i64) = sqlx::query_as(
        "SELECT (SELECT anonymous_calls FROM tenants WHERE slug = 'acme'),
                (SELECT count(*) FROM audit_events WHERE action IN ('key.created', 'key.changed', 'key.revoked', 'tenant.anonymous_calls_changed'))",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!((mode.as_str(), events), ("pass", 4), "each change audited");
}
