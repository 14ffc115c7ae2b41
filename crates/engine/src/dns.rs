//! DNS for RFC 6764 discovery: SRV and TXT look-ups with hickory-resolver, through the system's
//! resolver configuration, or through the one server the caller names (an operator's own
//! resolver, or a test server; the command line takes it from `PASSEUR_DNS=IP:PORT`).

use std::net::SocketAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use passeur_dav::srv::{DnsLookup, SrvRecord};

use crate::{ConfigError, EngineError};

/// A resolver for [`passeur_dav::srv`].
pub struct Dns {
    resolver: TokioResolver,
}

impl Dns {
    /// A resolver asking `server` only, or the system's configuration when `None`.
    pub fn new(server: Option<SocketAddr>) -> Result<Dns, EngineError> {
        let builder = match server {
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
            None => TokioResolver::builder_tokio().map_err(ConfigError::SystemDns)?,
        };
        let resolver = builder.build().map_err(ConfigError::DnsSetup)?;
        Ok(Dns { resolver })
    }
}

/// `name` as a fully qualified name, so that no search domain is appended.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

impl DnsLookup for Dns {
    async fn srv(&self, name: &str) -> Vec<SrvRecord> {
        match self.resolver.srv_lookup(fqdn(name)).await {
            Ok(l) => l
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::SRV(s) => Some(SrvRecord {
                        priority: s.priority,
                        weight: s.weight,
                        port: s.port,
                        target: s.target.to_utf8(),
                    }),
                    _ => None,
                })
                .collect(),
            Err(e) => {
                tracing::debug!(name, error = %e, "no SRV record");
                Vec::new()
            }
        }
    }

    async fn txt(&self, name: &str) -> Vec<String> {
        match self.resolver.txt_lookup(fqdn(name)).await {
            Ok(l) => l
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(t) => Some(
                        t.txt_data
                            .iter()
                            .map(|b| String::from_utf8_lossy(b).into_owned())
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect(),
            Err(e) => {
                tracing::debug!(name, error = %e, "no TXT record");
                Vec::new()
            }
        }
    }
}
