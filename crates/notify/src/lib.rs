//! passeur-notify: the e-mails passeur sends about a migration or a project, over SMTP.
//!
//! - [`SmtpConfig`]: the server, read from a URL (`smtp://` with STARTTLS required,
//!   `smtps://` with implicit TLS, `?tls=none` for a local relay), with optional AUTH and
//!   the sender address. The password is zeroized on drop and never printed.
//! - [`Notification`]: what happened (started, completed, failed, project created,
//!   project expiring), and [`Lang`]: French or English.
//! - [`templates`]: every text, one module per language.
//! - [`Notifier`]: renders and sends one notification; [`NotifyError::is_retryable`] tells
//!   a caller (the job queue) whether to try again later. With [`Notifier::with_oauth`] it
//!   logs in with an OAuth 2.0 token (XOAUTH2) that it renews before it expires and once
//!   after a refusal, as the IMAP side of a pass does.
//!
//! TLS is rustls with the *ring* provider, verified against the system's trust store
//! (rustls-platform-verifier) plus an optional CA file; no process-wide crypto provider is
//! installed.
//!
//! ```no_run
//! # async fn f() -> Result<(), passeur_notify::NotifyError> {
//! use passeur_notify::{Lang, Notification, Notifier, SmtpConfig};
//! let config = SmtpConfig::from_url(
//!     "smtps://passeur:secret@mail.example.org",
//!     "Passeur <noreply@example.org>",
//! )?;
//! let notifier = Notifier::new(config)?;
//! let started = Notification::Started {
//!     migration_id: "k3jq7m2xw4bd5nv6hc2a7pzf4e".into(),
//!     tracking_url: "https://passeur.example.org/m/k3jq7m2xw4bd5nv6hc2a7pzf4e".into(),
//!     source: "alice@imap.old.example".into(),
//!     destination: "alice@imap.new.example".into(),
//! };
//! notifier.send("alice@example.org", Lang::Fr, &started).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod config;
mod error;
mod notification;
pub mod templates;

use std::str::FromStr;
use std::sync::Arc;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, Tls, TlsParameters};
use lettre::transport::smtp::commands::Ehlo;
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncTransport, Tokio1Executor};
use passeur_oauth::TokenSource;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use zeroize::Zeroizing;

pub use config::{Security, SmtpConfig};
pub use error::NotifyError;
pub use notification::{
    KindCounts, Lang, MAX_FAILURE_LINE_CHARS, MAX_FAILURE_LINES, Notification, Side, UnknownLang,
};
pub use templates::{Rendered, WRAP, render};

/// Sends notifications through one SMTP server. Each [`Notifier::send`] opens its own
/// connection (notifications are few; a pooled connection would only go stale).
/// Cheap to clone; `Send + Sync`, so one can be shared by every worker.
#[derive(Clone)]
pub struct Notifier {
    config: SmtpConfig,
    tls: Tls,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// The OAuth 2.0 token AUTH OAUTHBEARER (or XOAUTH2) sends, renewed before it expires and
    /// once after the server refused it ([`Notifier::with_oauth`]).
    oauth: Option<Arc<TokenSource>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// Checks the config and reads the CA file; connects to nothing yet.
    pub fn new(config: SmtpConfig) -> Result<Notifier, NotifyError> {
        config.check()?;
        let tls = match config.security {
            Security::None => Tls::None,
            Security::StartTls => Tls::Required(tls_parameters(&config)?),
            Security::ImplicitTls => Tls::Wrapper(tls_parameters(&config)?),
        };
        let transport = transport(&config, &tls, config.password().unwrap_or_default());
        Ok(Notifier {
            transport,
            tls,
            config,
            oauth: None,
        })
    }

