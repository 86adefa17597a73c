//! Which address a request comes from, for per-address rate limits.
//!
//! Directly connected, it is the TCP peer. Behind a reverse proxy or load balancer every
//! request would seem to come from the proxy, and all visitors would share one limit; so
//! when the peer is one of the configured `trusted_proxies`, the client is the nearest
//! address in `X-Forwarded-For` (read right to left) that is not itself a trusted proxy.
//! A peer that is not trusted cannot choose its address by sending the header.

use std::net::IpAddr;

/// One trusted proxy: an address, or a network in CIDR form (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    pub fn parse(s: &str) -> Result<Net, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("trusted_proxies: `{s}` is not an IP address or CIDR network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => {
                    return Err(format!(
                        "trusted_proxies: `{s}` has a prefix length outside 0..={max}"
                    ));
                }
            },
        };
        Ok(Net { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4 address seen through an IPv6 socket (`::ffff:a.b.c.d`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Parse the `trusted_proxies` setting; the first bad entry is the error.
pub fn parse_trusted(entries: &[String]) -> Result<Vec<Net>, String> {
    entries.iter().map(|e| Net::parse(e)).collect()
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the nearest
/// untrusted address its `X-Forwarded-For` headers name (all of them, in order).
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &[Net],
) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = canonical(ip);
                if !is_trusted(client) {
                    break;
                }
            }
            // Garbage in the chain: trust nothing to the left of it.
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn nets(list: &[&str]) -> Vec<Net> {
        parse_trusted(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("nets")
    }

    #[test]
    fn an_untrusted_peer_cannot_pick_its_address() {
        let t = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), ["1.2.3.4"], &t),
            ip("203.0.113.9")
        );
        assert_eq!(client_ip(ip("203.0.113.9"), [], &[]), ip("203.0.113.9"));
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let t = nets(&["10.0.0.0/8", "127.0.0.1"]);
        // client -> CDN edge (untrusted, forged first entry) -> our LB 10.1.1.1 -> us
        assert_eq!(
            client_ip(ip("127.0.0.1"), ["6.6.6.6, 198.51.100.7", "10.1.1.1"], &t),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_ip(ip("10.9.9.9"), ["198.51.100.7"], &t),
            ip("198.51.100.7")
        );
        // No header: the proxy itself.
        assert_eq!(client_ip(ip("10.9.9.9"), [], &t), ip("10.9.9.9"));
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            client_ip(ip("10.9.9.9"), ["1.1.1.1, nonsense, 10.2.2.2"], &t),
            ip("10.2.2.2")
        );
    }

    #[test]
    fn networks_and_mapped_addresses() {
        let t = nets(&["192.168.0.0/16", "fd00::/8", "0.0.0.0/0"]);
        assert!(t[0].contains(ip("192.168.44.1")));
        assert!(!t[0].contains(ip("192.169.0.1")));
        assert!(t[0].contains(ip("::ffff:192.168.1.1")));
        assert!(t[1].contains(ip("fd12::1")));
        assert!(!t[1].contains(ip("fe80::1")));
        assert!(t[2].contains(ip("8.8.8.8")));
        assert!(Net::parse("10.0.0.0/33").is_err());
        assert!(Net::parse("example.com").is_err());
        assert!(Net::parse("::1/129").is_err());
    }
}
