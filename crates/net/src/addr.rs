//! Which IP addresses a connection may reach.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::NetError;

/// Why an address is not an ordinary public one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressClass {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16), IPv6 ULA fc00::/7, site-local fec0::/10,
    /// and other special-purpose ranges (192.0.0/24, 198.18/15, 240/4).
    Private,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// Carrier-grade NAT, 100.64/10.
    SharedCgnat,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// 224/4, ff00::/8, 255.255.255.255.
    Multicast,
    /// A cloud metadata service: 169.254.169.254, fd00:ec2::254, 100.100.100.200.
    Metadata,
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private address",
            AddressClass::LinkLocal => "a link-local address",
            AddressClass::SharedCgnat => "a carrier-grade NAT address",
            AddressClass::Unspecified => "an unspecified address",
            AddressClass::Multicast => "a multicast or broadcast address",
            AddressClass::Metadata => "a cloud metadata address",
        })
    }
}

/// The class of `ip`, or `None` for an ordinary public address. IPv4 addresses embedded in
/// IPv6 (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`,
/// 6to4 `2002::/16`) are classified as the IPv4 address they carry.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let o = ip.octets();
    Some(match o {
        [169, 254, 169, 254] | [100, 100, 100, 200] => AddressClass::Metadata,
        [127, ..] => AddressClass::Loopback,
        [0, ..] => AddressClass::Unspecified,
        [10, ..] | [192, 168, ..] => AddressClass::Private,
        [172, b, ..] if (16..32).contains(&b) => AddressClass::Private,
        [192, 0, 0, _] => AddressClass::Private,
        [198, b, ..] if b == 18 || b == 19 => AddressClass::Private,
        [169, 254, ..] => AddressClass::LinkLocal,
        [100, b, ..] if (64..128).contains(&b) => AddressClass::SharedCgnat,
        [255, 255, 255, 255] => AddressClass::Multicast,
        [a, ..] if (224..240).contains(&a) => AddressClass::Multicast,
        [a, ..] if a >= 240 => AddressClass::Private,
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let s = ip.segments();
    if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
        return Some(AddressClass::Metadata);
    }
    if ip.is_loopback() {
        return Some(AddressClass::Loopback);
    }
    if ip.is_unspecified() {
        return Some(AddressClass::Unspecified);
    }
    // IPv4-compatible (deprecated), NAT64 well-known prefix, 6to4: the IPv4 address inside.
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if s[..6] == [0, 0, 0, 0, 0, 0] {
        return classify_v4(embedded(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return classify_v4(embedded(s[1], s[2]));
    }
    match s[0] {
        x if x & 0xff00 == 0xff00 => Some(AddressClass::Multicast),
        x if x & 0xfe00 == 0xfc00 => Some(AddressClass::Private),
        x if x & 0xffc0 == 0xfe80 => Some(AddressClass::LinkLocal),
        x if x & 0xffc0 == 0xfec0 => Some(AddressClass::Private),
        _ => None,
    }
}

/// Which addresses connections may reach once a name is resolved.
///
/// The default is [`AddressPolicy::permissive`]: a library used by the command-line tool on
/// the user's own machine must reach the user's NAS on 192.168.x.y. A service acting for
/// strangers uses [`AddressPolicy::public_only`] so that an account URL cannot make it reach
/// its own network, its loopback services or the cloud metadata endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Allow private, link-local, CGNAT, unspecified, multicast and metadata addresses.
    pub allow_private: bool,
    /// Allow loopback (tests against local servers).
    pub allow_loopback: bool,
}

impl Default for AddressPolicy {
    fn default() -> Self {
        AddressPolicy::permissive()
    }
}

impl AddressPolicy {
    /// Everything allowed (the command-line tool).
    pub const fn permissive() -> Self {
        AddressPolicy {
            allow_private: true,
            allow_loopback: true,
        }
    }

    /// Public addresses only (the service).
    pub const fn public_only() -> Self {
        AddressPolicy {
            allow_private: false,
            allow_loopback: false,
        }
    }

    /// Public addresses and loopback (tests of the service's rules against local servers).
    pub const fn public_and_loopback() -> Self {
        AddressPolicy {
            allow_private: false,
            allow_loopback: true,
        }
    }

    /// `Ok` when `ip` (an address of `host`) may be reached; the error names both.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), NetError> {
        let Some(class) = classify(ip) else {
            return Ok(());
        };
        let allowed = match class {
            AddressClass::Loopback => self.allow_loopback,
            _ => self.allow_private,
        };
        if allowed {
            Ok(())
        } else {
            Err(NetError::AddressRefused {
                host: host.to_owned(),
                addr: ip,
                class,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(s: &str) -> Option<AddressClass> {
        let ip: IpAddr = s.parse().unwrap();
        match AddressPolicy::public_only().check("h.example", ip) {
            Ok(()) => None,
            Err(NetError::AddressRefused { class, addr, host }) => {
                assert_eq!(addr, ip);
                assert_eq!(host, "h.example");
                Some(class)
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn public_only_refuses_each_special_range() {
        use AddressClass::*;
        let cases = [
            ("127.0.0.1", Loopback),
            ("127.255.0.2", Loopback),
            ("::1", Loopback),
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("fc00::1", Private),
            ("fd12:3456::1", Private),
            ("169.254.1.1", LinkLocal),
            ("fe80::1", LinkLocal),
            ("100.64.0.1", SharedCgnat),
            ("100.127.255.254", SharedCgnat),
            ("0.0.0.0", Unspecified),
            ("::", Unspecified),
            ("224.0.0.1", Multicast),
            ("255.255.255.255", Multicast),
            ("ff02::1", Multicast),
            ("169.254.169.254", Metadata),
            ("fd00:ec2::254", Metadata),
            // IPv4 inside IPv6.
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:169.254.169.254", Metadata),
            ("64:ff9b::a00:1", Private),
            ("2002:c0a8:101::1", Private),
        ];
        for (ip, class) in cases {
            assert_eq!(refused(ip), Some(class), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:2800:220:1:248:1893:25c8:1946",
            "::ffff:93.184.216.34",
            "1.1.1.1",
        ] {
            assert_eq!(refused(ip), None, "{ip}");
        }
    }

    #[test]
    fn switches_allow_what_they_name() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let private: IpAddr = "192.168.0.1".parse().unwrap();
        let p = AddressPolicy::public_and_loopback();
        assert!(p.check("x", lo).is_ok());
        assert!(p.check("x", private).is_err());
        let p = AddressPolicy::permissive();
        assert!(p.check("x", lo).is_ok() && p.check("x", private).is_ok());
        assert_eq!(AddressPolicy::default(), AddressPolicy::permissive());
        let msg = AddressPolicy::public_only()
            .check("evil.example", "169.254.169.254".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("evil.example") && msg.contains("169.254.169.254"),
            "{msg}"
        );
    }
}
