//! [`SmtpConfig`]: where and how notifications are sent, read from an SMTP URL.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use lettre::Address;
use percent_encoding::percent_decode_str;
use zeroize::{Zeroize, Zeroizing};

use crate::NotifyError;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Security {
    /// `smtp://`: plain connection upgraded with STARTTLS, which is required: a server
    /// that does not offer it (or a man in the middle that strips it) fails the send.
    StartTls,
    /// `smtps://`: TLS from the first byte (port 465).
    ImplicitTls,
    /// `smtp://...?tls=none`: no encryption at all, for a local relay. A password is
    /// then refused unless the server is on the loopback interface.
    None,
}

/// The SMTP server notifications go through, and the sender address.
///
/// Read from a URL by [`SmtpConfig::from_url`]:
///
/// | URL | meaning | default port |
/// |---|---|---|
/// | `smtp://host` | STARTTLS, required | 587 |
/// | `smtps://host` | implicit TLS | 465 |
/// | `smtp://host?tls=none` | no TLS (local relay) | 25 |
///
/// `user:password@` (percent-encoded) turns on AUTH (PLAIN or LOGIN). Query options:
/// `tls=starttls|none`, `auth=xoauth2` or `auth=oauth2` (the password is an OAuth 2.0 access
/// token, sent with SASL OAUTHBEARER when the server offers it, else XOAUTH2), `ca_file=/path/ca.pem` (trust this CA besides the system's),
/// `accept_invalid_certs=true` (tests only: trust any certificate), `timeout=SECONDS`
/// (the whole send, connection included; default 30). Unknown options are refused, so that a
/// typo never silently weakens the connection.
///
/// The password is wiped from memory when the config is dropped and never printed: the
/// `Debug` form and [`SmtpConfig::redacted_url`] leave it out.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The SMTP server's host name or address.
    pub host: String,
    /// Its port (when the URL gives none: 587, 465 for `smtps://`, 25 without TLS).
    pub port: u16,
    /// How the connection is protected.
    pub security: Security,
    /// The login for SMTP AUTH, if any.
    pub user: Option<String>,
    password: Option<Zeroizing<String>>,
    /// The `From:` address (a bare address, or `Name <address>`).
    pub from: String,
    /// Extra trust anchor (PEM) besides the system's certificate store.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate. For tests against a throw-away server only.
    pub accept_invalid_certs: bool,
    /// Limit for one whole send, from connecting to the server's last reply.
    pub timeout: Duration,
    /// `auth=xoauth2` (or `oauth2`, `oauthbearer`): the password is an OAuth 2.0 access token,
    /// sent with SASL OAUTHBEARER when the server offers it, else XOAUTH2
    /// (Gmail, Microsoft 365) instead of PLAIN or LOGIN.
    pub oauth2: bool,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("ca_file", &self.ca_file)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn bad_url(reason: impl Into<String>) -> NotifyError {
    NotifyError::Config {
        reason: reason.into(),
    }
}

