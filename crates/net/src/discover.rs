//! Finding a mail account's servers from its address.
//!
//! [`Discoverer::detect`] tries, in order, and stops at the first that answers:
//!
//! 1. the provider presets ([`Presets`], the data file `data/providers.json`), by the
//!    address's domain;
//! 2. RFC 6186 SRV records: `_imaps._tcp`, `_imap._tcp`, `_pop3s._tcp`, `_pop3._tcp`;
//! 3. Thunderbird-style autoconfig files: `https://autoconfig.DOMAIN/mail/config-v1.1.xml`,
//!    `https://DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml`, then the ISPDB
//!    (`https://autoconfig.thunderbird.net/v1.1/DOMAIN`, or an operator's mirror);
//! 4. the domain's MX records matched against the presets' hosters (a company domain hosted
//!    by Google, Microsoft, OVHcloud, ...);
//! 5. probing the usual host names, `imap.DOMAIN` then `mail.DOMAIN`, on the usual ports (993
//!    with TLS, then 143 with STARTTLS), each given [`PROBE_TIMEOUT`] to answer.
//!
//! The issue that asked for detection listed autoconfig before SRV, and the MX match with the
//! presets first. This order ([`ORDER`]) differs on purpose:
//!
//! - What the domain publishes for mail clients (SRV, autoconfig) comes before what its MX
//!   records suggest. An MX record says where mail is *delivered*, which is often a filter in
//!   front of the mailboxes: a company whose MX is Microsoft's `mail.protection.outlook.com`
//!   (Exchange Online Protection) but whose mailboxes are on its own server with
//!   `_imaps._tcp` records would otherwise be sent, with its password, to
//!   `outlook.office365.com`.
//! - SRV comes before autoconfig: it is one DNS question to the domain's own servers, where the
//!   autoconfig step can end at the ISPDB, which sends the domain to a third party (and waits
//!   for HTTP timeouts); a domain that publishes SRV records need not be revealed.
//!
//! What it finds is a [`Detected`]: every server found, where it was found, and
//! [`Detected::choose`] for the incoming server to use. The rule there: a plain-text (no TLS)
//! server is never chosen on its own; DNS without DNSSEC and plain HTTP can be forged, so their
//! answers are hints the user sees ([`Detected::trusted`] is false for them).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use quick_xml::events::Event as XmlEvent;
use serde::{Deserialize, Serialize};

use crate::{AddressPolicy, NetError};

/// Transport security of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// Implicit TLS (IMAPS 993, POP3S 995, SMTPS 465).
    Tls,
    /// STARTTLS on the plain port.
    Starttls,
    /// No encryption: never chosen without the user saying so.
    Plain,
}

/// What a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailProtocol {
    /// IMAP, for incoming mail.
    Imap,
    /// POP3, for incoming mail.
    Pop3,
    /// SMTP submission, for outgoing mail.
    Smtp,
}

/// One server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Server {
    /// The server's host name.
    pub host: String,
    /// The port it listens on.
    pub port: u16,
    /// How the connection is encrypted.
    pub security: Security,
    /// The login on this server when its source names one (else [`Detected::login`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
}

impl Server {
    /// The account URL passeur takes (`imaps://LOGIN@HOST:PORT`, `pop3+starttls://...`); `None`
    /// for SMTP.
    pub fn url(&self, protocol: MailProtocol, login: &str) -> Option<String> {
        let scheme = match (protocol, self.security) {
            (MailProtocol::Imap, Security::Tls) => "imaps",
            (MailProtocol::Imap, Security::Starttls) => "imap+starttls",
            (MailProtocol::Imap, Security::Plain) => "imap",
            (MailProtocol::Pop3, Security::Tls) => "pop3s",
            (MailProtocol::Pop3, Security::Starttls) => "pop3+starttls",
            (MailProtocol::Pop3, Security::Plain) => "pop3",
            (MailProtocol::Smtp, _) => return None,
        };
        let mut user = String::new();
        for b in login.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) {
                user.push(b as char);
            } else {
                user.push_str(&format!("%{b:02X}"));
            }
        }
        Some(format!("{scheme}://{user}@{}:{}", self.host, self.port))
    }
}

