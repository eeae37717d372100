//! State shared by every handler and server function.

use super::config::Config;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use sqlx::PgPool;
use std::sync::Arc;

/// The server's state: one reference counted on each clone. Every layer of
/// the router holds a copy and each request clones the layers, so a clone
/// must not copy the fields (a field by field clone cost about 4 % of a
/// page view's server time).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares: the infrastructure every capability may use
/// (pools, configuration, the secret box, the bounds on secret checks, heavy
/// work), and the capabilities' own state in [`Parts`], put there by the
/// composition root (`app::startup::state`).
pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub pool: PgPool,
    pub config: Arc<Config>,
    /// Seals and opens secrets kept in the database or the session (key from `BULKHEAD_SECRET_KEY`).
    pub secrets: super::secret_box::SecretBox,
    /// The bounds on the endpoints that check a secret.
    pub secret_checks: Arc<super::secret_checks::SecretChecks>,
    /// The small pool of heavy reads (audit export and verification), with
    /// its statement timeout.
    pub heavy_pool: PgPool,
    /// Who is running heavy work now: one at a time per user.
    pub heavy_work: Arc<HeavyWork>,
    /// Each capability's own state (the routing table, the held sessions,
    /// the metrics), found by its type.
    pub parts: Parts,
}

/// The capabilities' own state, each part found by its type: infrastructure
/// holds them without naming them, and each capability reads its own.
#[derive(Default)]
pub struct Parts(http::Extensions);

impl Parts {
    /// Adds (or replaces) a part.
    pub fn with<T: Clone + Send + Sync + 'static>(mut self, part: T) -> Parts {
        self.0.insert(part);
        self
    }

    /// The part of type `T`; the composition root provides every part a capability reads.
    pub fn get<T: Send + Sync + 'static>(&self) -> &T {
        self.0.get::<T>().unwrap_or_else(|| panic!("the composition root provides {}", std::any::type_name::<T>()))
    }
}

impl AppState {
    /// A capability's own state (see [`Parts`]).
    pub fn part<T: Send + Sync + 'static>(&self) -> &T {
        self.parts.get::<T>()
    }
}

/// The users running an export or a verification now.
#[derive(Debug, Default)]
pub struct HeavyWork {
    running: std::sync::Mutex<std::collections::HashSet<uuid::Uuid>>,
}

/// Held while a user's heavy work runs; lets the next one start when dropped.
#[derive(Debug)]
pub struct HeavyTurn {
    work: Arc<HeavyWork>,
    user: uuid::Uuid,
}

impl HeavyWork {
    /// The user's turn, or `TooManyRequests` while their previous one runs.
    pub fn start(self: &Arc<Self>, user: uuid::Uuid) -> Result<HeavyTurn, crate::error::AppError> {
        if self.running.lock().unwrap_or_else(|e| e.into_inner()).insert(user) {
            Ok(HeavyTurn { work: self.clone(), user })
        } else {
            Err(crate::error::AppError::TooManyRequests { retry_after_secs: 5 })
        }
    }
}

impl Drop for HeavyTurn {
    fn drop(&mut self) {
        self.work.running.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.user);
    }
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
