//! SSRF guard for forwarding destinations. Loopback, private, link-local, carrier-grade NAT
//! and cloud metadata addresses are refused unless the operator allows them. Names are
//! checked at connect time by the HTTP client's resolver, on every address they resolve
//! to, and the client connects only to the addresses checked, so DNS rebinding cannot slip
//! a private address past the check.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// True for addresses on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || first == 0x2001 && ip.segments()[1] == 0x0db8
        || first == 0x0064 && ip.segments()[1] == 0xff9b)
}

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("URL must be absolute http or https with a host")]
    BadUrl,
    #[error("destination {0} is a private, loopback, link-local or metadata address")]
    Private(String),
}

/// Checks what can be checked without DNS: scheme, host, and IP-literal hosts.
pub fn check_url(url: &str, allow_private: bool) -> Result<reqwest::Url, DestinationError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| DestinationError::BadUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.username().is_empty() {
        return Err(DestinationError::BadUrl);
    }
    let ip = match parsed.host() {
        None => return Err(DestinationError::BadUrl),
        Some(url::Host::Domain(_)) => None,
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
    };
    match ip {
        Some(ip) if !allow_private && !is_public(ip) => {
            Err(DestinationError::Private(ip.to_string()))
        }
        _ => Ok(parsed),
    }
}

/// A resolver that refuses names resolving to any non-public address.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| !allow_private && !is_public(a.ip())) {
                let err: Box<dyn std::error::Error + Send + Sync> =
                    Box::new(DestinationError::Private(format!("{host} ({})", bad.ip())));
                return Err(err);
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::",
        ] {
            let ip: IpAddr = private.parse().expect("ip");
            assert!(!is_public(ip), "{private} must be refused");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"] {
            let ip: IpAddr = public.parse().expect("ip");
            assert!(is_public(ip), "{public} is public");
        }
    }

    #[test]
    fn checks_urls() {
        assert!(check_url("https://example.com/hook", false).is_ok());
        assert_eq!(
            check_url("ftp://example.com", false),
            Err(DestinationError::BadUrl)
        );
        assert_eq!(check_url("not a url", false), Err(DestinationError::BadUrl));
        assert!(matches!(
            check_url("http://127.0.0.1/x", false),
            Err(DestinationError::Private(_))
        ));
        assert!(matches!(
            check_url("http://169.254.169.254/", false),
            Err(DestinationError::Private(_))
        ));
        assert!(matches!(
            check_url("http://10.0.0.1/", false),
            Err(DestinationError::Private(_))
        ));
        assert!(matches!(
            check_url("http://[::1]:8080/", false),
            Err(DestinationError::Private(_))
        ));
        assert!(check_url("http://127.0.0.1:9/x", true).is_ok());
    }
}
