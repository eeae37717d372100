//! The tier catalogue: limits, isolation levels, backup and support terms.

use crate::domain::isolation::IsolationLevel;
use crate::error::AppError;
use crate::ui::{format_bytes, format_count, format_cpu, Table};
use leptos::prelude::*;
use leptos_meta::Title;

pub use crate::domain::tier::Tier;

#[cfg(feature = "ssr")]
pub mod ssr;

/// The catalogue, for signed-in staff.
#[server(endpoint = "tiers")]
pub async fn list_tiers() -> Result<Vec<Tier>, AppError> {
    // Everyone signed in reads the catalogue, in their own scope.
    let user = crate::auth::session::require_user().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = crate::server::db::read(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let tiers = ssr::all(&mut tx).await?;
    tx.done().await?;
    Ok(tiers)
}

/// A tier's terms as its form sends them: each amount with its unit, the
/// default level, backup and support, and the rate and burst (left out to
/// keep the tier's).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TierTerms {
    pub cpu: String,
    pub memory: String,
    pub storage: String,
    pub users: String,
    pub api_calls: String,
    pub db_connections: String,
    pub default_level: String,
    pub backup: String,
    pub support: String,
    #[serde(default)]
    pub rate: Option<String>,
    #[serde(default)]
    pub burst: Option<String>,
}

/// Changes a tier (platform admins). Answers with a redirect: to the catalogue,
/// or back to the form with what was typed and a message per field.
#[server(endpoint = "update_tier")]
pub async fn update_tier(
    id: String,
    /// The version the form was filled on (a string: the terms' fields are read flat beside it).
    version: String,
    #[server(flatten)] terms: TierTerms,
    /// The levels ticked: each checkbox carries its level (`levels[]=2`).
    #[server(default)]
    levels: Vec<String>,
) -> Result<(), AppError> {
    let TierTerms {
        cpu,
        memory,
        storage,
        users,
        api_calls,
        db_connections,
        default_level,
        backup,
        support,
        rate,
        burst,
    } = terms;
    let levels: Vec<i16> =
        levels.iter().filter_map(|l| l.trim().parse().ok()).filter(|l| (1..=3).contains(l)).collect();
    let amounts = vec![
        ("cpu".to_string(), cpu),
        ("memory".to_string(), memory),
        ("storage".to_string(), storage),
        ("users".to_string(), users),
        ("api_calls".to_string(), api_calls),
        ("db_connections".to_string(), db_connections),
    ];
    let edit = ssr::TierEdit {
        amounts: amounts.clone(),
        levels: levels.clone(),
        default_level: default_level.clone(),
        backup: backup.clone(),
        support: support.clone(),
        rate: rate.clone(),
        burst: burst.clone(),
    };
    let result = async {
        let user = crate::auth::session::require_platform_admin().await?;
        let state = crate::server::state::app_state()?;
        let meta = crate::auth::session::client_meta().await;
        let version = version
            .trim()
            .parse()
            .map_err(|_| AppError::invalid("version", "Reload the page: the form lost its version."))?;
        ssr::update(&state.pool, &meta.actor(Some(&user)), &id, version, edit).await
    }
    .await;
    let mut fields: Vec<(&str, String)> = amounts.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    for l in &levels {
        fields.push((["", "level1", "level2", "level3"][*l as usize], "on".into()));
    }
    fields.push(("default_level", default_level));
    fields.push(("backup", backup));
    fields.push(("support", support));
    fields.extend(rate.map(|r| ("rate", r)));
    fields.extend(burst.map(|b| ("burst", b)));
    crate::ui::form::ssr::finish(result, &format!("/tiers/{id}/edit"), &fields, |()| format!("/tiers?updated={id}"))
        .await;
    Ok(())
}

