//! Test helpers: a fresh migrated database per test (copied from a template
//! migrated once per run) and the whole server bound to a random port.
#![allow(dead_code)]

use bulkhead::app::{background, startup};
use bulkhead::server::{config::Config, db};
use sqlx::{Connection, PgConnection, PgPool};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::time::Duration;

/// The password of users made by [`TestApp::signed_in`].
pub const TEST_PASSWORD: &str = "correct horse battery staple";

/// A server where test databases may be created.
pub fn admin_url() -> String {
    std::env::var("BULKHEAD_TEST_DATABASE_URL")
        .or_else(|_| std::env::var("ADMIN_DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn url_for(db: &str) -> String {
    let admin = admin_url();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{db}")
}

fn template_name() -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files {
        std::fs::read(&f).unwrap().hash(&mut h);
    }
    format!("bulkhead_tpl_{:x}", h.finish())
}

/// Creates a fresh, migrated database and returns its URL (as the superuser).
pub async fn fresh_database() -> String {
    let template = template_name();
    let mut admin = PgConnection::connect(&admin_url()).await.expect("connect to the test PostgreSQL server");
    sqlx::query("SELECT pg_advisory_lock(4242001)").execute(&mut admin).await.unwrap();
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&template)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    if !exists {
        sqlx::query(&format!("CREATE DATABASE {template}")).execute(&mut admin).await.unwrap();
        db::migrate(&url_for(&template)).await.expect("migrate the template database");
    }
    let name = format!("bulkhead_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {template}")).execute(&mut admin).await.unwrap();
    sqlx::query("SELECT pg_advisory_unlock(4242001)").execute(&mut admin).await.unwrap();
    admin.close().await.ok();
    url_for(&name)
}

/// A running console on a random port, with its own database.
pub struct TestApp {
    pub base: String,
    pub addr: SocketAddr,
    /// The superuser URL of this test's database.
    pub database_url: String,
    /// The runtime pool (demoted), as the server uses it.
    pub pool: PgPool,
    /// A connection pool as the superuser, for arranging and inspecting.
    pub owner: PgPool,
    /// The server's state (its routing table and counters among it).
    pub state: bulkhead::server::state::AppState,
    /// How many times a connection was taken from the runtime pool.
    pub taken: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Config::default()).await
}

pub async fn spawn_app_with(config: Config) -> TestApp {
    let database_url = fresh_database().await;
    spawn_app_on(database_url.clone(), database_url, config).await
}

/// Serves a console whose pool connects to `pool_url` (which may be a proxy).
pub async fn spawn_app_on(database_url: String, pool_url: String, config: Config) -> TestApp {
    let (pool, taken) = db::connect_counting(&pool_url, config.db_max_connections).unwrap();
    let owner = PgPool::connect(&database_url).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut options = startup::leptos_options();
    options.site_addr = addr;
    let state = startup::state(pool.clone(), config, options);
    background::spawn_sessions(&state);
    let router = startup::router(state.clone());
    tokio::spawn(async move {
        startup::serve(listener, router).await.unwrap();
    });
    TestApp { base: format!("http://{addr}"), addr, database_url, pool, owner, state, taken }
}

impl TestApp {
    /// Starts the routing check's table and counters, as `bulkhead serve`
    /// does, and waits for the table's first load.
    pub async fn start_routing(&self) {
        let mut loads = self.routing().loads();
        background::spawn_routing(&self.state);
        tokio::time::timeout(std::time::Duration::from_secs(10), loads.changed()).await.unwrap().unwrap();
    }

    /// Runs `change` on the database and waits until the routing table has
    /// reloaded after it; answers how long that took.
    pub async fn routing_follows(&self, change: &str) -> std::time::Duration {
        let mark = self.routing().begun();
        let started = std::time::Instant::now();
        sqlx::query(change).execute(&self.owner).await.unwrap();
        self.routing_reloaded(mark).await;
        started.elapsed()
    }

    /// Waits for the routing table to be loaded after a change made since
    /// `mark` (the routing's `begun()` before the change) has committed.
    /// The change's own notice starts that load (20 ms after it, the burst's
    /// wait), unless a load began while the change was being made: that one
    /// may have read before the commit, so a notice is sent to be sure.
    pub async fn routing_reloaded(&self, mark: u64) {
        let after = self.routing().begun();
        if after > mark {
            sqlx::query("NOTIFY bulkhead_routing").execute(&self.owner).await.unwrap();
        }
        let mut loads = self.routing().loads();
        let fresh = loads.wait_for(|n| *n > after);
        tokio::time::timeout(std::time::Duration::from_secs(10), fresh).await.unwrap().unwrap();
    }

