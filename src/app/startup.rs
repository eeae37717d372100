//! Builds the router and serves it.

use super::routes;
use super::{feature_routes, machine_routes, shell, App};
use crate::auth::held::HeldSessions;
use crate::auth::session_store::HeldStore;
use crate::metrics::Metrics;
use crate::routing::Routing;
use crate::server::config::Config;
use crate::server::headers;
use crate::server::middleware;
use crate::server::request_id;
use crate::server::state::AppState;
use axum::{
    body::Body,
    extract::{Request, State},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

/// Leptos' options from the environment (as cargo-leptos sets it), with this
/// crate's defaults when it runs on its own.
pub fn leptos_options() -> LeptosOptions {
    if std::env::var_os("LEPTOS_OUTPUT_NAME").is_none() {
        std::env::set_var("LEPTOS_OUTPUT_NAME", "bulkhead");
    }
    let mut options = get_configuration(None).expect("Leptos configuration from the environment").leptos_options;
    crate::server::assets::adopt_build(&mut options);
    options
}

/// Server functions are registered one by one by `leptos_routes`; this answers
/// for any other path under `/api/`.
async fn server_fn_handler(State(state): State<AppState>, req: Request<Body>) -> Response {
    leptos_axum::handle_server_fns_with_context(
        {
            let state = state.clone();
            move || provide_context(state.clone())
        },
        req,
    )
    .await
    .into_response()
}

/// The console's pages, walked once per process.
///
/// Walking the page tree sets a process-wide switch in `leptos_server` that
/// parks every resource first polled meanwhile, for good
/// (leptos-rs/leptos#4773): a second walk while pages are being served (a
/// second router in the same process) would stall those pages forever.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// The whole application: pages, server functions, machine routes and middleware.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let routes = route_list();
    let store = HeldStore::new(PostgresStore::new(state.pool.clone()), state.part::<Arc<HeldSessions>>().clone());
    let sessions = SessionManagerLayer::new(store)
        .with_name(config.session_cookie_name())
        .with_secure(config.secure_cookies())
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(config.session_absolute_timeout.as_secs() as i64)));

    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/api/{*fn_name}", get(server_fn_handler).post(server_fn_handler))
        .merge(feature_routes())
        .nest(
            &format!("/{}", state.leptos_options.site_pkg_dir),
            crate::server::assets::pkg_routes(&state.leptos_options),
        )
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let state = state.clone();
                move || provide_context(state.clone())
            },
            {
                let options = state.leptos_options.clone();
                move || shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(middleware::form_text))
        .layer(axum::middleware::from_fn(middleware::server_fn_status))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::gate::auth_gate))
        .layer(sessions)
        .layer(axum::middleware::from_fn_with_state(state.secret_checks.clone(), crate::server::secret_checks::guard))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::csrf))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(axum::middleware::from_fn(request_id::scope))
        .layer(axum::middleware::from_fn(headers::security_headers))
        // Browsers that met the console over HTTPS keep to it (production only:
        // development serves plain HTTP on loopback).
        .layer(tower::util::option_layer(config.secure_cookies().then(|| {
            SetResponseHeaderLayer::if_not_present(
                http::header::STRICT_TRANSPORT_SECURITY,
                http::HeaderValue::from_static("max-age=31536000; includeSubDomains"),
            )
        })))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            let path = loggable_path(req.uri().path());
            tracing::info_span!("request", method = %req.method(), path = %path, request_id = %id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        // Every console request counted and timed, by its route's pattern. Not the
        // machine endpoints merged below: the routing check, in the path of every
        // proxied request, is counted by its own atomics (routing decisions).
        .layer(axum::middleware::from_fn_with_state(state.part::<Arc<Metrics>>().clone(), crate::metrics::http::track))
        // In the path of every proxied request: no session, no page middleware.
        .merge(
            machine_routes(
                state.part::<Arc<Routing>>().clone(),
                state.pool.clone(),
                state.part::<Arc<Metrics>>().clone(),
                (state.heavy_pool.clone(), state.heavy_work.clone()),
            )
            .route("/livez", get(routes::livez))
            .route("/.well-known/bulkhead/report-keys", get(routes::report_keys)),
        )
        .with_state(state)
}

/// A request's path as the log may keep it: an invitation's or a reset
/// link's path carries its token (whoever reads the log could use it).
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    for (prefix, redacted) in [("/invite/", "/invite/[redacted]"), ("/mfa-reset/", "/mfa-reset/[redacted]")] {
        if path.strip_prefix(prefix).is_some_and(|rest| !rest.is_empty()) {
            return std::borrow::Cow::Borrowed(redacted);
        }
    }
    std::borrow::Cow::Borrowed(path)
}

/// Builds the state for `pool` and `config`.
pub fn state(pool: PgPool, config: Config, leptos_options: LeptosOptions) -> AppState {
    let secrets = config.secret_box();
    let routing = Arc::new(
        Routing::new(config.base_domain.clone(), config.shared_upstream.clone())
            .with_edge(config.trusted_proxies.clone(), config.anonymous_rate, config.anonymous_burst)
            .with_shared_rates(config.redis_url.as_deref()),
    );
    // One core is left to the pages: with every core hashing, a flood of
    // sign-ins took a page's p95 from 2 to 14 ms on two cores; with one, to 6
    // (benches/signin_load.rs, docs/BENCHMARKS.md).
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let slots = cores.saturating_sub(1).max(1);
    let secret_checks = Arc::new(crate::server::secret_checks::SecretChecks::new(
        config.secret_checks_per_second,
        config.secret_checks_burst,
        config.hashing_slots.unwrap_or(slots),
        config.hashing_queue,
        config.trusted_proxies.clone(),
    ));
    let heavy_pool = crate::server::db::heavy_pool(&pool, config.heavy_connections, config.heavy_statement_timeout);
    // Each capability's own state: the routing table, the sessions held in
    // memory, the metrics.
    let parts = crate::server::state::Parts::default()
        .with(routing)
        .with(Arc::<HeldSessions>::default())
        .with(Arc::<Metrics>::default());
    AppState::new(crate::server::state::Shared {
        leptos_options,
        pool,
        config: Arc::new(config),
        secrets,
        secret_checks,
        heavy_pool,
        heavy_work: Arc::default(),
        parts,
    })
}

/// Serves `router` on `listener` until Ctrl-C or SIGTERM.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Each write goes out at once (no Nagle delay waiting for the client's
    // acknowledgement): streamed exports and small answers alike.
    let listener = listener.tap_io(|stream| {
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "TCP_NODELAY could not be set");
        }
    });
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn invitation_tokens_never_reach_the_log() {
        let token = "4a92e91778f176275a3f6a0b15d1735007b8620256e70aa1b2c3d4e5f60718293";
        assert_eq!(loggable_path(&format!("/invite/{token}")), "/invite/[redacted]");
        assert_eq!(loggable_path("/tenants/acme"), "/tenants/acme");
        assert_eq!(loggable_path("/invite/"), "/invite/");
        assert_eq!(loggable_path(&format!("/mfa-reset/{token}")), "/mfa-reset/[redacted]");
    }
}
