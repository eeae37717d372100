//! The held sessions' background work: the task that hears the database's
//! notices and answers fences, and the writer of the idle clocks.

use super::{lock, HeldSessions, CHANNEL};
use crate::server::db::{self, Scope};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// How often a session's `last_seen_at` is written at most: once a minute,
/// or more often when the idle timeout is short, so that another instance
/// reading it never finds a session idle that was not.
pub fn write_every(idle: Duration) -> Duration {
    (idle / 4).clamp(Duration::from_millis(200), Duration::from_secs(60))
}

/// Listens for the database's notices, and writes the idle clocks, until the
/// process ends.
pub fn spawn(held: Arc<HeldSessions>, pool: &PgPool, idle: Duration) {
    let listen_pool = db::side_pool(pool, 1);
    let h = held.clone();
    tokio::spawn(async move { follow(h, listen_pool).await });
    let pool = pool.clone();
    tokio::spawn(async move {
        let every = write_every(idle);
        let mut tick = tokio::time::interval(every / 4);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let due = held.due(every, idle, OffsetDateTime::now_utc());
            if due.is_empty() {
                continue;
            }
            if let Err(err) = write_seen(&pool, &due).await {
                tracing::warn!(error = %err, sessions = due.len(), "sessions' last activity could not be written");
            }
        }
    });
}

async fn write_seen(pool: &PgPool, due: &[(Uuid, OffsetDateTime)]) -> Result<(), sqlx::Error> {
    let (ids, seen): (Vec<Uuid>, Vec<OffsetDateTime>) = due.iter().copied().unzip();
    let mut tx = db::begin(pool, Scope::Auth).await?;
    sqlx::query!(
        r#"UPDATE auth_sessions s SET last_seen_at = greatest(s.last_seen_at, v.seen)
           FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, seen)
           WHERE s.id = v.id"#,
        &ids,
        &seen
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

async fn follow(held: Arc<HeldSessions>, pool: PgPool) {
    loop {
        let result = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            let (fences, mut asked) = mpsc::unbounded_channel::<oneshot::Sender<()>>();
            *lock(&held.fences) = Some(fences);
            held.set_listening(true);
            loop {
                tokio::select! {
                    biased;
                    first = asked.recv() => {
                        let Some(first) = first else { return Ok(()) };
                        let mut waiting = vec![first];
                        while let Ok(next) = asked.try_recv() {
                            waiting.push(next);
                        }
                        // The notices committed before this query are delivered
                        // before its answer, and kept in the listener's buffer.
                        sqlx::query("SELECT 1").execute(&mut listener).await?;
                        while let Some(notice) = listener.next_buffered() {
                            held.notice(notice.payload());
                        }
                        for done in waiting {
                            let _ = done.send(());
                        }
                    }
                    notice = listener.try_recv() => match notice? {
                        Some(notice) => held.notice(notice.payload()),
                        None => return Ok::<(), sqlx::Error>(()),
                    },
                }
            }
        }
        .await;
        *lock(&held.fences) = None;
        held.set_listening(false);
        match result {
            Ok(()) => tracing::warn!("session notices lost the database; reading sessions from it until they are back"),
            Err(err) => {
                tracing::warn!(error = %err, "session notices unavailable; reading sessions from the database")
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
