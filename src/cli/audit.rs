//! `bulkhead audit verify|checkpoint|seed`: the trail's checks from the command line.

use super::{anyhow_lite, database_url};
use crate::audit::Actor;
use crate::server::db;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain and check the signed checkpoints (the
    /// database's, and FILE's, kept elsewhere, under BULKHEAD_SIGNING_KEY's
    /// public key); exits with status 1 when either finds a change.
    Verify {
        #[arg(long, value_name = "FILE")]
        checkpoints: Option<std::path::PathBuf>,
    },
    /// Sign the chain head now (BULKHEAD_SIGNING_KEY), keep the checkpoint in
    /// the database and append it to FILE (one JSON line), to keep elsewhere.
    Checkpoint {
        #[arg(long, value_name = "FILE")]
        out: std::path::PathBuf,
    },
    /// Write a synthetic history of EVENTS events over the last DAYS days across
    /// TENANTS tenants (audit-seed-1, …), for load tests. Runs as the database
    /// owner; refuses when the trail already has events in that period.
    Seed {
        #[arg(long, default_value_t = 1_000_000)]
        events: i64,
        #[arg(long, default_value_t = 1_000)]
        tenants: i32,
        #[arg(long, default_value_t = 365)]
        days: i32,
    },
}

/// The key that signs audit checkpoints, if configured.
fn signing_key() -> anyhow_lite::Result<Option<crate::audit::checkpoint::Signer25519>> {
    match std::env::var("BULKHEAD_SIGNING_KEY").ok().filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(text) => Ok(Some(
            crate::audit::checkpoint::Signer25519::parse(&text).map_err(|e| format!("BULKHEAD_SIGNING_KEY: {e}"))?,
        )),
    }
}

pub(super) async fn run(command: AuditCommand) -> anyhow_lite::Result<()> {
    let url = database_url()?;
    match command {
        AuditCommand::Checkpoint { out } => {
            let signer = signing_key()?.ok_or("BULKHEAD_SIGNING_KEY is not set: there is no key to sign with")?;
            let pool = db::connect(&url, 1)?;
            let mut tx = db::begin(&pool, db::Scope::Platform).await?;
            let checkpoint = crate::audit::checkpoint::sign(&mut tx, &signer).await?;
            let line = serde_json::to_string(&checkpoint)?;
            // Appended before the commit: a checkpoint the file lacks is never kept alone.
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&out)
                .map_err(|e| format!("{}: {e}", out.display()))?;
            std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes())?;
            file.sync_all()?;
            tx.commit().await?;
            pool.close().await;
            println!("{line}");
        }
        AuditCommand::Verify { checkpoints } => {
            let pool = db::connect(&url, 1)?;
            let mut tx = db::begin(&pool, db::Scope::Platform).await?;
            if let Some(path) = checkpoints {
                let signer = signing_key()?
                    .ok_or("BULKHEAD_SIGNING_KEY is not set: the checkpoints' signatures cannot be checked")?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let mut kept = Vec::new();
                for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                    kept.push(
                        serde_json::from_str::<crate::audit::checkpoint::Checkpoint>(line)
                            .map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))?,
                    );
                }
                use crate::audit::checkpoint::{check, Finding};
                match check(&mut tx, &kept, Some(&signer.verifying_key())).await? {
                    Finding::Holds { checked } => println!("{checked} checkpoints from {}: hold", path.display()),
                    Finding::BadSignature { head_id } => {
                        return Err(format!("the checkpoint of event {head_id} is not signed by this key").into())
                    }
                    Finding::Rewritten { head_id, signed_at } => {
                        return Err(format!(
                            "history up to event {head_id} was rewritten after the checkpoint signed at {signed_at}"
                        )
                        .into())
                    }
                }
            }
            let report = crate::audit::verify_chain(&mut tx).await?;
            crate::audit::record(
                &mut tx,
                &Actor::cli(),
                crate::audit::NewEvent::new("audit.verified")
                    .after(serde_json::json!({ "checked": report.checked, "first_broken": report.first_broken })),
            )
            .await?;
            tx.commit().await?;
            pool.close().await;
            match report.first_broken {
                None => println!("checked {} events: intact", report.checked),
                Some(id) => {
                    return Err(format!("checked {} events: the chain breaks at event {id}", report.checked).into())
                }
            }
        }
        AuditCommand::Seed { events, tenants, days } => {
            if !(1..=100_000_000).contains(&events) || !(1..=100_000).contains(&tenants) || days < 1 {
                return Err("--events must be 1 to 100,000,000, --tenants 1 to 100,000, --days at least 1".into());
            }
            let owner = db::connect_owner(&url).await?;
            let started = std::time::Instant::now();
            sqlx::query("SELECT audit_seed($1, $2, $3)")
                .bind(events)
                .bind(tenants)
                .bind(days)
                .execute(&owner)
                .await
                .map_err(|e| format!("seeding the audit trail: {e}"))?;
            sqlx::query("ANALYZE audit_events, tenants").execute(&owner).await?;
            owner.close().await;
            println!("wrote {events} audit events in {:.1} s", started.elapsed().as_secs_f64());
        }
    }
    Ok(())
}
