//! The second step's pages: the code form, TOTP enrolment and the recovery
//! codes shown once. Like the login page they stand alone, outside the console.

use super::mfa::{
    code_error_message, mfa_enrolment, mfa_reset_link, reset_problem_message, take_recovery_codes, BeginEnrolment,
    ConfirmEnrolment, OpenMfaReset, VerifyCode,
};
use crate::ui::{error_view, Button, Flash, FlashKind, FormField};
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::{use_params_map, use_query_map};

/// The code after the password: TOTP or a recovery code.
#[component]
pub fn LoginCodePage() -> impl IntoView {
    let query = use_query_map();
    let verify = ServerAction::<VerifyCode>::new();
    let error =
        Signal::derive(move || query.read().get("error").and_then(|c| code_error_message(&c)).map(str::to_string));
    let next = move || query.read().get("next").unwrap_or_default();
    view! {
        <Title text="Two-factor authentication"/>
        <main class="auth-page" id="main">
            <section class="auth-card" aria-labelledby="code-title">
                <p class="brand brand-large" aria-hidden="true">"Bulkhead"</p>
                <h1 id="code-title">"Two-factor authentication"</h1>
                <p class="muted">"Enter the six-digit code your authenticator app shows for Bulkhead, or one of your recovery codes."</p>
                <ActionForm action=verify>
                    <div class="stack">
                        <input type="hidden" name="next" value=next/>
                        <FormField label="Authentication code" name="code" autocomplete="one-time-code"
                            required=true autofocus=true error=error/>
                        <Button pending=verify.pending() pending_label="Checking…">"Verify"</Button>
                    </div>
                </ActionForm>
                <p><a href="/login" rel="external">"Start again"</a></p>
            </section>
        </main>
    }
}

/// TOTP enrolment: the QR code, the secret as text and the `otpauth://`
/// address, then a first code to prove the app holds the secret.
#[component]
pub fn EnrolPage() -> impl IntoView {
    let confirm = ServerAction::<ConfirmEnrolment>::new();
    let begin = ServerAction::<BeginEnrolment>::new();
    // Asked again once the password is accepted (with JavaScript the page stays in place).
    let data = Resource::new(move || begin.version().get(), |_| mfa_enrolment());
    let echo = crate::ui::form::use_form_echo();
    view! {
        <Title text="Set up two-factor authentication"/>
        <main class="auth-page" id="main">
            <section class="auth-card auth-card-wide" aria-labelledby="enrol-title">
                <p class="brand brand-large" aria-hidden="true">"Bulkhead"</p>
                <h1 id="enrol-title">"Set up two-factor authentication"</h1>
                // Not ui::Loaded: the form's echo and the enrolment are awaited together, with an arm per step.
                <Suspense fallback=|| view! { <p class="muted" aria-live="polite">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let echo = echo.await;
                        let (error, password_error) = (echo.error("code"), echo.error("password"));
                        match data.await {
                            Ok(e) if e.needs_password => view! {
                                <p>{format!("Enter the password of {} to set up an authenticator app.", e.email)}</p>
                                <ActionForm action=begin>
                                    <div class="stack">
                                        <FormField label="Password" name="password" input_type="password"
                                            autocomplete="current-password" required=true error=password_error.clone()/>
                                        <Button pending=begin.pending() pending_label="Checking…">"Continue"</Button>
                                    </div>
                                </ActionForm>
                            }.into_any(),
                            Ok(e) if e.enrolled => view! {
                                <Flash kind=FlashKind::Info message="Two-factor authentication is already on for this account."/>
                                <p><a href="/">"Go to the console"</a></p>
                            }.into_any(),
                            Ok(e) => view! {
                                {e.replacing.then(|| view! {
                                    <p class="muted">"This new secret replaces your current one once you enter a code from it; until then the current one keeps working."</p>
                                })}
                                <p>{format!("Scan this code with an authenticator app (for {}):", e.email)}</p>
                                <img class="qr" src=format!("data:image/png;base64,{}", e.qr_png)
                                    alt="QR code of the TOTP secret" width="200" height="200"/>
                                <p>"Or type this secret into the app:"</p>
                                <p><code class="secret" aria-label="Secret">{e.secret.clone()}</code></p>
                                <details>
                                    <summary>"Setup address (otpauth)"</summary>
                                    <p><code class="secret">{e.uri.clone()}</code></p>
                                </details>
                                <ActionForm action=confirm>
                                    <div class="stack">
                                        <FormField label="Code from the app" name="code" autocomplete="one-time-code"
                                            required=true error=error/>
                                        <Button pending=confirm.pending() pending_label="Checking…">"Turn on two-factor authentication"</Button>
                                    </div>
                                </ActionForm>
                            }.into_any(),
                            Err(crate::error::AppError::Unauthorized) => view! {
                                <Flash kind=FlashKind::Error message="Sign in first."/>
                                <p><a href="/login" rel="external">"Sign in"</a></p>
                            }.into_any(),
                            Err(e) => error_view(e),
                        }
                    })}
                </Suspense>
            </section>
        </main>
    }
}

