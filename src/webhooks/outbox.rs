//! Messages for webhooks, written in the transaction of the event they
//! announce: committed together or not at all, so a restart loses none and
//! a rolled-back change announces nothing.

use serde_json::{json, Value};
use sqlx::PgConnection;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

/// The body every message carries: its type, when it happened, its data.
fn body(event_type: &str, data: Value) -> (String, String) {
    let id = format!("msg_{}", Uuid::new_v4().simple());
    let at = OffsetDateTime::now_utc().format(&Rfc3339).expect("now formats as RFC 3339");
    (id, json!({ "type": event_type, "timestamp": at, "data": data }).to_string())
}

/// Queues `event_type` for every enabled endpoint that asked for it (nothing
/// is written when none did).
pub async fn enqueue(conn: &mut PgConnection, event_type: &str, data: Value) -> Result<(), sqlx::Error> {
    let (id, body) = body(event_type, data);
    sqlx::query!(
        "WITH targets AS (SELECT id FROM webhook_endpoints WHERE enabled AND $2 = ANY (event_types)),
              message AS (INSERT INTO webhook_messages (id, event_type, body)
                          SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM targets) RETURNING id)
         INSERT INTO webhook_deliveries (endpoint_id, message_id) SELECT t.id, m.id FROM targets t, message m",
        id,
        event_type,
        body
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Queues `event_type` for one endpoint, whatever it asked for (a test event).
pub async fn enqueue_to(
    conn: &mut PgConnection,
    endpoint: Uuid,
    event_type: &str,
    data: Value,
) -> Result<(), sqlx::Error> {
    let (id, body) = body(event_type, data);
    sqlx::query!(
        "WITH message AS (INSERT INTO webhook_messages (id, event_type, body) VALUES ($1, $2, $3) RETURNING id)
         INSERT INTO webhook_deliveries (endpoint_id, message_id) SELECT $4, id FROM message",
        id,
        event_type,
        body,
        endpoint
    )
    .execute(conn)
    .await?;
    Ok(())
}
