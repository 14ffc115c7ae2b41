//! The DAV sink's record in the item map, the same for every source (a DAV collection, an
//! `.ics`/`.vcf` file, a PST folder's contacts and calendars), as the mail side's
//! [`append_recorded`](crate::mail::append_recorded) is for messages.
//!
//! The items about to be written are recorded as pending first; each outcome of the sink is
//! then recorded: what landed is confirmed (destination href, ETag, size), what was refused or
//! conflicted is dropped from the map and recorded as a failure where the source says so, and
//! what a repair changed is noted. A run stopped between a write and its record leaves the
//! row pending; the next run does not count it as known, writes it again at the same
//! UID-derived href, is told it is already there and confirms it: nothing is duplicated.

use std::collections::{HashMap, HashSet};

use passeur_dav::{Collection, DavClient};
use passeur_formats::FormatError;
use passeur_store::{Failure, Item, ItemKey, ItemNote, Store};
use passeur_types::{ContentKind, MigrationId};

use super::import::{ImportFlow, import_flowing};
use super::{
    CopyError, CopyOptions, CopyReport, ImportTargets, ItemEvent, KnownItem, SourceObject,
    copy::copy_planned,
};

#[cfg(doc)]
use super::import_objects;
use crate::{EngineError, Event, EventSink, ItemRef, Side};

/// Where the sink's outcomes are recorded: the migration's item map for this pass, and the
/// progress events.
#[derive(Clone, Copy)]
pub(crate) struct DavLedger<'a> {
    pub store: &'a Store,
    pub id: MigrationId,
    pub pass: u32,
    pub events: &'a EventSink,
}

/// What a row's fingerprint holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fingerprint {
    /// The source resource's ETag (a DAV collection: another ETag means it changed).
    SourceEtag,
    /// The object's UID (a file or a PST: the object is known by its UID).
    Uid,
}

/// The kind and source key of an item in the map, from its source href (`line:N` for an object
/// of a file) and its UID when known; None: the item is not recorded.
pub(crate) type KeyFn<'a> = dyn Fn(&str, Option<&str>) -> Option<(ContentKind, String)> + Sync + 'a;

/// The failure recorded for an item not written (its kind, source key and reason); None:
/// not a failure of the pass (a conflict the source only notes).
pub(crate) type FailureFn<'a> =
    dyn Fn(&ItemEvent) -> Option<(ContentKind, String, String)> + Sync + 'a;

/// How one source's items go in the item map.
pub(crate) struct Rows<'a> {
    /// The rows' source folder: a source collection's href, a file's name, a PST folder's path.
    pub folder: &'a str,
    /// The name the progress events give.
    pub display: &'a str,
    /// The destination collection's href.
    pub dst_folder: &'a str,
    /// The confirmed rows recorded before, by source key (see [`DavLedger::recorded`]).
    pub recorded: &'a HashMap<String, Item>,
    /// See [`Fingerprint`].
    pub fingerprint: Fingerprint,
    /// See [`KeyFn`].
    pub key: &'a KeyFn<'a>,
    /// See [`FailureFn`].
    pub failure: &'a FailureFn<'a>,
}

/// What one recorded call of the sink did.
#[derive(Debug, Default)]
pub(crate) struct DavTally {
    /// New resources written (overwritten ones included).
    pub copied: u64,
    /// Resources found already written at their href (a resumed run).
    pub already_there: u64,
    /// Resources rewritten because they changed on the source.
    pub updated: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Items written in their repaired form.
    pub repaired: u64,
    /// Items that could not be written.
    pub failed: u64,
    /// UIDs the destination holds from elsewhere, left alone.
    pub conflicts: Vec<String>,
    /// The UID of every item on the destination after the call, in the order they landed.
    pub landed: Vec<String>,
    /// Rows confirmed (landed and recorded).
    pub recorded: u64,
}

