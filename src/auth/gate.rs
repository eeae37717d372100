//! The sign-in gate every console request passes: it loads the signed-in
//! user, sends anyone not signed in from a page to the login page (and back
//! afterwards), and opens a page's one read transaction.

use super::session::{self, AuthContext, ClientMeta};
use crate::server::config::Config;
use crate::server::middleware::{error_page, url_encode};
use crate::server::state::AppState;
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use std::net::SocketAddr;
use tower_sessions::Session;

/// Paths served without looking at the session: static files and machine endpoints.
fn is_public(path: &str) -> bool {
    path.starts_with("/pkg/")
        || path == "/favicon.ico"
        || path == "/healthz"
        || path == "/readyz"
        || path.ends_with(".css")
        || path.ends_with(".svg")
        || path.ends_with(".png")
}

fn client_meta(req: &Request, config: &Config) -> ClientMeta {
    let headers = req.headers();
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip());
    ClientMeta {
        ip: peer.map(|peer| {
            crate::server::client_address::client_address(peer, headers, &config.trusted_proxies).to_string()
        }),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
    }
}

/// Loads the signed-in user for every request, sends anyone not signed in
/// from a page to the login page (and back afterwards), and sends a signed-in
/// user away from the login page.
pub async fn auth_gate(State(state): State<AppState>, session: Session, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if is_public(&path) {
        return next.run(req).await;
    }
    let is_page = matches!(*req.method(), Method::GET | Method::HEAD) && !path.starts_with("/api/");
    let meta = client_meta(&req, &state.config);
    req.extensions_mut().insert(meta);
    let check = match session::check(&state, &session).await {
        Ok(check) => check,
        Err(err) => {
            return if is_page {
                error_page(StatusCode::SERVICE_UNAVAILABLE, "The console is unavailable", &err.to_string())
            } else {
                err.into_response()
            };
        }
    };
    if is_page {
        if let Some(echo) = crate::ui::form::ssr::take_for_page(&session, req.uri().query()).await {
            req.extensions_mut().insert(echo);
        }
        let signed_in = check.user.is_some();
        if path == "/login" && signed_in {
            return Redirect::to("/").into_response();
        }
        // The second step's pages check the pending sign-in themselves.
        let public = path == "/login"
            || path.starts_with("/login/")
            || path.starts_with("/invite/")
            || path.starts_with("/mfa-reset/");
        if !public && !signed_in {
            let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let mut url = String::from("/login");
            let mut sep = '?';
            if target != "/" {
                url.push_str(&format!("?next={}", url_encode(target)));
                sep = '&';
            }
            if check.expired {
                url.push(sep);
                url.push_str("expired=1");
            }
            return Redirect::to(&url).into_response();
        }
    }
    req.extensions_mut().insert(AuthContext { user: check.user });
    // A page's resources read through one transaction, ended once the
    // page is rendered (pages render whole before they are sent).
    let page_reads = is_page.then(crate::server::db::PageReads::default);
    if let Some(reads) = &page_reads {
        req.extensions_mut().insert(reads.clone());
    }
    let mut res = next.run(req).await;
    if let Some(reads) = page_reads {
        reads.finish().await;
    }
    if is_page {
        // Pages show personal data: never cache them.
        res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    }
    res
}
