//! The contacts, calendars and tasks of a PST import: one DAV collection per PST folder and
//! kind, written in batches and recorded exactly once.

use std::collections::{HashMap, HashSet};

use passeur_dav::{Collection, CollectionKind, ComponentKind, DavClient, Homes};
use passeur_formats::{FormatError, ics, vcf};
use passeur_store::Failure;
use passeur_types::ContentKind;

use super::{Ctx, FolderRun, Work};
use crate::dav_sink::ledger::{DavLedger, Fingerprint, Rows, import_recorded};
use crate::dav_sink::{CopyOptions, ImportTargets, ItemEvent, SourceObject};
use crate::{EngineError, Side};

/// DAV targets, by what the collection holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum DavKind {
    Contacts,
    Events,
    Tasks,
    Journal,
}

impl DavKind {
    pub(super) fn content(self) -> ContentKind {
        match self {
            DavKind::Contacts => ContentKind::Contacts,
            DavKind::Events | DavKind::Journal => ContentKind::Calendars,
            DavKind::Tasks => ContentKind::Tasks,
        }
    }

    pub(super) fn collection(self) -> CollectionKind {
        match self {
            DavKind::Contacts => CollectionKind::AddressBook,
            DavKind::Events => CollectionKind::Calendar {
                components: vec![ComponentKind::Event],
            },
            DavKind::Tasks => CollectionKind::Calendar {
                components: vec![ComponentKind::Todo],
            },
            DavKind::Journal => CollectionKind::Calendar {
                components: vec![ComponentKind::Journal],
            },
        }
    }
}

pub(super) struct DavState<'a> {
    pub(super) client: Option<&'a DavClient>,
    pub(super) homes: Option<Homes>,
    /// (source folder, kind) -> collection.
    pub(super) collections: HashMap<(String, DavKind), Collection>,
}

pub(super) async fn flush_all_dav(
    ctx: &Ctx<'_>,
    w: &Work,
    run: &mut FolderRun,
    dav: &mut DavState<'_>,
) -> Result<(), EngineError> {
    let kinds: Vec<DavKind> = run.dav.keys().copied().collect();
    for k in kinds {
        let batch = run.dav.remove(&k).unwrap_or_default();
        if !batch.is_empty() {
            flush_dav(ctx, w, run, dav, k, batch).await?;
        }
    }
    Ok(())
}

/// The collection for `kind` items of folder `w`, created when missing.
async fn collection<'s>(
    dav: &'s mut DavState<'_>,
    w: &Work,
    kind: DavKind,
) -> Result<Option<&'s Collection>, EngineError> {
    let Some(client) = dav.client else {
        return Ok(None);
    };
    let key = (w.path.clone(), kind);
    if !dav.collections.contains_key(&key) {
        if dav.homes.is_none() {
            dav.homes = Some(
                client
                    .discover()
                    .await
                    .map_err(|e| EngineError::dav(Side::Destination, "find the collections", e))?,
            );
        }
        let ckind = kind.collection();
        let Some(home) = dav.homes.as_ref().and_then(|h| h.home_for(&ckind)) else {
            return Ok(None);
        };
        let name = if w.path.is_empty() {
            "Imported".to_owned()
        } else {
            w.path.clone()
        };
        let (c, _) = client
            .ensure_named_collection(home, &name, ckind)
            .await
            .map_err(|e| EngineError::dav(Side::Destination, "create a collection", e))?;
        dav.collections.insert(key.clone(), c);
    }
    Ok(dav.collections.get(&key))
}

/// Objects to import, the node id of each UID, and the node ids that could not be parsed.
type ParsedBatch = (
    Vec<Result<SourceObject, FormatError>>,
    HashMap<String, u32>,
    Vec<(u32, String)>,
    Vec<u32>,
);