    /// Makes an API key for the tenant `slug` (as the command line does) and
    /// waits until the routing table holds it; answers the key.
    pub async fn tenant_key(&self, slug: &str, name: &str) -> String {
        let mark = self.routing().begun();
        let new = bulkhead::keys::ssr::NewKey::parse(name, "", "", "", "never").unwrap();
        let made = bulkhead::keys::ssr::create(
            &self.pool,
            bulkhead::server::db::Scope::Platform,
            &bulkhead::audit::Actor::cli(),
            None,
            slug,
            new,
        )
        .await
        .unwrap();
        if self.routing().following() {
            self.routing_reloaded(mark).await;
        }
        made.secret
    }

    /// Puts `slug` at isolation level 3 with a completed activation checklist,
    /// as the checklist's last step leaves it, so that it may run dedicated
    /// (the database refuses a dedicated tenant without one).
    pub async fn checklist_completed(&self, slug: &str) {
        sqlx::query("UPDATE tenants SET isolation_level = 3, status = 'provisioning' WHERE slug = $1")
            .bind(slug)
            .execute(&self.owner)
            .await
            .unwrap();
        sqlx::query("INSERT INTO activations (tenant_id, state) SELECT id, 'active' FROM tenants WHERE slug = $1")
            .bind(slug)
            .execute(&self.owner)
            .await
            .unwrap();
    }

    /// The routing check's state, as the composition root made it.
    pub fn routing(&self) -> &std::sync::Arc<bulkhead::routing::Routing> {
        self.state.part()
    }

    /// The sessions this console holds in memory.
    pub fn sessions(&self) -> &std::sync::Arc<bulkhead::auth::held::HeldSessions> {
        self.state.part()
    }

