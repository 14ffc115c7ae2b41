//! passeur-dav: a CalDAV / CardDAV protocol client.
//!
//! - [`DavClient`] ([`DavConfig`]): discovery ([`DavClient::discover`] -> [`Homes`]:
//!   well-known URIs, current-user-principal, home sets), collections
//!   ([`DavClient::list_collections`], [`DavClient::create_collection`] with
//!   MKCALENDAR / extended MKCOL, [`DavClient::ensure_collection`]), items
//!   ([`DavClient::list_items`], [`DavClient::sync_collection`],
//!   [`DavClient::multiget`], [`DavClient::get`], [`DavClient::put`] with
//!   `If-None-Match` / `If-Match`, [`DavClient::delete`], [`DavClient::fetch_all`]).
//!
//! No migration logic lives here: copying collections exactly once, importing files and
//! verifying is the engine's DAV sink (`passeur_engine::dav_sink`), built on this client.
//!
//! HTTP is reqwest over rustls with the ring provider passed explicitly (`passeur-net`, no
//! process-global provider); [`DavConfig::insecure_tls`] accepts self-signed certificates for
//! test servers. Every request goes through `passeur-net`'s guard: credentials only to their
//! origin (never from `https` to `http`), no Basic over clear text off loopback without
//! [`DavConfig::allow_plaintext`], addresses filtered by [`DavConfig::address_policy`], and
//! answers capped ([`DavConfig::max_response_bytes`], [`DavConfig::max_item_bytes`]). [`srv`] turns a domain into
//! base URLs (RFC 6764 SRV/TXT) through a resolver the caller supplies.

#![warn(missing_docs)]

mod client;
mod error;
pub mod srv;
mod xml;

pub use client::{
    AdminLogin, Collection, CollectionKind, DEFAULT_MAX_ITEM_BYTES, DEFAULT_MAX_RESPONSE_BYTES,
    DavClient, DavConfig, Homes, ItemRef, MULTIGET_BATCH, NewCollection, PutCondition, PutOutcome,
    SyncResult, normalize_href,
};
pub use error::{DavError, Result};
pub use passeur_formats::ComponentKind;
#[doc(hidden)]
pub use xml::fuzzing;
