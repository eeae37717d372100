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
}

impl Tier {
    pub fn allows(&self, level: i16) -> bool {
        self.allowed_isolation_levels.contains(&level)
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::Tier;
    use sqlx::PgConnection;

    /// Every tier, cheapest first.
    pub async fn all(conn: &mut PgConnection) -> Result<Vec<Tier>, sqlx::Error> {
        sqlx::query_as!(
            Tier,
            r#"SELECT id, name, cpu_millicores, memory_bytes, storage_bytes, max_users, api_calls_per_month,
                      db_connections, allowed_isolation_levels, default_isolation_level, backup, support
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
                      db_connections, allowed_isolation_levels, default_isolation_level, backup, support
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
    use crate::server::db::{begin, Scope};
    crate::auth::session::require_platform_staff().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = begin(&state.pool, Scope::Platform).await?;
    let tiers = ssr::all(&mut tx).await?;
    tx.commit().await?;
    Ok(tiers)
}

/// The tiers side by side.
#[component]
pub fn TiersPage() -> impl IntoView {
    let tiers = Resource::new(|| (), |_| list_tiers());
    view! {
        <Title text="Tiers"/>
        <h1>"Tiers"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match tiers.await {
                    Ok(tiers) => view! { <TierTable tiers/> }.into_any(),
                    Err(e) => view! { <div class="flash flash-error" role="alert">{e.to_string()}</div> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn TierTable(tiers: Vec<Tier>) -> impl IntoView {
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
    view! {
        <Table caption="Tier catalogue" headers>
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
