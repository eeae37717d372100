//! What a dedicated tenant's rendered manifests must hold, checked on the
//! YAML as written (parsed back), not on the structures that produced it:
//! the validate and verify steps and the scheduled probes run it.

use super::render::{Plan, EGRESS_PORTS};

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
    use crate::activation::render::kubernetes;
    use crate::activation::render::tests::plan;

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
}
