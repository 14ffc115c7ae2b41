//! OAuth 2.0 access tokens for passeur's logins (IMAP, POP3, SMTP with SASL OAUTHBEARER or
//! XOAUTH2; DAV with `Authorization: Bearer`).
//!
//! - [`Provider`]: a provider's endpoints, scopes and the client passeur is registered as.
//!   [`Provider::discover`] reads RFC 8414 metadata from an issuer URL.
//! - [`TokenFile`]: a file holding an access token alone, or the JSON passeur writes
//!   (`access_token`, `refresh_token`, `expires_at`, and where to renew it). Written mode 0600.
//! - [`device_login`]: the device authorization grant (RFC 8628): no browser on this machine.
//! - [`Pkce`], [`Provider::authorization_url`], [`Provider::exchange_code`]: the authorization
//!   code grant with PKCE (RFC 7636), for a "Sign in with ..." redirect.
//! - [`TokenSource`]: the token of one side of a run, shared by its connections. It renews the
//!   token shortly before it expires and when a server refuses it, once for all connections,
//!   and writes the renewed token back to its file.
//!
//! Tokens are [`Secret`]s: never printed, wiped when dropped.

#![warn(missing_docs)]

mod device;
mod error;
mod file;
mod http;
mod pkce;
mod source;

use passeur_types::Secret;
use url::Url;

pub use device::{DeviceAuthorization, device_login, poll_device, start_device};
pub use error::OAuthError;
pub use file::TokenFile;
pub use pkce::{Pkce, new_state};
pub use source::TokenSource;

/// An access token, with what renews it and when it expires.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Token {
    /// The token sent to the mail or DAV server (redacted when printed).
    pub access_token: Secret,
    /// What renews the access token when it expires, if the provider gave one.
    pub refresh_token: Option<Secret>,
    /// Unix seconds; `None` when unknown (the token is used until a server refuses it).
    pub expires_at: Option<u64>,
}

impl Token {
    /// A bare access token (nothing to renew it with).
    pub fn bearer(access_token: impl Into<String>) -> Token {
        Token {
            access_token: Secret::new(access_token),
            refresh_token: None,
            expires_at: None,
        }
    }

    /// True when the token expires within `margin` seconds from `now`.
    pub fn expires_within(&self, now: u64, margin: u64) -> bool {
        self.expires_at
            .is_some_and(|at| at <= now.saturating_add(margin))
    }
}

/// An OAuth 2.0 provider as passeur uses it: its endpoints, the scopes to ask for, and the
/// client passeur is registered as there (from the configuration, never built in).
#[derive(Clone, Debug)]
pub struct Provider {
    /// A short name for messages (`gmail`, `microsoft`, or the issuer's host).
    pub name: String,
    /// Where codes are exchanged and tokens renewed.
    pub token_endpoint: Url,
    /// The device authorization grant's endpoint (RFC 8628), for the command line.
    pub device_authorization_endpoint: Option<Url>,
    /// The authorization code grant's endpoint, for the service's sign-in pages.
    pub authorization_endpoint: Option<Url>,
    /// Where a token is revoked when the user signs out, if the provider has one.
    pub revocation_endpoint: Option<Url>,
    /// The scopes to ask for.
    pub scopes: Vec<String>,
    /// passeur's client ID at the provider (from the configuration).
    pub client_id: String,
    /// passeur's client secret there, for providers that want one.
    pub client_secret: Option<Secret>,
}

impl Provider {
    /// A provider from its endpoints as URLs (`https://`, or `http://` to loopback only).
    pub fn new(name: &str, token_endpoint: &str, client_id: &str) -> Result<Provider, OAuthError> {
        Ok(Provider {
            name: name.to_owned(),
            token_endpoint: endpoint(token_endpoint)?,
            device_authorization_endpoint: None,
            authorization_endpoint: None,
            revocation_endpoint: None,
            scopes: Vec::new(),
            client_id: client_id.to_owned(),
            client_secret: None,
        })
    }

    /// The provider of a preset of `presets` (`gmail`, `microsoft`, ...) that carries OAuth 2.0
    /// endpoints.
    pub fn from_preset(
        presets: &passeur_net::discover::Presets,
        id: &str,
        client_id: &str,
        client_secret: Option<Secret>,
    ) -> Result<Provider, OAuthError> {
        let preset = presets
            .by_id(id)
            .ok_or_else(|| OAuthError::Config(format!("no provider preset named {id:?}")))?;
        let o = preset.oauth2.as_ref().ok_or_else(|| {
            OAuthError::Config(format!(
                "the preset {id:?} ({}) has no OAuth 2.0 endpoints",
                preset.name
            ))
        })?;
        let opt = |u: &Option<String>| u.as_deref().map(endpoint).transpose();
        Ok(Provider {
            name: id.to_owned(),
            token_endpoint: endpoint(&o.token_endpoint)?,
            device_authorization_endpoint: opt(&o.device_authorization_endpoint)?,
            authorization_endpoint: opt(&o.authorization_endpoint)?,
            revocation_endpoint: opt(&o.revocation_endpoint)?,
            scopes: o.scopes.clone(),
            client_id: client_id.to_owned(),
            client_secret,
        })
    }

