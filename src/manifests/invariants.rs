//! What a dedicated tenant's rendered manifests must hold, checked on the
//! YAML as written (parsed back), not on the structures that produced it:
//! the validate and verify steps and the scheduled probes run it.

use super::render::{Plan, DNS_NAMESPACE, DNS_POD_LABEL};
use serde_json::Value;

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
        problems.extend(egress_problems(rule, plan));
    }
    let quota = docs.iter().find(|d| d["kind"] == "ResourceQuota");
    let hard = quota.map(|q| &q["spec"]["hard"]);
    if hard.and_then(|h| h["limits.cpu"].as_str()) != Some(&format!("{}m", plan.cpu_millicores))
        || hard.and_then(|h| h["limits.memory"].as_str()) != Some(&plan.memory_bytes.to_string())
    {
        problems.push("the ResourceQuota does not equal the effective limits".into());
    }
    for d in docs.iter().filter(|d| d["kind"] == "Deployment") {
        problems.extend(pod_problems(d));
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

/// What one egress rule allows beyond the cluster DNS on port 53 and the
/// configured database and Redis on their ports.
fn egress_problems(rule: &Value, plan: &Plan) -> Vec<String> {
    let ports: Vec<(String, i64)> = rule["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["protocol"].as_str().unwrap_or("TCP").to_string(), p["port"].as_i64().unwrap_or(-1)))
        .collect();
    let peers = rule["to"].as_array().cloned().unwrap_or_default();
    if peers.is_empty() {
        return vec!["an egress rule allows every destination".into()];
    }
    if ports.is_empty() {
        return vec!["an egress rule allows every port".into()];
    }
    let mut problems = Vec::new();
    for peer in &peers {
        let dns = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == DNS_NAMESPACE
            && peer["podSelector"]["matchLabels"][DNS_POD_LABEL.0] == DNS_POD_LABEL.1
            && peer.get("ipBlock").is_none();
        let destination = peer["ipBlock"]["cidr"].as_str().and_then(|cidr| {
            plan.database
                .iter()
                .chain(plan.redis.iter())
                .find(|d| d.cidr == cidr && peer["ipBlock"].get("except").is_none())
        });
        let allowed: Vec<(&str, i64)> = match (dns, destination) {
            (true, _) => vec![("UDP", 53), ("TCP", 53)],
            (false, Some(d)) => vec![("TCP", i64::from(d.port))],
            (false, None) => {
                problems.push(format!("egress allowed to {}", serde_json::to_string(peer).unwrap_or_default()));
                continue;
            }
        };
        for (protocol, port) in &ports {
            if !allowed.iter().any(|(p, n)| p == protocol && n == port) {
                problems.push(format!("egress allowed to {protocol}/{port}"));
            }
        }
    }
    problems
}

/// Where a Deployment's pods fall short of the `restricted` Pod Security
/// Standard, or run without probes, limits or a read-only root.
fn pod_problems(d: &Value) -> Vec<String> {
    let name = d["metadata"]["name"].as_str().unwrap_or("?");
    let pod = &d["spec"]["template"]["spec"];
    let mut problems = Vec::new();
    if pod["securityContext"]["seccompProfile"]["type"] != "RuntimeDefault" {
        problems.push(format!("{name}: no RuntimeDefault seccomp profile"));
    }
    if pod["automountServiceAccountToken"] != false {
        problems.push(format!("{name}: the service account token is mounted"));
    }
    for c in pod["containers"].as_array().into_iter().flatten() {
        let sc = &c["securityContext"];
        let non_root = sc["runAsNonRoot"] == true || pod["securityContext"]["runAsNonRoot"] == true;
        let drops_all = sc["capabilities"]["drop"].as_array().is_some_and(|d| d.iter().any(|c| c == "ALL"));
        let adds = sc["capabilities"]["add"].as_array().is_some_and(|a| !a.is_empty());
        if !non_root || sc["allowPrivilegeEscalation"] != false || !drops_all || adds || sc["privileged"] == true {
            problems.push(format!("{name}: a container is not restricted (non-root, no escalation, no capabilities)"));
        }
        if sc["readOnlyRootFilesystem"] != true {
            problems.push(format!("{name}: a container's root filesystem is writable"));
        }
        if c["readinessProbe"].is_null() || c["livenessProbe"].is_null() {
            problems.push(format!("{name}: a container has no probes"));
        }
        if c["resources"]["limits"]["cpu"].is_null() || c["resources"]["limits"]["memory"].is_null() {
            problems.push(format!("{name}: a container has no limits"));
        }
        if c["env"].as_array().into_iter().flatten().any(|e| !e["valueFrom"]["secretKeyRef"].is_null()) {
            problems.push(format!("{name}: a secret is passed in the environment"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::bundle::kubernetes;
    use crate::manifests::render::tests::plan;

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
        // Another address on the database's port: the platform's own database, say.
        let elsewhere = k8s.replace("cidr: 10.20.0.5/32", "cidr: 10.0.0.0/8");
        assert!(policy_problems(&elsewhere, &plan()).iter().any(|p| p.contains("10.0.0.0/8")), "{elsewhere}");
        // DNS anywhere (the selector gone): every address on port 53.
        let any_dns = k8s.replacen("k8s-app: kube-dns", "k8s-app: anything", 1);
        assert!(!policy_problems(&any_dns, &plan()).is_empty());
        let escalating = k8s.replacen("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", 1);
        assert!(policy_problems(&escalating, &plan()).iter().any(|p| p.contains("not restricted")));
        let writable = k8s.replacen("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", 1);
        assert!(policy_problems(&writable, &plan()).iter().any(|p| p.contains("writable")));
        let other_router =
            k8s.replace("kubernetes.io/metadata.name: bulkhead-router", "kubernetes.io/metadata.name: default");
        assert!(policy_problems(&other_router, &plan()).iter().any(|p| p.contains("router")));
        let mut smaller = plan();
        smaller.cpu_millicores = 2000;
        assert!(policy_problems(&k8s, &smaller).iter().any(|p| p.contains("ResourceQuota")));
    }
}
