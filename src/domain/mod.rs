//! Domain values shared by every capability. Imports nothing of the app.

pub mod activation;
pub mod amounts;
pub mod api_key;
pub mod environment;
#[cfg(feature = "ssr")]
pub mod host;
pub mod isolation;
pub mod limits;
pub mod namespace;
pub mod slug;
pub mod tenant_status;
pub mod text;
pub mod tier;
pub mod tier_id;
pub mod token_scope;