    /// Logs in with the OAuth 2.0 token of `source`, as the IMAP side of a pass does: SASL
    /// OAUTHBEARER (RFC 7628) when the server offers it, else XOAUTH2; renewed before it
    /// expires, and once when the server refuses it; a renewal that fails (a revoked grant) is
    /// a permanent failure saying so. Needs a login in the URL and `auth=xoauth2`.
    pub fn with_oauth(mut self, source: Arc<TokenSource>) -> Result<Notifier, NotifyError> {
        if self.config.user.is_none() || !self.config.oauth2 {
            return Err(NotifyError::Config {
                reason: "an OAuth 2.0 token needs a login in the SMTP URL and auth=xoauth2".into(),
            });
        }
        self.oauth = Some(source);
        Ok(self)
    }

    /// The SMTP settings it sends with.
    pub fn config(&self) -> &SmtpConfig {
        &self.config
    }

    /// Renders `notification` in `lang` and sends it to `to` (a bare address). A bad
    /// address is refused before any connection.
    pub async fn send(
        &self,
        to: &str,
        lang: Lang,
        notification: &Notification,
    ) -> Result<(), NotifyError> {
        let message = self.message(to, lang, notification)?;
        let sent = match (&self.oauth, self.config.oauth2) {
            (Some(source), _) => self.send_oauth(source, message).await,
            // A token given in the URL, never renewed.
            (None, true) => {
                let token = self.config.password().unwrap_or_default();
                self.send_token(token, &message).await
            }
            (None, false) => self.send_with(&self.transport, message).await,
        };
        match &sent {
            Ok(()) => tracing::info!(kind = notification.kind(), %lang, "notification sent"),
            Err(err) => tracing::warn!(
                kind = notification.kind(),
                retryable = err.is_retryable(),
                error = %err,
                "cannot send notification"
            ),
        }
        sent
    }

    /// Sends with the token of `source`; when the server refuses it at AUTH, renews it (unless
    /// another send already did) and tries once more.
    async fn send_oauth(&self, source: &TokenSource, message: Message) -> Result<(), NotifyError> {
        let server = self.config.redacted_url();
        let oauth_err = |e: passeur_oauth::OAuthError| NotifyError::OAuth {
            server: server.clone(),
            retryable: matches!(e, passeur_oauth::OAuthError::Http { .. }),
            reason: e.to_string(),
        };
        let token = source.access_token().await.map_err(oauth_err)?;
        match self.send_token(token.expose(), &message).await {
            Err(e) if e.is_auth_refused() => {
                let renewed = source.renew(&token).await.map_err(oauth_err)?;
                tracing::info!(
                    "SMTP refused the OAuth 2.0 token: sending again with a renewed one"
                );
                self.send_token(renewed.expose(), &message).await
            }
            other => other,
        }
    }

    /// One connection that logs in with `token` and sends `message`: AUTH OAUTHBEARER when the
    /// server's EHLO offers it (the standard, RFC 7628), else XOAUTH2. lettre knows only
    /// XOAUTH2, so the connection is driven here, command by command.
    async fn send_token(&self, token: &str, message: &Message) -> Result<(), NotifyError> {
        let server = self.config.redacted_url();
        let err = |e: lettre::transport::smtp::Error| NotifyError::from_smtp(&server, &e);
        let c = &self.config;
        let session = async {
            let hello = ClientId::default();
            let wrapper = match &self.tls {
                Tls::Wrapper(p) => Some(p.clone()),
                _ => None,
            };
            let mut conn = AsyncSmtpConnection::connect_tokio1(
                (c.host.as_str(), c.port),
                Some(c.timeout),
                &hello,
                wrapper,
                None,
            )
            .await
            .map_err(err)?;
            if let Tls::Required(p) = &self.tls {
                conn.starttls(p.clone(), &hello).await.map_err(err)?;
            }
            // lettre's view of the server drops the mechanisms it does not know: ask again.
            let ehlo = conn.command(Ehlo::new(hello)).await.map_err(err)?;
            let user = c.user.as_deref().unwrap_or_default();
            if offers_auth(ehlo.message(), "OAUTHBEARER") {
                use base64::Engine as _;
                let b64 = base64::engine::general_purpose::STANDARD;
                let ir = Zeroizing::new(b64.encode(passeur_types::sasl::oauthbearer(user, token)));
                let line = Zeroizing::new(format!("AUTH OAUTHBEARER {}\r\n", ir.as_str()));
                let said = conn.command(line.as_str()).await.map_err(err)?;
                if said.has_code(334) {
                    // The refusal comes as a challenge (an error in JSON): end the exchange
                    // with ^A, and the server answers 535.
                    let why = said
                        .first_line()
                        .and_then(|l| b64.decode(l.trim()).ok())
                        .and_then(|j| passeur_types::sasl::oauth_error(&j));
                    let end = conn.command("AQ==\r\n").await;
                    return Err(NotifyError::Rejected {
                        server: server.clone(),
                        code: end.as_ref().map_or(535, |r| u16::from(r.code())),
                        reason: format!(
                            "the server refused the OAuth 2.0 token{}",
                            why.map(|w| format!(": {w}")).unwrap_or_default()
                        ),
                    });
                }
            } else {
                let creds = Credentials::new(user.to_owned(), token.to_owned());
                conn.auth(&[Mechanism::Xoauth2], &creds)
                    .await
                    .map_err(err)?;
            }
            conn.send(message.envelope(), &message.formatted())
                .await
                .map_err(err)?;
            let _ = conn.quit().await;
            Ok(())
        };
        self.bounded(session).await
    }

