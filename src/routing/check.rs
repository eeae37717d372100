//! `GET /route/check`: which tenant a proxied request is for, and whether it
//! may pass. The proxy presents its own token (scope `routing`) in
//! `Authorization` on the check only, or in `X-Bulkhead-Token` when it cannot
//! replace the client's header there; the client's headers reach the tenant's
//! API untouched.

use super::host;
use super::meter::Admission;
use super::table::{Route, Table};
use crate::domain::tenant_status::TenantStatus;
use crate::domain::token_scope::TokenScope;
use crate::server::state::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
pub struct CheckQuery {
    /// `nginx`: answer every refusal other than 401 as 403 carrying the real
    /// status in `X-Bulkhead-Status` (nginx's `auth_request` turns any other
    /// status into a 500; `deploy/nginx` turns it back).
    proxy: Option<String>,
}

/// The check's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Allowed { route: Arc<Route>, upstream: String },
    Refused { status: StatusCode, retry_after_secs: Option<u64> },
}

fn refused(status: StatusCode) -> Outcome {
    Outcome::Refused { status, retry_after_secs: None }
}

/// The one value of a header that must not repeat; `Err` when it repeats or
/// is not UTF-8 text.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ()> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(());
    }
    // UTF-8, not only ASCII: a host may arrive in its Unicode form.
    first.map(|v| std::str::from_utf8(v.as_bytes()).map_err(|_| ())).transpose()
}

/// Decides for one request, counting it when it passes.
pub fn decide(state: &AppState, headers: &HeaderMap, now: OffsetDateTime) -> Outcome {
    let table = state.routing.table();
    // X-Bulkhead-Token first: a proxy that cannot replace the client's
    // Authorization on the check (Traefik) adds its token there instead.
    let presented = match single(headers, "x-bulkhead-token") {
        Ok(Some(token)) => Some(token),
        Ok(None) => match single(headers, "authorization") {
            Ok(authorization) => authorization.and_then(|a| a.strip_prefix("Bearer ")),
            Err(()) => None,
        },
        Err(()) => None,
    };
    let Some(grant) = presented.and_then(|t| table.grant(t.trim(), now)) else {
        return refused(StatusCode::UNAUTHORIZED);
    };
    if !grant.scopes.contains(&TokenScope::Routing) {
        return refused(StatusCode::FORBIDDEN);
    }
    if !grant.used.load(std::sync::atomic::Ordering::Relaxed) {
        grant.used.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let route = match identify(&table, state.config.base_domain.as_deref(), headers) {
        Ok(route) => route,
        Err(status) => return refused(status),
    };
    if matches!(route.status, TenantStatus::Suspended | TenantStatus::Deleted) {
        return refused(StatusCode::FORBIDDEN);
    }
    // The bucket first: a call refused for its speed does not spend the month.
    if let Err(wait) = state.routing.rates.take(route.id, route.rate, route.burst) {
        let retry_after_secs = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        return Outcome::Refused { status: StatusCode::TOO_MANY_REQUESTS, retry_after_secs };
    }
    match state.routing.meter.admit(route.id, route.monthly_calls, now) {
        Admission::Spent { retry_after_secs } => {
            Outcome::Refused { status: StatusCode::TOO_MANY_REQUESTS, retry_after_secs: Some(retry_after_secs) }
        }
        Admission::Allowed { .. } => {
            let upstream = route.upstream.clone().unwrap_or_else(|| state.config.shared_upstream.clone());
            Outcome::Allowed { route, upstream }
        }
    }
}

/// The tenant a request names: by its host (the tenant's own domain, or
/// `<slug>.<base domain>`), else by `X-Tenant-ID` (an id or a slug).
fn identify(table: &Table, base: Option<&str>, headers: &HeaderMap) -> Result<Arc<Route>, StatusCode> {
    let bad = StatusCode::BAD_REQUEST;
    let forwarded = single(headers, "x-forwarded-host").map_err(|_| bad)?;
    // A chain of proxies lists hosts; the first is the client's.
    let raw_host = match forwarded {
        Some(h) => Some(h.split(',').next().unwrap_or("").trim()),
        None => single(headers, "host").map_err(|_| bad)?,
    };
    if let Some(raw) = raw_host {
        let host = host::normalise(raw).ok_or(bad)?;
        if let Some(route) = table.by_domain(&host) {
            return Ok(route.clone());
        }
        if let Some(label) = base.and_then(|b| host::subdomain(&host, b)) {
            return table.by_slug(label).cloned().ok_or(StatusCode::NOT_FOUND);
        }
    }
    let tenant = single(headers, "x-tenant-id").map_err(|_| bad)?.map(str::trim).filter(|t| !t.is_empty());
    let Some(tenant) = tenant else { return Err(StatusCode::NOT_FOUND) };
    if let Ok(id) = Uuid::parse_str(tenant) {
        return table.by_id(&id).cloned().ok_or(StatusCode::NOT_FOUND);
    }
    let slug = crate::domain::slug::Slug::parse(tenant).map_err(|_| bad)?;
    table.by_slug(slug.as_str()).cloned().ok_or(StatusCode::NOT_FOUND)
}

/// The handler.
pub async fn handler(State(state): State<AppState>, Query(q): Query<CheckQuery>, headers: HeaderMap) -> Response {
    let outcome = decide(&state, &headers, OffsetDateTime::now_utc());
    respond(outcome, q.proxy.as_deref() == Some("nginx"))
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

fn respond(outcome: Outcome, nginx: bool) -> Response {
    let mut res = match outcome {
        Outcome::Allowed { route, upstream } => {
            let mut res = StatusCode::OK.into_response();
            let h = res.headers_mut();
            let mut set = |name: &'static str, value: &str| {
                if let Ok(v) = HeaderValue::from_str(value) {
                    h.insert(HeaderName::from_static(name), v);
                }
            };
            set("x-tenant-id", &route.id.to_string());
            set("x-tenant-slug", &route.slug);
            set("x-tenant-tier", route.tier.as_str());
            set("x-upstream", &upstream);
            set("x-upstream-host", &upstream_host(&upstream));
            res
        }
        Outcome::Refused { status, retry_after_secs } => {
            let shown = if nginx && !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                StatusCode::FORBIDDEN
            } else {
                status
            };
            let mut res = shown.into_response();
            res.headers_mut().insert(HeaderName::from_static("x-bulkhead-status"), HeaderValue::from(status.as_u16()));
            if let Some(secs) = retry_after_secs {
                res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            res
        }
    };
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
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
