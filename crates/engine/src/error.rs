//! The typed causes behind [`EngineError`]'s `Config`, `Purge`, `Import`,
//! `Plaintext`, `Busy` and `Internal`.
//!
//! Each variant carries what a program needs (the folder, the URL, the side, the holder of a
//! lease) and keeps an underlying typed error as its `source`, so that a job queue can ask
//! [`is_retryable`](crate::EngineError::is_retryable) and a page can say the cause in its
//! own language. `Display` is the English sentence the command line prints.

use std::path::PathBuf;

use crate::{EngineError, Side};

/// Why a migration's settings cannot work (a bad URL, a missing password, options that
/// contradict each other). Not worth a retry: the same settings fail the same way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The system's resolver configuration (`/etc/resolv.conf`) cannot be read.
    #[error("cannot read the system's DNS configuration: {0}")]
    SystemDns(#[source] hickory_resolver::net::NetError),
    /// The DNS resolver cannot be built.
    #[error("cannot set up DNS: {0}")]
    DnsSetup(#[source] hickory_resolver::net::NetError),
    /// The options stored with a migration cannot be read back.
    #[error("cannot read the migration's stored options: {0}")]
    StoredOptions(#[source] serde_json::Error),
    /// A side needs a password and none was given.
    #[error("no {0} password")]
    NoPassword(Side),
    /// A mail URL that cannot be read (`imaps://user@host:port`).
    #[error("{0}")]
    MailUrl(#[source] passeur_types::ParseError),
    /// A DAV URL that cannot be read.
    #[error("cannot read the DAV URL {url:?}: {source}")]
    DavUrl {
        /// The URL as typed, without its password.
        url: String,
        /// What the URL parser found wrong.
        #[source]
        source: url::ParseError,
    },
    /// A DAV URL with a password in it.
    #[error(
        "cannot use the DAV URL {url:?}: it carries a password; give the password separately, never in the URL"
    )]
    DavUrlWithPassword {
        /// The URL without its password.
        url: String,
    },
    /// A DAV URL that is neither http(s):// nor a domain name.
    #[error("cannot use the DAV URL {url:?}: expected http://, https:// or a domain name")]
    DavUrlScheme {
        /// The URL without its password.
        url: String,
    },
    /// A DAV account without a user name.
    #[error("cannot log in to {url}: no DAV user name")]
    NoDavUser {
        /// The URL without its password.
        url: String,
    },
    /// A user's principal URL cannot be made from the server's URL and the user name.
    #[error("cannot address {user}'s principal: {source}")]
    PrincipalUrl {
        /// The user name.
        user: String,
        /// What the URL parser found wrong.
        #[source]
        source: url::ParseError,
    },
    /// A domain given for RFC 6764 discovery with no DAV server found at all.
    #[error("cannot find a DAV server for {domain}")]
    NoDavServer {
        /// The domain.
        domain: String,
    },
    /// An OAuth 2.0 token and an admin given for the same side.
    #[error("{0}: an OAuth 2.0 token logs in as its own user: it cannot be combined with an admin")]
    OAuthWithAdmin(Side),
    /// A POP3 account where only IMAP can be used.
    #[error("{side}: {endpoint} is a POP3 account: it can only be the source of a POP3 pass")]
    Pop3NotHere {
        /// Which side.
        side: Side,
        /// The account's endpoint, without secrets.
        endpoint: String,
    },
    /// A POP3 pass whose source is not a POP3 account.
    #[error("the source of a POP3 pass must be a pop3://, pop3+starttls:// or pop3s:// account")]
    NotPop3Source,
    /// A POP3 source without UIDL: no copy could be exactly once.
    #[error(
        "source: cannot copy from this POP3 server: it does not support UIDL, without which a \
         message cannot be recognised from one run to the next (no copy would be exactly once)"
    )]
    Pop3WithoutUidl,
    /// A POP3 source that gives one unique-id to two messages.
    #[error(
        "source: cannot copy from this POP3 server: it gives the unique-id {uid:?} to two messages"
    )]
    Pop3DuplicateUid {
        /// The unique-id given twice.
        uid: String,
    },
    /// A Gmail source whose All Mail folder is hidden from IMAP.
    #[error(
        "the source speaks Gmail's IMAP (X-GM-EXT-1) but lists no All Mail folder (\\All): \
         enable 'Show in IMAP' for All Mail in Gmail's settings"
    )]
    GmailWithoutAllMail,
    /// `--file` given to verify a migration that is not a file import.
    #[error("--file is for the verification of a file import")]
    FileNotAnImport,
    /// The file given to verify an import is not the one imported.
    #[error("cannot verify: {path} is not the file imported ({imported}), or it changed since")]
    NotTheImportedFile {
        /// The file given.
        path: PathBuf,
        /// The file imported, as recorded.
        imported: String,
    },
    /// The imported file cannot be found or read for verification.
    #[error("cannot verify without the imported file: {0} (give --file if it moved)")]
    ImportedFileGone(#[source] Box<EngineError>),
    /// A calendar or address book file import without a DAV destination.
    #[error("cannot import a calendar or address book file without a DAV destination")]
    NoDavDestination,
    /// The verification of an import that has no DAV destination (a calendar or address
    /// book file must have one).
    #[error("cannot verify: the import has no DAV destination")]
    NoDavToVerify,
}

impl ConfigError {
    /// Never: the same settings fail the same way.
    pub fn is_retryable(&self) -> bool {
        false
    }

