//! passeur-net: the network guard shared by the IMAP, DAV, POP3 and SMTP clients.
//!
//! The service runs migrations for strangers' accounts against servers we do not control, so
//! every outgoing connection goes through the same few rules:
//!
//! - [`AddressPolicy`]: after DNS resolution, refuse loopback, private, link-local, CGNAT,
//!   unspecified, multicast and cloud-metadata addresses (IPv4-mapped IPv6 included) unless
//!   allowed. Libraries default to [`AddressPolicy::permissive`] (the CLI runs on the user's own
//!   machine); the service uses [`AddressPolicy::public_only`].
//! - [`connect`] / [`resolve`]: resolve, filter through the policy, try each address with a
//!   connect time limit, and set `TCP_NODELAY` (an IMAP server without LITERAL+ otherwise
//!   loses ~43 ms per message to Nagle and delayed ACKs).
//! - [`tls_client_config`]: a rustls [`rustls::ClientConfig`] with the ring provider passed
//!   explicitly (no process-global `install_default`), the platform verifier by default, or a
//!   verifier accepting any certificate ([`TlsVerify::AcceptAnyCertificate`]).
//! - [`Origin`], [`same_origin`], [`credentials_may_go`]: credentials go only to the origin
//!   (scheme, host, port) they were given for, and never from `https` down to `http`.
//! - [`PlaintextPolicy`]: no clear-text login to a host other than loopback without
//!   `allow_plaintext`.
//! - [`discover`]: a mail account's servers from its address (provider presets, RFC 6186 SRV,
//!   autoconfig files and the ISPDB, MX records of known hosters), never choosing clear text.

#![warn(missing_docs)]

mod addr;
mod connect;
pub mod discover;
mod error;
pub mod http;
mod origin;
mod tls;

pub use addr::{AddressClass, AddressPolicy, classify};
pub use connect::{connect, resolve};
pub use error::NetError;
pub use origin::{Origin, PlaintextPolicy, credentials_may_go, is_loopback_host, same_origin};
pub use tls::{TlsVerify, crypto_provider, explain_handshake, tls_client_config};