impl DavLedger<'_> {
    /// The confirmed rows of `kinds` in `folder`, by source key (pending ones are not known:
    /// the next write finds them already there or writes them).
    pub(crate) async fn recorded(
        &self,
        kinds: &[ContentKind],
        folder: &str,
    ) -> Result<HashMap<String, Item>, EngineError> {
        let mut out = HashMap::new();
        for k in kinds {
            for i in self.store.items_in_folder(self.id, *k, folder).await? {
                if !i.pending {
                    out.insert(i.src_key.clone(), i);
                }
            }
        }
        Ok(out)
    }

    fn row(&self, rows: &Rows<'_>, kind: ContentKind, src_key: String, fp: String) -> Item {
        Item {
            kind,
            src_folder: rows.folder.to_owned(),
            src_key,
            src_uidvalidity: None,
            src_uid: None,
            fingerprint: fp,
            dst_folder: rows.dst_folder.to_owned(),
            dst_uidvalidity: None,
            dst_uid: None,
            dst_key: None,
            pass: self.pass,
            size: 0,
            flags: String::new(),
            etag: None,
            pending: true,
        }
    }

    /// Records as pending the new items about to be written, each given by its source href,
    /// ETag and UID (when known); returns their keys. Items the map holds confirmed are left
    /// as they are (an update keeps its row until it lands).
    async fn pending(
        &self,
        rows: &Rows<'_>,
        items: impl Iterator<Item = (String, String, Option<String>)>,
    ) -> Result<HashSet<(ContentKind, String)>, EngineError> {
        let mut new = Vec::new();
        let mut keys = HashSet::new();
        for (href, etag, uid) in items {
            let Some((kind, key)) = (rows.key)(&href, uid.as_deref()) else {
                continue;
            };
            if rows.recorded.contains_key(&key) || !keys.insert((kind, key.clone())) {
                continue;
            }
            let fp = match rows.fingerprint {
                Fingerprint::SourceEtag => etag,
                Fingerprint::Uid => uid.unwrap_or_default(),
            };
            new.push(self.row(rows, kind, key, fp));
        }
        self.store.insert_pending(self.id, &new).await?;
        Ok(keys)
    }

    /// Records the outcomes `evs` of the sink: confirms what landed, drops the pending rows of
    /// the rest (of every item of `pending` without an outcome too, when `finished`), records
    /// failures and repairs, and reports progress.
    async fn record(
        &self,
        rows: &Rows<'_>,
        pending: &HashSet<(ContentKind, String)>,
        evs: &[ItemEvent],
        finished: bool,
    ) -> Result<DavTally, EngineError> {
        let mut t = DavTally::default();
        let mut done: Vec<Item> = Vec::new();
        let mut landed_keys: HashSet<(ContentKind, String)> = HashSet::new();
        let mut refused_keys: HashSet<(ContentKind, String)> = HashSet::new();
        let mut failures: Vec<Failure> = Vec::new();
        let mut notes: Vec<ItemNote> = Vec::new();
        for e in evs {
            let (src_href, src_etag, uid) = match e {
                ItemEvent::Copied {
                    src_href,
                    src_etag,
                    uid,
                    ..
                }
                | ItemEvent::Updated {
                    src_href,
                    src_etag,
                    uid,
                    ..
                }
                | ItemEvent::AlreadyThere {
                    src_href,
                    src_etag,
                    uid,
                    ..
                }
                | ItemEvent::Overwritten {
                    src_href,
                    src_etag,
                    uid,
                    ..
                } => (src_href, src_etag, uid),
                ItemEvent::Conflict { uid, src_href, .. } => {
                    t.conflicts.push(uid.clone());
                    refused_keys.extend((rows.key)(src_href, Some(uid)));
                    self.fail(rows, e, &mut failures);
                    continue;
                }
                ItemEvent::Failed { src_href, uid, .. } => {
                    t.failed += 1;
                    refused_keys.extend((rows.key)(src_href, uid.as_deref()));
                    self.fail(rows, e, &mut failures);
                    continue;
                }
            };
            let Some(l) = e.landed() else { continue };
            t.landed.push(l.uid.clone());
            match e {
                ItemEvent::Copied { .. } | ItemEvent::Overwritten { .. } => {
                    t.copied += 1;
                    t.bytes += l.bytes as u64;
                }
                ItemEvent::Updated { .. } => {
                    t.updated += 1;
                    t.bytes += l.bytes as u64;
                }
                _ => t.already_there += 1,
            }
            let Some((kind, key)) = (rows.key)(src_href, Some(uid)) else {
                continue;
            };
            if !l.repaired.is_empty() {
                t.repaired += 1;
                notes.extend(l.repaired.iter().map(|n| ItemNote {
                    pass: self.pass,
                    kind,
                    folder: rows.folder.to_owned(),
                    src_key: key.clone(),
                    repaired: true,
                    note: n.clone(),
                }));
            }
            let before = rows.recorded.get(&key);
            let fp = match rows.fingerprint {
                Fingerprint::SourceEtag => src_etag.clone(),
                Fingerprint::Uid => uid.clone(),
            };
            let mut row = self.row(rows, kind, key.clone(), fp);
            row.dst_key = Some(l.dst_href);
            row.etag = l.dst_etag;
            row.pending = false;
            row.size = if matches!(e, ItemEvent::AlreadyThere { .. }) {
                before.map_or(0, |i| i.size)
            } else {
                l.bytes as u64
            };
            // An update keeps the pass that first copied the item (so that a purge from a
            // later pass leaves it).
            if matches!(e, ItemEvent::Updated { .. }) {
                row.pass = before.map_or(self.pass, |i| i.pass);
            }
            landed_keys.insert((kind, key));
            done.push(row);
        }
        let dropped: Vec<ItemKey<'_>> = pending
            .iter()
            .filter(|k| !landed_keys.contains(*k))
            .filter(|k| finished || refused_keys.contains(*k))
            .map(|(kind, key)| ItemKey {
                kind: *kind,
                src_folder: rows.folder,
                src_key: key,
            })
            .collect();
        self.store.record_copied(self.id, &done).await?;
        self.store.delete_items(self.id, &dropped).await?;
        self.store.record_failures(self.id, &failures).await?;
        self.store.record_notes(self.id, &notes).await?;
        for f in &failures {
            self.events.send(Event::EntryFailed {
                folder: rows.display.to_owned(),
                item: ItemRef::Dav(f.src_key.clone()),
                reason: f.reason.clone(),
            });
        }
        t.recorded = done.len() as u64;
        let arrived = t.copied + t.already_there;
        if arrived > 0 || t.bytes > 0 {
            self.events.send(Event::Copied {
                folder: rows.display.to_owned(),
                messages: arrived,
                bytes: t.bytes,
            });
        }
        Ok(t)
    }

    fn fail(&self, rows: &Rows<'_>, e: &ItemEvent, failures: &mut Vec<Failure>) {
        if let Some((kind, src_key, reason)) = (rows.failure)(e) {
            failures.push(Failure {
                pass: self.pass,
                kind,
                folder: rows.folder.to_owned(),
                src_key,
                size: None,
                reason,
            });
        }
    }
}

