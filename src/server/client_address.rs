//! The client's address: the peer's, or, when the peer is one of the trusted
//! proxies (`BULKHEAD_TRUSTED_PROXIES`), the right-most `X-Forwarded-For` hop
//! that is not one of them. Hops to the left of it were written by the client
//! and prove nothing.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

/// Who sent the request, as far as the trusted proxies vouch for it.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Every X-Forwarded-For line, in order, as one list of hops.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // A trusted proxy wrote this hop; anything it wrote that is not an
        // address leaves the last address it vouched for.
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// One hop: an address, possibly with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(addr) = hop.parse::<std::net::SocketAddr>() {
        return Some(addr.ip());
    }
    None
}

/// The key an address is throttled under: the address itself for IPv4, its
/// /64 network for IPv6 (one subscriber holds a whole /64 and could otherwise
/// try from a new address every time).
pub fn throttle_group(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let net = ipnet::Ipv6Net::new(v6, 64).expect("64 is a valid prefix").trunc();
                net.to_string()
            }
        },
    }
}

/// Parses `BULKHEAD_TRUSTED_PROXIES`: networks (`10.0.0.0/8`) or single
/// addresses, separated by commas or spaces.
pub fn parse_networks(list: &str) -> Result<Vec<IpNet>, String> {
    list.split([',', ' ', '\n', '\t'])
        .filter(|s| !s.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map(|net| net.trunc())
                .map_err(|_| format!("{item:?} is neither an address nor a network such as 10.0.0.0/8"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for line in lines {
            h.append("x-forwarded-for", line.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_the_rightmost_hop_no_trusted_proxy_wrote_for_itself() {
        let trusted = parse_networks("10.0.0.0/8, 192.168.1.1").unwrap();
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        // The client forged the first hop; the proxy appended the real address.
        let h = headers(&["6.6.6.6, 203.0.113.7"]);
        assert_eq!(client_address(peer, &h, &trusted), "203.0.113.7".parse::<IpAddr>().unwrap());
        // Two proxies in a row, over two header lines.
        let h = headers(&["6.6.6.6, 203.0.113.7", "192.168.1.1"]);
        assert_eq!(client_address(peer, &h, &trusted), "203.0.113.7".parse::<IpAddr>().unwrap());
        // A peer that is not a trusted proxy is the client, whatever it claims.
        let stranger: IpAddr = "198.51.100.2".parse().unwrap();
        assert_eq!(client_address(stranger, &headers(&["10.0.0.9"]), &trusted), stranger);
        // Without a list nobody is trusted.
        assert_eq!(client_address(peer, &headers(&["203.0.113.7"]), &[]), peer);
        // No header: the proxy itself.
        assert_eq!(client_address(peer, &HeaderMap::new(), &trusted), peer);
        // Garbage where the proxy should have written an address: the last one vouched for.
        let h = headers(&["203.0.113.7, nonsense, 10.0.0.8"]);
        assert_eq!(client_address(peer, &h, &trusted), "10.0.0.8".parse::<IpAddr>().unwrap());
        // Hops with ports.
        let h = headers(&["[2001:db8::1]:4711"]);
        assert_eq!(client_address(peer, &h, &trusted), "2001:db8::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ipv6_addresses_are_throttled_by_their_64() {
        let a = throttle_group("2001:db8:1:2::1".parse().unwrap());
        let b = throttle_group("2001:db8:1:2:ffff::9".parse().unwrap());
        let c = throttle_group("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(throttle_group("203.0.113.7".parse().unwrap()), "203.0.113.7");
        assert_eq!(throttle_group("::ffff:203.0.113.7".parse().unwrap()), "203.0.113.7");
    }

    #[test]
    fn trusted_proxies_are_networks_or_addresses() {
        let nets = parse_networks("10.0.0.0/8 fd00::/8,127.0.0.1").unwrap();
        assert_eq!(nets.len(), 3);
        assert!(parse_networks("10.0.0.0/33").is_err());
        assert!(parse_networks("proxy.internal").is_err());
        assert!(parse_networks("").unwrap().is_empty());
    }
}
