//! Audit pages: the trail with its filters, one event, and the chain check.

use crate::audit::diff::{diff, Change};
use crate::audit::{action_label, AuditQuery, EventDetail, EventPage, Verification, ACTIONS, FILTERS};
use crate::error::AppError;
use crate::ui::{
    error_view, format_count, format_time, url_encode, Badge, EmptyState, Flash, FlashKind, FormField, Table,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

/// One page of the trail in the reader's scope.
#[server(endpoint = "audit_events")]
pub async fn list_audit_events(
    tenant: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
) -> Result<EventPage, AppError> {
    let query = AuditQuery::parse(tenant, actor, action, from, to, before)?;
    let user = crate::auth::session::require_user().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = crate::server::db::read(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let page = crate::audit::ssr::list(&mut tx, &query).await?;
    tx.done().await?;
    Ok(page)
}

/// One event, if the reader's scope includes it.
#[server(endpoint = "audit_event")]
pub async fn get_audit_event(id: i64) -> Result<EventDetail, AppError> {
    let user = crate::auth::session::require_user().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = crate::server::db::read(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let event = crate::audit::ssr::detail(&mut tx, id).await?.ok_or(AppError::NotFound)?;
    tx.done().await?;
    Ok(event)
}

/// Recomputes the whole hash chain (platform staff), in the pool of heavy
/// reads, one run at a time per user. The run itself is audited, and a
/// browser is sent to the page of that record (`?result=<event>`).
#[server(endpoint = "audit_verify")]
pub async fn verify_audit_chain() -> Result<Verification, AppError> {
    let user = crate::auth::session::require_platform_staff().await?;
    let meta = crate::auth::session::client_meta().await;
    let state = crate::server::state::app_state()?;
    let _turn = state.heavy_work.start(user.id)?;
    let started = std::time::Instant::now();
    let mut tx = crate::server::db::begin(&state.heavy_pool, crate::auth::session::scope_for(&user)?).await?;
    let report = crate::audit::chain::verify_chain(&mut tx).await?;
    let millis = started.elapsed().as_millis() as u64;
    crate::audit::ssr::record(
        &mut tx,
        &meta.actor(Some(&user)),
        crate::audit::ssr::NewEvent::new("audit.verified").after(serde_json::json!({
            "checked": report.checked,
            "first_broken": report.first_broken,
            "millis": millis,
        })),
    )
    .await?;
    // Its own event: the chain head is locked by this transaction until it commits.
    let event = sqlx::query_scalar!("SELECT last_id FROM audit_chain_head").fetch_one(&mut *tx).await?;
    tx.commit().await?;
    leptos_axum::redirect(&format!("/audit/verify?result={event}"));
    Ok(Verification { checked: report.checked, first_broken: report.first_broken, millis, event })
}

/// The trail, newest first, with filters and paging kept in the address.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.read().get(k);
    let page = Resource::new(
        move || (param("tenant"), param("actor"), param("action"), param("from"), param("to"), param("before")),
        |(tenant, actor, action, from, to, before)| list_audit_events(tenant, actor, action, from, to, before),
    );
    view! {
        <Title text="Audit trail"/>
        <div class="page-head">
            <h1>"Audit trail"</h1>
            <a class="btn" href="/audit/verify">"Verify the chain"</a>
        </div>
        <Transition fallback=|| view! { <p class="muted" aria-live="polite">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let result = page.await;
                let typed: Vec<(&'static str, Option<String>)> =
                    query.with_untracked(|q| FILTERS.iter().map(|k| (*k, q.get(k))).collect());
                let error = result.as_ref().err().cloned();
                view! {
                    <AuditFilters typed error=error.clone()/>
                    {match result {
                        Ok(data) => view! { <EventList data/> }.into_any(),
                        Err(AppError::Invalid(_)) => view! {
                            <Flash kind=FlashKind::Error message="Correct the filters marked above."/>
                        }.into_any(),
                        Err(e) => error_view(e),
                    }}
                }
            })}
        </Transition>
    }
}

/// The filter form: a plain GET form, so it works without JavaScript and its
/// result is an address that can be bookmarked and shared.
#[component]
fn AuditFilters(typed: Vec<(&'static str, Option<String>)>, error: Option<AppError>) -> impl IntoView {
    let value = |k: &str| typed.iter().find(|(n, _)| *n == k).and_then(|(_, v)| v.clone());
    let err = |k: &str| error.as_ref().and_then(|e| e.field_message(k));
    let action = value("action").unwrap_or_default();
    let unknown_action = (!action.is_empty() && action_label(&action).is_none()).then(|| action.clone());
    let action_error = err("action");
    let action_invalid = action_error.is_some();
    view! {
        <form method="get" action="/audit" class="filters" role="search" aria-label="Filter audit events">
            <FormField label="Tenant" name="tenant" value=value("tenant") error=err("tenant")/>
            <FormField label="Actor" name="actor" input_type="search" value=value("actor") error=err("actor")/>
            <div class="field" class:field-invalid=action_invalid>
                <label for="field-action">"Action"</label>
                <select id="field-action" name="action"
                    aria-describedby=action_invalid.then_some("field-action-error")>
                    <option value="">"All actions"</option>
                    {ACTIONS.iter().map(|(a, label)| {
                        view! { <option value=*a selected=action == *a>{format!("{label} ({a})")}</option> }
                    }).collect_view()}
                    {unknown_action.map(|a| view! { <option value=a.clone() selected=true>{a.clone()}</option> })}
                </select>
                {action_error.map(|e| view! { <p class="field-error" id="field-action-error">{e}</p> })}
            </div>
            <FormField label="From (UTC)" name="from" input_type="date" value=value("from") error=err("from")/>
            <FormField label="To (UTC)" name="to" input_type="date" value=value("to") error=err("to")/>
            <div class="filters-actions">
                <button type="submit" class="btn">"Apply"</button>
                <a class="btn btn-link" href="/audit">"Clear"</a>
            </div>
        </form>
    }
}

/// A stored role as people read it (`platform_admin` → `Platform admin`).
fn role_label(role: &str) -> String {
    crate::auth::Role::parse(role).map(|r| r.label().to_string()).unwrap_or_else(|| role.to_string())
}

/// The current filters with one of them replaced, as an address.
fn with_filter(q: &AuditQuery, key: &str, value: &str) -> String {
    let mut pairs: Vec<(String, String)> =
        q.filter_pairs().into_iter().filter(|(k, _)| *k != key).map(|(k, v)| (k.to_string(), v)).collect();
    pairs.push((key.to_string(), value.to_string()));
    let qs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", url_encode(v))).collect();
    format!("/audit?{}", qs.join("&"))
}

#[component]
fn EventList(data: EventPage) -> impl IntoView {
    let query = use_query_map();
    let current = query.with_untracked(|q| {
        AuditQuery::parse(q.get("tenant"), q.get("actor"), q.get("action"), q.get("from"), q.get("to"), q.get("before"))
            .unwrap_or_default()
    });
    let filters = current.query_string(None);
    let export = |format: &str| {
        if filters.is_empty() {
            format!("/audit/export?format={format}")
        } else {
            format!("/audit/export?format={format}&{filters}")
        }
    };
    let exports = view! {
        <div class="export-links" aria-label="Export">
            <a class="btn" rel="external" download="" href=export("csv")>"Export CSV"</a>
            <a class="btn" rel="external" download="" href=export("jsonl")>"Export JSON lines"</a>
        </div>
    };
    if data.events.is_empty() {
        return if current.is_filtered() || current.before.is_some() {
            view! { <EmptyState title="No event matches" hint="Change or clear the filters."/> }.into_any()
        } else {
            view! { <EmptyState title="No audit events yet" hint="Sign-ins and changes are recorded here as they happen."/> }
                .into_any()
        };
    }
    let next_href = data.next.map(|n| format!("/audit?{}", current.query_string(Some(n))));
    let first_href =
        current.before.map(|_| if filters.is_empty() { "/audit".to_string() } else { format!("/audit?{filters}") });
    let headers = ["Event", "When", "Actor", "Action", "Tenant", "Target", "IP"]
        .into_iter()
        .map(|h| (h.to_string(), false))
        .collect();
    view! {
        <div class="page-head">
            <p class="muted">"Newest first. An export holds every event the filters select, on every page, in the same order."</p>
            {exports}
        </div>
        <Table caption="Audit events" headers>
            {data.events.into_iter().map(|e| {
                let actor_link = e.actor_email.clone().map(|a| (with_filter(&current, "actor", &a), a));
                let tenant_link = e.tenant_slug.clone().map(|t| (with_filter(&current, "tenant", &t), t));
                let action_href = with_filter(&current, "action", &e.action);
                view! {
                    <tr>
                        <td><a href=format!("/audit/{}", e.id) aria-label=format!("Event {}", e.id)>{format!("#{}", e.id)}</a></td>
                        <td class="nowrap">{format_time(e.occurred_at)}</td>
                        <td>
                            {match actor_link {
                                Some((href, a)) => view! { <a href=href title="Show this actor's events">{a}</a> }.into_any(),
                                None => view! { <span class="muted">"—"</span> }.into_any(),
                            }}
                            {e.actor_role.as_deref().map(|r| view! { <span class="muted">{format!(" · {}", role_label(r))}</span> })}
                        </td>
                        <td><a href=action_href title="Show events of this action"><code>{e.action.clone()}</code></a></td>
                        <td>
                            {match tenant_link {
                                Some((href, t)) => view! { <a href=href title="Show this tenant's events">{t}</a> }.into_any(),
                                None => view! { <span class="muted">"—"</span> }.into_any(),
                            }}
                        </td>
                        <td>{e.target.unwrap_or_default()}</td>
                        <td class="nowrap">{e.ip.unwrap_or_default()}</td>
                    </tr>
                }
            }).collect_view()}
        </Table>
        <nav class="pager" aria-label="Pages">
            {first_href.map(|h| view! { <a href=h>"Newest events"</a> })}
            {next_href.map(|h| view! { <a href=h rel="next">"Older events"</a> })}
        </nav>
    }
    .into_any()
}

/// One event: who, when, from where, and what changed.
#[component]
pub fn AuditEventPage() -> impl IntoView {
    let params = use_params_map();
    let event = Resource::new(
        move || params.read().get("id"),
        |id| async move {
            match id.and_then(|i| i.parse::<i64>().ok()) {
                Some(id) => get_audit_event(id).await,
                None => Err(AppError::NotFound),
            }
        },
    );
    view! {
        <Title text="Audit event"/>
        <p><a href="/audit">"← Audit trail"</a></p>
        // Not ui::Loaded: an event outside the reader's scope has its own page.
        <Suspense fallback=|| view! { <p class="muted" aria-live="polite">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match event.await {
                    Ok(e) => view! { <EventView e/> }.into_any(),
                    Err(AppError::NotFound) => view! {
                        <h1>"Event not found"</h1>
                        <p>"There is no such event, or it is outside what you may see."</p>
                    }.into_any(),
                    Err(e) => error_view(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn EventView(e: EventDetail) -> impl IntoView {
    let lines = diff(e.before.as_ref(), e.after.as_ref());
    let label = action_label(&e.action);
    view! {
        <h1>{format!("Event #{}", e.id)}</h1>
        <dl class="props">
            <dt>"Action"</dt>
            <dd><code>{e.action.clone()}</code>{label.map(|l| format!(" — {l}"))}</dd>
            <dt>"When"</dt><dd>{format_time(e.occurred_at)}</dd>
            <dt>"Who"</dt>
            <dd>
                {e.actor_email.clone().unwrap_or_else(|| "—".into())}
                {e.actor_role.as_deref().map(|r| view! { " " <Badge text=role_label(r) tone="info"/> })}
            </dd>
            <dt>"User id"</dt><dd><code>{e.actor_user_id.map(|u| u.to_string()).unwrap_or_else(|| "—".into())}</code></dd>
            <dt>"IP address"</dt><dd>{e.ip.clone().unwrap_or_else(|| "—".into())}</dd>
            <dt>"User agent"</dt><dd>{e.user_agent.clone().unwrap_or_else(|| "—".into())}</dd>
            <dt>"Tenant"</dt>
            <dd>
                {match e.tenant_slug.clone() {
                    Some(slug) => view! { <a href=format!("/tenants/{slug}")>{slug.clone()}</a> }.into_any(),
                    None => view! { {e.tenant_id.map(|t| t.to_string()).unwrap_or_else(|| "—".into())} }.into_any(),
                }}
            </dd>
            <dt>"Target"</dt><dd>{e.target.clone().unwrap_or_else(|| "—".into())}</dd>
        </dl>
        <h2>"Before and after"</h2>
        {if lines.is_empty() {
            view! { <p class="muted">"This event carries no values."</p> }.into_any()
        } else {
            let headers = ["Field", "Before", "After", "Change"].into_iter().map(|h| (h.to_string(), false)).collect();
            view! {
                <Table caption="Values before and after" headers>
                    {lines.into_iter().map(|l| {
                        let tone = match l.change {
                            Change::Added => "success",
                            Change::Removed => "danger",
                            Change::Changed => "warning",
                            Change::Same => "neutral",
                        };
                        view! {
                            <tr class=format!("diff-{}", l.change.label())>
                                <th scope="row"><code>{if l.path.is_empty() { "value".to_string() } else { l.path.clone() }}</code></th>
                                <td class="diff-before">{l.before.unwrap_or_else(|| "—".into())}</td>
                                <td class="diff-after">{l.after.unwrap_or_else(|| "—".into())}</td>
                                <td><Badge text=l.change.label() tone/></td>
                            </tr>
                        }
                    }).collect_view()}
                </Table>
            }.into_any()
        }}
        <h2>"Chain"</h2>
        <dl class="props hashes">
            <dt>"Previous hash"</dt><dd><code>{e.prev_hash.clone()}</code></dd>
            <dt>"Hash"</dt><dd><code>{e.hash.clone()}</code></dd>
        </dl>
    }
}

/// A verification's outcome, read back from the `audit.verified` event that
/// records it (so the page shows what was found, not what an address says).
fn verification_of(e: &EventDetail) -> Option<Verification> {
    let after = e.after.as_ref().filter(|_| e.action == "audit.verified")?;
    Some(Verification {
        checked: after.get("checked")?.as_i64()?,
        first_broken: after.get("first_broken").and_then(|v| v.as_i64()),
        millis: after.get("millis").and_then(|v| v.as_u64()).unwrap_or(0),
        event: e.id,
    })
}

/// Recomputes the hash chain on request (a POST) and says whether it is intact.
#[component]
pub fn AuditVerifyPage() -> impl IntoView {
    let query = use_query_map();
    let shown = move || query.read().get("result").and_then(|v| v.parse::<i64>().ok());
    let result = Resource::new(shown, |shown| async move {
        match shown {
            Some(id) => get_audit_event(id).await.map(|e| verification_of(&e)),
            None => Ok(None),
        }
    });
    view! {
        <Title text="Verify the audit chain"/>
        <p><a href="/audit">"← Audit trail"</a></p>
        <h1>"Verify the audit chain"</h1>
        <p class="muted">
            "Each event carries the hash of the one before it. Verification recomputes every hash from the
            events' contents, in order, and names the first event that does not match: an event changed,
            removed or inserted after the fact. Expect about 15 seconds per million events."
        </p>
        <form method="post" action="/api/audit_verify" class="form-actions">
            <button type="submit" class="btn btn-primary">"Verify now"</button>
        </form>
        // Not ui::Loaded: a verification not asked for shows nothing, and the wait says "Verifying…".
        <Suspense fallback=|| view! { <p class="muted" aria-live="polite">"Verifying…"</p> }>
            {move || Suspend::new(async move {
                match result.await {
                    Ok(None) => ().into_any(),
                    Ok(Some(v)) => match v.first_broken {
                        None => view! {
                            <Flash kind=FlashKind::Success message=format!(
                                "Intact: {} events checked in {} ms.", format_count(v.checked), v.millis)/>
                        }.into_any(),
                        Some(id) => view! {
                            <div class="flash flash-error" role="alert">
                                {format!("Broken: the chain breaks at event #{id} ({} events checked). ", format_count(v.checked))}
                                <a href=format!("/audit/{id}")>{format!("Open event #{id}")}</a>
                                " — it was altered, or an event before it was removed."
                            </div>
                        }.into_any(),
                    },
                    Err(e) => error_view(e),
                }
            })}
        </Suspense>
    }
}
