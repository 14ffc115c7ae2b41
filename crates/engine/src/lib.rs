//! passeur's migration engine.
//!
//! - [`Runner`]: the one way to run a migration (create, pass, purge, verify, status), used by
//!   the CLI, the server and the workers alike; a [`MigrationSpec`] says what a migration is.
//! - [`MailAccount`]: one side of a mail migration (endpoint, admin, secret).
//! - [`folders`]: mapping source folders to destination names (namespaces, separators,
//!   special-use roles, user rules).
//! - [`run_mail_pass`]: one exactly-once pass over the source (the first copies everything, later
//!   ones copy what is new and bring flag changes over), driven by the store's item map.
//!   A Gmail source (`X-GM-EXT-1`) is copied by message and label instead (`gmail.rs`): each
//!   message downloaded once from All Mail, appended once, then `UID COPY`ed into its further
//!   label folders on the destination.
//! - [`verify_mail`]: compares source and destination folder by folder.
//! - [`run_dav_pass`], [`purge_dav`], [`verify_dav`]: the same for contacts, calendars and
//!   tasks between CardDAV/CalDAV accounts.
//! - [`run_pop3_pass`], [`verify_pop3`]: a POP3 mailbox into an IMAP folder, exactly once by
//!   UIDL (same item map, reconcile and purge as a mail pass); the runner takes this path when
//!   the source is a `pop3://`, `pop3+starttls://` or `pop3s://` account.
//! - [`purge_mail`]: deletes from the destination exactly what a migration copied (from a pass on).
//! - [`run_pst_import`], [`run_file_import`]: file imports (PST/OST to IMAP + DAV, .ics/.vcf to
//!   DAV), exactly once through the same item map; [`Runner::purge`] deletes what they copied.
//!
//! A run reports [`Event`]s to an [`EventSink`] and stops cleanly when its
//! [`CancellationToken`](tokio_util::sync::CancellationToken) is cancelled: what is copied stays
//! recorded. Limits (connections per server, bytes in flight) are parameters ([`Limits`]).

#![warn(missing_docs)]

pub mod account;
pub mod dav_sink;
mod dav_sync;
pub mod dns;
pub mod error;
pub mod events;
pub mod folders;
mod gmail;
mod import_dav;
mod import_pst;
mod mail;
mod message;
mod pop3;
mod purge;
pub mod runner;
mod verify;
mod verify_import;

