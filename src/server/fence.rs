//! Where the console's outgoing requests may go: addresses on the public
//! internet, and the networks an operator names (webhooks:
//! `BULKHEAD_WEBHOOK_ALLOW_NETWORKS`; the activation's health, DNS and TLS
//! probes: `BULKHEAD_PROBE_ALLOW_NETWORKS`). The addresses are typed by
//! whoever administers the console, and the console runs inside the
//! operator's network: without this fence they could make it reach its own
//! database port, a cloud's metadata service (169.254.169.254) or any
//! internal service, and show what answered.
//!
//! The check happens where the connection is made: the sender resolves names
//! through [`Fence`] (so a name that resolves to a private address, or starts
//! to after it was saved, is refused), and addresses written as numbers are
//! checked before the request and when the endpoint is saved.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The special-purpose networks (IANA's registries) that are not the public
/// internet: this host, private networks, shared address space, link-local
/// (cloud metadata), documentation and benchmarking ranges, multicast and
/// reserved space, and their IPv6 counterparts.
const NOT_PUBLIC: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

/// The IPv4 address an IPv6 address carries, where it carries one that a
/// router would reach as IPv4 (mapped, NAT64, 6to4).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// Whether `ip` is an address of the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    !NOT_PUBLIC.iter().any(|net| net.parse::<IpNet>().expect("a network written above").contains(&ip))
}

/// The rule: public addresses, and the networks allowed beside them.
#[derive(Debug, Clone)]
pub struct Fence {
    allowed: Arc<Vec<IpNet>>,
    /// What goes out through it, and the variable that allows a network.
    purpose: (&'static str, &'static str),
}

impl Fence {
    /// The webhooks' fence.
    pub fn webhooks(allowed: Vec<IpNet>) -> Fence {
        Fence { allowed: Arc::new(allowed), purpose: ("webhooks go", "BULKHEAD_WEBHOOK_ALLOW_NETWORKS") }
    }

    /// The activation probes' fence.
    pub fn probes(allowed: Vec<IpNet>) -> Fence {
        Fence { allowed: Arc::new(allowed), purpose: ("the checks go", "BULKHEAD_PROBE_ALLOW_NETWORKS") }
    }

    /// Whether webhooks may be sent to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }

    /// Refuses an address whose host is a number this fence does not permit
    /// (names are checked when they are resolved, at each delivery).
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        // The parser writes numeric hosts in their canonical form (0x7f.1
        // becomes 127.0.0.1, IPv6 goes in brackets).
        let Ok(url) = reqwest::Url::parse(url) else { return Ok(()) };
        let host = url.host_str().unwrap_or_default();
        let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() else { return Ok(()) };
        if self.permits(ip) {
            Ok(())
        } else {
            Err(self.refusal(&ip.to_string()))
        }
    }

    /// Why `what` (an address, or a name that resolves only to refused addresses) is refused.
    pub fn refusal(&self, what: &str) -> String {
        let (goes, variable) = self.purpose;
        format!(
            "{what} is on a private or reserved network: {goes} to public addresses only \
             (an operator can allow a network with {variable})."
        )
    }
}

impl reqwest::dns::Resolve for Fence {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let fence = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = found.iter().copied().filter(|a| fence.permits(a.ip())).collect();
            if permitted.is_empty() {
                let what = if found.is_empty() { format!("{host} has no address") } else { fence.refusal(&host) };
                return Err(what.into());
            }
            Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_loopback_link_local_and_reserved_addresses_are_not_public() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.31.255.255",
            "192.168.0.10",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:c0a8:0001::1",
        ] {
            assert!(!is_public(ip(s)), "{s}");
        }
        for s in ["93.184.215.14", "1.1.1.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(ip(s)), "{s}");
        }
    }

    #[test]
    fn an_operator_allows_a_network_and_nothing_else() {
        let fence = Fence::webhooks(vec!["10.20.0.0/16".parse().unwrap()]);
        assert!(fence.permits(ip("10.20.3.4")));
        assert!(!fence.permits(ip("10.21.0.1")));
        assert!(fence.check_url("https://10.20.3.4/hooks").is_ok());
        assert!(fence.check_url("http://[::1]:8080/hooks").unwrap_err().contains("::1"));
        let probes = Fence::probes(Vec::new());
        assert!(probes.check_url("http://127.0.0.1:9/healthz").unwrap_err().contains("BULKHEAD_PROBE_ALLOW_NETWORKS"));
        assert!(fence.check_url("http://169.254.169.254/latest").is_err());
        assert!(fence.check_url("http://0x7f.1/hooks").is_err(), "the URL parser reads 0x7f.1 as 127.0.0.1");
        assert!(fence.check_url("https://hooks.example/in").is_ok(), "names are checked when resolved");
    }
}
