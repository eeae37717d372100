//! State shared by every handler and server function.

use super::config::Config;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use sqlx::PgPool;
use std::sync::Arc;

/// The server's state: cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub pool: PgPool,
    pub config: Arc<Config>,
    /// Seals and opens TOTP secrets (key from `BULKHEAD_SECRET_KEY`).
    pub secrets: crate::auth::totp::SecretBox,
    /// The routing check's table and counters.
    pub routing: Arc<crate::routing::Routing>,
    /// The bounds on the endpoints that check a secret.
    pub secret_checks: Arc<super::secret_checks::SecretChecks>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The state, from inside a server function.
pub fn app_state() -> Result<AppState, crate::error::AppError> {
    leptos::prelude::use_context::<AppState>()
        .ok_or_else(|| crate::error::AppError::internal("AppState missing from context"))
}
