//! `bulkhead billing export`: a month's billing figures on standard output;
//! `bulkhead billing adjust`: a correction to a closed month.

use super::{anyhow_lite, database_url};
use crate::audit::Actor;
use crate::billing::{adjust, ssr, Period};
use crate::server::db;

#[derive(Debug, clap::Subcommand)]
pub enum BillingCommand {
    /// Print each tenant's figures for a month: CSV (a header row naming the
    /// columns, then one row per tenant) or JSON.
    Export {
        /// The calendar month, YYYY-MM (UTC).
        #[arg(long)]
        period: String,
        #[arg(long, value_parser = ["csv", "json"], default_value = "csv")]
        format: String,
    },
    /// Correct a month already closed for billing: its figures for the tenant
    /// are sent again to the billing webhooks as billing.period_adjusted, and
    /// the adjustment is audited. Prints the tenant's figures after it (JSON).
    Adjust {
        /// The closed month, YYYY-MM (UTC).
        #[arg(long)]
        period: String,
        /// The tenant's slug or id.
        #[arg(long)]
        tenant: String,
        /// api_calls, or a gauge: storage_bytes, memory_bytes, cpu_millicores, users, db_connections.
        #[arg(long)]
        metric: String,
        /// api_calls: calls to add (negative to remove); a gauge: the month's corrected peak.
        #[arg(long, allow_hyphen_values = true)]
        value: String,
        /// Why: sent with the figures and kept in the audit trail.
        #[arg(long)]
        reason: String,
    },
}

pub(super) async fn run(command: BillingCommand) -> anyhow_lite::Result<()> {
    match command {
        BillingCommand::Export { period, format } => {
            let period = Period::parse(&period).map_err(|e| match e {
                crate::error::AppError::Invalid(errors) => errors[0].message.clone(),
                other => other.to_string(),
            })?;
            let pool = db::connect(&database_url()?, 1)?;
            let mut tx = db::begin(&pool, db::Scope::Platform).await.map_err(|e| e.to_string())?;
            let rows = ssr::figures(&mut tx, period).await.map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())?;
            match format.as_str() {
                "json" => println!("{}", ssr::json(period, &rows)),
                _ => print!("{}", ssr::csv(&rows)),
            }
            Ok(())
        }
        BillingCommand::Adjust { period, tenant, metric, value, reason } => {
            let new = adjust::NewAdjustment::parse(&period, &tenant, &metric, &value, &reason).map_err(refusal)?;
            let pool = db::connect(&database_url()?, 1)?;
            let done = adjust::adjust(&pool, &Actor::cli(), new).await.map_err(refusal)?;
            println!("{}", serde_json::json!({ "id": done.id, "period": period.trim(), "tenant": done.figures }));
            Ok(())
        }
    }
}

/// Every refused field on its own line, named.
fn refusal(e: crate::error::AppError) -> String {
    match e {
        crate::error::AppError::Invalid(errors) => {
            errors.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("\n")
        }
        other => other.to_string(),
    }
}
