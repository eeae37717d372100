//! `POST /api/v1/usage`: the platform reports tenants' gauges in batches of
//! up to 1,000 samples (token scope `ingest`). A batch with any bad sample is
//! refused whole (422, each bad sample by index and reason) and nothing of it
//! is written; a retried batch changes nothing (samples are known by id).
//! Samples are appended as they come and folded every second by one writer
//! into hourly buckets per tenant and metric, the newest of each tenant and
//! metric becoming its current usage (the quota meters'): batches never wait
//! on each other's buckets.

use crate::domain::tenant_status::TenantStatus;
use crate::domain::token_scope::TokenScope;
use crate::routing::Routing;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The most samples one batch may carry.
pub const MAX_SAMPLES: usize = 1_000;
/// The largest body taken (1,000 samples of generous size).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How late a sample may arrive.
pub const MAX_AGE_DAYS: i64 = 35;
/// How far ahead of this server's clock a sample may be stamped (clock skew).
pub const FUTURE_SKEW_SECS: i64 = 60;

/// The gauges a sample may report, as the API names them.
pub const METRICS: [&str; 5] = ["storage_bytes", "users", "db_connections", "cpu_millicores", "memory_bytes"];

/// What the machine endpoints read: the routing table (tokens and tenants) and the pool.
pub struct Machines {
    pub routing: Arc<Routing>,
    pub pool: PgPool,
}

/// One sample that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub id: String,
    pub tenant_id: Uuid,
    pub metric: &'static str,
    pub value: f64,
    pub at: OffsetDateTime,
}

/// Why one sample was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub index: usize,
    pub field: &'static str,
    pub reason: String,
}

/// Checks every sample of `body` (`{"samples": [...]}`); the samples, or every problem found.
pub fn check(
    body: &Value,
    tenant: impl Fn(&str) -> Option<Uuid>,
    now: OffsetDateTime,
) -> Result<Vec<Sample>, Vec<Problem>> {
    let Some(samples) = body.get("samples").and_then(Value::as_array) else {
        return Err(vec![Problem { index: 0, field: "samples", reason: "expected {\"samples\": [...]}".into() }]);
    };
    if samples.len() > MAX_SAMPLES {
        return Err(vec![Problem {
            index: MAX_SAMPLES,
            field: "samples",
            reason: format!("at most {MAX_SAMPLES} samples per batch, this one has {}", samples.len()),
        }]);
    }
    let mut ok = Vec::with_capacity(samples.len());
    let mut problems = Vec::new();
    for (index, s) in samples.iter().enumerate() {
        let mut bad = |field: &'static str, reason: String| problems.push(Problem { index, field, reason });
        let id = match s.get("id").and_then(Value::as_str) {
            Some(id) if (1..=128).contains(&id.len()) && !id.chars().any(char::is_control) => Some(id.to_string()),
            Some(_) => {
                bad("id", "an id is 1 to 128 characters, none of them control characters".into());
                None
            }
            None => {
                bad("id", "missing (a string that names the sample, for retries)".into());
                None
            }
        };
        let tenant_id = match s.get("tenant").and_then(Value::as_str) {
            Some(t) => match tenant(t.trim()) {
                Some(id) => Some(id),
                None => {
                    bad("tenant", format!("no tenant {t:?}"));
                    None
                }
            },
            None => {
                bad("tenant", "missing (a slug or an id)".into());
                None
            }
        };
        let metric = match s.get("metric").and_then(Value::as_str) {
            Some(m) => match METRICS.iter().find(|x| **x == m) {
                Some(m) => Some(*m),
                None => {
                    bad("metric", format!("unknown metric {m:?} (one of {})", METRICS.join(", ")));
                    None
                }
            },
            None => {
                bad("metric", "missing".into());
                None
            }
        };
        let value = match s.get("value").and_then(Value::as_f64) {
            Some(v) if v.is_finite() && v >= 0.0 => Some(v),
            Some(_) => {
                bad("value", "a value is a finite number, zero or more".into());
                None
            }
            None => {
                bad("value", "missing, or not a number".into());
                None
            }
        };
        let at = match s.get("at").and_then(Value::as_str).map(|a| OffsetDateTime::parse(a, &Rfc3339)) {
            Some(Ok(at)) if at > now + Duration::seconds(FUTURE_SKEW_SECS) => {
                bad("at", "in the future".into());
                None
            }
            Some(Ok(at)) if at < now - Duration::days(MAX_AGE_DAYS) => {
                bad("at", format!("older than {MAX_AGE_DAYS} days"));
                None
            }
            Some(Ok(at)) => Some(at),
            Some(Err(_)) | None => {
                bad("at", "missing, or not an RFC 3339 time such as 2026-11-26T10:00:00Z".into());
                None
            }
        };
        if let (Some(id), Some(tenant_id), Some(metric), Some(value), Some(at)) = (id, tenant_id, metric, value, at) {
            ok.push(Sample { id, tenant_id, metric, value, at });
        }
    }
    if problems.is_empty() {
        Ok(ok)
    } else {
        Err(problems)
    }
}

