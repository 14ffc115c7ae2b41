//! The async driver: one [`Client`] per connection. The command methods
//! live in files by topic (`session`, `mailbox`, `fetch`, `append`, `store`).

mod append;
mod fetch;
mod gmail;
mod mailbox;
mod session;
mod store;
pub(crate) mod stream;

use std::collections::HashMap;
use std::time::Duration;

use passeur_types::Security;

use crate::Error;
use crate::caps::Capabilities;
use crate::command::{Command, Part};
use crate::conn::Conn;
use crate::proto::frame::Framer;
use crate::proto::response::{Response, Status, Tagged, Untagged};
use crate::proto::{Decoded, decode};

/// A response at least this large (a message body) gets the read buffer reallocated after it,
/// so the body's allocation is freed as soon as the body is dropped.
const RELEASE_AFTER: usize = 1024 * 1024;

pub use append::{AppendError, AppendMessage, AppendOutcome};
pub use fetch::{FetchedBody, MessageMeta};
pub use gmail::{CopyOutcome, GmailMeta};
pub use mailbox::{ListEntry, MailboxStatus, Namespace};
pub use stream::StreamError;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ConnectConfig {
    /// The server's host name or address.
    pub host: String,
    /// The server's port.
    pub port: u16,
    /// TLS from the first byte, STARTTLS, or none.
    pub security: Security,
    /// Accept any server certificate (self-signed test servers).
    pub insecure_tls: bool,
    /// Longest wait for the TCP connection and the TLS handshake.
    pub connect_timeout: Duration,
    /// Longest wait for any single read or write.
    pub io_timeout: Duration,
    /// Which addresses the host may resolve to (everything by default; the service allows
    /// public addresses only).
    pub address_policy: passeur_net::AddressPolicy,
}

impl ConnectConfig {
    /// Defaults: 30 s to connect, 5 min per read/write.
    pub fn new(host: impl Into<String>, port: u16, security: Security) -> Self {
        ConnectConfig {
            host: host.into(),
            port,
            security,
            insecure_tls: false,
            connect_timeout: Duration::from_secs(30),
            io_timeout: Duration::from_secs(300),
            address_policy: passeur_net::AddressPolicy::permissive(),
        }
    }
}

/// Named switches that make the client avoid server features, to work
/// around server bugs or to test the fallback paths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Quirks {
    /// Never send MULTIAPPEND, even when offered.
    pub no_multiappend: bool,
    /// Never send non-synchronising literals, even with LITERAL+/LITERAL-.
    pub no_literal_plus: bool,
    /// Log in with the LOGIN command even when AUTH=PLAIN is offered
    /// (servers with a broken SASL PLAIN). No effect with an authzid.
    pub no_auth_plain: bool,
    /// List with plain LIST + LSUB even when LIST-EXTENDED is offered.
    pub no_list_extended: bool,
}

impl Quirks {
    /// Quirks with MULTIAPPEND and non-synchronising literals avoided as asked, the rest off.
    pub fn new(no_multiappend: bool, no_literal_plus: bool) -> Self {
        Quirks {
            no_multiappend,
            no_literal_plus,
            no_auth_plain: false,
            no_list_extended: false,
        }
    }

    /// The same quirks with plain LIST + LSUB forced (`on`) or not.
    pub fn with_no_list_extended(mut self, on: bool) -> Self {
        self.no_list_extended = on;
        self
    }

    /// The same quirks with LOGIN forced instead of AUTH=PLAIN (`on`) or not.
    pub fn with_no_auth_plain(mut self, on: bool) -> Self {
        self.no_auth_plain = on;
        self
    }
}

/// One IMAP connection. Commands are sent with pipelining where the
/// protocol allows it; all methods take `&mut self`, so one task drives it.
pub struct Client {
    conn: Conn,
    framer: Framer,
    caps: Capabilities,
    next_tag: u32,
    quirks: Quirks,
    /// Untagged responses received during the current command.
    untagged: Vec<Untagged>,
    /// Completions that arrived while waiting for something else.
    completed: HashMap<String, Tagged>,
    /// Tag of a streaming body fetch still running.
    fetching: Option<String>,
    /// Bytes of a message opened with `open_body` not read yet.
    body_left: Option<u64>,
    /// The text of a BYE, once the server said goodbye.
    bye: Option<String>,
    host: String,
    enabled: Vec<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .field("tls", &self.conn.is_tls())
            .field("compressed", &self.conn.is_compressed())
            .field("capabilities", &self.caps)
            .finish_non_exhaustive()
    }
}

