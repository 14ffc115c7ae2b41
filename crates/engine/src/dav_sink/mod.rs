//! Copying collections account to account, importing parsed files, verifying.
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

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use std::collections::{HashMap, HashSet, VecDeque};

use passeur_formats::fingerprint::{resource_name, sha256_hex};
use passeur_formats::{ComponentKind, FormatError, IcsObject, VcfObject, VcfVersion, ics, tz, vcf};

use crate::client::{
    Collection, CollectionKind, DavClient, ItemRef, MULTIGET_BATCH, PutCondition, PutOutcome,
    normalize_href,
};
use crate::error::{DavError, Result};

/// What the item map knows of one source resource copied in an earlier pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownItem {
    pub src_etag: String,
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

/// Knobs of [`copy_collection`] and [`import_objects`].
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
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
    fn parallel(&self) -> usize {
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
        src_href: String,
        src_etag: String,
        uid: String,
        dst_href: String,
        dst_etag: Option<String>,
        bytes: usize,
        /// Empty, or: the destination refused the item as it was, and took it repaired
        /// ([`passeur_formats::repair::repair_ics`]); what changed, one note per change (the
        /// first note says what the destination answered).
        repaired: Vec<String>,
    },
    /// A resource copied earlier was changed on the source and rewritten.
    Updated {
        src_href: String,
        src_etag: String,
        uid: String,
        dst_href: String,
        dst_etag: Option<String>,
        bytes: usize,
    },
    /// Our deterministic href already holds this UID (a run resumed after a crash):
    /// nothing written, record it as copied.
    AlreadyThere {
        src_href: String,
        src_etag: String,
        uid: String,
        dst_href: String,
        dst_etag: Option<String>,
    },
    /// The UID exists on the destination from elsewhere; left alone.
    Conflict {
        uid: String,
        src_href: String,
        dst_href: String,
    },
    /// The UID existed on the destination from elsewhere and was replaced
    /// ([`OnConflict::Overwrite`]).
    Overwritten {
        src_href: String,
        src_etag: String,
        uid: String,
        dst_href: String,
        dst_etag: Option<String>,
        bytes: usize,
    },
    /// This item could not be copied (bad data, refused by the server); the rest goes on.
    Failed {
        src_href: String,
        uid: Option<String>,
        error: String,
    },
}

/// An item that is on the destination after an [`ItemEvent`]: its UID, destination href and the
/// bytes written (0 when it was already there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    pub uid: String,
    pub dst_href: String,
    /// The destination's ETag after the write, when the server gave one.
    pub dst_etag: Option<String>,
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

/// Counts of one copy or import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Items the source listed (for an incremental sync: changed items).
    pub listed: usize,
    pub copied: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub already_there: usize,
    pub conflicts: usize,
    pub overwritten: usize,
    pub failed: usize,
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
    Ics(IcsObject),
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
    pub events: Option<&'a Collection>,
    pub todos: Option<&'a Collection>,
    pub journals: Option<&'a Collection>,
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

/// A resource ready to PUT.
struct Prepared {
    uid: String,
    text: String,
    content_type: &'static str,
    ext: &'static str,
}

const ICS_TYPE: &str = "text/calendar; charset=utf-8";
const VCF_TYPE: &str = "text/vcard; charset=utf-8";

/// The vCard version to convert to for `dst`: the option, else 3.0 when the
/// address book says it stores 3.0 but not 4.0.
fn vcard_target(opts: &CopyOptions, dst: &Collection) -> CopyOptions {
    let mut o = opts.clone();
    if o.convert_vcard_to.is_none()
        && !dst.vcard_versions.is_empty()
        && !dst.vcard_versions.contains(&VcfVersion::V40)
    {
        o.convert_vcard_to = Some(VcfVersion::V30);
    }
    o
}

