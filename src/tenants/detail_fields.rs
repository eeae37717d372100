//! What describes a tenant besides its tier: region, environment and
//! compliance regimes, as the creation form and the tenant page's details
//! form both ask for them.

use super::domain::{COMPLIANCE, REGIONS};
use super::{ChangeTenantDetails, TenantDetail};
use crate::domain::environment::Environment;
use crate::ui::form::Echo;
use crate::ui::{Button, ButtonKind, FormField};
use leptos::prelude::*;

/// The form field that carries a compliance regime (`pci-dss` is `pci_dss`).
pub fn compliance_field(id: &str) -> &str {
    if id == "pci-dss" {
        "pci_dss"
    } else {
        id
    }
}

/// Region, environment and compliance fields, filled from `value`.
pub fn detail_fields(
    value: impl Fn(&str) -> Option<String> + Copy + Send + Sync + 'static,
    error: impl Fn(&str) -> Option<String> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="field" class:field-invalid=error("region").is_some()>
            <label for="field-region">"Region"</label>
            <select id="field-region" name="region">
                {REGIONS.iter().map(|r| view! {
                    <option value=*r selected=value("region").as_deref() == Some(*r)>{*r}</option>
                }).collect_view()}
            </select>
            {error("region").map(|e| view! { <p class="field-error">{e}</p> })}
        </div>
        <div class="field" class:field-invalid=error("environment").is_some()>
            <label for="field-environment">"Environment"</label>
            <select id="field-environment" name="environment">
                {Environment::ALL.into_iter().map(|e| view! {
                    <option value=e.as_str() selected=value("environment").as_deref().unwrap_or("production") == e.as_str()>
                        {format!("{} ({}% of CPU and memory)", e.label(), (e.factor() * 100.0).round() as i32)}
                    </option>
                }).collect_view()}
            </select>
            {error("environment").map(|e| view! { <p class="field-error">{e}</p> })}
        </div>
        <fieldset class="field">
            <legend>"Compliance regimes"</legend>
            <div class="checks">
                {COMPLIANCE.iter().map(|(id, label)| {
                    let name = compliance_field(id);
                    view! {
                        <label class="check">
                            <input type="checkbox" name="compliance[]" value=*id checked=value(name).is_some()/>
                            {*label}
                        </label>
                    }
                }).collect_view()}
            </div>
            {error("compliance").map(|e| view! { <p class="field-error">{e}</p> })}
        </fieldset>
    }
}

/// The tenant page's form for its name, region, environment and compliance:
/// what was typed when this form was refused, the tenant's values otherwise.
#[component]
pub fn DetailsForm(detail: TenantDetail, echo: Echo) -> impl IntoView {
    let save = ServerAction::<ChangeTenantDetails>::new();
    let mine = echo.value("form").as_deref() == Some("details");
    let t = detail.tenant.clone();
    let mut current = vec![
        ("name".to_string(), t.name.clone()),
        ("region".to_string(), t.region.clone()),
        ("environment".to_string(), t.environment.as_str().to_string()),
    ];
    current.extend(detail.compliance.iter().map(|c| (compliance_field(c).to_string(), "on".to_string())));
    let current = StoredValue::new(current);
    let value = move |k: &str| {
        if mine {
            echo.value(k)
        } else {
            current.with_value(|c| c.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        }
    };
    let error = move |k: &str| if mine { echo.error(k) } else { None };
    view! {
        <ActionForm action=save>
            <input type="hidden" name="slug" value=t.slug/>
            <input type="hidden" name="version" value=detail.version.to_string()/>
            {(mine && echo.form_error().is_none() && echo.has_field_errors()).then(|| view! {
                <p class="field-error" role="alert">"Nothing was saved. Correct the fields marked below."</p>
            })}
            <div class="form-grid">
                <FormField label="Name" name="name" required=true value=value("name") error=error("name")/>
                {detail_fields(value, error)}
            </div>
            <p class="field-hint">"The environment scales the tier's CPU and memory limits: a change that would put the tenant over them is refused."</p>
            <div class="form-actions">
                <Button kind=ButtonKind::Secondary pending=save.pending()>"Save details"</Button>
            </div>
        </ActionForm>
    }
}
