//! The activation checklist of a dedicated instance: configuration, rendered
//! manifests (checked by kubernetes-validate), each step recorded and
//! audited, a failure kept with its reason and tried again, and dedicated
//! routing only at the end. The TLS check against a CA and servers made here.

mod common;

use bulkhead::activation::probes::tls_check;
use bulkhead::auth::Role;
use common::{redis_server, Redis, TestApp};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

async fn level_3_tenant(app: &TestApp, client: &reqwest::Client, slug: &str) {
    let to = app
        .submit(
            client,
            "create_tenant",
            &[
                ("name", slug),
                ("slug", slug),
                ("tier", "enterprise"),
                ("isolation", "3"),
                ("region", "eu-west-1"),
                ("environment", "production"),
            ],
        )
        .await;
    assert_eq!(to, format!("/tenants/{slug}?created=1"));
}

/// The level-3 tenant `vault`, configured (health at `health`) and rendered.
async fn configured_and_rendered(app: &TestApp, admin: &reqwest::Client, health: SocketAddr) {
    level_3_tenant(app, admin, "vault").await;
    let to = app
        .submit(
            admin,
            "configure_activation",
            &[
                ("slug", "vault"),
                ("version", "1"),
                ("domain", "api.vault.example"),
                ("upstream", "http://10.0.0.9:8080"),
                ("health_url", &format!("http://{health}/healthz")),
            ],
        )
        .await;
    assert_eq!(to, "/tenants/vault/activation?done=configured");
    assert_eq!(run(app, admin, "vault", "render", &[]).await, "/tenants/vault/activation?done=passed");
}

async fn view(app: &TestApp, client: &reqwest::Client, slug: &str) -> bulkhead::activation::ActivationView {
    client.post(app.url("/api/activation")).form(&[("slug", slug)]).send().await.unwrap().json().await.unwrap()
}

async fn run(app: &TestApp, client: &reqwest::Client, slug: &str, step: &str, extra: &[(&str, &str)]) -> String {
    let version = view(app, client, slug).await.live.unwrap().version.to_string();
    let mut fields = vec![("slug", slug), ("version", version.as_str()), ("step", step)];
    fields.extend_from_slice(extra);
    app.submit(client, "run_activation_step", &fields).await
}

