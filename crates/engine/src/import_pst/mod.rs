//! Import of a PST/OST file.
//!
//! The file is read on a blocking thread ([`tokio::task::spawn_blocking`]) that converts one item
//! at a time and sends it over a small bounded channel, so memory stays bounded by a batch, not
//! the file. Mail goes to IMAP folders of the destination (PST path mapped with the destination's
//! layout: namespace prefix, separator, special-use folders for Inbox/Sent/Drafts/Trash/Junk),
//! appended in batches with flags and internal date, recorded pending-then-complete in the item
//! map exactly like a mail pass (an interrupted run is reconciled by fingerprint). Contacts,
//! events, tasks and journal entries go to one DAV collection per PST folder when a DAV
//! destination is given, and are counted as skipped otherwise.
//!
//! Item map: `src_folder` = the PST folder path joined by `/`, `src_key` = the item's node id;
//! mail items carry the destination UID, DAV items the destination href in `dst_key`.

mod dav;
mod mail;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use passeur_dav::DavClient;
use passeur_pst::{FolderKind, ItemContent, ItemError, PstFile, PstFolder, PstItem, SpecialRole};
use passeur_store::{Failure, PassCounters, Store};
use passeur_types::{ContentKind, MigrationId};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::InternalError;
use crate::folders::Layout;
use crate::folders::layout;
use crate::message::normalise_flags;
use crate::{EngineError, Event, EventSink, ItemRef, MailAccount, RunContext, Side};
use dav::{DavKind, DavState, flush_all_dav, flush_dav};
use mail::{MAIL_RETRIES, MailSink, PendingMail, flush_mail, prepare_mail_folder};

/// Knobs of a file import.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportOptions {
    /// Messages per MULTIAPPEND batch.
    pub batch_messages: usize,
    /// Message bytes per batch (a larger single message goes alone).
    pub batch_bytes: usize,
    /// Contacts / events sent to the DAV server per round.
    pub dav_batch: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            batch_messages: 100,
            batch_bytes: 6 << 20,
            dav_batch: 100,
        }
    }
}

/// What an import did with one source folder (or file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportFolderReport {
    /// Source folder path (`/`-joined), or the file name.
    pub folder: String,
    /// `mail`, `contacts`, `calendar`, `tasks`, `notes`, `journal` or `other`.
    pub kind: String,
    /// Destination: IMAP folder wire name and/or DAV collection href(s).
    pub dst: String,
    /// Items in the source folder.
    pub items: u64,
    /// Items an earlier run already imported.
    pub known: u64,
    /// Items copied by this run.
    pub copied: u64,
    /// Bytes copied by this run.
    pub bytes: u64,
    /// Items left out on purpose (no DAV destination, a kind that is not imported, a UID that
    /// already exists on the destination from elsewhere).
    pub skipped: u64,
    /// Items that could not be imported (listed in the failures).
    pub failed: u64,
    /// Items the destination refused as they were and took repaired (what changed is in the
    /// migration's notes: `passeur status`).
    #[serde(default)]
    pub repaired: u64,
    /// Warnings of the reader: lines or components skipped or mended, items or not.
    #[serde(default)]
    pub warnings: u64,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// The pass number.
    pub pass: u32,
    /// One report per folder of the file.
    pub folders: Vec<ImportFolderReport>,
    /// The same counts in the store's shape.
    #[serde(skip)]
    pub counters: PassCounters,
    /// Why things were skipped, once per cause and folder.
    pub notes: Vec<String>,
    /// Stopped before the end: what was copied stays recorded.
    pub cancelled: bool,
}

impl ImportReport {
    /// Everything that was to be imported was.
    pub fn complete(&self) -> bool {
        !self.cancelled && self.folders.iter().all(|f| f.failed == 0)
    }

    /// Items copied, over every folder.
    pub fn copied(&self) -> u64 {
        self.folders.iter().map(|f| f.copied).sum()
    }