/// A provider preset (one entry of `data/providers.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preset {
    /// A stable identifier (`gmail`, `outlook`), used in reports and the API.
    pub id: String,
    /// The provider's name as users know it.
    pub name: String,
    /// Address domains of the provider.
    #[serde(default)]
    pub domains: Vec<String>,
    /// MX host suffixes that mean "hosted here" (`google.com` matches `aspmx.l.google.com`).
    #[serde(default)]
    pub mx: Vec<String>,
    /// The provider's IMAP server, if it offers one.
    pub imap: Option<Server>,
    /// The provider's POP3 server, if it offers one.
    pub pop3: Option<Server>,
    /// The provider's SMTP submission server, if it offers one.
    pub smtp: Option<Server>,
    /// The provider's CalDAV URL (for RFC 6764 discovery), if it offers one.
    pub caldav: Option<String>,
    /// The provider's CardDAV URL (for RFC 6764 discovery), if it offers one.
    pub carddav: Option<String>,
    /// `password`, `app-password`, `oauth2`.
    #[serde(default)]
    pub auth: Vec<String>,
    /// Special folders by role (`sent`, `trash`, `junk`, `drafts`, `all`).
    #[serde(default)]
    pub folders: BTreeMap<String, String>,
    /// What a migration from or to this provider must know (shown to the user as notes).
    #[serde(default)]
    pub quirks: Vec<String>,
    /// Documented limits (`connections`, `daily_download_mb`, ...), the default throttles.
    #[serde(default)]
    pub limits: BTreeMap<String, u64>,
    /// The provider's OAuth 2.0 endpoints and the scopes mail access needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuthPreset>,
}

/// A provider's OAuth 2.0 endpoints (the client ID and secret come from the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthPreset {
    /// Where access tokens are obtained and refreshed.
    pub token_endpoint: String,
    /// The device authorization grant (RFC 8628), for the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    /// The authorization code grant with PKCE, for the service's "Sign in with" pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// Where a refresh token is revoked when the user signs out, if the provider has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// The scopes mail access (and DAV access where offered) needs.
    pub scopes: Vec<String>,
}

/// The provider presets one binary, service or test uses: the data file built in, with an
/// operator's own in front ([`Presets::with_json`]). Built once by the binary and passed to
/// every user (discovery, folder roles, connection and daily limits, OAuth endpoints); two
/// services in one process may each have their own. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Presets(Arc<[Preset]>);

impl Default for Presets {
    /// [`Presets::built_in`].
    fn default() -> Self {
        Presets::built_in()
    }
}

impl Presets {
    /// The presets of the data file built into the binary.
    pub fn built_in() -> Presets {
        Presets(built_in_presets().into())
    }

    /// `json` (a JSON array in the form of `data/providers.json`: an operator's own provider,
    /// or a test server playing a provider) in front of the built-in presets.
    pub fn with_json(json: &str) -> Result<Presets, NetError> {
        let mut v: Vec<Preset> = serde_json::from_str(json)
            .map_err(|e| NetError::Discover(format!("the presets file is not valid: {e}")))?;
        v.extend(built_in_presets());
        Ok(Presets(v.into()))
    }

    /// Every preset, the operator's first.
    pub fn all(&self) -> &[Preset] {
        &self.0
    }

    /// The preset with this `id` (`gmail`, `microsoft`, ...).
    pub fn by_id(&self, id: &str) -> Option<&Preset> {
        self.0.iter().find(|p| p.id == id)
    }

    /// The preset whose IMAP or POP3 server is `host` (an account URL's host): the account is
    /// at that provider, and its folder names and limits apply.
    pub fn for_host(&self, host: &str) -> Option<&Preset> {
        let h = host
            .trim_end_matches('.')
            .trim_start_matches('[')
            .trim_end_matches(']');
        self.0.iter().find(|p| {
            p.imap
                .iter()
                .chain(&p.pop3)
                .any(|s| s.host.eq_ignore_ascii_case(h))
        })
    }

    /// The lowest documented connection limit of the providers of `hosts` (account URLs'
    /// hosts), with that provider: passeur opens no more unless told to.
    pub fn connection_cap<'a>(
        &self,
        hosts: impl IntoIterator<Item = &'a str>,
    ) -> Option<(usize, &Preset)> {
        hosts
            .into_iter()
            .filter_map(|h| self.for_host(h))
            .filter_map(|p| Some((usize::try_from(*p.limits.get("connections")?).ok()?, p)))
            .min_by_key(|(n, _)| *n)
    }

    /// The preset of an address domain.
    pub fn for_domain(&self, domain: &str) -> Option<&Preset> {
        let d = domain.trim_end_matches('.').to_ascii_lowercase();
        self.0.iter().find(|p| p.domains.contains(&d))
    }

    /// The preset whose hoster runs the mail exchanger `mx` (a host name).
    pub fn for_mx(&self, mx: &str) -> Option<&Preset> {
        let h = mx.trim_end_matches('.').to_ascii_lowercase();
        self.0.iter().find(|p| {
            p.mx.iter()
                .any(|s| h == *s || h.ends_with(&format!(".{s}")))
        })
    }
}

/// The data file built into the binary.
fn built_in_presets() -> Vec<Preset> {
    // The file is ours and checked by a test: a parse error is a build defect.
    serde_json::from_str(include_str!("../data/providers.json"))
        .expect("data/providers.json is valid")
}

/// The steps of [`Discoverer::detect`], in the order it tries them (what `passeur detect`
/// shows).
pub const ORDER: [&str; 5] = [
    "the presets, by the address's domain",
    "DNS SRV records",
    "autoconfig files (the domain's, then the ISPDB)",
    "the domain's MX records, matched against the presets' hosters",
    "the usual host names (imap.DOMAIN, mail.DOMAIN)",
];

