//! Usage queries, server only.

use sqlx::PgConnection;
use uuid::Uuid;

/// The 30-day charts of a tenant: each reported metric's hourly peaks, and
/// its API calls per day, against the quotas in `limits`. Two range reads on
/// the tables' primary keys, whatever the history's length.
pub async fn charts(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    limits: &[crate::quotas::EffectiveLimit],
) -> Result<(String, String, Vec<super::Chart>), sqlx::Error> {
    use super::{Chart, Day, CHART_DAYS, GAUGES};
    use std::collections::BTreeMap;
    let start = sqlx::query_scalar!(
        r#"SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - make_interval(days => $1::int - 1) AS "start!""#,
        CHART_DAYS as i32
    )
    .fetch_one(&mut *conn)
    .await?;
    let metrics: Vec<String> = GAUGES.iter().map(|(m, _, _)| m.to_string()).collect();
    let hours = sqlx::query!(
        r#"SELECT metric, hour, max_value, sum_value, samples FROM usage_hourly
           WHERE tenant_id = $1 AND metric = ANY($2) AND hour >= $3 ORDER BY metric, hour"#,
        tenant_id,
        &metrics,
        start
    )
    .fetch_all(&mut *conn)
    .await?;
    let calls = sqlx::query!(
        "SELECT day, calls FROM api_calls_daily WHERE tenant_id = $1 AND day >= $2::timestamptz::date ORDER BY day",
        tenant_id,
        start
    )
    .fetch_all(&mut *conn)
    .await?;
    let day_of = |t: time::OffsetDateTime| t.date().to_string();
    let quota = |limit: crate::domain::limits::Limit| limits.iter().find(|l| l.limit == limit).map(|l| l.value);
    let mut charts = Vec::new();
    for (metric, limit, title) in GAUGES {
        let mine: Vec<_> = hours.iter().filter(|h| h.metric == metric).collect();
        let points =
            mine.iter().map(|h| (((h.hour - start).whole_hours()).max(0) as u32, h.max_value)).collect::<Vec<_>>();
        let mut by_day: BTreeMap<String, (f64, f64, i64)> = BTreeMap::new();
        for h in &mine {
            let e = by_day.entry(day_of(h.hour)).or_insert((0.0, 0.0, 0));
            e.0 = e.0.max(h.max_value);
            e.1 += h.sum_value;
            e.2 += h.samples;
        }
        let days =
            by_day.into_iter().map(|(day, (peak, sum, n))| Day { day, average: sum / n.max(1) as f64, peak }).collect();
        charts.push(Chart {
            metric: metric.to_string(),
            title: title.to_string(),
            limit,
            quota: quota(limit),
            points,
            bars: false,
            days,
        });
    }
    let start_day = start.date();
    charts.push(Chart {
        metric: "api_calls".to_string(),
        title: "API calls per day".to_string(),
        limit: crate::domain::limits::Limit::ApiCalls,
        quota: None,
        points: calls.iter().map(|c| (((c.day - start_day).whole_days()).max(0) as u32, c.calls as f64)).collect(),
        bars: true,
        days: calls
            .iter()
            .map(|c| Day { day: c.day.to_string(), average: c.calls as f64, peak: c.calls as f64 })
            .collect(),
    });
    let end = start_day + time::Duration::days(CHART_DAYS - 1);
    Ok((start_day.to_string(), end.to_string(), charts))
}
