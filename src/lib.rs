//! Bulkhead: the control plane console of a multi-tenant SaaS platform.

pub mod activation;
pub mod alerts;
pub mod app;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod dashboard;
pub mod domain;
pub mod error;
pub mod keys;
pub mod pages;
pub mod quotas;
pub mod team;
pub mod tenants;
pub mod tiers;
pub mod tokens;
pub mod trail;
pub mod ui;
pub mod usage;
pub mod webhooks;

#[cfg(feature = "ssr")]
pub mod cli;
#[cfg(feature = "ssr")]
pub mod mail;
#[cfg(feature = "ssr")]
pub mod manifests;
#[cfg(feature = "ssr")]
pub mod metrics;
#[cfg(feature = "ssr")]
pub mod routing;
#[cfg(feature = "ssr")]
pub mod server;

/// Browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy routes: the page's own chunk is fetched before it hydrates.
    leptos::mount::hydrate_lazy(app::App);
}
