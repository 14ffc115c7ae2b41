//! Parsed `.ics`/`.vcf` objects (a file, a PST folder's items) into target collections.

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use std::collections::{HashMap, HashSet};

use passeur_dav::{DavClient, Result};
use passeur_formats::FormatError;
use passeur_formats::fingerprint::sha256_hex;

use super::write::{DstIndex, ICS_TYPE, Prepared, VCF_TYPE, place_new, vcard_target, vcard_text};
use super::{
    BoxFut, CopyOptions, CopyReport, ImportObjectsError, ImportTargets, ItemEvent, SourceObject,
    WriteMeter,
};

/// What the chunks of one import share, so that the writes flow from one chunk into the next
/// instead of draining at the end of each: the write slots, the destination's UID index (read
/// once per collection, not once per chunk) and the UIDs earlier chunks took.
pub(crate) struct ImportFlow {
    /// One permit per write in flight, across the chunks.
    permits: tokio::sync::Semaphore,
    /// The destination collections' UID indexes, by collection href.
    indexes: tokio::sync::Mutex<HashMap<String, std::sync::Arc<DstIndex>>>,
    /// UIDs handed to a write (or found known) by a chunk: a later chunk leaves them alone.
    taken: std::sync::Mutex<HashSet<String>>,
    /// The writes' time in flight (the `dav_writes` debug line).
    pub(crate) meter: WriteMeter,
}

impl ImportFlow {
    /// A flow with `parallel` writes in flight at most.
    pub(crate) fn new(parallel: usize) -> ImportFlow {
        ImportFlow {
            permits: tokio::sync::Semaphore::new(parallel.max(1)),
            indexes: tokio::sync::Mutex::new(HashMap::new()),
            taken: std::sync::Mutex::new(HashSet::new()),
            meter: WriteMeter::new(),
        }
    }

    /// True when an earlier chunk took `uid`.
    pub(crate) fn taken(&self, uid: &str) -> bool {
        self.taken.lock().is_ok_and(|t| t.contains(uid))
    }

    fn take(&self, uid: &str) {
        if let Ok(mut t) = self.taken.lock() {
            t.insert(uid.to_owned());
        }
    }

    async fn index(
        &self,
        dst: &DavClient,
        coll: &passeur_dav::Collection,
    ) -> Result<std::sync::Arc<DstIndex>> {
        let mut m = self.indexes.lock().await;
        if let Some(i) = m.get(&coll.href) {
            return Ok(i.clone());
        }
        let idx = std::sync::Arc::new(DstIndex::build(dst, coll, &HashSet::new()).await?);
        m.insert(coll.href.clone(), idx.clone());
        Ok(idx)
    }
}

/// Imports parsed file objects (see [`passeur_formats::ics::split`] and
/// [`passeur_formats::vcf::split`]) into the target collections.
///
/// `known` holds the UIDs the item map already has for this import (skipped,
/// counted as unchanged). Each event's `src_href` is `line:<n>` (where the
/// object starts in the file) and `src_etag` the SHA-256 of the object's text.
/// Parse errors become [`ItemEvent::Failed`] with the line and UID in the message; the
/// reader's warnings ([`FormatError::Skipped`]) are passed over (they are no items). A reader
/// that cannot go on ([`FormatError::is_fatal`]) ends the import with
/// [`ImportObjectsError::Read`], the destination's failures with [`ImportObjectsError::Dav`].
pub async fn import_objects<I, O>(
    dst: &DavClient,
    targets: &ImportTargets<'_>,
    objects: I,
    known: &HashSet<String>,
    opts: &CopyOptions,
    on_item: impl FnMut(ItemEvent),
) -> std::result::Result<CopyReport, ImportObjectsError>
where
    I: IntoIterator<Item = std::result::Result<O, FormatError>>,
    O: Into<SourceObject>,
{
    let flow = ImportFlow::new(opts.parallel());
    let r = import_flowing(dst, targets, objects, known, opts, (&flow, || {}), on_item).await;
    flow.meter.log("import");
    r
}

