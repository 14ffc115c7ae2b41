//! One exactly-once mail pass.
//!
//! Plan on one connection pair (folder lists, mapping, STATUS to skip unchanged folders, create
//! the missing destination folders), then copy folders in parallel over several connection pairs.
//! In a folder: reconcile what an interrupted run left pending, bring flag changes over, then
//! fetch the missing messages in batches and append them (MULTIAPPEND / pipelined LITERAL+),
//! fetching the next batch while the previous one is appended, under a bytes-in-flight budget.
//!
//! A folder with many messages to copy ([`Limits::split_from`](crate::Limits::split_from)) is
//! copied in parts, UID ranges that each list their own messages and read their own items from
//! the store, so that memory stays flat however big the folder. Where the destination has
//! UIDPLUS, the parts go to every connection pair at once, so one big INBOX does not bound the
//! run; the folder's state is recorded when its last part ends, and a part that fails makes the
//! folder scanned again (which reconciles what the parts left pending) once none is running.

use std::sync::{Arc, Mutex};

use passeur_store::{FolderState, PassCounters, Store};
use passeur_types::MigrationId;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::folders::FolderPlan;
use crate::{EngineError, EventSink, MailAccount, MailOptions, Side};

mod copy;
mod flags;
mod parts;
mod plan;
mod pool;
mod reconcile;
mod scan;
mod stream;

pub(crate) use copy::{AppendTally, Ledger, append_recorded, batches};
use parts::Split;
pub use plan::run_mail_pass;
pub(crate) use plan::{Created, create_folder};
pub(crate) use reconcile::{reconcile_from, rematch_destination, settle};

/// What a pass did in one folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FolderReport {
    /// Readable source path.
    pub folder: String,
    /// Destination wire name.
    pub dst: String,
    /// Messages in the source folder when the pass listed it.
    pub source_messages: u64,
    /// Messages found missing on the destination at the start of the pass.
    pub to_copy: u64,
    /// Their size in bytes, as the source declared it.
    pub to_copy_bytes: u64,
    /// Messages appended in this pass (each recorded in the item map).
    pub copied: u64,
    /// Bytes appended in this pass.
    pub bytes: u64,
    /// Messages already there whose flags or keywords were brought up to date.
    pub flags_updated: u64,
    /// Messages that could not be copied; each has a failure record with its reason.
    pub failed: u64,
    /// Skipped outright: nothing changed on the source since the last pass.
    pub unchanged: bool,
    /// Listed incrementally: only the messages new or changed since the last pass (CONDSTORE).
    pub delta: bool,
    /// Parts the folder's copy was split into, copied by several connection pairs at once
    /// (0: not split).
    pub parts: u32,
    /// The folder could not be finished.
    pub error: Option<String>,
}

/// What a pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PassReport {
    /// The pass's number (its sync point); 0 for a dry run.
    pub pass: u32,
    /// One report per folder, in the order they finished.
    pub folders: Vec<FolderReport>,
    /// The pass's totals, as recorded for the migration.
    #[serde(skip)]
    pub counters: PassCounters,
    /// The pass was stopped before the end; what it copied stays recorded.
    pub cancelled: bool,
    /// Nothing was written: the counts are what a pass would copy.
    pub dry_run: bool,
    /// What the user should know about the pass that is not an error: destination folders
    /// named differently from the mapping (a collision, a name the server refused).
    pub notes: Vec<String>,
}

impl PassReport {
    /// Everything that should have been copied was.
    pub fn complete(&self) -> bool {
        !self.cancelled
            && self
                .folders
                .iter()
                .all(|f| f.error.is_none() && f.failed == 0)
    }
}

struct Ctx {
    store: Store,
    id: MigrationId,
    pass: u32,
    src: MailAccount,
    dst: MailAccount,
    opts: MailOptions,
    events: EventSink,
    cancel: CancellationToken,
    /// Bytes in flight, in KiB permits.
    budget: Arc<Semaphore>,
    budget_total: u32,
    counters: Mutex<PassCounters>,
    /// A login that can no longer succeed ([`EngineError::is_fatal`]): every worker stops at its
    /// next safe point and the pass fails with it.
    fatal: Mutex<Option<EngineError>>,
    /// Connection pairs copying at once.
    workers: usize,
    /// Folders with at least this many messages to copy are split into parts.
    split_from: usize,
    /// The folders split in this pass, to finish those a stop left with parts not run.
    splits: Mutex<Vec<Arc<Split>>>,
}

impl Ctx {
    /// The pass is stopping: cancelled, or a worker met a fatal error.
    fn stopping(&self) -> bool {
        self.cancel.is_cancelled()
            || self
                .fatal
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some()
    }
}

#[derive(Clone)]
struct Work {
    plan: FolderPlan,
    messages: u32,
    /// What the previous pass recorded for this folder.
    prev: Option<FolderState>,
    /// Attempts made at this folder already in this pass.
    attempt: u32,
}

/// What the workers take from the queue.
enum Job {
    /// Scan a folder (reconcile, flags) and copy what it misses, or split that into parts.
    Folder(Work),
    /// Copy the messages of a split folder with a source UID in `lo..=hi`.
    Part { split: Arc<Split>, lo: u32, hi: u32 },
}

fn src_err(action: &'static str) -> impl FnOnce(passeur_imap::Error) -> EngineError {
    move |e| EngineError::imap(Side::Source, action, e)
}

fn dst_err(action: &'static str) -> impl FnOnce(passeur_imap::Error) -> EngineError {
    move |e| EngineError::imap(Side::Destination, action, e)
}