/// Where the settings came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Found {
    /// The presets, by the address's domain.
    Preset {
        /// The preset's [`Preset::id`].
        id: String,
    },
    /// RFC 6186 SRV records.
    Srv,
    /// An autoconfig file at this URL (the ISPDB included).
    Autoconfig {
        /// The file's URL.
        url: String,
    },
    /// The domain's MX records point to a known hoster.
    Mx {
        /// The mail exchanger's host name.
        mx: String,
        /// The hoster's [`Preset::id`].
        id: String,
    },
    /// A server answered at a usual host name and port.
    Probe {
        /// The host name that answered.
        host: String,
    },
}

impl Found {
    /// Its step in [`ORDER`], from 1.
    pub fn step(&self) -> usize {
        match self {
            Found::Preset { .. } => 1,
            Found::Srv => 2,
            Found::Autoconfig { .. } => 3,
            Found::Mx { .. } => 4,
            Found::Probe { .. } => 5,
        }
    }
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Found::Preset { id } => write!(f, "the provider presets ({id})"),
            Found::Srv => f.write_str("DNS SRV records (RFC 6186)"),
            Found::Autoconfig { url } => write!(f, "the autoconfig file {url}"),
            Found::Mx { mx, id } => write!(f, "the domain's MX record {mx} (hosted by {id})"),
            Found::Probe { host } => write!(f, "a server answering at {host}"),
        }
    }
}

/// What detection found for an address.
#[derive(Debug, Clone, Serialize)]
pub struct Detected {
    /// The address detection was asked about.
    pub address: String,
    /// The login to use (the address, unless the source says otherwise).
    pub login: String,
    /// Which source the settings came from.
    pub found: Found,
    /// Whether the source can be trusted as is: presets (ours) and HTTPS; DNS without DNSSEC
    /// and plain HTTP are hints only.
    pub trusted: bool,
    /// The provider's name, when a preset matched.
    pub provider: Option<String>,
    /// Incoming servers, best first: encrypted before plain text, IMAP before POP3, implicit TLS
    /// before STARTTLS.
    pub incoming: Vec<(MailProtocol, Server)>,
    /// Outgoing (SMTP submission) servers, best first.
    pub smtp: Vec<Server>,
    /// The CalDAV URL, when known.
    pub caldav: Option<String>,
    /// The CardDAV URL, when known.
    pub carddav: Option<String>,
    /// What the user should know: the provider's quirks and how to log in.
    pub notes: Vec<String>,
    /// The provider's special folders by role (`sent`, `trash`, ...), from its preset.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub folders: BTreeMap<String, String>,
    /// The provider's documented limits (`connections`, `daily_download_mb`, ...), from its
    /// preset: passeur's default throttles for its accounts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, u64>,
}

impl Detected {
    /// The incoming server to use: the best encrypted one. A plain-text one is never chosen:
    /// the error says what was found and that the user must ask for it by its URL.
    pub fn choose(&self) -> Result<(MailProtocol, &Server), NetError> {
        if let Some((p, s)) = self
            .incoming
            .iter()
            .find(|(_, s)| s.security != Security::Plain)
        {
            return Ok((*p, s));
        }
        match self.incoming.first() {
            Some((p, s)) => Err(NetError::Discover(format!(
                "{} offers only a plain-text server ({}); passeur does not choose one on its \
                 own: give its URL yourself if you accept that the password travels in clear",
                self.address,
                s.url(*p, self.login_for(s)).unwrap_or_default()
            ))),
            None => Err(NetError::Discover(format!(
                "no incoming mail server found for {}",
                self.address
            ))),
        }
    }

    /// The URL of [`Detected::choose`].
    pub fn url(&self) -> Result<String, NetError> {
        let (p, s) = self.choose()?;
        Ok(s.url(p, self.login_for(s)).unwrap_or_default())
    }

    /// The login to use on `server`.
    pub fn login_for<'a>(&'a self, server: &'a Server) -> &'a str {
        server.login.as_deref().unwrap_or(&self.login)
    }

    fn from_preset(address: &str, p: &Preset, found: Found) -> Detected {
        let mut incoming = Vec::new();
        if let Some(s) = &p.imap {
            incoming.push((MailProtocol::Imap, s.clone()));
        }
        if let Some(s) = &p.pop3 {
            incoming.push((MailProtocol::Pop3, s.clone()));
        }
        sort_incoming(&mut incoming);
        let mut notes = p.quirks.clone();
        if !p.auth.is_empty() {
            notes.push(format!("log in with: {}", p.auth.join(", ")));
        }
        Detected {
            address: address.to_owned(),
            login: address.to_owned(),
            found,
            trusted: true,
            provider: Some(p.name.clone()),
            incoming,
            smtp: p.smtp.iter().cloned().collect(),
            caldav: p.caldav.clone(),
            carddav: p.carddav.clone(),
            notes,
            folders: p.folders.clone(),
            limits: p.limits.clone(),
        }
    }
}

