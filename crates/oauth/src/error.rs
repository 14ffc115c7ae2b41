//! The error type of this crate.

/// An OAuth 2.0 step that failed. Never carries a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// A setting is missing or wrong.
    #[error("{0}")]
    Config(String),
    /// The endpoint could not be reached or answered something that is not OAuth 2.0.
    #[error("cannot reach {url}: {reason}")]
    Http {
        /// The endpoint.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The provider refused a request (RFC 6749 section 5.2 error).
    #[error("{provider} refused: {error}{}", description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// The provider's name.
        provider: String,
        /// The OAuth 2.0 error code (`invalid_client`, `invalid_scope`, ...).
        error: String,
        /// The provider's explanation, when it gave one.
        description: Option<String>,
    },
    /// Renewing the token failed: revoked, expired refresh token, changed password...
    #[error(
        "cannot renew the OAuth 2.0 token: {provider} said {error}{}; sign in again (on the command line: passeur oauth login) and re-run: what was copied stays recorded",
        description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default()
    )]
    Renew {
        /// The provider's name.
        provider: String,
        /// The OAuth 2.0 error code (`invalid_grant`, ...).
        error: String,
        /// The provider's explanation, when it gave one.
        description: Option<String>,
    },
    /// The token was refused and there is nothing to renew it with.
    #[error(
        "the OAuth 2.0 token was refused and cannot be renewed (no refresh token): sign in again (on the command line: passeur oauth login)"
    )]
    NoRefresh,
    /// The user declined the device login.
    #[error("the login was declined at {provider}")]
    Denied {
        /// The provider's name.
        provider: String,
    },
    /// The device code expired before the user approved it.
    #[error("the login code expired before it was approved: run passeur oauth login again")]
    Expired,
    /// A token file could not be read or written.
    #[error("cannot {action} the token file {path}: {reason}")]
    File {
        /// `read` or `write`.
        action: &'static str,
        /// The file's path.
        path: String,
        /// What went wrong.
        reason: String,
    },
}
