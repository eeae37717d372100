//! A tenant admin's Team page: their tenant, and its admins section (the
//! team capability's), where they invite and revoke.

use crate::ui::{error_view, Flash, FlashKind};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// A tenant admin's Team page: the admins of their tenant, inviting and revoking.
#[component]
pub fn TeamPage() -> impl IntoView {
    let query = use_query_map();
    let tenant = Resource::new(|| (), |_| super::my_tenant());
    let echo = crate::ui::form::use_form_echo();
    view! {
        <Title text="Team"/>
        <h1>"Team"</h1>
        {move || query.read().get("done").and_then(|c| super::done_message(&c)).map(|m| view! { <Flash kind=FlashKind::Success message=m/> })}
        // Not ui::Loaded: the form's echo and the tenant are awaited together.
        <Suspense fallback=|| view! { <p class="muted" aria-live="polite">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let refused = echo.await.form_error().map(|m| view! { <Flash kind=FlashKind::Error message=m/> });
                match tenant.await {
                    Ok(t) => view! { {refused} <crate::team::TenantAdminsSection slug=t.tenant.slug can_edit=true/> }.into_any(),
                    Err(e) => error_view(e),
                }
            })}
        </Suspense>
    }
}
