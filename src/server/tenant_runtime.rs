//! What a tenant's rendered workloads are made with and may reach: the
//! router's namespace, the image, the database and Redis their egress names,
//! the node pool of dedicated tenants.

/// What a tenant's rendered workloads are made with and may reach
/// (`docs/ISOLATION.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct TenantRuntime {
    /// The namespace of the router in front of the tenants' APIs: the only
    /// ingress a tenant's NetworkPolicy allows (`BULKHEAD_ROUTER_NAMESPACE`).
    pub router_namespace: String,
    /// The tenant API's image (`BULKHEAD_TENANT_IMAGE`), pinned by version or digest.
    pub image: String,
    /// The database tenants' workloads reach (`BULKHEAD_TENANT_DATABASE`,
    /// `address[/prefix]:port`); without it their egress reaches none.
    pub database: Option<Destination>,
    /// The Redis tenants' workloads reach (`BULKHEAD_TENANT_REDIS`).
    pub redis: Option<Destination>,
    /// The node pool of dedicated tenants (`BULKHEAD_TENANT_NODE_POOL`,
    /// `label=value`): their pods are scheduled there only, and tolerate its taint.
    pub node_pool: Option<NodePool>,
}

impl Default for TenantRuntime {
    fn default() -> TenantRuntime {
        TenantRuntime {
            router_namespace: "bulkhead-router".into(),
            image: "registry.example.com/tenant-api:1.0.0".into(),
            database: None,
            redis: None,
            node_pool: None,
        }
    }
}

/// An address or network and the one TCP port a tenant's workloads may reach there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// In CIDR form (`10.0.5.10/32`).
    pub cidr: String,
    pub port: u16,
}

impl Destination {
    /// Parses `10.0.5.10:5432`, `10.0.5.0/24:5432` or `[fd00::5]:5432`.
    pub fn parse(input: &str) -> Result<Destination, String> {
        let bad = || {
            format!(
                "expected an address or network and a port, such as 10.0.5.10:5432 or 10.0.5.0/24:5432, got {input:?}"
            )
        };
        let input = input.trim();
        let (net, port) = match input.strip_prefix('[') {
            Some(rest) => rest.split_once("]:").ok_or_else(bad)?,
            None => input.rsplit_once(':').ok_or_else(bad)?,
        };
        let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)?;
        let net = match net.parse::<ipnet::IpNet>() {
            Ok(n) => n,
            Err(_) => ipnet::IpNet::from(net.parse::<std::net::IpAddr>().map_err(|_| bad())?),
        };
        if net.prefix_len() == 0 {
            return Err(format!("{input:?} names every address: name the service's own address or network"));
        }
        Ok(Destination { cidr: net.trunc().to_string(), port })
    }
}

/// A node label (and the taint of the same key and value) that a pool of nodes carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePool {
    pub key: String,
    pub value: String,
}

impl NodePool {
    /// Parses `label=value` (a Kubernetes label key and value).
    pub fn parse(input: &str) -> Result<NodePool, String> {
        let bad = || format!("expected label=value, such as bulkhead.io/pool=dedicated, got {input:?}");
        let (key, value) = input.trim().split_once('=').ok_or_else(bad)?;
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && s.starts_with(|c: char| c.is_ascii_alphanumeric())
                && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        };
        let key_ok = match key.split_once('/') {
            Some((prefix, name)) => {
                !prefix.contains(':')
                    && crate::domain::host::normalise(prefix).is_some_and(|n| n == prefix)
                    && name_ok(name)
            }
            None => name_ok(key),
        };
        if !key_ok || !name_ok(value) {
            return Err(bad());
        }
        Ok(NodePool { key: key.to_string(), value: value.to_string() })
    }
}

#[cfg(test)]
mod tenant_runtime_tests {
    use super::*;

    #[test]
    fn destinations_and_node_pools_parse_or_say_why_not() {
        assert_eq!(Destination::parse("10.0.5.10:5432"), Ok(Destination { cidr: "10.0.5.10/32".into(), port: 5432 }));
        assert_eq!(Destination::parse("10.0.5.7/24:6379"), Ok(Destination { cidr: "10.0.5.0/24".into(), port: 6379 }));
        assert_eq!(Destination::parse("[fd00::5]:5432"), Ok(Destination { cidr: "fd00::5/128".into(), port: 5432 }));
        for bad in ["10.0.5.10", "db.internal:5432", "0.0.0.0/0:5432", "10.0.0.1:0", "::/0:1"] {
            assert!(Destination::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            NodePool::parse("bulkhead.io/pool=dedicated"),
            Ok(NodePool { key: "bulkhead.io/pool".into(), value: "dedicated".into() })
        );
        for bad in ["pool", "=x", "pool=", "pool=a b", "-pool=x", "bad prefix/pool=x"] {
            assert!(NodePool::parse(bad).is_err(), "{bad}");
        }
    }
}
