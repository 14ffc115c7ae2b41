//! The values the store reads and writes, and its error type.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use passeur_types::{ContentKind, MigrationId, Status};
use serde::Serialize;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error("cannot open the store at {path}: {source}")]
    Open {
        /// The file or URL (without password) that was opened.
        path: String,
        /// What the driver said.
        source: sqlx::Error,
    },
    /// A query failed.
    #[error("cannot read or write the store: {0}")]
    Db(#[from] sqlx::Error),
    /// No migration has this ID.
    #[error("no migration with ID {0}")]
    NotFound(String),
    /// A stored value makes no sense to this program.
    #[error("the store holds an invalid value: {0}")]
    Corrupt(String),
    /// The URL given to [`Store::connect`](crate::Store::connect) names no backend we have.
    #[error("cannot open the store: {0}")]
    Url(String),
    /// Another runner holds the migration's lease.
    #[error(
        "cannot run this migration now: it is being run by {holder} (its lease ends in {}s unless renewed)",
        secs_left(.until)
    )]
    Busy {
        /// Who holds the lease (as given to [`Store::acquire_lease`](crate::Store::acquire_lease)).
        holder: String,
        /// When the lease ends unless its holder renews it.
        until: SystemTime,
    },
    /// The lease this handle was fenced with expired or was taken over: nothing was written.
    #[error(
        "cannot write to the store: this runner's lease on the migration expired or was taken over by another runner"
    )]
    LeaseLost,
}

fn secs_left(until: &SystemTime) -> u64 {
    until
        .duration_since(SystemTime::now())
        .map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

impl StoreError {
    /// Whether trying again later may succeed (a busy lease, a dropped connection, a
    /// timed-out pool), as opposed to a fault that a retry will meet again.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Busy { .. } => true,
            StoreError::Db(e) | StoreError::Open { source: e, .. } => matches!(
                e,
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
            ),
            _ => false,
        }
    }
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A migration as stored.
#[derive(Debug, Clone)]
pub struct MigrationRow {
    /// Its ID.
    pub id: MigrationId,
    /// Unix time (seconds) of its creation.
    pub created_at: i64,
    /// The source, as a URL without secrets.
    pub source: String,
    /// The destination, as a URL without secrets.
    pub destination: String,
    /// Options as JSON (the engine's to interpret).
    pub options: String,
    /// Where it is in its life cycle.
    pub status: Status,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// The kind of that failure as a stable word (`auth`, `tls`, `unreachable`, ...), when
    /// the runner knew it.
    pub error_code: Option<String>,
}

/// How a pass ended, or that it is still running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PassStatus {
    /// Started and not finished (or its process died: see `Interrupted`).
    #[default]
    Running,
    /// Finished, everything copied.
    Done,
    /// Finished, some items not copied.
    Incomplete,
    /// Stopped by an error.
    Failed,
    /// Stopped by the user.
    Stopped,
    /// Left `running` by a process that died, closed when the next pass began.
    Interrupted,
}

impl PassStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PassStatus::Running => "running",
            PassStatus::Done => "done",
            PassStatus::Incomplete => "incomplete",
            PassStatus::Failed => "failed",
            PassStatus::Stopped => "stopped",
            PassStatus::Interrupted => "interrupted",
        }
    }

    /// Reads the stored spelling.
    pub fn parse(s: &str) -> Option<PassStatus> {
        Some(match s {
            "running" => PassStatus::Running,
            "done" => PassStatus::Done,
            "incomplete" => PassStatus::Incomplete,
            "failed" => PassStatus::Failed,
            "stopped" => PassStatus::Stopped,
            "interrupted" => PassStatus::Interrupted,
            _ => return None,
        })
    }
}