/// One tier's editing form.
#[component]
pub fn TierEditPage() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let tiers = Resource::new(|| (), |_| list_tiers());
    let echo = crate::ui::form::use_form_echo();
    view! {
        <Title text="Edit tier"/>
        // Not ui::Loaded: the form's echo and the tiers are awaited together; an unknown tier has its own message.
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let id = params.read_untracked().get("id").unwrap_or_default();
                let echo = echo.await;
                match tiers.await.map(|all| all.into_iter().find(|t| t.id == id)) {
                    Ok(Some(tier)) => view! { <TierForm tier echo/> }.into_any(),
                    Ok(None) => view! { <h1>"No such tier"</h1><p><a href="/tiers">"Back to the tiers"</a></p> }.into_any(),
                    Err(e) => crate::ui::error_view(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn TierForm(tier: Tier, echo: crate::ui::form::FormEcho) -> impl IntoView {
    use crate::domain::limits::Limit;
    use crate::ui::{Button, Flash, FlashKind, FormField};
    let update = ServerAction::<UpdateTier>::new();
    let has_errors = echo.is_refusal();
    let echo = crate::ui::form::Echo::new(echo);
    let value = move |k: &str, fallback: String| Some(echo.value(k).unwrap_or(fallback));
    let error = move |k: &str| echo.error(k);
    let fields = Limit::ALL.into_iter().map(|l| {
        let current = l.format(tier.limit(l));
        view! { <FormField label=l.label() name=l.metric() required=true value=value(l.metric(), current) error=error(l.metric())/> }
    }).collect_view();
    let submitted = echo.value("default_level").is_some();
    let allowed = tier.allowed_isolation_levels.clone();
    let level_boxes = IsolationLevel::ALL.into_iter().map(|l| {
        let name = ["", "level1", "level2", "level3"][l.number() as usize];
        let checked = if submitted { echo.value(name).is_some() } else { allowed.contains(&l) };
        view! { <label class="check"><input type="checkbox" name="levels[]" value=l.number().to_string() checked=checked/>{format!("Level {l}")}</label> }
    }).collect_view();
    let default_level = echo.value("default_level").unwrap_or_else(|| tier.default_isolation_level.to_string());
    view! {
        <h1>{format!("Edit the {} tier", tier.name)}</h1>
        {echo.form_error().map(|m| view! { <Flash kind=FlashKind::Error message=m/> })}
        {has_errors.then(|| view! { <Flash kind=FlashKind::Error message="Nothing was saved. Correct the fields marked below."/> })}
        <ActionForm action=update>
            <input type="hidden" name="id" value=tier.id.to_string()/>
            <input type="hidden" name="version" value=tier.version.to_string()/>
            <div class="form-grid">
                {fields}
                <fieldset class="field">
                    <legend>"Allowed isolation levels"</legend>
                    <div class="checks">{level_boxes}</div>
                    {error("levels").map(|e| view! { <p class="field-error">{e}</p> })}
                </fieldset>
                <div class="field">
                    <label for="field-default_level">"Default isolation level"</label>
                    <select id="field-default_level" name="default_level">
                        {IsolationLevel::ALL.into_iter().map(|l| view! {
                            <option value=l.to_string() selected=default_level == l.to_string()>{l.to_string()}</option>
                        }).collect_view()}
                    </select>
                    {error("default_level").map(|e| view! { <p class="field-error">{e}</p> })}
                </div>
                <FormField label="Backup" name="backup" required=true value=value("backup", tier.backup.clone()) error=error("backup")/>
                <FormField label="Support response" name="support" required=true value=value("support", tier.support.clone()) error=error("support")/>
                <FormField label="API calls / second" name="rate" required=true value=value("rate", tier.api_rate_per_second.to_string()) error=error("rate")
                    hint="Each tenant's bucket refills at this rate; faster calls get 429."/>
                <FormField label="Burst" name="burst" required=true value=value("burst", tier.api_burst.to_string()) error=error("burst")
                    hint="Calls a tenant may make at once after a quiet moment."/>
            </div>
            <div class="form-actions">
                <Button pending=update.pending() pending_label="Saving…">"Save tier"</Button>
                <a class="btn btn-link" href="/tiers">"Cancel"</a>
            </div>
        </ActionForm>
    }
}

/// The tiers side by side.
#[component]
pub fn TiersPage() -> impl IntoView {
    let tiers = Resource::new(|| (), |_| list_tiers());
    let me = Resource::new(|| (), |_| crate::auth::fetch_current_user());
    let query = leptos_router::hooks::use_query_map();
    view! {
        <Title text="Tiers"/>
        <h1>"Tiers"</h1>
        // Not ui::Loaded: the user's role and the tiers are awaited together.
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let editable = me.await.map(|u| u.role == crate::auth::Role::PlatformAdmin).unwrap_or(false);
                match tiers.await {
                    Ok(tiers) => {
                        // Only a tier that exists is named: the address cannot put words on the page.
                        let updated = query.read_untracked().get("updated");
                        let saved = tiers.iter().find(|t| updated.as_ref().is_some_and(|u| t.id == *u)).map(|t| view! {
                            <crate::ui::Flash kind=crate::ui::FlashKind::Success message=format!("Tier {} saved.", t.name)/>
                        });
                        view! { {saved} <TierTable tiers editable/> }.into_any()
                    }
                    Err(e) => crate::ui::error_view(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn TierTable(tiers: Vec<Tier>, editable: bool) -> impl IntoView {
    type Row = (&'static str, bool, fn(&Tier) -> String);
    let rows: Vec<Row> = vec![
        ("CPU", true, |t| format_cpu(t.cpu_millicores)),
        ("Memory", true, |t| format_bytes(t.memory_bytes)),
        ("Storage", true, |t| format_bytes(t.storage_bytes)),
        ("Max users", true, |t| format_count(t.max_users)),
        ("API calls / month", true, |t| format_count(t.api_calls_per_month)),
        ("DB connections", true, |t| format_count(t.db_connections)),
        ("API calls / second", true, |t| format_count(t.api_rate_per_second.into())),
        ("Burst", true, |t| format_count(t.api_burst.into())),
        ("Isolation levels", false, |t| {
            t.allowed_isolation_levels.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", ")
        }),
        ("Default isolation", false, |t| t.default_isolation_level.to_string()),
        ("Backup", false, |t| t.backup.clone()),
        ("Support response", false, |t| t.support.clone()),
    ];
    let headers: Vec<(String, bool)> =
        std::iter::once(("Limit".to_string(), false)).chain(tiers.iter().map(|t| (t.name.clone(), true))).collect();
    let edit_links = editable.then(|| {
        let cells = tiers
            .iter()
            .map(|t| view! { <td class="num"><a href=format!("/tiers/{}/edit", t.id)>{format!("Edit {}", t.name)}</a></td> })
            .collect_view();
        view! { <tr><th scope="row">"Change"</th>{cells}</tr> }
    });
    view! {
        <Table caption="Tier catalogue" headers>
            {edit_links}
            {rows
                .into_iter()
                .map(|(label, numeric, cell)| {
                    let cells = tiers.iter().map(|t| view! { <td class:num=numeric>{cell(t)}</td> }).collect_view();
                    view! { <tr><th scope="row">{label}</th>{cells}</tr> }
                })
                .collect_view()}
        </Table>
    }
}
