//! A source DAV collection into a destination collection.

use futures::StreamExt;
use futures::stream::{FuturesOrdered, FuturesUnordered};
use std::collections::{HashMap, HashSet, VecDeque};

use passeur_dav::{
    Collection, DavClient, DavError, ItemRef, MULTIGET_BATCH, Result, normalize_href,
};
use passeur_formats::ics;

use super::write::{DstIndex, place_new, prepare_body, uid_of, update, vcard_target};
use super::{BoxFut, CopyError, CopyOptions, CopyReport, ItemEvent, KnownItem, WriteMeter};
use crate::Side;

/// Copies one collection's resources from `src` to `dst` (see the module docs).
///
/// Items whose ETag matches `known` are skipped; known items with another ETag are
/// rewritten in place (`If-Match` on the recorded destination ETag); new items are
/// created at UID-derived hrefs. Transport failures and 5xx end the call with an
/// error (safe to retry: nothing is duplicated); item-level problems become
/// [`ItemEvent::Failed`]; an error says which side's server failed ([`CopyError::side`]).
pub async fn copy_collection(
    src: &DavClient,
    src_coll: &Collection,
    dst: &DavClient,
    dst_coll: &Collection,
    known: &HashMap<String, KnownItem>,
    opts: &CopyOptions,
    on_item: impl FnMut(ItemEvent),
) -> std::result::Result<CopyReport, CopyError> {
    let go_on = |_| -> BoxFut<'_, bool> { Box::pin(std::future::ready(true)) };
    copy_planned(
        (src, src_coll),
        (dst, dst_coll),
        known,
        opts,
        go_on,
        on_item,
    )
    .await
}

/// [`copy_collection`], telling `plan` the new resources (source href and ETag) it is about
/// to write, before it writes any; nothing is written when `plan` answers false.
pub(super) async fn copy_planned<'p>(
    (src, src_coll): (&DavClient, &Collection),
    (dst, dst_coll): (&DavClient, &Collection),
    known: &HashMap<String, KnownItem>,
    opts: &CopyOptions,
    plan: impl FnOnce(Vec<(String, String)>) -> BoxFut<'p, bool>,
    mut on_item: impl FnMut(ItemEvent),
) -> std::result::Result<CopyReport, CopyError> {
    let on_src = |source| CopyError {
        side: Side::Source,
        source,
    };
    let on_dst = |source| CopyError {
        side: Side::Destination,
        source,
    };
    let calendar = src_coll.kind.is_calendar();
    if calendar != dst_coll.kind.is_calendar() {
        return Err(on_dst(DavError::Config(format!(
            "cannot copy {} into {}: not the same kind of collection",
            src_coll.href, dst_coll.href
        ))));
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
            Err(e) => return Err(on_src(e)),
        }
    }
    let items = match listing {
        Some(l) => l,
        None => {
            let l = src.list_items(src_coll).await.map_err(on_src)?;
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
    let mut new: Vec<(String, String)> = Vec::new();
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
                new.push((i.href.clone(), i.etag.clone()));
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
        DstIndex::build(dst, dst_coll, &ours)
            .await
            .map_err(on_dst)?
    } else {
        DstIndex {
            by_uid: HashMap::new(),
        }
    };

    if !new.is_empty() && !plan(new).await {
        return Ok(report);
    }

    // 3. Copy. The writes flow: up to `parallel` in flight all the time, the next multiget
    //    batch fetched while the writes of the previous one run (waiting for a whole batch to
    //    finish before fetching the next left 3.6 of 8 writes in flight on average). Events
    //    come in the order the writes end: a server that serves its waiting writers in no
    //    particular order (Radicale's storage lock) otherwise held ended writes behind a slow
    //    first one, each still taking a slot (5.0 of 8 in flight on average, 3.3 of 4). The
    //    next batch is asked for while a whole one is still queued, so that a source slow to
    //    answer (its lock wanted by the writes) does not leave the writes without work.
    let parallel = opts.parallel();
    let meter = WriteMeter::new();
    let meter = &meter;
    let mut chunks = todo.chunks(MULTIGET_BATCH);
    let mut fetches: FuturesOrdered<BoxFut<'_, Result<Bodies>>> = FuturesOrdered::new();
    let mut queue: VecDeque<(ItemRef, String)> = VecDeque::new();
    let mut writes: FuturesUnordered<BoxFut<'_, Result<Option<ItemEvent>>>> =
        FuturesUnordered::new();
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
                writes.push(Box::pin(std::future::ready(Ok(None))));
                continue;
            }
            match prepare_body(calendar, &body, opts) {
                Ok(p) => writes.push(Box::pin(meter.time(async move {
                    let ev = match known_n.get(&normalize_href(&r.href)) {
                        Some(k) => update(dst, k, &p, &r, opts).await?,
                        None => place_new(dst, dst_coll, index, &p, &r.href, &r.etag, opts).await?,
                    };
                    Ok(Some(ev))
                }))),
                Err(error) => {
                    let ev = ItemEvent::Failed {
                        src_href: r.href.clone(),
                        uid: uid_of(calendar, &body),
                        error,
                    };
                    writes.push(Box::pin(std::future::ready(Ok(Some(ev)))));
                }
            }
        }
        // Keep the next batch coming before the queue runs dry.
        if fetches.is_empty()
            && queue.len() < parallel.max(MULTIGET_BATCH)
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
            Some(ev) = writes.next(), if !writes.is_empty() => match ev.map_err(on_dst)? {
                Some(ev) => {
                    report.count(&ev);
                    on_item(ev);
                }
                None => report.filtered += 1,
            },
            Some(batch) = fetches.next(), if !fetches.is_empty() => queue.extend(batch.map_err(on_src)?),
        }
    }
    meter.log(&dst_coll.href);
    Ok(report)
}

/// Resources with their bodies, as a multiget gives them.
type Bodies = Vec<(ItemRef, String)>;
