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
};

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
    mut on_item: impl FnMut(ItemEvent),
) -> std::result::Result<CopyReport, ImportObjectsError>
where
    I: IntoIterator<Item = std::result::Result<O, FormatError>>,
    O: Into<SourceObject>,
{
    let mut report = CopyReport::default();
    let mut indexes: HashMap<String, std::sync::Arc<DstIndex>> = HashMap::new();
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
        seen.insert(uid.clone(), line);
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
        let index = match indexes.get(&coll.href) {
            Some(i) => i.clone(),
            None => {
                let idx = std::sync::Arc::new(DstIndex::build(dst, coll, &HashSet::new()).await?);
                indexes.insert(coll.href.clone(), idx.clone());
                idx
            }
        };
        // The writes flow: a new one starts as soon as one of `parallel` in flight ends.
        writes.push_back(Box::pin(async move {
            place_new(dst, coll, &index, &p, &src_href, &src_etag, opts).await
        }));
        while writes.len() >= opts.parallel() {
            if let Some(ev) = writes.next().await {
                let ev = ev?;
                report.count(&ev);
                on_item(ev);
            }
        }
    }
    while let Some(ev) = writes.next().await {
        let ev = ev?;
        report.count(&ev);
        on_item(ev);
    }
    Ok(report)
}
