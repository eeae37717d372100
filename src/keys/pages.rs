//! `/keys` (a tenant admin's own) and `/tenants/{slug}/keys` (platform staff):
//! a tenant's API keys, making one (shown once) and revoking one.

use super::{tenant_keys, CreateTenantKey, KeyRow, KeysOverview, RevokeTenantKey, SetAnonymousCalls};
use crate::domain::amounts::format_count;
use crate::ui::form::{Echo, ECHO_PARAM};
use crate::ui::{format_time, Badge, Button, EmptyState, Flash, FlashKind, FormField, Loaded, ShownOnce, Table};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

/// The lives a new key may be given, in days (`never`: until revoked).
const LIVES: [(&str, &str); 5] =
    [("never", "Never (until revoked)"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("7", "7 days")];

#[component]
pub fn KeysPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let data = Resource::new(
        move || (params.read().get("slug"), query.read().get(ECHO_PARAM), query.read().get("done")),
        |(slug, form, _)| tenant_keys(slug, form),
    );
    view! {
        <Title text="API keys"/>
        {move || match query.read().get("done").as_deref() {
            Some("revoked") => Some(view! { <Flash kind=FlashKind::Success message="Key revoked: calls presenting it are refused at the edge from now on."/> }),
            Some("anonymous") => Some(view! { <Flash kind=FlashKind::Success message="Calls without a key: saved. The edge applies it within a second."/> }),
            _ => None,
        }}
        <Loaded resource=data let:overview><KeysView overview/></Loaded>
    }
}

#[component]
fn KeysView(overview: KeysOverview) -> impl IntoView {
    let KeysOverview { slug, tenant_name, keys, echo, fresh, can_edit, own, anonymous_calls } = overview;
    let echo = Echo::new(echo);
    let fresh = fresh.map(|key| view! { <ShownOnce message="Key created. Copy it now: it is shown only this once, and Bulkhead keeps only its hash." label="New API key" secret=key/> });
    let anonymous = if anonymous_calls == "pass" {
        "Calls without a key go through to your API uncounted, limited per client address: your API authenticates them."
    } else {
        "Calls without a valid key are refused at the edge (401) and spend nothing."
    };
    let list = if keys.is_empty() {
        view! { <EmptyState title="No API keys yet" hint="Make one for each system that calls this tenant's API, named after it."/> }.into_any()
    } else {
        let headers = ["Name", "Key", "Rate", "This month", "Created", "Expires", "Last used", "State", ""]
            .into_iter()
            .map(|h| (h.to_string(), matches!(h, "Rate" | "This month")))
            .collect();
        let slug = slug.clone();
        view! {
            <Table caption="API keys" headers>
                {keys.into_iter().map(|k| view! { <KeyLine key_row=k slug=slug.clone() can_edit/> }).collect_view()}
            </Table>
        }
        .into_any()
    };
    let back =
        (!own).then(|| view! { <a class="btn btn-link" href=format!("/tenants/{slug}")>"Back to the tenant"</a> });
    view! {
        <div class="page-head">
            <h1>{format!("API keys · {tenant_name}")}</h1>
            {back}
        </div>
        <p class="muted">"Callers of this tenant's API present a key in an " <code>"X-API-Key"</code>
            " header (or " <code>"Authorization: Bearer bk_live_…"</code>
            "). The edge counts a call against this tenant's allowance only when it carries one of these keys. "
            {anonymous}</p>
        {fresh}
        {echo.form_error().map(|m| view! { <Flash kind=FlashKind::Error message=m/> })}
        {list}
        {(can_edit && !own).then(|| view! { <AnonymousCallsForm slug=slug.clone() mode=anonymous_calls.clone()/> })}
        {can_edit.then(|| view! { <NewKeyForm echo slug/> })}
    }
}