    /// Items left out on purpose, over every folder.
    pub fn skipped(&self) -> u64 {
        self.folders.iter().map(|f| f.skipped).sum()
    }

    /// Items that could not be imported, over every folder.
    pub fn failed(&self) -> u64 {
        self.folders.iter().map(|f| f.failed).sum()
    }

    pub(crate) fn push(&mut self, r: ImportFolderReport) {
        self.counters.copied += r.copied;
        self.counters.bytes += r.bytes;
        self.counters.failed += r.failed;
        self.folders.push(r);
    }
}

/// A PST reading error, with the file it concerns.
pub(crate) fn pst_err(path: &Path, source: passeur_pst::PstError) -> EngineError {
    EngineError::Pst {
        path: path.display().to_string(),
        source,
    }
}

fn kind_name(k: FolderKind) -> &'static str {
    match k {
        FolderKind::Mail => "mail",
        FolderKind::Contacts => "contacts",
        FolderKind::Calendar => "calendar",
        FolderKind::Tasks => "tasks",
        FolderKind::Notes => "notes",
        FolderKind::Journal => "journal",
        _ => "other",
    }
}

/// What the reading thread sends.
enum Read {
    Start(usize),
    Item(Box<Result<PstItem, ItemError>>),
    End(usize),
}

/// One source folder to import.
struct Work {
    folder: PstFolder,
    /// `/`-joined path: the item map's `src_folder`.
    path: String,
    /// Item node ids in the file.
    ids: Vec<u32>,
    /// Node ids already in the item map (any kind).
    known: HashSet<u32>,
    /// Destination IMAP folder (wire), when there is a mail destination.
    mail_dst: Option<String>,
}

/// Opens a PST on a blocking thread.
async fn open_pst(path: &Path) -> Result<(Arc<PstFile>, Vec<PstFolder>), EngineError> {
    let path: PathBuf = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let pst = PstFile::open(&path).map_err(|e| pst_err(&path, e))?;
        let folders = pst.folders().map_err(|e| pst_err(&path, e))?;
        Ok((Arc::new(pst), folders))
    })
    .await
    .map_err(pst_reader_ended)?
}

/// The PST reader's blocking task ended without its result (it panicked).
pub(crate) fn pst_reader_ended(source: tokio::task::JoinError) -> EngineError {
    InternalError::Task {
        what: "the PST reader ended abnormally",
        source,
    }
    .into()
}

/// The destination path of a PST folder: special folders go to the destination's folder of
/// the same role (their children under it), the rest keeps its path.
pub(crate) fn destination_path(folder: &PstFolder, all: &[PstFolder], dst: &Layout) -> Vec<String> {
    // The nearest folder on the path (itself or an ancestor) with a role.
    let mut path = folder.path.clone();
    let mut depth = path.len();
    while depth > 0 {
        let prefix = &folder.path[..depth];
        let role = all
            .iter()
            .find(|f| f.in_ipm_subtree && f.path == prefix && f.role.is_some())
            .and_then(|f| f.role);
        let mapped = match role {
            Some(SpecialRole::Inbox) => Some(vec!["INBOX".to_owned()]),
            Some(SpecialRole::Sent) => dst.role_path("\\Sent"),
            Some(SpecialRole::Drafts) => dst.role_path("\\Drafts"),
            Some(SpecialRole::Trash) => dst.role_path("\\Trash"),
            Some(SpecialRole::Junk) => dst.role_path("\\Junk"),
            _ => None,
        };
        if let Some(m) = mapped {
            path = m
                .into_iter()
                .chain(folder.path[depth..].iter().cloned())
                .collect();
            break;
        }
        depth -= 1;
    }
    if path.is_empty() {
        path = vec!["INBOX".to_owned()];
    }
    path
}

/// The IMAP INTERNALDATE of now (for a message the PST gives no date for): the same string is
/// sent and fingerprinted, so an interrupted run can still recognise the copy.
pub(crate) fn internal_date_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02}-{}-{year:04} {:02}:{:02}:{:02} +0000",
        day,
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

