//! The DAV sink: exactly-once writes of calendar objects and vCards into CalDAV/CardDAV
//! collections, fed by a source DAV collection ([`copy_collection`]) or by parsed `.ics`/`.vcf`
//! objects ([`import_objects`], which the file and PST imports use), and the comparison that
//! checks the result ([`verify_collection`], [`verify_objects`]).
//!
//! Exactly once, without a store: the engine hands in what its item map knows
//! ([`KnownItem`] per source href, or the set of imported UIDs) and records each
//! [`ItemEvent`]. Destination hrefs are derived from the UID
//! ([`passeur_formats::fingerprint::resource_name`]), and new resources are PUT
//! with `If-None-Match: *`: a run resumed after a crash addresses the same href,
//! gets 412, finds its own UID there and reports [`ItemEvent::AlreadyThere`]
//! instead of writing a duplicate. Before writing new resources the destination
//! is indexed by UID (bodies fetched only for resources the item map does not
//! know), so a UID that exists there under another href is reported as a
//! [`ItemEvent::Conflict`] (or overwritten, if asked).
//!
//! The protocol itself (discovery, PROPFIND/REPORT/GET/PUT/DELETE) is `passeur-dav`'s
//! [`DavClient`]; this module holds the migration logic on top of it. Its `ledger` records
//! the outcomes in the item map the same way for every source (pending rows before the
//! writes, confirmed or dropped after), so that a DAV collection, an `.ics`/`.vcf` file and a
//! PST's contacts and calendars resume alike.

mod copy;
mod import;
pub(crate) mod ledger;
mod verify;
mod write;

use std::collections::HashSet;

use passeur_dav::{Collection, CollectionKind, DavError};

use crate::Side;
use passeur_formats::{ComponentKind, IcsObject, VcfObject, VcfVersion};

pub use copy::copy_collection;
pub(crate) use import::ImportFlow;
pub use import::import_objects;
pub use verify::{Difference, VerifyReport, verify_collection, verify_objects};

#[cfg(doc)]
use passeur_dav::DavClient;

/// What the item map knows of one source resource copied in an earlier pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownItem {
    /// The source resource's ETag when it was copied: another ETag now means it changed.
    pub src_etag: String,
    /// Where the copy is on the destination.
    pub dst_href: String,
    /// The destination ETag recorded then, if any (makes updates conditional).
    pub dst_etag: Option<String>,
}

/// What to do with a UID that already exists on the destination, put there by
/// something else than this migration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnConflict {
    /// Leave the destination's resource alone and report the conflict.
    #[default]
    Skip,
    /// Replace the destination's resource with the source's.
    Overwrite,
}

/// Why [`copy_collection`] stopped: the server of one side failed (a transport error, a 5xx,
/// an answer too large, a refused redirect). What was written before is reported through the
/// item events and is safe to record; running the copy again duplicates nothing.
#[derive(Debug, thiserror::Error)]
#[error("{side}: {source}")]
pub struct CopyError {
    /// Which side's server failed: the source while listing or reading, the destination while
    /// indexing or writing.
    pub side: Side,
    /// The DAV client's error (it says whether a retry may help).
    #[source]
    pub source: DavError,
}

/// Knobs of [`copy_collection`] and [`import_objects`].
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// What to do with a UID the destination holds from elsewhere.
    pub on_conflict: OnConflict,
    /// Convert vCards to this version where they differ (`Some(V30)` for servers
    /// that only take 3.0). vCard 2.1 always becomes 3.0: no CardDAV server stores 2.1.
    pub convert_vcard_to: Option<VcfVersion>,
    /// The source's sync token from the previous pass: with it, only what changed
    /// since is listed (RFC 6578), where the source supports it.
    pub sync_token: Option<String>,
    /// Writes (PUT) in flight at once; 0 means `DEFAULT_CONCURRENCY` (4). Each resource's href
    /// is derived from its UID and created with `If-None-Match: *`, so writes in parallel stay
    /// exactly-once.
    pub concurrency: usize,
    /// Calendar objects whose main component is not listed are left alone (not copied, not
    /// counted); empty: every object. For a calendar holding both events and tasks when only
    /// one kind is wanted.
    pub components: Vec<ComponentKind>,
    /// Source hrefs to leave alone (items a purge removed from the destination).
    pub skip: HashSet<String>,
}

/// Writes in flight when [`CopyOptions::concurrency`] is 0.
const DEFAULT_CONCURRENCY: usize = 4;

impl CopyOptions {
    /// Writes in flight at once.
    pub(crate) fn parallel(&self) -> usize {
        if self.concurrency == 0 {
            DEFAULT_CONCURRENCY
        } else {
            self.concurrency
        }
    }
}

