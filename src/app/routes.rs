//! Machine endpoints beside the console's pages.

use crate::routing::Routing;
use crate::server::state::AppState;
use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use std::sync::Arc;
use std::time::Duration;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers; 503 when it does not.
pub async fn readyz(State(state): State<AppState>, State(routing): State<Arc<Routing>>) -> impl IntoResponse {
    let check = tokio::time::timeout(Duration::from_secs(3), async {
        let mut conn = state.pool.acquire().await?;
        sqlx::query_scalar!("SELECT 1 AS \"one!\"").fetch_one(&mut *conn).await
    })
    .await;
    // The routing table, where this console keeps it: not ready before its
    // first load (every key and token would be refused), nor once it is
    // older than the limit (changes no longer reach it).
    let table = routing.following().then(|| {
        let age = routing.age();
        let fresh = age.is_some_and(|a| a <= state.config.routing_max_age);
        let json = serde_json::json!({
            "loaded": age.is_some(),
            "age_seconds": age.map(|a| a.as_secs_f64()),
            "max_age_seconds": state.config.routing_max_age.as_secs(),
            "listening": routing.listening(),
        });
        (fresh, json)
    });
    match check {
        Ok(Ok(_)) if table.as_ref().is_some_and(|(fresh, _)| !fresh) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "unavailable", "routing_table": table.map(|(_, j)| j) })),
        ),
        Ok(Ok(_)) => (
            StatusCode::OK,
            Json(match table {
                Some((_, j)) => serde_json::json!({ "status": "ready", "routing_table": j }),
                None => serde_json::json!({ "status": "ready" }),
            }),
        ),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "unavailable", "database": "unreachable" })),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "unavailable", "database": "timeout" })),
        ),
    }
}

/// The public keys that sign the audit trail's checkpoints (and the
/// activation reports), as a JWK Set of Ed25519 keys (RFC 8037); 404 when no
/// key is configured.
pub async fn report_keys(State(state): State<AppState>) -> axum::response::Response {
    match &state.config.signing_key {
        Some(signer) => {
            // Retired keys stay published with their retirement time: what
            // they signed before a rotation still verifies, nothing after.
            let set = crate::audit::checkpoint::jwk_set(&[signer.verifying_key()], &state.config.retired_signing_keys);
            ([(axum::http::header::CACHE_CONTROL, "public, max-age=300")], Json(set)).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Liveness: the process answers. Touches nothing, so it is also the
/// baseline the routing check is measured against.
pub async fn livez() -> axum::http::StatusCode {
    axum::http::StatusCode::NO_CONTENT
}
