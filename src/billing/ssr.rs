//! Billing figures on the server: read per month, written as CSV or JSON,
//! and each month's closing announced once to the billing webhooks.

use super::{ClosedPeriod, Period};
use crate::audit::{self, Actor, NewEvent};
use crate::domain::limits::Limit;
use crate::server::db::{self, Scope};
use crate::usage::GAUGES;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use uuid::Uuid;

/// Tenants per `billing.period_closed` message: a month of 100,000 tenants
/// goes out as 200 messages of a few hundred kilobytes, not one of 50 MB.
pub const TENANTS_PER_MESSAGE: usize = 500;

/// One reported gauge over a month against its quota.
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    pub metric: &'static str,
    /// None when nothing was reported that month.
    pub peak: Option<f64>,
    pub average: Option<f64>,
    pub quota: i64,
    /// How far the peak went over the quota (0 when it did not).
    pub overage: f64,
}

/// One tenant's figures for one month.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    pub tenant_id: Uuid,
    pub slug: String,
    pub name: String,
    pub tier: String,
    pub period: Period,
    pub api_calls: i64,
    pub api_calls_quota: i64,
    pub api_calls_overage: i64,
    pub gauges: Vec<Gauge>,
}

/// Every tenant's figures for `period`: the tenants that existed in it
/// (deleted ones only if they used something), by slug. Limits are those in
/// force when read: the tier, the environment's factor and the overrides.
/// A closed month's adjustments are applied (see [`super::adjust`]).
pub async fn figures(conn: &mut PgConnection, period: Period) -> Result<Vec<Figures>, sqlx::Error> {
    figures_of(conn, period, None).await
}

/// The figures of `period`, of one tenant only when `only` names it.
pub async fn figures_of(
    conn: &mut PgConnection,
    period: Period,
    only: Option<Uuid>,
) -> Result<Vec<Figures>, sqlx::Error> {
    let start = period.first_day();
    let end = Period::of(start + time::Duration::days(31)).first_day();
    let mut gauges: HashMap<(Uuid, String), (f64, f64)> = HashMap::new();
    for g in sqlx::query!(
        r#"SELECT tenant_id, metric, max(max_value) AS "peak!", sum(sum_value) / sum(samples) AS "average!"
           FROM usage_hourly WHERE hour >= $1::date AND hour < $2::date AND ($3::uuid IS NULL OR tenant_id = $3)
           GROUP BY tenant_id, metric"#,
        start,
        end,
        only
    )
    .fetch_all(&mut *conn)
    .await?
    {
        gauges.insert((g.tenant_id, g.metric), (g.peak, g.average));
    }
    // Adjustments: API calls by the sum of their changes, a gauge's peak by its newest.
    let mut calls_adjusted: HashMap<Uuid, i64> = HashMap::new();
    for a in sqlx::query!(
        r#"SELECT DISTINCT ON (tenant_id, metric) tenant_id, metric, value,
                  (sum(value) OVER (PARTITION BY tenant_id, metric))::bigint AS "total!"
           FROM billing_adjustments WHERE month = $1 AND ($2::uuid IS NULL OR tenant_id = $2)
           ORDER BY tenant_id, metric, id DESC"#,
        start,
        only
    )
    .fetch_all(&mut *conn)
    .await?
    {
        if a.metric == "api_calls" {
            calls_adjusted.insert(a.tenant_id, a.total);
        } else {
            let peak = a.value as f64;
            let entry = gauges.entry((a.tenant_id, a.metric)).or_insert((peak, peak));
            *entry = (peak, entry.1.min(peak));
        }
    }
    // Quotas as the tenants' standing has them (deleted tenants included: they
    // may have been billed in this month).
    let mut quotas: HashMap<Uuid, Vec<crate::quotas::EffectiveLimit>> = crate::quotas::ssr::standings(
        &mut *conn,
        crate::quotas::ssr::Which::Ever(only.as_ref().map(std::slice::from_ref)),
    )
    .await?
    .into_iter()
    .map(|s| (s.tenant_id, s.limits))
    .collect();
    let used: std::collections::HashSet<Uuid> = gauges.keys().map(|(t, _)| *t).collect();
    let tenants = sqlx::query!(
        r#"SELECT t.id, t.slug, t.name, t.tier_id, t.status, coalesce(c.calls, 0) AS "calls!"
           FROM tenants t LEFT JOIN api_calls c ON c.tenant_id = t.id AND c.month = $1
           WHERE t.created_at < $2::date AND ($3::uuid IS NULL OR t.id = $3) ORDER BY t.slug"#,
        start,
        end,
        only
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut rows = Vec::with_capacity(tenants.len());
    for mut t in tenants {
        if let Some(change) = calls_adjusted.get(&t.id) {
            t.calls = (t.calls + change).max(0);
        }
        if t.status == "deleted" && t.calls == 0 && !used.contains(&t.id) && !calls_adjusted.contains_key(&t.id) {
            continue;
        }
        let Some(limits) = quotas.remove(&t.id) else { continue };
        let quota = |limit: Limit| limits.iter().find(|l| l.limit == limit).map(|l| l.value).unwrap_or(0);
        let api_calls_quota = quota(Limit::ApiCalls);
        rows.push(Figures {
            tenant_id: t.id,
            slug: t.slug,
            name: t.name,
            tier: t.tier_id,
            period,
            api_calls: t.calls,
            api_calls_quota,
            api_calls_overage: (t.calls - api_calls_quota).max(0),
            gauges: GAUGES
                .iter()
                .map(|(metric, limit, _)| {
                    let figures = gauges.get(&(t.id, metric.to_string()));
                    let q = quota(*limit);
                    Gauge {
                        metric,
                        peak: figures.map(|f| f.0),
                        average: figures.map(|f| f.1),
                        quota: q,
                        overage: figures.map(|f| (f.0 - q as f64).max(0.0)).unwrap_or(0.0),
                    }
                })
                .collect(),
        });
    }
    Ok(rows)
}

/// The CSV header: one column per figure.
pub fn csv_header() -> String {
    let mut columns: Vec<String> =
        ["tenant_id", "slug", "name", "tier", "period", "api_calls", "api_calls_quota", "api_calls_overage"]
            .iter()
            .map(|c| c.to_string())
            .collect();
    for (metric, _, _) in GAUGES {
        for figure in ["peak", "average", "quota", "overage"] {
            columns.push(format!("{metric}_{figure}"));
        }
    }
    columns.join(",") + "\r\n"
}

fn number(v: Option<f64>) -> String {
    // Whole units are written whole; averages keep three decimals.
    match v {
        None => String::new(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
        Some(v) => format!("{v:.3}"),
    }
}

/// One tenant's figures as a CSV record (RFC 4180, formulas defused).
pub fn csv_line(out: &mut String, f: &Figures) {
    use crate::trail::export::csv_field;
    let fields = [
        f.tenant_id.to_string(),
        f.slug.clone(),
        f.name.clone(),
        f.tier.clone(),
        f.period.to_string(),
        f.api_calls.to_string(),
        f.api_calls_quota.to_string(),
        f.api_calls_overage.to_string(),
    ];
    let gauges =
        f.gauges.iter().flat_map(|g| [number(g.peak), number(g.average), g.quota.to_string(), number(Some(g.overage))]);
    for (i, value) in fields.into_iter().chain(gauges).enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, &value);
    }
    out.push_str("\r\n");
}

