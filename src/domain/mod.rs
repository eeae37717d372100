//! Domain values shared by every capability. Imports nothing of the app.

pub mod amounts;
pub mod api_key;
pub mod environment;
pub mod isolation;
pub mod limits;
pub mod slug;
pub mod tenant_status;
pub mod text;
pub mod tier_id;
pub mod token_scope;
