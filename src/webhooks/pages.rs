//! `/settings/webhooks`: the endpoints, adding one (its secret shown once);
//! `/settings/webhooks/{id}`: one endpoint's delivery log, sending a test
//! event or a message again, turning it off and on, removing it.

use super::{
    event_field, webhook_endpoint, webhook_endpoints, ChangeWebhook, CreateWebhook, DeliveryRow, EndpointDetail,
    EndpointRow, WebhooksOverview, EVENT_TYPES,
};
use crate::ui::form::{Echo, ECHO_PARAM};
use crate::ui::{
    format_time, Badge, Button, ButtonKind, EmptyState, Flash, FlashKind, FormField, Loaded, ShownOnce, Table,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new(
        move || (query.read().get(ECHO_PARAM), query.read().get("done")),
        |(form, _)| webhook_endpoints(form),
    );
    view! {
        <Title text="Webhooks"/>
        <h1>"Webhooks"</h1>
        <p class="muted">"Bulkhead posts quota alerts, throttling and closed billing periods to these addresses, signed as "
            <a href="https://www.standardwebhooks.com/">"Standard Webhooks"</a>" define: check the "
            <code>"webhook-signature"</code>" header with the endpoint's secret. A message is tried again for about a day; an endpoint answering 410 Gone is turned off."</p>
        {move || (query.read().get("done").as_deref() == Some("deleted")).then(|| view! {
            <Flash kind=FlashKind::Success message="Endpoint removed: nothing more is sent to it."/>
        })}
        <Loaded resource=data let:overview><WebhooksView overview/></Loaded>
    }
}

#[component]
fn WebhooksView(overview: WebhooksOverview) -> impl IntoView {
    let WebhooksOverview { endpoints, echo, fresh, can_edit } = overview;
    let echo = Echo::new(echo);
    let fresh = fresh.map(|secret| view! { <ShownOnce message="Endpoint added. Copy its signing secret now: it is shown only this once." label="New signing secret" secret=secret/> });
    let list = if endpoints.is_empty() {
        view! { <EmptyState title="No webhook endpoints yet" hint="Add the address of the system that should hear of alerts and billing periods."/> }.into_any()
    } else {
        let headers = ["Address", "Events", "State", "Delivered", "Pending", "Added"]
            .into_iter()
            .map(|h| (h.to_string(), false))
            .collect();
        view! {
            <Table caption="Webhook endpoints" headers>
                {endpoints.into_iter().map(|e| view! { <EndpointLine endpoint=e/> }).collect_view()}
            </Table>
        }
        .into_any()
    };
    view! {
        {fresh}
        {echo.form_error().map(|m| view! { <Flash kind=FlashKind::Error message=m/> })}
        {list}
        {can_edit.then(|| view! { <NewEndpointForm echo/> })}
    }
    .into_any()
}

fn state_badge(e: &EndpointRow) -> impl IntoView {
    if e.enabled {
        view! { <Badge text="on" tone="success"/> }.into_any()
    } else {
        let why = e.disabled_reason.clone().unwrap_or_else(|| "off".into());
        view! { <Badge text=format!("off: {why}") tone="neutral"/> }.into_any()
    }
}

#[component]
fn EndpointLine(endpoint: EndpointRow) -> impl IntoView {
    let href = format!("/settings/webhooks/{}", endpoint.id);
    view! {
        <tr>
            <th scope="row"><a href=href class="break">{endpoint.url.clone()}</a>
                {(!endpoint.description.is_empty()).then(|| view! { <br/><span class="muted">{endpoint.description.clone()}</span> })}
            </th>
            <td>{endpoint.event_types.join(", ")}</td>
            <td>{state_badge(&endpoint)}</td>
            <td>{endpoint.delivered}</td>
            <td>{endpoint.pending}</td>
            <td class="nowrap">{format_time(endpoint.created_at)}</td>
        </tr>
    }
}

#[component]
fn NewEndpointForm(echo: Echo) -> impl IntoView {
    let create = ServerAction::<CreateWebhook>::new();
    let refused = echo.is_refusal();
    view! {
        <section aria-labelledby="new-webhook-title">
            <h2 id="new-webhook-title">"New endpoint"</h2>
            <ActionForm action=create>
                <div class="form-grid">
                    <FormField label="Address" name="url" input_type="url" required=true value=echo.value("url") error=echo.error("url")
                        hint="Where Bulkhead posts the events: https://billing.example.com/hooks/bulkhead."/>
                    <FormField label="Description" name="description" value=echo.value("description") error=echo.error("description")
                        hint="Optional: what listens there."/>
                    <fieldset class="field field-wide" class:field-invalid=echo.error("events").is_some()>
                        <legend>"Events"</legend>
                        <div class="checks">
                            {EVENT_TYPES.into_iter().map(|(t, about)| {
                                let name = event_field(t);
                                let checked = if refused { echo.value(&name).is_some() } else { t.starts_with("quota.") };
                                view! {
                                    <label class="check">
                                        <input type="checkbox" name="events[]" value=t checked=checked/>
                                        <span><code>{t}</code>" · "{about}</span>
                                    </label>
                                }
                            }).collect_view()}
                        </div>
                        {echo.error("events").map(|e| view! { <p class="field-error">{e}</p> })}
                    </fieldset>
                </div>
                <div class="form-actions">
                    <Button pending=create.pending() pending_label="Adding…">"Add endpoint"</Button>
                </div>
            </ActionForm>
        </section>
    }
}

