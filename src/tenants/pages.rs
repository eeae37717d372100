//! A tenant's page: configuration, quotas, usage and the changes platform admins make.

use super::domain::isolation_label;
use super::{
    done_message, get_tenant, ChangeIsolation, ChangeTier, DeleteTenant, RemoveQuotaOverride, SetDeletionProtection,
    SetQuotaOverride, SetTenantStatus, TenantDetail,
};
use crate::domain::tenant_status::TenantStatus;
use crate::quotas::{effective_limits, Limit};
use crate::tiers::{list_tiers, Tier};
use crate::ui::form::FormEcho;
use crate::ui::{
    error_view, format_time, Badge, Button, ButtonKind, EmptyState, Flash, FlashKind, FormField, MeterBar, Table,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

/// A tenant's configuration and effective quotas.
#[component]
pub fn TenantPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let tenant = Resource::new(
        move || (params.read().get("slug").unwrap_or_default(), query.read().get("done")),
        |(slug, _)| get_tenant(slug),
    );
    let admins = crate::team::admins_resource(move || params.read().get("slug").unwrap_or_default());
    view! {
        {move || query.read().get("created").is_some().then(|| view! {
            <Flash kind=FlashKind::Success message="Tenant created."/>
        })}
        {move || query.read().get("done").and_then(|c| done_message(&c)).map(|m| view! {
            <Flash kind=FlashKind::Success message=m/>
        })}
        <LoadedTenant tenant admins/>
    }
}

/// A tenant admin's home: their own tenant, read-only.
#[component]
pub fn MyTenantPage() -> impl IntoView {
    let tenant = Resource::new(|| (), |_| super::my_tenant());
    view! { <LoadedTenant tenant/> }
}

