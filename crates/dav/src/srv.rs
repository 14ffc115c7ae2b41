//! RFC 6764 service discovery: from a domain to DAV base URLs.
//!
//! DNS itself is not done here (that needs a resolver, `passeur-net`'s job):
//! the caller passes a [`DnsLookup`]. [`rfc6764_candidates`] orders the
//! candidates as RFC 6764 §6 says: `_caldavs._tcp` / `_carddavs._tcp` (TLS)
//! before `_caldav._tcp` / `_carddav._tcp`, by priority then weight, with the
//! context path from the TXT `path=` record or the well-known URI, and finally
//! `https://<domain>/.well-known/...`. [`discover_domain`] tries them in turn, and takes a
//! plain-text candidate (from `_caldav._tcp` / `_carddav._tcp`) only when
//! [`DavConfig::allow_plaintext`] is set or the target is loopback: TLS is never silently
//! traded for clear text. When no candidate works and a clear-text one was passed over, the
//! error is that refusal ([`passeur_net::NetError::Plaintext`]), which says how to allow it.

use std::future::Future;

use url::Url;

use crate::client::{DavClient, DavConfig, Homes};
use crate::error::{DavError, Result};

/// One SRV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    /// Lower is tried first (RFC 2782).
    pub priority: u16,
    /// Share among records of the same priority (RFC 2782).
    pub weight: u16,
    /// The port the service listens on; 0 with target `.` means "not offered".
    pub port: u16,
    /// Host name; `"."` means "no such service here" (RFC 2782).
    pub target: String,
}

/// The DNS look-ups RFC 6764 needs. Return empty lists for NXDOMAIN / no data.
pub trait DnsLookup {
    /// The SRV records of `name` (`_caldavs._tcp.example.org`); empty when there are none.
    fn srv(&self, name: &str) -> impl Future<Output = Vec<SrvRecord>> + Send;
    /// The TXT strings of `name` (for the RFC 6764 `path=` key); empty when there are none.
    fn txt(&self, name: &str) -> impl Future<Output = Vec<String>> + Send;
}

/// Which DAV service to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Calendars: `_caldavs._tcp` / `_caldav._tcp`, `/.well-known/caldav`.
    CalDav,
    /// Address books: `_carddavs._tcp` / `_carddav._tcp`, `/.well-known/carddav`.
    CardDav,
}

impl Service {
    fn label(self) -> &'static str {
        match self {
            Service::CalDav => "caldav",
            Service::CardDav => "carddav",
        }
    }
}

/// Candidate base URLs for `domain`, best first (see the module docs).
pub async fn rfc6764_candidates(domain: &str, service: Service, dns: &impl DnsLookup) -> Vec<Url> {
    let domain = domain.trim().trim_end_matches('.');
    let mut out = Vec::new();
    for (scheme, suffix) in [("https", "s"), ("http", "")] {
        let name = format!("_{}{suffix}._tcp.{domain}", service.label());
        let mut recs = dns.srv(&name).await;
        if recs.len() == 1 && recs[0].target == "." {
            continue;
        }
        recs.retain(|r| r.target != "." && !r.target.is_empty());
        recs.sort_by(|a, b| a.priority.cmp(&b.priority).then(b.weight.cmp(&a.weight)));
        if recs.is_empty() {
            continue;
        }
        let path = dns
            .txt(&name)
            .await
            .iter()
            .find_map(|t| t.trim().strip_prefix("path=").map(str::to_string))
            .unwrap_or_else(|| format!("/.well-known/{}", service.label()));
        for r in recs {
            let host = r.target.trim_end_matches('.');
            let default = if scheme == "https" { 443 } else { 80 };
            let port = if r.port == default {
                String::new()
            } else {
                format!(":{}", r.port)
            };
            let p = if path.starts_with('/') {
                path.clone()
            } else {
                format!("/{path}")
            };
            if let Ok(u) = Url::parse(&format!("{scheme}://{host}{port}{p}"))
                && !out.contains(&u)
            {
                out.push(u);
            }
        }
    }
    if let Ok(u) = Url::parse(&format!("https://{domain}/.well-known/{}", service.label()))
        && !out.contains(&u)
    {
        out.push(u);
    }
    out
}

/// Tries the RFC 6764 candidates for `domain` with `cfg`'s credentials (its
/// `base_url` is replaced) and returns the first client whose discovery works.
pub async fn discover_domain(
    cfg: &DavConfig,
    domain: &str,
    service: Service,
    dns: &impl DnsLookup,
) -> Result<(DavClient, Homes)> {
    // The failure of a candidate the domain's SRV records name, a clear-text one passed over,
    // and the failure of the last resort (`https://DOMAIN/.well-known/...`), reported in that
    // order of preference: when a TLS server of the domain fails, the user hears that; when
    // there was only a clear-text one, the user hears that it was refused and how to allow
    // it, not that the well-known URL did not answer.
    let (mut failed, mut refused, mut last_resort) = (None, None, None);
    let plain = passeur_net::PlaintextPolicy {
        allow_plaintext: cfg.allow_plaintext,
    };
    let candidates = rfc6764_candidates(domain, service, dns).await;
    let n = candidates.len();
    for (i, url) in candidates.into_iter().enumerate() {
        let host = url.host_str().unwrap_or_default().to_owned();
        if let Err(e) = plain.check(&host, url.scheme() == "https") {
            tracing::info!("skipping the clear-text DAV candidate on {host}: {e}");
            refused.get_or_insert(DavError::Net(e));
            continue;
        }
        let mut c = cfg.clone();
        c.base_url = url;
        let client = DavClient::new(c)?;
        match client.discover().await {
            Ok(h) => return Ok((client, h)),
            // Another candidate (another host) may work after a network fault, a name that
            // does not resolve (the domain's own name for its well-known URL) or a server
            // without DAV there; anything else ends the search.
            Err(
                e @ (DavError::Transport { .. }
                | DavError::Http { .. }
                | DavError::Discovery { .. }
                | DavError::Net(passeur_net::NetError::UnknownHost { .. })),
            ) => {
                // The last candidate is the well-known URL of the domain.
                if i + 1 == n {
                    last_resort = Some(e);
                } else {
                    failed = Some(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(failed
        .or(refused)
        .or(last_resort)
        .unwrap_or_else(|| DavError::Discovery {
            url: domain.to_string(),
            reason: "no RFC 6764 candidate".into(),
        }))
}