fn vcard_text(
    o: &VcfObject,
    original: Option<&str>,
    opts: &CopyOptions,
) -> std::result::Result<String, FormatError> {
    // vCard 3.0 requires FN and N, 4.0 requires FN (servers refuse cards without):
    // the converter derives them.
    let has_n = o
        .text
        .split("\r\n")
        .any(|l| l.starts_with("N:") || l.starts_with("N;"));
    let convert = o.version == VcfVersion::V21
        || o.fn_.is_none()
        || (o.version == VcfVersion::V30 && !has_n)
        || opts
            .convert_vcard_to
            .is_some_and(|v| v == VcfVersion::V30 && o.version != VcfVersion::V30);
    if convert {
        return vcf::to_v3(o);
    }
    Ok(match original {
        Some(b) if o.warnings.is_empty() => b.to_string(),
        _ => o.text.clone(),
    })
}

/// A source resource's body as the destination should get it: the same bytes
/// unless a fix is needed (missing VTIMEZONE, Windows zone, vCard version, UID).
fn prepare_body(
    calendar: bool,
    body: &str,
    opts: &CopyOptions,
) -> std::result::Result<Prepared, String> {
    if calendar {
        let mut objs = ics::split(body.as_bytes());
        let first = objs
            .next()
            .ok_or_else(|| "empty calendar resource".to_string())?;
        let o = first.map_err(|e| e.to_string())?;
        if objs.next().is_some() {
            return Err("the resource holds more than one UID".into());
        }
        let text = if o.warnings.is_empty() {
            body.to_string()
        } else {
            o.text
        };
        Ok(Prepared {
            uid: o.uid,
            text,
            content_type: ICS_TYPE,
            ext: "ics",
        })
    } else {
        let mut objs = vcf::split(body.as_bytes());
        let first = objs
            .next()
            .ok_or_else(|| "empty vCard resource".to_string())?;
        let o = first.map_err(|e| e.to_string())?;
        let text = vcard_text(&o, Some(body), opts).map_err(|e| e.to_string())?;
        Ok(Prepared {
            uid: o.uid,
            text,
            content_type: VCF_TYPE,
            ext: "vcf",
        })
    }
}

fn uid_of(calendar: bool, body: &str) -> Option<String> {
    if calendar {
        ics::inspect(body).uid
    } else {
        vcf::inspect(body).uid
    }
}

/// The destination collection's resources by UID.
struct DstIndex {
    by_uid: HashMap<String, (String, String)>,
}

impl DstIndex {
    /// Lists `coll` and reads the UIDs of the resources not in `ours` (hrefs the
    /// item map already accounts for).
    async fn build(dst: &DavClient, coll: &Collection, ours: &HashSet<String>) -> Result<Self> {
        let calendar = coll.kind.is_calendar();
        let items = dst.list_items(coll).await?;
        let unknown: Vec<String> = items
            .iter()
            .filter(|i| !ours.contains(&normalize_href(&i.href)))
            .map(|i| i.href.clone())
            .collect();
        let mut by_uid = HashMap::new();
        for chunk in unknown.chunks(MULTIGET_BATCH) {
            for (r, body) in dst.multiget(coll, chunk).await? {
                if let Some(u) = uid_of(calendar, &body) {
                    by_uid.insert(u, (r.href, r.etag));
                }
            }
        }
        Ok(DstIndex { by_uid })
    }
}

fn etag_opt(e: &str) -> Option<String> {
    (!e.is_empty()).then(|| e.to_string())
}