/// Encrypted before plain text; among encrypted servers IMAP before POP3 (folders, flags and
/// dates come along), then implicit TLS before STARTTLS.
fn sort_incoming(v: &mut [(MailProtocol, Server)]) {
    v.sort_by_key(|(p, s)| (s.security == Security::Plain, *p, s.security));
}

/// How long a probed host and port have to accept a connection.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The default ISPDB (Thunderbird's database of provider settings).
pub const ISPDB: &str = "https://autoconfig.thunderbird.net/v1.1/";

/// Finds servers; see the module documentation for the order.
pub struct Discoverer {
    resolver: TokioResolver,
    http: reqwest::Client,
    /// Where the autoconfig fetches may go (permissive unless
    /// [`Discoverer::with_address_policy`] says otherwise).
    policy: AddressPolicy,
    /// The presets asked first, by the address's domain, and last, by its MX hosts.
    presets: Presets,
    /// ISPDB base URL (the domain is appended); `None` skips it.
    pub ispdb: Option<String>,
    /// Autoconfig URL templates (`{domain}` and `{address}` replaced); the defaults are the
    /// two HTTPS places.
    pub autoconfig: Vec<String>,
}

impl Discoverer {
    /// A discoverer asking DNS server `dns` (the system's configuration when `None`), knowing
    /// the providers of `presets`.
    pub fn new(dns: Option<SocketAddr>, presets: Presets) -> Result<Discoverer, NetError> {
        let builder = match dns {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio().map_err(|e| {
                NetError::Discover(format!("cannot read the system's DNS configuration: {e}"))
            })?,
        };
        let resolver = builder
            .build()
            .map_err(|e| NetError::Discover(format!("cannot set up DNS: {e}")))?;
        let policy = AddressPolicy::permissive();
        Ok(Discoverer {
            resolver,
            http: http_client(policy)?,
            policy,
            presets,
            ispdb: Some(ISPDB.to_owned()),
            autoconfig: vec![
                "https://autoconfig.{domain}/mail/config-v1.1.xml?emailaddress={address}".into(),
                "https://{domain}/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={address}"
                    .into(),
            ],
        })
    }

    /// The same discoverer, whose autoconfig and ISPDB fetches (redirects included) reach only
    /// the addresses `policy` allows: a service detecting a stranger's domain uses
    /// [`AddressPolicy::public_only`], so that the domain cannot aim the fetch inward.
    pub fn with_address_policy(mut self, policy: AddressPolicy) -> Result<Self, NetError> {
        self.http = http_client(policy)?;
        self.policy = policy;
        Ok(self)
    }

    /// Finds the servers of `address`.
    pub async fn detect(&self, address: &str) -> Result<Detected, NetError> {
        let address = address.trim();
        let domain = match address.rsplit_once('@') {
            Some((local, d)) if !local.is_empty() && d.contains('.') && !d.contains('/') => {
                d.trim_end_matches('.').to_ascii_lowercase()
            }
            _ => {
                return Err(NetError::Discover(format!(
                    "{address:?} is not an e-mail address (expected user@domain)"
                )));
            }
        };
        if let Some(p) = self.presets.for_domain(&domain) {
            return Ok(Detected::from_preset(
                address,
                p,
                Found::Preset { id: p.id.clone() },
            ));
        }
        if let Some(d) = self.srv(address, &domain).await {
            return Ok(d);
        }
        if let Some(d) = self.autoconfig(address, &domain).await {
            return Ok(d);
        }
        for mx in self.mx(&domain).await {
            if let Some(p) = self.presets.for_mx(&mx) {
                let mut d = Detected::from_preset(
                    address,
                    p,
                    Found::Mx {
                        mx: mx.clone(),
                        id: p.id.clone(),
                    },
                );
                d.trusted = false;
                return Ok(d);
            }
        }
        if let Some(d) = self.probe(address, &domain).await {
            return Ok(d);
        }
        Err(NetError::Discover(format!(
            "cannot find the mail servers of {domain}: no preset, no SRV record, no autoconfig \
             file, no known hoster in its MX records and no server at imap.{domain} or \
             mail.{domain}; give the server's URL (imaps://LOGIN@HOST)"
        )))
    }

