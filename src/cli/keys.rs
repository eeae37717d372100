//! `bulkhead key create|update|list|revoke|anonymous-calls`: tenant API keys from the
//! command line, audited as the command line.

use super::{anyhow_lite, database_url};
use crate::audit::Actor;
use crate::server::db;
use clap::{Args, Subcommand};

/// A key's tenant, name, limits and life, as `create` and `update` take them.
#[derive(Debug, Args)]
pub struct KeyFields {
    /// The tenant's slug.
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    name: String,
    /// Calls a second of its own (with --burst), inside the tier's.
    #[arg(long)]
    rate: Option<String>,
    #[arg(long)]
    burst: Option<String>,
    /// Calls a month of its own, inside the tenant's allowance.
    #[arg(long)]
    monthly: Option<String>,
    /// Its life in days from now (`90d` or `90`); without it, until revoked.
    #[arg(long)]
    expires: Option<String>,
}

impl KeyFields {
    fn parse(&self) -> Result<crate::keys::ssr::NewKey, crate::error::AppError> {
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        let expires = self.expires.as_deref().unwrap_or("never");
        crate::keys::ssr::NewKey::parse(&self.name, &s(&self.rate), &s(&self.burst), &s(&self.monthly), expires)
    }
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a key for a tenant; prints it alone on stdout, once.
    Create(KeyFields),
    /// Replace the limits and life of a tenant's key in force: those given
    /// apply, those left out are lifted (audited with before and after).
    Update(KeyFields),
    /// List a tenant's keys (never the keys themselves).
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a tenant's key by name.
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
    },
    /// What the edge does with the tenant's calls that carry no key:
    /// `refuse` (the default) or `pass` (uncounted, limited per address).
    AnonymousCalls {
        #[arg(long)]
        tenant: String,
        mode: String,
    },
}

pub(super) async fn run(command: KeyCommand) -> anyhow_lite::Result<()> {
    use crate::keys::ssr;
    let url = database_url()?;
    let pool = db::connect(&url, 1)?;
    let scope = db::Scope::Platform;
    let outcome = match command {
        KeyCommand::Create(fields) => match fields.parse() {
            Ok(new) => ssr::create(&pool, scope, &Actor::cli(), None, &fields.tenant, new)
                .await
                .map(|made| println!("{}", made.secret)),
            Err(e) => Err(e),
        },
        KeyCommand::Update(fields) => match fields.parse() {
            Ok(new) => ssr::update(&pool, scope, &Actor::cli(), &fields.tenant, new)
                .await
                .map(|()| println!("changed {}", fields.name)),
            Err(e) => Err(e),
        },
        KeyCommand::List { tenant } => {
            async {
                let mut tx = db::begin(&pool, scope).await?;
                let t = ssr::tenant(&mut tx, Some(&tenant)).await?;
                let keys = ssr::list(&mut tx, t.id).await?;
                tx.commit().await?;
                for k in keys {
                    let last = k.last_used_at.map(crate::ui::format_time).unwrap_or_else(|| "never used".into());
                    let rate = match (k.rate_per_second, k.burst) {
                        (Some(r), Some(b)) => format!("{r}/s burst {b}"),
                        _ => "tier rate".into(),
                    };
                    let cap = k.monthly_calls.map(|m| format!("{}/{m} this month", k.calls_this_month));
                    let cap = cap.unwrap_or_else(|| format!("{} this month", k.calls_this_month));
                    println!("{}\t{}…\t{rate}\t{cap}\t{}\t{last}", k.name, k.hint, k.state());
                }
                Ok(())
            }
            .await
        }
        KeyCommand::Revoke { tenant, name } => {
            ssr::revoke(&pool, scope, &Actor::cli(), &tenant, ssr::Which::Name(name.clone()))
                .await
                .map(|name| println!("revoked {name}"))
        }
        KeyCommand::AnonymousCalls { tenant, mode } => {
            ssr::set_anonymous_calls(&pool, &Actor::cli(), &tenant, &mode).await.map(|()| {
                println!(
                    "{tenant}: calls without a key are {}",
                    if mode.trim() == "pass" { "passed" } else { "refused" }
                )
            })
        }
    };
    pool.close().await;
    super::said(outcome, "no such tenant, or no key in force of that name")
}
