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
        /// Fetch the key set over plain http:// (a test's console): without
        /// it only https:// is used, so no one on the path can swap the keys.
        #[arg(long)]
        allow_http: bool,
    },
}

pub(super) async fn run(command: ReportCommand) -> anyhow_lite::Result<()> {
    match command {
        ReportCommand::Verify { file, keys, allow_http } => verify(&file, keys.as_deref(), allow_http).await,
    }
}

/// The key set at `url`: over HTTPS (HTTP only when allowed), following
/// redirects within the same host and scheme only.
async fn fetch_keys(url: &str, allow_http: bool) -> anyhow_lite::Result<serde_json::Value> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    if parsed.scheme() != "https" && !(allow_http && parsed.scheme() == "http") {
        return Err(
            format!("{url}: the key set is fetched over https:// only (--allow-http for a test's console)").into()
        );
    }
    let (host, scheme) = (parsed.host_str().unwrap_or_default().to_string(), parsed.scheme().to_string());
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        let same = attempt.url().host_str() == Some(host.as_str()) && attempt.url().scheme() == scheme;
        if !same {
            let to = attempt.url().to_string();
            attempt.error(format!("redirected to {to}: keys are taken from the host asked only"))
        } else if attempt.previous().len() >= 3 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    });
    let client = reqwest::Client::builder()
        .redirect(policy)
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| format!("{url}: {e}"))?;
    let res = client.get(parsed).send().await.map_err(|e| {
        let mut cause: &dyn std::error::Error = &e;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        format!("{url}: {cause}")
    })?;
    if !res.status().is_success() {
        return Err(format!("{url}: answered {}", res.status()).into());
    }
    Ok(res.json().await.map_err(|e| format!("{url}: not a JWK Set ({e})"))?)
}

async fn verify(file: &std::path::Path, keys: Option<&str>, allow_http: bool) -> anyhow_lite::Result<()> {
    use crate::activation::report;
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let envelope: report::Envelope =
        serde_json::from_str(&text).map_err(|e| format!("{}: not a signed report ({e})", file.display()))?;
    let jwks: serde_json::Value = match keys {
        Some(k) if k.contains("://") => fetch_keys(k, allow_http).await?,
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?)
            .map_err(|e| format!("{path}: not a JWK Set ({e})"))?,
        None => {
            let key = std::env::var("BULKHEAD_SIGNING_KEY").map_err(|_| "give --keys (or set BULKHEAD_SIGNING_KEY)")?;
            crate::audit::checkpoint::Signer25519::parse(&key)?.jwk_set()
        }
    };
    let verified = report::verify(&envelope, &report::keys_of(&jwks)?)?;
    let statement = &verified.statement;
    let p = &statement["predicate"];
    // Only the keys whose signatures held.
    println!("verified: signed by {}", verified.signers.join(", "));
    println!("tenant: {} ({})", p["tenant"]["slug"].as_str().unwrap_or("?"), p["tenant"]["id"].as_str().unwrap_or("?"));
    println!("issued: {}", p["issued_at"].as_str().unwrap_or("?"));
    for s in statement["subject"].as_array().into_iter().flatten() {
        println!(
            "subject: {} sha256:{}",
            s["name"].as_str().unwrap_or("?"),
            s["digest"]["sha256"].as_str().unwrap_or("?")
        );
    }
    // Claims, by how they are known.
    let line = |v: &serde_json::Value| serde_json::to_string(v).unwrap_or_default();
    for (name, value) in p["rendered"].as_object().into_iter().flatten() {
        println!("rendered: {name}: {}", line(value));
    }
    for c in p["confirmed_by_operator"].as_array().into_iter().flatten() {
        println!(
            "confirmed by the operator: {} ({})",
            c["claim"].as_str().unwrap_or("?"),
            c["at"].as_str().unwrap_or("?")
        );
    }
    for (probe, o) in p["observed"].as_object().into_iter().flatten() {
        println!(
            "observed: {probe} at {} from {}: {}",
            o["at"].as_str().unwrap_or("?"),
            o["from"].as_str().unwrap_or("?"),
            line(&o["evidence"])
        );
    }
    if statement["predicateType"] == report::TEARDOWN_PREDICATE_TYPE {
        println!("teardown: {}", p["reason"].as_str().unwrap_or("?"));
        println!("done by bulkhead: {}", line(&p["done_by_bulkhead"]));
        for i in p["operator_must_remove"].as_array().into_iter().flatten() {
            println!(
                "operator must remove: {} {} ({})",
                i["what"].as_str().unwrap_or("?"),
                i["name"].as_str().unwrap_or("?"),
                i["how"].as_str().unwrap_or("?")
            );
        }
    }
    for n in p["not_observed"].as_array().into_iter().flatten() {
        println!("not observed: {}", n.as_str().unwrap_or("?"));
    }
    Ok(())
}
