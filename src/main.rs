//! The `bulkhead` binary: the console server and its command line.

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Secrets mounted as files, read before any other thread runs.
    if let Err(e) = bulkhead::server::config_env::load_secret_files() {
        eprintln!("{}: {}", e.name, e.message);
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("the async runtime starts");
    std::process::exit(runtime.block_on(run()));
}

async fn run() -> i32 {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    let json = std::env::var("BULKHEAD_LOG_FORMAT").map(|v| v == "json").unwrap_or(false);
    if json {
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).json().init();
    } else {
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).init();
    }
    let cli = bulkhead::cli::Cli::parse();
    bulkhead::cli::run(cli).await
}
