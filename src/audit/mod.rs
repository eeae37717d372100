//! The audit trail: every change and every authentication event, chained by
//! hash, appended here by every capability (its pages and exports, which need
//! a signed-in reader, are `trail`).
//!
//! The database assigns each event's id, time and hashes (trigger
//! `audit_events_chain`), so the application can only append. Which events a
//! reader sees is decided by Row-Level Security alone: every query here runs
//! in the reader's scope and filters only by what the reader asked for.

#[cfg(feature = "ssr")]
pub mod chain;
#[cfg(feature = "ssr")]
pub mod checkpoint;
pub mod diff;
#[cfg(feature = "ssr")]
pub mod ssr;

#[cfg(feature = "ssr")]
pub use chain::verify_chain;
#[cfg(feature = "ssr")]
pub use ssr::{recent, record, Actor, ChainReport, NewEvent};

use crate::error::{AppError, FieldError};
use crate::ui::url_encode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

/// Events per page of the trail.
pub const PAGE_SIZE: i64 = 50;

/// Every action Bulkhead records, with what it means. The filter offers these.
pub const ACTIONS: &[(&str, &str)] = &[
    ("auth.login.succeeded", "Signed in"),
    ("auth.login.failed", "Sign-in failed"),
    ("auth.login.password_accepted", "Password accepted, second factor next"),
    ("auth.mfa.failed", "Second factor refused"),
    ("auth.mfa.throttled", "Second factor throttled"),
    ("auth.mfa.locked", "Second factor locked"),
    ("auth.mfa.enrolled", "Two-factor authentication turned on"),
    ("auth.mfa.enrolment_failed", "Two-factor enrolment code refused"),
    ("auth.login.throttled", "Sign-ins refused while waiting"),
    ("auth.login.refused", "Sign-in refused: the tenant is suspended or deleted"),
    ("auth.lockout", "Sign-in paused after failures"),
    ("auth.account_locked", "Account locked until unlocked"),
    ("user.unlocked", "Account unlocked"),
    ("tenant.exported", "Tenant configuration exported"),
    ("auth.logout", "Signed out"),
    ("user.created", "User created"),
    ("user.disabled", "User disabled"),
    ("user.mfa_reset", "Two-factor reset link made"),
    ("auth.mfa.replacement_started", "New second factor being set up"),
    ("auth.mfa.reset_link_opened", "Two-factor reset link opened with the password"),
    ("auth.mfa.reset_link_refused", "Two-factor reset link refused"),
    ("auth.mfa.reset_completed", "Second factor replaced through a reset link"),
    ("user.password_changed", "Password changed"),
    ("user.recovery_codes_regenerated", "Recovery codes regenerated"),
    ("user.reauthentication_failed", "Password or code refused on the account page"),
    ("tenant.created", "Tenant created"),
    ("tenant.seeded", "Tenants seeded"),
    ("tenant.tier_changed", "Tier changed"),
    ("tenant.details_changed", "Name, region, environment or compliance changed"),
    ("tenant.isolation_changed", "Isolation level changed"),
    ("tenant.namespace_rendered", "Namespace rendered and checked"),
    ("activation.requested", "Activation checklist opened"),
    ("activation.configured", "Activation configuration saved"),
    ("activation.step_passed", "Activation step passed"),
    ("activation.step_failed", "Activation step failed"),
    ("activation.rolled_back", "Activation rolled back"),
    ("activation.torn_down", "Dedicated instance torn down"),
    ("activation.teardown_pending", "Teardown waiting"),
    ("activation.report_issued", "Isolation integrity report signed"),
    ("activation.report_downloaded", "Isolation integrity report downloaded"),
    ("activation.drift_detected", "A dedicated tenant's isolation probe failed"),
    ("activation.drift_cleared", "A dedicated tenant's isolation probes pass again"),
    ("tenant.suspended", "Tenant suspended"),
    ("tenant.reactivated", "Tenant reactivated"),
    ("tenant.deletion_protection", "Deletion protection changed"),
    ("tenant.deleted", "Tenant deleted"),
    ("tenant.quota_override_set", "Quota override set"),
    ("tenant.quota_override_removed", "Quota override removed"),
    ("tenant.admin_invited", "Tenant admin invited"),
    ("tenant.invitation_revoked", "Invitation revoked"),
    ("tenant.invitation_refused", "Invitation refused"),
    ("tenant.admin_joined", "Tenant admin joined"),
    ("tenant.throttled", "Tenant throttled (month spent)"),
    ("tenant.unthrottled", "Tenant no longer throttled"),
    ("tier.updated", "Tier updated"),
    ("token.created", "API token created"),
    ("token.revoked", "API token revoked"),
    ("key.created", "Tenant API key created"),
    ("key.changed", "Tenant API key's limits changed"),
    ("key.revoked", "Tenant API key revoked"),
    ("tenant.anonymous_calls_changed", "Calls without a key: mode changed"),
    ("quota.warning", "Usage passed 80 % of a quota"),
    ("quota.exceeded", "Usage reached 100 % of a quota"),
    ("quota.recovered", "Usage fell back under 75 % of a quota"),
    ("billing.exported", "Billing figures exported"),
    ("billing.period_closed", "Billing month closed"),
    ("billing.period_adjusted", "Billing month adjusted"),
    ("webhook.created", "Webhook endpoint added"),
    ("webhook.enabled", "Webhook endpoint turned on"),
    ("webhook.disabled", "Webhook endpoint turned off"),
    ("webhook.deleted", "Webhook endpoint removed"),
    ("webhook.test_sent", "Webhook test event sent"),
    ("webhook.resent", "Webhook message sent again"),
    ("audit.verified", "Audit chain verified"),
    ("audit.exported", "Audit events exported"),
];