/// Writes a checked batch in one transaction: the ids taken, the new
/// samples appended (folded into the buckets by [`fold`]); how many were new.
pub async fn store(pool: &PgPool, samples: &[Sample]) -> Result<i64, sqlx::Error> {
    let ids: Vec<String> = samples.iter().map(|s| s.id.clone()).collect();
    let tenants: Vec<Uuid> = samples.iter().map(|s| s.tenant_id).collect();
    let metrics: Vec<String> = samples.iter().map(|s| s.metric.to_string()).collect();
    let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    let ats: Vec<OffsetDateTime> = samples.iter().map(|s| s.at).collect();
    let mut tx = crate::server::db::begin(pool, crate::server::db::Scope::Platform).await?;
    let new = sqlx::query_scalar!(
        r#"WITH input AS (
             SELECT DISTINCT ON (id) * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::float8[], $5::timestamptz[])
               AS s(id, tenant_id, metric, value, at) ORDER BY id),
           taken AS (
             INSERT INTO usage_sample_ids (id, tenant_id) SELECT id, tenant_id FROM input
             ON CONFLICT (id) DO NOTHING RETURNING id),
           appended AS (
             INSERT INTO usage_raw (tenant_id, metric, at, value)
             SELECT i.tenant_id, i.metric, i.at, i.value FROM input i JOIN taken USING (id) RETURNING 1)
           -- (Data-modifying parts run whether read or not.)
           SELECT count(*) AS "new!" FROM taken"#,
        &ids,
        &tenants,
        &metrics,
        &values,
        &ats
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(new)
}

/// Folds the appended samples into the hourly buckets, and the newest of
/// each tenant and metric into its current usage, and raises the quota
/// alerts the new usage calls for; how many samples it took.
/// Samples appended meanwhile wait for the next fold.
pub async fn fold(pool: &PgPool) -> Result<i64, sqlx::Error> {
    let mut tx = crate::server::db::begin(pool, crate::server::db::Scope::Platform).await?;
    let folded = sqlx::query!(
        r#"WITH moved AS (DELETE FROM usage_raw RETURNING tenant_id, metric, at, value),
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
             FROM moved"#
    )
    .fetch_one(&mut *tx)
    .await?;
    // Quotas passed are alerted in the same transaction: a restart loses none.
    crate::alerts::ssr::evaluate(&mut tx, &folded.tenants).await?;
    tx.commit().await?;
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

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// `POST /api/v1/usage`.
pub async fn handler(State(ingest): State<Arc<Machines>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let now = OffsetDateTime::now_utc();
    let table = ingest.routing.table();
    if let Err(refused) = table.authorize(&headers, TokenScope::Ingest, now) {
        return refused.into_response();
    }
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return answer(StatusCode::BAD_REQUEST, json!({ "error": format!("the body is not JSON: {e}") })),
    };
    let tenant = |t: &str| {
        let route = match Uuid::parse_str(t) {
            Ok(id) => table.by_id(&id),
            Err(_) => table.by_slug(t),
        };
        route.filter(|r| r.status != TenantStatus::Deleted).map(|r| r.id)
    };
    let samples = match check(&body, tenant, now) {
        Ok(s) => s,
        Err(problems) => {
            let list: Vec<Value> =
                problems.iter().map(|p| json!({ "index": p.index, "field": p.field, "reason": p.reason })).collect();
            return answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": "the batch was refused whole: nothing of it was written", "problems": list }),
            );
        }
    };
    match store(&ingest.pool, &samples).await {
        Ok(new) => answer(
            StatusCode::OK,
            json!({ "received": samples.len(), "new": new, "known": samples.len() as i64 - new }),
        ),
        Err(err) => {
            tracing::error!(error = %err, "a usage batch could not be written");
            answer(StatusCode::SERVICE_UNAVAILABLE, json!({ "error": "the batch could not be written: send it again" }))
        }
    }
}