impl SmtpConfig {
    /// Reads `url` (see the type's documentation) and checks the sender address `from`.
    pub fn from_url(url: &str, from: &str) -> Result<SmtpConfig, NotifyError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| bad_url(format!("the SMTP URL is not a valid URL ({e})")))?;
        let result = Self::from_parsed(&parsed, from);
        // The parsed URL holds a copy of the password: wipe it too.
        let mut serialized: String = parsed.into();
        serialized.zeroize();
        result
    }

    fn from_parsed(url: &url::Url, from: &str) -> Result<SmtpConfig, NotifyError> {
        let implicit = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => {
                return Err(bad_url(format!(
                    "the SMTP URL scheme must be smtp or smtps, not {other:?}"
                )));
            }
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(bad_url("the SMTP URL names no host")),
        };
        if !matches!(url.path(), "" | "/") {
            return Err(bad_url("the SMTP URL must not have a path"));
        }
        let user = (!url.username().is_empty()).then(|| {
            percent_decode_str(url.username())
                .decode_utf8_lossy()
                .into_owned()
        });
        let password = url
            .password()
            .map(|p| Zeroizing::new(percent_decode_str(p).decode_utf8_lossy().into_owned()));
        if password.is_some() && user.is_none() {
            return Err(bad_url("the SMTP URL has a password but no user name"));
        }

        let mut security = if implicit {
            Security::ImplicitTls
        } else {
            Security::StartTls
        };
        let mut ca_file = None;
        let mut accept_invalid_certs = false;
        let mut timeout = Duration::from_secs(30);
        let mut oauth2 = false;
        for (key, value) in url.query_pairs() {
            match &*key {
                "auth" => {
                    oauth2 = match &*value {
                        "xoauth2" | "oauth2" | "oauthbearer" => true,
                        "password" => false,
                        _ => {
                            return Err(bad_url(format!(
                                "auth={value} is not valid (use auth=xoauth2 for an OAuth 2.0 token, or auth=password)"
                            )));
                        }
                    }
                }
                "tls" => {
                    security = match (&*value, implicit) {
                        ("starttls" | "required", false) => Security::StartTls,
                        ("none", false) => Security::None,
                        ("implicit", true) => Security::ImplicitTls,
                        _ => {
                            return Err(bad_url(format!(
                                "tls={value} is not valid with {}:// (use tls=starttls or \
                                 tls=none with smtp://, or smtps:// for implicit TLS)",
                                url.scheme()
                            )));
                        }
                    }
                }
                "ca_file" => ca_file = Some(PathBuf::from(&*value)),
                "accept_invalid_certs" => accept_invalid_certs = parse_bool(&key, &value)?,
                "timeout" => {
                    let secs: u64 = value.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        bad_url(format!("timeout={value} is not a number of seconds"))
                    })?;
                    timeout = Duration::from_secs(secs);
                }
                other => {
                    return Err(bad_url(format!("unknown SMTP URL option {other:?}")));
                }
            }
        }
        let port = url.port().unwrap_or(match security {
            Security::StartTls => 587,
            Security::ImplicitTls => 465,
            Security::None => 25,
        });
        let config = SmtpConfig {
            host,
            port,
            security,
            user,
            password,
            from: from.trim().to_owned(),
            ca_file,
            accept_invalid_certs,
            timeout,
            oauth2,
        };
        config.check()?;
        Ok(config)
    }

    /// Checks what can be checked before any connection: the sender address, and no
    /// password over an unencrypted connection to another machine.
    pub fn check(&self) -> Result<(), NotifyError> {
        self.sender_mailbox()?;
        if self.security == Security::None && self.password.is_some() && !self.is_loopback() {
            return Err(bad_url(
                "refusing to send an SMTP password unencrypted (tls=none) to a host other \
                 than this machine: use STARTTLS (smtp://) or implicit TLS (smtps://)",
            ));
        }
        Ok(())
    }

    /// Sets the password (for a config built from a URL without one, e.g. a password read
    /// from a file or an environment variable).
    pub fn set_password(&mut self, password: impl Into<String>) {
        self.password = Some(Zeroizing::new(password.into()));
    }

    /// Whether a password is set (it is never given back).
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    pub(crate) fn password(&self) -> Option<&str> {
        self.password.as_deref().map(String::as_str)
    }

    /// The URL without the password, for logs and error messages.
    pub fn redacted_url(&self) -> String {
        let scheme = match self.security {
            Security::ImplicitTls => "smtps",
            _ => "smtp",
        };
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let tls = if self.security == Security::None {
            "?tls=none"
        } else {
            ""
        };
        format!("{scheme}://{user}{host}:{}{tls}", self.port)
    }

    pub(crate) fn sender_mailbox(&self) -> Result<lettre::message::Mailbox, NotifyError> {
        self.from.parse().map_err(|_| NotifyError::BadAddress {
            address: self.from.clone(),
        })
    }

    pub(crate) fn sender_address(&self) -> Result<Address, NotifyError> {
        Ok(self.sender_mailbox()?.email)
    }

    fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, NotifyError> {
    match value {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(bad_url(format!("{key}={value} is not true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FROM: &str = "Passeur <noreply@example.org>";

    #[test]
    fn smtp_means_starttls_required_on_587() {
        let c = SmtpConfig::from_url("smtp://mail.example.org", FROM).unwrap();
        assert_eq!(c.security, Security::StartTls);
        assert_eq!(c.port, 587);
        assert_eq!(c.user, None);
        assert!(!c.has_password());
    }

    #[test]
    fn smtps_means_implicit_tls_on_465() {
        let c = SmtpConfig::from_url("smtps://u%40x:p%3Aw@mail.example.org", FROM).unwrap();
        assert_eq!(c.security, Security::ImplicitTls);
        assert_eq!(c.port, 465);
        assert_eq!(c.user.as_deref(), Some("u@x"));
        assert_eq!(c.password(), Some("p:w"));
    }

    #[test]
    fn options_are_read_and_unknown_ones_refused() {
        let c = SmtpConfig::from_url(
            "smtp://127.0.0.1:2525?tls=none&timeout=5&accept_invalid_certs=true&ca_file=/x.pem",
            FROM,
        )
        .unwrap();
        assert_eq!(c.security, Security::None);
        assert_eq!(c.port, 2525);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert!(c.accept_invalid_certs);
        assert_eq!(c.ca_file, Some(PathBuf::from("/x.pem")));
        let e = SmtpConfig::from_url("smtp://h?tsl=none", FROM).unwrap_err();
        assert!(e.to_string().contains("tsl"), "{e}");
        assert!(SmtpConfig::from_url("smtps://h?tls=none", FROM).is_err());
        assert!(SmtpConfig::from_url("http://h", FROM).is_err());
        assert!(SmtpConfig::from_url("smtp://h/path", FROM).is_err());
        assert!(SmtpConfig::from_url("smtp://h?timeout=0", FROM).is_err());
    }

    #[test]
    fn cleartext_password_only_to_loopback() {
        let e =
            SmtpConfig::from_url("smtp://u:hunter2@mail.example.org?tls=none", FROM).unwrap_err();
        assert!(!e.is_retryable());
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(SmtpConfig::from_url("smtp://u:hunter2@127.0.0.1:25?tls=none", FROM).is_ok());
        assert!(SmtpConfig::from_url("smtp://u:hunter2@localhost?tls=none", FROM).is_ok());
        // Without a password, a local relay in the clear is the operator's choice.
        assert!(SmtpConfig::from_url("smtp://relay.lan?tls=none", FROM).is_ok());
    }

    #[test]
    fn bad_sender_is_refused() {
        let e = SmtpConfig::from_url("smtp://h", "not an address").unwrap_err();
        assert!(matches!(e, NotifyError::BadAddress { .. }), "{e:?}");
    }

    #[test]
    fn password_never_printed() {
        let c = SmtpConfig::from_url("smtps://alice:S3cr%21t-pw@mail.example.org", FROM).unwrap();
        for shown in [format!("{c:?}"), format!("{c:#?}"), c.redacted_url()] {
            assert!(!shown.contains("S3cr"), "{shown}");
            assert!(shown.contains("alice"), "{shown}");
        }
        assert_eq!(c.redacted_url(), "smtps://alice@mail.example.org:465");
        let e = SmtpConfig::from_url("smtps://alice:S3cr%21t-pw@mail.example.org?x=1", FROM)
            .unwrap_err();
        assert!(!format!("{e} {e:?}").contains("S3cr"));
    }
}
