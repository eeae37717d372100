//! Names of the places a tenant's workloads run: a Kubernetes namespace or a
//! Docker network.

/// A Kubernetes namespace or Docker network name (a DNS-1123 label).
pub fn parse_namespace(input: &str) -> Result<String, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("Enter the namespace the tenant's workloads run in.".into());
    }
    if s.len() > 63 {
        return Err("A namespace has at most 63 characters.".into());
    }
    let ok = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if !ok {
        return Err("Use lowercase letters, digits and hyphens, starting and ending with a letter or digit.".into());
    }
    if ["default", "kube-system", "kube-public", "kube-node-lease"].contains(&s) {
        return Err(format!("“{s}” is a system namespace."));
    }
    Ok(s.to_string())
}
