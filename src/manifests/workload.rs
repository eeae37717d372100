//! A tenant's workloads as rendered: the API and worker Deployments, each
//! pod under the `restricted` Pod Security Standard with a read-only root,
//! probes, limits within the LimitRange and its credentials as files.

use super::render::{bytes, cpu, labels, meta, Plan, API_PORT, CREDENTIALS_DIR, CREDENTIALS_SECRET, RUN_AS};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, HTTPGetAction, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecretVolumeSource, SecurityContext, Toleration,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

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
pub(super) fn deployment(plan: &Plan, component: &str, args: Vec<String>, port: i32, health_path: &str) -> Deployment {
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
