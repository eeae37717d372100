//! Configuration from the environment. Without `BULKHEAD_ENV` the console
//! runs as production; development must be asked for.

pub use super::tenant_runtime::{Destination, NodePool, TenantRuntime};
use std::time::Duration;

/// Whether the console runs for development (plain cookies allowed) or for real.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Development,
    Production,
}

/// The sealing key of a development console started without `BULKHEAD_SECRET_KEY`.
/// It is public: production refuses to start without a key of its own.
const DEVELOPMENT_SECRET_KEY: &str = "bulkhead development key: not a secret, never for production";

/// Everything the server reads from its environment at start.
#[derive(Clone)]
pub struct Config {
    pub profile: Profile,
    /// The console's own origin (`https://console.example.com`), for the CSRF check.
    pub public_origin: Option<String>,
    pub session_idle_timeout: Duration,
    pub session_absolute_timeout: Duration,
    /// Failed logins of one account before it waits.
    pub login_account_limit: i32,
    /// Failed logins from one IP address before it waits.
    pub login_ip_limit: i32,
    /// The first wait; each further failure doubles it, up to `login_max_delay`.
    pub login_base_delay: Duration,
    pub login_max_delay: Duration,
    /// Failures older than this are forgotten.
    pub login_window: Duration,
    /// The proxies whose `X-Forwarded-For` hops are believed (`BULKHEAD_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Pooled database connections of one server (`BULKHEAD_DB_MAX_CONNECTIONS`).
    pub db_max_connections: u32,
    pub secret_key: Option<String>,
    /// Platform staff must enrol and use TOTP (tenant admins always must).
    /// On by default outside development.
    pub require_staff_mfa: bool,
    /// Wrong codes at the second step before it waits.
    pub mfa_code_limit: i32,
    /// Tenants' hosts are `<slug>.<base domain>` (`BULKHEAD_BASE_DOMAIN`), normalised.
    pub base_domain: Option<String>,
    /// What `X-Upstream` names for tenants on the shared pool (`BULKHEAD_SHARED_UPSTREAM`).
    pub shared_upstream: String,
    /// How often the routing check's counted calls are written (`BULKHEAD_FLUSH_INTERVAL_MS`).
    pub flush_interval: Duration,
    /// Calls without a key that one client address may make a second, and at
    /// once, to a tenant that lets them pass (`BULKHEAD_ANONYMOUS_RATE`, `…_BURST`).
    pub anonymous_rate: u32,
    pub anonymous_burst: u32,
    /// Past this age without a full load of the routing table, `/readyz`
    /// answers 503 (`BULKHEAD_ROUTING_MAX_AGE_SECS`).
    pub routing_max_age: Duration,
    /// Secret checks (sign-in, codes, invitations) one address may make a
    /// second, and at once (`BULKHEAD_SECRET_CHECKS_PER_SECOND`, `…_BURST`).
    pub secret_checks_per_second: u32,
    pub secret_checks_burst: u32,
    /// Secret checks that run at once (`BULKHEAD_HASHING_SLOTS`; the cores but one by default).
    pub hashing_slots: Option<usize>,
    /// Secret checks that may wait for a slot before the answer is 503 (`BULKHEAD_HASHING_QUEUE`).
    pub hashing_queue: usize,
    /// Signs the audit trail's checkpoints (`BULKHEAD_SIGNING_KEY`, 32 bytes in base64 or hex).
    pub signing_key: Option<super::signing::Signer25519>,
    /// How often the chain head is signed while it moves (`BULKHEAD_CHECKPOINT_INTERVAL_SECS`).
    pub checkpoint_interval: Duration,
    /// Connections of the pool that exports and verifications use (`BULKHEAD_HEAVY_CONNECTIONS`).
    pub heavy_connections: u32,
    /// How long one of their statements may run (`BULKHEAD_HEAVY_STATEMENT_TIMEOUT_SECS`).
    pub heavy_statement_timeout: Duration,
    /// How long an export waits for a reader that stopped reading (`BULKHEAD_EXPORT_SEND_TIMEOUT_SECS`).
    pub export_send_timeout: Duration,
    /// Consecutive wrong passwords after which an account locks until a
    /// platform admin unlocks it (`BULKHEAD_ACCOUNT_LOCK_AFTER`).
    pub account_lock_after: i32,
    /// Outgoing e-mail (`BULKHEAD_SMTP_URL`, `BULKHEAD_MAIL_FROM`); without it the
    /// console shows invitation links instead.
    pub mail: Option<MailConfig>,
    /// What a tenant's rendered workloads are made with and may reach.
    pub tenant: TenantRuntime,
    /// PEM certificates the activation's TLS check trusts (`BULKHEAD_TLS_ROOTS`);
    /// without it, the Mozilla roots.
    pub tls_roots: Option<std::path::PathBuf>,
    /// An admin connection to the Redis that holds tenants' queues (`BULKHEAD_REDIS_URL`).
    pub redis_url: Option<String>,
    /// The port the activation's TLS check connects to (`BULKHEAD_TLS_CHECK_PORT`, 443).
    pub tls_check_port: u16,
    /// The name server the activation's DNS check asks (`BULKHEAD_DNS_SERVER`,
    /// `ip[:port]`); without it, the system's resolver.
    pub dns_server: Option<std::net::SocketAddr>,
    /// Public keys of earlier signing keys, still published for what they
    /// signed (`BULKHEAD_RETIRED_SIGNING_KEYS`, comma-separated).
    pub retired_signing_keys: Vec<super::signing::RetiredKey>,
    /// How often the isolation probes run again on every dedicated tenant
    /// (`BULKHEAD_PROBE_INTERVAL_SECS`, 3600; 0: never).
    pub probe_interval: Duration,
    /// The waits before each retry of a webhook delivery
    /// (`BULKHEAD_WEBHOOK_RETRY_SECS`, comma-separated; about a day by default).
    pub webhook_retry: Vec<Duration>,
    /// Networks webhooks may reach besides the public internet
    /// (`BULKHEAD_WEBHOOK_ALLOW_NETWORKS`; none by default).
    pub webhook_allow_networks: Vec<ipnet::IpNet>,
    /// Private or reserved networks the activation's health, DNS and TLS
    /// probes may reach beside the public internet
    /// (`BULKHEAD_PROBE_ALLOW_NETWORKS`; none by default).
    pub probe_allow_networks: Vec<ipnet::IpNet>,
    /// How many tenants (the fullest, from 50 % of a quota) get series of
    /// their own in `/metrics` (`BULKHEAD_METRICS_TENANT_SERIES`, 500).
    pub metrics_tenant_series: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("profile", &self.profile)
            .field("public_origin", &self.public_origin)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("session_absolute_timeout", &self.session_absolute_timeout)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "[redacted]"))
            .field("require_staff_mfa", &self.require_staff_mfa)
            .field("smtp", &self.mail.is_some())
            .finish_non_exhaustive()
    }
}