/// Writes a new resource at its UID-derived href (see the module docs).
#[allow(clippy::too_many_arguments)]
async fn place_new(
    dst: &DavClient,
    coll: &Collection,
    index: &DstIndex,
    p: &Prepared,
    src_href: &str,
    src_etag: &str,
    opts: &CopyOptions,
) -> Result<ItemEvent> {
    let dst_href = format!("{}{}", coll.href, resource_name(&p.uid, p.ext));
    let bytes = p.text.len();
    let failed = |error: String| ItemEvent::Failed {
        src_href: src_href.to_string(),
        uid: Some(p.uid.clone()),
        error,
    };
    let overwrite = |href: String, etag: Option<String>| async move {
        let cond = etag
            .map(PutCondition::IfMatch)
            .unwrap_or(PutCondition::None);
        Ok::<_, DavError>(match dst.put(&href, &p.text, p.content_type, cond).await? {
            PutOutcome::Created { etag } | PutOutcome::Updated { etag } => ItemEvent::Overwritten {
                src_href: src_href.to_string(),
                src_etag: src_etag.to_string(),
                uid: p.uid.clone(),
                dst_href: href,
                dst_etag: etag,
                bytes,
            },
            other => failed(format!("cannot overwrite {href}: {other:?}")),
        })
    };
    if let Some((h, e)) = index.by_uid.get(&p.uid) {
        if normalize_href(h) == normalize_href(&dst_href) {
            return Ok(ItemEvent::AlreadyThere {
                src_href: src_href.to_string(),
                src_etag: src_etag.to_string(),
                uid: p.uid.clone(),
                dst_href: h.clone(),
                dst_etag: etag_opt(e),
            });
        }
        return match opts.on_conflict {
            OnConflict::Skip => Ok(ItemEvent::Conflict {
                uid: p.uid.clone(),
                src_href: src_href.to_string(),
                dst_href: h.clone(),
            }),
            OnConflict::Overwrite => overwrite(h.clone(), etag_opt(e)).await,
        };
    }
    let first = dst
        .put(
            &dst_href,
            &p.text,
            p.content_type,
            PutCondition::IfNoneMatch,
        )
        .await;
    // A server that fails on one item (Xandikos answers 500 to objects its parser chokes on)
    // is asked once more, with the repaired form where there is one; the item is then listed
    // as not migrated instead of stopping the whole collection. A server that is down fails the
    // next request too and stops the pass as before.
    let first = match first {
        Err(DavError::Http {
            op: "PUT",
            status: 500,
            body,
            ..
        }) => PutOutcome::Rejected {
            status: 500,
            reason: body,
        },
        other => other?,
    };
    Ok(match first {
        PutOutcome::Created { etag } | PutOutcome::Updated { etag } => ItemEvent::Copied {
            src_href: src_href.to_string(),
            src_etag: src_etag.to_string(),
            uid: p.uid.clone(),
            dst_href,
            dst_etag: etag,
            bytes,
            repaired: Vec::new(),
        },
        PutOutcome::AlreadyExists => {
            let there = dst.get(&dst_href).await?;
            let same = there
                .as_ref()
                .and_then(|(b, _)| uid_of(coll.kind.is_calendar(), b))
                .is_some_and(|u| u == p.uid);
            if same {
                ItemEvent::AlreadyThere {
                    src_href: src_href.to_string(),
                    src_etag: src_etag.to_string(),
                    uid: p.uid.clone(),
                    dst_etag: there.and_then(|(_, e)| e),
                    dst_href,
                }
            } else {
                match opts.on_conflict {
                    OnConflict::Skip => ItemEvent::Conflict {
                        uid: p.uid.clone(),
                        src_href: src_href.to_string(),
                        dst_href,
                    },
                    OnConflict::Overwrite => {
                        overwrite(dst_href, there.and_then(|(_, e)| e)).await?
                    }
                }
            }
        }
        PutOutcome::UidConflict { existing } => {
            let href = existing.unwrap_or(dst_href);
            match opts.on_conflict {
                OnConflict::Skip => ItemEvent::Conflict {
                    uid: p.uid.clone(),
                    src_href: src_href.to_string(),
                    dst_href: href,
                },
                OnConflict::Overwrite => overwrite(href, None).await?,
            }
        }
        PutOutcome::Rejected { status, reason } => {
            let refusal = format!("the destination refused it: HTTP {status} {reason}");
            match p.ext {
                "ics" | "vcf" => {
                    retry_repaired(dst, &dst_href, p, src_href, src_etag, refusal).await?
                }
                _ => failed(refusal),
            }
        }
        other => failed(format!("unexpected answer to PUT: {other:?}")),
    })
}

