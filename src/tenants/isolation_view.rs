//! The tenant page's account of its isolation outside the database: a
//! level-2 namespace as rendered and checked, and a dedicated instance taken
//! down (what Bulkhead did and observed, what is still pending and why, and
//! what only the operator can remove).

use crate::ui::{format_time, Badge, Table};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A dedicated instance's teardown as the tenant's page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Teardown {
    /// `deleted` or `left_level_3`.
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub done_at: Option<OffsetDateTime>,
    /// Why it is still pending.
    pub last_failure: Option<String>,
    /// What the operator must remove: what, its name, how (from the signed statement).
    pub operator_must_remove: Vec<(String, String, String)>,
}

/// A level-2 namespace's newest render as the tenant's page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamespaceRender {
    pub level: i16,
    pub namespace: String,
    /// The YAML's SHA-256, in hex.
    pub sha256: String,
    /// The invariants it broke as written (none: it was checked and holds).
    pub problems: Vec<String>,
    pub actor: String,
    #[serde(with = "time::serde::rfc3339")]
    pub rendered_at: OffsetDateTime,
}

#[component]
pub fn NamespaceSection(render: NamespaceRender, slug: String) -> impl IntoView {
    let checked = if render.problems.is_empty() {
        view! {
            <p><Badge text="checked" tone="success"/>" "
            "The NetworkPolicy, ResourceQuota and LimitRange keep their invariants as written."</p>
        }
        .into_any()
    } else {
        view! {
            <div class="flash flash-error" role="alert">
                {format!("The rendered namespace breaks its invariants: {}.", render.problems.join("; "))}
            </div>
        }
        .into_any()
    };
    view! {
        <section aria-labelledby="namespace-heading">
            <div class="page-head">
                <h2 id="namespace-heading">"Namespace"</h2>
                <a class="btn" rel="external" download="" href=format!("/tenants/{slug}/namespace.yaml")>"Download the manifests"</a>
            </div>
            <dl class="props">
                <dt>"Namespace"</dt><dd><code>{render.namespace.clone()}</code></dd>
                <dt>"Rendered"</dt><dd>{format!("{} by {} (level {})", format_time(render.rendered_at), render.actor, render.level)}</dd>
                <dt>"SHA-256"</dt><dd><code class="digest">{render.sha256.clone()}</code></dd>
            </dl>
            {checked}
            <p class="field-hint">"Apply it with kubectl or a GitOps tool: Bulkhead renders the namespace, its NetworkPolicy (ingress from the router only; egress to the cluster DNS, the tenant database and Redis only), its ResourceQuota and LimitRange from the effective quotas, and checks them as written. Whether the cluster enforces them is the operator's to see."</p>
        </section>
    }
}

#[component]
pub fn TeardownSection(teardown: Teardown, slug: String, staff: bool) -> impl IntoView {
    let why = if teardown.reason == "deleted" { "the tenant was deleted" } else { "the tenant left isolation level 3" };
    let status = match (&teardown.done_at, &teardown.last_failure) {
        (Some(done), _) => view! {
            <p>
                <Badge text="done" tone="success"/>" "
                {format!("Requested {} because {why}; Bulkhead removed the Redis user and stream and observed them gone, {}.",
                    format_time(teardown.requested_at), format_time(*done))}
            </p>
        }
        .into_any(),
        (None, Some(reason)) => view! {
            <div class="flash flash-error" role="status">
                <strong>"Teardown waiting: "</strong>{reason.clone()}" It is tried again every few seconds."
            </div>
        }
        .into_any(),
        (None, None) => view! { <p class="muted" aria-live="polite">"Teardown requested: under way…"</p> }.into_any(),
    };
    let list = (!teardown.operator_must_remove.is_empty()).then(|| {
        let rows = teardown
            .operator_must_remove
            .iter()
            .map(|(what, name, how)| {
                view! {
                    <tr><td>{what.clone()}</td><td><code>{name.clone()}</code></td><td><code>{how.clone()}</code></td></tr>
                }
            })
            .collect_view();
        let headers = vec![("What".into(), false), ("Name".into(), false), ("How".into(), false)];
        view! { <Table caption="What the operator must remove" headers>{rows}</Table> }
    });
    let download = (staff && teardown.done_at.is_some()).then(|| {
        view! {
            <p>
                <a class="btn" rel="external" download="" href=format!("/tenants/{slug}/teardown.json")>"Download the signed teardown statement"</a>
                " Check it with " <code>"bulkhead report verify FILE --keys KEYS"</code> "."
            </p>
        }
    });
    view! {
        <section aria-labelledby="teardown-heading">
            <h2 id="teardown-heading">"Dedicated instance teardown"</h2>
            {status}
            {list}
            {download}
        </section>
    }
}
