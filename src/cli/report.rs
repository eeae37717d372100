//! `bulkhead report verify`: an isolation integrity report checked offline.

use super::anyhow_lite;

#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// Check a signed report offline: its signature against a key set, and
    /// print what it states. Exits non-zero when it does not verify.
    Verify {
        /// The report (`…isolation-report.json`).
        file: std::path::PathBuf,
        /// The JWK Set: a file, or the console's
        /// `https://…/.well-known/bulkhead/report-keys`. Default: the public
        /// key of BULKHEAD_SIGNING_KEY.
        #[arg(long)]
        keys: Option<String>,
    },
}

pub(super) async fn run(command: ReportCommand) -> anyhow_lite::Result<()> {
    match command {
        ReportCommand::Verify { file, keys } => verify(&file, keys.as_deref()).await,
    }
}

async fn verify(file: &std::path::Path, keys: Option<&str>) -> anyhow_lite::Result<()> {
    use crate::activation::report;
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let envelope: report::Envelope =
        serde_json::from_str(&text).map_err(|e| format!("{}: not a signed report ({e})", file.display()))?;
    let jwks: serde_json::Value = match keys {
        Some(k) if k.starts_with("https://") || k.starts_with("http://") => {
            reqwest::get(k).await.map_err(|e| format!("{k}: {e}"))?.json().await.map_err(|e| format!("{k}: {e}"))?
        }
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?)
            .map_err(|e| format!("{path}: not a JWK Set ({e})"))?,
        None => {
            let key = std::env::var("BULKHEAD_SIGNING_KEY").map_err(|_| "give --keys (or set BULKHEAD_SIGNING_KEY)")?;
            crate::audit::checkpoint::Signer25519::parse(&key)?.jwk_set()
        }
    };
    let statement = report::verify(&envelope, &report::keys_of(&jwks)?)?;
    let p = &statement["predicate"];
    println!(
        "verified: signed by {}",
        envelope.signatures.iter().map(|s| s.keyid.as_str()).collect::<Vec<_>>().join(", ")
    );
    println!("tenant: {} ({})", p["tenant"]["slug"].as_str().unwrap_or("?"), p["tenant"]["id"].as_str().unwrap_or("?"));
    println!("issued: {}", p["issued_at"].as_str().unwrap_or("?"));
    for s in statement["subject"].as_array().into_iter().flatten() {
        println!(
            "subject: {} sha256:{}",
            s["name"].as_str().unwrap_or("?"),
            s["digest"]["sha256"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}