/// The one retry after a refusal: the object in its repaired form, when there is one. A
/// repaired item is recorded once, with what changed; a second refusal names both.
async fn retry_repaired(
    dst: &DavClient,
    dst_href: &str,
    p: &Prepared,
    src_href: &str,
    src_etag: &str,
    refusal: String,
) -> Result<ItemEvent> {
    let failed = |error: String| ItemEvent::Failed {
        src_href: src_href.to_string(),
        uid: Some(p.uid.clone()),
        error,
    };
    let repaired = match p.ext {
        "vcf" => passeur_formats::repair::repair_vcf(&p.text),
        _ => passeur_formats::repair::repair_ics(&p.text),
    };
    let Some(r) = repaired else {
        return Ok(failed(refusal));
    };
    let again = match dst
        .put(dst_href, &r.text, p.content_type, PutCondition::IfNoneMatch)
        .await
    {
        Err(DavError::Http {
            op: "PUT",
            status: 500,
            body,
            ..
        }) => PutOutcome::Rejected {
            status: 500,
            reason: body,
        },
        other => other?,
    };
    Ok(match again {
        PutOutcome::Created { etag } | PutOutcome::Updated { etag } => {
            let mut repaired = Vec::with_capacity(r.changes.len() + 1);
            repaired.push(format!("{refusal}; it took it repaired"));
            repaired.extend(r.changes);
            ItemEvent::Copied {
                src_href: src_href.to_string(),
                src_etag: src_etag.to_string(),
                uid: p.uid.clone(),
                dst_href: dst_href.to_string(),
                dst_etag: etag,
                bytes: r.text.len(),
                repaired,
            }
        }
        PutOutcome::Rejected { status, reason } => failed(format!(
            "{refusal}; it refused the repaired form too (HTTP {status} {reason}; tried: {})",
            r.changes.join("; ")
        )),
        other => failed(format!(
            "{refusal}; unexpected answer to the repaired form: {other:?}"
        )),
    })
}

