//! Security headers on every answer: a Content-Security-Policy that lets only
//! Bulkhead's own scripts run, and the headers that stop sniffing, framing and
//! leaking addresses to other sites.

use axum::{
    extract::Request,
    http::{header, HeaderValue},
    middleware::Next,
    response::Response,
};

/// The policy of a page rendered by the console. Scripts run only from the
/// console's origin or carrying this answer's nonce (the hydration script and
/// the serialized data have it; an injected `<script>` cannot guess it), and
/// WebAssembly may be compiled. Everything else comes from the console itself;
/// nothing may frame the console, change its base address or post its forms
/// elsewhere.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; form-action 'self'; \
         base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
    )
}

/// The policy of any other HTML answer (error pages written by the server
/// itself): no script at all.
pub const STATIC_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
     base-uri 'none'; object-src 'none'; frame-ancestors 'none'";

/// Called while a page renders: puts the policy naming this answer's nonce on
/// the response. Leptos gives every server-rendered answer a fresh nonce and
/// writes it on the scripts it renders.
pub fn announce_page_policy() {
    let (Some(nonce), Some(res)) =
        (leptos::nonce::use_nonce(), leptos::prelude::use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&page_policy(&nonce)) {
        res.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// Adds the security headers to every response; an HTML answer that carries
/// no policy of its own (a page sets one with its nonce) gets the script-free one.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    let is_html =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html"));
    if is_html && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(STATIC_POLICY));
    }
    res
}

/// A download: `body` as `content_type`, saved by the browser as `filename`
/// (a name Bulkhead made: slugs, periods and fixed words only).
pub fn attachment(content_type: &str, filename: &str, body: impl Into<axum::body::Body>) -> Response {
    let mut res = Response::new(body.into());
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}
