//! `GET /route/check`: which tenant a proxied request is for, and whether it
//! may pass. The proxy proves itself with its own token (scope `routing`) in
//! `X-Bulkhead-Token`, set by the proxy over anything a client sent (or in
//! `Authorization`, for a proxy that replaces the client's header on the
//! check). The caller proves itself with a tenant key (`X-API-Key`, or its
//! own `Authorization: Bearer bk_live_…`): the key decides the tenant, and
//! only a call with a key in force spends a tenant's allowance.

use super::meter::Admission;
use super::table::{KeyGrant, Route, Table, Upstream};
use super::Routing;
use crate::domain::host;
use crate::domain::tenant_status::TenantStatus;
use crate::domain::token_scope::TokenScope;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
pub struct CheckQuery {
    /// `nginx`: answer every refusal other than 401 as 403 carrying the real
    /// status in `X-Bulkhead-Status` (nginx's `auth_request` turns any other
    /// status into a 500; `deploy/nginx` turns it back).
    proxy: Option<String>,
    /// `shared` or `dedicated`: the proxy sends an allowed call there whatever
    /// the answer says (Traefik's routers), so a tenant that runs elsewhere is
    /// refused (421): a dedicated tenant never reaches the shared pool.
    expect: Option<String>,
}

/// The check's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<'t> {
    /// The tenant, and where its call goes.
    Allowed(&'t Route, Option<&'t Upstream>),
    Refused {
        status: StatusCode,
        retry_after_secs: Option<u64>,
    },
}

fn refused(status: StatusCode) -> Outcome<'static> {
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

/// The header a tenant's caller presents its key in; a key may also come as
/// the caller's `Authorization: Bearer bk_live_…` when the proxy proves
/// itself in `X-Bulkhead-Token`.
pub const KEY_HEADER: &str = "x-api-key";

/// The proxy's own token: `X-Bulkhead-Token` when present (every shipped
/// proxy sets it, replacing whatever a client sent), else `Authorization`
/// (a proxy that replaces the client's header on the check).
fn proxy_token(headers: &HeaderMap) -> Option<&str> {
    match single(headers, "x-bulkhead-token") {
        Ok(Some(token)) => Some(token.trim()),
        Ok(None) => match single(headers, "authorization") {
            Ok(Some(a)) => {
                a.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.starts_with(crate::domain::api_key::PREFIX))
            }
            _ => None,
        },
        Err(()) => None,
    }
}

/// The tenant key the caller presents: `X-API-Key`, else its own
/// `Authorization: Bearer bk_live_…`. `Err` when a header repeats.
fn presented_key(headers: &HeaderMap) -> Result<Option<&str>, ()> {
    if let Some(key) = single(headers, KEY_HEADER)? {
        return Ok(Some(key.trim()));
    }
    let bearer = single(headers, "authorization")?.and_then(|a| a.strip_prefix("Bearer ")).map(str::trim);
    Ok(bearer.filter(|b| b.starts_with(crate::domain::api_key::PREFIX)))
}

/// The answer's refusal when a tenant cannot be served at all, or where its
/// call goes. A dedicated tenant is never sent to the shared pool: without
/// its own upstream its call is refused (503), and a proxy that says it will
/// send the call to the shared pool whatever the answer (`expect=shared`,
/// Traefik's router for `<slug>.<base>`) is told 421.
fn destination<'t>(route: &'t Route, table: &'t Table, expect: Expect) -> Result<Option<&'t Upstream>, Outcome<'t>> {
    if matches!(route.status, TenantStatus::Suspended | TenantStatus::Deleted) {
        return Err(refused(StatusCode::FORBIDDEN));
    }
    match (route.dedicated, expect) {
        (true, Expect::Shared) | (false, Expect::Dedicated) => Err(refused(StatusCode::MISDIRECTED_REQUEST)),
        (true, _) => route.upstream.as_ref().map(Some).ok_or(refused(StatusCode::SERVICE_UNAVAILABLE)),
        (false, _) => Ok(table.shared.as_ref()),
    }
}

/// Where a proxy sends an allowed call whatever the answer says (`expect=`):
/// Traefik routes by its own rules, one router for the shared pool and one
/// per dedicated tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Expect {
    /// The proxy follows `X-Upstream` (nginx, Caddy).
    #[default]
    Answer,
    Shared,
    Dedicated,
}

/// What the proxy says about the request beyond its headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Proxied {
    /// The client's address, as the trusted proxies vouch for it.
    pub client: Option<std::net::IpAddr>,
    /// Where the proxy sends the call whatever the answer.
    pub expect: Expect,
}

/// A caller the check has identified, before its buckets and its month.
pub struct Caller<'t> {
    pub route: &'t Route,
    pub key: &'t KeyGrant,
    pub upstream: Option<&'t Upstream>,
}

fn too_fast(wait: std::time::Duration) -> Outcome<'static> {
    Outcome::Refused {
        status: StatusCode::TOO_MANY_REQUESTS,
        retry_after_secs: Some(wait.as_secs_f64().ceil().max(1.0) as u64),
    }
}

