//! The command line: `serve` (the default), `migrate`, `admin create|bootstrap|disable|unlock`,
//! `tenant create|show|render|probe|seed`, `audit verify|checkpoint|seed`, `token create|list|revoke`,
//! `key create|list|revoke|anonymous-calls`,
//! `report verify`.

use crate::app::startup;
use crate::audit::Actor;
use crate::auth::{users, Role};
use crate::server::{config::Config, db};
use clap::{Parser, Subcommand};

mod audit;
mod billing;
mod keys;
mod report;
mod tenants;
mod tokens;
use audit::AuditCommand;
pub use report::ReportCommand;
use std::io::Read;
pub use tenants::TenantCommand;
pub use tokens::TokenCommand;

/// Bulkhead, the tenant control plane console.
#[derive(Debug, Parser)]
#[command(name = "bulkhead", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the console (the default).
    Serve,
    /// Apply the database migrations, as the role that owns the schema.
    Migrate {
        /// The owner's URL (else `BULKHEAD_MIGRATE_URL`, else `DATABASE_URL`).
        #[arg(long, env = "BULKHEAD_MIGRATE_URL", hide_env_values = true)]
        database_url: Option<String>,
    },
    /// Manage platform staff accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Check and load the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Manage API tokens for machines (audited as the command line).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage tenants' API keys (audited as the command line).
    Key {
        #[command(subcommand)]
        command: keys::KeyCommand,
    },
    /// Export billing figures, correct a closed month.
    Billing {
        #[command(subcommand)]
        command: billing::BillingCommand,
    },
    /// Check isolation integrity reports.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a platform admin (or auditor). The password is read from stdin
    /// with --password-stdin, otherwise generated and printed once.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
        /// platform_admin or platform_auditor
        #[arg(long, default_value = "platform_admin")]
        role: String,
    },
    /// Create a first platform admin with a generated password, only when none exists.
    Bootstrap {
        #[arg(long, default_value = "admin@example.com")]
        email: String,
    },
    /// Disable an account and end all of its sessions.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Unlock an account locked after too many wrong passwords.
    Unlock {
        #[arg(long)]
        email: String,
    },
}

pub(crate) fn database_url() -> anyhow_lite::Result<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| "DATABASE_URL is not set (postgres://user@host:port/database)".into())
}

/// Removes the password from a connection URL, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Minimal boxed-error result for the command line.
mod anyhow_lite {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}

/// A command's outcome as the command line says it: refused fields one per
/// line under "nothing was changed", `not_found` for a missing subject.
pub(crate) fn said(outcome: Result<(), crate::error::AppError>, not_found: &str) -> anyhow_lite::Result<()> {
    match outcome {
        Ok(()) => Ok(()),
        Err(crate::error::AppError::Invalid(errors)) => {
            let lines: Vec<String> = errors.iter().map(|e| format!("  --{}: {}", e.field, e.message)).collect();
            Err(format!("nothing was changed:\n{}", lines.join("\n")).into())
        }
        Err(crate::error::AppError::NotFound) => Err(not_found.to_string().into()),
        Err(other) => Err(other.to_string().into()),
    }
}

/// Runs the command line; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match dispatch(cli).await {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("error: {err}");
            1
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow_lite::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve().await,
        Command::Migrate { database_url: owner_url } => {
            let url = match owner_url.filter(|u| !u.trim().is_empty()) {
                Some(url) => url,
                None => database_url()?,
            };
            db::migrate(&url).await.map_err(|e| format!("migrating {}: {e}", redact_url(&url)))?;
            println!("migrations applied");
            Ok(())
        }
        Command::Admin { command } => admin(command).await,
        Command::Tenant { command } => tenants::run(command).await,
        Command::Audit { command } => audit::run(command).await,
        Command::Token { command } => tokens::run(command).await,
        Command::Key { command } => keys::run(command).await,
        Command::Report { command } => report::run(command).await,
        Command::Billing { command } => billing::run(command).await,
    }
}

