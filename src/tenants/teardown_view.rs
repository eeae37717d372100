//! The tenant page's account of a dedicated instance taken down: what
//! Bulkhead did and observed, what is still pending and why, and what only
//! the operator can remove.

use super::Teardown;
use crate::ui::{format_time, Badge, Table};
use leptos::prelude::*;

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
