//! `bulkhead billing export`: a month's billing figures on standard output.

use super::{anyhow_lite, database_url};
use crate::billing::{ssr, Period};
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
    }
}
