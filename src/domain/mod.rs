//! Domain values shared by every capability. Imports nothing of the app.

pub mod text;