async fn state(app: &TestApp, slug: &str) -> String {
    sqlx::query_scalar("SELECT a.state FROM activations a JOIN tenants t ON t.id = a.tenant_id WHERE t.slug = $1 AND a.state <> 'rolled_back'")
        .bind(slug)
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

fn kubernetes_validate(yaml: &str) -> std::process::Output {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/kubernetes-validate");
    assert!(tool.exists(), "{} is missing: scripts/test installs it", tool.display());
    let file = std::env::temp_dir().join(format!("bulkhead-render-{}.yaml", uuid::Uuid::new_v4()));
    std::fs::write(&file, yaml).unwrap();
    let out = std::process::Command::new(tool).args(["--strict", "-k", "1.33.0"]).arg(&file).output().unwrap();
    let _ = std::fs::remove_file(file);
    out
}

/// Checks a signed statement with securesystemslib (DSSE's own library, in
/// `target/venv`) against a JWK Set file: whether it held, and what it printed.
fn dsse_verify(envelope: &Path, jwks: &Path) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(root.join("target/venv/bin/python"))
        .arg(root.join("tests/clients/dsse_verify.py"))
        .arg(envelope)
        .arg(jwks)
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// A console whose probes may reach this machine (the tests' servers are on loopback).
fn local() -> bulkhead::server::config::Config {
    bulkhead::server::config::Config {
        probe_allow_networks: vec!["127.0.0.0/8".parse().unwrap()],
        ..Default::default()
    }
}

#[tokio::test]
async fn the_probes_reach_no_private_address_unless_allowed_and_no_credentials_are_kept() {
    let app = common::spawn_app().await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    level_3_tenant(&app, &admin, "vault").await;
    for (health_url, says) in [
        ("http://169.254.169.254/latest/meta-data/", "private or reserved"),
        ("http://127.0.0.1:9/healthz", "BULKHEAD_PROBE_ALLOW_NETWORKS"),
        ("http://[::1]:9/healthz", "private or reserved"),
        ("http://0x7f.1/healthz", "private or reserved"),
        ("https://ops:secret@api.vault.example/healthz", "user name or password"),
    ] {
        let refused = app
            .submit(
                &admin,
                "configure_activation",
                &[
                    ("slug", "vault"),
                    ("version", "1"),
                    ("domain", "api.vault.example"),
                    ("upstream", "http://10.0.0.9:8080"),
                    ("health_url", health_url),
                ],
            )
            .await;
        let message = app.refusal(&admin, &refused, "/tenants/vault/activation", "health_url").await;
        assert!(message.contains(says), "{health_url}: {message}");
    }
    // A name that resolves to a private address is refused when the check runs.
    let fence = bulkhead::server::fence::Fence::probes(Vec::new());
    let out = bulkhead::activation::probes::health(&app.state.config, "http://localhost:9/healthz").await;
    let (reason, _) = out.unwrap_err();
    assert!(reason.contains("private or reserved"), "{reason}");
    assert!(fence.check_url("https://api.vault.example/healthz").is_ok());
}

/// Runs a checker of `target/venv-policy` over `text` written to a file.
fn policy_tool(tool: &str, args: &[&str], text: &str, ext: &str) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = root.join("target/venv-policy/bin").join(tool);
    assert!(bin.exists(), "{} is missing: scripts/test installs it", bin.display());
    let file = std::env::temp_dir().join(format!("bulkhead-render-{}.{ext}", uuid::Uuid::new_v4()));
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new(bin).current_dir(root).args(args).arg(&file).output().unwrap();
    let _ = std::fs::remove_file(file);
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The database and Redis tenants' workloads reach, and their node pool.
fn tenant_runtime() -> bulkhead::server::config::TenantRuntime {
    use bulkhead::server::config::{Destination, NodePool, TenantRuntime};
    TenantRuntime {
        database: Some(Destination::parse("10.20.0.5:5432").unwrap()),
        redis: Some(Destination::parse("10.20.0.6:6379").unwrap()),
        node_pool: Some(NodePool::parse("bulkhead.io/pool=dedicated").unwrap()),
        ..TenantRuntime::default()
    }
}

#[tokio::test]
async fn configure_render_and_a_failing_step_kept_with_its_reason() {
    let app = common::spawn_app_with(bulkhead::server::config::Config { tenant: tenant_runtime(), ..local() }).await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    level_3_tenant(&app, &admin, "vault").await;
    assert_eq!(state(&app, "vault").await, "requested");

    // Nothing runs before the configuration; bad input is refused field by field.
    let v = view(&app, &admin, "vault").await;
    assert!(v.can_run && v.live.as_ref().unwrap().next.is_some());
    let bad = app
        .submit(
            &admin,
            "configure_activation",
            &[
                ("slug", "vault"),
                ("version", "1"),
                ("domain", "https://x:1/"),
                ("upstream", "ftp://x"),
                ("health_url", ""),
            ],
        )
        .await;
    let echo = app.echo(&admin, &bad).await;
    assert!(echo.error("domain").is_some() && echo.error("upstream").is_some() && echo.error("health_url").is_some());
    // Another tenant's domain is refused.
    sqlx::query(
        "INSERT INTO tenants (slug, name, tier_id, domain) VALUES ('other', 'Other', 'free', 'api.vault.example')",
    )
    .execute(&app.owner)
    .await
    .unwrap();
    let taken = app
        .submit(
            &admin,
            "configure_activation",
            &[
                ("slug", "vault"),
                ("version", "1"),
                ("domain", "API.Vault.Example."),
                ("upstream", "http://10.0.0.9:8080"),
                ("health_url", "http://127.0.0.1:9/healthz"),
            ],
        )
        .await;
    assert!(app.refusal(&admin, &taken, "/tenants/vault/activation", "domain").await.contains("another tenant"));
    let to = app
        .submit(
            &admin,
            "configure_activation",
            &[
                ("slug", "vault"),
                ("version", "1"),
                ("domain", "vault.invalid"),
                ("upstream", "http://10.0.0.9:8080"),
                ("health_url", "http://127.0.0.1:9/healthz"),
            ],
        )
        .await;
    assert_eq!(to, "/tenants/vault/activation?done=configured");

    // Render: files with their digests, valid for Kubernetes 1.33, downloadable.
    assert_eq!(run(&app, &admin, "vault", "render", &[]).await, "/tenants/vault/activation?done=passed");
    assert_eq!(state(&app, "vault").await, "rendered");
    let files = view(&app, &admin, "vault").await.live.unwrap().files;
    assert_eq!(files.len(), 4);
    // The same files as one directory for a GitOps repository.
    let tar = admin.get(app.url("/tenants/vault/activation/bundle.tar")).send().await.unwrap();
    assert_eq!(tar.status(), 200);
    let bytes = tar.bytes().await.unwrap();
    // Read by the system's tar, as an operator unpacks it.
    let archive = std::env::temp_dir().join(format!("bulkhead-bundle-{}.tar", uuid::Uuid::new_v4()));
    std::fs::write(&archive, &bytes).unwrap();
    let listed = std::process::Command::new("tar").arg("-tf").arg(&archive).output().unwrap();
    let _ = std::fs::remove_file(&archive);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let mut in_tar: Vec<String> = String::from_utf8_lossy(&listed.stdout).lines().map(str::to_string).collect();
    in_tar.sort();
    let mut expected: Vec<String> = files.iter().map(|f| format!("tenant-vault/{f}")).collect();
    expected.sort();
    assert_eq!(in_tar, expected);
    let res = admin.get(app.url(&format!("/tenants/vault/activation/files/{}", files[0]))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let k8s = res.text().await.unwrap();
    let out = kubernetes_validate(&k8s);
    assert!(
        out.status.success(),
        "{}{}\n{k8s}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for kind in ["Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "Deployment", "Service"] {
        assert!(k8s.contains(&format!("kind: {kind}")), "{kind}");
    }
    assert!(k8s.contains("queue_tenant_vault"));
    // The restricted Pod Security Standard and the hardening rules, by the
    // policy checker operators run, with deploy/checkov.yaml's exceptions only.
    let (passed, report) = policy_tool("checkov", &["--config-file", "deploy/checkov.yaml", "-f"], &k8s, "yaml");
    assert!(passed && report.contains("Failed checks: 0"), "{report}\n{k8s}");
    // Egress: the cluster DNS, the configured database and Redis, nothing else.
    let docs: Vec<serde_json::Value> = {
        use serde::Deserialize;
        serde_yaml::Deserializer::from_str(&k8s).map(|d| serde_json::Value::deserialize(d).unwrap()).collect()
    };
    let np = docs.iter().find(|d| d["kind"] == "NetworkPolicy").unwrap();
    let peers: Vec<String> = np["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["to"].as_array().unwrap().iter().map(|p| p.to_string()))
        .collect();
    assert_eq!(peers.len(), 3, "{peers:?}");
    assert!(peers[0].contains("kube-system") && peers[0].contains("kube-dns"), "{peers:?}");
    assert!(peers[1].contains("10.20.0.5/32") && peers[2].contains("10.20.0.6/32"), "{peers:?}");
    let pod = &docs.iter().find(|d| d["kind"] == "Deployment").unwrap()["spec"]["template"]["spec"];
    assert_eq!(pod["nodeSelector"]["bulkhead.io/pool"], "dedicated");
    assert_eq!(pod["containers"][0]["readinessProbe"]["httpGet"]["path"], "/healthz", "the health URL's path");
    // The Compose file, by the Compose specification's own schema.
    let compose = admin
        .get(app.url(&format!("/tenants/vault/activation/files/{}", files[1])))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (passed, report) =
        policy_tool("check-jsonschema", &["--builtin-schema", "vendor.compose-spec"], &compose, "yaml");
    assert!(passed, "{report}\n{compose}");

    // Out of order: refused, nothing recorded.
    let skip = run(&app, &admin, "vault", "activate", &[]).await;
    assert!(app.refusal(&admin, &skip, "/tenants/vault/activation", "_form").await.contains("comes first"));

    // Validate: the domain does not resolve. The step fails with that reason, and can be tried again.
    assert_eq!(run(&app, &admin, "vault", "validate", &[]).await, "/tenants/vault/activation?done=failed");
    let live = view(&app, &admin, "vault").await.live.unwrap();
    assert_eq!(live.state.as_str(), "failed");
    assert!(live.failure.as_deref().unwrap().contains("vault.invalid does not resolve"), "{:?}", live.failure);
    assert_eq!(live.next.map(|s| s.as_str()), Some("validate"), "the failed step is offered again");
    assert_eq!(app.count_events("activation.step_failed").await, 1);
    let recorded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM activation_steps WHERE outcome = 'failed' AND step = 'validate'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(recorded, 1);

    // An auditor reads and runs nothing; a tenant admin of another tenant sees nothing.
    let auditor = app.signed_in(Role::PlatformAuditor, "audit@example.com").await;
    assert!(!view(&app, &auditor, "vault").await.can_run);
    let refused = run(&app, &auditor, "vault", "validate", &[]).await;
    assert!(app
        .refusal(&auditor, &refused, "/tenants/vault/activation", "_form")
        .await
        .starts_with("You do not have permission"));
}

/// A tiny HTTP server answering `status` to everything, on a free port.
async fn http_server(status: u16) -> SocketAddr {
    http_server_with(status, String::new()).await
}

/// As [`http_server`], each answer carrying `headers` (`name: value\r\n` lines).
async fn http_server_with(status: u16, headers: String) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            let headers = headers.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let body = "ok";
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 {status} X\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn apply_checks_health_verify_needs_redis_and_only_the_last_step_routes_dedicated() {
    let app = common::spawn_app_with(local()).await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    configured_and_rendered(&app, &admin, http_server(503).await).await;
    // (DNS and TLS are checked on their own below; here the checklist stands as validation leaves it.)
    sqlx::query("UPDATE activations SET state = 'validated'").execute(&app.owner).await.unwrap();

    let unconfirmed = run(&app, &admin, "vault", "apply", &[]).await;
    app.refusal(&admin, &unconfirmed, "/tenants/vault/activation", "applied").await;
    assert_eq!(
        run(&app, &admin, "vault", "apply", &[("applied", "on")]).await,
        "/tenants/vault/activation?done=failed"
    );
    let live = view(&app, &admin, "vault").await.live.unwrap();
    assert!(live.failure.as_deref().unwrap().contains("answered 503"), "{:?}", live.failure);
    let up = http_server(200).await;
    sqlx::query("UPDATE activations SET health_url = $1")
        .bind(format!("http://{up}/healthz"))
        .execute(&app.owner)
        .await
        .unwrap();
    assert_eq!(
        run(&app, &admin, "vault", "apply", &[("applied", "on")]).await,
        "/tenants/vault/activation?done=passed"
    );
    assert_eq!(state(&app, "vault").await, "applied");

    // Verify: the RLS probe passes, and without Redis the step says so and cannot complete.
    assert_eq!(run(&app, &admin, "vault", "verify", &[]).await, "/tenants/vault/activation?done=failed");
    let live = view(&app, &admin, "vault").await.live.unwrap();
    assert!(live.failure.as_deref().unwrap().contains("BULKHEAD_REDIS_URL"), "{:?}", live.failure);
    let evidence: serde_json::Value = sqlx::query_scalar("SELECT evidence FROM activation_steps WHERE step = 'verify'")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(evidence["evidence"]["rls"]["write_by_another_tenant"], "refused", "{evidence}");
    let (status, dedicated): (String, bool) =
        sqlx::query_as("SELECT status, dedicated_instance FROM tenants WHERE slug = 'vault'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!((status.as_str(), dedicated), ("provisioning", false), "not dedicated before the last step");

    // Once verified, the last step switches the tenant over: its domain, its upstream, active.
    sqlx::query("UPDATE activations SET state = 'verified', failed_step = NULL").execute(&app.owner).await.unwrap();
    assert_eq!(run(&app, &admin, "vault", "activate", &[]).await, "/tenants/vault/activation?done=active");
    let (status, dedicated, domain, upstream): (String, bool, Option<String>, Option<String>) =
        sqlx::query_as("SELECT status, dedicated_instance, domain, upstream FROM tenants WHERE slug = 'vault'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), dedicated, domain.as_deref(), upstream.as_deref()),
        ("active", true, Some("api.vault.example"), Some("http://10.0.0.9:8080"))
    );
    assert!(view(&app, &admin, "vault").await.live.unwrap().next.is_none(), "nothing runs once active");
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A TLS server for `names`, valid until `not_after`, signed by `issuer`; its address.
async fn tls_server(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    not_after: OffsetDateTime,
) -> SocketAddr {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.not_before = OffsetDateTime::now_utc() - Duration::days(30);
    params.not_after = not_after;
    let cert = params.signed_by(&key, issuer).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(s).await;
            });
        }
    });
    addr
}