/// The recovery codes, shown this once.
#[component]
pub fn RecoveryCodesPage() -> impl IntoView {
    let codes = Resource::new(|| (), |_| take_recovery_codes());
    view! {
        <Title text="Recovery codes"/>
        <main class="auth-page" id="main">
            <section class="auth-card" aria-labelledby="codes-title">
                <p class="brand brand-large" aria-hidden="true">"Bulkhead"</p>
                <h1 id="codes-title">"Save your recovery codes"</h1>
                // Not ui::Loaded: an empty list of codes has its own message.
                <Suspense fallback=|| view! { <p class="muted" aria-live="polite">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match codes.await {
                            Ok(list) if !list.is_empty() => view! {
                                <Flash kind=FlashKind::Success message="Two-factor authentication is on."/>
                                <p>"Each code signs you in once if you lose your device. They are shown only now: store them somewhere safe."</p>
                                <ul class="recovery-codes" aria-label="Recovery codes">
                                    {list.into_iter().map(|c| view! { <li><code>{c}</code></li> }).collect_view()}
                                </ul>
                                <p><a class="btn btn-primary" href="/" rel="external">"I have saved them: continue"</a></p>
                            }.into_any(),
                            Ok(_) => view! {
                                <p>"There are no new recovery codes to show: they are shown only once."</p>
                                <p><a href="/">"Go to the console"</a></p>
                            }.into_any(),
                            Err(e) => error_view(e),
                        }
                    })}
                </Suspense>
            </section>
        </main>
    }
}

/// `/mfa-reset/{token}`: a second-factor reset link. Its holder enters the
/// account's password, then sets up the new factor on the enrolment page.
#[component]
pub fn MfaResetPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let link = Resource::new(token, mfa_reset_link);
    let echo = crate::ui::form::use_form_echo();
    let open = ServerAction::<OpenMfaReset>::new();
    view! {
        <Title text="Set up two-factor authentication again"/>
        // The token is in the address: send it to no other site.
        <Meta name="referrer" content="no-referrer"/>
        <main class="auth-page" id="main">
            <section class="auth-card" aria-labelledby="reset-title">
                <p class="brand brand-large" aria-hidden="true">"Bulkhead"</p>
                <h1 id="reset-title">"Set up two-factor authentication again"</h1>
                // Not ui::Loaded: the form's echo and the link are awaited together; a spent link has its own message.
                <Suspense fallback=|| view! { <p class="muted" aria-live="polite">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let echo = crate::ui::form::Echo::new(echo.await);
                        let form_error = echo.form_error().map(|m| view! { <Flash kind=FlashKind::Error message=m/> });
                        match link.await {
                            Ok(v) if v.problem.is_some() => view! {
                                <Flash kind=FlashKind::Error message=reset_problem_message(v.problem.as_deref().unwrap_or_default())/>
                                <p><a href="/login" rel="external">"Go to sign in"</a></p>
                            }.into_any(),
                            Ok(v) => view! {
                                {form_error}
                                <p>{format!("A platform administrator reset the two-factor authentication of {}.", v.email.unwrap_or_default())}</p>
                                <p class="muted">"Enter your password; next you will scan a new code with your authenticator app. Your current app keeps working until the new one is confirmed."</p>
                                <ActionForm action=open>
                                    <div class="stack">
                                        <input type="hidden" name="token" value=token/>
                                        <FormField label="Password" name="password" input_type="password"
                                            autocomplete="current-password" required=true error=echo.error("password")/>
                                        <Button pending=open.pending() pending_label="Checking…">"Continue"</Button>
                                    </div>
                                </ActionForm>
                            }.into_any(),
                            Err(e) => error_view(e),
                        }
                    })}
                </Suspense>
            </section>
        </main>
    }
}
