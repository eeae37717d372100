//! A dedicated tenant's deployment, rendered from typed structures (the
//! Kubernetes API's own types from `k8s-openapi`, Compose and IAM as serde
//! structs) and written by a maintained YAML serializer, never by templates:
//! a Namespace, a default-deny NetworkPolicy, a ResourceQuota and a
//! LimitRange from the effective quotas, the API and worker Deployments and
//! a Service; the same on an internal Docker network; an object-storage
//! bucket and the IAM policy that reaches it alone.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, PodSpec, PodTemplateSpec,
    ResourceQuota, ResourceQuotaSpec, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// What the manifests are made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub tenant_id: uuid::Uuid,
    pub slug: String,
    pub namespace: String,
    /// The namespace of the router (the proxy in front of the tenants' APIs): the only ingress allowed.
    pub router_namespace: String,
    /// The tenant API's container image.
    pub image: String,
    pub cpu_millicores: i64,
    pub memory_bytes: i64,
    pub storage_bytes: i64,
}

impl Plan {
    pub fn queue(&self) -> String {
        queue_name(&self.slug)
    }

    pub fn bucket(&self) -> String {
        format!("bulkhead-tenant-{}", self.slug)
    }
}

/// The Redis stream of a tenant's queue.
pub fn queue_name(slug: &str) -> String {
    format!("queue_tenant_{slug}")
}

/// The ports a tenant's workloads may reach: DNS, PostgreSQL, Redis.
pub const EGRESS_PORTS: [(&str, i32); 4] = [("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 6379)];
/// The port the tenant API listens on.
pub const API_PORT: i32 = 8080;

fn labels(plan: &Plan, component: Option<&str>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        ("app.kubernetes.io/managed-by".to_string(), "bulkhead".to_string()),
        ("bulkhead.io/tenant".to_string(), plan.slug.clone()),
        ("bulkhead.io/tenant-id".to_string(), plan.tenant_id.to_string()),
        ("bulkhead.io/isolation-level".to_string(), "3".to_string()),
    ]);
    if let Some(c) = component {
        l.insert("app.kubernetes.io/component".to_string(), c.to_string());
    }
    l
}

fn meta(plan: &Plan, name: &str, component: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(plan.namespace.clone()),
        labels: Some(labels(plan, component)),
        ..ObjectMeta::default()
    }
}

fn cpu(millicores: i64) -> Quantity {
    Quantity(format!("{millicores}m"))
}

fn bytes(n: i64) -> Quantity {
    Quantity(n.to_string())
}

fn namespace(plan: &Plan) -> Namespace {
    let mut labels = labels(plan, None);
    // Pods here run under the restricted Pod Security Standard.
    labels.insert("pod-security.kubernetes.io/enforce".into(), "restricted".into());
    Namespace {
        metadata: ObjectMeta { name: Some(plan.namespace.clone()), labels: Some(labels), ..ObjectMeta::default() },
        ..Namespace::default()
    }
}

/// Denies all ingress but the router's, and all egress but DNS, PostgreSQL and Redis.
fn network_policy(plan: &Plan) -> NetworkPolicy {
    NetworkPolicy {
        metadata: meta(plan, "default-deny-except-router", None),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([(
                            "kubernetes.io/metadata.name".to_string(),
                            plan.router_namespace.clone(),
                        )])),
                        ..LabelSelector::default()
                    }),
                    ..NetworkPolicyPeer::default()
                }]),
                ports: Some(vec![NetworkPolicyPort {
                    protocol: Some("TCP".into()),
                    port: Some(IntOrString::Int(API_PORT)),
                    ..NetworkPolicyPort::default()
                }]),
            }]),
            egress: Some(vec![NetworkPolicyEgressRule {
                to: None,
                ports: Some(
                    EGRESS_PORTS
                        .iter()
                        .map(|(protocol, port)| NetworkPolicyPort {
                            protocol: Some(protocol.to_string()),
                            port: Some(IntOrString::Int(*port)),
                            ..NetworkPolicyPort::default()
                        })
                        .collect(),
                ),
            }]),
        }),
    }
}

