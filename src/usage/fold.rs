//! The fold: reported samples, appended by the ingestion API, moved every
//! second into hourly buckets per tenant and metric and into the tenants'
//! current usage, with the quota alerts they call for, in bounded batches.
//! What cannot be folded is set aside in `usage_quarantine` with its reason.

use super::fold_stats::{LAG_MS, QUARANTINED};
use super::ingest::MAX_AGE_DAYS;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

/// The most raw samples one fold transaction takes: a backlog is folded in
/// bounded steps, each committed, rather than in one transaction of any size.
/// (Each batch also measures the tenants it touched against their quotas:
/// at 10,000 the alerts' reads let a backlog grow under 127,000 samples a
/// second; at 50,000 the fold keeps up, docs/BENCHMARKS.md.)
pub const FOLD_BATCH: i64 = 50_000;
/// The most batches one fold takes before it lets the next tick come.
const FOLD_BATCHES_PER_RUN: usize = 10;

/// The minute (since the epoch) the sample ids were last pruned.
static PRUNED_MINUTE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Folds the appended samples into the hourly buckets, and the newest of
/// each tenant and metric into its current usage, and raises the quota
/// alerts the new usage calls for; how many samples it took. Samples that
/// cannot be folded, whatever the reason, are set aside in
/// `usage_quarantine` with it, and the fold carries on with the rest: one
/// bad row never holds up every tenant's usage. Samples appended meanwhile
/// wait for the next fold.
pub async fn fold(pool: &PgPool) -> Result<i64, sqlx::Error> {
    let mut folded = 0;
    for _ in 0..FOLD_BATCHES_PER_RUN {
        let (taken, n) = fold_batch(pool).await?;
        folded += n;
        if taken < FOLD_BATCH {
            break;
        }
    }
    let mut tx = crate::server::db::begin(pool, crate::server::db::Scope::Platform).await?;
    // The oldest waiting sample by number (the index's first), not a scan of the backlog.
    let lag = sqlx::query_scalar!(
        r#"SELECT (extract(epoch FROM now() - received_at) * 1000)::bigint AS lag FROM usage_raw ORDER BY seq LIMIT 1"#
    )
    .fetch_optional(&mut *tx)
    .await?
    .flatten();
    // Ids older than a sample may be are no longer needed to recognise a
    // retry: pruned once a minute, 10,000 at a time.
    let minute = OffsetDateTime::now_utc().unix_timestamp() as u64 / 60;
    if PRUNED_MINUTE.swap(minute, std::sync::atomic::Ordering::Relaxed) != minute {
        sqlx::query!(
            "DELETE FROM usage_sample_ids WHERE (tenant_id, id) IN (
               SELECT tenant_id, id FROM usage_sample_ids WHERE received_at < now() - make_interval(days => $1) LIMIT 10000)",
            (MAX_AGE_DAYS + 1) as i32
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    LAG_MS.store(lag.unwrap_or(0).max(0) as u64, std::sync::atomic::Ordering::Relaxed);
    Ok(folded)
}

/// One bounded batch, in one transaction: the rows the database's own check
/// refuses set aside; the rest folded together, or, when that fails for a
/// reason nobody foresaw, one at a time, each failure set aside with the
/// database's words. Answers how many rows it took and how many it folded.
async fn fold_batch(pool: &PgPool) -> Result<(i64, i64), sqlx::Error> {
    let mut tx = crate::server::db::begin(pool, crate::server::db::Scope::Platform).await?;
    // A range of numbers, not a list: the oldest FOLD_BATCH numbers at most
    // (numbers are dense; a row committed late with a lower number than the
    // range's end is simply taken by the next batch).
    let lo = sqlx::query_scalar!("SELECT min(seq) FROM usage_raw").fetch_one(&mut *tx).await?;
    let Some(lo) = lo else { return Ok((0, 0)) };
    let hi = lo + FOLD_BATCH - 1;
    // The rows the database's own check refuses, found set-based (the
    // function, per row, only names the reason of the few it finds).
    let set_aside = sqlx::query_scalar!(
        r#"WITH bad AS (
             DELETE FROM usage_raw r WHERE seq BETWEEN $1 AND $2 AND (
                 r.metric NOT IN ('storage_bytes', 'users', 'db_connections', 'cpu_millicores', 'memory_bytes')
                 OR NOT (r.value BETWEEN 0 AND 9007199254740992) OR r.value <> trunc(r.value) OR r.value = 'NaN'::float8
                 OR NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = r.tenant_id)
                 OR EXISTS (SELECT 1 FROM billing_periods b WHERE b.month = date_trunc('month', r.at AT TIME ZONE 'UTC')::date))
             RETURNING tenant_id, metric, at, value, received_at,
                       coalesce(usage_sample_problem(tenant_id, metric, value, at), 'refused by the fold') AS reason),
           kept AS (
             INSERT INTO usage_quarantine (tenant_id, metric, at, value, received_at, reason)
             SELECT tenant_id, metric, at, value, received_at, reason FROM bad RETURNING 1)
           SELECT count(*) AS "n!" FROM kept"#,
        lo,
        hi
    )
    .fetch_one(&mut *tx)
    .await?;
    let mut quarantined = set_aside;
    let taken = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM usage_raw WHERE seq BETWEEN $1 AND $2"#, lo, hi)
        .fetch_one(&mut *tx)
        .await?;
    let folded = fold_or_split(&mut tx, (lo, hi), &mut quarantined).await?;
    tx.commit().await?;
    if quarantined > 0 {
        QUARANTINED.fetch_add(quarantined as u64, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(quarantined, "usage samples set aside: they could not be folded (see the alerts page)");
    }
    Ok((taken + set_aside, folded))
}

