//! Server-only infrastructure: configuration, database access, the state's
//! shared part, the secret box and the middleware every request passes. It
//! names no capability: the composition root (`app`) ties them together.

pub mod assets;
pub mod client_address;
pub mod config;
pub mod config_env;
pub mod db;
pub mod fence;
pub mod headers;
pub mod json;
pub mod middleware;
pub use crate::error::request_id;
pub mod secret_box;
pub mod secret_checks;
pub mod signing;
pub mod state;
pub mod tenant_runtime;
