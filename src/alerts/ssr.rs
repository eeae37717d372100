//! Quota alerts on the server: each tenant whose usage moved is measured
//! against its effective quotas, in the transaction that moved it; a change
//! of level is written, audited and queued for webhooks together.

use super::level::{self, Kind, Level};
use super::{AlertRow, NearQuota, OpenAlert};
use crate::audit::{self, Actor, NewEvent};
use crate::domain::limits::Limit;
use crate::quotas::ssr::Standing;
use crate::quotas::EffectiveLimit;
use serde_json::json;
use sqlx::PgConnection;
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// The period an alert belongs to: the month for API calls, none for gauges.
fn period_of(metric: &str, now: OffsetDateTime) -> String {
    if metric == Limit::ApiCalls.metric() {
        format!("{:04}-{:02}", now.year(), now.month() as u8)
    } else {
        String::new()
    }
}

/// Who alerts are raised by in the audit trail.
fn usage_actor() -> Actor {
    Actor { email: Some("usage check".to_string()), role: Some("system".to_string()), ..Actor::default() }
}

/// Measures `tenants` against their quotas and raises the alerts their
/// levels call for; how many it raised. Runs in the caller's transaction
/// (platform scope).
pub async fn evaluate(conn: &mut PgConnection, tenants: &[Uuid]) -> Result<usize, sqlx::Error> {
    if tenants.is_empty() {
        return Ok(0);
    }
    let now: OffsetDateTime = sqlx::query_scalar!(r#"SELECT now() AS "now!""#).fetch_one(&mut *conn).await?;
    let standings = crate::quotas::ssr::standings(&mut *conn, crate::quotas::ssr::Which::Only(tenants)).await?;
    if standings.is_empty() {
        return Ok(0);
    }
    let mut levels: HashMap<(Uuid, String), (String, Level)> = HashMap::new();
    for l in sqlx::query!(
        "SELECT tenant_id, metric, period, level FROM quota_alert_levels WHERE tenant_id = ANY($1)",
        tenants
    )
    .fetch_all(&mut *conn)
    .await?
    {
        levels.insert((l.tenant_id, l.metric), (l.period, Level::from_i16(l.level)));
    }

    let mut raised = 0;
    for standing in &standings {
        let id = standing.tenant_id;
        for limit in &standing.limits {
            let Some(used) = limit.used else { continue };
            let metric = limit.limit.metric();
            let period = period_of(metric, now);
            // A new period starts at the normal level.
            let from = match levels.get(&(id, metric.to_string())) {
                Some((p, l)) if *p == period => *l,
                Some(_) | None => Level::Normal,
            };
            let (to, kind) = level::next(from, used, limit.value);
            let stored = levels.get(&(id, metric.to_string()));
            if stored.is_some_and(|(p, l)| *p == period && *l == to) || (stored.is_none() && to == Level::Normal) {
                continue;
            }
            sqlx::query!(
                "INSERT INTO quota_alert_levels (tenant_id, metric, period, level) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, metric) DO UPDATE SET period = $3, level = $4, changed_at = now()",
                id,
                metric,
                period,
                to as i16
            )
            .execute(&mut *conn)
            .await?;
            if let Some(kind) = kind {
                raise(&mut *conn, standing, limit, kind, &period).await?;
                raised += 1;
            }
        }
    }
    Ok(raised)
}

/// Writes one alert, its audit event and its webhook message.
async fn raise(
    conn: &mut PgConnection,
    standing: &Standing,
    limit: &EffectiveLimit,
    kind: Kind,
    period: &str,
) -> Result<(), sqlx::Error> {
    let (tenant, slug, quota) = (standing.tenant_id, standing.slug.as_str(), limit.value);
    let used = limit.used.unwrap_or(0);
    let limit = limit.limit;
    let metric = limit.metric();
    sqlx::query!(
        "INSERT INTO quota_alerts (tenant_id, metric, kind, used, quota, period) VALUES ($1, $2, $3, $4, $5, $6)",
        tenant,
        metric,
        kind.as_str(),
        used,
        quota,
        period
    )
    .execute(&mut *conn)
    .await?;
    let data = json!({
        "tenant": { "id": tenant, "slug": slug },
        "metric": metric,
        "used": used,
        "quota": quota,
        "utilisation": used as f64 / quota as f64,
        "period": if period.is_empty() { None } else { Some(period) },
    });
    let event = NewEvent::new(kind.as_str()).tenant(tenant).target(slug).after(data.clone());
    audit::record(&mut *conn, &usage_actor(), event).await?;
    crate::webhooks::outbox::enqueue(conn, kind.as_str(), data).await
}

/// The quotas at or over 80 % now, the fullest first.
pub async fn open(conn: &mut PgConnection) -> Result<Vec<OpenAlert>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT l.tenant_id, t.slug, t.name, l.metric, l.level, l.changed_at,
                  a.used AS "used?", a.quota AS "quota?"
           FROM quota_alert_levels l JOIN tenants t ON t.id = l.tenant_id
           LEFT JOIN LATERAL (SELECT used, quota FROM quota_alerts q
                              WHERE q.tenant_id = l.tenant_id AND q.metric = l.metric
                              ORDER BY raised_at DESC, id DESC LIMIT 1) a ON true
           WHERE l.level > 0 AND (l.metric <> 'api_calls' OR l.period = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM'))
           ORDER BY l.level DESC, l.changed_at DESC LIMIT 200"#
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let limit = Limit::from_metric(&r.metric)?;
            Some(OpenAlert {
                tenant_slug: r.slug,
                tenant_name: r.name,
                limit,
                exceeded: r.level == 2,
                used: r.used,
                quota: r.quota,
                since: r.changed_at,
            })
        })
        .collect())
}

