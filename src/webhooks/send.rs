//! Delivers the outbox's webhook messages in the background: each attempt
//! signed anew (Standard Webhooks 1.0: `webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`), a 2xx
//! ends the delivery, 410 Gone turns the endpoint off, anything else is tried
//! again after the next delay of the schedule, then given up.
//!
//! Several consoles may send from one database: each takes due deliveries
//! with `FOR UPDATE SKIP LOCKED` and leases them for two minutes, so a
//! console that stops mid-send leaves them to the others.

use super::fence::Fence;
use crate::audit::{self, Actor, NewEvent};
use crate::auth::totp::SecretBox;
use crate::server::db::{self, Scope};
use serde_json::json;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Deliveries taken at once.
const BATCH: i64 = 32;
/// How long an endpoint has to answer.
const TIMEOUT: Duration = Duration::from_secs(15);

/// One due delivery, as taken.
struct Due {
    id: i64,
    attempts: i32,
    endpoint_id: Uuid,
    url: String,
    secret_sealed: Vec<u8>,
    message_id: String,
    body: String,
}

/// What an attempt came to.
#[derive(Debug)]
struct Outcome {
    status: Option<u16>,
    duration_ms: i32,
    error: Option<String>,
}

/// The headers of one attempt: the message id, now, and the signature of both with the body.
pub fn signed_headers(
    secret: &str,
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<[(String, String); 3], String> {
    let webhook =
        standardwebhooks::Webhook::new(secret).map_err(|e| format!("the endpoint's secret is unusable: {e}"))?;
    let signature =
        webhook.sign(message_id, timestamp, body).map_err(|e| format!("the message could not be signed: {e}"))?;
    Ok([
        (standardwebhooks::HEADER_WEBHOOK_ID.to_string(), message_id.to_string()),
        (standardwebhooks::HEADER_WEBHOOK_TIMESTAMP.to_string(), timestamp.to_string()),
        (standardwebhooks::HEADER_WEBHOOK_SIGNATURE.to_string(), signature),
    ])
}

/// Sends due deliveries every second, forever, to the addresses the fence
/// permits (names resolved through it, so each connection is checked).
pub fn spawn_sender(state: &crate::server::state::AppState) {
    let (pool, secrets, schedule) = (state.pool.clone(), state.secrets.clone(), state.config.webhook_retry.clone());
    let fence = Fence::new(state.config.webhook_allow_networks.clone());
    tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(std::sync::Arc::new(fence.clone()))
            .user_agent("Bulkhead-Webhooks/1")
            .build()
        {
            Ok(c) => c,
            Err(err) => {
                tracing::error!(error = %err, "webhooks cannot be sent: no HTTP client");
                return;
            }
        };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            loop {
                match send_due(&pool, &secrets, (&client, &fence), &schedule).await {
                    Ok(n) if n as i64 == BATCH => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "webhook deliveries could not be read or noted; trying again");
                        break;
                    }
                }
            }
        }
    });
}

/// Takes the due deliveries, sends them at once, notes each outcome; how many it took.
async fn send_due(
    pool: &PgPool,
    secrets: &SecretBox,
    client: (&reqwest::Client, &Fence),
    schedule: &[Duration],
) -> Result<usize, sqlx::Error> {
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let mut due = sqlx::query_as!(
        Due,
        r#"WITH taken AS (
             SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
             WHERE d.next_attempt_at <= now() AND e.enabled
             ORDER BY d.next_attempt_at, d.id LIMIT $1 FOR UPDATE OF d SKIP LOCKED)
           UPDATE webhook_deliveries d SET next_attempt_at = now() + interval '2 minutes'
           FROM taken, webhook_endpoints e, webhook_messages m
           WHERE d.id = taken.id AND e.id = d.endpoint_id AND m.id = d.message_id
           RETURNING d.id, d.attempts, d.endpoint_id, e.url, e.secret_sealed, d.message_id, m.body"#,
        BATCH
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    due.sort_by_key(|d| d.id);
    let taken = due.len();
    // Endpoints are sent to at once; one endpoint's messages one after the
    // other, oldest first (a retried message may still arrive after a newer one:
    // each body carries its time).
    let mut by_endpoint: Vec<Vec<Due>> = Vec::new();
    for d in due {
        match by_endpoint.iter_mut().find(|g| g[0].endpoint_id == d.endpoint_id) {
            Some(g) => g.push(d),
            None => by_endpoint.push(vec![d]),
        }
    }
    let sends = by_endpoint.into_iter().map(|group| async move {
        for d in group {
            let outcome = attempt(client, secrets, &d).await;
            note(pool, &d, &outcome, schedule).await?;
        }
        Ok::<_, sqlx::Error>(())
    });
    for sent in futures_util::future::join_all(sends).await {
        sent?;
    }
    Ok(taken)
}

