//! Tenant pages: the list with its filters, and the creation form.

use super::domain::isolation_label;
use super::{done_message, list_tenants, CreateTenant, TenantPageData};
use crate::domain::tenant_status::TenantStatus;
use crate::tiers::list_tiers;
use crate::ui::{error_view, format_time, Badge, Button, EmptyState, Flash, FlashKind, FormField, Loaded, Table};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Tenants with search, filters and keyset paging; the filters live in the address.
#[component]
pub fn TenantsPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.read().get(k);
    let page = Resource::new(
        move || (param("q"), param("tier"), param("status"), param("isolation"), param("sort"), param("after")),
        |(q, tier, status, isolation, sort, after)| list_tenants(q, tier, status, isolation, sort, after),
    );
    view! {
        <Title text="Tenants"/>
        {move || param("done").and_then(|c| done_message(&c)).map(|m| view! { <Flash kind=FlashKind::Success message=m/> })}
        <div class="page-head">
            <h1>"Tenants"</h1>
            <a class="btn btn-primary" href="/tenants/new">"New tenant"</a>
        </div>
        <form method="get" action="/tenants" class="filters" role="search" aria-label="Filter tenants">
            <div class="field">
                <label for="filter-q">"Search"</label>
                <input id="filter-q" name="q" type="search" placeholder="Name or slug" value=move || param("q")/>
            </div>
            <div class="field">
                <label for="filter-tier">"Tier"</label>
                <select id="filter-tier" name="tier">
                    <option value="">"All tiers"</option>
                    // Kept while the next page loads: the chosen tier stays chosen.
                    <Transition>
                        {move || Suspend::new(async move {
                            page.await.map(|p| p.tiers).unwrap_or_default().into_iter().map(|t| {
                                let selected = param("tier").as_deref() == Some(t.id.as_str());
                                view! { <option value=t.id.to_string() selected=selected>{t.name}</option> }
                            }).collect_view()
                        })}
                    </Transition>
                </select>
            </div>
            <div class="field">
                <label for="filter-status">"Status"</label>
                <select id="filter-status" name="status">
                    <option value="">"All but deleted"</option>
                    {TenantStatus::ALL.into_iter().map(|s| s.as_str()).map(|s| {
                        view! { <option value=s selected=move || param("status").as_deref() == Some(s)>{s}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="filter-isolation">"Isolation"</label>
                <select id="filter-isolation" name="isolation">
                    <option value="">"All levels"</option>
                    {["1", "2", "3"].into_iter().map(|l| {
                        view! { <option value=l selected=move || param("isolation").as_deref() == Some(l)>{format!("Level {l}")}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="filter-sort">"Sort"</label>
                <select id="filter-sort" name="sort">
                    {[("newest", "Newest first"), ("oldest", "Oldest first"), ("name", "Name A–Z")].into_iter().map(|(v, l)| {
                        view! { <option value=v selected=move || param("sort").as_deref().unwrap_or("newest") == v>{l}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="filters-actions">
                <button type="submit" class="btn">"Apply"</button>
                <a class="btn btn-link" href="/tenants">"Clear"</a>
            </div>
        </form>
        <Loaded resource=page let:data><TenantList data/></Loaded>
    }
}

#[component]
fn TenantList(data: TenantPageData) -> impl IntoView {
    let query = use_query_map();
    if data.tenants.is_empty() {
        let filtered =
            query.with_untracked(|q| ["q", "tier", "status", "isolation", "after"].iter().any(|k| q.get(k).is_some()));
        return if filtered {
            view! { <EmptyState title="No tenant matches" hint="Change or clear the filters."/> }.into_any()
        } else {
            view! { <EmptyState title="No tenants yet" hint="Create the first one with “New tenant”."/> }.into_any()
        };
    }
    let next_href = data.next.map(|cursor| {
        let mut parts = vec![format!("after={cursor}")];
        query.with_untracked(|q| {
            for k in ["q", "tier", "status", "isolation", "sort"] {
                if let Some(v) = q.get(k) {
                    parts.push(format!("{k}={}", crate::ui::url_encode(&v)));
                }
            }
        });
        format!("/tenants?{}", parts.join("&"))
    });
    let headers = ["Name", "Slug", "Tier", "Isolation", "Status", "Region", "Created"]
        .into_iter()
        .map(|h| (h.to_string(), false))
        .collect();
    view! {
        <Table caption="Tenants" headers>
            {data.tenants.into_iter().map(|t| view! {
                <tr>
                    <td><a href=format!("/tenants/{}", t.slug)>{t.name.clone()}</a></td>
                    <td><code>{t.slug.clone()}</code></td>
                    <td><Badge text=t.tier_id.to_string() tone="info"/></td>
                    <td>{t.isolation_level.to_string()}</td>
                    <td><Badge text=t.status.as_str() tone=t.status.tone()/></td>
                    <td>{t.region.clone()}</td>
                    <td class="nowrap">{format_time(t.created_at)}</td>
                </tr>
            }).collect_view()}
        </Table>
        <nav class="pager" aria-label="Pages">
            {query.with_untracked(|q| q.get("after").is_some()).then(|| view! { <a href="/tenants">"First page"</a> })}
            {next_href.map(|h| view! { <a href=h rel="next">"Next page"</a> })}
        </nav>
    }
    .into_any()
}

/// The creation form. What was typed and the errors come back in the form's echo.
#[component]
pub fn NewTenantPage() -> impl IntoView {
    let tiers = Resource::new(|| (), |_| list_tiers());
    let echo = crate::ui::form::use_form_echo();
    view! {
        <Title text="New tenant"/>
        <h1>"New tenant"</h1>
        // Not ui::Loaded: the form's echo and the tiers are awaited together.
        <Suspense fallback=|| view! { <p class="muted" aria-live="polite">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let echo = echo.await;
                match tiers.await {
                    Ok(tiers) => view! { <NewTenantForm tiers echo/> }.into_any(),
                    Err(e) => error_view(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn NewTenantForm(tiers: Vec<crate::tiers::Tier>, echo: crate::ui::form::FormEcho) -> impl IntoView {
    let create = ServerAction::<CreateTenant>::new();
    let echo = crate::ui::form::Echo::new(echo);
    let value = move |k: &str| echo.value(k);
    let error = move |k: &str| echo.error(k);
    view! {
        {echo.form_error().map(|m| view! { <Flash kind=FlashKind::Error message=m/> })}
        {echo.has_field_errors().then(|| view! {
            <Flash kind=FlashKind::Error message="Nothing was created. Correct the fields marked below."/>
        })}
        <ActionForm action=create>
            <div class="form-grid">
                <FormField label="Name" name="name" required=true value=value("name") error=error("name")/>
                <FormField label="Slug" name="slug" value=value("slug") error=error("slug")
                    hint="Lowercase letters, digits and hyphens, 3–63 characters. Left empty, it is made from the name."/>
                <div class="field" class:field-invalid=error("tier").is_some()>
                    <label for="field-tier">"Tier"</label>
                    <select id="field-tier" name="tier" required=true
                        aria-describedby=error("tier").map(|_| "field-tier-error")>
                        <option value="">"Choose a tier"</option>
                        {tiers.into_iter().map(|t| {
                            let levels = t.allowed_isolation_levels.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ");
                            view! {
                                <option value=t.id.to_string() selected=value("tier").as_deref() == Some(t.id.as_str())>
                                    {format!("{} (isolation {levels}; default {})", t.name, t.default_isolation_level)}
                                </option>
                            }
                        }).collect_view()}
                    </select>
                    {error("tier").map(|e| view! { <p class="field-error" id="field-tier-error">{e}</p> })}
                </div>
                <div class="field" class:field-invalid=error("isolation").is_some()>
                    <label for="field-isolation">"Isolation level"</label>
                    <select id="field-isolation" name="isolation"
                        aria-describedby=error("isolation").map(|_| "field-isolation-error")>
                        <option value="">"The tier's default"</option>
                        {crate::domain::isolation::IsolationLevel::ALL.into_iter().map(|l| view! {
                            <option value=l.to_string() selected=value("isolation") == Some(l.to_string())>
                                {isolation_label(l)}
                            </option>
                        }).collect_view()}
                    </select>
                    {error("isolation").map(|e| view! { <p class="field-error" id="field-isolation-error">{e}</p> })}
                </div>
                {super::detail_fields::detail_fields(value, error)}
            </div>
            <div class="form-actions">
                <Button pending=create.pending() pending_label="Creating…">"Create tenant"</Button>
                <a class="btn btn-link" href="/tenants">"Cancel"</a>
            </div>
        </ActionForm>
    }
}
