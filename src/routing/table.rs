//! The routing table: every tenant by slug, id and own domain, with its tier,
//! status, upstream and monthly allowance of API calls; and the tokens in force.

use crate::domain::tenant_status::TenantStatus;
use crate::domain::tier_id::TierId;
use crate::domain::token_scope::TokenScope;
use crate::server::db::{self, Scope};
use axum::http::HeaderValue;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// What the routing check knows of a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub id: Uuid,
    pub slug: String,
    pub tier: TierId,
    pub status: TenantStatus,
    /// Its own upstream, once it runs on a dedicated instance.
    pub upstream: Option<Upstream>,
    /// API calls a calendar month allows (the tier's, or the override's).
    pub monthly_calls: i64,
    /// The tier's token bucket: refilled at `rate` calls a second, holding `burst`.
    pub rate: u32,
    pub burst: u32,
    /// Runs on an instance of its own: never sent to the shared pool, even
    /// when its upstream is missing (the call is refused instead).
    pub dedicated: bool,
    /// Calls without a key of this tenant go through uncounted, limited per
    /// client address (`pass`); otherwise they are refused (the default).
    pub anonymous_pass: bool,
}

/// Where a tenant's calls go, as the allowed answer names it: built once
/// when the table loads (shared by every tenant of the pool), not per call.
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    /// `X-Upstream`: the URL.
    pub url: HeaderValue,
    /// `X-Upstream-Host`: the `host:port` it dials.
    pub host: HeaderValue,
}

impl Upstream {
    /// `None` for a URL that cannot be a header value.
    pub fn new(url: &str) -> Option<Upstream> {
        Some(Upstream { url: HeaderValue::try_from(url).ok()?, host: HeaderValue::try_from(upstream_host(url)).ok()? })
    }
}

/// The `host:port` an upstream URL dials, for proxies that take an address
/// rather than a URL (Caddy's `reverse_proxy`).
fn upstream_host(upstream: &str) -> String {
    let (default_port, rest) = match upstream.split_once("://") {
        Some(("https", rest)) => (443, rest),
        Some((_, rest)) => (80, rest),
        None => (80, upstream),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()) && !authority.ends_with(']'));
    if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    }
}

/// A token in force, by its hash.
#[derive(Debug)]
pub struct Grant {
    pub id: Uuid,
    pub scopes: Vec<TokenScope>,
    pub expires_at: Option<OffsetDateTime>,
    /// Presented since the last flush (for its "last used" time); a flag per
    /// token, so the check takes no lock to note it.
    pub used: std::sync::atomic::AtomicBool,
}

/// A tenant's API key in force, by its hash.
#[derive(Debug)]
pub struct KeyGrant {
    pub id: Uuid,
    /// The tenant the key belongs to: it decides whose call this is.
    pub route: Arc<Route>,
    /// Its own bucket (calls a second, burst), inside the tier's.
    pub rate: Option<(u32, u32)>,
    /// Its own cap of calls a month, inside the tenant's.
    pub monthly_calls: Option<i64>,
    pub expires_at: Option<OffsetDateTime>,
    /// Presented since the last flush (for its "last used" time).
    pub used: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Default)]
pub struct Table {
    by_slug: HashMap<String, Arc<Route>>,
    by_id: HashMap<Uuid, Arc<Route>>,
    by_domain: HashMap<String, Arc<Route>>,
    tokens: HashMap<[u8; 32], Grant>,
    keys: HashMap<[u8; 32], KeyGrant>,
    /// The shared pool, where tenants without an instance of their own go.
    pub shared: Option<Upstream>,
}