/// The waits before each retry of a webhook delivery: 5 s, 5 min, 30 min,
/// 2 h, 5 h, 10 h, 10 h; eight attempts over about 27 hours.
pub const WEBHOOK_RETRY_SECS: [u64; 7] = [5, 300, 1800, 7200, 18000, 36000, 36000];

impl Default for Config {
    fn default() -> Self {
        Config {
            profile: Profile::Development,
            public_origin: None,
            session_idle_timeout: Duration::from_secs(30 * 60),
            session_absolute_timeout: Duration::from_secs(12 * 3600),
            login_account_limit: 5,
            login_ip_limit: 20,
            login_base_delay: Duration::from_secs(30),
            login_max_delay: Duration::from_secs(15 * 60),
            login_window: Duration::from_secs(15 * 60),
            trusted_proxies: Vec::new(),
            max_body_bytes: 64 * 1024,
            db_max_connections: 10,
            secret_key: None,
            require_staff_mfa: false,
            mfa_code_limit: 5,
            base_domain: None,
            shared_upstream: "shared".into(),
            flush_interval: Duration::from_secs(1),
            anonymous_rate: 5,
            anonymous_burst: 20,
            routing_max_age: Duration::from_secs(120),
            secret_checks_per_second: 10,
            secret_checks_burst: 100,
            hashing_slots: None,
            hashing_queue: 64,
            signing_key: None,
            checkpoint_interval: Duration::from_secs(300),
            heavy_connections: 2,
            heavy_statement_timeout: Duration::from_secs(300),
            export_send_timeout: Duration::from_secs(30),
            mail: None,
            account_lock_after: 50,
            tenant: TenantRuntime::default(),
            tls_roots: None,
            redis_url: None,
            tls_check_port: 443,
            dns_server: None,
            probe_interval: Duration::from_secs(3600),
            retired_signing_keys: Vec::new(),
            metrics_tenant_series: 500,
            webhook_retry: WEBHOOK_RETRY_SECS.iter().map(|s| Duration::from_secs(*s)).collect(),
            webhook_allow_networks: Vec::new(),
            probe_allow_networks: Vec::new(),
        }
    }
}

