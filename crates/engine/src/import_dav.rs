//! Import of an iCalendar (.ics) or vCard (.vcf) file into one DAV collection.
//!
//! The file is split on a blocking thread (passeur-formats, bounded memory) and sent in chunks
//! to [`dav_sink::import_objects`](crate::dav_sink::import_objects). Item map: `src_folder` = the file name, `src_key` = the
//! object's UID, `dst_key` = the href it was written to. UIDs already in the map are skipped,
//! so importing the same file again copies nothing; resources written by a run that was
//! interrupted before recording them are found again at their deterministic href.

use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Read as _};
use std::path::{Path, PathBuf};

use passeur_dav::{CollectionKind, ComponentKind, DavClient};
use passeur_formats::{FormatError, ics, vcf};
use passeur_store::ItemNote;
use passeur_types::ContentKind;
use tokio::sync::mpsc;

use crate::dav_sink::ledger::{DavLedger, Fingerprint, Rows, import_recorded};
use crate::dav_sink::{CopyOptions, ImportTargets, ItemEvent, SourceObject};
use crate::import_pst::{ImportFolderReport, ImportOptions, ImportReport, import_err};
use crate::{EngineError, Event, RunContext, Side};

/// What kind of file an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// An Outlook PST or OST file: mail, contacts, calendars, tasks.
    Pst,
    /// An iCalendar file (`.ics`): events, tasks, journal entries.
    Ics,
    /// A vCard file (`.vcf`): contacts.
    Vcf,
}

impl FileKind {
    /// By extension, else by the file's first bytes.
    pub fn detect(path: &Path) -> Option<FileKind> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("pst" | "ost") => return Some(FileKind::Pst),
            Some("ics" | "ical" | "ifb" | "icalendar") => return Some(FileKind::Ics),
            Some("vcf" | "vcard") => return Some(FileKind::Vcf),
            _ => {}
        }
        let mut head = [0u8; 512];
        let n = std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .ok()?;
        let head = &head[..n];
        if head.starts_with(b"!BDN") {
            return Some(FileKind::Pst);
        }
        let text = String::from_utf8_lossy(head).to_ascii_uppercase();
        let text = text.trim_start_matches('\u{feff}').trim_start();
        if text.starts_with("BEGIN:VCALENDAR") {
            Some(FileKind::Ics)
        } else if text.starts_with("BEGIN:VCARD") {
            Some(FileKind::Vcf)
        } else {
            None
        }
    }
}

fn content_kind(o: &SourceObject) -> ContentKind {
    match o {
        SourceObject::Vcf(_) => ContentKind::Contacts,
        SourceObject::Ics(i) => match i.kind {
            ComponentKind::Todo => ContentKind::Tasks,
            _ => ContentKind::Calendars,
        },
    }
}

type Chunk = Vec<Result<SourceObject, FormatError>>;

fn read_chunks(path: PathBuf, kind: FileKind, size: usize, tx: mpsc::Sender<Chunk>) {
    let file = match std::fs::File::open(&path) {
        Ok(f) => BufReader::new(f),
        Err(e) => {
            let _ = tx.blocking_send(vec![Err(FormatError::from(e))]);
            return;
        }
    };
    fn pump<I: Iterator<Item = Chunk>>(chunks: I, tx: &mpsc::Sender<Chunk>) {
        for c in chunks {
            if tx.blocking_send(c).is_err() {
                return;
            }
        }
    }
    match kind {
        FileKind::Vcf => pump(
            chunked(vcf::split(file).map(|r| r.map(Into::into)), size),
            &tx,
        ),
        _ => pump(
            chunked(ics::split(file).map(|r| r.map(Into::into)), size),
            &tx,
        ),
    }
}

fn chunked<I: Iterator<Item = Result<SourceObject, FormatError>>>(
    mut it: I,
    size: usize,
) -> impl Iterator<Item = Chunk> {
    std::iter::from_fn(move || {
        let c: Chunk = it.by_ref().take(size.max(1)).collect();
        (!c.is_empty()).then_some(c)
    })
}

