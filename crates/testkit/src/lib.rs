//! passeur-testkit: the dev-only harness that runs real servers for tests.
//!
//! * [`Dovecot`] — a private Dovecot 2.3 instance (IMAP, optional IMAPS/POP3/quota/COMPRESS)
//!   in a temp dir on random loopback ports, with users `user1..userN` / `pass1..passN`
//!   and a master user `admin` / `masterpass`.
//! * [`Radicale`] — a private Radicale 3 CalDAV/CardDAV server (see `radicale.rs`).
//! * [`Xandikos`] — a private Xandikos (single principal, no auth), a second DAV target.
//! * [`Cyrus`] — a private Cyrus IMAP 3.6 (altnamespace, separator `/`, CREATE-SPECIAL-USE,
//!   MULTIAPPEND, LITERAL+), run from Debian's package unpacked into a private root.
//! * [`Courier`] — a private Courier-IMAP 5.0 (`INBOX.` prefix, separator `.`, no LITERAL+,
//!   no MULTIAPPEND), unpacked likewise and run in private mount and PID namespaces.
//! * [`SmtpReceiver`] — a private SMTP receiver (aiosmtpd: plain, STARTTLS, implicit TLS,
//!   AUTH, 451/550 on demand) that spools every message it accepts.
//! * [`PgTestDb`] — a fresh database per test on the local PostgreSQL, dropped on drop.
//! * [`CutProxy`] — a TCP proxy that can drop every live connection on demand or after
//!   N bytes, to test connection cuts mid-transfer.
//! * [`GmailServer`] — a Gmail-speaking IMAP server (labels, `X-GM-MSGID`, `[Gmail]/All Mail`)
//!   over a folder of a private Dovecot, for Gmail-mode migrations.
//! * [`RewriteProxy`] — a TCP proxy that rewrites the server's lines: a hostile server made
//!   of a real one.
//!
//! Also [`corpus`] (seeded realistic mail corpus), [`imapwire`] (a minimal blocking IMAP
//! client, independent of passeur's) and [`verify`] (compare two IMAP accounts).
//!
//! Everything is blocking (no async runtime) and cleans up after itself on drop:
//! every server process is also watched by a tiny shell watchdog that kills it if the
//! test process dies without running destructors.

#![warn(missing_docs)]

pub mod corpus;
mod courier;
mod cyrus;
pub mod debroot;
mod dnsmasq;
mod dovecot;
mod gmail;
pub mod imapwire;
mod oauth;
mod postgres;
mod proc;
mod proxy;
mod radicale;
mod rewrite;
mod smtp;
pub mod verify;
mod xandikos;

pub use courier::{Courier, ensure_courier};
pub use cyrus::{Cyrus, ensure_cyrus};
pub use dnsmasq::{Dnsmasq, Srv, ensure_dnsmasq};
pub use dovecot::{Dovecot, DovecotOptions, ensure_dovecot};
pub use gmail::GmailServer;
pub use oauth::{CLIENT_ID as OAUTH_CLIENT_ID, TokenServer};
pub use postgres::{PgTestDb, ensure_postgres};
pub use proxy::CutProxy;
pub use radicale::{Radicale, RadicaleOptions, ensure_radicale};
pub use rewrite::{RewriteProxy, replace_all};
pub use smtp::{ReceivedMessage, SmtpOptions, SmtpReceiver, SmtpSecurity, ensure_aiosmtpd};
pub use xandikos::{Xandikos, ensure_xandikos};
