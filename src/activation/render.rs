//! A dedicated tenant's deployment, rendered from typed structures (the
//! Kubernetes API's own types from `k8s-openapi`, Compose and IAM as serde
//! structs) and written by a maintained YAML serializer, never by templates:
//! a Namespace, a default-deny NetworkPolicy, a ResourceQuota and a
//! LimitRange from the effective quotas, the API and worker Deployments and
//! a Service; the same on an internal Docker network; an object-storage
//! bucket and the IAM policy that reaches it alone.

use crate::server::config::{Destination, NodePool};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, HTTPGetAction, LimitRange, LimitRangeItem,
    LimitRangeSpec, Namespace, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceQuota, ResourceQuotaSpec,
    ResourceRequirements, SeccompProfile, SecretVolumeSource, SecurityContext, Service, ServicePort, ServiceSpec,
    Toleration, Volume, VolumeMount,
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
            egress: Some(egress(plan)),
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

/// The workloads' environment: who they serve, and where their credentials
/// are (files of the mounted Secret, never values).
pub(super) fn env(plan: &Plan) -> Vec<EnvVar> {
    let var = |name: &str, value: String| EnvVar { name: name.into(), value: Some(value), ..EnvVar::default() };
    vec![
        var("TENANT_ID", plan.tenant_id.to_string()),
        var("TENANT_SLUG", plan.slug.clone()),
        var("QUEUE_NAME", plan.queue()),
        var("DATABASE_URL_FILE", format!("{CREDENTIALS_DIR}/database-url")),
        var("REDIS_URL_FILE", format!("{CREDENTIALS_DIR}/redis-url")),
    ]
}

/// Each container's share: two workloads of two replicas each fill the quota
/// at their limits; the request is half the limit (the LimitRange's defaults).
fn container_resources(plan: &Plan) -> ResourceRequirements {
    let share =
        |c: i64, m: i64| BTreeMap::from([("cpu".to_string(), cpu(c.max(1))), ("memory".to_string(), bytes(m.max(1)))]);
    ResourceRequirements {
        limits: Some(share(plan.cpu_millicores / 4, plan.memory_bytes / 4)),
        requests: Some(share(plan.cpu_millicores / 8, plan.memory_bytes / 8)),
        ..ResourceRequirements::default()
    }
}

fn http_probe(path: &str, port: i32, period: i32) -> Option<Probe> {
    Some(Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::Int(port),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(3),
        timeout_seconds: Some(2),
        ..Probe::default()
    })
}

/// The `restricted` Pod Security Standard, at the pod's level.
fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS),
        run_as_group: Some(RUN_AS),
        fs_group: Some(RUN_AS),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..SeccompProfile::default() }),
        ..PodSecurityContext::default()
    }
}

/// The `restricted` Pod Security Standard, at the container's level, with a read-only root.
fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), add: None }),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..SeccompProfile::default() }),
        ..SecurityContext::default()
    }
}

/// A workload of two replicas: `port` is the API's, or the worker's health port.
fn deployment(plan: &Plan, component: &str, args: Vec<String>, port: i32, health_path: &str) -> Deployment {
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
                    security_context: Some(pod_security()),
                    node_selector: plan.node_pool.as_ref().map(|p| BTreeMap::from([(p.key.clone(), p.value.clone())])),
                    tolerations: plan.node_pool.as_ref().map(|p| {
                        vec![Toleration {
                            key: Some(p.key.clone()),
                            operator: Some("Equal".into()),
                            value: Some(p.value.clone()),
                            effect: Some("NoSchedule".into()),
                            ..Toleration::default()
                        }]
                    }),
                    containers: vec![Container {
                        name: component.to_string(),
                        image: Some(plan.image.clone()),
                        image_pull_policy: Some("Always".into()),
                        args: (!args.is_empty()).then_some(args),
                        env: Some(env(plan)),
                        ports: Some(vec![ContainerPort {
                            name: Some(if port == API_PORT { "http".into() } else { "health".into() }),
                            container_port: port,
                            ..ContainerPort::default()
                        }]),
                        readiness_probe: http_probe(health_path, port, 5),
                        liveness_probe: http_probe(health_path, port, 10),
                        resources: Some(container_resources(plan)),
                        security_context: Some(container_security()),
                        volume_mounts: Some(vec![
                            VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..VolumeMount::default() },
                            VolumeMount {
                                name: "credentials".into(),
                                mount_path: CREDENTIALS_DIR.into(),
                                read_only: Some(true),
                                ..VolumeMount::default()
                            },
                        ]),
                        ..Container::default()
                    }],
                    volumes: Some(vec![
                        Volume {
                            name: "tmp".into(),
                            empty_dir: Some(EmptyDirVolumeSource {
                                size_limit: Some(Quantity("64Mi".into())),
                                ..EmptyDirVolumeSource::default()
                            }),
                            ..Volume::default()
                        },
                        Volume {
                            name: "credentials".into(),
                            secret: Some(SecretVolumeSource {
                                secret_name: Some(CREDENTIALS_SECRET.into()),
                                default_mode: Some(0o440),
                                ..SecretVolumeSource::default()
                            }),
                            ..Volume::default()
                        },
                    ]),
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
        yaml(&deployment(plan, "api", Vec::new(), API_PORT, &plan.health_path))?,
        yaml(&deployment(plan, "worker", vec!["worker".into()], WORKER_HEALTH_PORT, "/healthz"))?,
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
            health_path: "/healthz".into(),
            database: Some(Destination { cidr: "10.20.0.5/32".into(), port: 5432 }),
            redis: Some(Destination { cidr: "10.20.0.6/32".into(), port: 6379 }),
            node_pool: Some(NodePool { key: "bulkhead.io/pool".into(), value: "dedicated".into() }),
        }
    }
}
