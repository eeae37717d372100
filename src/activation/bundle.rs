//! Everything rendered for a dedicated tenant, by file name: the Kubernetes
//! manifests, the Compose file and the storage policy, and their SHA-256
//! digests (recorded by the render step, the report's subjects).

use super::outside::{compose, storage_policy};
use super::render::{kubernetes, Plan};
use sha2::{Digest, Sha256};

/// Every rendered file by name, and each one's SHA-256 (the report's subjects).
pub struct Rendered {
    pub files: Vec<(String, String)>,
}

impl Rendered {
    pub fn of(plan: &Plan) -> Result<Rendered, String> {
        let policy = serde_json::to_string_pretty(&storage_policy(plan)).map_err(|e| e.to_string())?;
        Ok(Rendered {
            files: vec![
                (format!("tenant-{}.k8s.yaml", plan.slug), kubernetes(plan)?),
                (format!("tenant-{}.compose.yaml", plan.slug), compose(plan)?),
                (format!("tenant-{}.storage-policy.json", plan.slug), policy),
            ],
        })
    }

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
