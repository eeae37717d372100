//! `GET /route/check`: which tenant a proxied request is for, and whether it
//! may pass. The proxy presents its own token (scope `routing`) in
//! `Authorization` on the check only, or in `X-Bulkhead-Token` when it cannot
//! replace the client's header there; the client's headers reach the tenant's
//! API untouched.

use super::host;
use super::meter::Admission;
use super::table::{Route, Table, Upstream};
use super::Routing;
use crate::domain::tenant_status::TenantStatus;
use crate::domain::token_scope::TokenScope;
use axum::extract::{Query, Request, State};
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

/// Decides for one request against `table` (the routing table as it stands),
/// counting it when it passes.
pub fn decide<'t>(routing: &Routing, table: &'t Table, headers: &HeaderMap, now: OffsetDateTime) -> Outcome<'t> {
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
    let route = match identify(table, routing.base_domain.as_deref(), headers) {
        Ok(route) => route,
        Err(status) => return refused(status),
    };
    if matches!(route.status, TenantStatus::Suspended | TenantStatus::Deleted) {
        return refused(StatusCode::FORBIDDEN);
    }
    // The bucket first: a call refused for its speed does not spend the month.
    if let Err(wait) = routing.rates.take(route.id, route.rate, route.burst) {
        let retry_after_secs = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        return Outcome::Refused { status: StatusCode::TOO_MANY_REQUESTS, retry_after_secs };
    }
    match routing.meter.admit(route.id, route.monthly_calls, now) {
        Admission::Spent { retry_after_secs } => {
            Outcome::Refused { status: StatusCode::TOO_MANY_REQUESTS, retry_after_secs: Some(retry_after_secs) }
        }
        Admission::Allowed { .. } => Outcome::Allowed(route, route.upstream.as_ref().or(table.shared.as_ref())),
    }
}

/// The tenant a request names: by its host (the tenant's own domain, or
/// `<slug>.<base domain>`), else by `X-Tenant-ID` (an id or a slug).
fn identify<'t>(table: &'t Table, base: Option<&str>, headers: &HeaderMap) -> Result<&'t Route, StatusCode> {
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
            return Ok(route);
        }
        if let Some(label) = base.and_then(|b| host::subdomain(&host, b)) {
            return table.by_slug(label).map(|r| &**r).ok_or(StatusCode::NOT_FOUND);
        }
    }
    let tenant = single(headers, "x-tenant-id").map_err(|_| bad)?.map(str::trim).filter(|t| !t.is_empty());
    let Some(tenant) = tenant else { return Err(StatusCode::NOT_FOUND) };
    if let Ok(id) = Uuid::parse_str(tenant) {
        return table.by_id(&id).map(|r| &**r).ok_or(StatusCode::NOT_FOUND);
    }
    let slug = crate::domain::slug::Slug::parse(tenant).map_err(|_| bad)?;
    table.by_slug(slug.as_str()).map(|r| &**r).ok_or(StatusCode::NOT_FOUND)
}

/// The handler. It takes the routing memory alone as its state (one
/// reference count per call, where the console's whole state is several),
/// and reads the request's headers where they lie rather than a copy.
pub async fn handler(State(routing): State<Arc<Routing>>, request: Request) -> Response {
    let nginx = Query::<CheckQuery>::try_from_uri(request.uri()).is_ok_and(|q| q.proxy.as_deref() == Some("nginx"));
    let table = routing.table();
    let outcome = decide(&routing, &table, request.headers(), OffsetDateTime::now_utc());
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
