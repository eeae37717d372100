//! Usage: what tenants consume, measured against their quotas.

#[cfg(feature = "ssr")]
pub mod ingest;
#[cfg(feature = "ssr")]
pub mod ssr;
