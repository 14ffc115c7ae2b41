//! Connection life cycle: greeting, STARTTLS, authentication, COMPRESS,
//! ENABLE, NOOP, LOGOUT.

use std::collections::HashMap;

use base64::Engine as _;
use passeur_types::Security;
use zeroize::Zeroizing;

use super::{Client, ConnectConfig, Quirks, Sent, check};
use crate::Error;
use crate::caps::Capabilities;
use crate::command::Command;
use crate::conn::{Conn, connector};
use crate::proto::frame::Framer;
use crate::proto::response::{Response, Status, Tagged, Untagged};

/// How long a plain connection waits for the greeting before concluding the port speaks TLS.
const PLAIN_GREETING_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl Client {
    /// Connects, reads the greeting, upgrades with STARTTLS when asked and
    /// learns the capabilities.
    pub async fn connect(cfg: &ConnectConfig) -> Result<Client, Error> {
        let tcp = passeur_net::connect(
            &cfg.host,
            cfg.port,
            &cfg.address_policy,
            cfg.connect_timeout,
        )
        .await
        .map_err(|e| match e {
            passeur_net::NetError::Connect { host, port, source } => {
                Error::Connect { host, port, source }
            }
            passeur_net::NetError::Timeout { host, port, .. } => Error::Timeout {
                what: format!("connect to {host}:{port}"),
            },
            passeur_net::NetError::Resolve { host, reason } => Error::Connect {
                host,
                port: cfg.port,
                source: std::io::Error::other(format!("cannot resolve the name: {reason}")),
            },
            passeur_net::NetError::UnknownHost { host } => Error::UnknownHost { host },
            other => Error::Refused(other.to_string()),
        })?;
        // Commands are batched by hand; Nagle would only add latency.
        let _ = tcp.set_nodelay(true);
        let mut client = Client {
            conn: Conn::plain(tcp, cfg.io_timeout),
            framer: Framer::new(),
            caps: Capabilities::default(),
            next_tag: 0,
            quirks: Quirks::default(),
            untagged: Vec::new(),
            completed: HashMap::new(),
            fetching: None,
            body_left: None,
            bye: None,
            host: cfg.host.clone(),
            enabled: Vec::new(),
        };
        let tls = if cfg.security == Security::Plain {
            None
        } else {
            Some(connector(cfg.insecure_tls).map_err(|e| match e {
                Error::Tls { reason, .. } => Error::Tls {
                    host: cfg.host.clone(),
                    reason,
                },
                other => other,
            })?)
        };
        if cfg.security == Security::Tls
            && let Some(c) = &tls
        {
            client
                .conn
                .start_tls(c, &cfg.host, cfg.connect_timeout)
                .await?;
        }
        // A server that speaks TLS from the first byte waits for the client's hello and sends
        // nothing: on a plain connection, silence after a short while is that, not a slow server.
        let greeting_wait = if cfg.security == Security::Tls {
            cfg.connect_timeout
        } else {
            cfg.connect_timeout.min(PLAIN_GREETING_WAIT)
        };
        let silent = |client: &Client| cfg.security != Security::Tls && client.conn.rbuf.is_empty();
        match tokio::time::timeout(greeting_wait, client.greeting()).await {
            Ok(Ok(())) => {}
            Ok(Err(Error::Timeout { .. })) | Err(_) if silent(&client) => {
                return Err(Error::NoGreeting {
                    host: cfg.host.clone(),
                    port: cfg.port,
                    secs: greeting_wait.as_secs(),
                });
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(Error::Timeout {
                    what: "receive the server greeting".into(),
                });
            }
        }
        if cfg.security == Security::StartTls {
            if client.caps.is_empty() {
                client.capability().await?;
            }
            if !client.caps.starttls() {
                return Err(Error::Unsupported("start TLS (STARTTLS)".into()));
            }
            client.run(Command::new("STARTTLS").end()).await?;
            if let Some(c) = &tls {
                client
                    .conn
                    .start_tls(c, &cfg.host, cfg.connect_timeout)
                    .await?;
            }
            // Capabilities seen before TLS cannot be trusted.
            client.caps = Capabilities::default();
        }
        if client.caps.is_empty() {
            client.capability().await?;
        }
        Ok(client)
    }

    async fn greeting(&mut self) -> Result<(), Error> {
        loop {
            match self.read_response().await? {
                Response::Untagged(Untagged::Status { status, text, .. }) => match status {
                    Status::Ok | Status::Preauth => return Ok(()),
                    Status::Bye => return Err(Error::Closed { reason: Some(text) }),
                    _ => {
                        return Err(Error::protocol("unexpected greeting", text.as_bytes()));
                    }
                },
                Response::Untagged(_) => {}
                _ => return Err(Error::protocol("unexpected greeting", b"")),
            }
        }
    }

    /// Asks for the capabilities again (CAPABILITY).
    pub async fn capability(&mut self) -> Result<&Capabilities, Error> {
        self.run(Command::new("CAPABILITY").end()).await?;
        Ok(&self.caps)
    }

    /// Logs in with SASL PLAIN, optionally as `authzid` on behalf of an
    /// administrator `authcid` (master user). Without AUTH=PLAIN and without
    /// `authzid`, falls back to LOGIN. Capabilities are refreshed afterwards.
    pub async fn authenticate(
        &mut self,
        authzid: Option<&str>,
        authcid: &str,
        password: &str,
    ) -> Result<(), Error> {
        self.ensure_idle("log in")?;
        self.untagged.clear();
        let use_plain = self.caps.auth_plain() && (authzid.is_some() || !self.quirks.no_auth_plain);
        let (tagged, name) = if use_plain {
            let mut raw = Zeroizing::new(Vec::with_capacity(authcid.len() + password.len() + 8));
            raw.extend_from_slice(authzid.unwrap_or("").as_bytes());
            raw.push(0);
            raw.extend_from_slice(authcid.as_bytes());
            raw.push(0);
            raw.extend_from_slice(password.as_bytes());
            (self.sasl("PLAIN", &raw, "*").await?.0, "AUTHENTICATE")
        } else if authzid.is_some() {
            return Err(Error::Unsupported(
                "log in on behalf of another user (AUTH=PLAIN with an authorization identity)"
                    .into(),
            ));
        } else if self.caps.login_disabled() {
            return Err(Error::Unsupported(
                "log in (LOGINDISABLED and no AUTH=PLAIN)".into(),
            ));
        } else {
            let cmd = Command::new("LOGIN")
                .arg(authcid)
                .arg(password)
                .redacted()
                .end();
            let (tag, sent) = self.send(cmd).await?;
            if matches!(sent, Sent::All) {
                self.conn.flush().await?;
            }
            (self.wait_for(&tag).await?, "LOGIN")
        };
        self.finish_login(tagged, name).await
    }

    /// Logs in with an OAuth 2.0 access token: OAUTHBEARER (RFC 7628) when
    /// offered, else XOAUTH2 (Gmail, Microsoft 365).
    pub async fn authenticate_oauth(
        &mut self,
        user: &str,
        access_token: &str,
    ) -> Result<(), Error> {
        self.ensure_idle("log in")?;
        self.untagged.clear();
        let (tagged, challenge) = if self.caps.has("AUTH=OAUTHBEARER") {
            let ir = oauthbearer_initial(user, access_token);
            // On failure the server sends an error challenge; a lone ^A ends it.
            self.sasl("OAUTHBEARER", &ir, "AQ==").await?
        } else if self.caps.has("AUTH=XOAUTH2") {
            let ir = xoauth2_initial(user, access_token);
            self.sasl("XOAUTH2", &ir, "").await?
        } else {
            return Err(Error::Unsupported(
                "log in with OAuth 2.0 (AUTH=OAUTHBEARER or AUTH=XOAUTH2)".into(),
            ));
        };
        if tagged.status == Status::No {
            // The error challenge says why, as JSON (RFC 7628 section 3.2.2).
            let why = challenge
                .as_deref()
                .and_then(passeur_types::sasl::oauth_error)
                .map(|w| format!(" (the OAuth 2.0 token was refused: {w})"))
                .unwrap_or_else(|| " (the OAuth 2.0 token was refused)".into());
            return Err(Error::Auth {
                text: format!("{}{why}", tagged.text),
            });
        }
        self.finish_login(tagged, "AUTHENTICATE").await
    }

    /// One SASL exchange with an initial response; any further challenge
    /// is answered with `reply` (mechanisms here have a single step, and a
    /// challenge means failure details).
    async fn sasl(
        &mut self,
        mech: &str,
        initial: &[u8],
        reply: &str,
    ) -> Result<(Tagged, Option<Vec<u8>>), Error> {
        let b64 = Zeroizing::new(base64(initial));
        let tag = if self.caps.sasl_ir() {
            let cmd = Command::new("AUTHENTICATE")
                .raw(" ")
                .raw(mech)
                .raw(" ")
                .raw(if b64.is_empty() { "=" } else { &b64 })
                .redacted()
                .end();
            let (tag, _) = self.send(cmd).await?;
            self.conn.flush().await?;
            tag
        } else {
            let (tag, _) = self
                .send(
                    Command::new("AUTHENTICATE")
                        .raw(" ")
                        .raw(mech)
                        .redacted()
                        .end(),
                )
                .await?;
            self.conn.flush().await?;
            if self.wait_continue(&tag).await? {
                self.conn.write(b64.as_bytes()).await?;
                self.conn.write(b"\r\n").await?;
                self.conn.flush().await?;
            }
            tag
        };
        let mut last_challenge = None;
        loop {
            if let Some(t) = self.completed.remove(&tag) {
                return Ok((t, last_challenge));
            }
            match self.read_response().await? {
                Response::Tagged(t) if t.tag == tag => return Ok((t, last_challenge)),
                Response::Tagged(t) => {
                    self.completed.insert(t.tag.clone(), t);
                }
                Response::Continue(challenge) => {
                    tracing::debug!(host = %self.host, "SASL {mech} challenge: {challenge}");
                    last_challenge = base64::engine::general_purpose::STANDARD
                        .decode(challenge.trim())
                        .ok();
                    self.conn.write(reply.as_bytes()).await?;
                    self.conn.write(b"\r\n").await?;
                    self.conn.flush().await?;
                }
                Response::Untagged(u) => self.untagged.push(u),
            }
        }
    }

    async fn finish_login(&mut self, tagged: Tagged, name: &str) -> Result<(), Error> {
        let had_caps = tagged.code.as_ref().is_some_and(|c| c.name == "CAPABILITY");
        match tagged.status {
            Status::Ok => {}
            Status::No => return Err(Error::Auth { text: tagged.text }),
            _ => {
                check(tagged, name)?;
            }
        }
        if !had_caps {
            self.capability().await?;
        }
        Ok(())
    }

    /// Turns on COMPRESS=DEFLATE when the server offers it; Ok(false) if not.
    pub async fn compress(&mut self) -> Result<bool, Error> {
        if self.conn.is_compressed() {
            return Ok(true);
        }
        if !self.caps.compress_deflate() {
            return Ok(false);
        }
        self.run(Command::new("COMPRESS").raw(" DEFLATE").end())
            .await?;
        self.conn.start_deflate();
        Ok(true)
    }

    /// ENABLE (RFC 5161), e.g. `CONDSTORE`, `QRESYNC`. Returns what the
    /// server enabled; does nothing when it has no ENABLE.
    pub async fn enable(&mut self, what: &[&str]) -> Result<Vec<String>, Error> {
        if !self.caps.enable() || what.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = Command::new("ENABLE");
        for w in what {
            cmd = cmd.raw(" ").raw(w);
        }
        let (_, untagged) = self.run(cmd.end()).await?;
        let mut got = Vec::new();
        for u in untagged {
            if let Untagged::Enabled(words) = u {
                got.extend(words);
            }
        }
        for g in &got {
            if !self.enabled.iter().any(|e| e.eq_ignore_ascii_case(g)) {
                self.enabled.push(g.to_ascii_uppercase());
            }
        }
        Ok(got)
    }

    /// Sends NOOP: keeps the connection alive and lets the server report changes.
    pub async fn noop(&mut self) -> Result<(), Error> {
        self.run(Command::new("NOOP").end()).await.map(drop)
    }

    /// Says goodbye and closes the connection.
    pub async fn logout(mut self) -> Result<(), Error> {
        self.ensure_idle("log out")?;
        let (tag, _) = self.send(Command::new("LOGOUT").end()).await?;
        self.conn.flush().await?;
        let r = match self.wait_for(&tag).await {
            Ok(_) => Ok(()),
            // Some servers close right after the BYE.
            Err(Error::Closed { .. }) if self.bye.is_some() => Ok(()),
            Err(e) => Err(e),
        };
        self.conn.shutdown().await;
        r
    }
}

/// `n,a=user,^Aauth=Bearer token^A^A` (RFC 7628), with `,` and `=` in the
/// user escaped as the GS2 header requires.
fn oauthbearer_initial(user: &str, token: &str) -> Zeroizing<Vec<u8>> {
    passeur_types::sasl::oauthbearer(user, token)
}

/// `user=...^Aauth=Bearer token^A^A` (Google's XOAUTH2).
fn xoauth2_initial(user: &str, token: &str) -> Zeroizing<Vec<u8>> {
    passeur_types::sasl::xoauth2(user, token)
}

/// Standard base64 with padding (SASL, RFC 4648 §4).
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn oauth_initial_responses() {
        assert_eq!(
            &*super::oauthbearer_initial("a,b=c@x", "tok"),
            b"n,a=a=2Cb=3Dc@x,\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(
            super::base64(&super::xoauth2_initial(
                "someuser@example.com",
                "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
            )),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(i.as_bytes()), o);
        }
    }
}
