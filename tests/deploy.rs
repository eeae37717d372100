//! The Kubernetes manifests in `deploy/kubernetes`, checked against the
//! Kubernetes schemas by `kubernetes-validate` (PyPI, in `target/venv`) and
//! by the policy checker (checkov, in `target/venv-policy`, with the
//! exceptions of `deploy/checkov.yaml`), both installed by `scripts/test`.

use std::path::Path;
use std::process::Command;

fn validate(files: &[&Path]) -> std::process::Output {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/kubernetes-validate");
    assert!(tool.exists(), "{} is missing: scripts/test installs it", tool.display());
    Command::new(tool).arg("--strict").args(files).output().unwrap()
}

#[test]
fn the_kubernetes_manifests_are_valid_and_say_what_operators_need() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let (app, job) = (dir.join("bulkhead.yaml"), dir.join("migrate-job.yaml"));
    let out = validate(&[&app, &job]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));

    let text = std::fs::read_to_string(&app).unwrap();
    for needed in
        ["kind: PodDisruptionBudget", "path: /readyz", "path: /livez", "secretName: bulkhead", "kind: Service"]
    {
        assert!(text.contains(needed), "bulkhead.yaml lacks {needed}");
    }
    let replicas: u32 =
        text.lines().find_map(|l| l.trim().strip_prefix("replicas: ")).and_then(|n| n.parse().ok()).unwrap();
    assert!(replicas >= 2, "two replicas at least");
    assert!(std::fs::read_to_string(&job).unwrap().contains("args: [\"migrate\"]"));

    // The check refuses what Kubernetes would: a misspelt field.
    let bad = std::env::temp_dir().join(format!("bulkhead-bad-{}.yaml", std::process::id()));
    std::fs::write(&bad, text.replace("replicas: ", "replicaz: ")).unwrap();
    assert!(!validate(&[&bad]).status.success());
    let _ = std::fs::remove_file(bad);
}

/// Runs checkov over `paths` with the exceptions of `deploy/checkov.yaml`.
pub fn policy_check(paths: &[&Path]) -> std::process::Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tool = root.join("target/venv-policy/bin/checkov");
    assert!(tool.exists(), "{} is missing: scripts/test installs it", tool.display());
    let mut c = Command::new(tool);
    c.arg("--config-file").arg(root.join("deploy/checkov.yaml"));
    for p in paths {
        c.arg("-f").arg(p);
    }
    c.output().unwrap()
}

fn documents(path: &Path) -> Vec<serde_json::Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(&std::fs::read_to_string(path).unwrap())
        .map(|d| serde_json::Value::deserialize(d).unwrap())
        .collect()
}

#[test]
fn bulkheads_own_deployment_passes_the_policy_check_and_keeps_the_owner_out_of_serving_pods() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes");
    let (app, job) = (dir.join("bulkhead.yaml"), dir.join("migrate-job.yaml"));
    let out = policy_check(&[&app, &job]);
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && report.contains("Failed checks: 0"), "{report}");

    let docs = documents(&app);
    let kind = |k: &str| docs.iter().find(|d| d["kind"] == k).unwrap_or_else(|| panic!("no {k}"));
    let pod = &kind("Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    let serving = serde_json::to_string(pod).unwrap();
    assert!(
        !serving.contains("MIGRATE") && !serving.contains("migrate"),
        "the owner's URL stays with the Job: {serving}"
    );
    assert!(pod["containers"][0]["envFrom"].is_null(), "no Secret poured into the environment");
    let env = pod["containers"][0]["env"].as_array().unwrap();
    assert!(env.iter().any(|e| e["name"] == "BULKHEAD_TRUSTED_PROXIES" && e["value"].is_string()));
    let image = pod["containers"][0]["image"].as_str().unwrap();
    assert!(!image.ends_with(":latest") && (image.contains('@') || image.rsplit_once(':').is_some()), "{image}");
    // A NetworkPolicy selects the console's pods, egress included.
    let np = kind("NetworkPolicy");
    assert_eq!(np["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"], "bulkhead");
    assert!(np["spec"]["policyTypes"].as_array().unwrap().iter().any(|t| t == "Egress"));
    let job_pod = documents(&job)[0]["spec"]["template"]["spec"].clone();
    assert_eq!(job_pod["volumes"][0]["secret"]["secretName"], "bulkhead-migrate");
    assert_eq!(job_pod["automountServiceAccountToken"], false);

    // The check refuses what it should: a container allowed to escalate.
    let bad = std::env::temp_dir().join(format!("bulkhead-escalating-{}.yaml", std::process::id()));
    std::fs::write(
        &bad,
        std::fs::read_to_string(&app)
            .unwrap()
            .replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"),
    )
    .unwrap();
    let out = policy_check(&[&bad]);
    let _ = std::fs::remove_file(&bad);
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}
