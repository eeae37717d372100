//! The account page: password and second factor.

use super::account::{account, account_done_message, ChangePassword, RegenerateRecoveryCodes, RestartEnrolment};
use crate::ui::{error_view, Button, Flash, FlashKind, FormField};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn AccountPage() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new(|| (), |_| account());
    let change = ServerAction::<ChangePassword>::new();
    let regenerate = ServerAction::<RegenerateRecoveryCodes>::new();
    let restart = ServerAction::<RestartEnrolment>::new();
    let echo = crate::ui::form::use_form_echo();
    view! {
        <Title text="Account"/>
        <h1>"Account"</h1>
        {move || query.read().get("done").and_then(|c| account_done_message(&c)).map(|m| view! { <Flash kind=FlashKind::Success message=m/> })}
        // Not ui::Loaded: the form's echo and the account are awaited together.
        <Suspense fallback=|| view! { <p class="muted" aria-live="polite">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let echo = crate::ui::form::Echo::new(echo.await);
                let error = move |k: &str| echo.error(k);
                match data.await {
                    Ok(a) => view! {
                        {echo.form_error().map(|m| view! { <Flash kind=FlashKind::Error message=m/> })}
                        <p>{format!("Signed in as {}.", a.email)}</p>
                        <section aria-labelledby="password-title">
                            <h2 id="password-title">"Password"</h2>
                            <ActionForm action=change>
                                <div class="stack narrow">
                                    <FormField label="Current password" name="current" input_type="password" autocomplete="current-password" required=true error=error("current")/>
                                    <FormField label="New password" name="new" input_type="password" autocomplete="new-password" required=true error=error("new")
                                        hint="At least 12 characters, not a common one, not containing your e-mail address. Your other sessions end."/>
                                    <FormField label="New password again" name="confirm" input_type="password" autocomplete="new-password" required=true error=error("confirm")/>
                                    <Button pending=change.pending() pending_label="Changing…">"Change password"</Button>
                                </div>
                            </ActionForm>
                        </section>
                        <section aria-labelledby="mfa-title">
                            <h2 id="mfa-title">"Two-factor authentication"</h2>
                            {if a.mfa {
                                view! {
                                    <p>{format!("On. {} recovery codes left.", a.recovery_codes_left)}</p>
                                    <h3>"New recovery codes"</h3>
                                    <p class="muted">"The old codes stop working."</p>
                                    <ActionForm action=regenerate>
                                        <div class="stack narrow">
                                            <FormField label="Password" name="password" id="codes-password" input_type="password" autocomplete="current-password" required=true error=error("codes_password")/>
                                            <FormField label="Current code" name="code" id="codes-code" autocomplete="one-time-code" required=true error=error("codes_code")/>
                                            <Button pending=regenerate.pending() pending_label="Generating…">"Generate new recovery codes"</Button>
                                        </div>
                                    </ActionForm>
                                    <h3>"Set up again"</h3>
                                    <p class="muted">"For a new phone: turns the current app off, then shows a new secret."</p>
                                    <ActionForm action=restart>
                                        <div class="stack narrow">
                                            <FormField label="Password" name="password" id="reenrol-password" input_type="password" autocomplete="current-password" required=true error=error("reenrol_password")/>
                                            <FormField label="Current code" name="code" id="reenrol-code" autocomplete="one-time-code" required=true error=error("reenrol_code")/>
                                            <Button pending=restart.pending() pending_label="Checking…">"Set up two-factor authentication again"</Button>
                                        </div>
                                    </ActionForm>
                                }.into_any()
                            } else {
                                view! {
                                    <p>"Off."</p>
                                    <p><a class="btn btn-primary" href="/login/enrol">"Set up two-factor authentication"</a></p>
                                }.into_any()
                            }}
                        </section>
                    }.into_any(),
                    Err(e) => error_view(e),
                }
            })}
        </Suspense>
    }
}
