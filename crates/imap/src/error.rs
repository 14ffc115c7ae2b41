//! The client's error type.

use std::io;

/// Why an IMAP operation failed.
///
/// [`Error::is_retryable`] tells whether trying again on a new connection
/// may help (dropped connection, timeout) or not (bad password, NO/BAD).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No TCP connection could be made.
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        /// The host as given.
        host: String,
        /// The port tried.
        port: u16,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The host cannot be reached under the address policy, or its name does not resolve.
    #[error("{0}")]
    Refused(String),
    /// The server's name does not exist or has no address: trying again will not find it.
    #[error("cannot find the server {host}: no such name (check the address)")]
    UnknownHost {
        /// The name as given.
        host: String,
    },
    /// The TLS handshake failed (an untrusted certificate, no common protocol).
    #[error("cannot establish TLS with {host}: {reason}")]
    Tls {
        /// The host as given.
        host: String,
        /// What the TLS library reported.
        reason: String,
    },
    /// The server refused the login.
    #[error("cannot log in: the server said {text:?}")]
    Auth {
        /// The server's words.
        text: String,
    },
    /// The server answered NO to a command.
    #[error("cannot {command}: the server said NO{}: {text}", code.as_ref().map(|c| format!(" [{c}]")).unwrap_or_default())]
    No {
        /// The command that was refused, as the message names it.
        command: String,
        /// The response code, if any (`OVERQUOTA`, `TRYCREATE`, ...).
        code: Option<String>,
        /// The server's words.
        text: String,
    },
    /// The server answered BAD: it did not understand the command.
    #[error("cannot {command}: the server said BAD: {text}")]
    Bad {
        /// The command that was not understood, as the message names it.
        command: String,
        /// The server's words.
        text: String,
    },
    /// The server sent something that is not IMAP.
    #[error("cannot understand the server's response ({reason}): {excerpt:?}")]
    Protocol {
        /// What is wrong with it.
        reason: String,
        /// A short excerpt of what was received.
        excerpt: String,
    },
    /// The server did not answer within the I/O time limit.
    #[error("cannot {what}: no answer from the server in time")]
    Timeout {
        /// What was waited for.
        what: String,
    },
    /// A plain connection got no greeting at all: the port most likely expects TLS from the
    /// first byte (a TLS server waits for the client's hello and says nothing).
    #[error(
        "cannot read the server's greeting on {host}:{port}: nothing arrived in {secs} s; the port may expect TLS from the start (use imaps://)"
    )]
    NoGreeting {
        /// The host as given.
        host: String,
        /// The port.
        port: u16,
        /// How long passeur waited, in seconds.
        secs: u64,
    },
    /// The server closed the connection (BYE, or end of stream).
    #[error("cannot continue: the connection was closed{}", reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Closed {
        /// The BYE text, when the server gave one.
        reason: Option<String>,
    },
    /// Reading from or writing to the connection failed.
    #[error("cannot read from or write to the server: {0}")]
    Io(#[from] io::Error),
    /// A response's literals add up to more than the client accepts in one response
    /// ([`crate::Client::set_max_response_literals`]). The connection is unusable after it. A
    /// message this large is meant to be streamed ([`crate::Client::open_body`]).
    #[error(
        "cannot accept a server response whose literals add up to {size} bytes or more (the limit is {limit})"
    )]
    ResponseTooLarge {
        /// The literals' total so far, in bytes.
        size: u64,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The server lacks an extension the operation needs.
    #[error("cannot {0}: the server does not support it")]
    Unsupported(String),
    /// The client is not in a state where the operation makes sense (a bug of the caller).
    #[error("cannot {0}: wrong client state")]
    State(String),
}

impl Error {
    /// True when a new attempt (usually on a new connection) may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Closed { .. } | Error::Timeout { .. } | Error::Io(_) => true,
            // Usually a TLS port reached with imap://, but a server that is merely slow to greet
            // looks the same.
            Error::Connect { .. } | Error::NoGreeting { .. } => true,
            Error::Tls { .. }
            | Error::Refused(_)
            | Error::UnknownHost { .. }
            | Error::Auth { .. }
            | Error::No { .. }
            | Error::Bad { .. }
            | Error::Protocol { .. }
            | Error::ResponseTooLarge { .. }
            | Error::Unsupported(_)
            | Error::State(_) => false,
        }
    }

    /// The response code of a NO (e.g. `OVERQUOTA`, `ALREADYEXISTS`), if any.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::No { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn protocol(reason: impl Into<String>, excerpt: &[u8]) -> Error {
        let cut = &excerpt[..excerpt.len().min(120)];
        Error::Protocol {
            reason: reason.into(),
            excerpt: String::from_utf8_lossy(cut).into_owned(),
        }
    }
}
