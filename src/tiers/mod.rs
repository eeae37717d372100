//! The tier catalogue: limits, isolation levels, backup and support terms.

use crate::error::AppError;
use crate::ui::{format_bytes, format_count, format_cpu, Table};
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

/// One subscription tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tier {
    pub id: String,
    pub name: String,
    pub cpu_millicores: i64,
    pub memory_bytes: i64,
    pub storage_bytes: i64,
    pub max_users: i64,
    pub api_calls_per_month: i64,
    pub db_connections: i64,
    pub allowed_isolation_levels: Vec<i16>,
    pub default_isolation_level: i16,
    pub backup: String,
    pub support: String,
    pub version: i32,
}

impl Tier {
    pub fn allows(&self, level: i16) -> bool {
        self.allowed_isolation_levels.contains(&level)
    }

    /// This tier's value of `limit`.
    pub fn limit(&self, limit: crate::domain::limits::Limit) -> i64 {
        use crate::domain::limits::Limit;
        match limit {
            Limit::Cpu => self.cpu_millicores,
            Limit::Memory => self.memory_bytes,
            Limit::Storage => self.storage_bytes,
            Limit::Users => self.max_users,
            Limit::ApiCalls => self.api_calls_per_month,
            Limit::DbConnections => self.db_connections,
        }
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::Tier;
    use crate::audit::{self, Actor, NewEvent};
    use crate::domain::limits::{Limit, TierLimits};
    use crate::error::{AppError, FieldError};
    use crate::server::db::{self, Scope};
    use serde_json::json;
    use sqlx::{PgConnection, PgPool};

    /// A tier's new terms, as typed.
    #[derive(Debug, Clone, Default)]
    pub struct TierEdit {
        /// Amounts per limit metric (`cpu`, `memory`, …), with units.
        pub amounts: Vec<(String, String)>,
        pub levels: Vec<i16>,
        pub default_level: String,
        pub backup: String,
        pub support: String,
    }

    /// Changes a tier's limits and isolation levels: every field parsed, the
    /// default among the allowed levels, no tenant left on a level the tier
    /// stops allowing; audited with the values before and after.
    pub async fn update(pool: &PgPool, actor: &Actor, id: &str, version: i32, edit: TierEdit) -> Result<(), AppError> {
        let mut errors = Vec::new();
        let mut values = TierLimits::default();
        for limit in Limit::ALL {
            let typed = edit.amounts.iter().find(|(m, _)| m == limit.metric()).map(|(_, v)| v.as_str()).unwrap_or("");
            match limit.parse_amount(typed) {
                Ok(v) => values.set(limit, v),
                Err(message) => errors.push(FieldError { field: limit.metric().to_string(), message }),
            }
        }
        let mut levels = edit.levels.clone();
        levels.sort();
        levels.dedup();
        if levels.is_empty() || levels.iter().any(|l| !(1..=3).contains(l)) {
            errors.push(FieldError { field: "levels".into(), message: "Allow at least one isolation level.".into() });
        }
        let default_level = crate::domain::isolation::parse_isolation(&edit.default_level);
        match &default_level {
            Ok(l) if !levels.contains(l) => errors.push(FieldError {
                field: "default_level".into(),
                message: "The default level must be one of the allowed levels.".into(),
            }),
            Err(m) => errors.push(FieldError { field: "default_level".into(), message: m.clone() }),
            _ => {}
        }
        let mut term = |field: &str, text: &str| {
            let parsed = crate::domain::text::parse_line(text).and_then(|t| match t.chars().count() {
                1..=500 => Ok(t),
                _ => Err("Enter 1 to 500 characters.".to_string()),
            });
            parsed.map_err(|message| errors.push(FieldError { field: field.into(), message })).unwrap_or_default()
        };
        let backup = term("backup", &edit.backup);
        let support = term("support", &edit.support);
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let default_level = default_level.expect("checked");
        let mut tx = db::begin(pool, Scope::Platform).await?;
        let before = sqlx::query_as!(
            Tier,
            r#"SELECT id, name, cpu_millicores, memory_bytes, storage_bytes, max_users, api_calls_per_month,
                      db_connections, allowed_isolation_levels, default_isolation_level, backup, support, version
               FROM tiers WHERE id = $1 FOR UPDATE"#,
            id
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(AppError::NotFound)?;
        if before.version != version {
            return Err(AppError::Conflict(
                "Someone else changed this tier since you opened the page. Nothing was saved: reload to see their change.".into(),
            ));
        }
        let stranded = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM tenants
               WHERE tier_id = $1 AND status <> 'deleted' AND NOT (isolation_level = ANY ($2::smallint[]))"#,
            id,
            &levels
        )
        .fetch_one(&mut *tx)
        .await?;
        if stranded > 0 {
            return Err(AppError::invalid(
                "levels",
                format!("{stranded} tenant(s) on this tier use a level you are removing: move them first."),
            ));
        }
        sqlx::query!(
            r#"UPDATE tiers SET cpu_millicores = $2, memory_bytes = $3, storage_bytes = $4, max_users = $5,
                      api_calls_per_month = $6, db_connections = $7, allowed_isolation_levels = $8,
                      default_isolation_level = $9, backup = $10, support = $11,
                      version = version + 1, updated_at = now()
               WHERE id = $1"#,
            id,
            values.cpu_millicores,
            values.memory_bytes,
            values.storage_bytes,
            values.max_users,
            values.api_calls_per_month,
            values.db_connections,
            &levels,
            default_level,
            backup,
            support
        )
        .execute(&mut *tx)
        .await?;
        let snapshot = |t: &Tier| {
            json!({
                "cpu_millicores": t.cpu_millicores, "memory_bytes": t.memory_bytes, "storage_bytes": t.storage_bytes,
                "max_users": t.max_users, "api_calls_per_month": t.api_calls_per_month, "db_connections": t.db_connections,
                "allowed_isolation_levels": t.allowed_isolation_levels, "default_isolation_level": t.default_isolation_level,
                "backup": t.backup, "support": t.support,
            })
        };
        let after = Tier {
            cpu_millicores: values.cpu_millicores,
            memory_bytes: values.memory_bytes,
            storage_bytes: values.storage_bytes,
            max_users: values.max_users,
            api_calls_per_month: values.api_calls_per_month,
            db_connections: values.db_connections,
            allowed_isolation_levels: levels,
            default_isolation_level: default_level,
            backup,
            support,
            ..before.clone()
        };
        audit::record(
            &mut tx,
            actor,
            NewEvent::new("tier.updated").target(id).before(snapshot(&before)).after(snapshot(&after)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every tier, cheapest first.
    pub async fn all(conn: &mut PgConnection) -> Result<Vec<Tier>, sqlx::Error> {
        sqlx::query_as!(
            Tier,
            r#"SELECT id, name, cpu_millicores, memory_bytes, storage_bytes, max_users, api_calls_per_month,
                      db_connections, allowed_isolation_levels, default_isolation_level, backup, support, version
               FROM tiers ORDER BY position"#
        )
        .fetch_all(conn)
        .await
    }

    /// One tier by id.
    pub async fn find(conn: &mut PgConnection, id: &str) -> Result<Option<Tier>, sqlx::Error> {
        sqlx::query_as!(
            Tier,
            r#"SELECT id, name, cpu_millicores, memory_bytes, storage_bytes, max_users, api_calls_per_month,
                      db_connections, allowed_isolation_levels, default_isolation_level, backup, support, version
               FROM tiers WHERE id = $1"#,
            id
        )
        .fetch_optional(conn)
        .await
    }
}

/// The catalogue, for signed-in staff.
#[server(endpoint = "tiers")]
pub async fn list_tiers() -> Result<Vec<Tier>, AppError> {
    use crate::server::db::begin;
    // Everyone signed in reads the catalogue, in their own scope.
    let user = crate::auth::session::require_user().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = begin(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let tiers = ssr::all(&mut tx).await?;
    tx.commit().await?;
    Ok(tiers)
}

/// Changes a tier (platform admins). Answers with a redirect: to the catalogue,
/// or back to the form with what was typed and a message per field.
#[server(endpoint = "update_tier")]
#[allow(clippy::too_many_arguments)]
pub async fn update_tier(
    id: String,
    version: i32,
    cpu: String,
    memory: String,
    storage: String,
    users: String,
    api_calls: String,
    db_connections: String,
    level1: Option<String>,
    level2: Option<String>,
    level3: Option<String>,
    default_level: String,
    backup: String,
    support: String,
) -> Result<(), AppError> {
    let levels: Vec<i16> =
        [(1, &level1), (2, &level2), (3, &level3)].iter().filter(|(_, v)| v.is_some()).map(|(l, _)| *l).collect();
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
    };
    let result = async {
        let user = crate::auth::session::require_platform_admin().await?;
        let state = crate::server::state::app_state()?;
        let meta = crate::auth::session::client_meta().await;
        ssr::update(&state.pool, &meta.actor(Some(&user)), &id, version, edit).await
    }
    .await;
    match result {
        Ok(()) => leptos_axum::redirect(&format!("/tiers?updated={id}")),
        Err(err) => {
            let mut fields: Vec<(&str, String)> = amounts.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            for l in &levels {
                fields.push((["", "level1", "level2", "level3"][*l as usize], "on".into()));
            }
            fields.push(("default_level", default_level));
            fields.push(("backup", backup));
            fields.push(("support", support));
            leptos_axum::redirect(&crate::server::middleware::form_error_url(
                &format!("/tiers/{id}/edit"),
                &fields,
                &err,
            ));
        }
    }
    Ok(())
}

/// One tier's editing form.
#[component]
pub fn TierEditPage() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let tiers = Resource::new(|| (), |_| list_tiers());
    view! {
        <Title text="Edit tier"/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let id = params.read_untracked().get("id").unwrap_or_default();
                match tiers.await.map(|all| all.into_iter().find(|t| t.id == id)) {
                    Ok(Some(tier)) => view! { <TierForm tier/> }.into_any(),
                    Ok(None) => view! { <h1>"No such tier"</h1><p><a href="/tiers">"Back to the tiers"</a></p> }.into_any(),
                    Err(e) => crate::ui::error_view(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn TierForm(tier: Tier) -> impl IntoView {
    use crate::domain::limits::Limit;
    use crate::ui::{Button, Flash, FlashKind, FormField};
    let query = leptos_router::hooks::use_query_map();
    let update = ServerAction::<UpdateTier>::new();
    let has_errors = query.with_untracked(|q| {
        q.get("error._form").is_some() || Limit::ALL.iter().any(|l| q.get(&format!("error.{}", l.metric())).is_some())
    });
    let value = move |k: &'static str, fallback: String| {
        Signal::derive(move || Some(query.read().get(k).unwrap_or_else(|| fallback.clone())))
    };
    let error = move |k: &'static str| Signal::derive(move || query.read().get(&format!("error.{k}")));
    let fields = Limit::ALL.into_iter().map(|l| {
        let current = l.format(tier.limit(l));
        view! { <FormField label=l.label() name=l.metric() required=true value=value(l.metric(), current) error=error(l.metric())/> }
    }).collect_view();
    let submitted = query.with_untracked(|q| q.get("default_level").is_some());
    let allowed = tier.allowed_isolation_levels.clone();
    let level_boxes = [1i16, 2, 3].into_iter().map(|l| {
        let name = ["", "level1", "level2", "level3"][l as usize];
        let checked = if submitted { query.with_untracked(|q| q.get(name).is_some()) } else { allowed.contains(&l) };
        view! { <label class="check"><input type="checkbox" name=name checked=checked/>{format!("Level {l}")}</label> }
    }).collect_view();
    let default_level =
        query.with_untracked(|q| q.get("default_level")).unwrap_or_else(|| tier.default_isolation_level.to_string());
    view! {
        <h1>{format!("Edit the {} tier", tier.name)}</h1>
        {move || query.read().get("error._form").map(|m| view! { <Flash kind=FlashKind::Error message=m/> })}
        {has_errors.then(|| view! { <Flash kind=FlashKind::Error message="Nothing was saved. Correct the fields marked below."/> })}
        <ActionForm action=update>
            <input type="hidden" name="id" value=tier.id.clone()/>
            <input type="hidden" name="version" value=tier.version.to_string()/>
            <div class="form-grid">
                {fields}
                <fieldset class="field">
                    <legend>"Allowed isolation levels"</legend>
                    <div class="checks">{level_boxes}</div>
                    {move || error("levels").get().map(|e| view! { <p class="field-error">{e}</p> })}
                </fieldset>
                <div class="field">
                    <label for="field-default_level">"Default isolation level"</label>
                    <select id="field-default_level" name="default_level">
                        {[1i16, 2, 3].into_iter().map(|l| view! {
                            <option value=l.to_string() selected=default_level == l.to_string()>{l.to_string()}</option>
                        }).collect_view()}
                    </select>
                    {move || error("default_level").get().map(|e| view! { <p class="field-error">{e}</p> })}
                </div>
                <FormField label="Backup" name="backup" required=true value=value("backup", tier.backup.clone()) error=error("backup")/>
                <FormField label="Support response" name="support" required=true value=value("support", tier.support.clone()) error=error("support")/>
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
    view! {
        <Title text="Tiers"/>
        <h1>"Tiers"</h1>
        {move || leptos_router::hooks::use_query_map().read().get("updated").map(|id| view! {
            <crate::ui::Flash kind=crate::ui::FlashKind::Success message=format!("Tier {id} saved.")/>
        })}
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let editable = me.await.map(|u| u.role == crate::auth::Role::PlatformAdmin).unwrap_or(false);
                match tiers.await {
                    Ok(tiers) => view! { <TierTable tiers editable/> }.into_any(),
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