/// [`import_objects`] recorded: the new objects are recorded as pending, written, then
/// confirmed or dropped (see the module docs). `known` holds the UIDs the map has for this
/// import (skipped). A server failure ends the call with what landed before recorded; a file
/// that breaks off (`file` names it) is the file's fault.
pub(crate) async fn import_recorded(
    ledger: DavLedger<'_>,
    (rows, file): (&Rows<'_>, &std::path::Path),
    dst: &DavClient,
    targets: &ImportTargets<'_>,
    objects: Vec<Result<SourceObject, FormatError>>,
    known: &HashSet<String>,
    opts: &CopyOptions,
) -> Result<(CopyReport, DavTally), EngineError> {
    let flow = ImportFlow::new(opts.parallel());
    import_recorded_flowing(
        ledger,
        (rows, file),
        (dst, targets),
        objects,
        known,
        opts,
        (&flow, || {}),
    )
    .await
}

/// [`import_recorded`] for one chunk of a longer import sharing `flow` with its other chunks
/// (see [`import_flowing`]): the UIDs an earlier chunk took are neither recorded pending again
/// nor written; `dispatched` is called once every write of this chunk has started. Each
/// chunk's rows are recorded pending before any of its writes starts.
pub(crate) async fn import_recorded_flowing(
    ledger: DavLedger<'_>,
    (rows, file): (&Rows<'_>, &std::path::Path),
    (dst, targets): (&DavClient, &ImportTargets<'_>),
    objects: Vec<Result<SourceObject, FormatError>>,
    known: &HashSet<String>,
    opts: &CopyOptions,
    (flow, dispatched): (&ImportFlow, impl FnOnce()),
) -> Result<(CopyReport, DavTally), EngineError> {
    let new = objects.iter().filter_map(|o| {
        let (uid, line, text) = match o.as_ref().ok()? {
            SourceObject::Ics(i) => (&i.uid, i.line, &i.text),
            SourceObject::Vcf(v) => (&v.uid, v.line, &v.text),
        };
        (!known.contains(uid) && !flow.taken(uid)).then(|| {
            (
                format!("line:{line}"),
                passeur_formats::fingerprint::sha256_hex(text.as_bytes()),
                Some(uid.clone()),
            )
        })
    });
    let pending = ledger.pending(rows, new).await?;
    let mut evs = Vec::new();
    let r = import_flowing(
        dst,
        targets,
        objects,
        known,
        opts,
        (flow, dispatched),
        |e| evs.push(e),
    )
    .await;
    let tally = ledger.record(rows, &pending, &evs, r.is_ok()).await?;
    let rep = r.map_err(|e| match e {
        super::ImportObjectsError::Dav(e) => {
            EngineError::dav(Side::Destination, "write contacts or events", e)
        }
        // The file is at fault, not the destination.
        super::ImportObjectsError::Read(source) => crate::error::ImportError::Read {
            path: file.to_owned(),
            source,
        }
        .into(),
    })?;
    Ok((rep, tally))
}

/// [`copy_collection`](super::copy_collection) recorded: once the source is listed, the new
/// resources are recorded as pending, then written, then confirmed or dropped (see the module
/// docs). What landed before a server failure is recorded, and the failure returned after.
pub(crate) async fn copy_recorded(
    ledger: DavLedger<'_>,
    rows: &Rows<'_>,
    (src, src_coll): (&DavClient, &Collection),
    (dst, dst_coll): (&DavClient, &Collection),
    known: &HashMap<String, KnownItem>,
    opts: &CopyOptions,
) -> Result<(Result<CopyReport, CopyError>, DavTally), EngineError> {
    let mut pending = HashSet::new();
    let mut stored: Option<EngineError> = None;
    let mut evs = Vec::new();
    let r = copy_planned(
        (src, src_coll),
        (dst, dst_coll),
        known,
        opts,
        |new| {
            let (pending, stored) = (&mut pending, &mut stored);
            Box::pin(async move {
                match ledger
                    .pending(rows, new.into_iter().map(|(h, e)| (h, e, None)))
                    .await
                {
                    Ok(keys) => {
                        *pending = keys;
                        true
                    }
                    Err(e) => {
                        *stored = Some(e);
                        false
                    }
                }
            })
        },
        |e| evs.push(e),
    )
    .await;
    if let Some(e) = stored {
        return Err(e);
    }
    let tally = ledger.record(rows, &pending, &evs, r.is_ok()).await?;
    Ok((r, tally))
}