/// How many quotas stand at or over 80 % now.
pub async fn open_count(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM quota_alert_levels
           WHERE level > 0 AND (metric <> 'api_calls' OR period = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM'))"#
    )
    .fetch_one(conn)
    .await
}

/// The latest alerts raised, newest first.
/// The usage samples the fold set aside most recently, newest first.
pub async fn quarantined(conn: &mut PgConnection, limit: i64) -> Result<Vec<super::QuarantinedSample>, sqlx::Error> {
    sqlx::query_as!(
        super::QuarantinedSample,
        r#"SELECT t.slug AS "tenant_slug?", q.metric, q.value, q.at, q.reason, q.quarantined_at
           FROM usage_quarantine q LEFT JOIN tenants t ON t.id = q.tenant_id
           ORDER BY q.quarantined_at DESC, q.id DESC LIMIT $1"#,
        limit
    )
    .fetch_all(conn)
    .await
}

/// The latest alerts raised, newest first.
pub async fn recent(conn: &mut PgConnection, limit: i64) -> Result<Vec<AlertRow>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT q.id, t.slug, t.name, q.metric, q.kind, q.used, q.quota, q.raised_at
         FROM quota_alerts q JOIN tenants t ON t.id = q.tenant_id
         ORDER BY q.raised_at DESC, q.id DESC LIMIT $1",
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(AlertRow {
                id: r.id,
                tenant_slug: r.slug,
                tenant_name: r.name,
                limit: Limit::from_metric(&r.metric)?,
                kind: r.kind,
                used: r.used,
                quota: r.quota,
                raised_at: r.raised_at,
            })
        })
        .collect())
}

/// The tenants nearest their quotas: those at or over 80 % of one (their
/// alert level says which), fullest first, with their usage now. Reads the
/// open levels only, never every tenant.
pub async fn nearest(conn: &mut PgConnection, limit: i64) -> Result<Vec<NearQuota>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"WITH open AS (
             SELECT tenant_id, metric FROM quota_alert_levels
             WHERE level > 0 AND (metric <> 'api_calls' OR period = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM')))
           SELECT t.slug, t.name, o.metric, u.used AS "used!", q.quota AS "quota!"
           FROM open o JOIN tenants t ON t.id = o.tenant_id AND t.status <> 'deleted'
           CROSS JOIN LATERAL (
             SELECT CASE WHEN o.metric = 'api_calls'
                         THEN (SELECT calls FROM api_calls c WHERE c.tenant_id = o.tenant_id
                                 AND c.month = date_trunc('month', now() AT TIME ZONE 'UTC')::date)
                         ELSE (SELECT value FROM usage_current s WHERE s.tenant_id = o.tenant_id AND s.metric = o.metric)
                    END AS used) u
           CROSS JOIN LATERAL (
             SELECT quota FROM quota_alerts a WHERE a.tenant_id = o.tenant_id AND a.metric = o.metric
             ORDER BY a.id DESC LIMIT 1) q
           WHERE u.used IS NOT NULL
           ORDER BY u.used::float8 / q.quota DESC, t.slug LIMIT $1"#,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(NearQuota {
                slug: r.slug,
                name: r.name,
                limit: Limit::from_metric(&r.metric)?,
                used: r.used,
                quota: r.quota,
            })
        })
        .collect())
}
