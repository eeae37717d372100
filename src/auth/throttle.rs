//! Login throttling: counters per account and per IP address, with a delay
//! that doubles after each failure past the limit.
//!
//! An attempt is counted *before* its password is checked, under a row lock,
//! so that attempts arriving in parallel cannot slip past the limit together.

use std::time::Duration;
use time::OffsetDateTime;

/// The rules for one kind of counter.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Attempts allowed before waiting.
    pub limit: i32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Failures older than this are forgotten.
    pub window: Duration,
}

/// A counter as stored in `login_throttle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub failures: i32,
    pub locked_until: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
}

/// Whether an attempt may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead; store this counter.
    Admitted(Counter),
    /// Wait this many seconds; the counter is unchanged.
    Refused { retry_after_secs: u64 },
}

impl Policy {
    /// The wait after `failures` failures (none below the limit).
    pub fn delay(&self, failures: i32) -> Option<Duration> {
        if failures < self.limit {
            return None;
        }
        let doublings = (failures - self.limit).clamp(0, 20) as u32;
        Some(self.base_delay.saturating_mul(1 << doublings).min(self.max_delay))
    }

    /// Counts one attempt against `counter` at `now`.
    pub fn admit(&self, counter: Counter, now: OffsetDateTime) -> Admission {
        if let Some(until) = counter.locked_until {
            if until > now {
                let secs = (until - now).as_seconds_f64().ceil().max(1.0) as u64;
                return Admission::Refused { retry_after_secs: secs };
            }
        }
        let stale = now - counter.updated_at > self.window;
        let failures = if stale { 1 } else { counter.failures.saturating_add(1) };
        let locked_until = self.delay(failures).map(|d| now + d);
        Admission::Admitted(Counter { failures, locked_until, updated_at: now })
    }
}

/// The account and address policies this console is configured with.
pub(crate) fn policies(state: &crate::server::state::AppState) -> (Policy, Policy) {
    let c = &state.config;
    let account = Policy {
        limit: c.login_account_limit,
        base_delay: c.login_base_delay,
        max_delay: c.login_max_delay,
        window: c.login_window,
    };
    (account, Policy { limit: c.login_ip_limit, ..account })
}

