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
        /// The host as given.
        host: String,
        /// The address it resolved to.
        addr: IpAddr,
        /// Why the policy refuses that address.
        class: AddressClass,
    },
    /// The name did not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The name that did not resolve.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// The name does not exist, or has no address: no later attempt will find it (unlike a
    /// resolver that does not answer, which is [`NetError::Resolve`]).
    #[error("cannot find the server {host}: no such name (check the address)")]
    UnknownHost {
        /// The name as given.
        host: String,
    },
    /// No address accepted the connection.
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        /// The host as given.
        host: String,
        /// The port tried.
        port: u16,
        /// The last connection error.
        #[source]
        source: std::io::Error,
    },
    /// Resolving or connecting took longer than allowed.
    #[error("cannot connect to {host}:{port}: no answer within {secs} s")]
    Timeout {
        /// The host as given.
        host: String,
        /// The port tried.
        port: u16,
        /// The time allowed, in seconds.
        secs: u64,
    },
    /// Credentials would go to another origin than the one they were given for.
    #[error(
        "cannot send the credentials for {from} to {to}: another origin (refused to protect them)"
    )]
    CrossOrigin {
        /// The origin the credentials were given for.
        from: String,
        /// The other origin a redirect or an href pointed to.
        to: String,
    },
    /// A move from `https` down to `http`.
    #[error("cannot follow {from} to {to}: it leaves TLS for clear text")]
    Downgrade {
        /// The `https` URL.
        from: String,
        /// The `http` URL it pointed to.
        to: String,
    },
    /// A clear-text login to a host other than loopback, without `allow_plaintext`.
    #[error(
        "cannot log in to {host} over clear text: the password would cross the network unencrypted (use TLS, or allow clear text explicitly)"
    )]
    Plaintext {
        /// The host the password would have gone to.
        host: String,
    },
    /// The TLS configuration could not be built.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// Server detection from an address found nothing usable (the text says what and why).
    #[error("{0}")]
    Discover(String),
}

impl NetError {
    /// True when trying again later may succeed (network faults, time-outs, a resolver that
    /// failed); false for refusals by policy and names that do not exist, which will fail the
    /// same way.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            NetError::Connect { .. } | NetError::Timeout { .. } | NetError::Resolve { .. }
        )
    }
}