/// A tenant's page once its data and the tier catalogue have arrived.
#[component]
fn LoadedTenant(
    tenant: Resource<Result<TenantDetail, crate::error::AppError>>,
    /// The tenant's admins, for platform staff.
    #[prop(optional)]
    admins: Option<crate::team::AdminsResource>,
) -> impl IntoView {
    let tiers = Resource::new(|| (), |_| list_tiers());
    let echo = crate::ui::form::use_form_echo();
    view! {
        // Not ui::Loaded: the form's echo, the tenant and the tiers are awaited together.
        <Suspense fallback=|| view! { <p class="muted" aria-live="polite">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let echo = echo.await;
                match (tenant.await, tiers.await) {
                    (Ok(detail), Ok(tiers)) => view! {
                        {echo.form_error().map(|m| view! { <Flash kind=FlashKind::Error message=m/> })}
                        <TenantView detail tiers admins echo/>
                    }.into_any(),
                    (Err(e), _) | (_, Err(e)) => error_view(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn TenantView(
    detail: TenantDetail,
    tiers: Vec<Tier>,
    admins: Option<crate::team::AdminsResource>,
    echo: FormEcho,
) -> impl IntoView {
    let t = detail.tenant.clone();
    let usage: Vec<(String, i64)> =
        detail.limits.iter().filter_map(|l| l.used.map(|u| (l.limit.metric().to_string(), u))).collect();
    let meters = detail
        .limits
        .iter()
        .filter_map(|l| {
            let used = l.used?;
            let caption = format!("{} of {}", l.limit.format(used), l.limit.format(l.value));
            Some(view! { <MeterBar label=l.limit.label().to_string() used=used as f64 limit=l.value as f64 caption/> })
        })
        .collect_view();
    let has_usage = !usage.is_empty();
    let quota_rows = detail
        .limits
        .iter()
        .map(|l| {
            let remove = (detail.can_edit && l.overridden.is_some()).then(|| {
                let remove = ServerAction::<RemoveQuotaOverride>::new();
                let (slug, version, metric) = (t.slug.clone(), detail.version.to_string(), l.limit.metric());
                let label = format!("Remove the {} override", l.limit.label());
                view! {
                    <ActionForm action=remove>
                        <input type="hidden" name="slug" value=slug/>
                        <input type="hidden" name="version" value=version/>
                        <input type="hidden" name="metric" value=metric/>
                        <button type="submit" class="btn btn-link" aria-label=label>"Remove override"</button>
                    </ActionForm>
                }
            });
            view! {
                <tr>
                    <th scope="row">{l.limit.label()}</th>
                    <td class="num">{l.limit.format(l.value)}</td>
                    <td class="num">{l.limit.format(l.tier_value)}</td>
                    <td>{l.source()}{remove}</td>
                </tr>
            }
        })
        .collect_view();
    let actions = detail.can_edit.then(|| view! { <TenantActions detail=detail.clone() tiers usage echo/> });
    let compliance = if detail.compliance.is_empty() {
        "None".to_string()
    } else {
        detail.compliance.iter().map(|c| c.to_uppercase()).collect::<Vec<_>>().join(", ")
    };
    let headers = vec![
        ("Limit".into(), false),
        ("Effective".into(), true),
        ("Tier value".into(), true),
        ("Source".into(), false),
    ];
    view! {
        <Title text=t.name.clone()/>
        <div class="page-head">
            <h1>{t.name.clone()}</h1>
            <Badge text=t.status.as_str() tone=t.status.tone()/>
            {detail.throttled().then(|| view! { <Badge text="throttled" tone="danger"/> })}
        </div>
        <section>
            <div class="page-head">
                <h2>"Configuration"</h2>
                <div class="export-links">
                    <a class="btn" href=if detail.viewer_is_staff { format!("/tenants/{}/keys", t.slug) } else { "/keys".to_string() }>"API keys"</a>
                    <a class="btn" href=format!("/audit?tenant={}", t.slug)>"Audit trail"</a>
                    <a class="btn" rel="external" download="" href=format!("/tenants/{}/export?format=json", t.slug)>"Export JSON"</a>
                    <a class="btn" rel="external" download="" href=format!("/tenants/{}/export?format=yaml", t.slug)>"Export YAML"</a>
                </div>
            </div>
            <dl class="props">
                <dt>"Slug"</dt><dd><code>{t.slug.clone()}</code></dd>
                <dt>"Tier"</dt><dd>{detail.tier.name.clone()}</dd>
                <dt>"Isolation"</dt><dd>{isolation_label(t.isolation_level)}</dd>
                <dt>"Dedicated instance"</dt>
                <dd>
                    {if detail.dedicated_instance { "Yes" } else { "No" }}
                    {(t.isolation_level == crate::domain::isolation::IsolationLevel::INSTANCE
                        && t.status != crate::domain::tenant_status::TenantStatus::Deleted).then(|| view! {
                        " · "<a href=format!("/tenants/{}/activation", t.slug)>"Activation checklist"</a>
                    })}
                </dd>
                <dt>"Namespace"</dt><dd>{detail.namespace_target.clone().unwrap_or_else(|| "—".into())}</dd>
                <dt>"Region"</dt><dd>{t.region.clone()}</dd>
                <dt>"Environment"</dt><dd>{t.environment.as_str()}</dd>
                <dt>"Compliance"</dt><dd>{compliance}</dd>
                <dt>"Created"</dt><dd>{format_time(t.created_at)}</dd>
                <dt>"Version"</dt><dd>{detail.version}</dd>
            </dl>
        </section>
        {detail.teardown.clone().map(|teardown| view! {
            <super::isolation_view::TeardownSection teardown slug=t.slug.clone() staff=detail.viewer_is_staff/>
        })}
        {detail.namespace_render.clone().filter(|_| t.isolation_level == crate::domain::isolation::IsolationLevel::NAMESPACE).map(|render| view! {
            <super::isolation_view::NamespaceSection render slug=t.slug.clone()/>
        })}
        <section>
            <h2>"Effective quotas"</h2>
            <Table caption="Effective quotas" headers>
                {quota_rows}
            </Table>
        </section>
        <section>
            <div class="page-head">
                <h2>"Usage"</h2>
                <a class="btn btn-link" href=if detail.viewer_is_staff { format!("/tenants/{}/usage", t.slug) } else { "/usage".to_string() }>"Usage over 30 days"</a>
            </div>
            {if has_usage {
                view! { <div class="meters">{meters}</div> }.into_any()
            } else {
                view! { <EmptyState title="No usage reported yet" hint="Usage appears here once the platform reports it for this tenant."/> }.into_any()
            }}
        </section>
        // A deleted tenant has no admins left to manage (their sessions ended with it).
        {(detail.viewer_is_staff && t.status != crate::domain::tenant_status::TenantStatus::Deleted).then(|| view! { <crate::team::TenantAdminsSection slug=t.slug.clone() can_edit=detail.can_edit manage=detail.can_edit data=admins.unwrap_or_else(|| crate::team::admins_resource({ let slug = t.slug.clone(); move || slug.clone() }))/> })}
        {actions}
    }
}

/// Changing the tier (with a preview), suspending, protecting and deleting.
#[component]
fn TenantActions(detail: TenantDetail, tiers: Vec<Tier>, usage: Vec<(String, i64)>, echo: FormEcho) -> impl IntoView {
    let query = use_query_map();
    let for_details = detail.clone();
    let change = ServerAction::<ChangeTier>::new();
    let status = ServerAction::<SetTenantStatus>::new();
    let protect = ServerAction::<SetDeletionProtection>::new();
    let delete = ServerAction::<DeleteTenant>::new();
    let t = detail.tenant.clone();
    let slug = t.slug.clone();
    let version = detail.version.to_string();
    let environment = t.environment;
    let current_tier = detail.tier.clone();
    // A preview asked for in the address, or the one a refused change came from.
    let preview_id = query.with_untracked(|q| q.get("preview_tier")).or_else(|| echo.value("preview_tier"));
    let metric_typed = echo.value("metric");
    let namespace_typed = echo.value("namespace");
    let preview = preview_id.as_ref().and_then(|id| tiers.iter().find(|x| x.id == *id).cloned());
    let echo = crate::ui::form::Echo::new(echo);
    let error = move |k: &str| echo.error(k);
    let current_limits = detail.limits.clone();
    let cancel_href = format!("/tenants/{}", t.slug);
    let page_href = cancel_href.clone();
    let current_level = t.isolation_level;
    let comparison = preview.clone().map(|new_tier| {
        let overrides: Vec<_> = current_limits.iter().filter_map(|l| l.overridden.clone()).collect();
        let new_limits = effective_limits(&new_tier, environment, &usage, &overrides);
        let over = crate::quotas::overruns(&new_limits);
        let headers = vec![("Limit".into(), false), ("Current".into(), true), (new_tier.name.clone(), true), ("Usage".into(), true)];
        let rows = current_limits.iter().zip(new_limits.iter()).map(|(c, n)| {
            let over = n.used.is_some_and(|u| u > n.value);
            view! {
                <tr class:row-over=over>
                    <th scope="row">{c.limit.label()}</th>
                    <td class="num">{c.limit.format(c.value)}</td>
                    <td class="num">{n.limit.format(n.value)}</td>
                    <td class="num">{n.used.map(|u| n.limit.format(u)).unwrap_or_else(|| "—".into())}</td>
                </tr>
            }
        }).collect_view();
        let keep_level = new_tier.allows(current_level);
        let levels = new_tier.allowed_isolation_levels.clone();
        let default_level = if keep_level { current_level } else { new_tier.default_isolation_level };
        view! {
            <Table caption="Limits before and after the tier change" headers>{rows}</Table>
            {(!over.is_empty()).then(|| view! {
                <div class="flash flash-error" role="alert">{format!("This change will be refused: {}", over.join(" "))}</div>
            })}
            <ActionForm action=change>
                <input type="hidden" name="slug" value=slug.clone()/>
                <input type="hidden" name="version" value=version.clone()/>
                <input type="hidden" name="tier" value=new_tier.id.to_string()/>
                <div class="field">
                    <label for="field-new-isolation">"Isolation level on the new tier"</label>
                    {(!keep_level).then(|| view! {
                        <p class="field-hint">{format!("The {} tier does not allow level {current_level}: choose another.", new_tier.name)}</p>
                    })}
                    <select id="field-new-isolation" name="isolation">
                        {levels.into_iter().map(|l| view! {
                            <option value=l.to_string() selected=l == default_level>{isolation_label(l)}</option>
                        }).collect_view()}
                    </select>
                    {error("isolation").map(|e| view! { <p class="field-error">{e}</p> })}
                </div>
                <div class="form-actions">
                    <Button pending=change.pending() pending_label="Changing…">{format!("Move to {}", new_tier.name)}</Button>
                    <a class="btn btn-link" href=cancel_href.clone()>"Cancel"</a>
                </div>
            </ActionForm>
        }
    });
    let suspended = t.status == TenantStatus::Suspended;
    let (slug_status, slug_protect, slug_delete) = (t.slug.clone(), t.slug.clone(), t.slug.clone());
    let (slug_override, v_override) = (t.slug.clone(), detail.version.to_string());
    let set_override = ServerAction::<SetQuotaOverride>::new();
    let isolation = ServerAction::<ChangeIsolation>::new();
    let (slug_isolation, v_isolation) = (t.slug.clone(), detail.version.to_string());
    let default_namespace = detail.namespace_target.clone().unwrap_or_else(|| format!("tenant-{}", t.slug));
    let namespace_value = namespace_typed.unwrap_or(default_namespace);
    let (v_status, v_protect, v_delete) =
        (detail.version.to_string(), detail.version.to_string(), detail.version.to_string());
    let prevent_deletion = detail.prevent_deletion;
    view! {
        <section class="actions">
            <h2>"Details"</h2>
            <super::detail_fields::DetailsForm detail=for_details echo/>

            <h2>"Change tier"</h2>
            <form method="get" action=page_href class="inline-form">
                <div class="field">
                    <label for="field-preview-tier">"New tier"</label>
                    <select id="field-preview-tier" name="preview_tier">
                        {tiers.iter().filter(|x| x.id != current_tier.id).map(|x| view! {
                            <option value=x.id.to_string() selected=preview_id.as_deref() == Some(x.id.as_str())>{x.name.clone()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <button type="submit" class="btn">"Preview the change"</button>
            </form>
            {error("tier").map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
            {comparison}

            <h2>"Change isolation level"</h2>
            <ActionForm action=isolation>
                <input type="hidden" name="slug" value=slug_isolation/>
                <input type="hidden" name="version" value=v_isolation/>
                <div class="form-grid">
                    <div class="field">
                        <label for="field-change-isolation">"Isolation level"</label>
                        <select id="field-change-isolation" name="isolation">
                            {current_tier.allowed_isolation_levels.iter().map(|&l| view! {
                                <option value=l.to_string() selected=l == current_level>{isolation_label(l)}</option>
                            }).collect_view()}
                        </select>
                        <p class="field-hint">"Level 3 opens the activation checklist; the tenant runs dedicated only when it is complete."</p>
                        {error("isolation").map(|e| view! { <p class="field-error">{e}</p> })}
                    </div>
                    <FormField label="Namespace (levels 2 and 3)" name="namespace" value=namespace_value
                        error=error("namespace") hint="The Kubernetes namespace or Docker network of the tenant's workloads."/>
                </div>
                <div class="form-actions">
                    <Button kind=ButtonKind::Secondary pending=isolation.pending()>"Change isolation level"</Button>
                </div>
            </ActionForm>

            <h2>"Override a quota"</h2>
            <ActionForm action=set_override>
                <input type="hidden" name="slug" value=slug_override/>
                <input type="hidden" name="version" value=v_override/>
                <div class="form-grid">
                    <div class="field">
                        <label for="field-metric">"Limit"</label>
                        <select id="field-metric" name="metric">
                            {Limit::ALL.into_iter().map(|l| view! {
                                <option value=l.metric() selected=metric_typed.as_deref() == Some(l.metric())>{l.label()}</option>
                            }).collect_view()}
                        </select>
                        {error("metric").map(|e| view! { <p class="field-error">{e}</p> })}
                    </div>
                    <FormField label="New value" name="value" required=true value=echo.value("value")
                        error=error("value") hint="With its unit: 4 cores, 500m, 16 GiB, 2 TiB, 5,000."/>
                    <FormField label="Reason" name="reason" required=true value=echo.value("reason")
                        error=error("reason")/>
                </div>
                <div class="form-actions">
                    <Button kind=ButtonKind::Secondary pending=set_override.pending()>"Save override"</Button>
                </div>
            </ActionForm>

            <h2>"Status"</h2>
            <ActionForm action=status>
                <input type="hidden" name="slug" value=slug_status/>
                <input type="hidden" name="version" value=v_status/>
                <input type="hidden" name="action" value=if suspended { "reactivate" } else { "suspend" }/>
                <Button kind=ButtonKind::Secondary pending=status.pending()>
                    {if suspended { "Reactivate tenant" } else { "Suspend tenant" }}
                </Button>
            </ActionForm>

            <h2>"Deletion"</h2>
            <ActionForm action=protect>
                <input type="hidden" name="slug" value=slug_protect/>
                <input type="hidden" name="version" value=v_protect/>
                <input type="hidden" name="protect" value=if prevent_deletion { "off" } else { "on" }/>
                <p>{if prevent_deletion { "Deletion protection is on: this tenant cannot be deleted." } else { "Deletion protection is off." }}</p>
                <Button kind=ButtonKind::Secondary pending=protect.pending()>
                    {if prevent_deletion { "Turn deletion protection off" } else { "Turn deletion protection on" }}
                </Button>
            </ActionForm>
            {(!prevent_deletion).then(|| view! {
                <div class="danger-zone">
                    <ActionForm action=delete>
                        <input type="hidden" name="slug" value=slug_delete/>
                        <input type="hidden" name="version" value=v_delete/>
                        <FormField label="Type the slug to confirm deletion" name="confirm" autocomplete="off"
                            error=error("confirm") hint="The tenant is marked deleted: its data stays, its API calls are refused."/>
                        <Button kind=ButtonKind::Danger pending=delete.pending() pending_label="Deleting…">"Delete tenant"</Button>
                    </ActionForm>
                </div>
            })}
        </section>
    }
}
