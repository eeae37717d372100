//! Counts every HTTP request by route (the route's pattern, never the path
//! itself: `/tenants/{slug}` is one series however many tenants there are),
//! method and status, and times it.

use super::Metrics;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use std::time::Instant;

/// The middleware.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let method = request.method().clone();
    let response = next.run(request).await;
    // Paths no route matched are counted together: a scanner's guesses must not each make a series.
    let route = route.unwrap_or_else(|| "unmatched".to_string());
    let method = match method {
        http::Method::GET | http::Method::POST | http::Method::HEAD => method.as_str().to_string(),
        _ => "other".to_string(),
    };
    let status = response.status().as_u16().to_string();
    metrics.latency.get_or_create(&vec![("route", route.clone())]).observe(started.elapsed().as_secs_f64());
    metrics.requests.get_or_create(&vec![("route", route), ("method", method), ("status", status)]).inc();
    response
}