/// Decides for one request against `table` (the routing table as it stands),
/// counting it when it passes, with this console's own buckets.
pub fn decide<'t>(
    routing: &Routing,
    table: &'t Table,
    headers: &HeaderMap,
    proxied: Proxied,
    now: OffsetDateTime,
) -> Outcome<'t> {
    let caller = match identify_caller(routing, table, headers, proxied, now) {
        Ok(caller) => caller,
        Err(outcome) => return outcome,
    };
    if let Err(wait) = local_buckets(routing, &caller) {
        return too_fast(wait);
    }
    count_month(routing, caller, now)
}

/// The first half of a decision: the proxy's token, the caller's key, the
/// tenant the request names against the key's, where the call would go.
/// The caller is identified by its tenant key before anything is counted: a
/// call without a valid key spends nothing of any tenant's. `Err` is the
/// answer already (a refusal, or a call without a key let through).
pub fn identify_caller<'t>(
    routing: &Routing,
    table: &'t Table,
    headers: &HeaderMap,
    proxied: Proxied,
    now: OffsetDateTime,
) -> Result<Caller<'t>, Outcome<'t>> {
    let Some(grant) = proxy_token(headers).and_then(|t| table.grant(t, now)) else {
        return Err(refused(StatusCode::UNAUTHORIZED));
    };
    if !grant.scopes.contains(&TokenScope::Routing) {
        return Err(refused(StatusCode::FORBIDDEN));
    }
    if !grant.used.load(std::sync::atomic::Ordering::Relaxed) {
        grant.used.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let named = identify(table, routing.base_domain.as_deref(), headers);
    let presented = presented_key(headers).map_err(|()| refused(StatusCode::BAD_REQUEST))?;
    let Some(presented) = presented else {
        return Err(anonymous(routing, table, named, proxied));
    };
    // A key that is not in force spends nothing, whoever it names.
    let key = table.key(presented, now).ok_or(refused(StatusCode::UNAUTHORIZED))?;
    let route = &*key.route;
    match named {
        // A host or X-Tenant-ID that names another tenant than the key's.
        Ok(Some(r)) if r.id != route.id => return Err(refused(StatusCode::FORBIDDEN)),
        Err(StatusCode::NOT_FOUND) => return Err(refused(StatusCode::FORBIDDEN)),
        Err(status) => return Err(refused(status)),
        Ok(_) => {}
    }
    let upstream = destination(route, table, proxied.expect)?;
    if !key.used.load(std::sync::atomic::Ordering::Relaxed) {
        key.used.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(Caller { route, key, upstream })
}

/// The buckets, on this console alone (the key's, then the tenant's): a call
/// refused for its speed does not spend the month. `Err` with the wait.
pub fn local_buckets(routing: &Routing, caller: &Caller) -> Result<(), std::time::Duration> {
    if let Some((rate, burst)) = caller.key.rate {
        routing.key_rates.take(caller.key.id, rate, burst)?;
    }
    routing.rates.take(caller.route.id, caller.route.rate, caller.route.burst)
}

/// The last half of a decision: the key's monthly cap, then the tenant's
/// allowance; counted when both allow it.
pub fn count_month<'t>(routing: &Routing, caller: Caller<'t>, now: OffsetDateTime) -> Outcome<'t> {
    let Caller { route, key, upstream } = caller;
    let spent = |retry_after_secs| Outcome::Refused {
        status: StatusCode::TOO_MANY_REQUESTS,
        retry_after_secs: Some(retry_after_secs),
    };
    if let Some(cap) = key.monthly_calls {
        if !routing.key_meter.admit(key.id, route.id, cap, now) {
            return spent(super::meter::until_next_month(now));
        }
    }
    match routing.meter.admit(route.id, route.monthly_calls, now) {
        Admission::Spent { retry_after_secs } => {
            if key.monthly_calls.is_some() {
                routing.key_meter.give_back(key.id, route.id, now);
            }
            spent(retry_after_secs)
        }
        Admission::Allowed { .. } => Outcome::Allowed(route, upstream),
    }
}

/// A call without a key: refused (401), unless the tenant it names lets such
/// calls pass, limited per client address and counted against nobody.
fn anonymous<'t>(
    routing: &Routing,
    table: &'t Table,
    named: Result<Option<&'t Route>, StatusCode>,
    proxied: Proxied,
) -> Outcome<'t> {
    let route = match named {
        Ok(Some(route)) if route.anonymous_pass => route,
        Err(StatusCode::BAD_REQUEST) => return refused(StatusCode::BAD_REQUEST),
        _ => return refused(StatusCode::UNAUTHORIZED),
    };
    let upstream = match destination(route, table, proxied.expect) {
        Ok(u) => u,
        Err(refusal) => return refusal,
    };
    // Without the client's address every anonymous caller shares one bucket:
    // stricter, never looser.
    let client = proxied.client.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    match routing.anonymous.take(route.id, client) {
        Ok(()) => Outcome::Allowed(route, upstream),
        Err(wait) => Outcome::Refused {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after_secs: Some(wait.as_secs_f64().ceil().max(1.0) as u64),
        },
    }
}