fn roots(issuer: &CertifiedIssuer<'static, KeyPair>) -> rustls::RootCertStore {
    let mut store = rustls::RootCertStore::empty();
    store.add(issuer.der().clone()).unwrap();
    store
}

#[tokio::test]
async fn the_tls_check_names_each_problem() {
    let ours = ca("Bulkhead test authority");
    let stranger = ca("Someone else's authority");
    let in_a_year = OffsetDateTime::now_utc() + Duration::days(365);
    let name = "api.vault.example";

    let good = tls_server(&ours, &[name], in_a_year).await;
    let evidence = tls_check(name, good, roots(&ours)).await.expect("a valid certificate passes");
    assert_eq!(evidence["valid_for_name"], name);

    let wrong_name = tls_server(&ours, &["api.other.example"], in_a_year).await;
    assert!(tls_check(name, wrong_name, roots(&ours)).await.unwrap_err().contains("not valid for api.vault.example"));

    let expired = tls_server(&ours, &[name], OffsetDateTime::now_utc() - Duration::days(1)).await;
    assert!(tls_check(name, expired, roots(&ours)).await.unwrap_err().contains("has expired"));

    let soon = tls_server(&ours, &[name], OffsetDateTime::now_utc() + Duration::days(10)).await;
    assert!(tls_check(name, soon, roots(&ours)).await.unwrap_err().contains("expires within 14 days"));

    let unknown = tls_server(&stranger, &[name], in_a_year).await;
    assert!(tls_check(name, unknown, roots(&ours)).await.unwrap_err().contains("unknown issuer"));
}

