//! The client's error type.

use std::io;

/// Why a POP3 operation failed.
///
/// [`Error::is_retryable`] tells whether trying again on a new connection may help (dropped
/// connection, time-out) or not (wrong password, refusal, garbage from the server).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No connection could be made.
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        /// The host given.
        host: String,
        /// The port given.
        port: u16,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The host may not be reached under the address policy.
    #[error("{0}")]
    Refused(String),
    /// The server's name does not exist or has no address: trying again will not find it.
    #[error("cannot find the server {host}: no such name (check the address)")]
    UnknownHost {
        /// The name as given.
        host: String,
    },
    /// The TLS handshake failed (an untrusted certificate, no common protocol...).
    #[error("cannot establish TLS with {host}: {reason}")]
    Tls {
        /// The host given.
        host: String,
        /// What TLS said.
        reason: String,
    },
    /// The login was refused.
    #[error("cannot log in: the server said {text:?}")]
    Auth {
        /// The server's words.
        text: String,
    },
    /// A command was answered `-ERR`.
    #[error("cannot {command}: the server said -ERR: {text}")]
    Server {
        /// What the command was for.
        command: String,
        /// The server's words.
        text: String,
    },
    /// The server's answer breaks the protocol.
    #[error("cannot understand the server's response ({reason}): {excerpt:?}")]
    Protocol {
        /// What is wrong with it.
        reason: String,
        /// The start of the offending answer.
        excerpt: String,
    },
    /// No answer within the I/O time-out.
    #[error("cannot {what}: no answer from the server in time")]
    Timeout {
        /// What was waited for.
        what: String,
    },
    /// The server closed the connection.
    #[error("cannot continue: the connection was closed{}", reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Closed {
        /// What it said before closing, if anything.
        reason: Option<String>,
    },
    /// Reading or writing the connection failed.
    #[error("cannot read from or write to the server: {0}")]
    Io(#[from] io::Error),
    /// The server lacks what the operation needs (UIDL, STLS, a SASL mechanism).
    #[error("cannot {0}: the server does not support it")]
    Unsupported(String),
    /// A command was used out of order (before login, during a RETR).
    #[error("cannot {0}: wrong client state")]
    State(String),
}

impl Error {
    /// True when a new attempt (on a new connection) may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Closed { .. } | Error::Timeout { .. } | Error::Io(_) | Error::Connect { .. } => {
                true
            }
            // A server answering `[IN-USE]` (RFC 2449) or `[SYS/TEMP]` (RFC 3206) says so.
            Error::Auth { text } | Error::Server { text, .. } => {
                text.starts_with("[IN-USE]") || text.starts_with("[SYS/TEMP]")
            }
            Error::Tls { .. }
            | Error::Refused(_)
            | Error::UnknownHost { .. }
            | Error::Protocol { .. }
            | Error::Unsupported(_)
            | Error::State(_) => false,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_password_is_fatal_and_a_drop_is_retryable() {
        assert!(
            !Error::Auth {
                text: "[AUTH] Authentication failed.".into()
            }
            .is_retryable()
        );
        assert!(
            Error::Auth {
                text: "[IN-USE] Mailbox locked".into()
            }
            .is_retryable()
        );
        assert!(Error::Closed { reason: None }.is_retryable());
        assert!(
            Error::Timeout {
                what: "read".into()
            }
            .is_retryable()
        );
        assert!(!Error::protocol("garbage", b"xyz").is_retryable());
    }
}