/// A configuration value that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

impl Config {
    /// The box that seals TOTP secrets. Outside development the key is required
    /// (see `check`); a development console without one uses a fixed,
    /// public development key, so its secrets are sealed but not protected.
    pub fn secret_box(&self) -> super::secret_box::SecretBox {
        match &self.secret_key {
            Some(key) => super::secret_box::SecretBox::new(key),
            None => {
                tracing::warn!(
                    "BULKHEAD_SECRET_KEY is not set: TOTP secrets are sealed with the public development key"
                );
                super::secret_box::SecretBox::new(DEVELOPMENT_SECRET_KEY)
            }
        }
    }

    /// Refuses settings that are unsafe outside development.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.db_max_connections == 0 {
            return Err(ConfigError { name: "BULKHEAD_DB_MAX_CONNECTIONS", message: "needs at least 1".into() });
        }
        if self.profile == Profile::Production {
            if self.secret_key.as_deref().map(str::len).unwrap_or(0) < 32 {
                return Err(ConfigError {
                    name: "BULKHEAD_SECRET_KEY",
                    message: "production needs a secret key of at least 32 characters".into(),
                });
            }
            match &self.public_origin {
                Some(o) if o.starts_with("https://") => {}
                _ => {
                    return Err(ConfigError {
                        name: "BULKHEAD_PUBLIC_URL",
                        message: "production needs the console's https:// address (cookies are Secure)".into(),
                    })
                }
            }
        }
        Ok(())
    }

    /// The protections this configuration turns off, in words for the log's
    /// first line; empty when every one is on.
    pub fn protections_off(&self) -> Vec<&'static str> {
        let mut off = Vec::new();
        if !self.secure_cookies() {
            off.push("Secure and __Host- cookies");
        }
        if !self.require_staff_mfa {
            off.push("two-factor sign-in for platform staff");
        }
        if self.secret_key.is_none() {
            off.push("a private key for TOTP secrets (the public development key seals them)");
        }
        if self.public_origin.is_none() {
            off.push("the Origin check against the console's own address (BULKHEAD_PUBLIC_URL)");
        }
        if self.signing_key.is_none() {
            off.push("signed audit checkpoints (BULKHEAD_SIGNING_KEY)");
        }
        off
    }

    /// Where the console may listen: anywhere in production; in development,
    /// loopback addresses only (its keys are public, its cookies plain).
    pub fn check_listen(&self, addr: std::net::SocketAddr) -> Result<(), ConfigError> {
        if self.profile == Profile::Development && !addr.ip().is_loopback() {
            return Err(ConfigError {
                name: "LEPTOS_SITE_ADDR",
                message: format!(
                    "development listens on loopback only (127.0.0.1 or ::1), not {addr}; \
                     set BULKHEAD_ENV=production to serve other hosts"
                ),
            });
        }
        Ok(())
    }

    /// Secure, `__Host-` prefixed cookies everywhere but development.
    pub fn secure_cookies(&self) -> bool {
        self.profile == Profile::Production
    }

    /// The session cookie's name.
    pub fn session_cookie_name(&self) -> &'static str {
        if self.secure_cookies() {
            "__Host-bulkhead_session"
        } else {
            "bulkhead_session"
        }
    }
}

