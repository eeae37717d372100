//! The audit trail as people read it: the trail's page with its filters, an
//! event's page, the chain's verification, and the CSV and JSON exports, each
//! in the reader's own scope. (Appending to the trail is `audit`'s.)

#[cfg(feature = "ssr")]
pub mod export;
mod pages;

pub use pages::{get_audit_event, list_audit_events, verify_audit_chain, AuditEventPage, AuditPage, AuditVerifyPage};
