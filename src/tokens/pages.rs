//! `/settings/tokens`: the API tokens, making one (shown once) and revoking one.

use super::{api_tokens, CreateApiToken, RevokeApiToken, TokenRow, TokensOverview};
use crate::domain::token_scope::TokenScope;
use crate::ui::form::{Echo, ECHO_PARAM};
use crate::ui::{format_time, Badge, Button, EmptyState, Flash, FlashKind, FormField, Loaded, ShownOnce, Table};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The lives a new token may be given, in days (`never`: until revoked).
const LIVES: [(&str, &str); 5] =
    [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("7", "7 days"), ("never", "Never (until revoked)")];

#[component]
pub fn TokensPage() -> impl IntoView {
    let query = use_query_map();
    let data =
        Resource::new(move || (query.read().get(ECHO_PARAM), query.read().get("done")), |(form, _)| api_tokens(form));
    view! {
        <Title text="API tokens"/>
        <h1>"API tokens"</h1>
        <p class="muted">"Machines present a token in an " <code>"Authorization: Bearer"</code>
            " header: a reverse proxy for the routing check, a platform reporting usage, Prometheus, billing. Each token does only what its scopes allow."</p>
        {move || (query.read().get("done").as_deref() == Some("revoked")).then(|| view! {
            <Flash kind=FlashKind::Success message="Token revoked: machines presenting it are refused from now on."/>
        })}
        <Loaded resource=data let:overview><TokensView overview/></Loaded>
    }
}

#[component]
fn TokensView(overview: TokensOverview) -> impl IntoView {
    let TokensOverview { tokens, echo, fresh, can_edit } = overview;
    let echo = Echo::new(echo);
    let fresh = fresh.map(|token| view! { <ShownOnce message="Token created. Copy it now: it is shown only this once, and Bulkhead keeps only its hash." label="New API token" secret=token/> });
    let list = if tokens.is_empty() {
        view! { <EmptyState title="No API tokens yet" hint="Make one for each machine that calls Bulkhead, named after it."/> }.into_any()
    } else {
        let headers = ["Name", "Token", "Scopes", "Created", "Expires", "Last used", "State", ""]
            .into_iter()
            .map(|h| (h.to_string(), false))
            .collect();
        view! {
            <Table caption="API tokens" headers>
                {tokens.into_iter().map(|t| view! { <TokenLine token=t can_edit/> }).collect_view()}
            </Table>
        }
        .into_any()
    };
    view! {
        {fresh}
        {echo.form_error().map(|m| view! { <Flash kind=FlashKind::Error message=m/> })}
        {list}
        {can_edit.then(|| view! { <NewTokenForm echo/> })}
    }
}

#[component]
fn TokenLine(token: TokenRow, can_edit: bool) -> impl IntoView {
    let (state, tone) = if token.revoked_at.is_some() {
        ("revoked", "neutral")
    } else if token.expired {
        ("expired", "neutral")
    } else {
        ("in force", "success")
    };
    let scopes = token.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    let revoke = (can_edit && token.revoked_at.is_none()).then(|| {
        let action = ServerAction::<RevokeApiToken>::new();
        let name = token.name.clone();
        view! {
            <details>
                <summary>{format!("Revoke {name}")}</summary>
                <ActionForm action>
                    <input type="hidden" name="id" value=token.id.to_string()/>
                    <p class="muted">"Machines presenting it are refused at once. This cannot be undone."</p>
                    <button type="submit" class="btn btn-danger">{format!("Revoke {name} now")}</button>
                </ActionForm>
            </details>
        }
    });
    view! {
        <tr>
            <th scope="row">{token.name.clone()}</th>
            <td><code>{format!("{}…", token.hint)}</code></td>
            <td>{scopes}</td>
            <td class="nowrap">{format_time(token.created_at)}</td>
            <td class="nowrap">{token.expires_at.map(format_time).unwrap_or_else(|| "Never".into())}</td>
            <td class="nowrap">{token.last_used_at.map(format_time).unwrap_or_else(|| "Not yet".into())}</td>
            <td><Badge text=state tone/></td>
            <td>{revoke}</td>
        </tr>
    }
}

#[component]
fn NewTokenForm(echo: Echo) -> impl IntoView {
    let create = ServerAction::<CreateApiToken>::new();
    let life = echo.value("expires").unwrap_or_else(|| "90".into());
    let refused = echo.is_refusal();
    view! {
        <section aria-labelledby="new-token-title">
            <h2 id="new-token-title">"New token"</h2>
            <ActionForm action=create>
                <div class="form-grid">
                    <FormField label="Name" name="name" required=true value=echo.value("name") error=echo.error("name")
                        hint="The machine that will use it: edge-proxy-eu, usage-collector."/>
                    <fieldset class="field field-wide" class:field-invalid=echo.error("scopes").is_some()>
                        <legend>"Scopes"</legend>
                        <div class="checks">
                            {TokenScope::ALL.into_iter().map(|s| {
                                let checked = if refused { echo.value(s.as_str()).is_some() } else { s == TokenScope::Routing };
                                view! {
                                    <label class="check">
                                        <input type="checkbox" name=s.as_str() checked=checked/>
                                        <span><code>{s.as_str()}</code>" · "{s.description()}</span>
                                    </label>
                                }
                            }).collect_view()}
                        </div>
                        {echo.error("scopes").map(|e| view! { <p class="field-error">{e}</p> })}
                    </fieldset>
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
                    <Button pending=create.pending() pending_label="Creating…">"Create token"</Button>
                </div>
            </ActionForm>
        </section>
    }
}