    /// `send` within the config's timeout: lettre bounds the connection only, and a server
    /// that accepts and then falls silent must not hold a worker forever.
    async fn bounded(
        &self,
        send: impl std::future::Future<Output = Result<(), NotifyError>>,
    ) -> Result<(), NotifyError> {
        tokio::time::timeout(self.config.timeout, send)
            .await
            .unwrap_or_else(|_| {
                Err(NotifyError::Unreachable {
                    server: self.config.redacted_url(),
                    reason: format!(
                        "no complete answer within {} s",
                        self.config.timeout.as_secs()
                    ),
                })
            })
    }

    async fn send_with(
        &self,
        transport: &AsyncSmtpTransport<Tokio1Executor>,
        message: Message,
    ) -> Result<(), NotifyError> {
        let server = self.config.redacted_url();
        self.bounded(async {
            transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| NotifyError::from_smtp(&server, &e))
        })
        .await
    }

    /// The message [`Notifier::send`] would send, as bytes (for previews and tests).
    pub fn render_message(
        &self,
        to: &str,
        lang: Lang,
        notification: &Notification,
    ) -> Result<Vec<u8>, NotifyError> {
        Ok(self.message(to, lang, notification)?.formatted())
    }

    fn message(
        &self,
        to: &str,
        lang: Lang,
        notification: &Notification,
    ) -> Result<Message, NotifyError> {
        let to = parse_recipient(to)?;
        let from = self.config.sender_mailbox()?;
        let domain = self.config.sender_address()?.domain().to_owned();
        let Rendered { subject, body } = render(lang, notification);
        let raw = |name: &'static str, value: &str| {
            HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_owned())
        };
        Message::builder()
            .message_id(Some(format!(
                "<{:032x}.{}@{domain}>",
                rand::random::<u128>(),
                notification.kind()
            )))
            .from(from)
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .raw_header(raw("Content-Language", lang.tag()))
            .raw_header(raw("Auto-Submitted", "auto-generated"))
            .raw_header(raw("X-Auto-Response-Suppress", "All"))
            .body(body)
            .map_err(|e| NotifyError::Build {
                reason: e.to_string(),
            })
    }
}

/// The transport to `config`'s server, logging in (when the config has a login) with its
/// password (PLAIN or LOGIN). OAuth 2.0 logins go through [`Notifier::send_token`].
fn transport(config: &SmtpConfig, tls: &Tls, secret: &str) -> AsyncSmtpTransport<Tokio1Executor> {
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
        .port(config.port)
        .tls(tls.clone())
        .timeout(Some(config.timeout));
    if let Some(user) = &config.user {
        builder = builder.credentials(Credentials::new(user.clone(), secret.to_owned()));
    }
    builder.build()
}