async fn admin(command: AdminCommand) -> anyhow_lite::Result<()> {
    let url = database_url()?;
    let pool = db::connect(&url, 2)?;
    let actor = Actor::cli();
    match command {
        AdminCommand::Create { email, password_stdin, role } => {
            let role = Role::parse(&role)
                .filter(|r| r.is_platform_staff())
                .ok_or_else(|| format!("--role must be platform_admin or platform_auditor, not {role:?}"))?;
            let (password, generated) = if password_stdin {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                (s.trim_end_matches(['\n', '\r']).to_string(), false)
            } else {
                (users::generate_password(), true)
            };
            let id = users::create_platform_user(&pool, &actor, &email, password.clone(), role).await?;
            println!("created {} {} ({id})", role.as_str(), email.trim().to_lowercase());
            if generated {
                println!("password: {password}");
                println!("(shown once: store it now)");
            }
        }
        AdminCommand::Bootstrap { email } => {
            if users::any_platform_admin(&pool).await? {
                println!("a platform admin already exists; nothing to do");
            } else {
                let password = users::generate_password();
                users::create_platform_user(&pool, &actor, &email, password.clone(), Role::PlatformAdmin).await?;
                println!("first platform admin created");
                println!("  e-mail:   {}", email.trim().to_lowercase());
                println!("  password: {password}");
                println!("  (shown once: store it now)");
            }
        }
        AdminCommand::Disable { email } => {
            let ended = users::disable_user(&pool, &actor, &email).await?;
            println!("disabled {email}; {ended} session(s) ended");
        }
        AdminCommand::Unlock { email } => {
            users::unlock_user(&pool, &actor, &email).await?;
            println!("unlocked {email}");
        }
    }
    pool.close().await;
    Ok(())
}

/// Outside development the console refuses to run as a superuser or as the
/// owner of its tables. The database may be down at start (the console then
/// serves `/readyz` as 503): the check runs as soon as it answers, and stops
/// the process if the role is unfit.
fn refuse_privileged_login(pool: sqlx::PgPool) {
    tokio::spawn(async move {
        loop {
            match db::login_role_problem(&pool).await {
                Ok(None) => return,
                Ok(Some(problem)) => {
                    tracing::error!(
                        "refusing to serve: {problem}; connect as a login role that is a member of \
                         bulkhead_app and the scoped roles and owns nothing (see README, Database roles), \
                         and run migrations with BULKHEAD_MIGRATE_URL"
                    );
                    std::process::exit(1);
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_secs(2)).await,
            }
        }
    });
}

async fn serve() -> anyhow_lite::Result<()> {
    let config = Config::from_env()?;
    let off = config.protections_off();
    if off.is_empty() {
        tracing::info!(profile = ?config.profile, "profile {:?}: every protection is on", config.profile);
    } else {
        tracing::warn!(profile = ?config.profile, "profile {:?}: off: {}", config.profile, off.join("; "));
    }
    let url = database_url()?;
    let options = startup::leptos_options();
    let addr = options.site_addr;
    config.check_listen(addr)?;
    let production = config.profile != crate::server::config::Profile::Development;
    let pool = db::connect(&url, config.db_max_connections)?;
    if production {
        refuse_privileged_login(pool.clone());
    }
    let state = startup::state(pool, config, options);
    crate::app::background::start(&state);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, "Bulkhead console listening on http://{addr}");
    startup::serve(listener, startup::router(state.clone())).await?;
    crate::app::background::stop(&state).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u@h:5432/db");
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn serve_is_the_default_command() {
        let cli = Cli::try_parse_from(["bulkhead"]).unwrap();
        assert!(cli.command.is_none());
        let cli =
            Cli::try_parse_from(["bulkhead", "admin", "create", "--email", "a@b.co", "--password-stdin"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Admin { command: AdminCommand::Create { password_stdin: true, .. } })
        ));
    }
}