/// What `send` did when a synchronising literal was refused.
enum Sent {
    /// The whole command went out.
    All,
    /// The server completed the command (NO/BAD) instead of asking for a literal.
    Refused,
}

impl Client {
    /// The capabilities the server announced most recently.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The server workarounds in effect.
    pub fn quirks(&self) -> Quirks {
        self.quirks
    }

    /// Turns server workarounds on or off for the next commands.
    pub fn set_quirks(&mut self, quirks: Quirks) {
        self.quirks = quirks;
    }

    /// The host name this client connected to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Extensions turned on with [`Client::enable`].
    pub fn enabled(&self) -> &[String] {
        &self.enabled
    }

    /// True once COMPRESS=DEFLATE is in effect.
    pub fn is_compressed(&self) -> bool {
        self.conn.is_compressed()
    }

    /// True when the connection is encrypted (implicit TLS or STARTTLS).
    pub fn is_tls(&self) -> bool {
        self.conn.is_tls()
    }

    /// Caps the total of the literals of one response (default
    /// [`crate::proto::frame::MAX_RESPONSE_LITERALS`]): a response is held whole in memory, so
    /// a larger one fails with [`Error::ResponseTooLarge`] (and the connection must be dropped)
    /// instead of being buffered. Message bodies streamed with [`Client::open_body`] are not
    /// counted.
    pub fn set_max_response_literals(&mut self, bytes: usize) {
        self.framer.set_max_response_literals(bytes);
    }

    fn new_tag(&mut self) -> String {
        self.next_tag = self.next_tag.wrapping_add(1);
        format!("P{:04}", self.next_tag)
    }

    fn non_sync_ok(&self, len: usize) -> bool {
        !self.quirks.no_literal_plus && self.caps.non_sync_literal_ok(len)
    }

    fn ensure_idle(&self, what: &str) -> Result<(), Error> {
        if self.fetching.is_some() {
            return Err(Error::State(format!(
                "{what} while a body fetch is still running (call next_body until it returns None)"
            )));
        }
        Ok(())
    }

    /// Reads and parses one response.
    async fn read_response(&mut self) -> Result<Response, Error> {
        loop {
            match decode(&mut self.framer, &mut self.conn.rbuf) {
                Ok(Decoded::Response(resp, frame)) => {
                    if frame.len() >= RELEASE_AFTER {
                        self.conn.release_read_buffer();
                    }
                    if tracing::enabled!(tracing::Level::TRACE) {
                        // The first line only: literals may be mail content.
                        let end = frame
                            .iter()
                            .position(|&c| c == b'\n')
                            .unwrap_or(frame.len());
                        let head = &frame[..end.min(300)];
                        tracing::trace!(host = %self.host, "S: {}", String::from_utf8_lossy(head).trim_end());
                    }
                    self.observe(&resp);
                    return Ok(resp);
                }
                Ok(Decoded::NeedMore(hint)) => {
                    let n = self.conn.fill(hint.unwrap_or(0)).await?;
                    if n == 0 {
                        return Err(Error::Closed {
                            reason: self.bye.clone(),
                        });
                    }
                }
                Err(e) => {
                    if let Some((size, limit)) = e.too_large {
                        return Err(Error::ResponseTooLarge { size, limit });
                    }
                    return Err(Error::Protocol {
                        reason: e.reason,
                        excerpt: String::from_utf8_lossy(&e.excerpt).into_owned(),
                    });
                }
            }
        }
    }

    /// Bookkeeping for responses that may come at any time.
    fn observe(&mut self, resp: &Response) {
        let code = match resp {
            Response::Tagged(t) => t.code.as_ref(),
            Response::Untagged(Untagged::Status {
                status, code, text, ..
            }) => {
                if *status == Status::Bye {
                    self.bye = Some(text.clone());
                }
                if code.as_ref().is_some_and(|c| c.name == "ALERT") {
                    tracing::warn!(host = %self.host, "server alert: {text}");
                }
                code.as_ref()
            }
            Response::Untagged(Untagged::Capability(words)) => {
                self.caps = Capabilities::new(words);
                None
            }
            _ => None,
        };
        if let Some(c) = code.filter(|c| c.name == "CAPABILITY") {
            self.caps = Capabilities::from_code_args(&c.args);
        }
    }