/// One line of the trail, as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSummary {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub actor_email: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub tenant_id: Option<Uuid>,
}

/// One line of the audit page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub actor_email: Option<String>,
    pub actor_role: Option<String>,
    pub ip: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub tenant_slug: Option<String>,
}

impl From<EventDetail> for EventRow {
    fn from(e: EventDetail) -> Self {
        EventRow {
            id: e.id,
            occurred_at: e.occurred_at,
            actor_email: e.actor_email,
            actor_role: e.actor_role,
            ip: e.ip,
            action: e.action,
            target: e.target,
            tenant_slug: e.tenant_slug,
        }
    }
}

/// One page of the trail, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    pub events: Vec<EventRow>,
    /// The cursor of the next (older) page: the last event's id.
    pub next: Option<i64>,
}

/// One event in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDetail {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub actor_user_id: Option<Uuid>,
    pub actor_email: Option<String>,
    pub actor_role: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub tenant_id: Option<Uuid>,
    pub tenant_slug: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub prev_hash: String,
    pub hash: String,
}

/// The outcome of a verification run, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub checked: i64,
    pub first_broken: Option<i64>,
    pub millis: u64,
    /// The `audit.verified` event that records this run.
    #[serde(default)]
    pub event: i64,
}

/// What a reader asked the trail for: the filters and the page, parsed from
/// the address. The same value drives the page, its links and the export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// A tenant's slug.
    pub tenant: Option<String>,
    /// The actor's e-mail address (or the command line's name), exactly.
    pub actor: Option<String>,
    pub action: Option<String>,
    /// First day of the period (UTC), included.
    pub from: Option<Date>,
    /// Last day of the period (UTC), included.
    pub to: Option<Date>,
    /// Page cursor: events older than this id.
    pub before: Option<i64>,
}

/// The filters' names in the address, in the order they are written back.
pub const FILTERS: [&str; 5] = ["tenant", "actor", "action", "from", "to"];

const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

use crate::domain::text::non_empty;

