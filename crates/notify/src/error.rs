//! [`NotifyError`]: why a notification could not be sent, and whether trying again later
//! may help.

/// Why a notification could not be sent. No variant ever holds the SMTP password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The SMTP URL or an option is wrong. Fatal.
    #[error("cannot use the SMTP settings: {reason}")]
    Config {
        /// What is wrong with the settings.
        reason: String,
    },
    /// The CA file given with `ca_file` cannot be read or holds no certificate. Fatal.
    #[error("cannot read the CA file {path}: {reason}")]
    CaFile {
        /// The CA file given.
        path: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The recipient or sender is not a valid e-mail address; refused before any
    /// connection. Fatal.
    #[error("cannot send to {address:?}: not a valid e-mail address")]
    BadAddress {
        /// The address as given.
        address: String,
    },
    /// The message could not be put together. Fatal.
    #[error("cannot build the notification message: {reason}")]
    Build {
        /// What lettre said.
        reason: String,
    },
    /// The server cannot be reached: connection refused or reset, time-out, name that does
    /// not resolve, connection closed. Retryable.
    #[error("cannot reach the SMTP server {server}: {reason}")]
    Unreachable {
        /// The server, as its URL without the password.
        server: String,
        /// What the connection said.
        reason: String,
    },
    /// The server answered with an error code: 4xx is temporary (retryable), 5xx is a
    /// permanent rejection (wrong password, unknown recipient, refused sender).
    #[error("cannot send the notification: the SMTP server {server} answered {code}: {reason}")]
    Rejected {
        /// The server, as its URL without the password.
        server: String,
        /// The SMTP reply code.
        code: u16,
        /// The server's words.
        reason: String,
    },
    /// TLS could not be set up: the server's certificate is not trusted, or it does not
    /// offer STARTTLS although it is required. Fatal (a setting to fix, not a hiccup).
    #[error("cannot set up a secure connection with the SMTP server {server}: {reason}")]
    Tls {
        /// The server, as its URL without the password.
        server: String,
        /// What TLS said.
        reason: String,
    },
    /// The OAuth 2.0 token could not be renewed (a revoked grant, an unknown client) or
    /// there is nothing to renew it with after the server refused it. Fatal until someone
    /// gives a new token.
    #[error("cannot log in to the SMTP server {server} with OAuth 2.0: {reason}")]
    OAuth {
        /// The server, as its URL without the password.
        server: String,
        /// Why (the provider's words, never the token).
        reason: String,
        /// The provider could not be reached: later may work.
        retryable: bool,
    },
    /// The server broke the protocol (an unreadable reply). Retryable.
    #[error("cannot understand the SMTP server {server}: {reason}")]
    Protocol {
        /// The server, as its URL without the password.
        server: String,
        /// What could not be understood.
        reason: String,
    },
}

impl NotifyError {
    /// Whether sending the same notification later may succeed: unreachable server,
    /// time-out, 4xx reply, garbled reply. A 5xx reply, a bad address, a bad setting or a
    /// TLS failure will fail the same way again.
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifyError::Unreachable { .. } | NotifyError::Protocol { .. } => true,
            NotifyError::Rejected { code, .. } => (400..500).contains(code),
            NotifyError::Config { .. }
            | NotifyError::CaFile { .. }
            | NotifyError::BadAddress { .. }
            | NotifyError::Build { .. }
            | NotifyError::Tls { .. } => false,
            NotifyError::OAuth { retryable, .. } => *retryable,
        }
    }

    /// Whether the server refused the login (535, or 534/530 some servers give for a token
    /// they no longer accept): a token may be renewed and tried again.
    pub(crate) fn is_auth_refused(&self) -> bool {
        matches!(
            self,
            NotifyError::Rejected {
                code: 530 | 534 | 535,
                ..
            }
        )
    }

    /// The SMTP reply code, when the server answered with an error.
    pub fn smtp_code(&self) -> Option<u16> {
        match self {
            NotifyError::Rejected { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Sorts one of lettre's SMTP errors. The text is lettre's (the server's reply, or
    /// the I/O error); lettre never puts credentials in it.
    pub(crate) fn from_smtp(server: &str, e: &lettre::transport::smtp::Error) -> NotifyError {
        let server = server.to_owned();
        let reason = chain(e);
        if let Some(code) = e.status() {
            return NotifyError::Rejected {
                server,
                code: u16::from(code),
                reason,
            };
        }
        if e.is_tls() || caused_by_tls(e) {
            return NotifyError::Tls { server, reason };
        }
        if e.is_client() {
            // lettre's own refusals: STARTTLS required but not offered, no common
            // AUTH mechanism. Both are settings to fix on one side or the other.
            return NotifyError::Tls { server, reason };
        }
        if e.is_response() {
            return NotifyError::Protocol { server, reason };
        }
        NotifyError::Unreachable { server, reason }
    }
}

/// Whether rustls refused the handshake (an untrusted or mismatched certificate, no
/// common protocol version): lettre reports these as connection errors.
fn caused_by_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(s) = source {
        if s.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// An error and its sources on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