/// Copies one collection's resources from `src` to `dst` (see the module docs).
///
/// Items whose ETag matches `known` are skipped; known items with another ETag are
/// rewritten in place (`If-Match` on the recorded destination ETag); new items are
/// created at UID-derived hrefs. Transport failures and 5xx end the call with an
/// error (safe to retry: nothing is duplicated); item-level problems become
/// [`ItemEvent::Failed`].
pub async fn copy_collection(
    src: &DavClient,
    src_coll: &Collection,
    dst: &DavClient,
    dst_coll: &Collection,
    known: &HashMap<String, KnownItem>,
    opts: &CopyOptions,
    mut on_item: impl FnMut(ItemEvent),
) -> Result<CopyReport> {
    let calendar = src_coll.kind.is_calendar();
    if calendar != dst_coll.kind.is_calendar() {
        return Err(DavError::Config(format!(
            "cannot copy {} into {}: not the same kind of collection",
            src_coll.href, dst_coll.href
        )));
    }
    let opts = &vcard_target(opts, dst_coll);
    let known_n: HashMap<String, &KnownItem> =
        known.iter().map(|(k, v)| (normalize_href(k), v)).collect();
    let mut report = CopyReport::default();

    // 1. What the source has (or what changed since the last token).
    let mut listing: Option<Vec<ItemRef>> = None;
    if src_coll.sync_token.is_some() {
        match src
            .sync_collection(src_coll, opts.sync_token.as_deref())
            .await
        {
            Ok(r) => {
                report.new_sync_token = Some(r.new_token).filter(|t| !t.is_empty());
                if opts.sync_token.is_some() {
                    report.deleted_on_source = r
                        .deleted
                        .into_iter()
                        .filter(|h| known_n.contains_key(&normalize_href(h)))
                        .collect();
                } else {
                    let seen: HashSet<String> =
                        r.changed.iter().map(|i| normalize_href(&i.href)).collect();
                    report.deleted_on_source = known
                        .keys()
                        .filter(|k| !seen.contains(&normalize_href(k)))
                        .cloned()
                        .collect();
                }
                listing = Some(r.changed);
            }
            Err(e @ (DavError::SyncTokenInvalid { .. } | DavError::Http { .. })) => {
                tracing::info!(
                    "sync-collection unusable on {}, listing instead: {e}",
                    src_coll.href
                );
            }
            Err(e) => return Err(e),
        }
    }
    let items = match listing {
        Some(l) => l,
        None => {
            let l = src.list_items(src_coll).await?;
            let seen: HashSet<String> = l.iter().map(|i| normalize_href(&i.href)).collect();
            report.deleted_on_source = known
                .keys()
                .filter(|k| !seen.contains(&normalize_href(k)))
                .cloned()
                .collect();
            l
        }
    };
    report.listed = items.len();

    // 2. What needs copying.
    let mut todo: Vec<String> = Vec::new();
    let mut any_new = false;
    let skip: HashSet<String> = opts.skip.iter().map(|h| normalize_href(h)).collect();
    for i in &items {
        match known_n.get(&normalize_href(&i.href)) {
            Some(k) if !i.etag.is_empty() && k.src_etag == i.etag => report.unchanged += 1,
            Some(_) => todo.push(i.href.clone()),
            None if skip.contains(&normalize_href(&i.href)) => report.filtered += 1,
            None => {
                any_new = true;
                todo.push(i.href.clone());
            }
        }
    }
    if todo.is_empty() {
        return Ok(report);
    }
    let ours: HashSet<String> = known
        .values()
        .map(|k| normalize_href(&k.dst_href))
        .collect();
    let index = if any_new {
        DstIndex::build(dst, dst_coll, &ours).await?
    } else {
        DstIndex {
            by_uid: HashMap::new(),
        }
    };

    // 3. Copy. The writes flow: up to `parallel` in flight all the time, the next multiget
    //    batch fetched while the writes of the previous one run (waiting for a whole batch to
    //    finish before fetching the next left 3.6 of 8 writes in flight on average). Events
    //    come in source order.
    let parallel = opts.parallel();
    let mut chunks = todo.chunks(MULTIGET_BATCH);
    let mut fetches: FuturesOrdered<BoxFut<'_, Result<Bodies>>> = FuturesOrdered::new();
    let mut queue: VecDeque<(ItemRef, String)> = VecDeque::new();
    let mut writes: FuturesOrdered<BoxFut<'_, Result<Option<ItemEvent>>>> = FuturesOrdered::new();
    let (known_n, index) = (&known_n, &index);
    loop {
        while writes.len() < parallel {
            let Some((r, body)) = queue.pop_front() else {
                break;
            };
            if calendar
                && !opts.components.is_empty()
                && ics::inspect(&body)
                    .kind
                    .is_some_and(|k| !opts.components.contains(&k))
            {
                writes.push_back(Box::pin(std::future::ready(Ok(None))));
                continue;
            }
            match prepare_body(calendar, &body, opts) {
                Ok(p) => writes.push_back(Box::pin(async move {
                    let ev = match known_n.get(&normalize_href(&r.href)) {
                        Some(k) => update(dst, k, &p, &r, opts).await?,
                        None => place_new(dst, dst_coll, index, &p, &r.href, &r.etag, opts).await?,
                    };
                    Ok(Some(ev))
                })),
                Err(error) => {
                    let ev = ItemEvent::Failed {
                        src_href: r.href.clone(),
                        uid: uid_of(calendar, &body),
                        error,
                    };
                    writes.push_back(Box::pin(std::future::ready(Ok(Some(ev)))));
                }
            }
        }
        // Keep the next batch coming before the queue runs dry.
        if fetches.is_empty()
            && queue.len() < parallel.max(MULTIGET_BATCH / 2)
            && let Some(c) = chunks.next()
        {
            fetches.push_back(Box::pin(src.multiget(src_coll, c)));
        }
        if writes.is_empty() && fetches.is_empty() {
            if queue.is_empty() {
                break;
            }
            continue;
        }
        tokio::select! {
            Some(ev) = writes.next(), if !writes.is_empty() => match ev? {
                Some(ev) => {
                    report.count(&ev);
                    on_item(ev);
                }
                None => report.filtered += 1,
            },
            Some(batch) = fetches.next(), if !fetches.is_empty() => queue.extend(batch?),
        }
    }
    Ok(report)
}