async fn attempt((client, fence): (&reqwest::Client, &Fence), secrets: &SecretBox, d: &Due) -> Outcome {
    let started = Instant::now();
    // An address written as a number never reaches the resolver.
    if let Err(error) = fence.check_url(&d.url) {
        return Outcome { status: None, duration_ms: 0, error: Some(error) };
    }
    let elapsed = |started: Instant| started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    let secret = match secrets.open(d.endpoint_id, &d.secret_sealed).ok().and_then(|s| String::from_utf8(s).ok()) {
        Some(s) => s,
        None => {
            return Outcome {
                status: None,
                duration_ms: 0,
                error: Some("the secret cannot be opened with this console's key".into()),
            }
        }
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let headers = match signed_headers(&secret, &d.message_id, now, d.body.as_bytes()) {
        Ok(h) => h,
        Err(error) => return Outcome { status: None, duration_ms: 0, error: Some(error) },
    };
    let mut request = client.post(&d.url).header(http::header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    match request.body(d.body.clone()).send().await {
        Ok(response) => {
            let status = response.status();
            // The answer's body is read (and dropped) so the connection can be reused.
            let _ = response.bytes().await;
            let error = (!status.is_success()).then(|| format!("answered {status}"));
            Outcome { status: Some(status.as_u16()), duration_ms: elapsed(started), error }
        }
        Err(err) => {
            let error = if err.is_timeout() {
                format!("no answer within {} s", TIMEOUT.as_secs())
            } else {
                // The cause is what helps (the fence's refusal, a refused connection).
                let mut text = err.to_string();
                let mut cause = std::error::Error::source(&err);
                while let Some(c) = cause {
                    text.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                text
            };
            Outcome { status: None, duration_ms: elapsed(started), error: Some(error) }
        }
    }
}

/// Notes an attempt: delivered, endpoint gone, tried again later, or given up.
async fn note(pool: &PgPool, d: &Due, outcome: &Outcome, schedule: &[Duration]) -> Result<(), sqlx::Error> {
    let mut tx = db::begin(pool, Scope::Platform).await?;
    sqlx::query!(
        "INSERT INTO webhook_attempts (delivery_id, status, duration_ms, error) VALUES ($1, $2, $3, $4)",
        d.id,
        outcome.status.map(i32::from),
        outcome.duration_ms,
        outcome.error
    )
    .execute(&mut *tx)
    .await?;
    let attempts = d.attempts + 1;
    match outcome.status {
        Some(s) if (200..300).contains(&s) => {
            sqlx::query!(
                "UPDATE webhook_deliveries SET attempts = $2, delivered_at = now(), next_attempt_at = NULL WHERE id = $1",
                d.id,
                attempts
            )
            .execute(&mut *tx)
            .await?;
        }
        Some(410) => {
            sqlx::query!(
                "UPDATE webhook_deliveries SET attempts = $2, given_up_at = now(), next_attempt_at = NULL WHERE id = $1",
                d.id,
                attempts
            )
            .execute(&mut *tx)
            .await?;
            let turned_off = sqlx::query!(
                "UPDATE webhook_endpoints SET enabled = false,
                        disabled_reason = 'answered 410 Gone on ' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC'
                 WHERE id = $1 AND enabled",
                d.endpoint_id
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if turned_off > 0 {
                let event = NewEvent::new("webhook.disabled")
                    .target(&d.url)
                    .after(json!({ "id": d.endpoint_id, "enabled": false, "reason": "410 Gone" }));
                audit::record(&mut tx, &sender_actor(), event).await?;
            }
        }
        _ => {
            let delay = schedule.get(d.attempts as usize).copied();
            let wait = delay.map(|w| w.as_secs_f64());
            sqlx::query!(
                "UPDATE webhook_deliveries SET attempts = $2,
                        next_attempt_at = CASE WHEN $3::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $3) END,
                        given_up_at = CASE WHEN $3::float8 IS NULL THEN now() END
                 WHERE id = $1",
                d.id,
                attempts,
                wait
            )
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await
}

/// Who the sender's audit events name.
fn sender_actor() -> Actor {
    Actor { email: Some("webhook sender".to_string()), role: Some("system".to_string()), ..Actor::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_published_test_vector() {
        // The Standard Webhooks specification's example.
        let headers = signed_headers(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(headers[2].1, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!(headers[0], ("webhook-id".to_string(), "msg_p5jXN8AQM9LWM0D4loKWxJek".to_string()));
    }

    #[test]
    fn the_schedule_lasts_about_a_day() {
        let total: u64 = crate::server::config::WEBHOOK_RETRY_SECS.iter().sum();
        assert!((24 * 3600..30 * 3600).contains(&total), "{total}");
    }
}