    /// Sends one command (without flushing, unless a synchronising literal
    /// needs the server's go-ahead). Returns the tag.
    async fn send(&mut self, cmd: Command) -> Result<(String, Sent), Error> {
        let tag = self.new_tag();
        tracing::trace!(host = %self.host, "C: {tag} {}", cmd.describe());
        self.conn.write(tag.as_bytes()).await?;
        self.conn.write(b" ").await?;
        for part in cmd.parts {
            match part {
                Part::Text(t) => self.conn.write(&t).await?,
                Part::Literal(b) => {
                    if self.non_sync_ok(b.len()) {
                        self.conn
                            .write(format!("{{{}+}}\r\n", b.len()).as_bytes())
                            .await?;
                    } else {
                        self.conn
                            .write(format!("{{{}}}\r\n", b.len()).as_bytes())
                            .await?;
                        self.conn.flush().await?;
                        if !self.wait_continue(&tag).await? {
                            return Ok((tag, Sent::Refused));
                        }
                    }
                    self.conn.write(&b).await?;
                }
            }
        }
        Ok((tag, Sent::All))
    }

    /// Waits for `+`; false if the command was completed instead.
    async fn wait_continue(&mut self, tag: &str) -> Result<bool, Error> {
        loop {
            match self.read_response().await? {
                Response::Continue(_) => return Ok(true),
                Response::Tagged(t) => {
                    let mine = t.tag == tag;
                    self.completed.insert(t.tag.clone(), t);
                    if mine {
                        return Ok(false);
                    }
                }
                Response::Untagged(u) => self.untagged.push(u),
            }
        }
    }

    /// Reads until the completion of `tag`, keeping untagged responses.
    async fn wait_for(&mut self, tag: &str) -> Result<Tagged, Error> {
        if let Some(t) = self.completed.remove(tag) {
            return Ok(t);
        }
        loop {
            match self.read_response().await? {
                Response::Tagged(t) if t.tag == tag => return Ok(t),
                Response::Tagged(t) => {
                    self.completed.insert(t.tag.clone(), t);
                }
                Response::Untagged(u) => self.untagged.push(u),
                Response::Continue(text) => {
                    tracing::debug!(host = %self.host, "unexpected continuation: {text}");
                }
            }
        }
    }

    /// Runs one command to completion; NO and BAD become errors.
    async fn run(&mut self, cmd: Command) -> Result<(Tagged, Vec<Untagged>), Error> {
        self.ensure_idle(cmd.name)?;
        let name = cmd.name;
        self.untagged.clear();
        let (tag, _) = self.send(cmd).await?;
        self.conn.flush().await?;
        let t = self.wait_for(&tag).await?;
        let t = check(t, name)?;
        Ok((t, std::mem::take(&mut self.untagged)))
    }
}

impl Client {
    /// Like `run`, but hands each untagged response to `each` as it
    /// arrives instead of keeping them all (large FETCH/SEARCH results).
    async fn run_with(
        &mut self,
        cmd: Command,
        mut each: impl FnMut(Untagged) + Send,
    ) -> Result<Tagged, Error> {
        self.ensure_idle(cmd.name)?;
        let name = cmd.name;
        self.untagged.clear();
        let (tag, _) = self.send(cmd).await?;
        self.conn.flush().await?;
        // Whatever came while a synchronising literal was being sent.
        for u in std::mem::take(&mut self.untagged) {
            each(u);
        }
        if let Some(t) = self.completed.remove(&tag) {
            return check(t, name);
        }
        loop {
            match self.read_response().await? {
                Response::Tagged(t) if t.tag == tag => return check(t, name),
                Response::Tagged(t) => {
                    self.completed.insert(t.tag.clone(), t);
                }
                Response::Untagged(u) => each(u),
                Response::Continue(text) => {
                    tracing::debug!(host = %self.host, "unexpected continuation: {text}");
                }
            }
        }
    }

    /// Reads the rest of a running body fetch, dropping the bodies, so the
    /// connection can take commands again (e.g. after the caller gave up
    /// on the batch).
    pub async fn drain_fetch(&mut self) -> Result<(), Error> {
        while self.next_body().await?.is_some() {}
        Ok(())
    }
}

/// Turns a NO or BAD completion into an error.
fn check(t: Tagged, command: &str) -> Result<Tagged, Error> {
    match t.status {
        Status::Ok => Ok(t),
        Status::No => Err(Error::No {
            command: command.to_owned(),
            code: t.code.map(|c| c.name),
            text: t.text,
        }),
        Status::Bad => Err(Error::Bad {
            command: command.to_owned(),
            text: t.text,
        }),
        Status::Bye | Status::Preauth => Err(Error::protocol(
            "unexpected tagged status",
            t.text.as_bytes(),
        )),
    }
}
