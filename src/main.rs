//! The `bulkhead` binary: the console server and its command line.

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    let json = std::env::var("BULKHEAD_LOG_FORMAT").map(|v| v == "json").unwrap_or(false);
    if json {
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).json().init();
    } else {
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).init();
    }
    let cli = bulkhead::cli::Cli::parse();
    std::process::exit(bulkhead::cli::run(cli).await);
}
