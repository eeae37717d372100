//! `/tenants/{slug}/activation`: the checklist, one step at a time, with
//! each step's record; platform admins run it, everyone else reads it.

use super::state::{ActivationState, Step};
use super::{activation, done_message, ActivationView, ConfigureActivation, RunActivationStep};
use crate::ui::form::Echo;
use crate::ui::{format_time, Badge, Button, EmptyState, Flash, FlashKind, FormField, Loaded, Table};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn ActivationPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let configure = ServerAction::<ConfigureActivation>::new();
    let run = ServerAction::<RunActivationStep>::new();
    // Read again after every action (with JavaScript the page stays in place).
    let data = Resource::new(
        move || (slug(), configure.version().get(), run.version().get()),
        |(slug, _, _)| activation(slug),
    );
    let echo = crate::ui::form::use_form_echo();
    view! {
        <Title text="Activation checklist"/>
        <div class="page-head">
            <h1>"Activation checklist"</h1>
            <a class="btn btn-link" href=move || format!("/tenants/{}", slug())>"Back to the tenant"</a>
        </div>
        {move || query.read().get("done").and_then(|c| done_message(&c)).map(|m| view! {
            <Flash kind=FlashKind::Success message=m/>
        })}
        <Loaded resource=data let:view>
            // Not ui::Loaded: the checklist also waits for the form's echo, inside the data's Loaded.
            <Suspense>
                {move || {
                    let view = view.clone();
                    Suspend::new(async move { view! { <Checklist view echo=Echo::new(echo.await) configure run/> } })
                }}
            </Suspense>
        </Loaded>
    }
}

fn state_label(s: ActivationState) -> &'static str {
    match s {
        ActivationState::Requested => "Requested: set the configuration, then render",
        ActivationState::Rendered => "Rendered",
        ActivationState::Validated => "Validated",
        ActivationState::Applied => "Applied",
        ActivationState::Verified => "Verified",
        ActivationState::Active => "Active: running dedicated",
        ActivationState::Failed => "Failed",
        ActivationState::RolledBack => "Rolled back",
    }
}

