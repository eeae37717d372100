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
use serde::Serialize;
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

pub(super) fn labels(plan: &Plan, component: Option<&str>) -> BTreeMap<String, String> {
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

pub(super) fn env(plan: &Plan) -> Vec<EnvVar> {
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

pub(super) fn yaml<T: Serialize>(value: &T) -> Result<String, String> {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn plan() -> Plan {
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
}