const SIGNING_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

/// A console that reaches `redis` and signs reports.
fn redis_and_signing(redis: &Redis) -> bulkhead::server::config::Config {
    bulkhead::server::config::Config {
        redis_url: Some(format!("redis://127.0.0.1:{}", redis.1)),
        signing_key: Some(bulkhead::audit::checkpoint::Signer25519::parse(SIGNING_KEY).unwrap()),
        ..local()
    }
}

#[tokio::test]
async fn verification_proves_the_queue_against_redis_and_signs_a_report_anyone_can_check() {
    let redis = redis_server().await;
    let app = common::spawn_app_with(redis_and_signing(&redis)).await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    configured_and_rendered(&app, &admin, http_server(200).await).await;
    // (DNS and TLS are tested on their own; here the checklist stands as the apply step leaves it.)
    sqlx::query("UPDATE activations SET state = 'applied'").execute(&app.owner).await.unwrap();

    assert_eq!(run(&app, &admin, "vault", "verify", &[]).await, "/tenants/vault/activation?done=passed");
    let v = view(&app, &admin, "vault").await;
    assert_eq!(v.live.as_ref().unwrap().state.as_str(), "verified", "{:?}", v.live);
    let password = v.fresh_queue_password.clone().expect("the Redis password is shown once");
    assert!(view(&app, &admin, "vault").await.fresh_queue_password.is_none(), "and only once");
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT queue_secret FROM activations").fetch_one(&app.owner).await.unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(&password), "kept sealed");

    // The tenant's user, as its workers will use it: its queue, nothing else.
    let client = redis::Client::open(format!("redis://tenant_vault:{password}@127.0.0.1:{}", redis.1)).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: String =
        redis::cmd("XADD").arg("queue_tenant_vault").arg("*").arg("job").arg("1").query_async(&mut conn).await.unwrap();
    let err = redis::cmd("XADD")
        .arg("queue_tenant_other")
        .arg("*")
        .arg("job")
        .arg("1")
        .query_async::<String>(&mut conn)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NOPERM"));

    // The report: downloadable by the tenant's admin, verifiable offline, broken by one changed byte.
    let tenant_id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'vault'").fetch_one(&app.owner).await.unwrap();
    let tenant_admin = app.tenant_admin(tenant_id, "jane@vault.example").await;
    let res = tenant_admin.get(app.url("/tenants/vault/activation/report.json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let report = res.text().await.unwrap();
    let dir = std::env::temp_dir().join(format!("bulkhead-report-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let keys = dir.join("keys.json");
    let jwks = reqwest::get(app.url("/.well-known/bulkhead/report-keys")).await.unwrap().text().await.unwrap();
    std::fs::write(&keys, jwks).unwrap();
    let file = dir.join("report.json");
    std::fs::write(&file, &report).unwrap();
    let verify = |f: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_bulkhead"))
            .args(["report", "verify"])
            .arg(f)
            .arg("--keys")
            .arg(&keys)
            .env_remove("BULKHEAD_SIGNING_KEY")
            .output()
            .unwrap()
    };
    let ok = verify(&file);
    let out = String::from_utf8_lossy(&ok.stdout).to_string();
    assert!(ok.status.success(), "{out}{}", String::from_utf8_lossy(&ok.stderr));
    assert!(out.contains("tenant: vault") && out.contains("subject: tenant-vault.k8s.yaml sha256:"), "{out}");
    // What the files say and what a probe saw, apart; nothing claims the pods run.
    assert!(out.contains("rendered: network_policy:") && out.contains("rendered: pod_security:"), "{out}");
    assert!(out.contains("observed: verify at "), "{out}");
    // (Here the apply step was skipped in the database: nobody confirmed anything, and nothing says so.)
    assert!(!out.contains("confirmed by the operator") && !out.contains("observed: apply"), "{out}");
    assert!(out.contains("not observed: that the tenant's pods run"), "{out}");
    let observed = |line: &str| line.starts_with("observed:");
    assert!(!out.lines().filter(|l| observed(l)).any(|l| l.contains("network_policy")), "{out}");
    // A signature added by a stranger is not named as a signer.
    let mut envelope: serde_json::Value = serde_json::from_str(&report).unwrap();
    let stranger = bulkhead::audit::checkpoint::Signer25519::parse(&"0b".repeat(32)).unwrap();
    let forged = bulkhead::activation::report::sign(&stranger, &serde_json::json!({}));
    envelope["signatures"].as_array_mut().unwrap().push(serde_json::to_value(&forged.signatures[0]).unwrap());
    let two = dir.join("two.json");
    std::fs::write(&two, serde_json::to_string(&envelope).unwrap()).unwrap();
    let out = verify(&two);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success() && !text.contains(&stranger.key_id()), "{text}");
    // The key set over plain HTTP: refused unless asked for.
    // (tokio's Command: the command line calls this test's own console while the test waits.)
    let over_http = |extra: &'static [&'static str]| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_bulkhead"))
            .args(["report", "verify"])
            .arg(&file)
            .args(["--keys", &app.url("/.well-known/bulkhead/report-keys")])
            .args(extra)
            .env_remove("BULKHEAD_SIGNING_KEY")
            .output()
    };
    let refused = over_http(&[]).await.unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("https:// only"), "{refused:?}");
    let allowed = over_http(&["--allow-http"]).await.unwrap();
    assert!(allowed.status.success(), "{allowed:?}");
    // A key set that sends the reader to another host: refused, not followed.
    let elsewhere = format!("location: http://localhost:{}/.well-known/bulkhead/report-keys\r\n", app.addr.port());
    let redirecting = http_server_with(302, elsewhere).await;
    let moved = tokio::process::Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(["report", "verify"])
        .arg(&file)
        .args(["--allow-http", "--keys", &format!("http://{redirecting}/keys")])
        .env_remove("BULKHEAD_SIGNING_KEY")
        .output()
        .await
        .unwrap();
    assert!(!moved.status.success());
    assert!(String::from_utf8_lossy(&moved.stderr).contains("redirected to http://localhost:"), "{moved:?}");
    // One byte of the payload changed.
    let mut envelope: serde_json::Value = serde_json::from_str(&report).unwrap();
    let payload = envelope["payload"].as_str().unwrap().to_string();
    let flipped = if payload.as_bytes()[20] == b'A' { 'B' } else { 'A' };
    let mut altered = payload.clone();
    altered.replace_range(20..21, &flipped.to_string());
    envelope["payload"] = serde_json::json!(altered);
    let bad_file = dir.join("altered.json");
    std::fs::write(&bad_file, serde_json::to_string(&envelope).unwrap()).unwrap();
    assert!(!verify(&bad_file).status.success(), "an altered report is refused");
    // The envelope holds by DSSE's own library too, and the altered one does not.
    let (held, said) = dsse_verify(&file, &keys);
    assert!(held && said.contains("payload type application/vnd.in-toto+json"), "{said}");
    assert!(!dsse_verify(&bad_file, &keys).0);
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(app.count_events("activation.report_issued").await, 1);
    assert_eq!(app.count_events("activation.report_downloaded").await, 1);

    // The tenant admin reads the checklist and runs nothing.
    let theirs = view(&app, &tenant_admin, "vault").await;
    assert!(!theirs.can_run && theirs.report.is_some());
}