/// One outcome per source item; the engine records these in its item map.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemEvent {
    /// A new resource was written.
    Copied {
        /// The source resource's href (`line:N` for an object of a file).
        src_href: String,
        /// The source resource's ETag (the SHA-256 of the object's text for a file).
        src_etag: String,
        /// The object's UID.
        uid: String,
        /// Where it was written.
        dst_href: String,
        /// The destination's ETag after the write, when the server gave one.
        dst_etag: Option<String>,
        /// Bytes written.
        bytes: usize,
        /// Empty, or: the destination refused the item as it was, and took it repaired
        /// ([`passeur_formats::repair::repair_ics`]); what changed, one note per change (the
        /// first note says what the destination answered).
        repaired: Vec<String>,
    },
    /// A resource copied earlier was changed on the source and rewritten.
    Updated {
        /// The source resource's href.
        src_href: String,
        /// Its ETag now.
        src_etag: String,
        /// The object's UID.
        uid: String,
        /// Where the copy was rewritten.
        dst_href: String,
        /// The destination's ETag after the write, when the server gave one.
        dst_etag: Option<String>,
        /// Bytes written.
        bytes: usize,
    },
    /// Our deterministic href already holds this UID (a run resumed after a crash):
    /// nothing written, record it as copied.
    AlreadyThere {
        /// The source resource's href (`line:N` for an object of a file).
        src_href: String,
        /// The source resource's ETag.
        src_etag: String,
        /// The object's UID.
        uid: String,
        /// Where it is on the destination.
        dst_href: String,
        /// The destination's ETag, when known.
        dst_etag: Option<String>,
    },
    /// The UID exists on the destination from elsewhere; left alone.
    Conflict {
        /// The UID both sides hold.
        uid: String,
        /// The source resource's href.
        src_href: String,
        /// The destination resource that holds the UID.
        dst_href: String,
    },
    /// The UID existed on the destination from elsewhere and was replaced
    /// ([`OnConflict::Overwrite`]).
    Overwritten {
        /// The source resource's href.
        src_href: String,
        /// The source resource's ETag.
        src_etag: String,
        /// The object's UID.
        uid: String,
        /// The destination resource that was replaced.
        dst_href: String,
        /// The destination's ETag after the write, when the server gave one.
        dst_etag: Option<String>,
        /// Bytes written.
        bytes: usize,
    },
    /// This item could not be copied (bad data, refused by the server); the rest goes on.
    Failed {
        /// The source resource's href (`line:N` for an object of a file).
        src_href: String,
        /// The object's UID, when it could be read.
        uid: Option<String>,
        /// Why, in a sentence (the server's answer included).
        error: String,
    },
}

/// An item that is on the destination after an [`ItemEvent`]: its UID, destination href and the
/// bytes written (0 when it was already there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    /// The object's UID.
    pub uid: String,
    /// Where it is on the destination.
    pub dst_href: String,
    /// The destination's ETag after the write, when the server gave one.
    pub dst_etag: Option<String>,
    /// Bytes written by this event (0 when it was already there).
    pub bytes: usize,
    /// What a repair changed (see [`ItemEvent::Copied`]); empty when written as read.
    pub repaired: Vec<String>,
}

impl ItemEvent {
    /// The item, when this event leaves it on the destination (copied, updated, overwritten or
    /// already there); None for a conflict or a failure.
    pub fn landed(&self) -> Option<Landed> {
        if let ItemEvent::Copied {
            uid,
            dst_href,
            dst_etag,
            bytes,
            repaired,
            ..
        } = self
        {
            return Some(Landed {
                uid: uid.clone(),
                dst_href: dst_href.clone(),
                dst_etag: dst_etag.clone(),
                bytes: *bytes,
                repaired: repaired.clone(),
            });
        }
        let (uid, dst_href, dst_etag, bytes) = match self {
            ItemEvent::Updated {
                uid,
                dst_href,
                dst_etag,
                bytes,
                ..
            }
            | ItemEvent::Overwritten {
                uid,
                dst_href,
                dst_etag,
                bytes,
                ..
            } => (uid, dst_href, dst_etag, *bytes),
            ItemEvent::AlreadyThere {
                uid,
                dst_href,
                dst_etag,
                ..
            } => (uid, dst_href, dst_etag, 0),
            _ => return None,
        };
        Some(Landed {
            uid: uid.clone(),
            dst_href: dst_href.clone(),
            dst_etag: dst_etag.clone(),
            bytes,
            repaired: Vec::new(),
        })
    }
}

/// Why [`import_objects`] stopped before the end of its objects.
#[derive(Debug, thiserror::Error)]
pub enum ImportObjectsError {
    /// The destination failed (its error says whether a retry may help).
    #[error(transparent)]
    Dav(#[from] passeur_dav::DavError),
    /// The objects' reader cannot go on (an I/O error reading the file, a line beyond the
    /// cap): the file is at fault, not the destination.
    #[error(transparent)]
    Read(passeur_formats::FormatError),
}

/// Counts of one copy or import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Items the source listed (for an incremental sync: changed items).
    pub listed: usize,
    /// New resources written.
    pub copied: usize,
    /// Resources copied earlier, changed on the source, rewritten.
    pub updated: usize,
    /// Resources the item map knows with the same ETag: left alone.
    pub unchanged: usize,
    /// Resources found already written at their href (a resumed run).
    pub already_there: usize,
    /// UIDs the destination holds from elsewhere, left alone.
    pub conflicts: usize,
    /// UIDs the destination held from elsewhere, replaced ([`OnConflict::Overwrite`]).
    pub overwritten: usize,
    /// Items that could not be copied.
    pub failed: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Items left alone by [`CopyOptions::components`] or [`CopyOptions::skip`].
    pub filtered: usize,
    /// Source hrefs the item map knows that the source no longer has (nothing is
    /// deleted on the destination; the engine decides).
    pub deleted_on_source: Vec<String>,
    /// The source's sync token after this pass, to pass in next time.
    pub new_sync_token: Option<String>,
}

