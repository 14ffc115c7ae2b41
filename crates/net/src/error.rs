//! The error type of this crate.

use std::net::IpAddr;

use crate::addr::AddressClass;

/// A refused or failed connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The host resolves only to addresses the [`crate::AddressPolicy`] refuses.
    #[error(
        "cannot connect to {host}: its address {addr} is {class}, which this service does not reach"
    )]
    AddressRefused {
        host: String,
        addr: IpAddr,
        class: AddressClass,
    },
    /// The name did not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    /// No address accepted the connection.
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    /// Resolving or connecting took longer than allowed.
    #[error("cannot connect to {host}:{port}: no answer within {secs} s")]
    Timeout { host: String, port: u16, secs: u64 },
    /// Credentials would go to another origin than the one they were given for.
    #[error(
        "cannot send the credentials for {from} to {to}: another origin (refused to protect them)"
    )]
    CrossOrigin { from: String, to: String },
    /// A move from `https` down to `http`.
    #[error("cannot follow {from} to {to}: it leaves TLS for clear text")]
    Downgrade { from: String, to: String },
    /// A clear-text login to a host other than loopback, without `allow_plaintext`.
    #[error(
        "cannot log in to {host} over clear text: the password would cross the network unencrypted (use TLS, or allow clear text explicitly)"
    )]
    Plaintext { host: String },
    /// The TLS configuration could not be built.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// Server detection from an address found nothing usable (the text says what and why).
    #[error("{0}")]
    Discover(String),
}

impl NetError {
    /// True when trying again later may succeed (network faults, time-outs); false for
    /// refusals by policy, which will refuse the same way.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            NetError::Connect { .. } | NetError::Timeout { .. } | NetError::Resolve { .. }
        )
    }
}