// Several threads: the command line's health check calls this test's own HTTP server while the test waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dedicated_tenant_whose_queue_was_widened_is_marked_as_drifted_until_it_is_fixed() {
    let redis = redis_server().await;
    let app = common::spawn_app_with(redis_and_signing(&redis)).await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    configured_and_rendered(&app, &admin, http_server(200).await).await;
    // (DNS and TLS are tested on their own; here the checklist stands as the apply step leaves it.)
    sqlx::query("UPDATE activations SET state = 'applied'").execute(&app.owner).await.unwrap();
    assert_eq!(run(&app, &admin, "vault", "verify", &[]).await, "/tenants/vault/activation?done=passed");
    assert_eq!(run(&app, &admin, "vault", "activate", &[]).await, "/tenants/vault/activation?done=active");
    assert_eq!(bulkhead::activation::drift::recheck(&app.state, "vault").await.unwrap(), None, "all probes pass");

    // The same probes from the command line, with the console's environment, writing a signed report.
    let file = std::env::temp_dir().join(format!("bulkhead-probe-{}.json", uuid::Uuid::new_v4()));
    let probe = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_bulkhead"))
            .args(["tenant", "probe", "--slug", "vault"])
            .args(extra)
            .env("DATABASE_URL", &app.database_url)
            .env("BULKHEAD_ENV", "development")
            .env("BULKHEAD_REDIS_URL", format!("redis://127.0.0.1:{}", redis.1))
            .env("BULKHEAD_SIGNING_KEY", SIGNING_KEY)
            .env("BULKHEAD_PROBE_ALLOW_NETWORKS", "127.0.0.0/8")
            .env_remove("BULKHEAD_SECRET_KEY")
            .output()
            .unwrap()
    };
    let out = probe(&["--report", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(written.contains("application/vnd.in-toto+json"), "{written}");
    assert_eq!(app.count_events("activation.report_issued").await, 2, "the console's and the command line's");

    // Someone widens the tenant's Redis user by hand.
    let admin_redis = redis::Client::open(format!("redis://127.0.0.1:{}", redis.1)).unwrap();
    let mut conn = admin_redis.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("ACL").arg("SETUSER").arg("tenant_vault").arg("+get").query_async(&mut conn).await.unwrap();
    let drift = bulkhead::activation::drift::recheck(&app.state, "vault").await.unwrap().expect("drift");
    assert!(drift.contains("running GET") && drift.contains("was allowed"), "{drift}");
    let out = probe(&[]);
    assert!(!out.status.success(), "the command line fails on drift too");
    assert!(String::from_utf8_lossy(&out.stderr).contains("running GET"));
    assert_eq!(view(&app, &admin, "vault").await.live.unwrap().drift.as_deref(), Some(drift.as_str()));
    assert_eq!(app.count_events("activation.drift_detected").await, 1);
    assert!(bulkhead::activation::drift::recheck(&app.state, "vault").await.unwrap().is_some());
    assert_eq!(app.count_events("activation.drift_detected").await, 1, "one event per drift, not per run");

    let _: () = redis::cmd("ACL").arg("SETUSER").arg("tenant_vault").arg("-get").query_async(&mut conn).await.unwrap();
    assert_eq!(bulkhead::activation::drift::recheck(&app.state, "vault").await.unwrap(), None);
    assert_eq!(app.count_events("activation.drift_cleared").await, 1);
    assert!(view(&app, &admin, "vault").await.live.unwrap().drift.is_none());
}

#[tokio::test]
async fn a_report_signed_before_a_key_rotation_still_verifies_against_the_published_keys() {
    use bulkhead::activation::report;
    use bulkhead::audit::checkpoint::Signer25519;
    let old = Signer25519::parse(SIGNING_KEY).unwrap();
    let new = Signer25519::parse(&"09".repeat(32)).unwrap();
    let signed_at = |at: &str| {
        report::sign(
            &old,
            &report::statement(
                &[("tenant-vault.k8s.yaml".into(), "00".repeat(32))],
                serde_json::json!({ "issued_at": at }),
            ),
        )
    };
    let envelope = signed_at("2026-11-30T12:00:00Z");
    let published = |retired: Vec<bulkhead::server::signing::RetiredKey>| {
        let new = new.clone();
        async move {
            let config =
                bulkhead::server::config::Config { signing_key: Some(new), retired_signing_keys: retired, ..local() };
            let app = common::spawn_app_with(config).await;
            let jwks: serde_json::Value =
                reqwest::get(app.url("/.well-known/bulkhead/report-keys")).await.unwrap().json().await.unwrap();
            report::keys_of(&jwks).unwrap()
        }
    };
    assert!(
        report::verify(&envelope, &published(Vec::new()).await).is_err(),
        "the new key alone does not vouch for it"
    );
    let retired = bulkhead::server::signing::RetiredKey::parse(&format!(
        "{}@2026-12-01T00:00:00Z",
        hex::encode(old.verifying_key().as_bytes())
    ))
    .unwrap();
    let keys = published(vec![retired]).await;
    assert_eq!(keys.len(), 2);
    assert!(report::verify(&envelope, &keys).is_ok(), "the retired key, still published, does");
    // Signed after its retirement (the key leaked, say): refused.
    let late = report::verify(&signed_at("2026-12-02T00:00:00Z"), &keys).unwrap_err();
    assert!(late.contains("retired at"), "{late}");
}

/// A name server of the test's own: `answers` (names without the final dot)
/// get their IPv4 address, every other name NXDOMAIN. Its address.
async fn dns_server(answers: Vec<(&'static str, std::net::Ipv4Addr)>) -> SocketAddr {
    use hickory_resolver::proto::op::{Message, ResponseCode};
    use hickory_resolver::proto::rr::{rdata::A, RData, Record, RecordType};
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else { return };
            let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
            let mut answer = Message::response(query.metadata.id, query.metadata.op_code);
            answer.metadata.recursion_desired = query.metadata.recursion_desired;
            answer.metadata.recursion_available = true;
            for q in &query.queries {
                answer.add_query(q.clone());
                let name = q.name().to_string().trim_end_matches('.').to_lowercase();
                match answers.iter().find(|(n, _)| *n == name) {
                    Some((_, ip)) if q.query_type() == RecordType::A => {
                        answer.add_answer(Record::from_rdata(q.name().clone(), 60, RData::A(A(*ip))));
                    }
                    Some(_) => {}
                    None => answer.metadata.response_code = ResponseCode::NXDomain,
                }
            }
            let _ = socket.send_to(&answer.to_vec().unwrap(), from).await;
        }
    });
    addr
}