impl Table {
    /// Reads the whole table in one transaction; tenants without an upstream
    /// of their own are sent to `shared_upstream`.
    pub async fn load(pool: &PgPool, shared_upstream: &str) -> Result<Table, sqlx::Error> {
        let mut tx = db::begin(pool, Scope::Platform).await?;
        let rows = sqlx::query!(
            r#"SELECT t.id, t.slug, t.tier_id AS "tier_id: TierId", t.status AS "status: TenantStatus", t.domain,
                      CASE WHEN t.dedicated_instance THEN t.upstream END AS upstream, t.dedicated_instance,
                      coalesce(o.value, tr.api_calls_per_month) AS "monthly_calls!",
                      tr.api_rate_per_second, tr.api_burst, t.anonymous_calls
               FROM tenants t
               JOIN tiers tr ON tr.id = t.tier_id
               LEFT JOIN quota_overrides o ON o.tenant_id = t.id AND o.metric = 'api_calls'"#
        )
        .fetch_all(&mut *tx)
        .await?;
        let tokens = sqlx::query!("SELECT id, token_hash, scopes, expires_at FROM api_tokens WHERE revoked_at IS NULL")
            .fetch_all(&mut *tx)
            .await?;
        let keys = sqlx::query!(
            "SELECT k.id, k.tenant_id, k.key_hash, k.rate_per_second, k.burst, k.monthly_calls, k.expires_at
             FROM tenant_api_keys k JOIN tenants t ON t.id = k.tenant_id
             WHERE k.revoked_at IS NULL AND t.status <> 'deleted'"
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut table = Table { shared: Upstream::new(shared_upstream), ..Table::default() };
        for r in rows {
            let route = Arc::new(Route {
                id: r.id,
                slug: r.slug,
                tier: r.tier_id,
                status: r.status,
                upstream: r.upstream.as_deref().and_then(Upstream::new),
                monthly_calls: r.monthly_calls,
                rate: r.api_rate_per_second.max(1) as u32,
                burst: r.api_burst.max(1) as u32,
                dedicated: r.dedicated_instance,
                anonymous_pass: r.anonymous_calls == "pass",
            });
            if let Some(domain) = r.domain {
                table.by_domain.insert(domain, route.clone());
            }
            table.by_slug.insert(route.slug.clone(), route.clone());
            table.by_id.insert(route.id, route);
        }
        for t in tokens {
            let Ok(hash) = <[u8; 32]>::try_from(t.token_hash.as_slice()) else { continue };
            let scopes = t.scopes.iter().filter_map(|s| TokenScope::parse(s)).collect();
            table.tokens.insert(hash, Grant { id: t.id, scopes, expires_at: t.expires_at, used: Default::default() });
        }
        for k in keys {
            let (Ok(hash), Some(route)) = (<[u8; 32]>::try_from(k.key_hash.as_slice()), table.by_id.get(&k.tenant_id))
            else {
                continue;
            };
            let rate = match (k.rate_per_second, k.burst) {
                (Some(r), Some(b)) => Some((r.max(1) as u32, b.max(1) as u32)),
                _ => None,
            };
            let grant = KeyGrant {
                id: k.id,
                route: route.clone(),
                rate,
                monthly_calls: k.monthly_calls,
                expires_at: k.expires_at,
                used: Default::default(),
            };
            table.keys.insert(hash, grant);
        }
        Ok(table)
    }

    /// The tenant key a caller presents, if it is in force now.
    pub fn key(&self, key: &str, now: OffsetDateTime) -> Option<&KeyGrant> {
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        self.keys.get(&hash).filter(|k| k.expires_at.is_none_or(|e| e > now))
    }

    /// The keys presented since the last call, forgotten as they are read.
    pub fn take_used_keys(&self) -> Vec<Uuid> {
        use std::sync::atomic::Ordering;
        self.keys.values().filter(|k| k.used.swap(false, Ordering::AcqRel)).map(|k| k.id).collect()
    }

    /// How many tenant keys are in force.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    pub fn by_slug(&self, slug: &str) -> Option<&Arc<Route>> {
        self.by_slug.get(slug)
    }

    pub fn by_id(&self, id: &Uuid) -> Option<&Arc<Route>> {
        self.by_id.get(id)
    }

    pub fn by_domain(&self, domain: &str) -> Option<&Arc<Route>> {
        self.by_domain.get(domain)
    }

    /// The token a machine presents, if it is in force now.
    pub fn grant(&self, token: &str, now: OffsetDateTime) -> Option<&Grant> {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.tokens.get(&hash).filter(|g| g.expires_at.is_none_or(|e| e > now))
    }

    /// Checks a machine's `Authorization: Bearer …` header for a token in
    /// force with `scope` and notes its use: 401 without a usable token, 403
    /// when it lacks the scope.
    pub fn authorize(
        &self,
        headers: &http::HeaderMap,
        scope: TokenScope,
        now: OffsetDateTime,
    ) -> Result<&Grant, http::StatusCode> {
        let presented = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let grant = presented.and_then(|t| self.grant(t, now)).ok_or(http::StatusCode::UNAUTHORIZED)?;
        if !grant.scopes.contains(&scope) {
            return Err(http::StatusCode::FORBIDDEN);
        }
        grant.used.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(grant)
    }

    /// The tokens presented since the last call, forgotten as they are read.
    pub fn take_used(&self) -> Vec<Uuid> {
        use std::sync::atomic::Ordering;
        self.tokens.values().filter(|g| g.used.swap(false, Ordering::AcqRel)).map(|g| g.id).collect()
    }

    pub fn tenants(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::upstream_host;

    #[test]
    fn an_upstream_url_becomes_the_address_it_dials() {
        assert_eq!(upstream_host("http://10.0.0.7:9000"), "10.0.0.7:9000");
        assert_eq!(upstream_host("https://acme.internal/api"), "acme.internal:443");
        assert_eq!(upstream_host("http://pool"), "pool:80");
        assert_eq!(upstream_host("http://[fd00::1]"), "[fd00::1]:80");
    }
}