impl CopyReport {
    fn count(&mut self, ev: &ItemEvent) {
        match ev {
            ItemEvent::Copied { bytes, .. } => {
                self.copied += 1;
                self.bytes += *bytes as u64;
            }
            ItemEvent::Updated { bytes, .. } => {
                self.updated += 1;
                self.bytes += *bytes as u64;
            }
            ItemEvent::AlreadyThere { .. } => self.already_there += 1,
            ItemEvent::Conflict { .. } => self.conflicts += 1,
            ItemEvent::Overwritten { bytes, .. } => {
                self.overwritten += 1;
                self.bytes += *bytes as u64;
            }
            ItemEvent::Failed { .. } => self.failed += 1,
        }
    }
}

/// A parsed file object to import.
#[derive(Debug, Clone)]
pub enum SourceObject {
    /// A calendar object (one UID: an event, a task or a journal entry, with its overrides).
    Ics(IcsObject),
    /// A vCard.
    Vcf(VcfObject),
}

impl From<IcsObject> for SourceObject {
    fn from(o: IcsObject) -> Self {
        SourceObject::Ics(o)
    }
}

impl From<VcfObject> for SourceObject {
    fn from(o: VcfObject) -> Self {
        SourceObject::Vcf(o)
    }
}

/// Where [`import_objects`] puts each kind of object. Objects with no target are
/// reported as failed.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportTargets<'a> {
    /// Where events (VEVENT) go.
    pub events: Option<&'a Collection>,
    /// Where tasks (VTODO) go.
    pub todos: Option<&'a Collection>,
    /// Where journal entries (VJOURNAL) go.
    pub journals: Option<&'a Collection>,
    /// Where vCards go.
    pub contacts: Option<&'a Collection>,
}

impl<'a> ImportTargets<'a> {
    /// Everything `coll` accepts goes to `coll`.
    pub fn single(coll: &'a Collection) -> Self {
        let mut t = ImportTargets::default();
        match &coll.kind {
            CollectionKind::AddressBook => t.contacts = Some(coll),
            CollectionKind::Calendar { components } => {
                for k in components {
                    match k {
                        ComponentKind::Event => t.events = Some(coll),
                        ComponentKind::Todo => t.todos = Some(coll),
                        ComponentKind::Journal => t.journals = Some(coll),
                    }
                }
            }
        }
        t
    }

    fn for_object(&self, o: &SourceObject) -> Option<&'a Collection> {
        match o {
            SourceObject::Vcf(_) => self.contacts,
            SourceObject::Ics(i) => match i.kind {
                ComponentKind::Event => self.events,
                ComponentKind::Todo => self.todos,
                ComponentKind::Journal => self.journals,
            },
        }
    }
}

/// A boxed future of a copy pass (writes and fetches of different shapes in one queue).
type BoxFut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// How busy the writes of one copy or import kept the destination: the time each PUT (with
/// its retry) was in flight, summed, against the wall time of the writing phase. Their ratio
/// is the average number of writes in flight, logged at debug level under the target
/// `dav_writes` (`PASSEUR_LOG=warn,dav_writes=debug`) for the benchmarks.
pub(crate) struct WriteMeter {
    start: std::time::Instant,
    busy_ns: std::sync::atomic::AtomicU64,
    writes: std::sync::atomic::AtomicU64,
}

impl WriteMeter {
    pub(crate) fn new() -> WriteMeter {
        WriteMeter {
            start: std::time::Instant::now(),
            busy_ns: 0.into(),
            writes: 0.into(),
        }
    }

    /// `f`, its time in flight counted.
    pub(crate) async fn time<T>(&self, f: impl std::future::Future<Output = T>) -> T {
        use std::sync::atomic::Ordering::Relaxed;
        let t = std::time::Instant::now();
        let r = f.await;
        let ns = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.busy_ns.fetch_add(ns, Relaxed);
        self.writes.fetch_add(1, Relaxed);
        r
    }

    /// The debug line (nothing when no write was made).
    pub(crate) fn log(&self, collection: &str) {
        use std::sync::atomic::Ordering::Relaxed;
        let writes = self.writes.load(Relaxed);
        if writes == 0 {
            return;
        }
        let busy = self.busy_ns.load(Relaxed) as f64 / 1e9;
        let wall = self.start.elapsed().as_secs_f64();
        tracing::debug!(
            target: "dav_writes",
            collection,
            writes,
            busy_s = busy,
            wall_s = wall,
            in_flight = busy / wall.max(1e-9),
            "writes in flight"
        );
    }
}
