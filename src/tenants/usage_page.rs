//! `/tenants/{slug}/usage` (platform staff) and `/usage` (a tenant admin's
//! own): a meter per quota and a 30-day chart per metric with the quota and
//! its 80 % mark, drawn on the server.

use crate::error::AppError;
use crate::quotas::EffectiveLimit;
use crate::ui::chart::{Chart as ChartView, ChartData};
use crate::ui::{EmptyState, Loaded, MeterBar};
use crate::usage::{Chart, UsageReport, CHART_DAYS};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// A tenant's usage: `slug` for platform staff, none for a tenant admin's own
/// (a tenant admin naming another tenant finds nothing: the database's scope).
#[server(endpoint = "tenant_usage")]
pub async fn tenant_usage(slug: Option<String>) -> Result<UsageReport, AppError> {
    let user = crate::auth::session::require_user().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = crate::server::db::read(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let slug = match slug.filter(|s| !s.is_empty()) {
        Some(s) => crate::domain::slug::Slug::parse(&s).map_err(|_| AppError::NotFound)?.to_string(),
        None => {
            sqlx::query_scalar!("SELECT slug FROM tenants").fetch_optional(&mut *tx).await?.ok_or(AppError::NotFound)?
        }
    };
    let detail = super::ssr::detail(&mut tx, &slug).await?.ok_or(AppError::NotFound)?;
    let (from, to, charts) = crate::usage::ssr::charts(&mut tx, detail.tenant.id, &detail.limits).await?;
    tx.done().await?;
    Ok(UsageReport { slug: detail.tenant.slug, name: detail.tenant.name, limits: detail.limits, from, to, charts })
}

#[component]
pub fn UsagePage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("slug");
    let data = Resource::new(slug, tenant_usage);
    view! {
        <Title text="Usage"/>
        <Loaded resource=data let:report><UsageView report/></Loaded>
    }
}

#[component]
fn UsageView(report: UsageReport) -> impl IntoView {
    let UsageReport { slug, name, limits, from, to, charts } = report;
    let meters = limits.iter().filter_map(meter).collect_view();
    let has_meters = limits.iter().any(|l| l.used.is_some());
    let middle = middle_day(&from);
    view! {
        <div class="page-head">
            <h1>{format!("Usage · {name}")}</h1>
            <a class="btn btn-link" href=format!("/tenants/{slug}")>"Back to the tenant"</a>
        </div>
        <section aria-labelledby="meters-title">
            <h2 id="meters-title">"Now"</h2>
            {if has_meters {
                view! { <div class="meters">{meters}</div> }.into_any()
            } else {
                view! { <EmptyState title="No usage reported yet" hint="Usage appears once the platform reports it through the ingestion API, or API calls pass the routing check."/> }.into_any()
            }}
        </section>
        <section aria-labelledby="charts-title">
            <h2 id="charts-title">{format!("Last {CHART_DAYS} days")}</h2>
            <div class="charts">
                {charts.into_iter().map(|c| view! { <MetricChart chart=c labels=[from.clone(), middle.clone(), to.clone()]/> }.into_any()).collect_view()}
            </div>
        </section>
    }
    .into_any()
}

fn meter(l: &EffectiveLimit) -> Option<impl IntoView> {
    let used = l.used?;
    let caption = format!(
        "{} of {} ({} %)",
        l.limit.format(used),
        l.limit.format(l.value),
        crate::alerts::percent(used, l.value)
    );
    Some(view! { <MeterBar label=l.limit.label().to_string() used=used as f64 limit=l.value as f64 caption/> })
}

/// The date half-way through the charts (`from` plus half the days).
fn middle_day(from: &str) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(from, &format).map(|d| (d + time::Duration::days(CHART_DAYS / 2)).to_string()).unwrap_or_default()
}

fn formatter(limit: crate::domain::limits::Limit) -> fn(f64) -> String {
    use crate::domain::limits::Limit;
    match limit {
        Limit::Cpu => |v| crate::ui::format_cpu(v.round() as i64),
        Limit::Memory | Limit::Storage => |v| crate::ui::format_bytes(v.round() as i64),
        _ => |v| crate::ui::format_count(v.round() as i64),
    }
}

/// What a screen reader hears of a chart: its peak, its quota, and the days at or over 80 %.
fn describe(chart: &Chart, format: fn(f64) -> String) -> String {
    let Some(peak) = chart.days.iter().max_by(|a, b| a.peak.total_cmp(&b.peak)) else {
        return "No data in these 30 days.".into();
    };
    let mut text = format!("Peak {} on {}.", format(peak.peak), peak.day);
    if let Some(q) = chart.quota {
        let hot = chart.days.iter().filter(|d| d.peak >= q as f64 * 0.8).count();
        text.push_str(&format!(
            " Quota {}; at or over 80 % on {hot} of {} days with data.",
            format(q as f64),
            chart.days.len()
        ));
    }
    text
}

#[component]
fn MetricChart(chart: Chart, labels: [String; 3]) -> impl IntoView {
    let format = formatter(chart.limit);
    let description = describe(&chart, format);
    let span = if chart.bars { CHART_DAYS as u32 } else { CHART_DAYS as u32 * 24 };
    let data = ChartData {
        id: format!("chart-{}", chart.metric),
        title: chart.title.clone(),
        description,
        points: chart.points.clone(),
        span,
        bars: chart.bars,
        quota: chart.quota.map(|q| q as f64),
        x_labels: labels,
        format,
    };
    let rows = chart
        .days
        .iter()
        .map(|d| view! { <tr><th scope="row">{d.day.clone()}</th><td class="num">{format(d.average)}</td><td class="num">{format(d.peak)}</td></tr> }.into_any())
        .collect_view();
    let (avg_head, peak_head) = if chart.bars { ("Calls", "Calls") } else { ("Average", "Peak") };
    view! {
        <figure class="chart-box">
            <figcaption>{chart.title.clone()}</figcaption>
            {if chart.points.is_empty() {
                view! { <p class="muted">"No data in these 30 days."</p> }.into_any()
            } else {
                view! { <ChartView data/> }.into_any()
            }}
            {(!chart.days.is_empty()).then(|| view! {
                <details>
                    <summary>{format!("{} in numbers", chart.title)}</summary>
                    <table class="table">
                        <thead><tr><th scope="col">"Day (UTC)"</th><th scope="col" class="num">{avg_head}</th><th scope="col" class="num">{peak_head}</th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                </details>
            }.into_any())}
        </figure>
    }
    .into_any()
}
