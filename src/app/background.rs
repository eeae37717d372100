//! The console's background work, in one list: what `serve` starts, and what
//! it stops (or finishes) before the process ends. Tests start the pieces
//! they exercise one by one.

use crate::auth::held::HeldSessions;
use crate::metrics::Metrics;
use crate::routing::Routing;
use crate::server::state::AppState;
use std::sync::Arc;
use std::time::Duration;
use tower_sessions::ExpiredDeletion;
use tower_sessions_sqlx_store::PostgresStore;

/// Starts every background task of a serving console.
pub fn start(state: &AppState) {
    spawn_cleanup(state);
    spawn_sessions(state);
    spawn_checkpoints(state);
    spawn_mail(state);
    crate::activation::drift::spawn_probes(state);
    crate::activation::teardown::spawn(state);
    crate::usage::fold::spawn_fold(state.pool.clone());
    crate::webhooks::send::spawn_sender(state);
    crate::billing::ssr::spawn_closer(state.pool.clone());
    crate::metrics::tenants::spawn_snapshots(
        state.pool.clone(),
        state.part::<Arc<Metrics>>().clone(),
        state.config.metrics_tenant_series,
    );
    spawn_routing(state);
}

/// What must be written before the process ends: the API calls counted since
/// the last flush, and the usage reported since the last fold.
pub async fn stop(state: &AppState) {
    stop_routing(state).await;
    if let Err(err) = crate::usage::fold::fold(&state.pool).await {
        tracing::error!(error = %err, "reported usage could not be folded before stopping; the next start folds it");
    }
}

/// Holds checked sessions in memory, following the database's notices, and
/// writes their idle clocks in the background.
pub fn spawn_sessions(state: &AppState) {
    crate::auth::held::spawn(state.part::<Arc<HeldSessions>>().clone(), &state.pool, state.config.session_idle_timeout);
}

/// Keeps the routing check's table in step with the database and writes its
/// counted calls, in the background, until [`stop_routing`].
pub fn spawn_routing(state: &AppState) {
    crate::routing::spawn(state.part::<Arc<Routing>>().clone(), state.pool.clone(), state.config.flush_interval);
}

/// Writes the calls counted since the last flush, before the process ends.
pub async fn stop_routing(state: &AppState) {
    if let Err(err) = state.part::<Arc<Routing>>().flush(&state.pool).await {
        tracing::error!(error = %err, "API calls counted since the last flush could not be written");
    }
}

/// Sends the outbox's e-mail in the background, when SMTP is configured.
pub fn spawn_mail(state: &AppState) {
    if let Some(mail) = state.config.mail.clone() {
        crate::mail::spawn_sender(state.pool.clone(), mail);
    }
}

/// Signs the audit chain's head while it moves, when a signing key is configured.
pub fn spawn_checkpoints(state: &AppState) {
    if let Some(signer) = state.config.signing_key.clone() {
        crate::audit::checkpoint::spawn_signer(state.pool.clone(), signer, state.config.checkpoint_interval);
    }
}

/// Deletes expired sessions from the session store, and sweeps the sign-in
/// counters, in the background, forever.
pub fn spawn_cleanup(state: &AppState) {
    let store = PostgresStore::new(state.pool.clone());
    tokio::spawn(async move {
        if let Err(err) = store.continuously_delete_expired(Duration::from_secs(300)).await {
            tracing::warn!(error = %err, "session cleanup stopped");
        }
    });
    crate::auth::throttle::spawn_sweep(state.pool.clone(), state.secret_checks.clone(), state.config.login_window);
}