/// What the edge does with calls that carry no key (platform admins).
#[component]
fn AnonymousCallsForm(slug: String, mode: String) -> impl IntoView {
    let action = ServerAction::<SetAnonymousCalls>::new();
    let choices = [
        ("refuse", "Refuse them at the edge (401): only calls with a key reach the API and spend the allowance. The safe default."),
        ("pass", "Pass them through uncounted, limited per client address: for an API that authenticates its callers itself."),
    ];
    view! {
        <section aria-labelledby="anonymous-title">
            <h2 id="anonymous-title">"Calls without a key"</h2>
            <ActionForm action>
                <input type="hidden" name="slug" value=slug/>
                <fieldset class="field field-wide">
                    <legend>"At the edge, a call that carries no key of this tenant is"</legend>
                    <div class="checks">
                        {choices.into_iter().map(|(value, label)| view! {
                            <label class="check">
                                <input type="radio" name="anonymous_calls" value=value checked=mode == value/>
                                <span>{label}</span>
                            </label>
                        }).collect_view()}
                    </div>
                </fieldset>
                <div class="form-actions">
                    <Button pending=action.pending() pending_label="Saving…">"Save"</Button>
                </div>
            </ActionForm>
        </section>
    }
}

#[component]
fn KeyLine(key_row: KeyRow, slug: String, can_edit: bool) -> impl IntoView {
    let state = key_row.state();
    let tone = if state == "in force" { "success" } else { "neutral" };
    let rate = match (key_row.rate_per_second, key_row.burst) {
        (Some(r), Some(b)) => format!("{r}/s, burst {b}"),
        _ => "the tier's".to_string(),
    };
    let month = match key_row.monthly_calls {
        Some(cap) => format!("{} of {}", format_count(key_row.calls_this_month), format_count(cap)),
        None => format_count(key_row.calls_this_month),
    };
    let revoke = (can_edit && key_row.revoked_at.is_none()).then(|| {
        let action = ServerAction::<RevokeTenantKey>::new();
        let name = key_row.name.clone();
        view! {
            <details>
                <summary>{format!("Revoke {name}")}</summary>
                <ActionForm action>
                    <input type="hidden" name="slug" value=slug.clone()/>
                    <input type="hidden" name="id" value=key_row.id.to_string()/>
                    <p class="muted">"Calls presenting it are refused at the edge within a second. This cannot be undone."</p>
                    <button type="submit" class="btn btn-danger">{format!("Revoke {name} now")}</button>
                </ActionForm>
            </details>
        }
    });
    view! {
        <tr>
            <th scope="row">{key_row.name.clone()}</th>
            <td><code>{format!("{}…", key_row.hint)}</code></td>
            <td class="num nowrap">{rate}</td>
            <td class="num nowrap">{month}</td>
            <td class="nowrap">{format_time(key_row.created_at)}</td>
            <td class="nowrap">{key_row.expires_at.map(format_time).unwrap_or_else(|| "Never".into())}</td>
            <td class="nowrap">{key_row.last_used_at.map(format_time).unwrap_or_else(|| "Not yet".into())}</td>
            <td><Badge text=state tone/></td>
            <td>{revoke}</td>
        </tr>
    }
}

#[component]
fn NewKeyForm(echo: Echo, slug: String) -> impl IntoView {
    let create = ServerAction::<CreateTenantKey>::new();
    let life = echo.value("expires").unwrap_or_else(|| "never".into());
    view! {
        <section aria-labelledby="new-key-title">
            <h2 id="new-key-title">"New key"</h2>
            <ActionForm action=create>
                <input type="hidden" name="slug" value=slug/>
                <div class="form-grid">
                    <FormField label="Name" name="name" required=true value=echo.value("name") error=echo.error("name")
                        hint="The system that will use it: checkout-service, mobile-app."/>
                    <FormField label="Calls a second (optional)" name="rate" input_type="number" value=echo.value("rate") error=echo.error("rate")
                        hint="A limit of its own inside the tier's; empty: the tier's alone."/>
                    <FormField label="Burst (optional)" name="burst" input_type="number" value=echo.value("burst") error=echo.error("burst")
                        hint="Calls it may make at once; given with the rate."/>
                    <FormField label="Calls a month (optional)" name="monthly" input_type="number" value=echo.value("monthly") error=echo.error("monthly")
                        hint="A cap of its own inside the tenant's allowance."/>
                    <div class="field" class:field-invalid=echo.error("expires").is_some()>
                        <label for="field-expires">"Expires after"</label>
                        <select id="field-expires" name="expires">
                            {LIVES.into_iter().map(|(value, label)| view! {
                                <option value=value selected=life == value>{label}</option>
                            }).collect_view()}
                        </select>
                        {echo.error("expires").map(|e| view! { <p class="field-error">{e}</p> })}
                    </div>
                </div>
                <div class="form-actions">
                    <Button pending=create.pending() pending_label="Creating…">"Create key"</Button>
                </div>
            </ActionForm>
        </section>
    }
}
