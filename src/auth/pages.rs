//! The login page.

use super::{login_error_message, Login};
use crate::ui::{Button, Flash, FlashKind, FormField};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// E-mail and password; errors come back in the address (`?error=…`) so the
/// page reads the same with and without JavaScript.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let login = ServerAction::<Login>::new();
    let error_code = move || query.read().get("error");
    let banner =
        move || error_code().filter(|c| c != "email").and_then(|c| login_error_message(&c)).map(str::to_string);
    let email_error = Signal::derive(move || {
        (error_code().as_deref() == Some("email")).then(|| login_error_message("email").unwrap_or_default().to_string())
    });
    let notice = move || {
        let q = query.read();
        if q.get("signed_out").is_some() {
            Some("You have signed out.")
        } else if q.get("expired").is_some() {
            Some("Your session has ended. Sign in again to continue.")
        } else {
            None
        }
    };
    let next = move || query.read().get("next").unwrap_or_default();
    view! {
        <Title text="Sign in"/>
        <main class="auth-page" id="main">
            <section class="auth-card" aria-labelledby="login-title">
                <p class="brand brand-large" aria-hidden="true">"Bulkhead"</p>
                <h1 id="login-title">"Sign in to Bulkhead"</h1>
                {move || notice().map(|n| view! { <Flash kind=FlashKind::Info message=n/> })}
                {move || banner().map(|m| view! { <Flash kind=FlashKind::Error message=m/> })}
                <ActionForm action=login>
                    <div class="stack">
                        <input type="hidden" name="next" value=next/>
                        <FormField label="E-mail address" name="email" input_type="email"
                            autocomplete="username" required=true autofocus=true error=email_error/>
                        <FormField label="Password" name="password" input_type="password"
                            autocomplete="current-password" required=true/>
                        <Button pending=login.pending() pending_label="Signing in…">"Sign in"</Button>
                    </div>
                </ActionForm>
            </section>
        </main>
    }
}
