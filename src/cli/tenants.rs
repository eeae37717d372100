//! `bulkhead tenant create|show|render|probe|seed`.

use super::{anyhow_lite, database_url};
use crate::app::startup;
use crate::audit::Actor;
use crate::server::{config::Config, db};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (audited as the command line).
    Create {
        #[arg(long)]
        name: String,
        /// free, standard, premium, enterprise (or any tier in the catalogue)
        #[arg(long)]
        tier: String,
        /// Default: made from the name.
        #[arg(long, default_value = "")]
        slug: String,
        /// 1, 2 or 3. Default: the tier's default.
        #[arg(long, default_value = "")]
        isolation: String,
        #[arg(long, default_value = "eu-west-1")]
        region: String,
        /// development, staging or production
        #[arg(long, default_value = "production")]
        environment: String,
        /// gdpr, sox, hipaa, pci-dss (repeatable)
        #[arg(long = "compliance")]
        compliance: Vec<String>,
    },
    /// Print a tenant's configuration, quotas and this month's usage (API calls
    /// included), as the console exports it.
    Show {
        #[arg(long)]
        slug: String,
        /// json or yaml.
        #[arg(long, default_value = "json")]
        format: String,
    },
    /// Print the deployment of a level-3 tenant's dedicated instance, as its
    /// activation checklist renders it (configuration from the environment:
    /// BULKHEAD_ROUTER_NAMESPACE, BULKHEAD_TENANT_IMAGE).
    Render {
        #[arg(long)]
        slug: String,
        /// k8s, compose, storage-policy or kustomization.
        #[arg(long, default_value = "k8s")]
        format: String,
        /// Write every file into DIR instead (made if missing): a directory
        /// to commit where Argo CD or Flux applies it, its kustomization.yaml
        /// listing the manifests. Prints each file's SHA-256, the report's subjects.
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
        /// Print the signed teardown statement of a tenant that was deleted
        /// or left level 3 instead: what Bulkhead removed and observed gone,
        /// and what the operator must remove (check it with `report verify`).
        #[arg(long, conflicts_with = "out")]
        teardown: bool,
    },
    /// Run the isolation probes (Row-Level Security, NetworkPolicy, Redis
    /// queue, health) on a level-3 tenant as they stand, with the console's
    /// environment; with --report, write a signed integrity report to FILE
    /// (kept and audited like the console's). Exits non-zero when a probe fails.
    Probe {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        report: Option<std::path::PathBuf>,
    },
    /// Create COUNT synthetic tenants (seed-1, seed-2, …) for load and paging tests.
    Seed {
        #[arg(long, default_value_t = 100_000)]
        count: i64,
    },
}

pub(super) async fn run(command: TenantCommand) -> anyhow_lite::Result<()> {
    let url = database_url()?;
    let pool = db::connect(&url, 2)?;
    match command {
        TenantCommand::Create { name, tier, slug, isolation, region, environment, compliance } => {
            let input = crate::tenants::ssr::NewTenant { name, slug, tier, isolation, region, environment, compliance };
            let runtime = crate::server::config::TenantRuntime::from_env()?;
            match crate::tenants::ssr::create(&pool, &Actor::cli(), None, input, &runtime).await {
                Ok(slug) => println!("created tenant {slug}"),
                Err(crate::error::AppError::Invalid(errors)) => {
                    let lines: Vec<String> = errors.iter().map(|e| format!("  --{}: {}", e.field, e.message)).collect();
                    return Err(format!("the tenant was not created:\n{}", lines.join("\n")).into());
                }
                Err(other) => return Err(other.to_string().into()),
            }
        }
        TenantCommand::Show { slug, format } => {
            let yaml = match format.as_str() {
                "json" => false,
                "yaml" => true,
                other => return Err(format!("--format must be json or yaml, not {other:?}").into()),
            };
            let mut tx = db::begin(&pool, db::Scope::Platform).await?;
            let detail = crate::tenants::ssr::detail(&mut tx, slug.trim()).await?;
            tx.commit().await?;
            let detail = detail.ok_or_else(|| format!("no tenant has the slug {slug:?}"))?;
            let doc = crate::tenants::ssr::export_document(&detail);
            if yaml {
                print!("{}", serde_yaml::to_string(&doc)?);
            } else {
                println!("{}", serde_json::to_string_pretty(&doc)?);
            }
        }
        TenantCommand::Render { slug, teardown: true, .. } => {
            let mut tx = db::begin(&pool, db::Scope::Platform).await?;
            let statement = crate::activation::files::teardown_statement(&mut tx, slug.trim()).await;
            tx.commit().await?;
            match statement {
                Ok(envelope) => println!("{}", serde_json::to_string_pretty(&envelope)?),
                Err(crate::error::AppError::NotFound) => {
                    return Err(format!(
                        "{slug} has no signed teardown: it never ran dedicated, or its teardown is still pending \
                         (its page says why)"
                    )
                    .into())
                }
                Err(e) => return Err(e.to_string().into()),
            }
        }
        TenantCommand::Render { slug, format, out, .. } => {
            let index = match format.as_str() {
                "k8s" => 0,
                "compose" => 1,
                "storage-policy" => 2,
                "kustomization" => 3,
                other => {
                    return Err(format!(
                        "--format must be k8s, compose, storage-policy or kustomization, not {other:?}"
                    )
                    .into())
                }
            };
            let config = crate::server::config::Config {
                tenant: crate::server::config::TenantRuntime::from_env()?,
                ..crate::server::config::Config::default()
            };
            let mut tx = db::begin(&pool, db::Scope::Platform).await?;
            let subject = crate::activation::subject::subject(&mut tx, &config, slug.trim()).await;
            tx.commit().await?;
            let subject = match subject {
                Ok(s) => s,
                Err(crate::error::AppError::NotFound) => return Err(format!("no tenant has the slug {slug:?}").into()),
                Err(e) => return Err(e.to_string().into()),
            };
            let rendered = crate::activation::bundle::Rendered::of(&subject.plan)?;
            match out {
                Some(dir) => {
                    rendered.write_to(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                    for (name, sha256) in rendered.digests() {
                        println!("{sha256}  {}", dir.join(name).display());
                    }
                }
                None => print!("{}", rendered.files[index].1),
            }
        }
        TenantCommand::Probe { slug, report } => {
            let config = Config::from_env()?;
            let state = startup::state(pool.clone(), config, startup::leptos_options());
            match crate::activation::drift::probe(&state, slug.trim(), report.is_some()).await {
                Err(crate::error::AppError::NotFound) => return Err(format!("no tenant has the slug {slug:?}").into()),
                Err(e) => return Err(e.to_string().into()),
                Ok(Err(reason)) => return Err(format!("a probe failed: {reason}").into()),
                Ok(Ok((evidence, envelope))) => {
                    if let (Some(path), Some(envelope)) = (report, envelope) {
                        std::fs::write(&path, serde_json::to_string_pretty(&envelope)?)
                            .map_err(|e| format!("{}: {e}", path.display()))?;
                        eprintln!("signed report written to {}", path.display());
                    }
                    println!("{}", serde_json::to_string_pretty(&evidence)?);
                }
            }
        }
        TenantCommand::Seed { count } => {
            if !(1..=10_000_000).contains(&count) {
                return Err("--count must be between 1 and 10,000,000".into());
            }
            let created = crate::tenants::ssr::seed(&pool, &Actor::cli(), count).await.map_err(|e| e.to_string())?;
            println!("created {created} tenants");
        }
    }
    pool.close().await;
    Ok(())
}
