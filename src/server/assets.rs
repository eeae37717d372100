//! The console's static files under `/pkg`: the wasm, its JavaScript glue and
//! the stylesheet, as cargo-leptos built them.
//!
//! A release build (`cargo leptos build --release --precompress`) names each
//! file after its content (`hash.txt`, written beside the binary, lists the
//! hashes) and writes a brotli and a gzip copy beside it. Such names never
//! change content, so browsers keep them for a year without asking again; the
//! compressed copy is sent to browsers that accept it. A build without hashed
//! names is revalidated on every use instead, so a new build is never missed.

use axum::{
    extract::Request,
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::Response,
    Router,
};
use leptos::prelude::LeptosOptions;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tower_http::services::ServeDir;

/// The stylesheet's address, once the options are known.
static STYLESHEET_HREF: OnceLock<String> = OnceLock::new();

/// The hash file cargo-leptos writes beside the binary it builds.
fn hash_file(options: &LeptosOptions) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join(options.hash_file.as_ref()))
}

/// Turns hashed file names on when the build wrote them (unless
/// `LEPTOS_HASH_FILES` says otherwise), so the binary serves what was built
/// beside it without further configuration; records the stylesheet's address.
pub fn adopt_build(options: &mut LeptosOptions) {
    if std::env::var_os("LEPTOS_HASH_FILES").is_none() {
        options.hash_files = hash_file(options).is_some_and(|p| p.exists());
    }
    let css = match hashes(options).and_then(|h| h.get("css").cloned()) {
        Some(hash) => format!("{}.{hash}.css", options.output_name),
        None => format!("{}.css", options.output_name),
    };
    let _ = STYLESHEET_HREF.set(format!("/{}/{css}", options.site_pkg_dir));
}

/// The hashes of the built files (`js`, `wasm`, `css`) when names are hashed.
fn hashes(options: &LeptosOptions) -> Option<std::collections::HashMap<String, String>> {
    if !options.hash_files {
        return None;
    }
    let text = std::fs::read_to_string(hash_file(options)?).ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
    )
}

/// Where the stylesheet is served (hashed in a release build).
pub fn stylesheet_href() -> &'static str {
    STYLESHEET_HREF.get().map(String::as_str).unwrap_or("/pkg/bulkhead.css")
}

/// Serves `/pkg` from the site root, compressed where a compressed copy was
/// built, with the cache lifetime its names allow.
pub fn pkg_routes<S: Clone + Send + Sync + 'static>(options: &LeptosOptions) -> Router<S> {
    let dir = Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let cache = if options.hash_files { "public, max-age=31536000, immutable" } else { "no-cache" };
    let service = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    Router::new()
        .fallback_service(service)
        .layer(axum::middleware::from_fn(move |req: Request, next: Next| cache_found(req, next, cache)))
}

async fn cache_found(req: Request, next: Next, cache: &'static str) -> Response {
    let mut res = next.run(req).await;
    let value =
        if res.status() == StatusCode::OK || res.status() == StatusCode::NOT_MODIFIED { cache } else { "no-store" };
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    // The same address answers brotli, gzip or plain by what the client accepts.
    res.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    res
}