/// The tenant a request names, if any: by its host (`<slug>.<base domain>`,
/// or the tenant's own domain), else by `X-Tenant-ID` (an id or a slug).
/// A name under the base domain is read as a slug alone: no tenant's own
/// domain can stand for another tenant's `<slug>.<base>`.
fn identify<'t>(table: &'t Table, base: Option<&str>, headers: &HeaderMap) -> Result<Option<&'t Route>, StatusCode> {
    let bad = StatusCode::BAD_REQUEST;
    let forwarded = single(headers, "x-forwarded-host").map_err(|_| bad)?;
    // A chain of proxies lists hosts; the first is the client's.
    let raw_host = match forwarded {
        Some(h) => Some(h.split(',').next().unwrap_or("").trim()),
        None => single(headers, "host").map_err(|_| bad)?,
    };
    if let Some(raw) = raw_host {
        let host = host::normalise(raw).ok_or(bad)?;
        if let Some(label) = base.and_then(|b| host::subdomain(&host, b)) {
            return table.by_slug(label).map(|r| Some(&**r)).ok_or(StatusCode::NOT_FOUND);
        }
        if let Some(route) = table.by_domain(&host) {
            return Ok(Some(route));
        }
    }
    let tenant = single(headers, "x-tenant-id").map_err(|_| bad)?.map(str::trim).filter(|t| !t.is_empty());
    let Some(tenant) = tenant else { return Ok(None) };
    if let Ok(id) = Uuid::parse_str(tenant) {
        return table.by_id(&id).map(|r| Some(&**r)).ok_or(StatusCode::NOT_FOUND);
    }
    let slug = crate::domain::slug::Slug::parse(tenant).map_err(|_| bad)?;
    table.by_slug(slug.as_str()).map(|r| Some(&**r)).ok_or(StatusCode::NOT_FOUND)
}

/// The handler. It takes the routing memory alone as its state (one
/// reference count per call, where the console's whole state is several),
/// and reads the request's headers where they lie rather than a copy.
pub async fn handler(State(routing): State<Arc<Routing>>, request: Request) -> Response {
    let query = Query::<CheckQuery>::try_from_uri(request.uri()).map(|Query(q)| q).ok();
    let nginx = query.as_ref().is_some_and(|q| q.proxy.as_deref() == Some("nginx"));
    let expect = match query.as_ref().and_then(|q| q.expect.as_deref()) {
        Some("shared") => Expect::Shared,
        Some("dedicated") => Expect::Dedicated,
        _ => Expect::Answer,
    };
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip());
    let client =
        peer.map(|p| crate::server::client_address::client_address(p, request.headers(), &routing.trusted_proxies));
    let proxied = Proxied { client, expect };
    let now = OffsetDateTime::now_utc();
    let Some(shared) = routing.shared_rates.as_ref() else {
        let table = routing.table();
        let outcome = decide(&routing, &table, request.headers(), proxied, now);
        routing.decisions.note(&outcome);
        return respond(outcome, nginx);
    };
    // Buckets shared by every console through Redis: one round trip, and
    // this console's own buckets when Redis does not answer in time.
    let table = routing.table_arc();
    let caller = match identify_caller(&routing, &table, request.headers(), proxied, now) {
        Ok(caller) => caller,
        Err(outcome) => {
            routing.decisions.note(&outcome);
            return respond(outcome, nginx);
        }
    };
    let key_bucket = caller.key.rate.map(|(rate, burst)| (caller.key.id, rate, burst));
    let waited = match shared.take((caller.route.id, caller.route.rate, caller.route.burst), key_bucket).await {
        Some(result) => result,
        None => local_buckets(&routing, &caller),
    };
    let outcome = match waited {
        Ok(()) => count_month(&routing, caller, now),
        Err(wait) => too_fast(wait),
    };
    routing.decisions.note(&outcome);
    respond(outcome, nginx)
}

fn respond(outcome: Outcome, nginx: bool) -> Response {
    let mut res = match outcome {
        Outcome::Allowed(route, upstream) => {
            let mut headers = HeaderMap::with_capacity(8);
            let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
            let id = route.id.hyphenated().encode_lower(&mut id);
            headers.insert(HeaderName::from_static("x-tenant-id"), HeaderValue::from_str(id).expect("a uuid"));
            if let Ok(slug) = HeaderValue::from_str(&route.slug) {
                headers.insert(HeaderName::from_static("x-tenant-slug"), slug);
            }
            if let Ok(tier) = HeaderValue::from_str(route.tier.as_str()) {
                headers.insert(HeaderName::from_static("x-tenant-tier"), tier);
            }
            if let Some(up) = upstream {
                headers.insert(HeaderName::from_static("x-upstream"), up.url.clone());
                headers.insert(HeaderName::from_static("x-upstream-host"), up.host.clone());
            }
            (StatusCode::OK, headers).into_response()
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