#[tokio::test]
async fn every_step_for_real_then_the_routing_check_sends_the_domain_to_its_own_upstream() {
    let redis = redis_server().await;
    let authority = ca("Bulkhead test authority");
    let name = "api.vault.example";
    let tls = tls_server(&authority, &[name], OffsetDateTime::now_utc() + Duration::days(365)).await;
    let dns = dns_server(vec![(name, std::net::Ipv4Addr::LOCALHOST)]).await;
    let roots = std::env::temp_dir().join(format!("bulkhead-roots-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&roots, authority.pem()).unwrap();
    let config = bulkhead::server::config::Config {
        redis_url: Some(format!("redis://127.0.0.1:{}", redis.1)),
        signing_key: Some(bulkhead::audit::checkpoint::Signer25519::parse(SIGNING_KEY).unwrap()),
        dns_server: Some(dns),
        tls_roots: Some(roots.clone()),
        tls_check_port: tls.port(),
        base_domain: Some("tenants.test".into()),
        shared_upstream: "http://shared-pool:8080".into(),
        ..local()
    };
    let app = common::spawn_app_with(config).await;
    let token = bulkhead::tokens::ssr::create(
        &app.pool,
        &bulkhead::audit::Actor::cli(),
        None,
        bulkhead::tokens::ssr::NewToken::parse("edge", &["routing"], "").unwrap(),
    )
    .await
    .unwrap();
    app.start_routing().await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    level_3_tenant(&app, &admin, "vault").await;
    let key = app.tenant_key("vault", "vault-service").await;
    let health = http_server(200).await;
    app.submit(
        &admin,
        "configure_activation",
        &[
            ("slug", "vault"),
            ("version", "1"),
            ("domain", name),
            ("upstream", "http://10.0.0.9:8080"),
            ("health_url", &format!("http://{health}/healthz")),
        ],
    )
    .await;
    for (step, extra) in
        [("render", vec![]), ("validate", vec![]), ("apply", vec![("applied", "on")]), ("verify", vec![])]
    {
        let to = run(&app, &admin, "vault", step, &extra).await;
        let live = view(&app, &admin, "vault").await.live.unwrap();
        assert_eq!(to, "/tenants/vault/activation?done=passed", "{step}: {:?}", live.failure);
    }
    let evidence: serde_json::Value =
        sqlx::query_scalar("SELECT evidence FROM activation_steps WHERE step = 'validate' AND outcome = 'passed'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(evidence["evidence"]["dns"], serde_json::json!(["127.0.0.1"]), "{evidence}");
    assert_eq!(evidence["evidence"]["tls"]["valid_for_name"], name);

    // Before the last step its domain names no tenant (its key does), and its calls go to the shared pool.
    let check_host = |host: &'static str| {
        let (client, url, token, key) = (app.client(), app.url("/route/check"), token.clone(), key.clone());
        async move {
            client
                .get(url)
                .header("authorization", format!("Bearer {token}"))
                .header("x-forwarded-host", host)
                .header("x-api-key", key)
                .send()
                .await
                .unwrap()
        }
    };
    let check = || check_host(name);
    for host in [name, "vault.tenants.test"] {
        let res = check_host(host).await;
        assert_eq!(res.status(), 200, "{host}");
        assert_eq!(res.headers()["x-upstream"], "http://shared-pool:8080", "{host}");
    }

    assert_eq!(run(&app, &admin, "vault", "activate", &[]).await, "/tenants/vault/activation?done=active");
    let mut upstream = String::new();
    for _ in 0..100 {
        // (The shared pool until the routing table has followed the change.)
        upstream =
            check().await.headers().get("x-upstream").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        if upstream == "http://10.0.0.9:8080" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(upstream, "http://10.0.0.9:8080", "the routing check follows the activation");
    let _ = std::fs::remove_file(roots);

    // A name the server does not know: the validation says so.
    let missing = bulkhead::activation::probes::resolve("nowhere.vault.example", 443, Some(dns)).await.unwrap_err();
    assert!(missing.contains("does not resolve"), "{missing}");
}

#[tokio::test]
async fn seeded_level_3_tenants_wait_for_their_checklist() {
    let app = common::spawn_app_with(local()).await;
    bulkhead::tenants::ssr::seed(&app.pool, &bulkhead::audit::Actor::cli(), 40).await.unwrap();
    let (level_3, active, waiting): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE isolation_level = 3),
                count(*) FILTER (WHERE isolation_level = 3 AND status = 'active'),
                (SELECT count(*) FROM activations WHERE state = 'requested')
           FROM tenants",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!((level_3, active, waiting), (10, 0, 10), "none active, each with its checklist open");
}

async fn tenant_version(app: &TestApp, slug: &str) -> String {
    sqlx::query_scalar::<_, i32>("SELECT version FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_one(&app.owner)
        .await
        .unwrap()
        .to_string()
}

// Several threads: the command line reads this test's database while the test waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_dedicated_tenant_is_torn_down_observed_and_signed() {
    let redis = redis_server().await;
    let app = common::spawn_app_with(redis_and_signing(&redis)).await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    configured_and_rendered(&app, &admin, http_server(200).await).await;
    sqlx::query("UPDATE activations SET state = 'applied'").execute(&app.owner).await.unwrap();
    assert_eq!(run(&app, &admin, "vault", "verify", &[]).await, "/tenants/vault/activation?done=passed");
    assert_eq!(run(&app, &admin, "vault", "activate", &[]).await, "/tenants/vault/activation?done=active");
    let admin_redis = redis::Client::open(format!("redis://127.0.0.1:{}", redis.1)).unwrap();
    let mut conn = admin_redis.get_multiplexed_async_connection().await.unwrap();
    let user: redis::Value = redis::cmd("ACL").arg("GETUSER").arg("tenant_vault").query_async(&mut conn).await.unwrap();
    assert_ne!(user, redis::Value::Nil, "the verify step made the tenant's Redis user");

    // Deleted: in that transaction the checklist is rolled back, the domain released, a teardown queued.
    let version = tenant_version(&app, "vault").await;
    let to = app
        .submit(&admin, "delete_tenant", &[("slug", "vault"), ("version", version.as_str()), ("confirm", "vault")])
        .await;
    assert!(to.contains("done=deleted") || to.starts_with("/tenants"), "{to}");
    let (state, domain): (String, Option<String>) = sqlx::query_as(
        "SELECT a.state, t.domain FROM activations a JOIN tenants t ON t.id = a.tenant_id WHERE t.slug = 'vault'",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!((state.as_str(), domain), ("rolled_back", None));
    let active: i64 = sqlx::query_scalar("SELECT count(*) FROM activations WHERE state = 'active'")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(active, 0, "the scheduled probes run on active checklists only: none left");

    // The background work removes the Redis user and stream, observes them gone, and signs.
    assert_eq!(bulkhead::activation::teardown::run_pending(&app.state).await.unwrap(), 1);
    let user: redis::Value = redis::cmd("ACL").arg("GETUSER").arg("tenant_vault").query_async(&mut conn).await.unwrap();
    assert_eq!(user, redis::Value::Nil, "ACL GETUSER answers nothing");
    let exists: i64 = redis::cmd("EXISTS").arg("queue_tenant_vault").query_async(&mut conn).await.unwrap();
    assert_eq!(exists, 0);
    assert_eq!(app.count_events("activation.torn_down").await, 1);
    assert_eq!(bulkhead::activation::teardown::run_pending(&app.state).await.unwrap(), 0, "done once");

    // The domain can be given to another tenant.
    level_3_tenant(&app, &admin, "heir").await;
    let to = app
        .submit(
            &admin,
            "configure_activation",
            &[
                ("slug", "heir"),
                ("version", "1"),
                ("domain", "api.vault.example"),
                ("upstream", "http://10.0.0.9:8080"),
                ("health_url", "http://127.0.0.1:9/healthz"),
            ],
        )
        .await;
    assert_eq!(to, "/tenants/heir/activation?done=configured");

    // The statement, from the command line, verifies against the published keys and lists the operator's work.
    let dir = std::env::temp_dir().join(format!("bulkhead-teardown-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(["tenant", "render", "--slug", "vault", "--teardown"])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let statement = dir.join("teardown.json");
    std::fs::write(&statement, &out.stdout).unwrap();
    let keys = dir.join("keys.json");
    let jwks = reqwest::get(app.url("/.well-known/bulkhead/report-keys")).await.unwrap().text().await.unwrap();
    std::fs::write(&keys, jwks).unwrap();
    let verified = tokio::process::Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(["report", "verify"])
        .arg(&statement)
        .arg("--keys")
        .arg(&keys)
        .env_remove("BULKHEAD_SIGNING_KEY")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&verified.stdout).to_string();
    assert!(verified.status.success(), "{text}{}", String::from_utf8_lossy(&verified.stderr));
    assert!(text.contains("teardown: deleted") && text.contains("observed: redis at "), "{text}");
    assert!(
        text.contains("operator must remove: ") && text.contains("kubectl delete namespace tenant-vault"),
        "{text}"
    );
    assert!(text.contains("api.vault.example"), "the released domain's DNS record is on the list: {text}");
    let (held, said) = dsse_verify(&statement, &keys);
    assert!(held, "securesystemslib verifies the teardown statement: {said}");
    let _ = std::fs::remove_dir_all(dir);
    // The page says so; the statement downloads for staff.
    let res = admin.get(app.url("/tenants/vault/teardown.json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let page = admin.get(app.url("/tenants/vault")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Dedicated instance teardown") && page.contains("kubectl delete namespace tenant-vault"));
    // Nothing on the deleted tenant's page offers what is gone (its admins, its checklist).
    assert!(!page.contains("Not found.") && !page.contains("/tenants/vault/activation\""), "{page}");
}

#[tokio::test]
async fn a_tenant_leaving_level_3_without_redis_keeps_its_teardown_pending_and_says_why() {
    let app = common::spawn_app_with(local()).await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    configured_and_rendered(&app, &admin, http_server(200).await).await;
    // As the verify step leaves it: the tenant's queue has a user (its password sealed here).
    sqlx::query("UPDATE activations SET queue_secret = '\\x00'").execute(&app.owner).await.unwrap();
    let version = tenant_version(&app, "vault").await;
    let to = app
        .submit(
            &admin,
            "change_isolation",
            &[("slug", "vault"), ("version", version.as_str()), ("isolation", "2"), ("namespace", "tenant-vault")],
        )
        .await;
    assert!(to.ends_with("done=isolation"), "{to}");
    assert_eq!(bulkhead::activation::teardown::run_pending(&app.state).await.unwrap(), 0);
    let (reason, failure): (String, Option<String>) =
        sqlx::query_as("SELECT reason, last_failure FROM teardowns").fetch_one(&app.owner).await.unwrap();
    assert_eq!(reason, "left_level_3");
    assert!(failure.as_deref().unwrap_or_default().contains("BULKHEAD_REDIS_URL"), "{failure:?}");
    // Tried again: one event for the reason, not one per attempt.
    bulkhead::activation::teardown::run_pending(&app.state).await.unwrap();
    assert_eq!(app.count_events("activation.teardown_pending").await, 1);
    let page = admin.get(app.url("/tenants/vault")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Teardown waiting") && page.contains("BULKHEAD_REDIS_URL"), "the page says why");
    assert_eq!(admin.get(app.url("/tenants/vault/teardown.json")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_level_2_tenant_gets_a_namespace_rendered_checked_and_recorded_at_each_change_of_level() {
    let app = common::spawn_app_with(bulkhead::server::config::Config { tenant: tenant_runtime(), ..local() }).await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    let to = app
        .submit(
            &admin,
            "create_tenant",
            &[
                ("name", "Team Co"),
                ("slug", "team"),
                ("tier", "standard"),
                ("isolation", "2"),
                ("region", "eu-west-1"),
                ("environment", "production"),
            ],
        )
        .await;
    assert_eq!(to, "/tenants/team?created=1");
    let recorded = |app: &TestApp| {
        let owner = app.owner.clone();
        async move {
            sqlx::query_as::<_, (i16, String, Vec<String>)>(
                "SELECT level, namespace, problems FROM namespace_renders ORDER BY id",
            )
            .fetch_all(&owner)
            .await
            .unwrap()
        }
    };
    assert_eq!(recorded(&app).await, vec![(2, "tenant-team".to_string(), Vec::<String>::new())]);

    // What is rendered, by the tools operators use.
    let res = admin.get(app.url("/tenants/team/namespace.yaml")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let yaml = res.text().await.unwrap();
    for kind in ["Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange"] {
        assert!(yaml.contains(&format!("kind: {kind}")), "{kind}\n{yaml}");
    }
    assert!(!yaml.contains("kind: Deployment"), "the workloads are the operator's at level 2");
    assert!(
        yaml.contains("bulkhead.io/isolation-level: '2'") || yaml.contains("bulkhead.io/isolation-level: \"2\""),
        "{yaml}"
    );
    assert!(yaml.contains("cidr: 10.20.0.5/32") && yaml.contains("cidr: 10.20.0.6/32"), "{yaml}");
    let out = kubernetes_validate(&yaml);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // (checkov has no check for these four kinds: it reports nothing on them, so it is not run here.)

    // The page shows it and that it was checked.
    let page = admin.get(app.url("/tenants/team")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("namespace-heading") && page.contains("keep their invariants as written"), "{page}");

    // Down to level 1 and back: rendered and recorded again.
    let version = tenant_version(&app, "team").await;
    let to = app
        .submit(&admin, "change_isolation", &[("slug", "team"), ("version", version.as_str()), ("isolation", "1")])
        .await;
    assert!(to.ends_with("done=isolation"), "{to}");
    assert_eq!(
        admin.get(app.url("/tenants/team/namespace.yaml")).send().await.unwrap().status(),
        404,
        "level 1 has none"
    );
    let version = tenant_version(&app, "team").await;
    let to = app
        .submit(
            &admin,
            "change_isolation",
            &[("slug", "team"), ("version", version.as_str()), ("isolation", "2"), ("namespace", "team-ns")],
        )
        .await;
    assert!(to.ends_with("done=isolation"), "{to}");
    let rows = recorded(&app).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].1, "team-ns");
    assert_eq!(app.count_events("tenant.namespace_rendered").await, 2);
}

#[tokio::test]
async fn a_checklist_that_never_made_a_queue_is_torn_down_without_redis_and_once_among_several_consoles() {
    // No Redis here: the checklist stopped at rendering, so no user or stream exists to remove.
    let config = bulkhead::server::config::Config {
        signing_key: Some(bulkhead::audit::checkpoint::Signer25519::parse(SIGNING_KEY).unwrap()),
        ..local()
    };
    let app = common::spawn_app_with(config).await;
    let admin = app.signed_in(Role::PlatformAdmin, "ops@example.com").await;
    configured_and_rendered(&app, &admin, http_server(200).await).await;
    let version = tenant_version(&app, "vault").await;
    let to = app
        .submit(&admin, "delete_tenant", &[("slug", "vault"), ("version", version.as_str()), ("confirm", "vault")])
        .await;
    assert!(to.contains("deleted"), "{to}");
    // Two consoles' background work at once: one carries it out, signs and audits it.
    let (a, b) = tokio::join!(
        bulkhead::activation::teardown::run_pending(&app.state),
        bulkhead::activation::teardown::run_pending(&app.state)
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(app.count_events("activation.torn_down").await, 1);
    let statement = admin.get(app.url("/tenants/vault/teardown.json")).send().await.unwrap().text().await.unwrap();
    let envelope: serde_json::Value = serde_json::from_str(&statement).unwrap();
    use base64::Engine;
    let payload = base64::engine::general_purpose::STANDARD.decode(envelope["payload"].as_str().unwrap()).unwrap();
    let predicate: serde_json::Value =
        serde_json::from_slice::<serde_json::Value>(&payload).unwrap()["predicate"].clone();
    assert_eq!(predicate["redis_queue_provisioned"], false);
    assert_eq!(predicate["observed"], serde_json::json!({}), "nothing is claimed as observed of a queue never made");
}
