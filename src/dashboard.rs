//! The dashboard: the platform at a glance and the latest audit events.

use crate::audit::EventSummary;
use crate::error::AppError;
use crate::ui::{format_time, EmptyState, Loaded, Table};
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

/// Figures for the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub tenants: i64,
    pub active_tenants: i64,
    pub users: i64,
    pub recent_events: Vec<EventSummary>,
    /// Tenants at 80 % of a quota or more, nearest first.
    pub near_quota: Vec<NearQuota>,
}

use crate::alerts::NearQuota;

/// The dashboard's figures, for platform staff.
#[server(endpoint = "overview")]
pub async fn load_overview() -> Result<Overview, AppError> {
    let user = crate::auth::session::require_platform_staff().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = crate::server::db::read(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    // Counters kept by the statements that change tenants and users: a few
    // rows read, never 100,000 counted.
    let counts = sqlx::query!(
        r#"SELECT (SELECT coalesce(sum(n), 0) FROM tenant_counts WHERE status <> 'deleted')::bigint AS "tenants!",
                  (SELECT coalesce(sum(n), 0) FROM tenant_counts WHERE status = 'active')::bigint AS "active!",
                  (SELECT coalesce(sum(enabled), 0) FROM user_counts)::bigint AS "users!""#
    )
    .fetch_one(&mut *tx)
    .await?;
    let recent_events = crate::audit::recent(&mut tx, 10).await?;
    let near_quota = crate::alerts::ssr::nearest(&mut tx, 10).await?;
    tx.done().await?;
    Ok(Overview {
        tenants: counts.tenants,
        active_tenants: counts.active,
        users: counts.users,
        recent_events,
        near_quota,
    })
}

/// The home page: the platform at a glance for staff, their own tenant for a tenant admin.
#[component]
pub fn DashboardPage() -> impl IntoView {
    let me = Resource::new(|| (), |_| crate::auth::fetch_current_user());
    view! {
        // Not ui::Loaded: the signed-in user's role chooses the page; the staff dashboard reports its own failures.
        <Suspense fallback=|| view! { <p class="muted" aria-live="polite">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(u) if u.role == crate::auth::Role::TenantAdmin => view! { <crate::tenants::MyTenantPage/> }.into_any(),
                    _ => view! { <StaffDashboard/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn StaffDashboard() -> impl IntoView {
    let data = Resource::new(|| (), |_| load_overview());
    view! {
        <Title text="Dashboard"/>
        <h1>"Dashboard"</h1>
        <Loaded resource=data let:overview><OverviewView overview/></Loaded>
    }
}

#[component]
fn OverviewView(overview: Overview) -> impl IntoView {
    let events = overview.recent_events;
    view! {
        <section class="cards" aria-label="Figures">
            <div class="card"><p class="card-label">"Tenants"</p><p class="card-value num">{overview.tenants}</p></div>
            <div class="card"><p class="card-label">"Active tenants"</p><p class="card-value num">{overview.active_tenants}</p></div>
            <div class="card"><p class="card-label">"Users"</p><p class="card-value num">{overview.users}</p></div>
        </section>
        {(overview.tenants == 0).then(|| view! {
            <EmptyState title="No tenants yet" hint="Tenants appear here once a platform admin creates them."/>
        })}
        <NearQuotaView tenants=overview.near_quota/>
        <div class="page-head">
            <h2>"Recent activity"</h2>
            <a href="/audit">"The whole audit trail"</a>
        </div>
        {if events.is_empty() {
            view! { <EmptyState title="No audit events yet" hint="Sign-ins and changes are recorded here as they happen."/> }.into_any()
        } else {
            view! {
                <Table caption="Recent audit events" headers=vec![("When".into(), false), ("Who".into(), false), ("Action".into(), false), ("Target".into(), false)]>
                    {events.into_iter().map(|e| view! {
                        <tr>
                            <td class="nowrap"><a href=format!("/audit/{}", e.id)>{format_time(e.occurred_at)}</a></td>
                            <td>{e.actor_email.unwrap_or_else(|| "—".to_string())}</td>
                            <td><code>{e.action}</code></td>
                            <td>{e.target.unwrap_or_default()}</td>
                        </tr>
                    }).collect_view()}
                </Table>
            }.into_any()
        }}
    }
}

#[component]
fn NearQuotaView(tenants: Vec<NearQuota>) -> impl IntoView {
    view! {
        <div class="page-head">
            <h2>"Nearest their quotas"</h2>
            <a href="/alerts">"All alerts"</a>
        </div>
        {if tenants.is_empty() {
            view! { <EmptyState title="No tenant at 80 % of a quota" hint="Tenants at 80 % of any quota or more are listed here, fullest first."/> }.into_any()
        } else {
            view! {
                <Table caption="Tenants nearest their quotas" headers=vec![("Tenant".into(), false), ("Quota".into(), false), ("Usage".into(), false), ("State".into(), false)]>
                    {tenants.into_iter().map(|t| {
                        let over = t.used >= t.quota;
                        let caption = format!("{} of {} ({} %)", t.limit.format(t.used), t.limit.format(t.quota), crate::alerts::percent(t.used, t.quota));
                        let throttled = over && t.limit == crate::domain::limits::Limit::ApiCalls;
                        view! {
                            <tr>
                                <th scope="row"><a href=format!("/tenants/{}/usage", t.slug)>{t.name}</a></th>
                                <td>{t.limit.label()}</td>
                                <td><crate::ui::MeterBar label=t.limit.label().to_string() used=t.used as f64 limit=t.quota as f64 caption/></td>
                                <td>{match (over, throttled) {
                                    (true, true) => view! { <crate::ui::Badge text="throttled" tone="danger"/> }.into_any(),
                                    (true, false) => view! { <crate::ui::Badge text="over 100 %" tone="danger"/> }.into_any(),
                                    _ => view! { <crate::ui::Badge text="over 80 %" tone="warning"/> }.into_any(),
                                }}</td>
                            </tr>
                        }
                    }).collect_view()}
                </Table>
            }.into_any()
        }}
    }
}