    /// What `/metrics` serves.
    pub fn metrics(&self) -> &std::sync::Arc<bulkhead::metrics::Metrics> {
        self.state.part()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A browser-like client: keeps cookies, does not follow redirects, and
    /// sends the console's own Origin on every request.
    pub fn client(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("origin", self.base.parse().unwrap());
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    }

    /// Creates a platform admin with this password.
    pub async fn create_admin(&self, email: &str, password: &str) -> uuid::Uuid {
        bulkhead::auth::users::create_platform_user(
            &self.pool,
            &bulkhead::audit::Actor::cli(),
            email,
            password.to_string(),
            bulkhead::auth::Role::PlatformAdmin,
        )
        .await
        .unwrap()
    }

    /// A client signed in as a new platform user with `role`.
    pub async fn signed_in(&self, role: bulkhead::auth::Role, email: &str) -> reqwest::Client {
        bulkhead::auth::users::create_platform_user(
            &self.pool,
            &bulkhead::audit::Actor::cli(),
            email,
            TEST_PASSWORD.to_string(),
            role,
        )
        .await
        .unwrap();
        let client = self.client();
        assert_eq!(self.login(&client, email, TEST_PASSWORD).await, "/");
        client
    }

    /// Posts the login form as a browser without JavaScript would; returns
    /// the redirect target.
    pub async fn login(&self, client: &reqwest::Client, email: &str, password: &str) -> String {
        let res = client
            .post(self.url("/api/login"))
            .header("accept", "text/html")
            .form(&[("email", email), ("password", password), ("next", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302, "login answers with a redirect");
        location(&res)
    }

    /// Posts a form to server function `function` as a browser without
    /// JavaScript would; asserts the redirect and returns where it points.
    pub async fn submit(&self, client: &reqwest::Client, function: &str, fields: &[(&str, &str)]) -> String {
        let res = client
            .post(self.url(&format!("/api/{function}")))
            .header("accept", "text/html")
            .form(fields)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302, "{function}");
        location(&res)
    }

    /// The echo a refused form left in `client`'s session, named by the
    /// redirect `location`; reading it spends it, as the page does.
    pub async fn echo(&self, client: &reqwest::Client, location: &str) -> bulkhead::ui::form::FormEcho {
        let id = location
            .split(['?', '&', '#'])
            .find_map(|p| p.strip_prefix("form="))
            .unwrap_or_else(|| panic!("{location} names no form echo"));
        let res = client.post(self.url("/api/form_echo")).form(&[("id", id)]).send().await.unwrap();
        let echo: Option<bulkhead::ui::form::FormEcho> = res.json().await.unwrap();
        echo.unwrap_or_else(|| panic!("the echo of {location} is not in this session"))
    }

    /// The message a refused form left under `field` (`_form`: the whole
    /// form), after checking that `location` leads back to `page`.
    pub async fn refusal(&self, client: &reqwest::Client, location: &str, page: &str, field: &str) -> String {
        assert!(location.starts_with(&format!("{page}?form=")), "{location} does not lead back to {page}");
        let echo = self.echo(client, location).await;
        echo.error(field).unwrap_or_else(|| panic!("{location}: nothing under {field} in {echo:?}"))
    }

    /// Completes a sign-in (or a signed-in session) waiting for TOTP
    /// enrolment, as a person with an authenticator app would; returns the secret.
    pub async fn enrol_totp(&self, client: &reqwest::Client) -> Vec<u8> {
        let mut e: bulkhead::auth::mfa::Enrolment =
            client.post(self.url("/api/mfa_enrolment")).send().await.unwrap().json().await.unwrap();
        if e.needs_password {
            // Signed in without a factor: the password again, then the secret.
            let to = self.submit(client, "begin_enrolment", &[("password", TEST_PASSWORD)]).await;
            assert_eq!(to, "/login/enrol");
            e = client.post(self.url("/api/mfa_enrolment")).send().await.unwrap().json().await.unwrap();
        }
        let secret = totp_rs::Secret::Encoded(e.secret).to_bytes().unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
        let code = bulkhead::auth::totp::code_at(&secret, bulkhead::auth::totp::step_of(now));
        let res = client
            .post(self.url("/api/confirm_enrolment"))
            .header("accept", "text/html")
            .form(&[("code", code)])
            .send()
            .await
            .unwrap();
        assert_eq!(location(&res), "/login/recovery-codes");
        secret
    }

    /// A client signed in as a new admin of `tenant`, made directly in the
    /// database (their invitation flow is tested on its own), enrolled in TOTP.
    pub async fn tenant_admin(&self, tenant: uuid::Uuid, email: &str) -> reqwest::Client {
        let hash = bulkhead::auth::password::hash(TEST_PASSWORD.to_string()).await.unwrap();
        sqlx::query("INSERT INTO users (email, password_hash, role, tenant_id) VALUES ($1, $2, 'tenant_admin', $3)")
            .bind(email)
            .bind(hash)
            .bind(tenant)
            .execute(&self.owner)
            .await
            .unwrap();
        let client = self.client();
        // Tenant admins always have a second factor: the first sign-in enrols.
        assert_eq!(self.login(&client, email, TEST_PASSWORD).await, "/login/enrol");
        self.enrol_totp(&client).await;
        client
    }

    /// How many audit events carry `action`.
    pub async fn count_events(&self, action: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = $1")
            .bind(action)
            .fetch_one(&self.owner)
            .await
            .unwrap()
    }
}

/// The new-tenant form's fields, as a browser posts them.
pub fn tenant_form<'a>(name: &'a str, slug: &'a str, tier: &'a str, isolation: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("slug", slug),
        ("tier", tier),
        ("isolation", isolation),
        ("region", "eu-west-1"),
        ("environment", "production"),
    ]
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

/// The value of cookie `name` set by `res`, if any.
pub fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// What the database owner can do unseen by the hash chain: run `alter`
/// (a change to some event), then recompute every event's hashes and the
/// chain head from the genesis on, with the owner's rights.
pub async fn rewrite_and_rechain(owner: &PgPool, alter: &str) {
    let sql = format!(
        r#"DO $$ DECLARE r audit_events; prev bytea := sha256('bulkhead audit genesis'::bytea); BEGIN
             {alter};
             FOR r IN SELECT * FROM audit_events ORDER BY id LOOP
               r.prev_hash := prev;
               r.hash := audit_event_digest(r);
               UPDATE audit_events SET prev_hash = r.prev_hash, hash = r.hash WHERE id = r.id;
               prev := r.hash;
             END LOOP;
             UPDATE audit_chain_head SET last_hash = prev;
           END $$"#
    );
    sqlx::query(&sql).execute(owner).await.unwrap();
}

/// A Redis server of the test's own on a free port, stopped however the test ends.
pub struct Redis(pub std::process::Child, pub u16);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn redis_server() -> Redis {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-server (Debian package redis-server; .ci/run installs it)");
    // Stopped (and waited for) however this ends.
    let redis = Redis(child, port);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return redis;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("redis-server did not start");
}
