//! The tokio driver: one connection, one command at a time (several RETRs at once when the
//! server offers PIPELINING).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use bytes::{Buf, Bytes, BytesMut};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use zeroize::Zeroizing;

use crate::proto::{self, Capabilities, DotDecoder, MAX_LINE, Status};
use crate::{Error, Security, tls};

/// Bytes read from the socket at a time; a streamed RETR holds about this much.
const READ_CHUNK: usize = 64 * 1024;
/// Largest CAPA / LIST / UIDL reply accepted (a UIDL line is under 90 bytes: this is over a
/// million messages).
const MAX_LISTING: usize = 128 << 20;
/// RETR commands written at once when pipelining.
const PIPELINE_WINDOW: usize = 64;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ConnectConfig {
    /// Host name or address literal.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Plain, STLS or implicit TLS.
    pub security: Security,
    /// Accept any certificate (self-signed test servers).
    pub insecure_tls: bool,
    /// Longest wait for resolving and connecting.
    pub connect_timeout: Duration,
    /// Longest wait for any read or write.
    pub io_timeout: Duration,
    /// Quirk: send one command at a time even when the server announces PIPELINING.
    pub quirk_no_pipelining: bool,
    /// Which addresses the host may resolve to (everything by default).
    pub address_policy: passeur_net::AddressPolicy,
}