struct Ctx<'a> {
    store: &'a Store,
    id: MigrationId,
    pass: u32,
    opts: &'a ImportOptions,
    events: &'a EventSink,
    cancel: &'a CancellationToken,
}

/// Runs one import pass of a PST/OST file (migration `id`, pass `pass` already begun).
/// `dst_mail` receives the mail, `dst_dav` the contacts, events and tasks; either may be absent
/// (what has no destination is counted as skipped, with a note).
pub async fn run_pst_import(
    rc: &RunContext,
    path: &Path,
    dst_mail: Option<&MailAccount>,
    dst_dav: Option<&DavClient>,
    opts: &ImportOptions,
) -> Result<ImportReport, EngineError> {
    let (store, id, pass, events, cancel) =
        (&rc.store, rc.migration, rc.pass, &rc.events, &rc.cancel);
    let (pst, folders) = open_pst(path).await?;
    let ctx = Ctx {
        store,
        id,
        pass,
        opts,
        events,
        cancel,
    };
    let mut report = ImportReport {
        pass,
        ..Default::default()
    };

    // Folders holding items, with their item ids (read on the blocking pool).
    let listed: Vec<(PstFolder, Vec<u32>)> = {
        let pst = pst.clone();
        let folders = folders.clone();
        tokio::task::spawn_blocking(move || {
            folders
                .into_iter()
                .map(|f| {
                    let ids = pst.item_ids(f.node_id);
                    (f, ids)
                })
                .collect()
        })
        .await
        .map_err(pst_reader_ended)?
    };
    let mut skipped_folders = Vec::new();
    let listed: Vec<(PstFolder, Vec<u32>)> = listed
        .into_iter()
        .filter(|(f, ids)| {
            // An empty mail folder is still created on the destination; other empty folders
            // have nothing to give.
            let mail = f.in_ipm_subtree && matches!(f.kind(), FolderKind::Mail);
            if ids.is_empty() && (!mail || f.path.is_empty()) {
                return false;
            }
            if !f.in_ipm_subtree || matches!(f.kind(), FolderKind::Other) {
                skipped_folders.push((f.clone(), ids.len()));
                return false;
            }
            true
        })
        .collect();
    for (f, n) in skipped_folders {
        report.notes.push(format!(
            "{}: {n} item(s) in an Outlook-internal folder left out",
            display(&f)
        ));
    }

    // The mail destination: layout, folder names, folders created.
    let mut mail_conn: Option<MailSink> = None;
    let wants_mail = listed
        .iter()
        .any(|(f, _)| matches!(f.kind(), FolderKind::Mail));
    if let (Some(acc), true) = (dst_mail, wants_mail) {
        let mut d = acc.connect(Side::Destination).await?;
        let layout = layout(&mut d, Side::Destination, &acc.presets).await?;
        mail_conn = Some(MailSink {
            acc,
            client: Some(d),
            layout,
        });
    }

    let mut work = Vec::new();
    let mut total = 0u64;
    let mut known_total = 0u64;
    'plan: for (folder, ids) in listed {
        if cancel.is_cancelled() {
            break;
        }
        let path = display(&folder);
        let mut known = HashSet::new();
        for kind in ContentKind::ALL {
            let keys = store.confirmed_keys(id, kind, &path).await?;
            known.extend(keys.iter().filter_map(|k| k.parse::<u32>().ok()));
        }
        let mail_dst = match (&mut mail_conn, folder.kind()) {
            (Some(sink), FolderKind::Mail) => {
                let mut attempt = 0;
                loop {
                    match prepare_mail_folder(store, id, sink, &folder, &folders, &path, &mut known)
                        .await
                    {
                        Ok(wire) => break Some(wire),
                        Err(e) if e.is_retryable() && attempt < MAIL_RETRIES => {
                            attempt += 1;
                            sink.client = None;
                            events.send(Event::Retrying {
                                folder: path.clone(),
                                attempt,
                                reason: e.to_string(),
                            });
                            tracing::warn!(folder = %path, attempt, error = %e, "retrying a folder");
                            tokio::select! {
                                _ = tokio::time::sleep(backoff(attempt)) => {}
                                _ = cancel.cancelled() => break 'plan,
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            _ => None,
        };
        let todo = ids.iter().filter(|n| !known.contains(n)).count() as u64;
        total += todo;
        known_total += ids.len() as u64 - todo;
        work.push(Work {
            folder,
            path,
            ids,
            known,
            mail_dst,
        });
    }
    events.send(Event::Planned {
        folders: work.len(),
        messages: total,
        known: known_total,
    });

    // The reading thread: converts the items not yet imported, one at a time.
    let (tx, mut rx) = mpsc::channel::<Read>(16);
    let plan: Vec<(PstFolder, Vec<u32>)> = work
        .iter()
        .map(|w| {
            (
                w.folder.clone(),
                w.ids
                    .iter()
                    .copied()
                    .filter(|n| !w.known.contains(n))
                    .collect(),
            )
        })
        .collect();
    let reader = {
        let pst = pst.clone();
        let cancel = cancel.clone();
        tokio::task::spawn_blocking(move || {
            for (i, (folder, ids)) in plan.into_iter().enumerate() {
                if tx.blocking_send(Read::Start(i)).is_err() {
                    return;
                }
                for nid in ids {
                    if cancel.is_cancelled() {
                        return;
                    }
                    let item = pst.item(folder.node_id, nid);
                    if tx.blocking_send(Read::Item(Box::new(item))).is_err() {
                        return;
                    }
                }
                if tx.blocking_send(Read::End(i)).is_err() {
                    return;
                }
            }
        })
    };

    let mut dav = DavState {
        client: dst_dav,
        homes: None,
        collections: HashMap::new(),
    };
    let mut cur: Option<FolderRun> = None;
    let result: Result<(), EngineError> = async {
        while let Some(msg) = rx.recv().await {
            match msg {
                Read::Start(i) => {
                    let w = &work[i];
                    let mut r = ImportFolderReport {
                        folder: w.path.clone(),
                        kind: kind_name(w.folder.kind()).to_owned(),
                        dst: w.mail_dst.clone().unwrap_or_default(),
                        items: w.ids.len() as u64,
                        known: w.known.len() as u64,
                        ..Default::default()
                    };
                    r.known = w.ids.iter().filter(|n| w.known.contains(n)).count() as u64;
                    events.send(Event::FolderScanned {
                        folder: w.path.clone(),
                        to_copy: r.items - r.known,
                        bytes: 0,
                    });
                    cur = Some(FolderRun {
                        idx: i,
                        report: r,
                        mail: Vec::new(),
                        mail_bytes: 0,
                        dav: HashMap::new(),
                        notes: HashSet::new(),
                    });
                }
                Read::Item(item) => {
                    let Some(run) = cur.as_mut() else { continue };
                    let w = &work[run.idx];
                    on_item(&ctx, w, run, *item, mail_conn.as_mut(), &mut dav).await?;
                    if cancel.is_cancelled() {
                        break;
                    }
                }
                Read::End(i) => {
                    let Some(mut run) = cur.take() else { continue };
                    let w = &work[i];
                    flush_mail(&ctx, w, &mut run, mail_conn.as_mut()).await?;
                    flush_all_dav(&ctx, w, &mut run, &mut dav).await?;
                    let mut notes: Vec<String> = run.notes.into_iter().collect();
                    notes.sort();
                    report.notes.extend(notes);
                    report.push(run.report);
                    store.update_pass(id, pass, report.counters, None).await?;
                }
            }
        }
        Ok(())
    }
    .await;
    drop(rx);
    let _ = reader.await;
    // What a cancelled run has in hand is still sent and recorded.
    if let Some(mut run) = cur.take()
        && result.is_ok()
    {
        let w = &work[run.idx];
        flush_mail(&ctx, w, &mut run, mail_conn.as_mut()).await?;
        flush_all_dav(&ctx, w, &mut run, &mut dav).await?;
        report.notes.extend(run.notes);
        report.push(run.report);
    }
    result?;
    if let Some(d) = mail_conn.and_then(|s| s.client) {
        let _ = d.logout().await;
    }
    report.cancelled = cancel.is_cancelled();
    Ok(report)
}

fn display(f: &PstFolder) -> String {
    f.path.join("/")
}

/// The wait before attempt `attempt` (1-based) after a dropped connection: 0.5 s doubling,
/// at most 8 s.
fn backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(250 << attempt.clamp(1, 5))
}

struct FolderRun {
    idx: usize,
    report: ImportFolderReport,
    mail: Vec<PendingMail>,
    mail_bytes: usize,
    dav: HashMap<DavKind, Vec<(u32, String)>>,
    notes: HashSet<String>,
}

async fn on_item(
    ctx: &Ctx<'_>,
    w: &Work,
    run: &mut FolderRun,
    item: Result<PstItem, ItemError>,
    d: Option<&mut MailSink<'_>>,
    dav: &mut DavState<'_>,
) -> Result<(), EngineError> {
    let item = match item {
        Ok(i) => i,
        Err(e) => {
            run.report.failed += 1;
            ctx.store
                .record_failures(
                    ctx.id,
                    &[Failure {
                        pass: ctx.pass,
                        kind: ContentKind::Mail,
                        folder: w.path.clone(),
                        src_key: e.node_id.to_string(),
                        size: None,
                        reason: format!("cannot read the item: {}", e.reason),
                    }],
                )
                .await?;
            ctx.events.send(Event::EntryFailed {
                folder: w.path.clone(),
                item: ItemRef::PstNode(e.node_id),
                reason: e.reason,
            });
            return Ok(());
        }
    };
    let node = item.node_id;
    let (kind, text) = match item.content {
        ItemContent::Mail {
            mime,
            flags,
            internal_date,
        } => {
            if w.mail_dst.is_none() {
                run.report.skipped += 1;
                run.notes.insert(format!(
                    "{}: mail left out (no IMAP destination for this folder)",
                    w.path
                ));
                return Ok(());
            }
            run.mail_bytes += mime.len();
            run.mail.push(PendingMail {
                node_id: node,
                mime: Bytes::from(mime),
                flags: normalise_flags(&flags),
                internal_date: internal_date.unwrap_or_else(internal_date_now),
            });
            if run.mail.len() >= ctx.opts.batch_messages.max(1)
                || run.mail_bytes >= ctx.opts.batch_bytes
            {
                flush_mail(ctx, w, run, d).await?;
            }
            return Ok(());
        }
        ItemContent::Contact { vcard, .. } | ItemContent::DistList { vcard, .. } => {
            (DavKind::Contacts, vcard)
        }
        ItemContent::Event { ics, .. } => (DavKind::Events, ics),
        ItemContent::Task { ics, .. } => (DavKind::Tasks, ics),
        ItemContent::Journal { ics, .. } => (DavKind::Journal, ics),
        ItemContent::Other { reason } => {
            run.report.skipped += 1;
            run.notes
                .insert(format!("{}: not imported: {reason}", w.path));
            return Ok(());
        }
        _ => {
            run.report.skipped += 1;
            run.notes
                .insert(format!("{}: an item of an unknown kind left out", w.path));
            return Ok(());
        }
    };
    if dav.client.is_none() {
        run.report.skipped += 1;
        run.notes.insert(format!(
            "{}: contacts/events/tasks left out: give --to-dav to import them",
            w.path
        ));
        return Ok(());
    }
    let batch = run.dav.entry(kind).or_default();
    batch.push((node, text));
    if batch.len() >= ctx.opts.dav_batch.max(1) {
        let batch = std::mem::take(batch);
        flush_dav(ctx, w, run, dav, kind, batch).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_date_now_is_imap_syntax() {
        let d = internal_date_now();
        assert!(crate::message::parse_internal_date(&d).is_some(), "{d}");
    }
}
