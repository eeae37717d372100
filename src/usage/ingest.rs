//! `POST /api/v1/usage`: the platform reports tenants' gauges in batches of
//! up to 1,000 samples (token scope `ingest`). A batch with any bad sample is
//! refused whole (422, each bad sample by index and reason) and nothing of it
//! is written; a retried batch changes nothing (samples are known by id).
//! Samples are appended as they come and folded every second by one writer
//! into hourly buckets per tenant and metric, the newest of each tenant and
//! metric becoming its current usage (the quota meters'): batches never wait
//! on each other's buckets. CloudEvents are taken too, structured or in
//! batches (see [`super::cloudevents`]).

use super::cloudevents::{self, Framing};
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

/// A gauge's unit and the largest value a sample may report: every value is
/// a whole number of its unit, from 0 to this. Anything above is a
/// reporter's bug (an unsigned −1 is 18,446,744,073,709,551,615), refused
/// before it is written. The bounds are far above any tier's limit and
/// within 2^53, so every accepted value is exact in the database's types.
pub fn bound(metric: &str) -> (&'static str, i64) {
    match metric {
        "storage_bytes" => ("bytes", 1 << 53),             // 8 PiB
        "memory_bytes" => ("bytes", 1 << 50),              // 1 PiB
        "cpu_millicores" => ("millicores", 1_000_000_000), // a million cores
        "users" => ("users", 1_000_000_000),
        _ => ("connections", 10_000_000),
    }
}

/// A reported value as a whole number of the metric's unit within its
/// bound, or why not. JSON's integers are read as integers (an integer past
/// 2^63 is refused as such); a number with a fraction or an exponent is
/// taken when it is exactly a whole number in range (`2.0`, `1e3`).
fn whole_value(metric: Option<&str>, v: &Value) -> Result<i64, String> {
    let (unit, max) = bound(metric.unwrap_or("db_connections"));
    let out_of_range = || format!("a whole number of {unit} from 0 to {max}");
    if let Some(n) = v.as_i64() {
        return if (0..=max).contains(&n) { Ok(n) } else { Err(out_of_range()) };
    }
    if v.is_u64() {
        return Err(out_of_range());
    }
    match v.as_f64() {
        Some(f) if f.is_finite() && f.fract() == 0.0 && f >= 0.0 && f <= max as f64 => Ok(f as i64),
        Some(f) if f.is_finite() && f.fract() != 0.0 && f >= 0.0 && f <= max as f64 => {
            Err(format!("{unit} are counted in whole numbers, not {f}"))
        }
        Some(_) => Err(out_of_range()),
        None => Err("missing, or not a number".into()),
    }
}

/// What the machine endpoints read: the routing table (tokens and tenants),
/// the pool, and for long reads (the billing export) the heavy pool, with
/// one such read at a time per token.
pub struct Machines {
    pub routing: Arc<Routing>,
    pub pool: PgPool,
    pub heavy_pool: PgPool,
    pub heavy_work: Arc<crate::server::state::HeavyWork>,
}

/// One sample that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub id: String,
    pub tenant_id: Uuid,
    pub metric: &'static str,
    /// A whole number of the metric's unit, within its [`bound`].
    pub value: i64,
    pub at: OffsetDateTime,
}

