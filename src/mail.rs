//! E-mail: a durable outbox in PostgreSQL, sent over SMTP (`lettre`, rustls)
//! when `BULKHEAD_SMTP_URL` is set. A message is written in the transaction of
//! what it announces, so it exists exactly when that does; the sender takes
//! due messages, and a message the server refuses (or a server that is down)
//! is tried again after a wait that doubles, up to an hour.

use crate::server::db::{self, Scope};
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::{PgConnection, PgPool};
use std::time::Duration;

pub use crate::server::config::MailConfig;

/// Puts a message in the outbox, in the caller's transaction.
pub async fn enqueue(conn: &mut PgConnection, to: &str, subject: &str, body: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("INSERT INTO outbox_mail (to_addr, subject, body) VALUES ($1, $2, $3)", to, subject, body)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sends what is due, forever.
pub fn spawn_sender(pool: PgPool, config: MailConfig) {
    tokio::spawn(async move {
        let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.smtp_url) {
            Ok(builder) => builder.timeout(Some(Duration::from_secs(20))).build(),
            Err(err) => {
                tracing::error!(error = %err, "BULKHEAD_SMTP_URL cannot be used; no e-mail will be sent");
                return;
            }
        };
        let mut tick = tokio::time::interval(Duration::from_millis(500).min(config.retry_base));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = send_due(&pool, &transport, &config).await {
                tracing::warn!(error = %err, "the outbox could not be read; trying again");
            }
        }
    });
}

/// Sends the messages that are due, each under its row lock (two consoles
/// never send the same message), and schedules the failures again.
async fn send_due(
    pool: &PgPool,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    config: &MailConfig,
) -> Result<(), sqlx::Error> {
    loop {
        let mut tx = db::begin(pool, Scope::Platform).await?;
        let Some(m) = sqlx::query!(
            "SELECT id, to_addr, subject, body, attempts FROM outbox_mail
             WHERE sent_at IS NULL AND next_attempt_at <= now()
             ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED"
        )
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(());
        };
        let sent = match message(&config.from, &m.to_addr, &m.subject, &m.body) {
            Ok(msg) => transport.send(msg).await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) => {
                sqlx::query!("UPDATE outbox_mail SET sent_at = now(), attempts = attempts + 1 WHERE id = $1", m.id)
                    .execute(&mut *tx)
                    .await?;
            }
            Err(err) => {
                let wait = retry_wait(config.retry_base, m.attempts);
                tracing::warn!(id = m.id, attempts = m.attempts + 1, error = %err, "e-mail not sent; trying again later");
                sqlx::query!(
                    "UPDATE outbox_mail SET attempts = attempts + 1, last_error = $2,
                            next_attempt_at = now() + make_interval(secs => $3)
                     WHERE id = $1",
                    m.id,
                    err,
                    wait.as_secs_f64()
                )
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
    }
}

/// The wait before attempt `attempts + 1`: doubling from `base`, at most an hour.
pub fn retry_wait(base: Duration, attempts: i32) -> Duration {
    base.saturating_mul(1u32 << attempts.clamp(0, 20)).min(Duration::from_secs(3600))
}

fn message(from: &str, to: &str, subject: &str, body: &str) -> Result<Message, String> {
    Message::builder()
        .from(from.parse().map_err(|e| format!("from {from:?}: {e}"))?)
        .to(to.parse().map_err(|e| format!("to {to:?}: {e}"))?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_an_hour() {
        let base = Duration::from_secs(30);
        assert_eq!(retry_wait(base, 0), Duration::from_secs(30));
        assert_eq!(retry_wait(base, 3), Duration::from_secs(240));
        assert_eq!(retry_wait(base, 30), Duration::from_secs(3600));
    }

    #[test]
    fn a_message_names_its_sender_and_recipient() {
        let m = message("Bulkhead <bulkhead@example.com>", "owner@acme.example", "Hi", "Body").unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("To: owner@acme.example") && text.contains("Subject: Hi"), "{text}");
        assert!(message("not an address", "owner@acme.example", "Hi", "Body").is_err());
    }
}
