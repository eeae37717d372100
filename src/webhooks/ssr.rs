//! Webhook endpoints on the server: added (with a secret shown once),
//! listed with their delivery logs, turned off and on, removed, and sent a
//! test event or a message again.

use super::{AttemptRow, DeliveryRow, EndpointRow, EVENT_TYPES};
use crate::audit::{self, Actor, NewEvent};
use crate::error::{AppError, FieldError};
use crate::server::db::{self, Scope};
use crate::server::state::AppState;
use base64::Engine;
use rand::RngCore;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// The echo value that carries a new endpoint's secret, sealed, to the page that shows it.
pub(super) const FRESH_KEY: &str = "fresh_webhook_secret";
/// Deliveries an endpoint's page lists.
const LOG_LENGTH: i64 = 50;

/// A new endpoint, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEndpoint {
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
}

impl NewEndpoint {
    /// Parses an endpoint's address (http or https, with a host, no
    /// credentials), its description and its event types, with a message per field.
    pub fn parse(url: &str, description: &str, event_types: &[&str]) -> Result<NewEndpoint, AppError> {
        let mut errors = Vec::new();
        let url = url.trim();
        let parsed = match reqwest::Url::parse(url) {
            _ if url.is_empty() => Err("Give the address that receives the events.".to_string()),
            _ if url.len() > 2000 => Err("Use an address of at most 2,000 characters.".to_string()),
            Ok(u) if !matches!(u.scheme(), "http" | "https") => Err("Use an http:// or https:// address.".to_string()),
            Ok(u) if u.host_str().is_none_or(str::is_empty) => Err("The address needs a host.".to_string()),
            Ok(u) if !u.username().is_empty() || u.password().is_some() => {
                Err("Leave credentials out of the address: the signature proves who sends.".to_string())
            }
            Ok(u) => Ok(u.to_string()),
            Err(e) => Err(format!("This is not an address: {e}.")),
        };
        let url = parsed.map_err(|message| errors.push(FieldError { field: "url".into(), message })).ok();
        let description = match crate::domain::text::parse_line(description) {
            _ if description.trim().is_empty() => Some(String::new()),
            Ok(d) if d.chars().count() <= 200 => Some(d),
            Ok(_) => {
                errors.push(FieldError { field: "description".into(), message: "Use at most 200 characters.".into() });
                None
            }
            Err(message) => {
                errors.push(FieldError { field: "description".into(), message });
                None
            }
        };
        let mut types: Vec<String> = Vec::new();
        for t in event_types {
            if !EVENT_TYPES.iter().any(|(known, _)| known == t) {
                errors.push(FieldError { field: "events".into(), message: format!("Unknown event type “{t}”.") });
            } else if !types.iter().any(|k| k == t) {
                types.push(t.to_string());
            }
        }
        if types.is_empty() && errors.iter().all(|e| e.field != "events") {
            errors.push(FieldError { field: "events".into(), message: "Choose at least one event type.".into() });
        }
        match (url, description) {
            (Some(url), Some(description)) if errors.is_empty() => {
                Ok(NewEndpoint { url, description, event_types: types })
            }
            _ => Err(AppError::Invalid(errors)),
        }
    }
}

/// A fresh signing secret: `whsec_` and 32 random bytes in base64, as
/// Standard Webhooks writes them.
pub fn generate_secret() -> String {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(raw))
}

/// Stores a new endpoint (its secret sealed, bound to it) and audits it;
/// answers the secret, to be shown once.
pub async fn create(state: &AppState, actor: &Actor, created_by: Uuid, new: NewEndpoint) -> Result<String, AppError> {
    crate::server::fence::Fence::webhooks(state.config.webhook_allow_networks.clone())
        .check_url(&new.url)
        .map_err(|message| AppError::invalid("url", message))?;
    let id = Uuid::new_v4();
    let secret = generate_secret();
    let sealed = state.secrets.seal(id, secret.as_bytes());
    let mut tx = db::begin(&state.pool, Scope::Platform).await?;
    sqlx::query!(
        "INSERT INTO webhook_endpoints (id, url, description, event_types, secret_sealed, created_by)
         VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        new.url,
        new.description,
        &new.event_types,
        sealed,
        created_by
    )
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        actor,
        NewEvent::new("webhook.created")
            .target(&new.url)
            .after(json!({ "id": id, "url": new.url, "event_types": new.event_types })),
    )
    .await?;
    tx.commit().await?;
    Ok(secret)
}

/// Every endpoint, oldest first, with its counts of messages delivered and pending.
pub async fn list(conn: &mut PgConnection) -> Result<Vec<EndpointRow>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT e.id, e.url, e.description, e.event_types, e.enabled, e.disabled_reason, e.created_at,
                  count(d.delivered_at) AS "delivered!",
                  count(*) FILTER (WHERE d.next_attempt_at IS NOT NULL) AS "pending!"
           FROM webhook_endpoints e LEFT JOIN webhook_deliveries d ON d.endpoint_id = e.id
           GROUP BY e.id ORDER BY e.created_at, e.id"#
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| EndpointRow {
            id: r.id,
            url: r.url,
            description: r.description,
            event_types: r.event_types,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            created_at: r.created_at,
            delivered: r.delivered,
            pending: r.pending,
        })
        .collect())
}

