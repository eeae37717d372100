//! Request middleware every request passes: the CSRF origin check, form
//! text, server functions' statuses, and the error page shown when the
//! console cannot serve a page. (The sign-in gate is `auth::gate`.)

use super::state::AppState;
use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::{Html, IntoResponse, Response},
};

/// Whether a state-changing request comes from the console's own pages.
///
/// Browsers send `Sec-Fetch-Site` and `Origin` on every POST; a request with
/// neither, or from another origin, is refused. When the console's public
/// address is configured only that origin is accepted; otherwise the origin
/// must name the host the request was sent to.
pub fn origin_allowed(headers: &HeaderMap, public_origin: Option<&str>) -> bool {
    let get = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("same-origin") {
        return true;
    }
    let Some(origin) = get(header::ORIGIN) else { return false };
    match public_origin {
        Some(expected) => origin == expected,
        None => {
            let host = get(header::HOST).unwrap_or("");
            let origin_host = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
            !host.is_empty() && origin_host == Some(host)
        }
    }
}

/// Refuses with 403 every non-GET request that is not from the console's origin.
pub async fn csrf(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    if origin_allowed(req.headers(), state.config.public_origin.as_deref()) {
        next.run(req).await
    } else {
        tracing::warn!(method = %req.method(), path = %req.uri().path(), "cross-origin request refused");
        (StatusCode::FORBIDDEN, "Cross-origin request refused.").into_response()
    }
}

pub use crate::ui::url_encode;

/// A standalone error page, for when the application cannot render its own.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let request_id = super::request_id::current();
    let html = format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Bulkhead</title><link rel="stylesheet" href="{stylesheet}"></head>
<body><main class="auth-page"><section class="auth-card" role="alert"><h1>{title}</h1><p>{message}</p>
<p class="muted">Request id: <code>{request_id}</code></p><p><a href="/">Try again</a></p></section></main></body></html>"#,
        title = html_escape::encode_text(title),
        message = html_escape::encode_text(message),
        request_id = html_escape::encode_text(&request_id),
        stylesheet = super::assets::stylesheet_href(),
    );
    let mut res = (status, Html(html)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    res
}

/// Refuses (400) a form body whose percent-escapes decode to bytes that are
/// not UTF-8 (`name=%FF%FE`): the form decoder would store each as U+FFFD,
/// writing text nobody typed. Raw bytes that are not UTF-8 are refused by
/// the decoder itself.
pub async fn form_text(req: Request, next: Next) -> Response {
    let is_form = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // The body limit is enforced outside: a body over it ends here as an error.
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too large",
            "The form sent is larger than the console takes.",
        );
    };
    if !form_is_text(&bytes) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The form sent holds characters that are not UTF-8 text: nothing was changed.",
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Whether every name and value of an `application/x-www-form-urlencoded`
/// body decodes to UTF-8 text.
pub fn form_is_text(body: &[u8]) -> bool {
    body.split(|b| *b == b'&').flat_map(|pair| pair.split(|b| *b == b'=')).all(|part| {
        let part: Vec<u8> = part.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
        percent_encoding::percent_decode(&part).decode_utf8().is_ok()
    })
}

/// Gives server-function errors their proper HTTP status (the framework
/// answers every error with 500), by reading the error they carry.
pub async fn server_fn_status(req: Request, next: Next) -> Response {
    let is_server_fn = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    if !is_server_fn || res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 1024 * 1024).await.unwrap_or_default();
    if let Ok(err) = serde_json::from_slice::<crate::error::AppError>(&bytes) {
        parts.status = StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn form_bodies_are_text_only_when_every_escape_decodes_to_utf8() {
        assert!(form_is_text(b"name=Caf%C3%A9&slug=cafe+bar&x="));
        assert!(form_is_text(b"%%%garbage=&&&"), "a stray % is left as it is, not decoded");
        assert!(!form_is_text(b"name=%FF%FE%FD"));
        assert!(!form_is_text(b"slug=ok&%C3=1"), "a name too");
        assert!(!form_is_text(b"name=%C3%28"));
    }

    #[test]
    fn same_origin_requests_pass() {
        assert!(origin_allowed(&headers(&[("sec-fetch-site", "same-origin")]), None));
        assert!(origin_allowed(&headers(&[("origin", "http://127.0.0.1:3000"), ("host", "127.0.0.1:3000")]), None));
        assert!(origin_allowed(&headers(&[("origin", "https://c.example.com")]), Some("https://c.example.com")));
    }

    #[test]
    fn cross_origin_or_anonymous_requests_are_refused() {
        assert!(!origin_allowed(&headers(&[]), None));
        assert!(!origin_allowed(&headers(&[("sec-fetch-site", "same-site"), ("host", "a.example.com")]), None));
        assert!(!origin_allowed(&headers(&[("origin", "http://evil.example"), ("host", "127.0.0.1:3000")]), None));
        assert!(!origin_allowed(&headers(&[("origin", "null"), ("host", "127.0.0.1:3000")]), None));
        assert!(!origin_allowed(
            &headers(&[("origin", "https://tenant.c.example.com"), ("host", "c.example.com")]),
            Some("https://c.example.com")
        ));
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(url_encode("/tenants?q=a b&x=1"), "/tenants%3Fq%3Da%20b%26x%3D1");
    }
}
