//! Server-only parts: configuration, database access, state, middleware,
//! machine routes and the router that ties them together.

pub mod assets;
pub mod client_address;
pub mod config;
pub mod config_env;
pub mod db;
pub mod headers;
pub mod json;
pub mod middleware;
pub use crate::error::request_id;
pub mod routes;
pub mod secret_checks;
pub mod startup;
pub mod state;
