//! Mail accounts: how to reach and log in to one side of a migration.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use passeur_oauth::TokenSource;

use passeur_imap::{Client, ConnectConfig};
use passeur_types::Endpoint;
use zeroize::Zeroizing;

use crate::{EngineError, Side};

/// When to ask for COMPRESS=DEFLATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compress {
    /// When the server offers it and the server is not on this machine (on loopback the
    /// compression costs more CPU than it saves).
    #[default]
    Auto,
    /// Whenever the server offers it, loopback included.
    Always,
    /// Never, even when the server offers it.
    Never,
}

/// One side of a mail migration, with its secret. The password is wiped from memory on drop and
/// never printed.
#[derive(Clone)]
pub struct MailAccount {
    /// Where the server is, how to connect and who logs in.
    pub endpoint: Endpoint,
    /// Log in as this admin on behalf of `endpoint.login` (SASL PLAIN authzid); the password is the admin's.
    pub admin: Option<String>,
    /// The password of the login (or of `admin`); wiped on drop, never printed.
    pub password: Zeroizing<String>,
    /// Accept any TLS certificate (test servers only).
    pub insecure_tls: bool,
    /// Whether to ask for COMPRESS=DEFLATE.
    pub compress: Compress,
    /// How long a read or a write may wait before the connection counts as dead.
    pub io_timeout: Duration,
    /// Which addresses the server may resolve to.
    pub address_policy: passeur_net::AddressPolicy,
    /// Log in over a clear-text connection (`imap://`) to a host other than loopback.
    pub allow_plaintext: bool,
    /// Log in with this OAuth 2.0 token (SASL OAUTHBEARER or XOAUTH2) instead of the password;
    /// shared by every connection of the run, renewed before it expires.
    pub oauth: Option<Arc<TokenSource>>,
    /// The provider presets: the one of the server's host names the special folders the
    /// server may not flag.
    pub presets: passeur_net::discover::Presets,
}

impl fmt::Debug for MailAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailAccount")
            .field("endpoint", &self.endpoint.to_url())
            .field("admin", &self.admin)
            .field("password", &"<redacted>")
            .field("oauth", &self.oauth.is_some())
            .finish()
    }
}

impl MailAccount {
    /// An account with this endpoint and password and the defaults: TLS verified, compression
    /// when useful, no admin, no clear-text login off loopback, every address allowed, the
    /// built-in presets.
    pub fn new(endpoint: Endpoint, password: String) -> MailAccount {
        MailAccount {
            endpoint,
            admin: None,
            password: Zeroizing::new(password),
            insecure_tls: false,
            compress: Compress::Auto,
            io_timeout: Duration::from_secs(120),
            address_policy: passeur_net::AddressPolicy::permissive(),
            allow_plaintext: false,
            oauth: None,
            presets: passeur_net::discover::Presets::built_in(),
        }
    }

    /// Logs in with `oauth` (when given) instead of the password.
    pub fn with_oauth(mut self, oauth: Option<Arc<TokenSource>>) -> MailAccount {
        if oauth.is_some() {
            self.oauth = oauth;
        }
        self
    }

    /// The OAuth 2.0 token source, refused together with an admin (delegation logs in with the
    /// admin's password).
    pub(crate) fn oauth_source(
        &self,
        side: Side,
    ) -> Result<Option<&Arc<TokenSource>>, EngineError> {
        match (&self.oauth, &self.admin) {
            (Some(_), Some(_)) => Err(EngineError::Config(format!(
                "{side}: an OAuth 2.0 token logs in as its own user: it cannot be combined with an admin"
            ))),
            (o, _) => Ok(o.as_ref()),
        }
    }

    /// Refuses a clear-text login to a host other than loopback unless allowed.
    pub(crate) fn check_plaintext(&self, side: Side) -> Result<(), EngineError> {
        if self.endpoint.security == passeur_types::Security::Plain
            && !self.is_loopback()
            && !self.allow_plaintext
        {
            let secure = match self.endpoint.protocol {
                passeur_types::Protocol::Pop3 => "pop3s:// or pop3+starttls://",
                _ => "imaps:// or imap+starttls://",
            };
            return Err(EngineError::Plaintext(format!(
                "{side}: cannot send the password in clear text to {}: use {secure}, or allow it with --allow-plaintext",
                self.endpoint.host
            )));
        }
        Ok(())
    }

    fn is_loopback(&self) -> bool {
        let h = self.endpoint.host.as_str();
        h == "localhost"
            || h.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// Connects and logs in, naming the side in any error.
    pub async fn connect(&self, side: Side) -> Result<Client, EngineError> {
        if self.endpoint.protocol == passeur_types::Protocol::Pop3 {
            return Err(EngineError::Config(format!(
                "{side}: {} is a POP3 account: it can only be the source of a POP3 pass",
                self.endpoint
            )));
        }
        self.check_plaintext(side)?;
        let cfg = ConnectConfig {
            host: self.endpoint.host.clone(),
            port: self.endpoint.port,
            security: self.endpoint.security,
            insecure_tls: self.insecure_tls,
            connect_timeout: Duration::from_secs(20),
            io_timeout: self.io_timeout,
            address_policy: self.address_policy,
        };
        let mut client = Client::connect(&cfg)
            .await
            .map_err(|e| EngineError::imap(side, "connect", e))?;
        if let Some(ts) = self.oauth_source(side)? {
            let login = self.endpoint.login.as_str();
            let token = ts
                .access_token()
                .await
                .map_err(|e| EngineError::oauth(side, e))?;
            match client.authenticate_oauth(login, token.expose()).await {
                Ok(()) => {}
                Err(passeur_imap::Error::Auth { text }) => {
                    // Expired or revoked early: renew once (for every connection) and retry.
                    tracing::info!(%side, reason = %text, "OAuth 2.0 token refused; renewing it");
                    let fresh = ts
                        .renew(&token)
                        .await
                        .map_err(|e| EngineError::oauth(side, e))?;
                    client
                        .authenticate_oauth(login, fresh.expose())
                        .await
                        .map_err(|e| EngineError::imap(side, "log in", e))?;
                }
                Err(e) => return Err(EngineError::imap(side, "log in", e)),
            }
        } else {
            let (authzid, authcid) = match &self.admin {
                Some(admin) => (Some(self.endpoint.login.as_str()), admin.as_str()),
                None => (None, self.endpoint.login.as_str()),
            };
            client
                .authenticate(authzid, authcid, &self.password)
                .await
                .map_err(|e| EngineError::imap(side, "log in", e))?;
        }
        let want = match self.compress {
            Compress::Always => true,
            Compress::Never => false,
            Compress::Auto => !self.is_loopback(),
        };
        if want && client.capabilities().compress_deflate() {
            client
                .compress()
                .await
                .map_err(|e| EngineError::imap(side, "enable compression", e))?;
        }
        Ok(client)
    }
}
