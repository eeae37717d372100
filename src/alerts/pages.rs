//! `/alerts`: the quotas standing at or over 80 % now, and the alerts raised.

use super::{percent, quota_alerts, AlertRow, AlertsOverview, OpenAlert, QuarantinedSample};
use crate::ui::{format_time, Badge, EmptyState, Loaded, Table};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn AlertsPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| quota_alerts());
    view! {
        <Title text="Alerts"/>
        <h1>"Alerts"</h1>
        <p class="muted">"A tenant passing 80 % or 100 % of a quota raises one alert; it is raised again only after usage falls back under 75 % (or 95 % for the 100 % alert). Each alert is in the audit trail and goes to the webhooks that asked for it."</p>
        <Loaded resource=data let:overview><AlertsView overview/></Loaded>
    }
}

#[component]
fn AlertsView(overview: AlertsOverview) -> impl IntoView {
    let AlertsOverview { open, recent, quarantined } = overview;
    let quarantine_view = quarantined.map(|rows| {
        let list = if rows.is_empty() {
            view! { <EmptyState title="No usage sample set aside" hint="Samples the fold cannot take (a value no quota can hold, a tenant that does not exist, a month closed for billing) would be listed here, with the reason."/> }.into_any()
        } else {
            let headers = ["Set aside", "Tenant", "Metric", "Value", "Dated", "Reason"]
                .into_iter()
                .map(|h| (h.to_string(), h == "Value"))
                .collect();
            view! {
                <Table caption="Usage samples set aside" headers>
                    {rows.into_iter().map(|q| view! { <QuarantineLine sample=q/> }).collect_view()}
                </Table>
            }
            .into_any()
        };
        view! {
            <section aria-labelledby="quarantine-title">
                <h2 id="quarantine-title">"Usage samples set aside"</h2>
                <p class="muted">"The fold sets aside what it cannot take, so one bad sample never holds up every tenant's usage. The 50 most recent; the rest are in the usage_quarantine table."</p>
                {list}
            </section>
        }
    });
    let open_view = if open.is_empty() {
        view! { <EmptyState title="No quota at or over 80 %" hint="Alerts appear here when a tenant's usage passes 80 % of a quota."/> }.into_any()
    } else {
        let headers =
            ["Tenant", "Quota", "Level", "When raised", "Since"].into_iter().map(|h| (h.to_string(), false)).collect();
        view! {
            <Table caption="Quotas at or over 80 % now" headers>
                {open.into_iter().map(|a| view! { <OpenLine alert=a/> }).collect_view()}
            </Table>
        }
        .into_any()
    };
    let recent_view = if recent.is_empty() {
        view! { <EmptyState title="No alert raised yet" hint="Usage reported through the ingestion API and API calls counted by the routing check are measured against each quota."/> }.into_any()
    } else {
        let headers =
            ["Raised", "Tenant", "Quota", "Alert", "Usage"].into_iter().map(|h| (h.to_string(), false)).collect();
        view! {
            <Table caption="Latest alerts" headers>
                {recent.into_iter().map(|a| view! { <AlertLine alert=a/> }).collect_view()}
            </Table>
        }
        .into_any()
    };
    view! {
        <section aria-labelledby="open-title">
            <h2 id="open-title">"Now"</h2>
            {open_view}
        </section>
        <section aria-labelledby="recent-title">
            <h2 id="recent-title">"Raised"</h2>
            {recent_view}
        </section>
        {quarantine_view}
    }
}

#[component]
fn QuarantineLine(sample: QuarantinedSample) -> impl IntoView {
    view! {
        <tr>
            <td class="nowrap">{format_time(sample.quarantined_at)}</td>
            <th scope="row">{sample.tenant_slug.unwrap_or_else(|| "(no such tenant)".into())}</th>
            <td><code>{sample.metric}</code></td>
            <td class="num">{format!("{}", sample.value)}</td>
            <td class="nowrap">{format_time(sample.at)}</td>
            <td>{sample.reason}</td>
        </tr>
    }
}

fn usage_text(limit: crate::domain::limits::Limit, used: i64, quota: i64) -> String {
    format!("{} of {} ({} %)", limit.format(used), limit.format(quota), percent(used, quota))
}

#[component]
fn OpenLine(alert: OpenAlert) -> impl IntoView {
    let (level, tone) = if alert.exceeded { ("100 % reached", "danger") } else { ("80 % passed", "warning") };
    let raised = match (alert.used, alert.quota) {
        (Some(u), Some(q)) => usage_text(alert.limit, u, q),
        _ => String::new(),
    };
    view! {
        <tr>
            <th scope="row"><a href=format!("/tenants/{}", alert.tenant_slug)>{alert.tenant_name}</a></th>
            <td>{alert.limit.label()}</td>
            <td><Badge text=level tone/></td>
            <td>{raised}</td>
            <td class="nowrap">{format_time(alert.since)}</td>
        </tr>
    }
}

#[component]
fn AlertLine(alert: AlertRow) -> impl IntoView {
    let (word, tone) = match alert.kind.as_str() {
        "quota.exceeded" => ("100 % reached", "danger"),
        "quota.warning" => ("80 % passed", "warning"),
        _ => ("back under 75 %", "success"),
    };
    view! {
        <tr>
            <td class="nowrap">{format_time(alert.raised_at)}</td>
            <th scope="row"><a href=format!("/tenants/{}", alert.tenant_slug)>{alert.tenant_name.clone()}</a></th>
            <td>{alert.limit.label()}</td>
            <td><Badge text=word tone/></td>
            <td>{usage_text(alert.limit, alert.used, alert.quota)}</td>
        </tr>
    }
}