/// Parses converted objects for [`import_objects`](crate::dav_sink::import_objects): the node id of each UID, and the node ids
/// whose text could not be parsed.
fn parse_batch(kind: DavKind, batch: &[(u32, String)]) -> ParsedBatch {
    let mut objects = Vec::new();
    let mut nodes = HashMap::new();
    let mut bad = Vec::new();
    let mut dups = Vec::new();
    for (node, text) in batch {
        let parsed: Vec<Result<SourceObject, FormatError>> = match kind {
            DavKind::Contacts => vcf::split(text.as_bytes())
                .map(|r| r.map(SourceObject::from))
                .collect(),
            _ => ics::split(text.as_bytes())
                .map(|r| r.map(SourceObject::from))
                .collect(),
        };
        if parsed.is_empty() {
            bad.push((
                *node,
                "cannot import the item: its conversion holds no vCard or calendar component"
                    .to_owned(),
            ));
        }
        for p in parsed {
            match p {
                Ok(o) => {
                    let uid = match &o {
                        SourceObject::Ics(i) => i.uid.clone(),
                        SourceObject::Vcf(v) => v.uid.clone(),
                    };
                    if nodes.contains_key(&uid) {
                        dups.push(*node);
                        continue;
                    }
                    nodes.insert(uid, *node);
                    objects.push(Ok(o));
                }
                Err(e) => bad.push((*node, e.to_string())),
            }
        }
    }
    (objects, nodes, bad, dups)
}

/// Sends a batch of contacts / events to the folder's collection and records what landed.
pub(super) async fn flush_dav(
    ctx: &Ctx<'_>,
    w: &Work,
    run: &mut FolderRun,
    dav: &mut DavState<'_>,
    kind: DavKind,
    batch: Vec<(u32, String)>,
) -> Result<(), EngineError> {
    let Some(client) = dav.client else {
        return Ok(());
    };
    let Some(coll) = collection(dav, w, kind).await?.cloned() else {
        run.report.skipped += batch.len() as u64;
        run.notes.insert(format!(
            "{}: the DAV server has no home for this kind of collection",
            w.path
        ));
        return Ok(());
    };
    if !run.report.dst.contains(&coll.href) {
        if !run.report.dst.is_empty() {
            run.report.dst.push(' ');
        }
        run.report.dst.push_str(&coll.href);
    }
    let (objects, nodes, bad, dups) = parse_batch(kind, &batch);
    drop(batch);
    if !dups.is_empty() {
        run.report.skipped += dups.len() as u64;
        run.notes.insert(format!(
            "{}: {} item(s) with the UID of another item of the folder left out",
            w.path,
            dups.len()
        ));
    }
    let failures: Vec<Failure> = bad
        .into_iter()
        .map(|(node, reason)| Failure {
            pass: ctx.pass,
            kind: kind.content(),
            folder: w.path.clone(),
            src_key: node.to_string(),
            size: None,
            reason,
        })
        .collect();
    ctx.store.record_failures(ctx.id, &failures).await?;
    run.report.failed += failures.len() as u64;
    let ledger = DavLedger {
        store: ctx.store,
        id: ctx.id,
        pass: ctx.pass,
        events: ctx.events,
    };
    let key = |_: &str, uid: Option<&str>| Some((kind.content(), nodes.get(uid?)?.to_string()));
    let failure = |e: &ItemEvent| match e {
        ItemEvent::Failed { uid, error, .. } => {
            let node = uid.as_ref().and_then(|u| nodes.get(u)).copied();
            Some((
                kind.content(),
                node.map(|n| n.to_string()).unwrap_or_default(),
                error.clone(),
            ))
        }
        _ => None,
    };
    let recorded = HashMap::new();
    let rows = Rows {
        folder: &w.path,
        display: &w.path,
        dst_folder: &coll.href,
        recorded: &recorded,
        fingerprint: Fingerprint::Uid,
        key: &key,
        failure: &failure,
    };
    let (_, t) = import_recorded(
        ledger,
        &rows,
        client,
        &ImportTargets::single(&coll),
        objects,
        &HashSet::new(),
        &CopyOptions::default(),
    )
    .await?;
    for uid in &t.conflicts {
        run.report.skipped += 1;
        run.notes.insert(format!(
            "{}: UID {uid} already exists on the destination (not ours): left alone",
            w.path
        ));
    }
    run.report.copied += t.recorded;
    run.report.bytes += t.bytes;
    run.report.failed += t.failed;
    Ok(())
}
