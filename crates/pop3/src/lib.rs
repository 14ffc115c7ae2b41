//! passeur's POP3 client: it reads a mailbox and never changes it.
//!
//! - [`proto`]: the sans-I/O layer: status lines ([`proto::Status`]), CAPA
//!   ([`Capabilities`]), LIST/UIDL listings and [`proto::DotDecoder`], the byte-exact
//!   multi-line decoder (a message comes out as the server stores it, final CRLF included).
//! - [`Client`]: the tokio driver. [`ConnectConfig`] picks plain, STLS or implicit TLS
//!   (RFC 2595; rustls with the ring provider); [`Client::login`] (USER/PASS),
//!   [`Client::authenticate_plain`] (SASL PLAIN with an authzid, RFC 5034), [`Client::uidl`],
//!   [`Client::top`], [`Client::retr`] (a stream of chunks, bounded memory),
//!   [`Client::retr_many`] (pipelined when the server offers PIPELINING, RFC 2449).
//! - [`Error`]: what went wrong, with [`Error::is_retryable`].
//!
//! There is deliberately no DELE: a migration source is never changed.
//!
//! Quirk: the multi-line terminator is only `.` CRLF; a server ending lines with bare LF is not
//! supported. A message stored without a final line end comes out with CRLF added, as the
//! protocol cannot say otherwise.

#![warn(missing_docs)]

mod client;
mod error;
pub mod proto;
mod tls;

pub use client::{Client, ConnectConfig, Retr};
pub use error::Error;
pub use passeur_types::Security;
pub use proto::Capabilities;
