//! Hosts as DNS reads them, and the tenant a host names.

/// The host a request names, as DNS compares it: lowercase, without a port
/// or a trailing dot, international names in their punycode (`xn--`) form.
/// `None` for anything that is not a host name (an address literal, a bad
/// port, characters DNS refuses).
pub fn normalise(host: &str) -> Option<String> {
    let host = host.trim();
    if host.is_empty() || host.len() > 1024 || host.starts_with('[') {
        return None;
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) => name,
        Some(_) => return None,
        None => host,
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.ends_with('.') {
        return None;
    }
    // The common case, a plain ASCII name, needs no IDNA processing.
    if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
        let plain = name.split('.').all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-'));
        return (plain && name.len() <= 253).then(|| name.to_ascii_lowercase());
    }
    let ascii = idna::domain_to_ascii_strict(name).ok()?;
    (!ascii.is_empty() && ascii.len() <= 253).then_some(ascii)
}

/// The one label a host has in front of `base` (`acme` for
/// `acme.tenants.example.com` under `tenants.example.com`); both normalised.
pub fn subdomain<'a>(host: &'a str, base: &str) -> Option<&'a str> {
    host.strip_suffix(base)?.strip_suffix('.').filter(|label| !label.is_empty() && !label.contains('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_compared_the_way_dns_reads_them() {
        assert_eq!(normalise("Acme.Tenants.Example.COM").as_deref(), Some("acme.tenants.example.com"));
        assert_eq!(normalise("acme.tenants.example.com.").as_deref(), Some("acme.tenants.example.com"));
        assert_eq!(normalise("acme.tenants.example.com:8443").as_deref(), Some("acme.tenants.example.com"));
        assert_eq!(normalise("Bücher.example").as_deref(), Some("xn--bcher-kva.example"));
        assert_eq!(normalise("xn--bcher-kva.example").as_deref(), Some("xn--bcher-kva.example"));
        for bad in
            ["", "[::1]:80", "a..b", "host:port", "host:", "exa mple.com", "a.com..", "-a.com", &"a".repeat(2000)]
        {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_tenant_is_one_label_under_the_base_domain() {
        let base = "tenants.example.com";
        assert_eq!(subdomain("acme.tenants.example.com", base), Some("acme"));
        assert_eq!(subdomain("tenants.example.com", base), None);
        assert_eq!(subdomain("a.b.tenants.example.com", base), None);
        assert_eq!(subdomain("acmetenants.example.com", base), None);
        assert_eq!(subdomain("acme.example.org", base), None);
    }
}
