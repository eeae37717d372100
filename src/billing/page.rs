//! `/billing`: download a month's figures (CSV or JSON), and the months closed.

use super::{billing_periods, BillingOverview, ClosedPeriod};
use crate::ui::{format_time, EmptyState, Loaded, Table};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn BillingPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| billing_periods());
    view! {
        <Title text="Billing"/>
        <h1>"Billing"</h1>
        <p class="muted">"Each tenant's figures for a calendar month (UTC): tier, limits, API calls, peak and average of each reported gauge, and the overage per limit. Machines read the same from "
            <code>"GET /api/v1/billing?period=YYYY-MM"</code>" with a " <code>"billing"</code>" token."</p>
        <Loaded resource=data let:overview><BillingView overview/></Loaded>
    }
}

#[component]
fn BillingView(overview: BillingOverview) -> impl IntoView {
    let BillingOverview { last_month, closed } = overview;
    view! {
        <section aria-labelledby="export-title">
            <h2 id="export-title">"Export a month"</h2>
            // A plain GET form: the browser downloads the file, with or without JavaScript.
            <form method="get" action="/billing/export" class="filters">
                <div class="field">
                    <label for="field-period">"Month"</label>
                    <input id="field-period" name="period" type="month" required=true min="2000-01"
                        placeholder="YYYY-MM" pattern="[0-9]{4}-[0-9]{2}" value=last_month/>
                </div>
                <div class="field">
                    <label for="field-format">"Format"</label>
                    <select id="field-format" name="format">
                        <option value="csv" selected=true>"CSV (one row per tenant)"</option>
                        <option value="json">"JSON"</option>
                    </select>
                </div>
                <div class="filters-actions"><button type="submit" class="btn btn-primary">"Download"</button></div>
            </form>
        </section>
        <section aria-labelledby="closed-title">
            <h2 id="closed-title">"Months closed"</h2>
            <p class="muted">"When a month ends, its figures go to the webhooks that asked for " <code>"billing.period_closed"</code>"."</p>
            <ClosedView periods=closed/>
        </section>
    }
}

#[component]
fn ClosedView(periods: Vec<ClosedPeriod>) -> impl IntoView {
    if periods.is_empty() {
        return view! { <EmptyState title="No month closed yet" hint="A month closes as soon as it ends."/> }
            .into_any();
    }
    let headers = ["Month", "Closed", "Tenants", ""].into_iter().map(|h| (h.to_string(), false)).collect();
    view! {
        <Table caption="Months closed" headers>
            {periods.into_iter().map(|p| view! {
                <tr>
                    <th scope="row">{p.period.clone()}</th>
                    <td class="nowrap">{format_time(p.closed_at)}</td>
                    <td class="num">{p.tenants}</td>
                    <td><a href=format!("/billing/export?period={}&format=csv", p.period) download="">"CSV"</a>" · "
                        <a href=format!("/billing/export?period={}&format=json", p.period) download="">"JSON"</a></td>
                </tr>
            }).collect_view()}
        </Table>
    }
    .into_any()
}
