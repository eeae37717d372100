//! Tenant pages: the list, the creation form and a tenant's page.

use super::domain::{isolation_label, COMPLIANCE, ENVIRONMENTS, REGIONS};
use super::{get_tenant, list_tenants, status_tone, CreateTenant, TenantDetail, TenantPageData};
use crate::tiers::list_tiers;
use crate::ui::{format_time, Badge, Button, EmptyState, Flash, FlashKind, FormField, Table};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

fn error_box(e: crate::error::AppError) -> AnyView {
    view! { <div class="flash flash-error" role="alert">{e.to_string()}</div> }.into_any()
}

/// Tenants with search, filters and keyset paging; the filters live in the address.
#[component]
pub fn TenantsPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.read().get(k);
    let page = Resource::new(
        move || (param("q"), param("tier"), param("status"), param("after")),
        |(q, tier, status, after)| list_tenants(q, tier, status, after),
    );
    let tiers = Resource::new(|| (), |_| list_tiers());
    view! {
        <Title text="Tenants"/>
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
                    <Suspense>
                        {move || Suspend::new(async move {
                            tiers.await.unwrap_or_default().into_iter().map(|t| {
                                let selected = param("tier").as_deref() == Some(t.id.as_str());
                                view! { <option value=t.id.clone() selected=selected>{t.name}</option> }
                            }).collect_view()
                        })}
                    </Suspense>
                </select>
            </div>
            <div class="field">
                <label for="filter-status">"Status"</label>
                <select id="filter-status" name="status">
                    <option value="">"All but deleted"</option>
                    {["provisioning", "active", "suspended", "deleted"].into_iter().map(|s| {
                        view! { <option value=s selected=move || param("status").as_deref() == Some(s)>{s}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="filters-actions">
                <button type="submit" class="btn">"Apply"</button>
                <a class="btn btn-link" href="/tenants">"Clear"</a>
            </div>
        </form>
        <Suspense fallback=|| view! { <p class="muted" aria-live="polite">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(data) => view! { <TenantList data/> }.into_any(),
                    Err(e) => error_box(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn TenantList(data: TenantPageData) -> impl IntoView {
    let query = use_query_map();
    if data.tenants.is_empty() {
        let filtered = query.with_untracked(|q| ["q", "tier", "status", "after"].iter().any(|k| q.get(k).is_some()));
        return if filtered {
            view! { <EmptyState title="No tenant matches" hint="Change or clear the filters."/> }.into_any()
        } else {
            view! { <EmptyState title="No tenants yet" hint="Create the first one with “New tenant”."/> }.into_any()
        };
    }
    let next_href = data.next.map(|cursor| {
        let mut parts = vec![format!("after={cursor}")];
        query.with_untracked(|q| {
            for k in ["q", "tier", "status"] {
                if let Some(v) = q.get(k) {
                    parts.push(format!("{k}={}", js_encode(&v)));
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
                    <td><Badge text=t.tier_id.clone() tone="info"/></td>
                    <td>{t.isolation_level}</td>
                    <td><Badge text=t.status.clone() tone=status_tone(&t.status)/></td>
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

/// Percent-encodes a query value.
fn js_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The creation form. What was typed and the errors come back in the address.
#[component]
pub fn NewTenantPage() -> impl IntoView {
    let query = use_query_map();
    let create = ServerAction::<CreateTenant>::new();
    let tiers = Resource::new(|| (), |_| list_tiers());
    let value = move |k: &'static str| Signal::derive(move || query.read().get(k));
    let error = move |k: &'static str| Signal::derive(move || query.read().get(&format!("error.{k}")));
    let form_error = move || query.read().get("error._form");
    let field_select = move |k: &'static str| query.read().get(k);
    view! {
        <Title text="New tenant"/>
        <h1>"New tenant"</h1>
        {move || form_error().map(|m| view! { <Flash kind=FlashKind::Error message=m/> })}
        {move || query.read().get("error.name").or(query.read().get("error.slug")).is_some().then(|| view! {
            <Flash kind=FlashKind::Error message="Nothing was created. Correct the fields marked below."/>
        })}
        <ActionForm action=create>
            <div class="form-grid">
                <FormField label="Name" name="name" required=true value=value("name") error=error("name")/>
                <FormField label="Slug" name="slug" value=value("slug") error=error("slug")
                    hint="Lowercase letters, digits and hyphens, 3–63 characters. Left empty, it is made from the name."/>
                <div class="field" class:field-invalid=move || error("tier").get().is_some()>
                    <label for="field-tier">"Tier"</label>
                    <select id="field-tier" name="tier" required=true
                        aria-describedby=move || error("tier").get().map(|_| "field-tier-error")>
                        <option value="">"Choose a tier"</option>
                        <Suspense>
                            {move || Suspend::new(async move {
                                tiers.await.unwrap_or_default().into_iter().map(|t| {
                                    let id = t.id.clone();
                                    let levels = t.allowed_isolation_levels.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ");
                                    view! {
                                        <option value=t.id.clone() selected=move || field_select("tier").as_deref() == Some(id.as_str())>
                                            {format!("{} (isolation {levels}; default {})", t.name, t.default_isolation_level)}
                                        </option>
                                    }
                                }).collect_view()
                            })}
                        </Suspense>
                    </select>
                    {move || error("tier").get().map(|e| view! { <p class="field-error" id="field-tier-error">{e}</p> })}
                </div>
                <div class="field" class:field-invalid=move || error("isolation").get().is_some()>
                    <label for="field-isolation">"Isolation level"</label>
                    <select id="field-isolation" name="isolation"
                        aria-describedby=move || error("isolation").get().map(|_| "field-isolation-error")>
                        <option value="">"The tier's default"</option>
                        {[1i16, 2, 3].into_iter().map(|l| view! {
                            <option value=l.to_string() selected=move || field_select("isolation") == Some(l.to_string())>
                                {isolation_label(l)}
                            </option>
                        }).collect_view()}
                    </select>
                    {move || error("isolation").get().map(|e| view! { <p class="field-error" id="field-isolation-error">{e}</p> })}
                </div>
                <div class="field" class:field-invalid=move || error("region").get().is_some()>
                    <label for="field-region">"Region"</label>
                    <select id="field-region" name="region">
                        {REGIONS.iter().map(|r| view! {
                            <option value=*r selected=move || field_select("region").as_deref() == Some(*r)>{*r}</option>
                        }).collect_view()}
                    </select>
                    {move || error("region").get().map(|e| view! { <p class="field-error">{e}</p> })}
                </div>
                <div class="field" class:field-invalid=move || error("environment").get().is_some()>
                    <label for="field-environment">"Environment"</label>
                    <select id="field-environment" name="environment">
                        {ENVIRONMENTS.iter().map(|(id, label, factor)| view! {
                            <option value=*id selected=move || field_select("environment").as_deref().unwrap_or("production") == *id>
                                {format!("{label} ({}% of CPU and memory)", (factor * 100.0) as i32)}
                            </option>
                        }).collect_view()}
                    </select>
                    {move || error("environment").get().map(|e| view! { <p class="field-error">{e}</p> })}
                </div>
                <fieldset class="field">
                    <legend>"Compliance regimes"</legend>
                    <div class="checks">
                        {COMPLIANCE.iter().map(|(id, label)| {
                            let name = if *id == "pci-dss" { "pci_dss" } else { id };
                            view! {
                                <label class="check">
                                    <input type="checkbox" name=name checked=move || query.read().get(name).is_some()/>
                                    {*label}
                                </label>
                            }
                        }).collect_view()}
                    </div>
                    {move || error("compliance").get().map(|e| view! { <p class="field-error">{e}</p> })}
                </fieldset>
            </div>
            <div class="form-actions">
                <Button pending=create.pending() pending_label="Creating…">"Create tenant"</Button>
                <a class="btn btn-link" href="/tenants">"Cancel"</a>
            </div>
        </ActionForm>
    }
}

/// A tenant's configuration and effective quotas.
#[component]
pub fn TenantPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let tenant = Resource::new(move || params.read().get("slug").unwrap_or_default(), get_tenant);
    view! {
        {move || query.read().get("created").is_some().then(|| view! {
            <Flash kind=FlashKind::Success message="Tenant created."/>
        })}
        <Suspense fallback=|| view! { <p class="muted" aria-live="polite">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match tenant.await {
                    Ok(detail) => view! { <TenantView detail/> }.into_any(),
                    Err(e) => error_box(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn TenantView(detail: TenantDetail) -> impl IntoView {
    let t = detail.tenant;
    let compliance = if detail.compliance.is_empty() {
        "None".to_string()
    } else {
        detail.compliance.iter().map(|c| c.to_uppercase()).collect::<Vec<_>>().join(", ")
    };
    let headers = vec![("Limit".into(), false), ("Effective".into(), true), ("Tier value".into(), true), ("Source".into(), false)];
    view! {
        <Title text=t.name.clone()/>
        <div class="page-head">
            <h1>{t.name.clone()}</h1>
            <Badge text=t.status.clone() tone=status_tone(&t.status)/>
        </div>
        <section>
            <h2 id="config-title">"Configuration"</h2>
            <dl class="props">
                <dt>"Slug"</dt><dd><code>{t.slug.clone()}</code></dd>
                <dt>"Tier"</dt><dd>{detail.tier.name.clone()}</dd>
                <dt>"Isolation"</dt><dd>{isolation_label(t.isolation_level)}</dd>
                <dt>"Dedicated instance"</dt><dd>{if detail.dedicated_instance { "Yes" } else { "No" }}</dd>
                <dt>"Namespace"</dt><dd>{detail.namespace_target.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>"Region"</dt><dd>{t.region.clone()}</dd>
                <dt>"Environment"</dt><dd>{t.environment.clone()}</dd>
                <dt>"Compliance"</dt><dd>{compliance}</dd>
                <dt>"Created"</dt><dd>{format_time(t.created_at)}</dd>
                <dt>"Version"</dt><dd>{detail.version}</dd>
            </dl>
        </section>
        <section>
            <h2 id="quota-title">"Effective quotas"</h2>
            <Table caption="Effective quotas" headers>
                {detail.limits.into_iter().map(|l| view! {
                    <tr>
                        <th scope="row">{l.limit.label()}</th>
                        <td class="num">{l.limit.format(l.value)}</td>
                        <td class="num">{l.limit.format(l.tier_value)}</td>
                        <td>{l.source()}</td>
                    </tr>
                }).collect_view()}
            </Table>
        </section>
    }
}