/// Folds the range `lo..=hi` together under a savepoint; when that fails,
/// each half on its own, down to the single rows that fail, which are set
/// aside with the database's words: a few bad rows cost a few dozen
/// savepoints, not one per row.
fn fold_or_split<'a>(
    tx: &'a mut sqlx::Transaction<'static, sqlx::Postgres>,
    (lo, hi): (i64, i64),
    quarantined: &'a mut i64,
) -> futures_util::future::BoxFuture<'a, Result<i64, sqlx::Error>> {
    Box::pin(async move {
        use sqlx::Connection;
        let mut savepoint = tx.begin().await?;
        let err = match fold_rows(&mut savepoint, lo, hi).await {
            Ok(n) => {
                savepoint.commit().await?;
                return Ok(n);
            }
            Err(err) => err,
        };
        savepoint.rollback().await?;
        tracing::debug!(error = %err, lo, hi, "usage could not be folded together; splitting to find the rows");
        if lo == hi {
            let reason: String = format!("the fold failed: {err}").chars().take(500).collect();
            *quarantined += sqlx::query!(
                "WITH bad AS (DELETE FROM usage_raw WHERE seq = $1 RETURNING tenant_id, metric, at, value, received_at)
                 INSERT INTO usage_quarantine (tenant_id, metric, at, value, received_at, reason)
                 SELECT tenant_id, metric, at, value, received_at, $2 FROM bad",
                lo,
                reason
            )
            .execute(&mut **tx)
            .await?
            .rows_affected() as i64;
            return Ok(0);
        }
        let mid = lo + (hi - lo) / 2;
        let a = fold_or_split(tx, (lo, mid), quarantined).await?;
        let b = fold_or_split(tx, (mid + 1, hi), quarantined).await?;
        Ok(a + b)
    })
}

/// Folds the raw samples numbered `lo..=hi` (those still there) into the
/// buckets and the current usage, and raises the alerts it calls for; how
/// many it took.
async fn fold_rows(conn: &mut sqlx::PgConnection, lo: i64, hi: i64) -> Result<i64, sqlx::Error> {
    let folded = sqlx::query!(
        r#"WITH moved AS (DELETE FROM usage_raw WHERE seq BETWEEN $1 AND $2 RETURNING tenant_id, metric, at, value),
           buckets AS (
             INSERT INTO usage_hourly AS h (tenant_id, metric, hour, last_value, last_at, max_value, sum_value, samples)
             SELECT tenant_id, metric, date_trunc('hour', at), (array_agg(value ORDER BY at DESC))[1], max(at),
                    max(value), sum(value), count(*)
               FROM moved GROUP BY tenant_id, metric, date_trunc('hour', at)
             ON CONFLICT (tenant_id, metric, hour) DO UPDATE SET
               last_value = CASE WHEN EXCLUDED.last_at >= h.last_at THEN EXCLUDED.last_value ELSE h.last_value END,
               last_at = greatest(h.last_at, EXCLUDED.last_at),
               max_value = greatest(h.max_value, EXCLUDED.max_value),
               sum_value = h.sum_value + EXCLUDED.sum_value,
               samples = h.samples + EXCLUDED.samples
             RETURNING 1),
           current AS (
             INSERT INTO usage_current AS c (tenant_id, metric, value, recorded_at)
             SELECT DISTINCT ON (tenant_id, metric) tenant_id,
                    CASE metric WHEN 'storage_bytes' THEN 'storage' WHEN 'cpu_millicores' THEN 'cpu'
                                WHEN 'memory_bytes' THEN 'memory' ELSE metric END,
                    round(value)::bigint, at
               FROM moved ORDER BY tenant_id, metric, at DESC
             ON CONFLICT (tenant_id, metric) DO UPDATE SET value = EXCLUDED.value, recorded_at = EXCLUDED.recorded_at
               WHERE c.recorded_at <= EXCLUDED.recorded_at
             RETURNING 1)
           SELECT count(*) AS "folded!", coalesce(array_agg(DISTINCT tenant_id), '{}') AS "tenants!: Vec<Uuid>"
             FROM moved"#,
        lo,
        hi
    )
    .fetch_one(&mut *conn)
    .await?;
    // Quotas passed are alerted in the same transaction: a restart loses none.
    crate::alerts::ssr::evaluate(&mut *conn, &folded.tenants).await?;
    Ok(folded.folded)
}

/// Folds appended samples every second, in the background.
pub fn spawn_fold(pool: PgPool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = fold(&pool).await {
                tracing::warn!(error = %err, "reported usage could not be folded into its buckets; trying again");
            }
        }
    });
}
