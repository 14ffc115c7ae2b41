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

use crate::dav_sink::ledger::{DavLedger, Fingerprint, Rows, import_recorded_flowing};
use crate::dav_sink::{CopyOptions, ImportFlow, ImportTargets, ItemEvent, SourceObject};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::sync::oneshot;

/// A boxed future of a chunk (the chunks in flight in one queue).
type BoxFut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
use crate::error::ImportError;
use crate::import_pst::{ImportFolderReport, ImportOptions, ImportReport};
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
            Some("ics" | "ical" | "ifb" | "icalendar" | "vcs") => return Some(FileKind::Ics),
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

/// What is known of a chunk before its writes: the kind of each UID, what the reader mended in
/// each item (recorded with the item when it lands) and the notes about the file.
struct ChunkStart {
    kinds: HashMap<String, ContentKind>,
    read_notes: HashMap<String, Vec<String>>,
    notes_rows: Vec<ItemNote>,
}

/// A chunk whose writes have all ended, recorded.
struct ChunkDone {
    rep: crate::dav_sink::CopyReport,
    t: crate::dav_sink::ledger::DavTally,
    kinds: HashMap<String, ContentKind>,
    read_notes: HashMap<String, Vec<String>>,
    notes_rows: Vec<ItemNote>,
}

/// The kinds and notes of a chunk read (see [`ChunkStart`]); the reader's warnings about the
/// file are counted in `r`.
fn before_chunk(
    chunk: &Chunk,
    known: &HashSet<String>,
    r: &mut ImportFolderReport,
    (pass, src_folder, file_kind): (u32, &str, ContentKind),
) -> ChunkStart {
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
    let mut read_notes: HashMap<String, Vec<String>> = HashMap::new();
    let mut notes_rows: Vec<ItemNote> = Vec::new();
    for o in chunk {
        match o {
            Err(e) if e.is_warning() => {
                r.warnings += 1;
                notes_rows.push(ItemNote {
                    pass,
                    kind: file_kind,
                    folder: src_folder.to_owned(),
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
    ChunkStart {
        kinds,
        read_notes,
        notes_rows,
    }
}

/// Counts a recorded chunk in `r` and records what the reader mended in the items that landed.
async fn after_chunk(
    r: &mut ImportFolderReport,
    notes: &mut HashSet<String>,
    done: ChunkDone,
    (store, id, pass, src_folder, file_kind): (
        &passeur_store::Store,
        passeur_types::MigrationId,
        u32,
        &str,
        ContentKind,
    ),
) -> Result<(), EngineError> {
    let ChunkDone {
        rep,
        t,
        kinds,
        mut read_notes,
        mut notes_rows,
    } = done;
    r.items += rep.listed as u64;
    r.known += rep.unchanged as u64;
    r.repaired += t.repaired;
    for uid in &t.conflicts {
        r.skipped += 1;
        notes.insert(format!(
            "UID {uid} already exists in the collection (not ours): left alone"
        ));
    }
    for uid in &t.landed {
        if let Some(w) = read_notes.remove(uid) {
            let k = kinds.get(uid).copied().unwrap_or(file_kind);
            r.warnings += w.len() as u64;
            notes_rows.extend(w.into_iter().map(|note| ItemNote {
                pass,
                kind: k,
                folder: src_folder.to_owned(),
                src_key: uid.clone(),
                repaired: false,
                note,
            }));
        }
    }
    store.record_notes(id, &notes_rows).await?;
    r.copied += t.recorded;
    r.bytes += t.bytes;
    r.failed += t.failed;
    Ok(())
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
        .ok_or_else(|| ImportError::NotCalendarOrContacts {
            path: path.to_owned(),
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
    let home = homes.home_for(&ckind).ok_or(ImportError::NoHome)?;
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
    let known: HashSet<String> = ledger
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
    let file_kind = match kind {
        FileKind::Vcf => ContentKind::Contacts,
        _ => ContentKind::Calendars,
    };
    // The chunks overlap: once every write of one has started, the next is read, recorded
    // pending and its writes take the slots the first frees, so that the writes flow from one
    // chunk into the next (they drained at the end of each before). A chunk's outcomes are
    // recorded when its last write ends.
    let opts_dav = CopyOptions::default();
    let flow = ImportFlow::new(opts_dav.parallel());
    let result: Result<(), EngineError> = async {
        let mut running: FuturesOrdered<BoxFut<'_, Result<ChunkDone, EngineError>>> =
            FuturesOrdered::new();
        // Signals that the newest chunk has started all its writes.
        let mut dispatching: Option<oneshot::Receiver<()>> = None;
        let (mut read_all, mut stopped) = (false, false);
        loop {
            if running.is_empty() && (read_all || stopped) {
                break;
            }
            let may_start = !read_all && !stopped && dispatching.is_none() && running.len() < 2;
            tokio::select! {
                biased;
                // Stopped while the reader is still splitting the next chunk (a large file):
                // no chunk is started after; those running finish and are recorded.
                _ = cancel.cancelled(), if !stopped => stopped = true,
                Some(done) = running.next(), if !running.is_empty() => {
                    let done = done?;
                    after_chunk(&mut r, &mut notes, done, (store, id, pass, &src_folder, file_kind))
                        .await?;
                }
                _ = async { dispatching.as_mut().expect("dispatching").await },
                    if dispatching.is_some() => dispatching = None,
                c = rx.recv(), if may_start => match c {
                    None => read_all = true,
                    Some(chunk) => {
                        let (tx_done, rx_done) = oneshot::channel();
                        dispatching = Some(rx_done);
                        let prepared = before_chunk(&chunk, &known, &mut r, (pass, &src_folder, file_kind));
                        let (ledger, known, flow, targets, coll, src_folder) =
                            (ledger, &known, &flow, &targets, &coll, &src_folder);
                        let opts_dav = &opts_dav;
                        running.push_back(Box::pin(async move {
                            let ChunkStart { kinds, read_notes, notes_rows } = prepared;
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
                                folder: src_folder,
                                display: src_folder,
                                dst_folder: &coll.href,
                                recorded: &recorded,
                                fingerprint: Fingerprint::Uid,
                                key: &key,
                                failure: &failure,
                            };
                            let (rep, t) = import_recorded_flowing(
                                ledger,
                                (&rows, path),
                                (dav, targets),
                                chunk,
                                known,
                                opts_dav,
                                (flow, move || {
                                    let _ = tx_done.send(());
                                }),
                            )
                            .await?;
                            Ok(ChunkDone {
                                rep,
                                t,
                                kinds,
                                read_notes,
                                notes_rows,
                            })
                        }));
                    }
                },
            }
        }
        Ok(())
    }
    .await;
    flow.meter.log(&coll.href);
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
