//! The configuration as the environment gives it: every `BULKHEAD_*`
//! variable parsed, a bad value named in its error, the defaults otherwise.

use super::config::{Config, ConfigError, Destination, NodePool, Profile, TenantRuntime};
use std::time::Duration;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn secs(name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Duration::from_secs)
            .ok_or(ConfigError { name, message: format!("expected a positive number of seconds, got {v:?}") }),
    }
}

fn number<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(v) => {
            v.trim().parse::<T>().map_err(|_| ConfigError { name, message: format!("expected a number, got {v:?}") })
        }
    }
}

impl Config {
    /// Reads the `BULKHEAD_*` variables (see README and `.env.example`).
    pub fn from_env() -> Result<Config, ConfigError> {
        let d = Config::default();
        if var("BULKHEAD_TRUST_FORWARDED_FOR").is_some() {
            return Err(ConfigError {
                name: "BULKHEAD_TRUST_FORWARDED_FOR",
                message: "replaced by BULKHEAD_TRUSTED_PROXIES: list the proxies' addresses or networks".into(),
            });
        }
        let profile = match var("BULKHEAD_ENV").as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("development") | Some("dev") => Profile::Development,
            None | Some("production") | Some("prod") => Profile::Production,
            Some(other) => {
                return Err(ConfigError {
                    name: "BULKHEAD_ENV",
                    message: format!("expected development or production, got {other:?}"),
                })
            }
        };
        let config = Config {
            profile,
            public_origin: var("BULKHEAD_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_string()),
            session_idle_timeout: secs("BULKHEAD_SESSION_IDLE_SECS", d.session_idle_timeout)?,
            session_absolute_timeout: secs("BULKHEAD_SESSION_ABSOLUTE_SECS", d.session_absolute_timeout)?,
            login_account_limit: number("BULKHEAD_LOGIN_ACCOUNT_LIMIT", d.login_account_limit)?,
            login_ip_limit: number("BULKHEAD_LOGIN_IP_LIMIT", d.login_ip_limit)?,
            login_base_delay: secs("BULKHEAD_LOGIN_BASE_DELAY_SECS", d.login_base_delay)?,
            login_max_delay: secs("BULKHEAD_LOGIN_MAX_DELAY_SECS", d.login_max_delay)?,
            login_window: secs("BULKHEAD_LOGIN_WINDOW_SECS", d.login_window)?,
            trusted_proxies: match var("BULKHEAD_TRUSTED_PROXIES") {
                None => Vec::new(),
                Some(list) => super::client_address::parse_networks(&list)
                    .map_err(|message| ConfigError { name: "BULKHEAD_TRUSTED_PROXIES", message })?,
            },
            max_body_bytes: number("BULKHEAD_MAX_BODY_BYTES", d.max_body_bytes)?,
            db_max_connections: number("BULKHEAD_DB_MAX_CONNECTIONS", d.db_max_connections)?,
            secret_key: var("BULKHEAD_SECRET_KEY"),
            require_staff_mfa: match var("BULKHEAD_REQUIRE_STAFF_MFA")
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("1" | "true" | "yes") => true,
                Some("0" | "false" | "no") => false,
                None => profile == Profile::Production,
                Some(other) => {
                    return Err(ConfigError {
                        name: "BULKHEAD_REQUIRE_STAFF_MFA",
                        message: format!("expected true or false, got {other:?}"),
                    })
                }
            },
            mfa_code_limit: number("BULKHEAD_MFA_CODE_LIMIT", d.mfa_code_limit)?,
            base_domain: match var("BULKHEAD_BASE_DOMAIN") {
                None => None,
                Some(v) => Some(crate::domain::host::normalise(&v).ok_or(ConfigError {
                    name: "BULKHEAD_BASE_DOMAIN",
                    message: format!("expected a domain name such as tenants.example.com, got {v:?}"),
                })?),
            },
            shared_upstream: var("BULKHEAD_SHARED_UPSTREAM").unwrap_or(d.shared_upstream),
            tenant: TenantRuntime::from_env()?,
            tls_roots: var("BULKHEAD_TLS_ROOTS").map(std::path::PathBuf::from),
            redis_url: var("BULKHEAD_REDIS_URL"),
            tls_check_port: number("BULKHEAD_TLS_CHECK_PORT", d.tls_check_port)?,
            dns_server: match var("BULKHEAD_DNS_SERVER") {
                None => None,
                Some(v) => Some(
                    v.parse::<std::net::SocketAddr>()
                        .or_else(|_| v.parse::<std::net::IpAddr>().map(|ip| std::net::SocketAddr::new(ip, 53)))
                        .map_err(|_| ConfigError {
                            name: "BULKHEAD_DNS_SERVER",
                            message: format!("expected an address such as 10.0.0.2 or 10.0.0.2:53, got {v:?}"),
                        })?,
                ),
            },
            probe_interval: Duration::from_secs(number("BULKHEAD_PROBE_INTERVAL_SECS", 3600u64)?),
            metrics_tenant_series: number("BULKHEAD_METRICS_TENANT_SERIES", d.metrics_tenant_series)?,
            webhook_retry: match var("BULKHEAD_WEBHOOK_RETRY_SECS") {
                None => d.webhook_retry.clone(),
                Some(v) => v
                    .split(',')
                    .map(|s| s.trim().parse::<u64>().map(Duration::from_secs))
                    .collect::<Result<_, _>>()
                    .map_err(|_| ConfigError {
                        name: "BULKHEAD_WEBHOOK_RETRY_SECS",
                        message: format!("expected seconds separated by commas, such as 5,300,1800, got {v:?}"),
                    })?,
            },
            webhook_allow_networks: match var("BULKHEAD_WEBHOOK_ALLOW_NETWORKS") {
                None => Vec::new(),
                Some(list) => super::client_address::parse_networks(&list)
                    .map_err(|message| ConfigError { name: "BULKHEAD_WEBHOOK_ALLOW_NETWORKS", message })?,
            },
            probe_allow_networks: match var("BULKHEAD_PROBE_ALLOW_NETWORKS") {
                None => Vec::new(),
                Some(list) => super::client_address::parse_networks(&list)
                    .map_err(|message| ConfigError { name: "BULKHEAD_PROBE_ALLOW_NETWORKS", message })?,
            },
            retired_signing_keys: var("BULKHEAD_RETIRED_SIGNING_KEYS")
                .unwrap_or_default()
                .split(',')
                .filter(|k| !k.trim().is_empty())
                .map(super::signing::RetiredKey::parse)
                .collect::<Result<_, _>>()
                .map_err(|message| ConfigError { name: "BULKHEAD_RETIRED_SIGNING_KEYS", message })?,
            flush_interval: Duration::from_millis(number("BULKHEAD_FLUSH_INTERVAL_MS", 1000u64)?.clamp(10, 60_000)),
            anonymous_rate: number("BULKHEAD_ANONYMOUS_RATE", d.anonymous_rate)?.max(1),
            anonymous_burst: number("BULKHEAD_ANONYMOUS_BURST", d.anonymous_burst)?.max(1),
            // At least twice the full reload's period (30 s), or every console would flap.
            routing_max_age: Duration::from_secs(number("BULKHEAD_ROUTING_MAX_AGE_SECS", 120u64)?.max(60)),
            secret_checks_per_second: number("BULKHEAD_SECRET_CHECKS_PER_SECOND", d.secret_checks_per_second)?,
            secret_checks_burst: number("BULKHEAD_SECRET_CHECKS_BURST", d.secret_checks_burst)?,
            hashing_slots: match var("BULKHEAD_HASHING_SLOTS") {
                None => None,
                Some(_) => Some(number("BULKHEAD_HASHING_SLOTS", 0usize)?),
            },
            hashing_queue: number("BULKHEAD_HASHING_QUEUE", d.hashing_queue)?,
            signing_key: match var("BULKHEAD_SIGNING_KEY") {
                None => None,
                Some(text) => Some(
                    super::signing::Signer25519::parse(&text)
                        .map_err(|message| ConfigError { name: "BULKHEAD_SIGNING_KEY", message })?,
                ),
            },
            checkpoint_interval: secs("BULKHEAD_CHECKPOINT_INTERVAL_SECS", d.checkpoint_interval)?,
            heavy_connections: number("BULKHEAD_HEAVY_CONNECTIONS", d.heavy_connections)?,
            heavy_statement_timeout: secs("BULKHEAD_HEAVY_STATEMENT_TIMEOUT_SECS", d.heavy_statement_timeout)?,
            export_send_timeout: secs("BULKHEAD_EXPORT_SEND_TIMEOUT_SECS", d.export_send_timeout)?,
            account_lock_after: number("BULKHEAD_ACCOUNT_LOCK_AFTER", d.account_lock_after)?,
            mail: var("BULKHEAD_SMTP_URL").map(|smtp_url| super::config::MailConfig {
                smtp_url,
                from: var("BULKHEAD_MAIL_FROM").unwrap_or_else(|| "Bulkhead <bulkhead@localhost>".into()),
                retry_base: Duration::from_secs(30),
            }),
        };
        config.check()?;
        Ok(config)
    }
}

