//! Origins (scheme, host, port) and where credentials may go.

use std::fmt;
use std::net::IpAddr;

use url::Url;

use crate::NetError;

/// The scheme, host and port of a URL: what credentials are given for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of `url`, or `None` for a URL without a host or known default port.
    pub fn of(url: &Url) -> Option<Origin> {
        Some(Origin {
            scheme: url.scheme().to_ascii_lowercase(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }

    /// The scheme, lower case (`https`, `imaps`).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host, lower case.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, the scheme's default when the URL gives none.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True for `https` (and other TLS schemes: `imaps`, `pop3s`, `smtps`).
    pub fn is_tls(&self) -> bool {
        matches!(self.scheme.as_str(), "https" | "imaps" | "pop3s" | "smtps")
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// True when `a` and `b` have the same scheme, host and port.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    matches!((Origin::of(a), Origin::of(b)), (Some(x), Some(y)) if x == y)
}

/// The rule for credentials given for `from`: they may go to `to` only when it is the same
/// origin. A move from TLS to clear text is reported as [`NetError::Downgrade`], any other
/// change of origin as [`NetError::CrossOrigin`]; both errors name the two origins (never a
/// user name or password from the URLs).
pub fn credentials_may_go(from: &Url, to: &Url) -> Result<(), NetError> {
    let (f, t) = (Origin::of(from), Origin::of(to));
    let name = |o: &Option<Origin>, u: &Url| match o {
        Some(o) => o.to_string(),
        None => format!("{}:", u.scheme()),
    };
    match (&f, &t) {
        (Some(a), Some(b)) if a == b => Ok(()),
        (Some(a), Some(b)) if a.is_tls() && !b.is_tls() => Err(NetError::Downgrade {
            from: a.to_string(),
            to: b.to_string(),
        }),
        _ => Err(NetError::CrossOrigin {
            from: name(&f, from),
            to: name(&t, to),
        }),
    }
}

/// True for `localhost`, `*.localhost` and loopback IP literals: names that cannot leave the
/// machine whatever DNS says.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if h == "localhost" || h.ends_with(".localhost") {
        return true;
    }
    match h.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// Whether a password may be sent without TLS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlaintextPolicy {
    /// Allow clear-text logins to any host (the user asked for it explicitly).
    pub allow_plaintext: bool,
}

impl PlaintextPolicy {
    /// `Ok` when a login to `host` over a connection that is (`tls`) or is not encrypted may
    /// proceed: always over TLS, to a loopback host ([`is_loopback_host`]), or with
    /// `allow_plaintext`.
    pub fn check(&self, host: &str, tls: bool) -> Result<(), NetError> {
        if tls || self.allow_plaintext || is_loopback_host(host) {
            Ok(())
        } else {
            Err(NetError::Plaintext {
                host: host.to_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn credentials_stay_on_their_origin() {
        let base = u("https://dav.example/u/");
        assert!(credentials_may_go(&base, &u("https://DAV.example:443/x/y")).is_ok());
        assert!(same_origin(&base, &u("https://dav.example/other")));
        let e = credentials_may_go(&base, &u("https://evil.example/")).unwrap_err();
        assert!(matches!(e, NetError::CrossOrigin { .. }));
        let msg = e.to_string();
        assert!(
            msg.contains("https://dav.example:443") && msg.contains("https://evil.example:443")
        );
        assert!(matches!(
            credentials_may_go(&base, &u("https://dav.example:8443/")),
            Err(NetError::CrossOrigin { .. })
        ));
        assert!(matches!(
            credentials_may_go(&base, &u("http://dav.example/")),
            Err(NetError::Downgrade { .. })
        ));
        // Up from http to https is still another origin.
        assert!(credentials_may_go(&u("http://h/"), &u("https://h/")).is_err());
        // No user information in the message.
        let e = credentials_may_go(&u("https://me:pw@a.example/"), &u("https://b.example/"))
            .unwrap_err()
            .to_string();
        assert!(!e.contains("pw") && !e.contains("me@"), "{e}");
    }

    #[test]
    fn plaintext_only_to_loopback_or_with_opt_in() {
        let p = PlaintextPolicy::default();
        assert!(p.check("dav.example", true).is_ok());
        assert!(matches!(
            p.check("dav.example", false),
            Err(NetError::Plaintext { .. })
        ));
        assert!(p.check("192.168.1.2", false).is_err());
        for h in [
            "localhost",
            "LOCALHOST.",
            "a.localhost",
            "127.0.0.1",
            "127.0.0.2",
            "[::1]",
            "::ffff:127.0.0.1",
        ] {
            assert!(p.check(h, false).is_ok(), "{h}");
        }
        let p = PlaintextPolicy {
            allow_plaintext: true,
        };
        assert!(p.check("dav.example", false).is_ok());
    }
}
