//! The error type of this crate.

/// A failed DAV operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DavError {
    /// The configuration cannot work (bad URL, TLS setup).
    #[error("cannot set up the DAV client: {0}")]
    Config(String),
    /// The network or TLS failed, or the server did not answer in time.
    #[error("cannot reach {url}: {source}")]
    Transport {
        /// The URL that could not be reached.
        url: String,
        /// What the HTTP client reported.
        #[source]
        source: reqwest::Error,
    },
    /// The server refused the credentials (401) or the access (403).
    #[error("cannot log in to {url}: HTTP {status}")]
    Auth {
        /// The URL that refused.
        url: String,
        /// 401 or 403.
        status: u16,
    },
    /// The server answered with an unexpected HTTP status.
    #[error("cannot {op} {url}: HTTP {status} {body}")]
    Http {
        /// What was being done (`PROPFIND`, `PUT`, ...).
        op: &'static str,
        /// The URL of the request.
        url: String,
        /// The HTTP status the server answered.
        status: u16,
        /// A bounded excerpt of the server's answer.
        body: String,
    },
    /// The server's XML answer could not be read.
    #[error("cannot read the answer to {op} {url}: {reason}")]
    Xml {
        /// What was being done (`PROPFIND`, `REPORT`, ...).
        op: &'static str,
        /// The URL of the request.
        url: String,
        /// Why the XML could not be read.
        reason: String,
    },
    /// A sync-collection token the server no longer accepts: list everything instead.
    #[error("cannot sync {url}: the server rejected the sync token")]
    SyncTokenInvalid {
        /// The collection whose token was refused.
        url: String,
    },
    /// Discovery found no principal or home set.
    #[error("cannot discover DAV homes from {url}: {reason}")]
    Discovery {
        /// Where discovery started.
        url: String,
        /// What was missing.
        reason: String,
    },
    /// Refused by the network guard: credentials to another origin, `https` to `http`,
    /// clear text off loopback, or an address the policy does not reach.
    #[error(transparent)]
    Net(#[from] passeur_net::NetError),
    /// The OAuth 2.0 token could not be had or renewed (revoked, no refresh token, the
    /// provider unreachable): the message says what to do.
    #[error("{0}")]
    OAuth(String),
    /// The answer is larger than the configured limit; reading stopped there.
    #[error("cannot read the answer from {url}: larger than the limit of {limit} bytes")]
    TooLarge {
        /// The URL whose answer was too large.
        url: String,
        /// The limit in bytes that was reached.
        limit: usize,
    },
}

impl DavError {
    /// True when trying again later may succeed (network faults, time-outs, 5xx,
    /// 429); false when the same request will fail the same way.
    pub fn is_retryable(&self) -> bool {
        match self {
            DavError::Transport { .. } => true,
            DavError::Http { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            DavError::Net(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// The result of a DAV operation.
pub type Result<T> = std::result::Result<T, DavError>;
