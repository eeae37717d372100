//! What a dedicated tenant gets outside Kubernetes, from the same plan: a
//! Compose file (the same two workloads on an internal network of their own,
//! reaching the platform's services on one named network) and the
//! object-storage bucket's IAM policy (that bucket and nothing else).

use super::render::{labels, yaml, Plan, CREDENTIALS_DIR, RUN_AS};
use super::workload::env;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A Compose file: the same two workloads on a network of their own with no way out.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Compose {
    pub name: String,
    pub services: BTreeMap<String, ComposeService>,
    pub networks: BTreeMap<String, ComposeNetwork>,
    pub secrets: BTreeMap<String, ComposeSecret>,
}

/// A secret read from a file beside the Compose file, never written in it.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ComposeSecret {
    pub file: String,
}

/// A secret mounted at a path of the container.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SecretMount {
    pub source: String,
    pub target: String,
}

/// The network, made by the operator, where the database, Redis and the
/// router are: the only way out of the tenant's own network.
pub const SERVICES_NETWORK: &str = "bulkhead-services";

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ComposeService {
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub networks: Vec<String>,
    pub cpus: String,
    pub mem_limit: String,
    pub labels: BTreeMap<String, String>,
    pub user: String,
    pub read_only: bool,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub tmpfs: Vec<String>,
    pub secrets: Vec<SecretMount>,
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ComposeNetwork {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

pub fn compose(plan: &Plan) -> Result<String, String> {
    let network = plan.namespace.clone();
    let env: BTreeMap<String, String> = env(plan).into_iter().map(|e| (e.name, e.value.unwrap_or_default())).collect();
    let service = |command: Vec<String>| ComposeService {
        image: plan.image.clone(),
        command,
        environment: env.clone(),
        networks: vec![network.clone(), SERVICES_NETWORK.to_string()],
        // Each of the two gets half of the quota.
        cpus: format!("{:.3}", plan.cpu_millicores as f64 / 2000.0),
        mem_limit: format!("{}b", plan.memory_bytes / 2),
        labels: labels(plan, None),
        user: format!("{RUN_AS}:{RUN_AS}"),
        read_only: true,
        cap_drop: vec!["ALL".into()],
        security_opt: vec!["no-new-privileges:true".into()],
        tmpfs: vec!["/tmp:size=64m".into()],
        secrets: ["database-url", "redis-url"]
            .iter()
            .map(|s| SecretMount { source: s.to_string(), target: format!("{CREDENTIALS_DIR}/{s}") })
            .collect(),
    };
    let file = Compose {
        name: format!("tenant-{}", plan.slug),
        services: BTreeMap::from([
            ("api".to_string(), service(Vec::new())),
            ("worker".to_string(), service(vec!["worker".into()])),
        ]),
        networks: BTreeMap::from([
            (
                network.clone(),
                ComposeNetwork { internal: true, labels: labels(plan, None), ..ComposeNetwork::default() },
            ),
            (
                SERVICES_NETWORK.to_string(),
                ComposeNetwork { external: true, name: Some(SERVICES_NETWORK.into()), ..ComposeNetwork::default() },
            ),
        ]),
        secrets: ["database-url", "redis-url"]
            .iter()
            .map(|s| (s.to_string(), ComposeSecret { file: format!("./secrets/{s}") }))
            .collect(),
    };
    yaml(&file)
}

/// An S3 (or MinIO) IAM policy document.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct IamPolicy {
    pub version: String,
    pub statement: Vec<IamStatement>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct IamStatement {
    pub sid: String,
    pub effect: String,
    pub action: Vec<String>,
    pub resource: Vec<String>,
}

/// The policy that reaches the tenant's bucket and nothing else.
pub fn storage_policy(plan: &Plan) -> IamPolicy {
    let bucket = plan.bucket();
    IamPolicy {
        version: "2012-10-17".into(),
        statement: vec![
            IamStatement {
                sid: "ListOwnBucket".into(),
                effect: "Allow".into(),
                action: vec!["s3:ListBucket".into(), "s3:GetBucketLocation".into()],
                resource: vec![format!("arn:aws:s3:::{bucket}")],
            },
            IamStatement {
                sid: "ObjectsOfOwnBucket".into(),
                effect: "Allow".into(),
                action: vec!["s3:GetObject".into(), "s3:PutObject".into(), "s3:DeleteObject".into()],
                resource: vec![format!("arn:aws:s3:::{bucket}/*")],
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::render::tests::plan;

    #[test]
    fn the_compose_network_is_internal_and_the_policy_names_one_bucket() {
        let text = compose(&plan()).unwrap();
        let back: Compose = serde_saphyr::from_str(&text).unwrap();
        assert!(back.networks["tenant-acme"].internal);
        // The way out is the operator's services network alone; credentials are files, not values.
        assert!(back.networks[SERVICES_NETWORK].external && back.services.values().all(|s| s.read_only));
        assert!(!text.contains("postgres://") && back.secrets["database-url"].file == "./secrets/database-url");
        assert_eq!(back.services["worker"].environment["QUEUE_NAME"], "queue_tenant_acme");
        let policy = serde_json::to_value(storage_policy(&plan())).unwrap();
        let resources: Vec<&str> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["Resource"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()))
            .collect();
        assert!(resources.iter().all(|r| r.starts_with("arn:aws:s3:::bulkhead-tenant-acme")), "{resources:?}");
    }
}