/// [`import_objects`] as one chunk of a longer import sharing `flow` with the chunks before and
/// after it: a UID an earlier chunk took is left alone (counted unchanged), the writes take
/// their slots from the flow, and `dispatched` is called once every object of this chunk has
/// its write started (only waiting for them is left: the next chunk may start).
pub(crate) async fn import_flowing<I, O>(
    dst: &DavClient,
    targets: &ImportTargets<'_>,
    objects: I,
    known: &HashSet<String>,
    opts: &CopyOptions,
    (flow, dispatched): (&ImportFlow, impl FnOnce()),
    mut on_item: impl FnMut(ItemEvent),
) -> std::result::Result<CopyReport, ImportObjectsError>
where
    I: IntoIterator<Item = std::result::Result<O, FormatError>>,
    O: Into<SourceObject>,
{
    let mut report = CopyReport::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut writes: FuturesOrdered<BoxFut<'_, Result<ItemEvent>>> = FuturesOrdered::new();
    for r in objects {
        // A warning of the reader is no item (the caller records it).
        if r.as_ref().is_err_and(FormatError::is_warning) {
            continue;
        }
        report.listed += 1;
        let o: SourceObject = match r {
            Ok(o) => o.into(),
            Err(e) => {
                if e.is_fatal() {
                    return Err(ImportObjectsError::Read(e));
                }
                let ev = ItemEvent::Failed {
                    src_href: e.line().map(|l| format!("line:{l}")).unwrap_or_default(),
                    uid: e.uid().map(str::to_string),
                    error: e.to_string(),
                };
                report.count(&ev);
                on_item(ev);
                continue;
            }
        };
        let (uid, line, text) = match &o {
            SourceObject::Ics(i) => (i.uid.clone(), i.line, &i.text),
            SourceObject::Vcf(v) => (v.uid.clone(), v.line, &v.text),
        };
        let src_href = format!("line:{line}");
        if known.contains(&uid) {
            report.unchanged += 1;
            continue;
        }
        if let Some(first) = seen.get(&uid) {
            let ev = ItemEvent::Failed {
                src_href,
                uid: Some(uid),
                error: format!(
                    "cannot import a second object with the same UID (the first, from line {first}, was kept)"
                ),
            };
            report.count(&ev);
            on_item(ev);
            continue;
        }
        if flow.taken(&uid) {
            // An earlier chunk of this import writes it (a UID given twice in a file).
            report.unchanged += 1;
            continue;
        }
        seen.insert(uid.clone(), line);
        flow.take(&uid);
        let src_etag = sha256_hex(text.as_bytes());
        let Some(coll) = targets.for_object(&o) else {
            let what = match &o {
                SourceObject::Ics(i) => i.kind.name(),
                SourceObject::Vcf(_) => "VCARD",
            };
            let ev = ItemEvent::Failed {
                src_href,
                uid: Some(uid),
                error: format!("cannot import a {what}: no target collection for it"),
            };
            report.count(&ev);
            on_item(ev);
            continue;
        };
        let prepared = match &o {
            SourceObject::Ics(i) => Ok(Prepared {
                uid: uid.clone(),
                text: i.text.clone(),
                content_type: ICS_TYPE,
                ext: "ics",
            }),
            SourceObject::Vcf(v) => {
                vcard_text(v, None, &vcard_target(opts, coll)).map(|text| Prepared {
                    uid: uid.clone(),
                    text,
                    content_type: VCF_TYPE,
                    ext: "vcf",
                })
            }
        };
        let p = match prepared {
            Ok(p) => p,
            Err(e) => {
                let ev = ItemEvent::Failed {
                    src_href,
                    uid: Some(uid),
                    error: e.to_string(),
                };
                report.count(&ev);
                on_item(ev);
                continue;
            }
        };
        let index = flow.index(dst, coll).await?;
        // The writes flow: a new one starts as soon as a slot is free, whichever chunk's write
        // freed it; this chunk's writes that ended meanwhile are reported.
        let permit = loop {
            tokio::select! {
                biased;
                Some(ev) = writes.next(), if !writes.is_empty() => {
                    let ev = ev?;
                    report.count(&ev);
                    on_item(ev);
                }
                p = flow.permits.acquire() => break p,
            }
        };
        let permit = permit.map_err(|_| {
            passeur_dav::DavError::Config("the import's write slots are closed".into())
        })?;
        let meter = &flow.meter;
        writes.push_back(Box::pin(async move {
            let _slot = permit;
            meter
                .time(place_new(dst, coll, &index, &p, &src_href, &src_etag, opts))
                .await
        }));
    }
    dispatched();
    while let Some(ev) = writes.next().await {
        let ev = ev?;
        report.count(&ev);
        on_item(ev);
    }
    Ok(report)
}