/// Resources with their bodies, as a multiget gives them.
type Bodies = Vec<(ItemRef, String)>;

/// A boxed future of a copy pass (writes and fetches of different shapes in one queue).
type BoxFut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

async fn update(
    dst: &DavClient,
    k: &KnownItem,
    p: &Prepared,
    r: &ItemRef,
    opts: &CopyOptions,
) -> Result<ItemEvent> {
    let cond = k
        .dst_etag
        .clone()
        .map(PutCondition::IfMatch)
        .unwrap_or(PutCondition::None);
    let mut outcome = dst.put(&k.dst_href, &p.text, p.content_type, cond).await?;
    if outcome == PutOutcome::EtagMismatch && opts.on_conflict == OnConflict::Overwrite {
        outcome = dst
            .put(&k.dst_href, &p.text, p.content_type, PutCondition::None)
            .await?;
    }
    Ok(match outcome {
        PutOutcome::Created { etag } | PutOutcome::Updated { etag } => ItemEvent::Updated {
            src_href: r.href.clone(),
            src_etag: r.etag.clone(),
            uid: p.uid.clone(),
            dst_href: k.dst_href.clone(),
            dst_etag: etag,
            bytes: p.text.len(),
        },
        PutOutcome::EtagMismatch => ItemEvent::Conflict {
            uid: p.uid.clone(),
            src_href: r.href.clone(),
            dst_href: k.dst_href.clone(),
        },
        PutOutcome::Rejected { status, reason } => ItemEvent::Failed {
            src_href: r.href.clone(),
            uid: Some(p.uid.clone()),
            error: format!("the destination refused the update: HTTP {status} {reason}"),
        },
        other => ItemEvent::Failed {
            src_href: r.href.clone(),
            uid: Some(p.uid.clone()),
            error: format!("unexpected answer to PUT: {other:?}"),
        },
    })
}

/// Imports parsed file objects (see [`passeur_formats::ics::split`] and
/// [`passeur_formats::vcf::split`]) into the target collections.
///
/// `known` holds the UIDs the item map already has for this import (skipped,
/// counted as unchanged). Each event's `src_href` is `line:<n>` (where the
/// object starts in the file) and `src_etag` the SHA-256 of the object's text.
/// Parse errors become [`ItemEvent::Failed`] with the line and UID in the message; the
/// reader's warnings ([`FormatError::Skipped`]) are passed over (they are no items).
pub async fn import_objects<I, O>(
    dst: &DavClient,
    targets: &ImportTargets<'_>,
    objects: I,
    known: &HashSet<String>,
    opts: &CopyOptions,
    mut on_item: impl FnMut(ItemEvent),
) -> Result<CopyReport>
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
                    return Err(DavError::Config(e.to_string()));
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

/// A key property that differs between source and destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub uid: String,
    pub field: &'static str,
    pub src: String,
    pub dst: String,
}

/// The outcome of [`verify_collection`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub src_count: usize,
    pub dst_count: usize,
    /// UIDs of the source missing on the destination.
    pub missing: Vec<String>,
    /// UIDs on the destination the source does not have.
    pub extra: Vec<String>,
    pub differing: Vec<Difference>,
}