impl TenantRuntime {
    /// Reads `BULKHEAD_ROUTER_NAMESPACE`, `BULKHEAD_TENANT_IMAGE`,
    /// `BULKHEAD_TENANT_DATABASE`, `BULKHEAD_TENANT_REDIS` and `BULKHEAD_TENANT_NODE_POOL`.
    pub fn from_env() -> Result<TenantRuntime, ConfigError> {
        let d = TenantRuntime::default();
        let parsed = |name: &'static str, parse: fn(&str) -> Result<Destination, String>| {
            var(name).map(|v| parse(&v).map_err(|message| ConfigError { name, message })).transpose()
        };
        Ok(TenantRuntime {
            router_namespace: match var("BULKHEAD_ROUTER_NAMESPACE") {
                None => d.router_namespace,
                Some(v) => crate::domain::namespace::parse_namespace(&v)
                    .map_err(|message| ConfigError { name: "BULKHEAD_ROUTER_NAMESPACE", message })?,
            },
            image: var("BULKHEAD_TENANT_IMAGE").map(|v| v.trim().to_string()).unwrap_or(d.image),
            database: parsed("BULKHEAD_TENANT_DATABASE", Destination::parse)?,
            redis: parsed("BULKHEAD_TENANT_REDIS", Destination::parse)?,
            node_pool: var("BULKHEAD_TENANT_NODE_POOL")
                .map(|v| {
                    NodePool::parse(&v).map_err(|message| ConfigError { name: "BULKHEAD_TENANT_NODE_POOL", message })
                })
                .transpose()?,
        })
    }
}

