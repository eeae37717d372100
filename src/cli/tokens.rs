//! `bulkhead token create|list|revoke`: API tokens from the command line.

use super::{anyhow_lite, database_url};
use crate::audit::Actor;
use crate::server::db;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token; prints it alone on stdout, once.
    Create {
        #[arg(long)]
        name: String,
        /// routing, ingest, metrics or billing; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Its life in days (`30d` or `30`); without it, until revoked.
        #[arg(long)]
        expires: Option<String>,
    },
    /// List the tokens (never the tokens themselves).
    List,
    /// Revoke a token by name.
    Revoke {
        #[arg(long)]
        name: String,
    },
}

pub(super) async fn run(command: TokenCommand) -> anyhow_lite::Result<()> {
    use crate::tokens::ssr;
    let url = database_url()?;
    let pool = db::connect(&url, 1)?;
    let outcome = match command {
        TokenCommand::Create { name, scopes, expires } => {
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            match ssr::NewToken::parse(&name, &scopes, expires.as_deref().unwrap_or("never")) {
                Ok(new) => ssr::create(&pool, &Actor::cli(), None, new).await.map(|token| println!("{token}")),
                Err(e) => Err(e),
            }
        }
        TokenCommand::List => {
            async {
                let mut tx = db::begin(&pool, db::Scope::Platform).await?;
                let tokens = ssr::list(&mut tx).await?;
                tx.commit().await?;
                let now = time::OffsetDateTime::now_utc();
                for t in tokens {
                    let state = if t.revoked_at.is_some() {
                        "revoked"
                    } else if t.usable(now) {
                        "in force"
                    } else {
                        "expired"
                    };
                    let scopes = t.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
                    let last = t.last_used_at.map(crate::ui::format_time).unwrap_or_else(|| "never used".into());
                    println!("{}\t{}…\t{scopes}\t{state}\t{last}", t.name, t.hint);
                }
                Ok(())
            }
            .await
        }
        TokenCommand::Revoke { name } => ssr::revoke(&pool, &Actor::cli(), ssr::Which::Name(name.clone()))
            .await
            .map(|name| println!("revoked {name}")),
    };
    pool.close().await;
    super::said(outcome, "no token in force has that name")
}