    /// The usual host names on the usual IMAP ports: the first name with a port that accepts a
    /// connection. A guess from unsigned DNS and an open port: shown as a hint.
    async fn probe(&self, address: &str, domain: &str) -> Option<Detected> {
        for host in [format!("imap.{domain}"), format!("mail.{domain}")] {
            let Ok(ips) = self.resolver.lookup_ip(format!("{host}.")).await else {
                continue;
            };
            let ips: Vec<std::net::IpAddr> = ips
                .iter()
                .filter(|ip| self.policy.check(&host, *ip).is_ok())
                .collect();
            let mut incoming = Vec::new();
            for (port, security) in [(993, Security::Tls), (143, Security::Starttls)] {
                for ip in &ips {
                    let connect = tokio::net::TcpStream::connect(SocketAddr::new(*ip, port));
                    if let Ok(Ok(_)) = tokio::time::timeout(PROBE_TIMEOUT, connect).await {
                        incoming.push((
                            MailProtocol::Imap,
                            Server {
                                host: host.clone(),
                                port,
                                security,
                                login: None,
                            },
                        ));
                        break;
                    }
                }
            }
            if !incoming.is_empty() {
                return Some(Detected {
                    address: address.to_owned(),
                    login: address.to_owned(),
                    found: Found::Probe { host },
                    trusted: false,
                    provider: None,
                    incoming,
                    smtp: Vec::new(),
                    caldav: None,
                    carddav: None,
                    notes: vec![
                        "guessed from a usual host name that answers: check it before giving a password".into(),
                    ],
                    folders: BTreeMap::new(),
                    limits: BTreeMap::new(),
                });
            }
        }
        None
    }

    async fn srv(&self, address: &str, domain: &str) -> Option<Detected> {
        let mut incoming = Vec::new();
        for (service, protocol, security) in [
            ("_imaps._tcp", MailProtocol::Imap, Security::Tls),
            // RFC 6186 §3.2 names _imap for STARTTLS or plain; passeur asks for STARTTLS.
            ("_imap._tcp", MailProtocol::Imap, Security::Starttls),
            ("_pop3s._tcp", MailProtocol::Pop3, Security::Tls),
            ("_pop3._tcp", MailProtocol::Pop3, Security::Starttls),
        ] {
            let name = format!("{service}.{domain}.");
            let Ok(l) = self.resolver.srv_lookup(name).await else {
                continue;
            };
            let mut recs: Vec<(u16, u16, Server)> = l
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::SRV(s) => Some((s.priority, s.weight, s.target.to_utf8(), s.port)),
                    _ => None,
                })
                // A target of "." says the service is not offered (RFC 2782).
                .filter(|(_, _, t, _)| t != ".")
                .map(|(p, w, t, port)| {
                    (
                        p,
                        w,
                        Server {
                            host: t.trim_end_matches('.').to_ascii_lowercase(),
                            port,
                            security,
                            login: None,
                        },
                    )
                })
                .collect();
            recs.sort_by_key(|(p, w, _)| (*p, std::cmp::Reverse(*w)));
            if let Some((_, _, s)) = recs.into_iter().next() {
                incoming.push((protocol, s));
            }
        }
        if incoming.is_empty() {
            return None;
        }
        sort_incoming(&mut incoming);
        let smtp = Vec::new();
        Some(Detected {
            address: address.to_owned(),
            login: address.to_owned(),
            found: Found::Srv,
            trusted: false,
            provider: None,
            incoming,
            smtp,
            caldav: None,
            carddav: None,
            notes: vec![
                "found in DNS without DNSSEC: check the host names before giving a password".into(),
            ],
            folders: BTreeMap::new(),
            limits: BTreeMap::new(),
        })
    }

    async fn autoconfig(&self, address: &str, domain: &str) -> Option<Detected> {
        let mut urls: Vec<String> = self
            .autoconfig
            .iter()
            .map(|t| {
                t.replace("{domain}", domain)
                    .replace("{address}", &encode_query(address))
            })
            .collect();
        if let Some(base) = &self.ispdb {
            urls.push(format!("{base}{domain}"));
        }
        for url in urls {
            // A domain such as `10.0.0.1` gives an address literal, which no resolver sees.
            match url::Url::parse(&url) {
                Ok(u) if crate::http::check_url(&u, &self.policy).is_ok() => {}
                _ => {
                    tracing::debug!(url, "autoconfig URL not allowed");
                    continue;
                }
            }
            let res = match self.http.get(&url).send().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(url, error = %e, "no autoconfig file");
                    continue;
                }
            };
            if !res.status().is_success() {
                continue;
            }
            let https = res.url().scheme() == "https";
            let Ok(body) = res.text().await else {
                continue;
            };
            let Some(mut d) = parse_autoconfig(&body, address) else {
                tracing::debug!(url, "not an autoconfig file");
                continue;
            };
            d.found = Found::Autoconfig { url: url.clone() };
            d.trusted = https;
            if !https {
                d.notes.push(
                    "found over plain HTTP: check the host names before giving a password".into(),
                );
            }
            return Some(d);
        }
        None
    }

    async fn mx(&self, domain: &str) -> Vec<String> {
        match self.resolver.mx_lookup(format!("{domain}.")).await {
            Ok(l) => {
                let mut v: Vec<(u16, String)> = l
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(m) => Some((m.preference, m.exchange.to_utf8())),
                        _ => None,
                    })
                    .collect();
                v.sort();
                v.into_iter().map(|(_, h)| h).collect()
            }
            Err(_) => Vec::new(),
        }
    }
}

