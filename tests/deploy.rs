//! The Kubernetes manifests in `deploy/kubernetes`, checked against the
//! Kubernetes schemas by `kubernetes-validate` (PyPI, in `target/venv`,
//! installed by `scripts/test`).

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
    for needed in ["kind: PodDisruptionBudget", "path: /readyz", "path: /livez", "secretRef:", "kind: Service"] {
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
