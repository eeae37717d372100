//! The invitation link's page, and the tenant admins section of a tenant's page.

use super::{
    invitation, problem_message, tenant_admins, AcceptInvitation, InviteTenantAdmin, ManageTenantAdmin,
    RevokeInvitation,
};
use crate::ui::{error_view, format_time, Badge, Button, EmptyState, Flash, FlashKind, FormField, Loaded, Table};
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::{use_params_map, use_query_map};

/// `/invite/{token}`: who is invited to which tenant, and the password form.
#[component]
pub fn InvitationPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let view_data = Resource::new(token, invitation);
    let echo = crate::ui::form::use_form_echo();
    let accept = ServerAction::<AcceptInvitation>::new();
    view! {
        <Title text="Accept your invitation"/>
        // The token is in the address: send it to no other site.
        <Meta name="referrer" content="no-referrer"/>
        <main class="auth-page" id="main">
            <section class="auth-card" aria-labelledby="invite-title">
                <p class="brand brand-large" aria-hidden="true">"Bulkhead"</p>
                <h1 id="invite-title">"Accept your invitation"</h1>
                // Not ui::Loaded: the form's echo and the invitation are awaited together; a spent link has its own message.
                <Suspense fallback=|| view! { <p class="muted" aria-live="polite">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let echo = crate::ui::form::Echo::new(echo.await);
                        let error = move |k: &str| echo.error(k);
                        let form_error = echo.form_error().map(|m| view! { <Flash kind=FlashKind::Error message=m/> });
                        match view_data.await {
                            Ok(v) if v.problem.is_some() => view! {
                                <Flash kind=FlashKind::Error message=problem_message(v.problem.as_deref().unwrap_or_default())/>
                                <p><a href="/login" rel="external">"Go to sign in"</a></p>
                            }.into_any(),
                            Ok(v) => view! {
                                {form_error}
                                <p>{format!("You are invited to administer {} as {}.", v.tenant_name.unwrap_or_default(), v.email.unwrap_or_default())}</p>
                                <p class="muted">"Choose a password (at least 12 characters, not a common one, not containing your e-mail address). Next you will set up an authenticator app."</p>
                                <ActionForm action=accept>
                                    <div class="stack">
                                        <input type="hidden" name="token" value=token/>
                                        <FormField label="Password" name="password" input_type="password"
                                            autocomplete="new-password" required=true error=error("password")/>
                                        <FormField label="Password again" name="confirm" input_type="password"
                                            autocomplete="new-password" required=true error=error("confirm")/>
                                        <Button pending=accept.pending() pending_label="Creating…">"Create my account"</Button>
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

fn state_tone(state: &str) -> &'static str {
    match state {
        "pending" => "info",
        "used" => "success",
        "revoked" | "expired" => "neutral",
        _ => "neutral",
    }
}

/// The tenant's admins and invitations; platform admins invite and revoke.
#[component]
pub fn TenantAdminsSection(
    slug: String,
    /// May invite and revoke.
    can_edit: bool,
    /// May reset a second factor or disable an account (platform admins).
    #[prop(optional)]
    manage: bool,
    /// The admins, loaded by the page from its top level ([`admins_resource`]);
    /// without it the section loads them itself.
    #[prop(optional)]
    data: Option<AdminsResource>,
) -> impl IntoView {
    let data = data.unwrap_or_else(|| {
        let slug = slug.clone();
        admins_resource(move || slug.clone())
    });
    let echo = crate::ui::form::use_form_echo();
    let invite = ServerAction::<InviteTenantAdmin>::new();
    let slug_for_list = slug.clone();
    view! {
        <section id="admins" aria-labelledby="admins-title">
            <h2 id="admins-title">"Tenant admins"</h2>
            <Loaded resource=data section=true children=move |d| view! { <AdminsList data=d slug=slug_for_list.clone() can_edit manage/> }/>
            {can_edit.then(|| view! {
                <ActionForm action=invite attr:class="inline-form">
                    <input type="hidden" name="slug" value=slug.clone()/>
                    // Not ui::Loaded: only the form's echo is awaited, inside a form that is already shown.
                    <Suspense>
                        {move || Suspend::new(async move {
                            let echo = echo.await;
                            view! {
                                <FormField label="Invite an admin by e-mail" name="email" input_type="email"
                                    value=echo.value("invite_email") error=echo.error("invite_email")/>
                            }
                        })}
                    </Suspense>
                    <Button pending=invite.pending() pending_label="Inviting…">"Create invitation link"</Button>
                </ActionForm>
            })}
        </section>
    }
}

#[component]
fn AdminsList(data: super::AdminsOverview, slug: String, can_edit: bool, manage: bool) -> impl IntoView {
    let revoke = ServerAction::<RevokeInvitation>::new();
    let link = data.fresh_link.map(|link| {
        let (what, label) = if link.contains("/mfa-reset/") {
            ("Two-factor reset link created. Send it to the admin alone: it works once, for 72 hours, with their password, and is shown only now:", "Reset link")
        } else {
            ("Invitation created. Send this link to the person; it works once, for 72 hours, and is shown only now:", "Invitation link")
        };
        view! {
            <div class="flash flash-success" role="status">
                <p>{what}</p>
                <p><code class="secret" aria-label=label>{link}</code></p>
            </div>
        }
    });
    let admins_slug = slug.clone();
    let admins = if data.admins.is_empty() {
        view! { <EmptyState title="No tenant admins yet" hint="Invite the customer's administrator with the form below."/> }.into_any()
    } else {
        let headers =
            ["E-mail", "Two-factor", "Status", "Since", ""].into_iter().map(|h| (h.to_string(), false)).collect();
        view! {
            <Table caption="Administrators" headers>
                {data.admins.into_iter().map(|a| {
                    let actions = (manage && !a.disabled).then(|| view! {
                        <AdminActions slug=admins_slug.clone() user_id=a.id.to_string() email=a.email.clone() mfa=a.mfa locked=a.locked/>
                    });
                    view! {
                        <tr>
                            <td>{a.email.clone()}</td>
                            <td>{if a.mfa { "On" } else { "Not set up" }}</td>
                            <td>{if a.disabled { "Disabled" } else if a.locked { "Locked" } else { "Active" }}</td>
                            <td class="nowrap">{format_time(a.created_at)}</td>
                            <td>{actions}</td>
                        </tr>
                    }
                }).collect_view()}
            </Table>
        }
        .into_any()
    };
    let invitations = (!data.invitations.is_empty()).then(|| {
        let headers = ["Invited", "State", "Sent", "Expires", ""].into_iter().map(|h| (h.to_string(), false)).collect();
        view! {
            <Table caption="Invitations" headers>
                {data.invitations.into_iter().map(|i| {
                    let pending = i.state == "pending";
                    let (slug, id, email) = (slug.clone(), i.id.to_string(), i.email.clone());
                    view! {
                        <tr>
                            <td>{i.email.clone()}</td>
                            <td><Badge text=i.state.clone() tone=state_tone(&i.state)/></td>
                            <td class="nowrap">{format_time(i.created_at)}</td>
                            <td class="nowrap">{format_time(i.expires_at)}</td>
                            <td>
                                {(pending && can_edit).then(|| view! {
                                    <ActionForm action=revoke>
                                        <input type="hidden" name="slug" value=slug/>
                                        <input type="hidden" name="id" value=id/>
                                        <button type="submit" class="btn btn-link" aria-label=format!("Revoke the invitation of {email}")>"Revoke"</button>
                                    </ActionForm>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </Table>
        }
    });
    view! { {link} {admins} {invitations} }
}

/// Reset a tenant admin's two-factor or disable the account, each behind a ticked confirmation.
#[component]
fn AdminActions(slug: String, user_id: String, email: String, mfa: bool, locked: bool) -> impl IntoView {
    let manage = ServerAction::<ManageTenantAdmin>::new();
    let form = move |action: &'static str, label: String, confirm: &'static str| {
        let (slug, user_id) = (slug.clone(), user_id.clone());
        view! {
            <ActionForm action=manage>
                <input type="hidden" name="slug" value=slug/>
                <input type="hidden" name="user_id" value=user_id/>
                <input type="hidden" name="action" value=action/>
                <label class="check"><input type="checkbox" name="confirm" required=true/>{confirm}</label>
                <button type="submit" class="btn btn-danger">{label}</button>
            </ActionForm>
        }
    };
    view! {
        <details>
            <summary>{format!("Manage {email}")}</summary>
            <div class="stack">
                {locked.then(|| form("unlock", format!("Unlock {email}"), "They can sign in again with their password"))}
                {mfa.then(|| form("reset_mfa", format!("Reset two-factor of {email}"), "A one-time link lets them set up a new app with their password; the current one works until then"))}
                {form("disable", format!("Disable {email}"), "Their sessions end now")}
            </div>
        </details>
    }
}

/// The admins and invitations of a tenant.
pub type AdminsResource = Resource<Result<super::AdminsOverview, crate::error::AppError>>;

/// Loads the admins of the tenant `slug` names, again after every action
/// (`done` or the form's echo changes), so the list and a new link show. A
/// page creates it at its top level, beside its other data, rather than inside
/// a `Suspense` (leptos-rs/leptos#4866: a resource created while a `Suspense`
/// renders can keep server rendering waiting).
pub fn admins_resource(slug: impl Fn() -> String + Send + Sync + 'static) -> AdminsResource {
    let query = use_query_map();
    Resource::new(
        move || (slug(), query.read().get("done"), query.read().get(crate::ui::form::ECHO_PARAM)),
        |(slug, _, _)| tenant_admins(slug),
    )
}