fn encode_query(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The HTTP client of autoconfig fetches: names resolved under `policy`, at most 3
/// redirects, none to an address literal `policy` refuses.
fn http_client(policy: AddressPolicy) -> Result<reqwest::Client, NetError> {
    let tls = crate::tls_client_config(crate::TlsVerify::Platform)?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .dns_resolver(crate::http::PolicyResolver {
            policy,
            timeout: Duration::from_secs(5),
        })
        .redirect(crate::http::redirect_policy(policy, 3))
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("passeur/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| NetError::Discover(format!("cannot set up HTTP: {e}")))
}

/// Reads a Thunderbird autoconfig file (`clientConfig` version 1.1): its incoming and
/// outgoing servers, CalDAV/CardDAV URLs and the login. `None` when it is not one or names no
/// incoming server passeur can use. Never panics on input.
pub fn parse_autoconfig(xml: &str, address: &str) -> Option<Detected> {
    let (local, domain) = address.rsplit_once('@').unwrap_or((address, ""));
    let expand = |s: &str| {
        s.replace("%EMAILADDRESS%", address)
            .replace("%EMAILLOCALPART%", local)
            .replace("%EMAILDOMAIN%", domain)
    };
    #[derive(Default)]
    struct Srv {
        kind: String,
        host: String,
        port: String,
        socket: String,
        username: String,
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut cur: Option<(bool, Srv)> = None;
    let mut servers: Vec<(bool, Srv)> = Vec::new();
    let mut provider = None;
    let (mut caldav, mut carddav) = (None, None);
    let mut dav_kind = String::new();
    let mut saw_root = false;
    loop {
        match reader.read_event() {
            Ok(XmlEvent::Start(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let kind = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.local_name().as_ref() == b"type")
                    .map(|a| String::from_utf8_lossy(&a.value).to_ascii_lowercase())
                    .unwrap_or_default();
                match name.as_str() {
                    "clientConfig" => saw_root = true,
                    "incomingServer" | "outgoingServer" => {
                        cur = Some((
                            name == "incomingServer",
                            Srv {
                                kind,
                                ..Srv::default()
                            },
                        ));
                    }
                    "calendar" | "addressBook" => dav_kind = kind,
                    _ => {}
                }
                path.push(name);
            }
            Ok(XmlEvent::End(_)) => {
                if let Some(name) = path.pop()
                    && matches!(name.as_str(), "incomingServer" | "outgoingServer")
                    && let Some(s) = cur.take()
                {
                    servers.push(s);
                }
            }
            Ok(XmlEvent::Text(t)) => {
                let text = t.decode().map(|c| c.trim().to_owned()).unwrap_or_default();
                if text.is_empty() {
                    continue;
                }
                let leaf = path.last().map(String::as_str).unwrap_or("");
                let parent = path
                    .len()
                    .checked_sub(2)
                    .and_then(|i| path.get(i))
                    .map(String::as_str)
                    .unwrap_or("");
                if let Some((_, s)) = cur.as_mut() {
                    match leaf {
                        "hostname" => s.host = expand(&text),
                        "port" => s.port = text,
                        "socketType" => s.socket = text.to_ascii_uppercase(),
                        "username" => s.username = expand(&text),
                        _ => {}
                    }
                } else if leaf == "displayName" && parent == "emailProvider" {
                    provider.get_or_insert(text);
                } else if leaf == "url" && parent == "calendar" && dav_kind == "caldav" {
                    caldav.get_or_insert(expand(&text));
                } else if leaf == "url" && parent == "addressBook" && dav_kind == "carddav" {
                    carddav.get_or_insert(expand(&text));
                }
            }
            Ok(XmlEvent::Eof) => break,
            Err(_) => return None,
            Ok(_) => {}
        }
    }
    if !saw_root {
        return None;
    }
    let mut incoming = Vec::new();
    let mut smtp = Vec::new();
    for (is_in, s) in servers {
        let security = match s.socket.as_str() {
            "SSL" | "TLS" => Security::Tls,
            "STARTTLS" => Security::Starttls,
            "PLAIN" => Security::Plain,
            _ => continue,
        };
        let default_port = match (s.kind.as_str(), security) {
            ("imap", Security::Tls) => 993,
            ("imap", _) => 143,
            ("pop3", Security::Tls) => 995,
            ("pop3", _) => 110,
            ("smtp", Security::Tls) => 465,
            ("smtp", _) => 587,
            _ => continue,
        };
        if s.host.is_empty() || s.host.contains(['/', ' ', '@']) {
            continue;
        }
        let port = s.port.parse().unwrap_or(default_port);
        let server = Server {
            host: s.host.to_ascii_lowercase(),
            port,
            security,
            login: (!s.username.is_empty()).then(|| s.username.clone()),
        };
        match (is_in, s.kind.as_str()) {
            (true, "imap") | (true, "pop3") => {
                let p = if s.kind == "imap" {
                    MailProtocol::Imap
                } else {
                    MailProtocol::Pop3
                };
                incoming.push((p, server));
            }
            (false, "smtp") => smtp.push(server),
            _ => {}
        }
    }
    if incoming.is_empty() {
        return None;
    }
    sort_incoming(&mut incoming);
    Some(Detected {
        address: address.to_owned(),
        login: address.to_owned(),
        found: Found::Autoconfig { url: String::new() },
        trusted: false,
        provider,
        incoming,
        smtp,
        caldav,
        carddav,
        notes: Vec::new(),
        folders: BTreeMap::new(),
        limits: BTreeMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="example.test">
    <domain>example.test</domain>
    <displayName>Example Mail</displayName>
    <incomingServer type="pop3">
      <hostname>pop.example.test</hostname>
      <port>995</port>
      <socketType>SSL</socketType>
      <username>%EMAILLOCALPART%</username>
      <authentication>password-cleartext</authentication>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>mail.%EMAILDOMAIN%</hostname>
      <port>143</port>
      <socketType>STARTTLS</socketType>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>imap.example.test</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.example.test</hostname>
      <port>587</port>
      <socketType>STARTTLS</socketType>
    </outgoingServer>
  </emailProvider>
  <calendar type="caldav"><url>https://dav.example.test/cal/%EMAILADDRESS%/</url></calendar>
  <addressBook type="carddav"><url>https://dav.example.test/card/</url></addressBook>
</clientConfig>"#;

    #[test]
    fn autoconfig_files_are_read_and_encrypted_imap_comes_first() {
        let d = parse_autoconfig(SAMPLE, "alice@example.test").unwrap();
        assert_eq!(d.provider.as_deref(), Some("Example Mail"));
        let urls: Vec<String> = d
            .incoming
            .iter()
            .map(|(p, s)| s.url(*p, "x").unwrap())
            .collect();
        assert_eq!(
            urls,
            [
                "imaps://x@imap.example.test:993",
                "imap+starttls://x@mail.example.test:143",
                "pop3s://x@pop.example.test:995",
            ]
        );
        // Each server's own login.
        assert_eq!(
            d.url().unwrap(),
            "imaps://alice%40example.test@imap.example.test:993"
        );
        let pop = d
            .incoming
            .iter()
            .find(|(p, _)| *p == MailProtocol::Pop3)
            .unwrap();
        assert_eq!(d.login_for(&pop.1), "alice");
        assert_eq!(d.smtp[0].security, Security::Starttls);
        assert_eq!(
            d.caldav.as_deref(),
            Some("https://dav.example.test/cal/alice@example.test/")
        );
        assert_eq!(d.carddav.as_deref(), Some("https://dav.example.test/card/"));
    }

    #[test]
    fn a_plain_text_server_is_never_chosen_on_its_own() {
        let xml = r#"<clientConfig><emailProvider><incomingServer type="imap">
            <hostname>old.example.test</hostname><port>143</port><socketType>plain</socketType>
            </incomingServer></emailProvider></clientConfig>"#;
        let d = parse_autoconfig(xml, "bob@example.test").unwrap();
        let e = d.choose().unwrap_err().to_string();
        assert!(e.contains("only a plain-text server"), "{e}");
        assert!(
            e.contains("imap://bob%40example.test@old.example.test:143"),
            "{e}"
        );
    }

    #[test]
    fn what_is_not_an_autoconfig_file_gives_nothing() {
        for bad in [
            "",
            "<html><body>404</body></html>",
            "<clientConfig><emailProvider></emailProvider></clientConfig>",
            "<clientConfig><incomingServer type=\"imap\"><hostname>a b</hostname><socketType>SSL</socketType></incomingServer></clientConfig>",
            "<clientConfig><incomingServer type=\"imap\"><hostname>h</hostname>",
            "<<<>>>",
        ] {
            assert!(parse_autoconfig(bad, "a@b.c").is_none(), "{bad}");
        }
    }

    #[test]
    fn presets_cover_the_providers_and_match_by_domain_and_mx() {
        let presets = Presets::built_in();
        let ids: Vec<&str> = presets.all().iter().map(|p| p.id.as_str()).collect();
        for id in [
            "gmail",
            "microsoft",
            "yahoo",
            "icloud",
            "gmx",
            "webde",
            "fastmail",
            "zoho",
            "ovh-mxplan",
            "ovh-emailpro",
            "ovh-exchange",
            "orange",
            "free",
            "laposte",
        ] {
            assert!(ids.contains(&id), "no preset {id}");
        }
        for p in presets.all() {
            assert!(p.imap.is_some() || p.pop3.is_some(), "{}", p.id);
            for s in p.imap.iter().chain(&p.pop3).chain(&p.smtp) {
                assert_ne!(s.security, Security::Plain, "{}: a plain-text preset", p.id);
            }
        }
        assert_eq!(presets.for_domain("GMail.com").unwrap().id, "gmail");
        assert_eq!(presets.for_domain("laposte.net").unwrap().id, "laposte");
        assert!(presets.for_domain("example.org").is_none());
        assert_eq!(presets.for_mx("aspmx.l.google.com.").unwrap().id, "gmail");
        assert_eq!(
            presets
                .for_mx("contoso-com.mail.protection.outlook.com")
                .unwrap()
                .id,
            "microsoft"
        );
        assert_eq!(presets.for_mx("mx1.mail.ovh.net").unwrap().id, "ovh-mxplan");
        assert!(presets.for_mx("notgoogle.com").is_none());
        // An account URL's host names its provider: its folder names and limits apply.
        assert_eq!(presets.for_host("IMAP.gmail.com.").unwrap().id, "gmail");
        assert_eq!(presets.for_host("pop.gmail.com").unwrap().id, "gmail");
        assert_eq!(
            presets.for_host("outlook.office365.com").unwrap().id,
            "microsoft"
        );
        assert!(presets.for_host("imap.example.org").is_none());
        let (n, p) = presets
            .connection_cap(["imap.gmail.com", "imap.mail.yahoo.com"])
            .unwrap();
        assert_eq!((n, p.id.as_str()), (5, "yahoo"));
        assert_eq!(
            presets
                .connection_cap(["imap.gmail.com", "x.test"])
                .unwrap()
                .0,
            15
        );
        assert!(presets.connection_cap(["imap.gmx.net", "x.test"]).is_none());
        // An operator's presets come first; each value keeps its own.
        let own = Presets::with_json(
            r#"[{"id": "own", "name": "Own", "domains": ["gmail.com"],
                 "imap": {"host": "imap.own.test", "port": 993, "security": "tls"}}]"#,
        )
        .unwrap();
        assert_eq!(own.for_domain("gmail.com").unwrap().id, "own");
        assert_eq!(presets.for_domain("gmail.com").unwrap().id, "gmail");
        assert!(presets.for_host("imap.own.test").is_none());
        assert!(Presets::with_json("{").is_err());
        let d = Detected::from_preset(
            "a@free.fr",
            presets.for_domain("free.fr").unwrap(),
            Found::Preset { id: "free".into() },
        );
        assert_eq!(d.url().unwrap(), "imaps://a%40free.fr@imap.free.fr:993");
    }

    /// A one-thread HTTP server: `/ok` answers `SAMPLE`, `/redirect` sends to a private
    /// address literal. Returns its port and the paths it was asked for.
    fn http_server() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{BufRead, BufReader, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for mut c in l.incoming().flatten() {
                let mut line = String::new();
                let mut r = BufReader::new(c.try_clone().unwrap());
                r.read_line(&mut line).unwrap();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                        break;
                    }
                }
                let path = line.split(' ').nth(1).unwrap_or_default().to_string();
                log.lock().unwrap().push(path.clone());
                let answer = if path.starts_with("/ok") {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{SAMPLE}",
                        SAMPLE.len()
                    )
                } else {
                    "HTTP/1.1 302 Found\r\nLocation: http://10.255.255.1/ok\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
                };
                let _ = c.write_all(answer.as_bytes());
            }
        });
        (port, seen)
    }

    fn guarded(policy: AddressPolicy, template: String) -> Discoverer {
        let mut d = Discoverer::new(None, Presets::built_in())
            .unwrap()
            .with_address_policy(policy)
            .unwrap();
        d.ispdb = None;
        d.autoconfig = vec![template];
        d
    }

    #[tokio::test]
    async fn autoconfig_fetches_meet_the_address_policy() {
        let (port, seen) = http_server();
        let addr = "alice@example.test";
        // Allowed: loopback in a test set-up.
        let d = guarded(
            AddressPolicy::public_and_loopback(),
            format!("http://localhost:{port}/ok?{{domain}}"),
        );
        let found = d.autoconfig(addr, "example.test").await.expect("found");
        assert!(!found.trusted, "found over plain HTTP: a hint only");
        // A service for strangers: neither a name nor a literal that leads to loopback is
        // fetched.
        for url in [
            format!("http://localhost:{port}/ok?1"),
            format!("http://127.0.0.1:{port}/ok?2"),
        ] {
            let d = guarded(AddressPolicy::public_only(), url.clone());
            assert!(d.autoconfig(addr, "example.test").await.is_none(), "{url}");
        }
        // A redirect to a private address literal is not followed.
        let d = guarded(
            AddressPolicy::public_and_loopback(),
            format!("http://127.0.0.1:{port}/redirect"),
        );
        assert!(d.autoconfig(addr, "example.test").await.is_none());
        assert_eq!(
            *seen.lock().unwrap(),
            ["/ok?example.test", "/redirect"],
            "nothing else was asked for"
        );
    }
}