impl fmt::Display for PassStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` so that width and alignment (`{:<12}`) work.
        f.pad(self.as_str())
    }
}

/// One pass (sync point) of a migration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassRow {
    /// 1 for the first pass.
    pub number: u32,
    /// Unix time (seconds).
    pub started_at: i64,
    /// Unix time (seconds), once finished.
    pub finished_at: Option<i64>,
    /// How it ended.
    pub status: PassStatus,
    /// What it did.
    pub counters: PassCounters,
    /// Why it failed or is incomplete.
    pub error: Option<String>,
}

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassCounters {
    /// Items copied.
    pub copied: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// Items whose flags were brought over again.
    pub flags_updated: u64,
    /// Items that could not be copied.
    pub failed: u64,
}

/// The mail items one reconciliation works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailScope<'a> {
    /// Every mail item of one source folder.
    Folder(&'a str),
    /// The mail items recorded into one destination folder from the source folders whose
    /// name starts with a prefix (Gmail mode: appends and label copies from several item
    /// folders land in one destination folder).
    Into {
        /// The destination folder.
        dst_folder: &'a str,
        /// The prefix of the items' source folders.
        src_prefix: &'a str,
    },
}

/// What the item map holds for one mail folder, read without loading its rows: enough to know
/// whether a pass must reconcile or re-key before it can trust the map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailFolderSummary {
    /// Items, pending ones included.
    pub items: u64,
    /// Items written before a copy and not confirmed.
    pub pending: u64,
    /// Items recorded under another source UIDVALIDITY than the one asked about.
    pub other_uidvalidity: u64,
    /// The lowest and highest destination UIDVALIDITY of the confirmed items (none without
    /// UIDPLUS).
    pub dst_uidvalidity: Option<(u32, u32)>,
}

/// The last seen state of a source folder, which lets an unchanged folder be skipped outright.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderState {
    /// The folder's name on the source.
    pub src_name: String,
    /// The folder's name on the destination.
    pub dst_name: String,
    /// Source UIDVALIDITY.
    pub src_uidvalidity: Option<u32>,
    /// Source UIDNEXT.
    pub src_uidnext: Option<u32>,
    /// Source message count.
    pub src_messages: Option<u32>,
    /// Source HIGHESTMODSEQ (CONDSTORE).
    pub src_highestmodseq: Option<u64>,
    /// Destination UIDVALIDITY.
    pub dst_uidvalidity: Option<u32>,
    /// The last pass over this folder finished without failure.
    pub complete: bool,
}

/// A source DAV collection copied by a migration: where it goes and the source's sync token
/// after the last pass (`None`: list everything next time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavCollectionState {
    /// The collection on the source.
    pub src_href: String,
    /// Contacts, calendars or tasks.
    pub kind: ContentKind,
    /// The collection on the destination.
    pub dst_href: String,
    /// The source's RFC 6578 sync token after the last pass.
    pub sync_token: Option<String>,
}

/// One row of the item map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Mail, contacts, calendars or tasks.
    pub kind: ContentKind,
    /// The source folder or collection.
    pub src_folder: String,
    /// Unique within (kind, src_folder): `UIDVALIDITY/UID` for mail, the href or node id otherwise.
    pub src_key: String,
    /// Source UIDVALIDITY (mail).
    pub src_uidvalidity: Option<u32>,
    /// Source UID (mail).
    pub src_uid: Option<u32>,
    /// A content fingerprint that survives a change of UID (see the engine for its recipe).
    pub fingerprint: String,
    /// The destination folder or collection.
    pub dst_folder: String,
    /// Destination UIDVALIDITY (mail).
    pub dst_uidvalidity: Option<u32>,
    /// Destination UID (mail).
    pub dst_uid: Option<u32>,
    /// Destination key (the href for DAV items).
    pub dst_key: Option<String>,
    /// The pass that copied it.
    pub pass: u32,
    /// Its size in bytes.
    pub size: u64,
    /// Space-separated flags as last copied (mail).
    pub flags: String,
    /// The destination's ETag after the copy (DAV items).
    pub etag: Option<String>,
    /// Written before the copy and not yet confirmed.
    pub pending: bool,
}

impl Item {
    /// The source key of a mail item.
    pub fn mail_key(uidvalidity: u32, uid: u32) -> String {
        format!("{uidvalidity}/{uid}")
    }

    /// The key of this item.
    pub fn key(&self) -> ItemKey<'_> {
        ItemKey {
            kind: self.kind,
            src_folder: &self.src_folder,
            src_key: &self.src_key,
        }
    }
}

/// A per-item failure, kept for the report.
///
/// [`Store::record_failures`](crate::Store::record_failures) keeps at most
/// [`FAILURE_TEXT_MAX`] bytes of `folder`, `src_key` and `reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The pass it happened in.
    pub pass: u32,
    /// The kind of item.
    pub kind: ContentKind,
    /// The source folder.
    pub folder: String,
    /// The item's source key (or UID).
    pub src_key: String,
    /// Its size, when known.
    pub size: Option<u64>,
    /// What went wrong.
    pub reason: String,
}