impl AuditQuery {
    /// Parses the address' values; every bad value is reported against its field.
    pub fn parse(
        tenant: Option<String>,
        actor: Option<String>,
        action: Option<String>,
        from: Option<String>,
        to: Option<String>,
        before: Option<String>,
    ) -> Result<AuditQuery, AppError> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: &str| {
            errors.push(FieldError { field: field.to_string(), message: message.to_string() })
        };
        let tenant = non_empty(tenant).map(|t| t.to_lowercase());
        if let Some(t) = &tenant {
            if crate::domain::slug::Slug::parse(t).is_err() {
                fail("tenant", "A tenant slug: lowercase letters, digits and hyphens.");
            }
        }
        let actor = non_empty(actor).map(|a| a.to_lowercase());
        if actor.as_ref().is_some_and(|a| a.chars().count() > 254) {
            fail("actor", "At most 254 characters.");
        }
        let action = non_empty(action);
        if let Some(a) = &action {
            if a.len() > 64 || !a.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_') {
                fail("action", "Unknown action.");
            }
        }
        let mut date = |field: &str, v: Option<String>| match non_empty(v) {
            None => None,
            Some(s) => match Date::parse(&s, DATE_FORMAT) {
                Ok(d) => Some(d),
                Err(_) => {
                    fail(field, "A date as YYYY-MM-DD.");
                    None
                }
            },
        };
        let from = date("from", from);
        let to = date("to", to);
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                fail("to", "The period ends before it starts.");
            }
        }
        let before = match non_empty(before) {
            None => None,
            Some(c) => match c.parse::<i64>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    fail("before", "Invalid page cursor.");
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok(AuditQuery { tenant, actor, action, from, to, before })
        } else {
            Err(AppError::Invalid(errors))
        }
    }

    /// Whether any filter (not the page) is set.
    pub fn is_filtered(&self) -> bool {
        self.tenant.is_some()
            || self.actor.is_some()
            || self.action.is_some()
            || self.from.is_some()
            || self.to.is_some()
    }

    /// The filters as `name=value` pairs, in address order.
    pub fn filter_pairs(&self) -> Vec<(&'static str, String)> {
        let date = |d: &Option<Date>| d.map(|d| d.format(DATE_FORMAT).unwrap_or_default());
        [self.tenant.clone(), self.actor.clone(), self.action.clone(), date(&self.from), date(&self.to)]
            .into_iter()
            .zip(FILTERS)
            .filter_map(|(v, k)| v.map(|v| (k, v)))
            .collect()
    }

    /// The query string of these filters, with a page cursor when given.
    pub fn query_string(&self, before: Option<i64>) -> String {
        let mut parts: Vec<String> =
            self.filter_pairs().iter().map(|(k, v)| format!("{k}={}", url_encode(v))).collect();
        if let Some(b) = before {
            parts.push(format!("before={b}"));
        }
        parts.join("&")
    }
}

/// What an action means, for people.
pub fn action_label(action: &str) -> Option<&'static str> {
    ACTIONS.iter().find(|(a, _)| *a == action).map(|(_, l)| *l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn filters_parse_and_write_back_the_same_address() {
        let q = AuditQuery::parse(
            s(" Acme "),
            s("Ops@Example.com"),
            s("tenant.created"),
            s("2026-01-01"),
            s("2026-01-31"),
            None,
        )
        .unwrap();
        assert_eq!(q.tenant.as_deref(), Some("acme"));
        assert_eq!(q.actor.as_deref(), Some("ops@example.com"));
        assert!(q.is_filtered());
        assert_eq!(
            q.query_string(Some(42)),
            "tenant=acme&actor=ops%40example.com&action=tenant.created&from=2026-01-01&to=2026-01-31&before=42"
        );
        let again = AuditQuery::parse(
            q.tenant.clone(),
            q.actor.clone(),
            q.action.clone(),
            s("2026-01-01"),
            s("2026-01-31"),
            s("42"),
        )
        .unwrap();
        assert_eq!(again.before, Some(42));
        assert_eq!(AuditQuery::parse(None, s(""), s("  "), None, None, None).unwrap(), AuditQuery::default());
    }

    #[test]
    fn every_bad_filter_is_reported_against_its_field() {
        let err = AuditQuery::parse(s("Not A Slug!"), None, s("DROP TABLE"), s("2026-13-01"), s("yesterday"), s("-3"))
            .unwrap_err();
        for field in ["tenant", "action", "from", "to", "before"] {
            assert!(err.field_message(field).is_some(), "{field}: {err:?}");
        }
        let err = AuditQuery::parse(None, None, None, s("2026-02-01"), s("2026-01-01"), None).unwrap_err();
        assert_eq!(err.field_message("to").as_deref(), Some("The period ends before it starts."));
    }

    #[test]
    fn every_action_recorded_in_the_code_is_in_the_catalogue() {
        fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for part in text.split("NewEvent::new(\"").skip(1) {
                        found.push(part.split('"').next().unwrap().to_string());
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
        assert!(found.len() > 10, "{found:?}");
        for action in found {
            assert!(action_label(&action).is_some(), "{action} is recorded but missing from ACTIONS");
        }
    }
}