/// Reads a counter under a row lock (made on first use), with the database's
/// clock. One statement that always answers a row: a counter deleted by a
/// success while this attempt waited for its lock is made again, where a
/// separate insert and `SELECT … FOR UPDATE` found no row and failed.
pub async fn load_counter(
    conn: &mut sqlx::PgConnection,
    key: &str,
) -> Result<(Counter, time::OffsetDateTime), sqlx::Error> {
    let row = sqlx::query!(
        r#"INSERT INTO login_throttle AS t (key, failures, updated_at) VALUES ($1, 0, now())
           ON CONFLICT (key) DO UPDATE SET key = t.key
           RETURNING t.failures, t.locked_until, t.updated_at, clock_timestamp() AS "now!""#,
        key
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((Counter { failures: row.failures, locked_until: row.locked_until, updated_at: row.updated_at }, row.now))
}

/// Counts one attempt refused while `key` waits (no audit row for it);
/// the count is written as one event when the wait is over ([`take_refused`]).
pub async fn note_refusal(conn: &mut sqlx::PgConnection, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query!("UPDATE login_throttle SET refused = refused + 1 WHERE key = $1", key).execute(conn).await?;
    Ok(())
}

/// The attempts refused during `key`'s last wait, set back to none; in the
/// transaction that locked the counter.
pub async fn take_refused(conn: &mut sqlx::PgConnection, key: &str) -> Result<i32, sqlx::Error> {
    let n = sqlx::query_scalar!(
        r#"UPDATE login_throttle t SET refused = 0 FROM login_throttle o
           WHERE t.key = $1 AND o.key = t.key AND o.refused > 0
           RETURNING o.refused"#,
        key
    )
    .fetch_optional(conn)
    .await?;
    Ok(n.unwrap_or(0))
}

/// Writes a counter back, in the transaction that locked it.
pub(crate) async fn store_counter(conn: &mut sqlx::PgConnection, key: &str, c: &Counter) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE login_throttle SET failures = $2, locked_until = $3, updated_at = $4 WHERE key = $1",
        key,
        c.failures,
        c.locked_until,
        c.updated_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts one more consecutive wrong password for an account; at the limit
/// the account locks until a platform admin unlocks it, and its owner is
/// told by e-mail (when the console sends mail).
pub(crate) async fn lock_after_failures(
    conn: &mut sqlx::PgConnection,
    state: &crate::server::state::AppState,
    actor: &crate::audit::Actor,
    user_id: uuid::Uuid,
    email: &str,
) -> Result<(), crate::error::AppError> {
    let limit = state.config.account_lock_after.max(1);
    let locked = sqlx::query_scalar!(
        r#"UPDATE users SET failed_sign_ins = failed_sign_ins + 1,
                  locked_at = CASE WHEN failed_sign_ins + 1 >= $2 THEN now() END
           WHERE id = $1 RETURNING locked_at IS NOT NULL AS "locked!""#,
        user_id,
        limit
    )
    .fetch_one(&mut *conn)
    .await?;
    if locked {
        crate::audit::record(
            conn,
            actor,
            crate::audit::NewEvent::new("auth.account_locked")
                .target(email)
                .after(serde_json::json!({ "email": email, "consecutive_failures": limit })),
        )
        .await?;
        if state.config.mail.is_some() {
            let body = format!(
                "Your Bulkhead console account ({email}) was locked after {limit} wrong passwords in a row.\n\n\
                 If that was not you, someone is guessing your password. A platform administrator can \
                 unlock the account; consider changing your password afterwards.\n"
            );
            crate::mail::enqueue(conn, email, "Your Bulkhead account is locked", &body).await?;
        }
    }
    Ok(())
}

/// Every ten minutes, in the background: forgets idle addresses' buckets,
/// deletes expired sessions' rows and stale sign-in counters (the attempts a
/// counter's last wait refused go to the audit trail first) and spent roll-ups.
pub fn spawn_sweep(
    pool: sqlx::PgPool,
    checks: std::sync::Arc<crate::server::secret_checks::SecretChecks>,
    window: Duration,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            checks.tidy();
            let result = async {
                let mut tx = crate::server::db::begin(&pool, crate::server::db::Scope::Auth).await?;
                sqlx::query!(
                    "DELETE FROM auth_sessions WHERE expires_at < now() - interval '1 day' OR revoked_at < now() - interval '1 day'"
                )
                .execute(&mut *tx)
                .await?;
                // A counter past its window and its wait counts for nothing any
                // more; the attempts its last wait refused go to the trail first.
                let refused = sqlx::query!(
                    "SELECT key, refused FROM login_throttle
                     WHERE refused > 0 AND updated_at < now() - make_interval(secs => $1)
                       AND (locked_until IS NULL OR locked_until < now())",
                    window.as_secs_f64()
                )
                .fetch_all(&mut *tx)
                .await?;
                for r in refused {
                    let (action, target) = match r.key.split_once(':') {
                        Some(("account", email)) => ("auth.login.throttled", email),
                        Some(("mfa", user)) => ("auth.mfa.throttled", user),
                        _ => continue,
                    };
                    let event = crate::audit::NewEvent::new(action)
                        .target(target)
                        .after(serde_json::json!({ "refused": r.refused }));
                    crate::audit::record(&mut tx, &crate::audit::Actor::default(), event).await?;
                }
                sqlx::query!(
                    "DELETE FROM login_throttle
                     WHERE updated_at < now() - make_interval(secs => $1)
                       AND (locked_until IS NULL OR locked_until < now())",
                    window.as_secs_f64()
                )
                .execute(&mut *tx)
                .await?;
                // Roll-ups whose window ended a day ago have nothing left to report.
                sqlx::query!("DELETE FROM audit_rollups WHERE window_start < now() - interval '1 day'")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }
            .await;
            if let Err(err) = result {
                tracing::warn!(error = %err, "auth session cleanup failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            limit: 5,
            base_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(900),
            window: Duration::from_secs(900),
        }
    }

    fn fresh(now: OffsetDateTime) -> Counter {
        Counter { failures: 0, locked_until: None, updated_at: now }
    }

    #[test]
    fn the_fifth_attempt_starts_the_wait_and_later_ones_are_refused() {
        let p = policy();
        let now = OffsetDateTime::now_utc();
        let mut c = fresh(now);
        for n in 1..=4 {
            match p.admit(c, now) {
                Admission::Admitted(next) => {
                    assert_eq!(next.failures, n);
                    assert_eq!(next.locked_until, None);
                    c = next;
                }
                other => panic!("attempt {n} refused: {other:?}"),
            }
        }
        let Admission::Admitted(fifth) = p.admit(c, now) else { panic!("fifth refused") };
        assert_eq!(fifth.locked_until, Some(now + Duration::from_secs(30)));
        assert_eq!(p.admit(fifth, now), Admission::Refused { retry_after_secs: 30 });
    }

    #[test]
    fn the_wait_doubles_and_is_capped() {
        let p = policy();
        assert_eq!(p.delay(4), None);
        assert_eq!(p.delay(5), Some(Duration::from_secs(30)));
        assert_eq!(p.delay(6), Some(Duration::from_secs(60)));
        assert_eq!(p.delay(7), Some(Duration::from_secs(120)));
        assert_eq!(p.delay(60), Some(Duration::from_secs(900)));
    }

    #[test]
    fn after_the_wait_one_more_attempt_is_admitted_and_waits_longer() {
        let p = policy();
        let now = OffsetDateTime::now_utc();
        let locked = Counter { failures: 5, locked_until: Some(now + Duration::from_secs(30)), updated_at: now };
        let later = now + Duration::from_secs(31);
        let Admission::Admitted(next) = p.admit(locked, later) else { panic!("refused after the wait") };
        assert_eq!(next.failures, 6);
        assert_eq!(next.locked_until, Some(later + Duration::from_secs(60)));
    }

    #[test]
    fn old_failures_are_forgotten() {
        let p = policy();
        let now = OffsetDateTime::now_utc();
        let old = Counter { failures: 4, locked_until: None, updated_at: now - Duration::from_secs(901) };
        let Admission::Admitted(next) = p.admit(old, now) else { panic!() };
        assert_eq!(next.failures, 1);
    }
}