pub use account::{Compress, MailAccount};
pub use dav_sync::{
    DavAccount, DavCollectionCheck, DavCollectionReport, DavOptions, DavPassReport, DavPurgeReport,
    DavVerifyReport, collection_kind, purge_dav, purge_dav_with, run_dav_pass, verify_dav,
};
pub use error::{BusyError, ConfigError, ImportError, InternalError, PlaintextError, PurgeError};
pub use events::{Event, EventSink, EventStream, ItemRef};
pub use folders::{FolderPlan, FolderRules};
pub use gmail::{
    DEFAULT_ARCHIVE as GMAIL_DEFAULT_ARCHIVE, IMPORTANT_KEYWORD as GMAIL_IMPORTANT_KEYWORD,
};
pub use import_dav::{FileKind, run_file_import};
pub use import_pst::{ImportFolderReport, ImportOptions, ImportReport, run_pst_import};
pub use mail::{FolderReport, PassReport, run_mail_pass};
pub use message::fingerprint;
pub use pop3::{POP3_FOLDER, Pop3Options, Pop3Report, connect_pop3, run_pop3_pass, verify_pop3};
pub use purge::{PurgeReport, purge_mail};
pub use runner::{
    AccountSpec, Control, DavSpec, ImportSpec, ImportTarget, MigrationSpec, MigrationView, Outcome,
    PassOutcome, PurgeOutcome, RunContext, RunOptions, Runner, Secret, Secrets, VerifyOutcome,
    file_source_id, mail_account,
};
pub use verify::{FolderCheck, VerifyReport, verify_mail};
pub use verify_import::{ImportCheck, ImportVerifyReport, verify_dav_import, verify_pst_import};

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which side of a migration something happened on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The account migrated from (or the file imported).
    Source,
    /// The account migrated to.
    Destination,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Destination => "destination",
        })
    }
}

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The IMAP server of one side failed or refused.
    #[error("{side}: {}", said_once(action, source))]
    Imap {
        /// Which side's server.
        side: Side,
        /// What passeur was doing (`connect`, `list folders`, ...), for the message.
        action: &'static str,
        /// The IMAP client's error (it says whether a retry may help).
        #[source]
        source: passeur_imap::Error,
    },
    /// The POP3 server of the source failed or refused.
    #[error("{side}: {}", said_once(action, source))]
    Pop3 {
        /// Which side's server (always the source: POP3 is never a destination).
        side: Side,
        /// What passeur was doing, for the message.
        action: &'static str,
        /// The POP3 client's error (it says whether a retry may help).
        #[source]
        source: passeur_pop3::Error,
    },
    /// A CalDAV/CardDAV server of one side failed or refused.
    #[error("{side}: {}", said_once(action, source))]
    Dav {
        /// Which side's server.
        side: Side,
        /// What passeur was doing (`discover`, `copy a collection`, ...), for the message.
        action: &'static str,
        /// The DAV client's error (it says whether a retry may help).
        #[source]
        source: passeur_dav::DavError,
    },
    /// An OAuth 2.0 token that could not be had or renewed: the run stops, a new login is needed.
    #[error("{side}: {source}")]
    OAuth {
        /// Which side's token.
        side: Side,
        /// Why the token could not be had.
        #[source]
        source: passeur_oauth::OAuthError,
    },
    /// The migration's settings cannot work (a bad URL, a missing password, options that
    /// contradict each other); the cause says which. Not worth a retry.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A password would go in clear text to a host other than loopback, which is not allowed.
    #[error(transparent)]
    Plaintext(#[from] PlaintextError),
    /// The state store failed (a database error, a lease taken over).
    #[error(transparent)]
    Store(#[from] passeur_store::StoreError),
    /// A folder rule (include, exclude, rename) is invalid.
    #[error(transparent)]
    Rules(#[from] folders::RuleError),
    /// A purge cannot be done safely (a destination without UIDPLUS cannot delete only what
    /// the migration copied).
    #[error("cannot purge: {0}")]
    Purge(#[from] PurgeError),
    /// A file import could not go on (a file that is not what it should be).
    #[error(transparent)]
    Import(#[from] ImportError),
    /// A PST/OST file could not be read.
    #[error("cannot read {path}: {source}")]
    Pst {
        /// The file's path.
        path: String,
        /// What the PST reader found wrong.
        #[source]
        source: passeur_pst::PstError,
    },
    /// A local file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    File {
        /// The file's path.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Another process runs this migration (its lease is held).
    #[error(transparent)]
    Busy(#[from] BusyError),
    /// A state passeur should never reach (a bug); the cause says where.
    #[error("internal error: {0}")]
    Internal(#[from] InternalError),
}

/// `cannot {action}: {source}`, without saying "cannot connect" twice when the source's own
/// message already starts with it ("cannot connect to host:port: …").
fn said_once(action: &str, source: &dyn std::error::Error) -> String {
    let text = source.to_string();
    let lead = format!("cannot {action}");
    if text.starts_with(&lead) {
        text
    } else {
        format!("{lead}: {text}")
    }
}

impl EngineError {
    pub(crate) fn imap(side: Side, action: &'static str, source: passeur_imap::Error) -> Self {
        EngineError::Imap {
            side,
            action,
            source,
        }
    }

    pub(crate) fn oauth(side: Side, source: passeur_oauth::OAuthError) -> Self {
        EngineError::OAuth { side, source }
    }

    /// True for a login that can no longer succeed (a token refused and not renewable, a
    /// password refused): every other connection of the pass would fail the same way, so the
    /// pass stops at its next safe point instead of failing folder after folder.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            EngineError::OAuth { .. }
                | EngineError::Imap {
                    source: passeur_imap::Error::Auth { .. },
                    ..
                }
                | EngineError::Pop3 {
                    source: passeur_pop3::Error::Auth { .. },
                    ..
                }
        )
    }

    pub(crate) fn dav(side: Side, action: &'static str, source: passeur_dav::DavError) -> Self {
        EngineError::Dav {
            side,
            action,
            source,
        }
    }

    /// The side the failure is on, when it is on one: a server's error, a token, a clear-text
    /// refusal, or a setting of one side (a missing password, a token with an admin, a POP3
    /// account where IMAP is needed).
    pub fn side(&self) -> Option<Side> {
        match self {
            EngineError::Imap { side, .. }
            | EngineError::Pop3 { side, .. }
            | EngineError::Dav { side, .. }
            | EngineError::OAuth { side, .. } => Some(*side),
            EngineError::Plaintext(p) => Some(p.side),
            EngineError::Config(c) => c.side(),
            _ => None,
        }
    }

    /// Worth trying again (a dropped connection, a time-out), as opposed to a wrong password,
    /// a certificate problem or a refusal by the server.
    pub fn is_retryable(&self) -> bool {
        match self {
            EngineError::Imap { source, .. } => source.is_retryable(),
            EngineError::Dav { source, .. } => source.is_retryable(),
            EngineError::Pst { source, .. } => source.is_retryable(),
            EngineError::Busy(_) => true,
            EngineError::Pop3 { source, .. } => source.is_retryable(),
            EngineError::Config(c) => c.is_retryable(),
            EngineError::Purge(p) => p.is_retryable(),
            EngineError::Import(i) => i.is_retryable(),
            EngineError::OAuth { .. }
            | EngineError::Plaintext(_)
            | EngineError::Store(_)
            | EngineError::Rules(_)
            | EngineError::File { .. }
            | EngineError::Internal(_) => false,
        }
    }

    /// A stable word for the kind of failure, for a program or a page that says it in its own
    /// language: `auth` (credentials refused), `tls`, `unreachable` (no connection, no answer,
    /// connection cut), `refused` (an address this service does not reach), `plaintext` (a
    /// password would go in clear text), `quota`, `busy` (another process runs the migration),
    /// `file` (an imported file that cannot be read), or `other`. A pass that ended with items
    /// not migrated is recorded as `incomplete` by the runner.
    pub fn code(&self) -> &'static str {
        use passeur_imap::Error as I;
        use passeur_pop3::Error as P;
        match self {
            EngineError::Imap { source, .. } => match source {
                I::Auth { .. } => "auth",
                I::Tls { .. } => "tls",
                I::Refused(_) => "refused",
                I::Connect { .. }
                | I::UnknownHost { .. }
                | I::Timeout { .. }
                | I::NoGreeting { .. }
                | I::Closed { .. }
                | I::Io(_) => "unreachable",
                e if e
                    .code()
                    .is_some_and(|c| c.eq_ignore_ascii_case("OVERQUOTA")) =>
                {
                    "quota"
                }
                _ => "other",
            },
            EngineError::Pop3 { source, .. } => match source {
                P::Auth { .. } => "auth",
                P::Tls { .. } => "tls",
                P::Refused(_) => "refused",
                P::Connect { .. }
                | P::UnknownHost { .. }
                | P::Timeout { .. }
                | P::Closed { .. }
                | P::Io(_) => "unreachable",
                _ => "other",
            },
            EngineError::Dav { source, .. } => match source {
                passeur_dav::DavError::Auth { .. } | passeur_dav::DavError::OAuth(_) => "auth",
                passeur_dav::DavError::Transport { .. } => "unreachable",
                passeur_dav::DavError::Http { status: 507, .. } => "quota",
                passeur_dav::DavError::Net(n) => match n {
                    passeur_net::NetError::AddressRefused { .. }
                    | passeur_net::NetError::CrossOrigin { .. }
                    | passeur_net::NetError::Downgrade { .. } => "refused",
                    passeur_net::NetError::Plaintext { .. } => "plaintext",
                    passeur_net::NetError::Tls(_) => "tls",
                    _ => "unreachable",
                },
                _ => "other",
            },
            EngineError::Plaintext(_) => "plaintext",
            EngineError::OAuth { .. } => "auth",
            EngineError::Busy(_) => "busy",
            EngineError::Import(_) | EngineError::Pst { .. } | EngineError::File { .. } => "file",
            _ => "other",
        }
    }
}

/// Limits of a run.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Limits {
    /// Simultaneous connections per server (each copies one folder at a time).
    pub connections: usize,
    /// Message bytes held in memory at once, over all connections. A single larger message is
    /// still copied, alone.
    pub bytes_in_flight: usize,
    /// Messages per fetch / MULTIAPPEND batch.
    pub batch_messages: usize,
    /// Bytes per batch.
    pub batch_bytes: usize,
    /// Times a folder is retried after a dropped connection.
    pub retries: u32,
    /// Messages of at least this many bytes are streamed from the source into the destination
    /// one at a time, never held whole in memory.
    #[serde(default = "default_stream_from")]
    pub stream_from: usize,
    /// A folder with at least this many messages to copy is copied in parts (UID ranges),
    /// each listing and reading only its own range, so that memory stays flat however big
    /// the folder.
    #[serde(default = "default_split_from")]
    pub split_from: usize,
    /// The parts of a split folder go to several connection pairs at once (destinations
    /// with UIDPLUS only) instead of one after the other in UID order. Off by default:
    /// Dovecot serialises appends into one folder, so it was not faster there
    /// (`bench/README.md`), and the destination's UIDs then no longer follow the source's
    /// order within the folder.
    #[serde(default)]
    pub split_parallel: bool,
    /// A reconciliation (after an interrupted run or a UIDVALIDITY change) matches the item
    /// map against this many UIDs of a folder at a time, so that its memory does not grow
    /// with the folder.
    #[serde(default = "default_reconcile_chunk")]
    pub reconcile_chunk: usize,
}

fn default_reconcile_chunk() -> usize {
    Limits::default().reconcile_chunk
}

fn default_stream_from() -> usize {
    Limits::default().stream_from
}

fn default_split_from() -> usize {
    Limits::default().split_from
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 4,
            bytes_in_flight: 24 << 20,
            batch_messages: 100,
            batch_bytes: 6 << 20,
            retries: 6,
            stream_from: 1 << 20,
            split_from: 2000,
            split_parallel: false,
            reconcile_chunk: 5000,
        }
    }
}

/// Options of a mail pass.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MailOptions {
    /// Which folders are copied, and under which names.
    pub rules: FolderRules,
    /// Connections, memory and batch sizes.
    pub limits: Limits,
    /// Plan only: list what would be copied, copy nothing.
    pub dry_run: bool,
    /// Scan every folder even when its STATUS says it has not changed since the last pass.
    pub full: bool,
}