impl VerifyReport {
    /// True when every source UID is on the destination with the same key properties.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.differing.is_empty()
    }
}

/// Every resource of a collection with its body: one query REPORT (see
/// [`DavClient::query_all`]), else, when the server refuses it or the answer is too large, a
/// listing and multigets. The query's answer is checked against the listing: a server that
/// leaves resources out of it (one it cannot parse) gets them fetched by multiget.
pub async fn fetch_all(client: &DavClient, coll: &Collection) -> Result<Vec<(ItemRef, String)>> {
    let listed = client.list_items(coll).await?;
    if let Ok(mut all) = client.query_all(coll).await {
        let have: HashSet<String> = all.iter().map(|(r, _)| normalize_href(&r.href)).collect();
        let rest: Vec<String> = listed
            .iter()
            .filter(|i| !have.contains(&normalize_href(&i.href)))
            .map(|i| i.href.clone())
            .collect();
        if !rest.is_empty() {
            all.extend(client.multiget(coll, &rest).await?);
        }
        return Ok(all);
    }
    let hrefs: Vec<String> = listed.into_iter().map(|i| i.href).collect();
    client.multiget(coll, &hrefs).await
}

/// Named key properties of one resource, in a fixed order.
type KeyProps = Vec<(&'static str, String)>;

fn key_props(calendar: bool, body: &str) -> (Option<String>, Vec<(&'static str, String)>) {
    if calendar {
        let i = ics::inspect(body);
        // A zone means nothing on an all-day DATE (servers drop it); Windows zone
        // names were mapped on the way.
        let dtstart =
            i.dtstart.map(
                |d| match d.strip_prefix("TZID=").and_then(|r| r.split_once(':')) {
                    Some((_, v)) if v.len() == 8 => v.to_string(),
                    Some((z, v)) => format!("TZID={}:{v}", tz::windows_to_iana(z).unwrap_or(z)),
                    None => d,
                },
            );
        (
            i.uid,
            vec![
                ("SUMMARY", i.summary.unwrap_or_default()),
                ("DTSTART", dtstart.unwrap_or_default()),
                // Servers reorder RRULE parts (Xandikos): compare them as a set.
                ("RRULE", {
                    let mut parts: Vec<String> = i
                        .rrule
                        .unwrap_or_default()
                        .split(';')
                        .map(|p| p.trim().to_ascii_uppercase())
                        .filter(|p| !p.is_empty())
                        .collect();
                    parts.sort();
                    parts.join(";")
                }),
                ("components", i.components.to_string()),
            ],
        )
    } else {
        let i = vcf::inspect(body);
        (
            i.uid,
            vec![
                ("FN", i.fn_.unwrap_or_default()),
                ("EMAIL", i.emails.join(",")),
                ("TEL", i.tels.join(",")),
                ("PHOTO", i.has_photo.to_string()),
            ],
        )
    }
}

/// Compares two collections by UID: counts, missing and extra UIDs, and key
/// properties (calendars: SUMMARY, DTSTART with its zone, RRULE, number of
/// components; contacts: FN, e-mails, phone numbers, whether a photo is there).
pub async fn verify_collection(
    src: &DavClient,
    src_coll: &Collection,
    dst: &DavClient,
    dst_coll: &Collection,
    components: &[ComponentKind],
    left_out: &HashSet<String>,
) -> Result<VerifyReport> {
    let calendar = src_coll.kind.is_calendar();
    let mut s = fetch_all(src, src_coll).await?;
    // Source items not expected on the destination (a purge removed them).
    if !left_out.is_empty() {
        let left_out: HashSet<String> = left_out.iter().map(|h| normalize_href(h)).collect();
        s.retain(|(r, _)| !left_out.contains(&normalize_href(&r.href)));
    }
    // Objects a copy with the same filter leaves alone are not expected on the destination.
    if calendar && !components.is_empty() {
        s.retain(|(_, b)| ics::inspect(b).kind.is_none_or(|k| components.contains(&k)));
    }
    let d = fetch_all(dst, dst_coll).await?;
    let index = |v: &[(ItemRef, String)]| -> HashMap<String, Vec<(&'static str, String)>> {
        v.iter()
            .filter_map(|(_, b)| {
                let (u, p) = key_props(calendar, b);
                u.map(|u| (u, p))
            })
            .collect()
    };
    let si = index(&s);
    let di = index(&d);
    let mut r = VerifyReport {
        src_count: s.len(),
        dst_count: d.len(),
        ..VerifyReport::default()
    };
    for (uid, sp) in &si {
        match di.get(uid) {
            None => r.missing.push(uid.clone()),
            Some(dp) => {
                for ((field, a), (_, b)) in sp.iter().zip(dp.iter()) {
                    if a != b {
                        r.differing.push(Difference {
                            uid: uid.clone(),
                            field,
                            src: a.clone(),
                            dst: b.clone(),
                        });
                    }
                }
            }
        }
    }
    r.extra = di
        .keys()
        .filter(|u| !si.contains_key(*u))
        .cloned()
        .collect();
    r.missing.sort();
    r.extra.sort();
    Ok(r)
}

/// Compares parsed file objects with what the target collections hold, by UID,
/// with the same key properties as [`verify_collection`] (vCards are compared
/// decoded, so a 2.1 card matches its 3.0 copy). Objects that failed to parse are
/// not counted; for a repeated UID the first object counts.
pub async fn verify_objects<I, O>(
    dst: &DavClient,
    targets: &ImportTargets<'_>,
    objects: I,
) -> Result<VerifyReport>
where
    I: IntoIterator<Item = std::result::Result<O, FormatError>>,
    O: Into<SourceObject>,
{
    // uid -> (target href, key properties)
    let mut src: HashMap<String, (String, KeyProps)> = HashMap::new();
    let mut colls: HashMap<String, &Collection> = HashMap::new();
    for o in objects.into_iter().flatten() {
        let o: SourceObject = o.into();
        let Some(coll) = targets.for_object(&o) else {
            continue;
        };
        // Compare with what the import sends (missing FN/N derived, 2.1 converted).
        let (calendar, text) = match &o {
            SourceObject::Ics(i) => (true, i.text.clone()),
            SourceObject::Vcf(v) => (
                false,
                vcard_text(v, None, &vcard_target(&CopyOptions::default(), coll))
                    .unwrap_or_else(|_| v.text.clone()),
            ),
        };
        let (uid, props) = key_props(calendar, &text);
        if let Some(u) = uid {
            src.entry(u).or_insert((coll.href.clone(), props));
        }
        colls.insert(coll.href.clone(), coll);
    }
    let mut dst_props: HashMap<String, HashMap<String, KeyProps>> = HashMap::new();
    let mut r = VerifyReport {
        src_count: src.len(),
        ..VerifyReport::default()
    };
    for (href, coll) in &colls {
        let all = fetch_all(dst, coll).await?;
        r.dst_count += all.len();
        let m = all
            .iter()
            .filter_map(|(_, b)| {
                let (u, p) = key_props(coll.kind.is_calendar(), b);
                u.map(|u| (u, p))
            })
            .collect();
        dst_props.insert(href.clone(), m);
    }
    for (uid, (href, sp)) in &src {
        match dst_props.get(href).and_then(|m| m.get(uid)) {
            None => r.missing.push(uid.clone()),
            Some(dp) => {
                for ((field, a), (_, b)) in sp.iter().zip(dp.iter()) {
                    if a != b {
                        r.differing.push(Difference {
                            uid: uid.clone(),
                            field,
                            src: a.clone(),
                            dst: b.clone(),
                        });
                    }
                }
            }
        }
    }
    for m in dst_props.values() {
        r.extra
            .extend(m.keys().filter(|u| !src.contains_key(*u)).cloned());
    }
    r.missing.sort();
    r.extra.sort();
    Ok(r)
}