/// An endpoint's latest deliveries, newest first, each with its attempts.
pub async fn deliveries(conn: &mut PgConnection, endpoint: Uuid) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT d.id, d.message_id, m.event_type, d.created_at, d.delivered_at, d.given_up_at, d.next_attempt_at
           FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id
           WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2"#,
        endpoint,
        LOG_LENGTH
    )
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let attempts = sqlx::query!(
        "SELECT delivery_id, at, status, duration_ms, error FROM webhook_attempts
         WHERE delivery_id = ANY($1) ORDER BY id",
        &ids
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| DeliveryRow {
            attempts: attempts
                .iter()
                .filter(|a| a.delivery_id == r.id)
                .map(|a| AttemptRow { at: a.at, status: a.status, duration_ms: a.duration_ms, error: a.error.clone() })
                .collect(),
            id: r.id,
            message_id: r.message_id,
            event_type: r.event_type,
            created_at: r.created_at,
            delivered_at: r.delivered_at,
            given_up_at: r.given_up_at,
            next_attempt_at: r.next_attempt_at,
        })
        .collect())
}

/// What may be done to an endpoint from its page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Enable,
    Disable,
    Delete,
    /// A `webhook.test` message to this endpoint alone.
    SendTest,
    /// One of its deliveries tried again from the start, as a new delivery of the same message.
    SendAgain(i64),
}

impl Change {
    pub fn parse(change: &str, delivery: Option<&str>) -> Result<Change, AppError> {
        match change {
            "enable" => Ok(Change::Enable),
            "disable" => Ok(Change::Disable),
            "delete" => Ok(Change::Delete),
            "test" => Ok(Change::SendTest),
            "again" => delivery
                .and_then(|d| d.trim().parse().ok())
                .map(Change::SendAgain)
                .ok_or_else(|| AppError::invalid(crate::ui::form::FORM_FIELD, "Name the delivery to send again.")),
            _ => Err(AppError::invalid(crate::ui::form::FORM_FIELD, "Unknown change.")),
        }
    }
}

/// Where a change leaves the admin.
pub enum Done {
    Deleted,
    Stayed(&'static str),
}

/// Applies `change` to endpoint `id`, audited in the same transaction.
pub async fn change(pool: &PgPool, actor: &Actor, id: Uuid, change: Change) -> Result<Done, AppError> {
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let url = sqlx::query_scalar!("SELECT url FROM webhook_endpoints WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
    let done = match change {
        Change::Enable | Change::Disable => {
            let on = change == Change::Enable;
            sqlx::query!(
                "UPDATE webhook_endpoints SET enabled = $2,
                        disabled_reason = CASE WHEN $2 THEN NULL ELSE 'turned off by a platform admin' END
                 WHERE id = $1",
                id,
                on
            )
            .execute(&mut *tx)
            .await?;
            let action = if on { "webhook.enabled" } else { "webhook.disabled" };
            audit::record(&mut tx, actor, NewEvent::new(action).target(&url).after(json!({ "id": id, "enabled": on })))
                .await?;
            Done::Stayed(if on { "enabled" } else { "disabled" })
        }
        Change::Delete => {
            sqlx::query!("DELETE FROM webhook_endpoints WHERE id = $1", id).execute(&mut *tx).await?;
            audit::record(&mut tx, actor, NewEvent::new("webhook.deleted").target(&url).before(json!({ "id": id })))
                .await?;
            Done::Deleted
        }
        Change::SendTest => {
            let data = json!({ "endpoint": id, "note": "A test event sent from the console." });
            super::outbox::enqueue_to(&mut tx, id, "webhook.test", data).await?;
            audit::record(&mut tx, actor, NewEvent::new("webhook.test_sent").target(&url).after(json!({ "id": id })))
                .await?;
            Done::Stayed("test")
        }
        Change::SendAgain(delivery) => {
            sqlx::query!(
                "INSERT INTO webhook_deliveries (endpoint_id, message_id)
                 SELECT endpoint_id, message_id FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2
                 RETURNING id",
                delivery,
                id
            )
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(AppError::NotFound)?;
            let event = NewEvent::new("webhook.resent").target(&url).after(json!({ "id": id, "delivery": delivery }));
            audit::record(&mut tx, actor, event).await?;
            Done::Stayed("again")
        }
    };
    tx.commit().await?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_with_a_message_per_field() {
        let e = NewEndpoint::parse(" https://billing.example/hooks ", "", &["quota.warning", "quota.warning"]).unwrap();
        assert_eq!(e.url, "https://billing.example/hooks");
        assert_eq!(e.event_types, ["quota.warning"]);
        let AppError::Invalid(errors) = NewEndpoint::parse("ftp://x", "", &[]).unwrap_err() else { panic!() };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["url", "events"]);
        for bad in ["", "not a url", "https://user:pw@example.com/", "https://"] {
            assert!(NewEndpoint::parse(bad, "", &["quota.warning"]).is_err(), "{bad}");
        }
        assert!(NewEndpoint::parse("https://x.example", "", &["tenant.deleted"]).is_err());
    }

    #[test]
    fn secrets_are_standard_webhooks_secrets() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_ne!(a, b);
        assert!(standardwebhooks::Webhook::new(&a).is_ok(), "{a}");
        assert!(a.starts_with("whsec_"));
    }
}