/// Runs one import pass of an .ics or .vcf file into the collection named `collection` of the
/// DAV account (created when missing). `src_folder` names the file in the item map.
pub async fn run_file_import(
    rc: &RunContext,
    path: &Path,
    dav: &DavClient,
    collection: &str,
    opts: &ImportOptions,
) -> Result<ImportReport, EngineError> {
    let (store, id, pass, events, cancel) =
        (&rc.store, rc.migration, rc.pass, &rc.events, &rc.cancel);
    let kind = FileKind::detect(path)
        .filter(|k| *k != FileKind::Pst)
        .ok_or_else(|| {
            import_err(format!(
                "cannot import {}: not an iCalendar or vCard file",
                path.display()
            ))
        })?;
    let src_folder = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ckind = match kind {
        FileKind::Vcf => CollectionKind::AddressBook,
        _ => CollectionKind::Calendar {
            components: vec![
                ComponentKind::Event,
                ComponentKind::Todo,
                ComponentKind::Journal,
            ],
        },
    };
    let homes = dav
        .discover()
        .await
        .map_err(|e| EngineError::dav(Side::Destination, "find the collections", e))?;
    let home = homes.home_for(&ckind).ok_or_else(|| {
        import_err("cannot import: the DAV server shows no home for this kind of collection")
    })?;
    let (coll, _) = dav
        .ensure_named_collection(home, collection, ckind)
        .await
        .map_err(|e| EngineError::dav(Side::Destination, "create the collection", e))?;

    let ledger = DavLedger {
        store,
        id,
        pass,
        events,
    };
    let all = [
        ContentKind::Contacts,
        ContentKind::Calendars,
        ContentKind::Tasks,
    ];
    let mut known: HashSet<String> = ledger
        .recorded(&all, &src_folder)
        .await?
        .into_keys()
        .collect();
    let mut r = ImportFolderReport {
        folder: src_folder.clone(),
        kind: match kind {
            FileKind::Vcf => "contacts".into(),
            _ => "calendar".into(),
        },
        dst: coll.href.clone(),
        ..Default::default()
    };
    events.send(Event::Planned {
        folders: 1,
        messages: 0,
        known: known.len() as u64,
    });

    let (tx, mut rx) = mpsc::channel::<Chunk>(2);
    let reader = {
        let path = path.to_owned();
        let size = opts.dav_batch;
        tokio::task::spawn_blocking(move || read_chunks(path, kind, size, tx))
    };
    let targets = ImportTargets::single(&coll);
    let mut notes = HashSet::new();
    let result: Result<(), EngineError> = async {
        loop {
            // Stopped while the reader is still splitting the next chunk (a large file): the
            // run ends now, not when the chunk is ready.
            let chunk = tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                c = rx.recv() => match c {
                    Some(c) => c,
                    None => break,
                },
            };
            let kinds: HashMap<String, ContentKind> = chunk
                .iter()
                .filter_map(|o| o.as_ref().ok())
                .map(|o| {
                    let uid = match o {
                        SourceObject::Ics(i) => i.uid.clone(),
                        SourceObject::Vcf(v) => v.uid.clone(),
                    };
                    (uid, content_kind(o))
                })
                .collect();
            // What the reader skipped or mended: about the file (recorded now) and about each
            // item (recorded with the item when it lands).
            let file_kind = match kind {
                FileKind::Vcf => ContentKind::Contacts,
                _ => ContentKind::Calendars,
            };
            let mut read_notes: HashMap<String, Vec<String>> = HashMap::new();
            let mut notes_rows: Vec<ItemNote> = Vec::new();
            for o in &chunk {
                match o {
                    Err(e) if e.is_warning() => {
                        r.warnings += 1;
                        notes_rows.push(ItemNote {
                            pass,
                            kind: file_kind,
                            folder: src_folder.clone(),
                            src_key: e.line().map(|l| format!("line:{l}")).unwrap_or_default(),
                            repaired: false,
                            note: e.to_string(),
                        });
                    }
                    Ok(o) => {
                        let (uid, w) = match o {
                            SourceObject::Ics(i) => (&i.uid, &i.warnings),
                            SourceObject::Vcf(v) => (&v.uid, &v.warnings),
                        };
                        if !w.is_empty() && !known.contains(uid) {
                            read_notes.insert(uid.clone(), w.clone());
                        }
                    }
                    Err(_) => {}
                }
            }
            let key = |_: &str, uid: Option<&str>| {
                let uid = uid?;
                Some((kinds.get(uid).copied().unwrap_or(file_kind), uid.to_owned()))
            };
            let failure = |e: &ItemEvent| match e {
                ItemEvent::Failed {
                    src_href,
                    uid,
                    error,
                } => Some((
                    uid.as_ref()
                        .and_then(|u| kinds.get(u))
                        .copied()
                        .unwrap_or(ContentKind::Calendars),
                    uid.clone().unwrap_or_else(|| src_href.clone()),
                    error.clone(),
                )),
                _ => None,
            };
            let recorded = HashMap::new();
            let rows = Rows {
                folder: &src_folder,
                display: &src_folder,
                dst_folder: &coll.href,
                recorded: &recorded,
                fingerprint: Fingerprint::Uid,
                key: &key,
                failure: &failure,
            };
            let (rep, t) = import_recorded(
                ledger,
                &rows,
                dav,
                &targets,
                chunk,
                &known,
                &CopyOptions::default(),
            )
            .await?;
            r.items += rep.listed as u64;
            r.known += rep.unchanged as u64;
            r.repaired += t.repaired;
            for uid in &t.conflicts {
                r.skipped += 1;
                notes.insert(format!(
                    "UID {uid} already exists in the collection (not ours): left alone"
                ));
            }
            // What the reader mended in the items that landed.
            for uid in &t.landed {
                if let Some(w) = read_notes.remove(uid) {
                    let k = kinds.get(uid).copied().unwrap_or(file_kind);
                    r.warnings += w.len() as u64;
                    notes_rows.extend(w.into_iter().map(|note| ItemNote {
                        pass,
                        kind: k,
                        folder: src_folder.clone(),
                        src_key: uid.clone(),
                        repaired: false,
                        note,
                    }));
                }
            }
            store.record_notes(id, &notes_rows).await?;
            known.extend(t.landed);
            r.copied += t.recorded;
            r.bytes += t.bytes;
            r.failed += t.failed;
        }
        Ok(())
    }
    .await;
    drop(rx);
    let _ = reader.await;
    result?;
    let mut report = ImportReport {
        pass,
        cancelled: cancel.is_cancelled(),
        ..Default::default()
    };
    let mut notes: Vec<String> = notes.into_iter().collect();
    notes.sort();
    report.notes = notes;
    report.push(r);
    store.update_pass(id, pass, report.counters, None).await?;
    Ok(report)
}