/// Whether an EHLO answer's `AUTH` line offers `mechanism`.
fn offers_auth<'a>(mut lines: impl Iterator<Item = &'a str>, mechanism: &str) -> bool {
    lines.any(|l| {
        let l = l.trim().to_ascii_uppercase();
        l.strip_prefix("AUTH")
            .filter(|rest| rest.starts_with([' ', '=']))
            .is_some_and(|rest| rest[1..].split_whitespace().any(|m| m == mechanism))
    })
}

/// A bare address (`alice@example.org`), nothing around it.
fn parse_recipient(to: &str) -> Result<Mailbox, NotifyError> {
    let bad = || NotifyError::BadAddress {
        address: to.chars().take(320).collect(),
    };
    if to.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad());
    }
    let address = Address::from_str(to).map_err(|_| bad())?;
    Ok(Mailbox::new(None, address))
}

fn tls_parameters(config: &SmtpConfig) -> Result<TlsParameters, NotifyError> {
    let mut builder = TlsParameters::builder(config.host.clone())
        .dangerous_accept_invalid_certs(config.accept_invalid_certs);
    if let Some(path) = &config.ca_file {
        let ca_err = |reason: String| NotifyError::CaFile {
            path: path.display().to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
        // lettre takes a PEM file with no certificate in it as an empty list: say so.
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            cert.map_err(|e| ca_err(format!("not a PEM certificate ({e})")))?;
            found += 1;
        }
        if found == 0 {
            return Err(ca_err("no PEM certificate in it".to_owned()));
        }
        let cert = Certificate::from_pem(&pem).map_err(|e| ca_err(e.to_string()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build_rustls().map_err(|e| NotifyError::Tls {
        server: config.redacted_url(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notifier() -> Notifier {
        Notifier::new(
            SmtpConfig::from_url(
                "smtp://127.0.0.1:1?tls=none",
                "Passeur <noreply@example.org>",
            )
            .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_notifier_can_be_shared_by_workers() {
        fn shared<T: Send + Sync + Clone + 'static>() {}
        shared::<Notifier>();
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_a_setting_error() {
        let dir = std::env::temp_dir().join(format!("passeur-notify-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        for path in [dir.join("missing.pem"), empty] {
            let mut c = SmtpConfig::from_url("smtps://h.example", "a@b.example").unwrap();
            c.ca_file = Some(path.clone());
            let e = Notifier::new(c).unwrap_err();
            assert!(matches!(e, NotifyError::CaFile { .. }), "{path:?}: {e:?}");
            assert!(!e.is_retryable());
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_recipients_are_refused() {
        for to in [
            "",
            "alice",
            "alice@",
            "@example.org",
            "alice@example.org\r\nBcc: x@example.org",
            "Alice <alice@example.org>",
            "a b@example.org",
        ] {
            let e = parse_recipient(to).unwrap_err();
            assert!(matches!(e, NotifyError::BadAddress { .. }), "{to:?}: {e:?}");
            assert!(!e.is_retryable());
        }
        assert!(parse_recipient("alice+tag@mail.example.org").is_ok());
        assert!(parse_recipient("user1@localhost").is_ok());
    }

    #[test]
    fn message_has_the_headers_a_robot_mail_needs() {
        let n = Notification::ProjectCreated {
            project_id: "p1".into(),
            url: "https://x.example/p/p1".into(),
        };
        let raw = notifier()
            .render_message("bob@example.org", Lang::Fr, &n)
            .unwrap();
        let text = String::from_utf8_lossy(&raw);
        for h in [
            "Auto-Submitted: auto-generated\r\n",
            "Content-Language: fr\r\n",
            "From: Passeur <noreply@example.org>\r\n",
            "To: bob@example.org\r\n",
            "Content-Type: text/plain; charset=utf-8\r\n",
            "@example.org>\r\n",
            "Date: ",
            "Subject: Votre projet de migration p1 est =?utf-8?",
        ] {
            assert!(text.contains(h), "{h:?} missing in\n{text}");
        }
    }
}
