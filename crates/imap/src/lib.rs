//! passeur's IMAP4rev1 client: streaming, pipelining, async (tokio).
//!
//! - [`Client`]: one connection. [`Client::connect`] (plain, STARTTLS or
//!   TLS), [`Client::authenticate`] (SASL PLAIN with an optional
//!   authorization identity, or LOGIN), [`Client::compress`] (DEFLATE), then
//!   mailbox commands ([`Client::list`], [`Client::select`], ...), metadata
//!   ([`Client::uid_fetch_meta`]), streamed bodies
//!   ([`Client::start_fetch_bodies`] / [`Client::next_body`]) and batched
//!   appends ([`Client::append_batch`], MULTIAPPEND or pipelined LITERAL+).
//! - [`Capabilities`], [`Error`] (with [`Error::is_retryable`]).
//! - [`mutf7`]: modified UTF-7 mailbox names; [`uid_set`]: compact UID sets.
//!
//! ```no_run
//! # async fn demo() -> Result<(), passeur_imap::Error> {
//! use passeur_imap::{AppendMessage, Client, ConnectConfig, Security};
//!
//! let mut src = Client::connect(&ConnectConfig::new("imap.example.org", 993, Security::Tls)).await?;
//! src.authenticate(Some("alice"), "admin", "secret").await?; // admin on behalf of alice
//! src.compress().await?;
//! let mut dst = Client::connect(&ConnectConfig::new("mail.example.net", 143, Security::StartTls)).await?;
//! dst.authenticate(None, "alice", "secret2").await?;
//!
//! src.examine("INBOX").await?;
//! let meta = src.uid_fetch_meta("1:*", None).await?;
//! let uids: Vec<u32> = meta.iter().map(|m| m.uid).collect();
//! src.start_fetch_bodies(&uids).await?;
//! let mut batch = Vec::new();
//! while let Some(b) = src.next_body().await? {
//!     let m = meta.iter().find(|m| m.uid == b.uid).expect("asked for it");
//!     batch.push(AppendMessage { flags: m.flags.clone(), internal_date: m.internal_date.clone(), body: b.body });
//! }
//! let outcome = dst.append_batch("INBOX", &batch).await?;
//! for (m, r) in batch.iter().zip(&outcome.results) {
//!     // Record (source UID -> destination UID) or the refusal.
//!     let _ = (m, r);
//! }
//! # Ok(()) }
//! ```
//!
//! Layers: [`proto`] frames and parses responses from byte buffers (no I/O,
//! never panics); `command` builds commands; `conn` is the byte pipe (TCP,
//! rustls, deflate); `client` drives them. Mailbox names in and out are
//! always the wire (modified UTF-7) form.

#![warn(missing_docs)]

mod caps;
mod client;
mod command;
mod conn;
pub mod date;
mod error;
pub mod mutf7;
pub mod proto;
mod tls;
mod uidset;

pub use caps::Capabilities;
pub use client::{
    AppendError, AppendMessage, AppendOutcome, Client, ConnectConfig, CopyOutcome, FetchedBody,
    GmailMeta, ListEntry, MailboxStatus, MessageMeta, Namespace, Quirks, StreamError,
};
pub use command::quote;
pub use date::parse_internal_date;
pub use error::Error;
pub use passeur_types::Security;
pub use proto::response::Untagged;
pub use uidset::{expand_uid_set, uid_set};

/// Entry points for the fuzz targets (`fuzz/`); not an API.
#[doc(hidden)]
pub mod fuzzing {
    /// The streaming scanner's reading of a response's first line: `Some(n)` when it opens a
    /// FETCH whose `BODY[]` literal of n bytes follows.
    pub fn body_literal(line: &[u8]) -> Option<u64> {
        crate::client::stream::body_literal(line)
    }
}

#[cfg(test)]
mod send_check {
    use super::*;

    fn is_send<T: Send>(_: &T) {}

    /// The engine drives clients inside `tokio::spawn`.
    #[allow(dead_code)]
    fn client_and_futures_are_send(c: &mut Client, cfg: &ConnectConfig) {
        is_send(&Client::connect(cfg));
        is_send(&c.append_batch("x", &[]));
        is_send(&c.next_body());
        is_send(&c.list());
        is_send(&c.authenticate(None, "a", "b"));
        is_send(&c.uid_fetch_meta("1", None));
    }
}
