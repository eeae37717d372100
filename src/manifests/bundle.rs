//! Everything rendered for a dedicated tenant, by file name: the Kubernetes
//! manifests, the Compose file, the storage policy and the
//! `kustomization.yaml` that makes the set a directory Argo CD or Flux
//! applies, and their SHA-256 digests (recorded by the render step, the
//! report's subjects).

use super::outside::{compose, storage_policy};
use super::render::{self, yaml, Plan};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A Kustomize `Kustomization` listing the manifests (the Compose file and
/// the storage policy sit beside them, for the operator's other tools).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Kustomization {
    api_version: &'static str,
    kind: &'static str,
    resources: Vec<String>,
}

/// The rendered files' names, in [`Rendered::files`]' order.
pub fn names(slug: &str) -> [String; 4] {
    [
        format!("tenant-{slug}.k8s.yaml"),
        format!("tenant-{slug}.compose.yaml"),
        format!("tenant-{slug}.storage-policy.json"),
        "kustomization.yaml".to_string(),
    ]
}

/// Every rendered file by name, and each one's SHA-256 (the report's subjects).
pub struct Rendered {
    pub files: Vec<(String, String)>,
}

impl Rendered {
    pub fn of(plan: &Plan) -> Result<Rendered, String> {
        let policy = serde_json::to_string_pretty(&storage_policy(plan)).map_err(|e| e.to_string())?;
        let [manifests, compose_file, policy_file, kustomization_file] = names(&plan.slug);
        let kustomization = yaml(&Kustomization {
            api_version: "kustomize.config.k8s.io/v1beta1",
            kind: "Kustomization",
            resources: vec![manifests.clone()],
        })?;
        Ok(Rendered {
            files: vec![
                (manifests, kubernetes(plan)?),
                (compose_file, compose(plan)?),
                (policy_file, policy),
                (kustomization_file, kustomization),
            ],
        })
    }

    /// The files as one tar archive under `dir/`, as `tenant render --out` writes them.
    pub fn tar(&self, dir: &str) -> Result<Vec<u8>, String> {
        let mut archive = tar::Builder::new(Vec::new());
        for (name, body) in &self.files {
            let mut header = tar::Header::new_ustar();
            header.set_size(body.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            archive.append_data(&mut header, format!("{dir}/{name}"), body.as_bytes()).map_err(|e| e.to_string())?;
        }
        archive.into_inner().map_err(|e| e.to_string())
    }

    /// Writes the files into `dir` (made if missing, same-named files replaced).
    pub fn write_to(&self, dir: &std::path::Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (name, body) in &self.files {
            std::fs::write(dir.join(name), body)?;
        }
        Ok(())
    }

    /// Each file's SHA-256, in hex.
    pub fn digests(&self) -> Vec<(String, String)> {
        self.files.iter().map(|(name, body)| (name.clone(), hex::encode(Sha256::digest(body.as_bytes())))).collect()
    }

    /// One digest over all the files, as the checklist records it.
    pub fn digest(&self) -> Vec<u8> {
        let mut h = Sha256::new();
        for (name, d) in self.digests() {
            h.update(name.as_bytes());
            h.update(b"\0");
            h.update(d.as_bytes());
            h.update(b"\n");
        }
        h.finalize().to_vec()
    }
}

/// The Kubernetes manifests, one YAML document each, in the order to apply them.
pub fn kubernetes(plan: &Plan) -> Result<String, String> {
    let docs = [
        yaml(&render::namespace(plan))?,
        yaml(&render::network_policy(plan))?,
        yaml(&render::resource_quota(plan))?,
        yaml(&render::limit_range(plan))?,
        yaml(&super::workload::deployment(plan, "api", Vec::new(), render::API_PORT, &plan.health_path))?,
        yaml(&super::workload::deployment(
            plan,
            "worker",
            vec!["worker".into()],
            render::WORKER_HEALTH_PORT,
            "/healthz",
        ))?,
        yaml(&render::service(plan))?,
    ];
    Ok(docs.iter().map(|d| format!("---\n{d}")).collect())
}

/// A level-2 tenant's namespace and its guardrails, one YAML document each:
/// the Namespace (restricted Pod Security), the NetworkPolicy, the
/// ResourceQuota and the LimitRange a dedicated instance gets too. The
/// tenant's workloads are the operator's; these bound them.
pub fn namespace_guardrails(plan: &Plan) -> Result<String, String> {
    let docs = [
        yaml(&render::namespace(plan))?,
        yaml(&render::network_policy(plan))?,
        yaml(&render::resource_quota(plan))?,
        yaml(&render::limit_range(plan))?,
    ];
    Ok(docs.iter().map(|d| format!("---\n{d}")).collect())
}