    /// A provider from an issuer's RFC 8414 metadata
    /// (`ISSUER/.well-known/oauth-authorization-server`).
    pub async fn discover(
        issuer: &str,
        client_id: &str,
        client_secret: Option<Secret>,
        scopes: Vec<String>,
    ) -> Result<Provider, OAuthError> {
        let base = endpoint(issuer)?;
        let mut meta = base.clone();
        let path = format!(
            "{}/.well-known/oauth-authorization-server",
            base.path().trim_end_matches('/')
        );
        meta.set_path(&path);
        let v = http::get_json(&meta).await?;
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        let token = field("token_endpoint")
            .ok_or_else(|| OAuthError::Config(format!("{meta} does not name a token_endpoint")))?;
        let opt = |k: &str| field(k).as_deref().map(endpoint).transpose();
        Ok(Provider {
            name: base.host_str().unwrap_or("provider").to_owned(),
            token_endpoint: endpoint(&token)?,
            device_authorization_endpoint: opt("device_authorization_endpoint")?,
            authorization_endpoint: opt("authorization_endpoint")?,
            revocation_endpoint: opt("revocation_endpoint")?,
            scopes,
            client_id: client_id.to_owned(),
            client_secret,
        })
    }

    /// Renews a token with its refresh token (RFC 6749 section 6). A new refresh token
    /// replaces the old one when the provider sends one.
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<Token, OAuthError> {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ];
        self.client_auth(&mut form);
        match http::post_form(&self.token_endpoint, &form).await? {
            Ok(t) => {
                let mut t = http::token_of(&t)?;
                if t.refresh_token.is_none() {
                    t.refresh_token = Some(refresh_token.clone());
                }
                Ok(t)
            }
            Err(e) => Err(OAuthError::Renew {
                provider: self.name.clone(),
                error: e.error,
                description: e.description,
            }),
        }
    }

    fn client_auth<'a>(&'a self, form: &mut Vec<(&'a str, &'a str)>) {
        form.push(("client_id", &self.client_id));
        if let Some(s) = &self.client_secret {
            form.push(("client_secret", s.expose()));
        }
    }
}

/// Parses an endpoint URL: `https://`, or `http://` to a loopback address (tests, a local
/// identity provider).
pub fn endpoint(s: &str) -> Result<Url, OAuthError> {
    let u =
        Url::parse(s.trim()).map_err(|e| OAuthError::Config(format!("{s:?} is not a URL: {e}")))?;
    let loopback = match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match u.scheme() {
        "https" => Ok(u),
        "http" if loopback => Ok(u),
        _ => Err(OAuthError::Config(format!(
            "the OAuth 2.0 endpoint {u} must be https:// (tokens never go in clear text)"
        ))),
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_https_or_loopback() {
        assert!(endpoint("https://oauth2.googleapis.com/token").is_ok());
        assert!(endpoint("http://127.0.0.1:8080/token").is_ok());
        assert!(endpoint("http://localhost/token").is_ok());
        let e = endpoint("http://example.org/token").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the OAuth 2.0 endpoint http://example.org/token must be https:// (tokens never go in clear text)"
        );
    }

    #[test]
    fn presets_carry_endpoints() {
        let g = Provider::from_preset(
            &passeur_net::discover::Presets::built_in(),
            "gmail",
            "id",
            None,
        )
        .unwrap();
        assert_eq!(
            g.token_endpoint.as_str(),
            "https://oauth2.googleapis.com/token"
        );
        assert!(g.scopes.iter().any(|s| s == "https://mail.google.com/"));
        let m = Provider::from_preset(
            &passeur_net::discover::Presets::built_in(),
            "microsoft",
            "id",
            None,
        )
        .unwrap();
        assert!(m.device_authorization_endpoint.is_some());
        assert!(m.scopes.iter().any(|s| s == "offline_access"));
        assert!(
            Provider::from_preset(
                &passeur_net::discover::Presets::built_in(),
                "free",
                "id",
                None
            )
            .is_err()
        );
    }

    #[test]
    fn expiry_margin() {
        let t = Token {
            expires_at: Some(1000),
            ..Token::bearer("x")
        };
        assert!(t.expires_within(950, 60));
        assert!(!t.expires_within(900, 60));
        assert!(!Token::bearer("x").expires_within(u64::MAX, 60));
    }
}
