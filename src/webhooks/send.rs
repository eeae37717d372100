//! Delivers the outbox's webhook messages in the background: each attempt
//! signed anew (Standard Webhooks 1.0: `webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`), a 2xx
//! ends the delivery, 410 Gone turns the endpoint off, anything else is tried
//! again after the next delay of the schedule, then given up.
//!
//! Several consoles may send from one database: each takes due deliveries
//! with `FOR UPDATE SKIP LOCKED` and leases them for two minutes, renewed
//! before each attempt, so a console that stops mid-send leaves them to the
//! others and no attempt is made twice.
//!
//! No receiver can stall the sender: each endpoint's deliveries run in a
//! task of their own (a slow or silent receiver delays only itself; the next
//! take skips endpoints still being sent to), an answer's body is read up to
//! [`BODY_CAP`] and dropped, and each attempt ends after [`TIMEOUT`].

use crate::audit::{self, Actor, NewEvent};
use crate::auth::totp::SecretBox;
use crate::server::db::{self, Scope};
use crate::server::fence::Fence;
use serde_json::json;
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Deliveries taken at once.
const BATCH: i64 = 32;
/// How long an endpoint has to answer.
const TIMEOUT: Duration = Duration::from_secs(15);
/// The most of an answer's body that is read (and dropped): a receiver that
/// streams without end costs the sender nothing more.
pub const BODY_CAP: usize = 64 * 1024;

/// Endpoints this console is sending to now: the next take leaves them out.
type Busy = Arc<Mutex<HashSet<Uuid>>>;

/// Frees an endpoint for the next take when its task ends, however it ends.
struct Sending(Busy, Uuid);

impl Drop for Sending {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
    }
}

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

/// What every endpoint's task needs.
#[derive(Clone)]
struct Sender {
    pool: PgPool,
    secrets: SecretBox,
    client: reqwest::Client,
    fence: Fence,
    schedule: Arc<Vec<Duration>>,
    busy: Busy,
}

/// Sends due deliveries every second, forever, to the addresses the fence
/// permits (names resolved through it, so each connection is checked).
pub fn spawn_sender(state: &crate::server::state::AppState) {
    let fence = Fence::webhooks(state.config.webhook_allow_networks.clone());
    let client = match reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(fence.clone()))
        .user_agent("Bulkhead-Webhooks/1")
        .build()
    {
        Ok(c) => c,
        Err(err) => {
            tracing::error!(error = %err, "webhooks cannot be sent: no HTTP client");
            return;
        }
    };
    let sender = Sender {
        pool: state.pool.clone(),
        secrets: state.secrets.clone(),
        client,
        fence,
        schedule: Arc::new(state.config.webhook_retry.clone()),
        busy: Busy::default(),
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            loop {
                match take_due(&sender).await {
                    Ok(n) if n as i64 == BATCH => continue,
                    Ok(_) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "webhook deliveries could not be read; trying again");
                        break;
                    }
                }
            }
        }
    });
}

/// Takes due deliveries of endpoints not being sent to, and starts a task
/// per endpoint that sends them oldest first; how many it took.
async fn take_due(sender: &Sender) -> Result<usize, sqlx::Error> {
    let busy: Vec<Uuid> = sender.busy.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
    let mut tx = db::begin(&sender.pool, Scope::Platform).await?;
    let mut due = sqlx::query_as!(
        Due,
        r#"WITH taken AS (
             SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
             WHERE d.next_attempt_at <= now() AND e.enabled AND NOT (d.endpoint_id = ANY($2))
             ORDER BY d.next_attempt_at, d.id LIMIT $1 FOR UPDATE OF d SKIP LOCKED)
           UPDATE webhook_deliveries d SET next_attempt_at = now() + interval '2 minutes'
           FROM taken, webhook_endpoints e, webhook_messages m
           WHERE d.id = taken.id AND e.id = d.endpoint_id AND m.id = d.message_id
           RETURNING d.id, d.attempts, d.endpoint_id, e.url, e.secret_sealed, d.message_id, m.body"#,
        BATCH,
        &busy
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    due.sort_by_key(|d| d.id);
    let taken = due.len();
    // One endpoint's messages one after the other, oldest first (a retried
    // message may still arrive after a newer one: each body carries its time).
    let mut by_endpoint: Vec<Vec<Due>> = Vec::new();
    for d in due {
        match by_endpoint.iter_mut().find(|g| g[0].endpoint_id == d.endpoint_id) {
            Some(g) => g.push(d),
            None => by_endpoint.push(vec![d]),
        }
    }
    for group in by_endpoint {
        let endpoint = group[0].endpoint_id;
        sender.busy.lock().unwrap_or_else(|e| e.into_inner()).insert(endpoint);
        let guard = Sending(sender.busy.clone(), endpoint);
        let sender = sender.clone();
        tokio::spawn(async move {
            let _guard = guard;
            if let Err(err) = deliver(&sender, group).await {
                tracing::warn!(error = %err, "a webhook outcome could not be noted; its lease lets it be tried again");
            }
        });
    }
    Ok(taken)
}

/// Sends one endpoint's deliveries in order, renewing the lease of those
/// still to send before each attempt, and notes each outcome.
async fn deliver(sender: &Sender, group: Vec<Due>) -> Result<(), sqlx::Error> {
    for (i, d) in group.iter().enumerate() {
        if i > 0 {
            let rest: Vec<i64> = group[i..].iter().map(|d| d.id).collect();
            let mut tx = db::begin(&sender.pool, Scope::Platform).await?;
            sqlx::query!(
                "UPDATE webhook_deliveries SET next_attempt_at = now() + interval '2 minutes'
                 WHERE id = ANY($1) AND delivered_at IS NULL AND given_up_at IS NULL",
                &rest
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        let outcome = attempt((&sender.client, &sender.fence), &sender.secrets, d).await;
        note(&sender.pool, d, &outcome, &sender.schedule).await?;
    }
    Ok(())
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
        Ok(mut response) => {
            let status = response.status();
            // A short answer is read (and dropped) so the connection can be
            // reused; a long one is cut at the cap and the connection dropped.
            let mut read = 0;
            while read < BODY_CAP {
                match response.chunk().await {
                    Ok(Some(chunk)) => read += chunk.len(),
                    Ok(None) | Err(_) => break,
                }
            }
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