/// The whole month as CSV: the header, then a record per tenant.
pub fn csv(rows: &[Figures]) -> String {
    let mut out = csv_header();
    for r in rows {
        csv_line(&mut out, r);
    }
    out
}

/// One tenant's figures as JSON.
pub fn json_row(f: &Figures) -> Value {
    let gauges: serde_json::Map<String, Value> = f
        .gauges
        .iter()
        .map(|g| {
            (
                g.metric.to_string(),
                json!({ "peak": g.peak, "average": g.average, "quota": g.quota, "overage": g.overage }),
            )
        })
        .collect();
    json!({
        "tenant": { "id": f.tenant_id, "slug": f.slug, "name": f.name },
        "tier": f.tier,
        "period": f.period.to_string(),
        "api_calls": { "count": f.api_calls, "quota": f.api_calls_quota, "overage": f.api_calls_overage },
        "gauges": gauges,
    })
}

/// The whole month as JSON.
pub fn json(period: Period, rows: &[Figures]) -> Value {
    json!({ "period": period.to_string(), "tenants": rows.iter().map(json_row).collect::<Vec<_>>() })
}

/// The months closed so far, newest first.
pub async fn closed(conn: &mut PgConnection) -> Result<Vec<ClosedPeriod>, sqlx::Error> {
    let rows = sqlx::query!("SELECT month, closed_at, tenants FROM billing_periods ORDER BY month DESC LIMIT 36")
        .fetch_all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| ClosedPeriod { period: Period::of(r.month).to_string(), closed_at: r.closed_at, tenants: r.tenants })
        .collect())
}

/// Closes the month before the database's current one if no console has:
/// its figures go to the billing webhooks, in parts, with the closing, once.
/// Answers the month closed, if any.
pub async fn close_due(pool: &PgPool) -> Result<Option<Period>, sqlx::Error> {
    let mut tx = db::begin(pool, Scope::Platform).await?;
    let today: time::Date =
        sqlx::query_scalar!(r#"SELECT (now() AT TIME ZONE 'UTC')::date AS "d!""#).fetch_one(&mut *tx).await?;
    let period = Period::of(today).previous();
    // Taken by one console only: the others find the row and stop.
    let taken = sqlx::query_scalar!(
        "INSERT INTO billing_periods (month, tenants) VALUES ($1, 0) ON CONFLICT (month) DO NOTHING RETURNING month",
        period.first_day()
    )
    .fetch_optional(&mut *tx)
    .await?;
    if taken.is_none() {
        return Ok(None);
    }
    let rows = figures(&mut tx, period).await?;
    sqlx::query!("UPDATE billing_periods SET tenants = $2 WHERE month = $1", period.first_day(), rows.len() as i32)
        .execute(&mut *tx)
        .await?;
    let parts = rows.len().div_ceil(TENANTS_PER_MESSAGE).max(1);
    for (i, chunk) in rows.chunks(TENANTS_PER_MESSAGE).enumerate().chain(
        // A month without tenants is announced too.
        (rows.is_empty()).then_some((0, &rows[..])),
    ) {
        let data = json!({
            "period": period.to_string(),
            "part": i + 1,
            "parts": parts,
            "tenants": chunk.iter().map(json_row).collect::<Vec<_>>(),
        });
        crate::webhooks::outbox::enqueue(&mut tx, "billing.period_closed", data).await?;
    }
    let actor = Actor { email: Some("billing".to_string()), role: Some("system".to_string()), ..Actor::default() };
    let event = NewEvent::new("billing.period_closed")
        .target(period.to_string())
        .after(json!({ "period": period.to_string(), "tenants": rows.len(), "messages": parts }));
    audit::record(&mut tx, &actor, event).await?;
    tx.commit().await?;
    Ok(Some(period))
}

/// Closes each month as soon as it ends (checked every ten minutes), in the background.
pub fn spawn_closer(pool: PgPool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match close_due(&pool).await {
                Ok(Some(p)) => tracing::info!(period = %p, "billing period closed"),
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, "the billing period could not be closed; trying again later"),
            }
        }
    });
}