    /// The side whose setting is wrong, when it is one side's.
    pub fn side(&self) -> Option<Side> {
        match self {
            ConfigError::NoPassword(s) | ConfigError::OAuthWithAdmin(s) => Some(*s),
            ConfigError::Pop3NotHere { side, .. } => Some(*side),
            ConfigError::NotPop3Source
            | ConfigError::Pop3WithoutUidl
            | ConfigError::Pop3DuplicateUid { .. }
            | ConfigError::GmailWithoutAllMail => Some(Side::Source),
            _ => None,
        }
    }
}

/// Why a purge cannot be done safely.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PurgeError {
    /// The destination cannot delete only what the migration copied.
    #[error(
        "the destination server lacks UIDPLUS, so deleting only our messages (UID EXPUNGE) is not possible"
    )]
    NoUidplus,
}

impl PurgeError {
    /// Never: the server lacks what a safe purge needs.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Why a file import could not go on (the file is not what it should be, or the destination
/// has no place for it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file is neither iCalendar nor vCard.
    #[error("cannot import {}: not an iCalendar or vCard file", path.display())]
    NotCalendarOrContacts {
        /// The file.
        path: PathBuf,
    },
    /// The DAV destination has no home for this kind of collection.
    #[error("cannot import: the DAV server shows no home for this kind of collection")]
    NoHome,
    /// Reading the file broke off (an I/O error, a line beyond the cap).
    #[error("cannot import {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the reader found.
        #[source]
        source: passeur_formats::FormatError,
    },
}

impl ImportError {
    /// Never: the file or the destination's layout would be the same on a new attempt.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// A password that would go in clear text to a host other than loopback.
#[derive(Debug, thiserror::Error)]
#[error(
    "{side}: cannot send the password in clear text to {host}: use {secure}, or allow it with --allow-plaintext"
)]
pub struct PlaintextError {
    /// Which side.
    pub side: Side,
    /// The host it would go to.
    pub host: String,
    /// The secure schemes to use instead (`imaps:// or imap+starttls://`).
    pub secure: &'static str,
}

/// Another process runs the migration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusyError {
    /// The lease is held by another process.
    #[error(
        "migration {id} is being run by another process ({holder}); try again when it ends, or \
         wait for it with --wait (its lease lapses within {lapses_in} s if it died)"
    )]
    Held {
        /// The migration.
        id: passeur_types::MigrationId,
        /// Who holds the lease.
        holder: String,
        /// Seconds until the lease lapses unless renewed.
        lapses_in: u64,
    },
    /// The lease was taken over during this run, which stopped.
    #[error("migration {id}: another process took this run over; this one stopped")]
    TakenOver {
        /// The migration.
        id: passeur_types::MigrationId,
    },
}

/// A state passeur should never reach: a bug.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InternalError {
    /// A task ended without its result (a panic, or it was cancelled).
    #[error("{what}: {source}")]
    Task {
        /// Which task, in words (`the PST reader ended abnormally`).
        what: &'static str,
        /// The runtime's account of how it ended.
        #[source]
        source: tokio::task::JoinError,
    },
    /// A copy task panicked.
    #[error("a copy task failed: {0}")]
    CopyTaskPanicked(String),
    /// The memory budget was closed while copies were waiting for it.
    #[error("the memory budget was closed")]
    BudgetClosed,
    /// The PST import's destination connection was missing after it was made.
    #[error("no destination connection")]
    NoDestinationConnection,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed causes say what the command line printed when they were strings.
    #[test]
    fn the_typed_causes_keep_their_words() {
        let id = passeur_types::MigrationId::random();
        let cases: Vec<(EngineError, String)> = vec![
            (
                ConfigError::NoPassword(Side::Source).into(),
                "no source password".into(),
            ),
            (
                ConfigError::OAuthWithAdmin(Side::Destination).into(),
                "destination: an OAuth 2.0 token logs in as its own user: it cannot be combined \
                 with an admin"
                    .into(),
            ),
            (
                ConfigError::DavUrlWithPassword {
                    url: "https://u@dav.example/".into(),
                }
                .into(),
                "cannot use the DAV URL \"https://u@dav.example/\": it carries a password; give \
                 the password separately, never in the URL"
                    .into(),
            ),
            (
                PurgeError::NoUidplus.into(),
                "cannot purge: the destination server lacks UIDPLUS, so deleting only our \
                 messages (UID EXPUNGE) is not possible"
                    .into(),
            ),
            (
                ImportError::NoHome.into(),
                "cannot import: the DAV server shows no home for this kind of collection".into(),
            ),
            (
                InternalError::BudgetClosed.into(),
                "internal error: the memory budget was closed".into(),
            ),
            (
                BusyError::Held {
                    id,
                    holder: "host:42".into(),
                    lapses_in: 25,
                }
                .into(),
                format!(
                    "migration {id} is being run by another process (host:42); try again when \
                     it ends, or wait for it with --wait (its lease lapses within 25 s if it died)"
                ),
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }

    #[test]
    fn retry_and_side_come_from_the_typed_cause() {
        let e: EngineError = ConfigError::NoPassword(Side::Destination).into();
        assert!(!e.is_retryable());
        assert_eq!(e.side(), Some(Side::Destination));
        let e: EngineError = BusyError::TakenOver {
            id: passeur_types::MigrationId::random(),
        }
        .into();
        assert!(e.is_retryable());
        assert_eq!(e.code(), "busy");
        let e: EngineError = PlaintextError {
            side: Side::Source,
            host: "imap.example".into(),
            secure: "imaps:// or imap+starttls://",
        }
        .into();
        assert!(!e.is_retryable());
        assert_eq!((e.code(), e.side()), ("plaintext", Some(Side::Source)));
    }
}