fn done_message(word: &str) -> Option<&'static str> {
    match word {
        "test" => Some("Test event queued: it appears in the log below within a few seconds."),
        "again" => Some("The message is being sent again."),
        "enabled" => Some("Endpoint turned on: pending messages go out again."),
        "disabled" => Some("Endpoint turned off: messages wait until it is turned on."),
        _ => None,
    }
}

#[component]
pub fn WebhookPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let change = ServerAction::<ChangeWebhook>::new();
    let data = Resource::new(
        move || (id(), query.read().get(ECHO_PARAM), query.read().get("done"), change.version().get()),
        |(id, form, _, _)| webhook_endpoint(id, form),
    );
    view! {
        <Title text="Webhook endpoint"/>
        <div class="page-head">
            <h1>"Webhook endpoint"</h1>
            <a class="btn btn-link" href="/settings/webhooks">"All endpoints"</a>
        </div>
        {move || query.read().get("done").and_then(|w| done_message(&w)).map(|m| view! {
            <Flash kind=FlashKind::Success message=m/>
        })}
        <Loaded resource=data let:detail><EndpointView detail change/></Loaded>
    }
}

#[component]
fn EndpointView(detail: EndpointDetail, change: ServerAction<ChangeWebhook>) -> impl IntoView {
    let EndpointDetail { endpoint, deliveries, echo, can_edit } = detail;
    let echo = Echo::new(echo);
    let id = endpoint.id.to_string();
    let actions = can_edit.then(|| {
        let toggle = if endpoint.enabled { ("disable", "Turn off") } else { ("enable", "Turn on") };
        let (id1, id2, id3) = (id.clone(), id.clone(), id.clone());
        view! {
            <div class="form-actions">
                <ActionForm action=change>
                    <input type="hidden" name="id" value=id1/>
                    <input type="hidden" name="change" value="test"/>
                    <Button pending=change.pending() pending_label="Sending…">"Send a test event"</Button>
                </ActionForm>
                <ActionForm action=change>
                    <input type="hidden" name="id" value=id2/>
                    <input type="hidden" name="change" value=toggle.0/>
                    <Button kind=ButtonKind::Secondary pending=change.pending() pending_label="Saving…">{toggle.1}</Button>
                </ActionForm>
            </div>
            <details>
                <summary>"Remove this endpoint"</summary>
                <ActionForm action=change>
                    <input type="hidden" name="id" value=id3/>
                    <input type="hidden" name="change" value="delete"/>
                    <p class="muted">"Its delivery log goes with it, and nothing more is sent to it. This cannot be undone."</p>
                    <button type="submit" class="btn btn-danger">"Remove it now"</button>
                </ActionForm>
            </details>
        }
    });
    let log = if deliveries.is_empty() {
        view! { <EmptyState title="Nothing sent yet" hint="Messages appear here as events happen; send a test event to try the endpoint."/> }.into_any()
    } else {
        let headers = ["Message", "Event", "Queued", "State", "Attempts: when, answer, time", ""]
            .into_iter()
            .map(|h| (h.to_string(), false))
            .collect();
        view! {
            <Table caption="Delivery log, newest first" headers>
                {deliveries.into_iter().map(|d| view! { <DeliveryLine delivery=d endpoint=id.clone() can_edit change/> }).collect_view()}
            </Table>
        }
        .into_any()
    };
    view! {
        <dl class="props">
            <dt>"Address"</dt><dd class="break"><code>{endpoint.url.clone()}</code></dd>
            <dt>"Events"</dt><dd>{endpoint.event_types.join(", ")}</dd>
            <dt>"State"</dt><dd>{state_badge(&endpoint)}</dd>
            <dt>"Added"</dt><dd>{format_time(endpoint.created_at)}</dd>
        </dl>
        {echo.form_error().map(|m| view! { <Flash kind=FlashKind::Error message=m/> })}
        {actions}
        <section aria-labelledby="log-title">
            <h2 id="log-title">"Delivery log"</h2>
            {log}
        </section>
    }
    .into_any()
}

#[component]
fn DeliveryLine(
    delivery: DeliveryRow,
    endpoint: String,
    can_edit: bool,
    change: ServerAction<ChangeWebhook>,
) -> impl IntoView {
    let (state, tone) = delivery.state();
    let attempts = delivery
        .attempts
        .iter()
        .map(|a| {
            let answer = match (a.status, &a.error) {
                (Some(s), _) => s.to_string(),
                (None, Some(e)) => e.clone(),
                (None, None) => "no answer".into(),
            };
            view! { <li>{format!("{} · {} · {} ms", format_time(a.at), answer, a.duration_ms)}</li> }
        })
        .collect_view();
    let next = delivery.next_attempt_at.filter(|_| delivery.delivered_at.is_none()).map(|n| {
        view! { <li class="muted">{format!("next try {}", format_time(n))}</li> }
    });
    let again = (can_edit && delivery.next_attempt_at.is_none()).then(|| {
        view! {
            <ActionForm action=change>
                <input type="hidden" name="id" value=endpoint/>
                <input type="hidden" name="change" value="again"/>
                <input type="hidden" name="delivery" value=delivery.id.to_string()/>
                <Button kind=ButtonKind::Secondary pending=change.pending() pending_label="Queuing…">"Send again"</Button>
            </ActionForm>
        }
    });
    view! {
        <tr>
            <th scope="row"><code>{delivery.message_id.clone()}</code></th>
            <td><code>{delivery.event_type.clone()}</code></td>
            <td class="nowrap">{format_time(delivery.created_at)}</td>
            <td><Badge text=state tone/></td>
            <td><ul class="plain">{attempts}{next}</ul></td>
            <td>{again}</td>
        </tr>
    }
    .into_any()
}
