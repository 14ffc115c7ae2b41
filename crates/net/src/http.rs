//! The address guard for HTTP clients (reqwest): names resolve only to the addresses an
//! [`AddressPolicy`] allows, and a redirect cannot aim at an address literal it refuses.
//!
//! reqwest asks its resolver only for names; a URL whose host is an address literal
//! (`http://10.0.0.1/`) never reaches it. [`check_url`] covers those, for the first request,
//! and [`redirect_policy`] for every redirect.

use std::net::IpAddr;
use std::time::Duration;

use url::{Host, Url};

use crate::{AddressPolicy, NetError};

/// A reqwest resolver that keeps only the addresses the [`AddressPolicy`] allows (an error
/// naming the host and the address when none is left).
#[derive(Debug, Clone, Copy)]
pub struct PolicyResolver {
    /// Which addresses a name may resolve to.
    pub policy: AddressPolicy,
    /// How long one resolution may take.
    pub timeout: Duration,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let (policy, timeout) = (self.policy, self.timeout);
        Box::pin(async move {
            let addrs = crate::resolve(&host, 0, &policy, timeout).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// `Ok` unless `url`'s host is an address literal that `policy` refuses (names are left to
/// [`PolicyResolver`]).
pub fn check_url(url: &Url, policy: &AddressPolicy) -> Result<(), NetError> {
    let ip: IpAddr = match url.host() {
        Some(Host::Ipv4(a)) => a.into(),
        Some(Host::Ipv6(a)) => a.into(),
        _ => return Ok(()),
    };
    policy.check(&ip.to_string(), ip)
}

/// Follows at most `max` redirects, none of them to an address literal `policy` refuses.
pub fn redirect_policy(policy: AddressPolicy, max: usize) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= max {
            return attempt.error(format!("more than {max} redirects"));
        }
        match check_url(attempt.url(), &policy) {
            Ok(()) => attempt.follow(),
            Err(e) => attempt.error(e),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_literals_meet_the_policy() {
        let p = AddressPolicy::public_only();
        for bad in [
            "http://10.0.0.1/x",
            "https://127.0.0.1:8443/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00::1]/",
        ] {
            let u = Url::parse(bad).unwrap();
            assert!(check_url(&u, &p).is_err(), "{bad}");
            assert!(check_url(&u, &AddressPolicy::permissive()).is_ok(), "{bad}");
        }
        for good in ["https://autoconfig.example.org/", "http://93.184.215.14/"] {
            assert!(check_url(&Url::parse(good).unwrap(), &p).is_ok(), "{good}");
        }
    }
}