/// The variables that hold secrets: each may instead name a file holding
/// the value, as `NAME_FILE` (a mounted Kubernetes or Compose secret), so
/// no secret need be in a process's environment as deployed.
pub const SECRET_VARIABLES: [&str; 6] = [
    "DATABASE_URL",
    "BULKHEAD_MIGRATE_URL",
    "BULKHEAD_SECRET_KEY",
    "BULKHEAD_SIGNING_KEY",
    "BULKHEAD_REDIS_URL",
    "BULKHEAD_SMTP_URL",
];

/// Reads each `NAME_FILE` of [`SECRET_VARIABLES`] into `NAME` (the file's
/// content without its final line break). Both set is an error, as is a file
/// that cannot be read. Call before any other thread starts: it sets the
/// process's environment.
pub fn load_secret_files() -> Result<(), ConfigError> {
    for name in SECRET_VARIABLES {
        let file_var = format!("{name}_FILE");
        let Some(path) = var(&file_var) else { continue };
        if var(name).is_some() {
            return Err(ConfigError { name, message: format!("set either {name} or {file_var}, not both") });
        }
        let value = std::fs::read_to_string(path.trim())
            .map_err(|e| ConfigError { name, message: format!("{file_var}: cannot read {path:?}: {e}") })?;
        let value = value.strip_suffix('\n').map(|v| v.strip_suffix('\r').unwrap_or(v)).unwrap_or(&value);
        std::env::set_var(name, value);
    }
    Ok(())
}