pub use super::problem::Problem;

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
        let value = match s.get("value").map(|v| whole_value(metric, v)) {
            Some(Ok(v)) => Some(v),
            Some(Err(reason)) => {
                bad("value", reason);
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

/// The first day of the calendar month (UTC) `at` falls in, as billing periods are kept.
fn month_of(at: OffsetDateTime) -> time::Date {
    at.to_offset(time::UtcOffset::UTC).date().replace_day(1).expect("every month has a first day")
}

/// What became of a checked batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    /// Written; how many samples were new (the rest were known: retries, or
    /// repeated within the batch).
    New(i64),
    /// Refused whole: samples dated in a month already closed for billing.
    Closed(Vec<Problem>),
}

/// Writes a checked batch in one transaction: the ids taken (per tenant), the
/// new samples appended (folded into the buckets by [`super::fold::fold`]). A sample dated
/// in a month closed for billing refuses the batch: that month's figures
/// were sent, and do not change afterwards.
pub async fn store(pool: &PgPool, samples: &[Sample]) -> Result<Stored, sqlx::Error> {
    let ids: Vec<String> = samples.iter().map(|s| s.id.clone()).collect();
    let tenants: Vec<Uuid> = samples.iter().map(|s| s.tenant_id).collect();
    let metrics: Vec<String> = samples.iter().map(|s| s.metric.to_string()).collect();
    let values: Vec<f64> = samples.iter().map(|s| s.value as f64).collect();
    let ats: Vec<OffsetDateTime> = samples.iter().map(|s| s.at).collect();
    let mut months: Vec<time::Date> = ats.iter().map(|at| month_of(*at)).collect();
    months.sort();
    months.dedup();
    let mut tx = crate::server::db::begin(pool, crate::server::db::Scope::Platform).await?;
    // (A month that closes while this batch is written: the fold sets its samples aside.)
    let closed = sqlx::query_scalar!("SELECT month FROM billing_periods WHERE month = ANY($1)", &months)
        .fetch_all(&mut *tx)
        .await?;
    if !closed.is_empty() {
        let problems = samples
            .iter()
            .enumerate()
            .filter(|(_, s)| closed.contains(&month_of(s.at)))
            .map(|(index, s)| Problem {
                index,
                field: "at",
                reason: format!(
                    "{} is closed for billing (its figures were sent): a correction is an adjustment, not a late sample",
                    month_of(s.at)
                ),
            })
            .collect();
        return Ok(Stored::Closed(problems));
    }
    let new = sqlx::query_scalar!(
        r#"WITH input AS (
           SELECT DISTINCT ON (tenant_id, id) * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::float8[], $5::timestamptz[])
               AS s(id, tenant_id, metric, value, at) ORDER BY tenant_id, id),
           taken AS (
             INSERT INTO usage_sample_ids (id, tenant_id) SELECT id, tenant_id FROM input
             ON CONFLICT (tenant_id, id) DO NOTHING RETURNING id, tenant_id),
           appended AS (
             INSERT INTO usage_raw (tenant_id, metric, at, value)
             SELECT i.tenant_id, i.metric, i.at, i.value FROM input i JOIN taken USING (tenant_id, id) RETURNING 1)
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
    Ok(Stored::New(new))
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// 422: the batch refused whole, each bad sample by index, field and reason.
fn refuse_whole(problems: &[Problem]) -> Response {
    let list: Vec<Value> =
        problems.iter().map(|p| json!({ "index": p.index, "field": p.field, "reason": p.reason })).collect();
    answer(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({ "error": "the batch was refused whole: nothing of it was written", "problems": list }),
    )
}

/// The problems of a body as its framing names them: a CloudEvent's by
/// attribute, with those only an event can have, in the events' order.
fn named(framing: Framing, mut problems: Vec<Problem>, event_problems: &[Problem]) -> Vec<Problem> {
    if framing != Framing::Samples {
        for p in &mut problems {
            p.field = cloudevents::attribute(p.field);
        }
        problems.extend_from_slice(event_problems);
        problems.sort_by_key(|p| p.index);
    }
    problems
}

/// `POST /api/v1/usage`.
pub async fn handler(State(ingest): State<Arc<Machines>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let now = OffsetDateTime::now_utc();
    let table = ingest.routing.table();
    if let Err(refused) = table.authorize(&headers, TokenScope::Ingest, now) {
        return refused.into_response();
    }
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let Some(framing) = Framing::of(content_type) else {
        return answer(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({ "error": "send application/json, application/cloudevents+json or application/cloudevents-batch+json" }),
        );
    };
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return answer(StatusCode::BAD_REQUEST, json!({ "error": format!("the body is not JSON: {e}") })),
    };
    // CloudEvents are read as the samples they carry, their problems named by attribute.
    let (body, event_problems) = match framing {
        Framing::Samples => (body, Vec::new()),
        events => match cloudevents::as_samples(events, &body) {
            Ok(converted) => converted,
            Err(problems) => return refuse_whole(&problems),
        },
    };
    let named = |problems: Vec<Problem>| named(framing, problems, &event_problems);
    let tenant = |t: &str| {
        let route = match Uuid::parse_str(t) {
            Ok(id) => table.by_id(&id),
            Err(_) => table.by_slug(t),
        };
        route.filter(|r| r.status != TenantStatus::Deleted).map(|r| r.id)
    };
    let samples = match check(&body, tenant, now) {
        Ok(s) if event_problems.is_empty() => s,
        Ok(_) => return refuse_whole(&named(Vec::new())),
        Err(problems) => return refuse_whole(&named(problems)),
    };
    match store(&ingest.pool, &samples).await {
        Ok(Stored::New(new)) => answer(
            StatusCode::OK,
            json!({ "received": samples.len(), "new": new, "known": samples.len() as i64 - new }),
        ),
        Ok(Stored::Closed(problems)) => refuse_whole(&named(problems)),
        Err(err) => {
            tracing::error!(error = %err, "a usage batch could not be written");
            answer(StatusCode::SERVICE_UNAVAILABLE, json!({ "error": "the batch could not be written: send it again" }))
        }
    }
}
