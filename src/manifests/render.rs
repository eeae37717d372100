//! A dedicated tenant's deployment, rendered from typed structures (the
//! Kubernetes API's own types from `k8s-openapi`, Compose and IAM as serde
//! structs) and written by a maintained YAML serializer, never by templates:
//! a Namespace, a default-deny NetworkPolicy, a ResourceQuota and a
//! LimitRange from the effective quotas, the API and worker Deployments and
//! a Service; the same on an internal Docker network; an object-storage
//! bucket and the IAM policy that reaches it alone.

use crate::server::config::{Destination, NodePool};
use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, ResourceQuota, ResourceQuotaSpec, Service, ServicePort,
    ServiceSpec,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use std::collections::BTreeMap;

/// What the manifests are made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub tenant_id: uuid::Uuid,
    pub slug: String,
    /// 2 (a namespace of its own) or 3 (a dedicated instance).
    pub level: crate::domain::isolation::IsolationLevel,
    pub namespace: String,
    /// The namespace of the router (the proxy in front of the tenants' APIs): the only ingress allowed.
    pub router_namespace: String,
    /// The tenant API's container image.
    pub image: String,
    pub cpu_millicores: i64,
    pub memory_bytes: i64,
    pub storage_bytes: i64,
    /// The path of the API's health check (the probes ask it on [`API_PORT`]).
    pub health_path: String,
    /// The database the workloads reach, when configured.
    pub database: Option<Destination>,
    /// The Redis the workloads reach, when configured.
    pub redis: Option<Destination>,
    /// The node pool the pods are kept to, when configured.
    pub node_pool: Option<NodePool>,
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

/// The cluster DNS a tenant's workloads may ask: CoreDNS (or kube-dns) in
/// `kube-system`, by the label both carry, on port 53.
pub const DNS_NAMESPACE: &str = "kube-system";
pub const DNS_POD_LABEL: (&str, &str) = ("k8s-app", "kube-dns");
/// The port the tenant API listens on.
pub const API_PORT: i32 = 8080;
/// The port the worker answers its health check on (`GET /healthz`).
pub const WORKER_HEALTH_PORT: i32 = 8081;
/// The user and group the containers run as (any non-root id the image allows).
pub const RUN_AS: i64 = 10001;
/// Where the credentials Secret is mounted, one file per key.
pub const CREDENTIALS_DIR: &str = "/var/run/secrets/bulkhead";
/// The Secret the operator creates in the tenant's namespace (keys `database-url`, `redis-url`).
pub const CREDENTIALS_SECRET: &str = "tenant-credentials";

pub(super) fn labels(plan: &Plan, component: Option<&str>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        ("app.kubernetes.io/managed-by".to_string(), "bulkhead".to_string()),
        ("bulkhead.io/tenant".to_string(), plan.slug.clone()),
        ("bulkhead.io/tenant-id".to_string(), plan.tenant_id.to_string()),
        ("bulkhead.io/isolation-level".to_string(), plan.level.to_string()),
    ]);
    if let Some(c) = component {
        l.insert("app.kubernetes.io/component".to_string(), c.to_string());
    }
    l
}

pub(super) fn meta(plan: &Plan, name: &str, component: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(plan.namespace.clone()),
        labels: Some(labels(plan, component)),
        ..ObjectMeta::default()
    }
}

pub(super) fn cpu(millicores: i64) -> Quantity {
    Quantity(format!("{millicores}m"))
}

pub(super) fn bytes(n: i64) -> Quantity {
    Quantity(n.to_string())
}

pub(super) fn namespace(plan: &Plan) -> Namespace {
    let mut labels = labels(plan, None);
    // Pods here run under the restricted Pod Security Standard.
    labels.insert("pod-security.kubernetes.io/enforce".into(), "restricted".into());
    Namespace {
        metadata: ObjectMeta { name: Some(plan.namespace.clone()), labels: Some(labels), ..ObjectMeta::default() },
        ..Namespace::default()
    }
}

fn port(protocol: &str, number: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some(protocol.to_string()),
        port: Some(IntOrString::Int(number)),
        ..NetworkPolicyPort::default()
    }
}

fn selector(key: &str, value: &str) -> Option<LabelSelector> {
    Some(LabelSelector {
        match_labels: Some(BTreeMap::from([(key.to_string(), value.to_string())])),
        ..LabelSelector::default()
    })
}

/// The egress rules: the cluster DNS, then the configured database and Redis
/// (each its address and port only). Nothing else is reachable.
fn egress(plan: &Plan) -> Vec<NetworkPolicyEgressRule> {
    let mut rules = vec![NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            namespace_selector: selector("kubernetes.io/metadata.name", DNS_NAMESPACE),
            pod_selector: selector(DNS_POD_LABEL.0, DNS_POD_LABEL.1),
            ..NetworkPolicyPeer::default()
        }]),
        ports: Some(vec![port("UDP", 53), port("TCP", 53)]),
    }];
    for d in plan.database.iter().chain(plan.redis.iter()) {
        rules.push(NetworkPolicyEgressRule {
            to: Some(vec![NetworkPolicyPeer {
                ip_block: Some(IPBlock { cidr: d.cidr.clone(), except: None }),
                ..NetworkPolicyPeer::default()
            }]),
            ports: Some(vec![port("TCP", i32::from(d.port))]),
        });
    }
    rules
}

/// Denies all ingress but the router's, and all egress but the cluster DNS
/// and the configured database and Redis.
pub(super) fn network_policy(plan: &Plan) -> NetworkPolicy {
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
            egress: Some(egress(plan)),
        }),
    }
}

pub(super) fn resource_quota(plan: &Plan) -> ResourceQuota {
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
pub(super) fn limit_range(plan: &Plan) -> LimitRange {
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

pub(super) fn service(plan: &Plan) -> Service {
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

pub(super) fn yaml<T: Serialize>(value: &T) -> Result<String, String> {
    serde_saphyr::to_string(value).map_err(|e| e.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn plan() -> Plan {
        Plan {
            tenant_id: uuid::Uuid::nil(),
            slug: "acme".into(),
            level: crate::domain::isolation::IsolationLevel::INSTANCE,
            namespace: "tenant-acme".into(),
            router_namespace: "bulkhead-router".into(),
            image: "registry.example/api:1".into(),
            cpu_millicores: 4000,
            memory_bytes: 8 * 1024 * 1024 * 1024,
            storage_bytes: 100 * 1024 * 1024 * 1024,
            health_path: "/healthz".into(),
            database: Some(Destination { cidr: "10.20.0.5/32".into(), port: 5432 }),
            redis: Some(Destination { cidr: "10.20.0.6/32".into(), port: 6379 }),
            node_pool: Some(NodePool { key: "bulkhead.io/pool".into(), value: "dedicated".into() }),
        }
    }
}