#[component]
fn Checklist(
    view: ActivationView,
    echo: Echo,
    configure: ServerAction<ConfigureActivation>,
    run: ServerAction<RunActivationStep>,
) -> impl IntoView {
    let Some(live) = view.live.clone() else {
        return view! {
            <EmptyState title="No checklist open" hint="A tenant gets an activation checklist when it moves to isolation level 3."/>
        }
        .into_any();
    };
    let slug = view.slug.clone();
    let version = live.version.to_string();
    // Which steps are done: those whose state the checklist has passed.
    let order = [
        ActivationState::Requested,
        ActivationState::Rendered,
        ActivationState::Validated,
        ActivationState::Applied,
        ActivationState::Verified,
        ActivationState::Active,
    ];
    let reached = order.iter().position(|s| *s == live.state);
    let steps = Step::ALL
        .into_iter()
        .map(|step| {
            let done = reached.is_some_and(|r| order.iter().position(|s| *s == step.reaches()).is_some_and(|i| i <= r));
            let failed = live.failed_step == Some(step);
            let current = live.next == Some(step);
            let (tone, label) = if failed {
                ("danger", "failed")
            } else if done {
                ("success", "done")
            } else if current {
                ("info", "next")
            } else {
                ("neutral", "waiting")
            };
            view! {
                <li class="checklist-step" aria-current=current.then_some("step")>
                    <Badge text=label tone/>
                    " "{step.label()}
                </li>
            }
        })
        .collect_view();
    let value = move |k: &str, current: &Option<String>| echo.value(k).or_else(|| current.clone());
    let configured = live.domain.is_some();
    let config_form = (view.can_run && live.state.configurable()).then(|| {
        let (slug, version) = (slug.clone(), version.clone());
        let (domain, upstream, health_url) = (live.domain.clone(), live.upstream.clone(), live.health_url.clone());
        view! {
            <h2>"Configuration"</h2>
            <ActionForm action=configure>
                <input type="hidden" name="slug" value=slug/>
                <input type="hidden" name="version" value=version/>
                <div class="form-grid">
                    <FormField label="Dedicated domain" name="domain" required=true value=value("domain", &domain)
                        error=echo.error("domain") hint="The tenant API's own host name, for example api.customer.example."/>
                    <FormField label="Dedicated upstream" name="upstream" required=true value=value("upstream", &upstream)
                        error=echo.error("upstream") hint="Where the proxy sends the tenant's calls once dedicated, for example http://tenant-api.tenant-acme.svc:80."/>
                    <FormField label="Health URL" name="health_url" required=true value=value("health_url", &health_url)
                        error=echo.error("health_url") hint="Answers 200 when the dedicated API runs."/>
                </div>
                <p class="field-hint">"Saving starts the checklist again from rendering: nothing is kept as done that was checked on another configuration."</p>
                <div class="form-actions">
                    <Button kind=crate::ui::ButtonKind::Secondary pending=configure.pending() pending_label="Saving…">"Save configuration"</Button>
                </div>
            </ActionForm>
        }
    });
    let next_form = (view.can_run && configured).then_some(live.next).flatten().map(|step| {
        let (slug, version) = (slug.clone(), version.clone());
        let retry = live.state == ActivationState::Failed;
        view! {
            <h2>{if retry { "Try the step again" } else { "Next step" }}</h2>
            <ActionForm action=run>
                <input type="hidden" name="slug" value=slug/>
                <input type="hidden" name="version" value=version/>
                <input type="hidden" name="step" value=step.as_str()/>
                {(step == Step::Apply).then(|| view! {
                    <label class="check">
                        <input type="checkbox" name="applied" required=true/>
                        "I applied the rendered manifests to the cluster"
                    </label>
                    {echo.error("applied").map(|e| view! { <p class="field-error">{e}</p> })}
                })}
                <div class="form-actions">
                    <Button pending=run.pending() pending_label="Checking…">{step.label()}</Button>
                </div>
            </ActionForm>
        }
    });
    let files = (!live.files.is_empty()).then(|| {
        let links = live
            .files
            .iter()
            .map(|f| {
                let href = format!("/tenants/{}/activation/files/{f}", view.slug);
                view! { <li><a rel="external" download="" href=href>{f.clone()}</a></li> }
            })
            .collect_view();
        let bundle = format!("/tenants/{}/activation/bundle.tar", view.slug);
        view! {
            <h2>"Rendered files"</h2>
            <ul>{links}</ul>
            <p><a class="btn" rel="external" download="" href=bundle>"Download the directory for Git (tar)"</a></p>
            <p class="field-hint">"Commit it where Argo CD or Flux watches: its kustomization.yaml lists the manifests. "
                "The same as " <code>"bulkhead tenant render --slug " {view.slug.clone()} " --out DIR"</code> "."</p>
        }
    });
    let history = if view.history.is_empty() {
        view! { <EmptyState title="Nothing recorded yet" hint="Each step records who ran it, when, the evidence and the outcome."/> }.into_any()
    } else {
        let headers = vec![
            ("When".into(), false),
            ("Step".into(), false),
            ("Outcome".into(), false),
            ("By".into(), false),
            ("Evidence".into(), false),
        ];
        let rows = view
            .history
            .iter()
            .map(|r| {
                let tone = if r.outcome == "passed" { "success" } else { "danger" };
                view! {
                    <tr>
                        <td>{format_time(r.at)}</td>
                        <td>{r.step.clone()}</td>
                        <td><Badge text=r.outcome.clone() tone/></td>
                        <td>{r.actor.clone()}</td>
                        <td><details><summary>"Evidence"</summary><pre class="evidence">{r.evidence.clone()}</pre></details></td>
                    </tr>
                }
            })
            .collect_view();
        view! { <Table caption="What each step recorded" headers>{rows}</Table> }.into_any()
    };
    view! {
        <p>
            {format!("{} — ", view.tenant_name)}
            <Badge text=state_label(live.state) tone=live.state.tone()/>
        </p>
        {echo.form_error().map(|m| view! { <Flash kind=FlashKind::Error message=m/> })}
        {view.fresh_queue_password.clone().map(|p| view! {
            <div class="flash flash-success" role="status">
                <p>{format!("The tenant's Redis user tenant_{} was made. Give its workers this password; it is shown only now:", view.slug)}</p>
                <p><code class="secret" aria-label="Redis password">{p}</code></p>
            </div>
        })}
        {live.drift.clone().map(|m| view! {
            <div class="flash flash-error" role="alert"><strong>"Drift: "</strong>{m}</div>
        })}
        {live.failure.clone().map(|m| view! {
            <div class="flash flash-error" role="alert"><strong>"Why it failed: "</strong>{m}</div>
        })}
        <ol class="checklist" aria-label="Steps">{steps}</ol>
        {config_form}
        {next_form}
        {files}
        {view.report.clone().map(|r| {
            let href = format!("/tenants/{}/activation/report.json", view.slug);
            view! {
                <h2>"Integrity report"</h2>
                <p>{format!("Signed {} with key {}.", format_time(r.issued_at), r.key_id)}</p>
                <p class="muted">{format!("SHA-256 of the report: {}", r.sha256)}</p>
                <Table caption="The files this report vouches for" headers=vec![("File".into(), false), ("SHA-256".into(), false)]>
                    {r.subjects.iter().map(|(name, sha)| view! {
                        <tr><td>{name.clone()}</td><td><code>{sha.clone()}</code></td></tr>
                    }).collect_view()}
                </Table>
                <details><summary>"What it states: what was rendered, what the probes observed, what nobody observed"</summary><pre class="evidence">{r.predicate.clone()}</pre></details>
                <p>
                    <a class="btn" rel="external" download="" href=href>"Download the signed report"</a>
                </p>
                <p class="field-hint">"Check it offline with " <code>"bulkhead report verify FILE --keys KEYS"</code> ", the keys being " <code>"/.well-known/bulkhead/report-keys"</code> "."</p>
            }
        })}
        <h2>"Record"</h2>
        {history}
    }
    .into_any()
}