fn resource_quota(plan: &Plan) -> ResourceQuota {
    ResourceQuota {
        metadata: meta(plan, "tenant-quota", None),
        spec: Some(ResourceQuotaSpec {
            hard: Some(BTreeMap::from([
                ("limits.cpu".to_string(), cpu(plan.cpu_millicores)),
                ("requests.cpu".to_string(), cpu(plan.cpu_millicores)),
                ("limits.memory".to_string(), bytes(plan.memory_bytes)),
                ("requests.memory".to_string(), bytes(plan.memory_bytes)),
                ("requests.storage".to_string(), bytes(plan.storage_bytes)),
            ])),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    }
}

/// Each container's defaults: a quarter of the quota as its limit, half that as its request.
fn limit_range(plan: &Plan) -> LimitRange {
    let limit = |c: i64, m: i64| BTreeMap::from([("cpu".to_string(), cpu(c)), ("memory".to_string(), bytes(m))]);
    LimitRange {
        metadata: meta(plan, "tenant-defaults", None),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                default: Some(limit((plan.cpu_millicores / 4).max(1), (plan.memory_bytes / 4).max(1))),
                default_request: Some(limit((plan.cpu_millicores / 8).max(1), (plan.memory_bytes / 8).max(1))),
                max: Some(limit(plan.cpu_millicores, plan.memory_bytes)),
                ..LimitRangeItem::default()
            }],
        }),
    }
}

fn env(plan: &Plan) -> Vec<EnvVar> {
    vec![
        EnvVar { name: "TENANT_ID".into(), value: Some(plan.tenant_id.to_string()), ..EnvVar::default() },
        EnvVar { name: "TENANT_SLUG".into(), value: Some(plan.slug.clone()), ..EnvVar::default() },
        EnvVar { name: "QUEUE_NAME".into(), value: Some(plan.queue()), ..EnvVar::default() },
    ]
}

