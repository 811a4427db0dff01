//! Who the client is: the peer address, or the `X-Forwarded-For` chain when the peer is a
//! trusted proxy.
//!
//! `X-Forwarded-For` is trivially forged, so it is honoured only when the TCP peer is one of
//! the configured trusted proxies; the chain is then walked from the right (the hop nearest
//! us) skipping trusted proxies, and the first untrusted address is the client.

use ipnet::IpNet;
use std::net::IpAddr;

/// The client address of a request from `peer` carrying `forwarded_for` header values.
pub fn client_ip<'a>(peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).map(str::trim).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    return ip;
                }
            }
            // An unparseable hop ends what we can believe.
            None => return client,
        }
    }
    client
}

/// A hop is an IP, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test ip")
    }

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().expect("test net")).collect()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_claims() {
        assert_eq!(client_ip(ip("198.51.100.7"), ["1.2.3.4"].into_iter(), &nets(&["10.0.0.0/8"])), ip("198.51.100.7"));
    }

    #[test]
    fn trusted_proxy_chain_is_walked_from_the_right() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_ip(ip("10.0.0.1"), ["203.0.113.5"].into_iter(), &trusted), ip("203.0.113.5"));
        // forged left-most entry is ignored: the first untrusted from the right wins
        assert_eq!(
            client_ip(ip("10.0.0.1"), ["6.6.6.6, 203.0.113.5, 10.0.0.2"].into_iter(), &trusted),
            ip("203.0.113.5")
        );
        // several header lines
        assert_eq!(client_ip(ip("10.0.0.1"), ["6.6.6.6", "203.0.113.5:443"].into_iter(), &trusted), ip("203.0.113.5"));
        // garbage stops the walk
        assert_eq!(client_ip(ip("10.0.0.1"), ["203.0.113.5, nonsense"].into_iter(), &trusted), ip("10.0.0.1"));
        // no header: the proxy itself
        assert_eq!(client_ip(ip("10.0.0.1"), std::iter::empty(), &trusted), ip("10.0.0.1"));
    }
}