impl ConnectConfig {
    /// `host:port` with `security`, default time-outs, no quirk and every address allowed.
    pub fn new(host: impl Into<String>, port: u16, security: Security) -> ConnectConfig {
        ConnectConfig {
            host: host.into(),
            port,
            security,
            insecure_tls: false,
            connect_timeout: Duration::from_secs(20),
            io_timeout: Duration::from_secs(120),
            quirk_no_pipelining: false,
            address_policy: passeur_net::AddressPolicy::permissive(),
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A POP3 session. It can read a mailbox and nothing else: there is no DELE.
pub struct Client {
    stream: Option<Stream>,
    host: String,
    buf: BytesMut,
    caps: Capabilities,
    greeting: String,
    io_timeout: Duration,
    no_pipelining: bool,
    /// A multi-line reply being read (a RETR stream dropped half-way is drained first).
    open: Option<DotDecoder>,
    /// The connection is unusable after an I/O or protocol error.
    broken: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .field("caps", &self.caps)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects (TLS from the first byte for [`Security::Tls`], STLS for
    /// [`Security::StartTls`]), reads the greeting and the capabilities.
    pub async fn connect(cfg: &ConnectConfig) -> Result<Client, Error> {
        let connect_err = |source| Error::Connect {
            host: cfg.host.clone(),
            port: cfg.port,
            source,
        };
        let tcp = passeur_net::connect(
            &cfg.host,
            cfg.port,
            &cfg.address_policy,
            cfg.connect_timeout,
        )
        .await
        .map_err(|e| match e {
            passeur_net::NetError::Connect { source, .. } => connect_err(source),
            passeur_net::NetError::Timeout { .. } => {
                connect_err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
            }
            passeur_net::NetError::Resolve { reason, .. } => connect_err(io::Error::other(
                format!("cannot resolve the name: {reason}"),
            )),
            passeur_net::NetError::UnknownHost { host } => Error::UnknownHost { host },
            other => Error::Refused(other.to_string()),
        })?;
        let stream = if cfg.security == Security::Tls {
            Stream::Tls(Box::new(handshake(cfg, tcp).await?))
        } else {
            Stream::Plain(tcp)
        };
        let mut c = Client {
            stream: Some(stream),
            host: cfg.host.clone(),
            buf: BytesMut::with_capacity(READ_CHUNK),
            caps: Capabilities::default(),
            greeting: String::new(),
            io_timeout: cfg.io_timeout,
            no_pipelining: cfg.quirk_no_pipelining,
            open: None,
            broken: None,
        };
        match c.read_status("read the greeting").await? {
            Status::Ok(text) => c.greeting = text,
            Status::Err(text) | Status::Continue(text) => {
                return Err(Error::Server {
                    command: "connect".into(),
                    text,
                });
            }
        }
        c.capa().await?;
        if cfg.security == Security::StartTls {
            c.simple(proto::command("STLS", &[])?, "start TLS (STLS)")
                .await
                .map_err(|e| match e {
                    Error::Server { text, .. } => Error::Tls {
                        host: cfg.host.clone(),
                        reason: format!("the server refused STLS: {text}"),
                    },
                    e => e,
                })?;
            if !c.buf.is_empty() {
                // Bytes sent before the handshake would be taken as if they came over TLS.
                return Err(Error::protocol("data after the STLS reply", &c.buf));
            }
            let Some(Stream::Plain(tcp)) = c.stream.take() else {
                return Err(Error::State("start TLS twice".into()));
            };
            c.stream = Some(Stream::Tls(Box::new(handshake(cfg, tcp).await?)));
            c.capa().await?;
        }
        Ok(c)
    }

    /// The greeting's text.
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// What the server announced in its last CAPA reply (empty when it has no CAPA).
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// True when several RETRs are sent at once.
    pub fn pipelining(&self) -> bool {
        self.caps.pipelining && !self.no_pipelining
    }

    /// Asks for the capabilities again (RFC 2449; they may change after login or STLS).
    pub async fn capa(&mut self) -> Result<&Capabilities, Error> {
        self.send(&proto::command("CAPA", &[])?, "list capabilities")
            .await?;
        match self.read_status("list capabilities").await? {
            Status::Ok(_) => {
                let body = self.read_body(MAX_LISTING, "list capabilities").await?;
                self.caps = Capabilities::parse(&body);
            }
            _ => self.caps = Capabilities::default(),
        }
        Ok(&self.caps)
    }

    /// Logs in with USER and PASS (RFC 1939).
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), Error> {
        let auth = |e| match e {
            Error::Server { text, .. } => Error::Auth { text },
            e => e,
        };
        self.simple(proto::command("USER", &[user])?, "log in (USER)")
            .await
            .map_err(auth)?;
        let pass = Zeroizing::new(proto::command("PASS", &[password])?);
        self.simple_secret(&pass, "log in (PASS)")
            .await
            .map_err(auth)?;
        self.after_login().await
    }

    /// Logs in with SASL PLAIN (RFC 5034, RFC 4616): as `authcid` with its password, acting for
    /// `authzid` when given (delegation: a Dovecot master user reading a user's mailbox).
    pub async fn authenticate_plain(
        &mut self,
        authzid: Option<&str>,
        authcid: &str,
        password: &str,
    ) -> Result<(), Error> {
        let mut raw = Zeroizing::new(Vec::with_capacity(authcid.len() + password.len() + 64));
        raw.extend_from_slice(authzid.unwrap_or("").as_bytes());
        raw.push(0);
        raw.extend_from_slice(authcid.as_bytes());
        raw.push(0);
        raw.extend_from_slice(password.as_bytes());
        let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*raw));
        let cmd = Zeroizing::new(proto::command("AUTH", &["PLAIN", &b64])?);
        self.send_secret(&cmd, "log in (AUTH PLAIN)").await?;
        match self.read_status("log in (AUTH PLAIN)").await? {
            Status::Ok(_) => self.after_login().await,
            Status::Err(text) => Err(Error::Auth { text }),
            Status::Continue(_) => {
                // The initial response was not taken: cancel the exchange (RFC 5034 section 4).
                self.send(b"*\r\n", "log in (AUTH PLAIN)").await?;
                let text = match self.read_status("log in (AUTH PLAIN)").await? {
                    Status::Err(t) | Status::Ok(t) | Status::Continue(t) => t,
                };
                Err(Error::Auth {
                    text: format!("the server asked for more than PLAIN gives: {text}"),
                })
            }
        }
    }

    /// Logs in the best way offered: SASL PLAIN when acting for another user (required) or when
    /// announced, USER/PASS otherwise.
    pub async fn authenticate(
        &mut self,
        authzid: Option<&str>,
        authcid: &str,
        password: &str,
    ) -> Result<(), Error> {
        if authzid.is_some() || self.caps.has_sasl("PLAIN") {
            if authzid.is_some() && !self.caps.sasl.is_empty() && !self.caps.has_sasl("PLAIN") {
                return Err(Error::Unsupported(
                    "log in for another user (SASL PLAIN is not offered)".into(),
                ));
            }
            self.authenticate_plain(authzid, authcid, password).await
        } else {
            self.login(authcid, password).await
        }
    }

    /// Logs in with an OAuth 2.0 access token: SASL OAUTHBEARER (RFC 7628) when offered, else
    /// XOAUTH2. The token goes after the server's empty challenge, never on the AUTH line (it is
    /// usually longer than the 255 octets an initial response may take, RFC 5034).
    pub async fn authenticate_oauth(
        &mut self,
        user: &str,
        access_token: &str,
    ) -> Result<(), Error> {
        let (mech, raw) = if self.caps.has_sasl("OAUTHBEARER") {
            (
                "OAUTHBEARER",
                passeur_types::sasl::oauthbearer(user, access_token),
            )
        } else if self.caps.has_sasl("XOAUTH2") {
            ("XOAUTH2", passeur_types::sasl::xoauth2(user, access_token))
        } else {
            return Err(Error::Unsupported(
                "log in with OAuth 2.0 (SASL OAUTHBEARER or XOAUTH2 is not offered)".into(),
            ));
        };
        let what = if mech == "OAUTHBEARER" {
            "log in (AUTH OAUTHBEARER)"
        } else {
            "log in (AUTH XOAUTH2)"
        };
        self.send(&proto::command("AUTH", &[mech])?, what).await?;
        match self.read_status(what).await? {
            Status::Continue(_) => {}
            Status::Err(text) => return Err(Error::Auth { text }),
            Status::Ok(_) => return Err(Error::protocol("a login without credentials", b"+OK")),
        }
        let mut line = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*raw));
        line.push_str("\r\n");
        self.send_secret(line.as_bytes(), what).await?;
        match self.read_status(what).await? {
            Status::Ok(_) => self.after_login().await,
            Status::Err(text) => Err(Error::Auth {
                text: format!("{text} (the OAuth 2.0 token was refused)"),
            }),
            Status::Continue(challenge) => {
                // The error challenge (JSON) says why; a lone ^A (or an empty line) ends it.
                let why = base64::engine::general_purpose::STANDARD
                    .decode(challenge.trim())
                    .ok()
                    .and_then(|j| passeur_types::sasl::oauth_error(&j));
                let reply: &[u8] = if mech == "OAUTHBEARER" {
                    b"AQ==\r\n"
                } else {
                    b"\r\n"
                };
                self.send(reply, what).await?;
                let text = match self.read_status(what).await? {
                    Status::Err(t) | Status::Ok(t) | Status::Continue(t) => t,
                };
                Err(Error::Auth {
                    text: match why {
                        Some(w) => format!("{text} (the OAuth 2.0 token was refused: {w})"),
                        None => format!("{text} (the OAuth 2.0 token was refused)"),
                    },
                })
            }
        }
    }

    async fn after_login(&mut self) -> Result<(), Error> {
        // Servers may announce more (UIDL, PIPELINING) once logged in.
        self.capa().await?;
        Ok(())
    }

    /// Message count and mailbox size (STAT).
    pub async fn stat(&mut self) -> Result<(u32, u64), Error> {
        let text = self
            .simple(proto::command("STAT", &[])?, "read the mailbox size (STAT)")
            .await?;
        proto::parse_stat(&text).inspect_err(|_| self.break_with("bad STAT"))
    }

    /// Every message's number and size (LIST).
    pub async fn list(&mut self) -> Result<Vec<(u32, u64)>, Error> {
        self.simple(proto::command("LIST", &[])?, "list messages (LIST)")
            .await?;
        let body = self.read_body(MAX_LISTING, "list messages (LIST)").await?;
        proto::parse_listing(&body, proto::parse_list_line)
    }

    /// Every message's number and unique-id (UIDL). A server without UIDL gives
    /// [`Error::Unsupported`]: without it a message cannot be recognised from one session to
    /// the next.
    pub async fn uidl(&mut self) -> Result<Vec<(u32, String)>, Error> {
        let what = "list message unique-ids (UIDL)";
        match self.simple(proto::command("UIDL", &[])?, what).await {
            Ok(_) => {}
            Err(Error::Server { text, .. }) => {
                return Err(Error::Unsupported(format!(
                    "{what}: the server answered {text:?}"
                )));
            }
            Err(e) => return Err(e),
        }
        let body = self.read_body(MAX_LISTING, what).await?;
        proto::parse_listing(&body, proto::parse_uidl_line)
    }

    /// The header and the first `lines` body lines of message `n` (TOP), at most `max` bytes.
    pub async fn top(&mut self, n: u32, lines: u32, max: usize) -> Result<Vec<u8>, Error> {
        let what = "read a message's header (TOP)";
        self.simple(
            proto::command("TOP", &[&n.to_string(), &lines.to_string()])?,
            what,
        )
        .await?;
        self.read_body(max, what).await
    }

    /// Starts RETR of message `n`; read it with [`Retr::next_chunk`]. Memory stays at about
    /// one read chunk however large the message.
    pub async fn retr(&mut self, n: u32) -> Result<Retr<'_>, Error> {
        self.simple(
            proto::command("RETR", &[&n.to_string()])?,
            "read a message (RETR)",
        )
        .await?;
        self.open = Some(DotDecoder::new());
        Ok(Retr { client: self })
    }

    /// Message `n` whole, refused above `max` bytes.
    pub async fn retr_bytes(&mut self, n: u32, max: usize) -> Result<Vec<u8>, Error> {
        self.retr(n).await?.collect(max).await
    }

    /// Several messages, each whole (at most `max_each` bytes). The RETRs are sent together when
    /// the server offers PIPELINING. A message the server refuses is given with its `-ERR` text.
    pub async fn retr_many(
        &mut self,
        ns: &[u32],
        max_each: usize,
    ) -> Result<Vec<(u32, Result<Vec<u8>, String>)>, Error> {
        let mut out = Vec::with_capacity(ns.len());
        let window = if self.pipelining() {
            PIPELINE_WINDOW
        } else {
            1
        };
        for group in ns.chunks(window) {
            let mut cmds = Vec::with_capacity(group.len() * 12);
            for n in group {
                cmds.extend_from_slice(&proto::command("RETR", &[&n.to_string()])?);
            }
            self.send(&cmds, "read messages (RETR)").await?;
            for &n in group {
                match self.read_status("read a message (RETR)").await? {
                    Status::Ok(_) => {
                        self.open = Some(DotDecoder::new());
                        let body = Retr { client: self }.collect(max_each).await?;
                        out.push((n, Ok(body)));
                    }
                    Status::Err(text) => out.push((n, Err(text))),
                    Status::Continue(_) => {
                        self.break_with("unexpected continuation");
                        return Err(Error::protocol("a continuation after RETR", b"+ "));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Keeps the session alive (NOOP).
    pub async fn noop(&mut self) -> Result<(), Error> {
        self.simple(proto::command("NOOP", &[])?, "keep the session (NOOP)")
            .await
            .map(drop)
    }

    /// Ends the session. Nothing is deleted: this client never marks a message.
    pub async fn quit(mut self) -> Result<(), Error> {
        self.simple(proto::command("QUIT", &[])?, "log out (QUIT)")
            .await?;
        if let Some(mut s) = self.stream.take() {
            let _ = s.shutdown().await;
        }
        Ok(())
    }

    // ---- plumbing ----

    fn break_with(&mut self, why: &str) {
        if self.broken.is_none() {
            self.broken = Some(why.to_owned());
        }
        self.stream = None;
    }

    fn check(&self) -> Result<(), Error> {
        match &self.broken {
            Some(r) => Err(Error::Closed {
                reason: Some(format!("after an earlier error: {r}")),
            }),
            None => Ok(()),
        }
    }

    async fn send(&mut self, bytes: &[u8], what: &str) -> Result<(), Error> {
        if tracing::enabled!(tracing::Level::TRACE) {
            tracing::trace!(command = %String::from_utf8_lossy(bytes).trim_end(), "C:");
        }
        self.write(bytes, what).await
    }

    async fn send_secret(&mut self, bytes: &[u8], what: &str) -> Result<(), Error> {
        tracing::trace!(command = what, "C: <credentials redacted>");
        self.write(bytes, what).await
    }

    async fn write(&mut self, bytes: &[u8], what: &str) -> Result<(), Error> {
        self.check()?;
        self.drain_open().await?;
        let timeout = self.io_timeout;
        let Some(s) = self.stream.as_mut() else {
            return Err(Error::Closed { reason: None });
        };
        let r = tokio::time::timeout(timeout, async {
            s.write_all(bytes).await?;
            s.flush().await
        })
        .await;
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                self.break_with("write failed");
                Err(Error::Io(e))
            }
            Err(_) => {
                self.break_with("write timed out");
                Err(Error::Timeout { what: what.into() })
            }
        }
    }

    /// Reads more bytes into the buffer.
    async fn fill(&mut self, what: &str) -> Result<(), Error> {
        self.check()?;
        let timeout = self.io_timeout;
        let Some(s) = self.stream.as_mut() else {
            return Err(Error::Closed { reason: None });
        };
        self.buf.reserve(READ_CHUNK);
        match tokio::time::timeout(timeout, s.read_buf(&mut self.buf)).await {
            Ok(Ok(0)) => {
                self.break_with("closed by the server");
                Err(Error::Closed {
                    reason: Some(format!("while trying to {what}")),
                })
            }
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                self.break_with("read failed");
                Err(Error::Io(e))
            }
            Err(_) => {
                self.break_with("read timed out");
                Err(Error::Timeout { what: what.into() })
            }
        }
    }

    async fn read_status(&mut self, what: &str) -> Result<Status, Error> {
        loop {
            match proto::line_len(&self.buf, MAX_LINE) {
                Ok(Some(n)) => {
                    let line = self.buf.split_to(n);
                    tracing::trace!(line = %String::from_utf8_lossy(&line).trim_end(), "S:");
                    return proto::parse_status(&line).inspect_err(|_| self.break_with("garbage"));
                }
                Ok(None) => self.fill(what).await?,
                Err(e) => {
                    self.break_with("overlong line");
                    return Err(e);
                }
            }
        }
    }

    /// Sends a one-line command; its `+OK` text, or [`Error::Server`].
    async fn simple(&mut self, cmd: Vec<u8>, what: &str) -> Result<String, Error> {
        self.send(&cmd, what).await?;
        self.status_of(what).await
    }

    async fn simple_secret(&mut self, cmd: &[u8], what: &str) -> Result<String, Error> {
        self.send_secret(cmd, what).await?;
        self.status_of(what).await
    }

    async fn status_of(&mut self, what: &str) -> Result<String, Error> {
        match self.read_status(what).await? {
            Status::Ok(text) => Ok(text),
            Status::Err(text) => Err(Error::Server {
                command: what.into(),
                text,
            }),
            Status::Continue(_) => {
                self.break_with("unexpected continuation");
                Err(Error::protocol("an unexpected continuation", b"+ "))
            }
        }
    }

    /// A whole multi-line body, refused above `max` bytes.
    async fn read_body(&mut self, max: usize, what: &str) -> Result<Vec<u8>, Error> {
        self.open = Some(DotDecoder::new());
        let mut out = Vec::new();
        while let Some(chunk) = self.next_decoded(what).await? {
            if out.len() + chunk.len() > max {
                self.break_with("reply too large");
                return Err(Error::protocol(
                    format!("a reply larger than {max} bytes"),
                    &out,
                ));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// The next decoded piece of the open multi-line reply; `None` at its end.
    async fn next_decoded(&mut self, what: &str) -> Result<Option<Bytes>, Error> {
        loop {
            let Some(dec) = self.open.as_mut() else {
                return Ok(None);
            };
            if !self.buf.is_empty() {
                let mut out = Vec::with_capacity(self.buf.len().min(READ_CHUNK));
                let used = dec.decode(&self.buf, &mut out);
                let done = dec.is_done();
                self.buf.advance(used);
                if done {
                    self.open = None;
                }
                if !out.is_empty() {
                    return Ok(Some(Bytes::from(out)));
                }
                if done {
                    return Ok(None);
                }
            }
            self.fill(what).await?;
        }
    }

    /// Reads to the end of a reply left half-read (a dropped [`Retr`]).
    async fn drain_open(&mut self) -> Result<(), Error> {
        while self.open.is_some() {
            self.next_decoded("skip the rest of a message").await?;
        }
        Ok(())
    }
}

/// A message being read (RETR): its bytes come in chunks, exactly as the server stores them.
/// Dropping it half-way is allowed; the rest is skipped before the next command.
pub struct Retr<'a> {
    client: &'a mut Client,
}

impl Retr<'_> {
    /// The next piece of the message; `None` after its last byte.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        self.client.next_decoded("read a message (RETR)").await
    }

    /// The whole message, refused above `max` bytes.
    pub async fn collect(mut self, max: usize) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        while let Some(c) = self.next_chunk().await? {
            if out.len() + c.len() > max {
                return Err(Error::Unsupported(format!(
                    "read a message of more than {max} bytes whole"
                )));
            }
            out.extend_from_slice(&c);
        }
        Ok(out)
    }
}

async fn handshake(cfg: &ConnectConfig, tcp: TcpStream) -> Result<TlsStream<TcpStream>, Error> {
    let config = tls::client_config(cfg.insecure_tls)?;
    let name = ServerName::try_from(cfg.host.clone()).map_err(|e| Error::Tls {
        host: cfg.host.clone(),
        reason: format!("bad server name: {e}"),
    })?;
    let connector = TlsConnector::from(Arc::<rustls::ClientConfig>::clone(&config));
    tokio::time::timeout(cfg.connect_timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| Error::Timeout {
            what: "establish TLS".into(),
        })?
        .map_err(|e| tls::handshake_error(&cfg.host, e))
}