/// Where the console's mail goes, and as whom.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtp://host:port` (plain, or STARTTLS with `?tls=required`) or
    /// `smtps://user:password@host` (TLS).
    pub smtp_url: String,
    pub from: String,
    /// The first wait after a failed attempt; each further one doubles it.
    pub retry_base: std::time::Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_to_start_without_a_key_or_https() {
        let mut c = Config { profile: Profile::Production, ..Config::default() };
        assert_eq!(c.check().unwrap_err().name, "BULKHEAD_SECRET_KEY");
        c.secret_key = Some("k".repeat(32));
        assert_eq!(c.check().unwrap_err().name, "BULKHEAD_PUBLIC_URL");
        c.public_origin = Some("http://console.example.com".into());
        assert!(c.check().is_err());
        c.public_origin = Some("https://console.example.com".into());
        assert!(c.check().is_ok());
        assert_eq!(c.session_cookie_name(), "__Host-bulkhead_session");
    }

    #[test]
    fn without_a_profile_the_console_is_production() {
        // The process's environment is shared by the tests of this binary:
        // only this test touches BULKHEAD_ENV.
        std::env::remove_var("BULKHEAD_ENV");
        std::env::remove_var("BULKHEAD_SECRET_KEY");
        let err = Config::from_env().unwrap_err();
        assert_eq!(err.name, "BULKHEAD_SECRET_KEY", "production refuses to start without a key");
        std::env::set_var("BULKHEAD_ENV", "development");
        let dev = Config::from_env().unwrap();
        std::env::remove_var("BULKHEAD_ENV");
        assert_eq!(dev.profile, Profile::Development);
        assert!(dev.protections_off().iter().any(|p| p.contains("Secure")));
        assert!(dev.check_listen("127.0.0.1:3000".parse().unwrap()).is_ok());
        assert!(dev.check_listen("[::1]:3000".parse().unwrap()).is_ok());
        assert_eq!(dev.check_listen("0.0.0.0:3000".parse().unwrap()).unwrap_err().name, "LEPTOS_SITE_ADDR");
        let prod = Config {
            profile: Profile::Production,
            secret_key: Some("k".repeat(32)),
            public_origin: Some("https://console.example.com".into()),
            require_staff_mfa: true,
            signing_key: Some(crate::server::signing::Signer25519::parse(&"01".repeat(32)).unwrap()),
            ..Config::default()
        };
        assert!(prod.protections_off().is_empty(), "{:?}", prod.protections_off());
        assert!(prod.check_listen("0.0.0.0:3000".parse().unwrap()).is_ok());
    }

    #[test]
    fn development_allows_plain_cookies() {
        let c = Config::default();
        assert!(c.check().is_ok());
        assert!(!c.secure_cookies());
    }

    #[test]
    fn secrets_sealed_under_one_key_do_not_open_under_another() {
        let owner = uuid::Uuid::new_v4();
        let dev = Config::default().secret_box();
        let prod = Config { secret_key: Some("k".repeat(32)), ..Config::default() }.secret_box();
        let sealed = prod.seal(owner, b"totp secret");
        assert_eq!(prod.open(owner, &sealed).unwrap(), b"totp secret");
        assert!(dev.open(owner, &sealed).is_err());
    }

    #[test]
    fn debug_output_redacts_the_secret_key() {
        let c = Config { secret_key: Some("very-secret".into()), ..Config::default() };
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}