fn deployment(plan: &Plan, component: &str, args: Vec<String>, port: Option<i32>) -> Deployment {
    let selector = BTreeMap::from([
        ("bulkhead.io/tenant".to_string(), plan.slug.clone()),
        ("app.kubernetes.io/component".to_string(), component.to_string()),
    ]);
    Deployment {
        metadata: meta(plan, &format!("tenant-{component}"), Some(component)),
        spec: Some(DeploymentSpec {
            replicas: Some(2),
            selector: LabelSelector { match_labels: Some(selector), ..LabelSelector::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels(plan, Some(component))), ..ObjectMeta::default() }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    containers: vec![Container {
                        name: component.to_string(),
                        image: Some(plan.image.clone()),
                        args: (!args.is_empty()).then_some(args),
                        env: Some(env(plan)),
                        ports: port.map(|p| vec![ContainerPort { container_port: p, ..ContainerPort::default() }]),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn service(plan: &Plan) -> Service {
    Service {
        metadata: meta(plan, "tenant-api", Some("api")),
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([
                ("bulkhead.io/tenant".to_string(), plan.slug.clone()),
                ("app.kubernetes.io/component".to_string(), "api".to_string()),
            ])),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                target_port: Some(IntOrString::Int(API_PORT)),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn yaml<T: Serialize>(value: &T) -> Result<String, String> {
    serde_saphyr::to_string(value).map_err(|e| e.to_string())
}

/// The Kubernetes manifests, one YAML document each, in the order to apply them.
pub fn kubernetes(plan: &Plan) -> Result<String, String> {
    let docs = [
        yaml(&namespace(plan))?,
        yaml(&network_policy(plan))?,
        yaml(&resource_quota(plan))?,
        yaml(&limit_range(plan))?,
        yaml(&deployment(plan, "api", Vec::new(), Some(API_PORT)))?,
        yaml(&deployment(plan, "worker", vec!["worker".into()], None))?,
        yaml(&service(plan))?,
    ];
    Ok(docs.iter().map(|d| format!("---\n{d}")).collect())
}

/// A Compose file: the same two workloads on a network of their own with no way out.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Compose {
    pub name: String,
    pub services: BTreeMap<String, ComposeService>,
    pub networks: BTreeMap<String, ComposeNetwork>,
}

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
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ComposeNetwork {
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

pub fn compose(plan: &Plan) -> Result<String, String> {
    let network = plan.namespace.clone();
    let env: BTreeMap<String, String> = env(plan).into_iter().map(|e| (e.name, e.value.unwrap_or_default())).collect();
    let service = |command: Vec<String>| ComposeService {
        image: plan.image.clone(),
        command,
        environment: env.clone(),
        networks: vec![network.clone()],
        // Each of the two gets half of the quota.
        cpus: format!("{:.3}", plan.cpu_millicores as f64 / 2000.0),
        mem_limit: format!("{}b", plan.memory_bytes / 2),
        labels: labels(plan, None),
    };
    let file = Compose {
        name: format!("tenant-{}", plan.slug),
        services: BTreeMap::from([
            ("api".to_string(), service(Vec::new())),
            ("worker".to_string(), service(vec!["worker".into()])),
        ]),
        networks: BTreeMap::from([(network.clone(), ComposeNetwork { internal: true, labels: labels(plan, None) })]),
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

/// What the rendered NetworkPolicy must hold, checked on the YAML as written
/// (parsed back): a problem per broken invariant, none when it holds.
pub fn policy_problems(k8s_yaml: &str, plan: &Plan) -> Vec<String> {
    let mut problems = Vec::new();
    let docs: Vec<serde_json::Value> = match serde_saphyr::from_multiple(k8s_yaml) {
        Ok(d) => d,
        Err(e) => return vec![format!("the manifests do not parse back: {e}")],
    };
    let Some(np) = docs.iter().find(|d| d["kind"] == "NetworkPolicy") else {
        return vec!["no NetworkPolicy".into()];
    };
    let spec = &np["spec"];
    if spec["podSelector"] != serde_json::json!({}) {
        problems.push("the NetworkPolicy does not select every pod".into());
    }
    let types: Vec<&str> = spec["policyTypes"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
    if !(types.contains(&"Ingress") && types.contains(&"Egress")) {
        problems.push("the NetworkPolicy does not govern both ingress and egress".into());
    }
    let froms: Vec<&serde_json::Value> = spec["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["from"].as_array().into_iter().flatten())
        .collect();
    let router_only = !froms.is_empty()
        && froms.iter().all(|f| {
            f["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == plan.router_namespace.as_str()
                && f.get("ipBlock").is_none()
        });
    if !router_only {
        problems
            .push(format!("ingress is allowed from elsewhere than the router's namespace {}", plan.router_namespace));
    }
    for rule in spec["egress"].as_array().into_iter().flatten() {
        for port in rule["ports"].as_array().into_iter().flatten() {
            let p = (port["protocol"].as_str().unwrap_or("TCP"), port["port"].as_i64().unwrap_or(-1));
            if !EGRESS_PORTS.iter().any(|(proto, n)| *proto == p.0 && i64::from(*n) == p.1) {
                problems.push(format!("egress allowed to {}/{}", p.0, p.1));
            }
        }
        if rule["ports"].as_array().is_none_or(|p| p.is_empty()) {
            problems.push("an egress rule allows every port".into());
        }
    }
    let quota = docs.iter().find(|d| d["kind"] == "ResourceQuota");
    let hard = quota.map(|q| &q["spec"]["hard"]);
    if hard.and_then(|h| h["limits.cpu"].as_str()) != Some(&format!("{}m", plan.cpu_millicores))
        || hard.and_then(|h| h["limits.memory"].as_str()) != Some(&plan.memory_bytes.to_string())
    {
        problems.push("the ResourceQuota does not equal the effective limits".into());
    }
    for d in docs.iter().filter(|d| d["kind"] == "Deployment") {
        let env = &d["spec"]["template"]["spec"]["containers"][0]["env"];
        let has = |name: &str, value: &str| {
            env.as_array().into_iter().flatten().any(|e| e["name"] == name && e["value"] == value)
        };
        if !has("TENANT_ID", &plan.tenant_id.to_string()) || !has("QUEUE_NAME", &plan.queue()) {
            problems.push(format!("the Deployment {} lacks the tenant id or its queue", d["metadata"]["name"]));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            tenant_id: uuid::Uuid::nil(),
            slug: "acme".into(),
            namespace: "tenant-acme".into(),
            router_namespace: "bulkhead-router".into(),
            image: "registry.example/api:1".into(),
            cpu_millicores: 4000,
            memory_bytes: 8 * 1024 * 1024 * 1024,
            storage_bytes: 100 * 1024 * 1024 * 1024,
        }
    }

    #[test]
    fn the_rendered_policy_keeps_its_invariants() {
        let k8s = kubernetes(&plan()).unwrap();
        assert_eq!(policy_problems(&k8s, &plan()), Vec::<String>::new(), "{k8s}");
        assert!(k8s.contains("kind: NetworkPolicy") && k8s.contains("apiVersion: networking.k8s.io/v1"), "{k8s}");
    }

    #[test]
    fn a_widened_policy_is_caught() {
        let k8s = kubernetes(&plan()).unwrap();
        let open_egress = k8s.replace("port: 6379", "port: 443");
        assert!(policy_problems(&open_egress, &plan()).iter().any(|p| p.contains("egress allowed to TCP/443")));
        let other_router =
            k8s.replace("kubernetes.io/metadata.name: bulkhead-router", "kubernetes.io/metadata.name: default");
        assert!(policy_problems(&other_router, &plan()).iter().any(|p| p.contains("router")));
        let mut smaller = plan();
        smaller.cpu_millicores = 2000;
        assert!(policy_problems(&k8s, &smaller).iter().any(|p| p.contains("ResourceQuota")));
    }

    #[test]
    fn the_compose_network_is_internal_and_the_policy_names_one_bucket() {
        let text = compose(&plan()).unwrap();
        let back: Compose = serde_saphyr::from_str(&text).unwrap();
        assert!(back.networks["tenant-acme"].internal);
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