/// A note about one item that arrived (or about a file, with a `line:N` key): what was
/// repaired after the destination refused it, or skipped or mended while reading it.
///
/// Text fields are kept to [`FAILURE_TEXT_MAX`] bytes like a [`Failure`]'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemNote {
    /// The pass it was recorded in.
    pub pass: u32,
    /// What kind of item it is about.
    pub kind: ContentKind,
    /// The source folder (or file name).
    pub folder: String,
    /// The item's source key (or UID; `line:N` for a note about the file).
    pub src_key: String,
    /// True when the destination refused the item and took it repaired.
    pub repaired: bool,
    /// The note itself.
    pub note: String,
}

/// The most bytes of a failure's text fields that the store keeps.
pub const FAILURE_TEXT_MAX: usize = 1024;

/// `s` if it fits in `max` bytes, else its head cut on a character boundary followed by a
/// marker saying how long it was, the whole within `max` bytes.
pub(crate) fn excerpt(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return s.into();
    }
    let marker = format!(" [… cut, {} bytes in all]", s.len());
    let mut end = max.saturating_sub(marker.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{marker}", &s[..end]).into()
}

/// Identifies one item of the map.
#[derive(Debug, Clone, Copy)]
pub struct ItemKey<'a> {
    /// The kind of item.
    pub kind: ContentKind,
    /// The source folder.
    pub src_folder: &'a str,
    /// The source key.
    pub src_key: &'a str,
}

/// The confirmation of one copied item.
#[derive(Debug, Clone, Copy)]
pub struct Completion<'a> {
    /// The kind of item.
    pub kind: ContentKind,
    /// The source folder.
    pub src_folder: &'a str,
    /// The source key.
    pub src_key: &'a str,
    /// Destination UIDVALIDITY (mail).
    pub dst_uidvalidity: Option<u32>,
    /// Destination UID (mail).
    pub dst_uid: Option<u32>,
    /// Destination key (DAV href).
    pub dst_key: Option<&'a str>,
}

/// A new source key for a mail item.
#[derive(Debug, Clone, Copy)]
pub struct Rekey<'a> {
    /// The item as keyed today.
    pub key: ItemKey<'a>,
    /// The source folder's new UIDVALIDITY.
    pub new_uidvalidity: u32,
    /// The item's new UID.
    pub new_uid: u32,
}

/// Unix time in seconds.
pub(crate) fn now() -> i64 {
    now_ms() / 1000
}

/// Unix time in milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A Unix time in milliseconds as a `SystemTime`.
pub(crate) fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

pub(crate) fn opt_u32(v: Option<i64>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_cuts_on_a_char_boundary_with_a_marker() {
        assert_eq!(excerpt("short", 1024), "short");
        let long = "é".repeat(5000);
        let e = excerpt(&long, 1024);
        assert!(e.len() <= 1024, "{}", e.len());
        assert!(e.ends_with("[… cut, 10000 bytes in all]"), "{e}");
        assert!(e.starts_with("éé"));
    }

    #[test]
    fn pass_status_spellings_round_trip() {
        for s in [
            PassStatus::Running,
            PassStatus::Done,
            PassStatus::Incomplete,
            PassStatus::Failed,
            PassStatus::Stopped,
            PassStatus::Interrupted,
        ] {
            assert_eq!(PassStatus::parse(s.as_str()), Some(s));
            assert_eq!(format!("{s:<12}|").len(), 13);
        }
        assert_eq!(PassStatus::parse("bogus"), None);
    }
}
