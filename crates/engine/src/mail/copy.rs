//! The copy pipeline: batches fetched from the source while the previous one is appended,
//! under a bytes-in-flight budget, each recorded the exactly-once way.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use passeur_imap::{AppendMessage, AppendOutcome, Client, MailboxStatus, MessageMeta};
use passeur_store::{Completion, Item, Store};
use passeur_types::{ContentKind, MigrationId};
use tokio::sync::mpsc;

use super::stream::stream_large;
use super::{Ctx, FolderReport, dst_err, src_err};
use crate::error::InternalError;
use crate::folders::FolderPlan;
use crate::message::{fingerprint, message_id, normalise_flags};
use crate::{EngineError, Event, EventSink, Side};

pub(super) type Batch = (Vec<(MessageMeta, Bytes)>, tokio::sync::OwnedSemaphorePermit);

pub(crate) fn batches<'a>(
    missing: &[&'a MessageMeta],
    max_msgs: usize,
    max_bytes: usize,
) -> Vec<Vec<&'a MessageMeta>> {
    let mut out = Vec::new();
    let mut cur: Vec<&MessageMeta> = Vec::new();
    let mut bytes = 0usize;
    for m in missing {
        let size = m.size.unwrap_or(0) as usize;
        if !cur.is_empty() && (cur.len() >= max_msgs.max(1) || bytes + size > max_bytes) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += size;
        cur.push(m);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// What [`append_recorded`] did with a batch.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AppendTally {
    pub copied: u64,
    pub bytes: u64,
    pub failed: u64,
}

/// Where the outcome of a batch is recorded: the migration's item map for this pass, and the
/// progress events.
#[derive(Clone, Copy)]
pub(crate) struct Ledger<'a> {
    pub store: &'a Store,
    pub id: MigrationId,
    pub pass: u32,
    pub events: &'a EventSink,
}

/// Appends one batch the exactly-once way: the items are recorded as pending first, then the
/// messages are appended, then the ones the destination took are confirmed with their new UID
/// and the refused ones are dropped from the map and recorded as failures. `items` and `msgs`
/// go in the same order.
pub(crate) async fn append_recorded(
    ledger: Ledger<'_>,
    d: &mut Client,
    dst_folder: &str,
    display: &str,
    items: &[Item],
    msgs: Vec<AppendMessage>,
) -> Result<AppendTally, EngineError> {
    let Ledger {
        store,
        id,
        pass,
        events,
    } = ledger;
    store.insert_pending(id, items).await?;
    let outcome = d
        .append_batch(dst_folder, &msgs)
        .await
        .map_err(dst_err("append messages"))?;
    drop(msgs);
    record_appended(store, id, pass, events, display, items, outcome).await
}

/// Records what the destination did with pending `items`: confirms those it took with their
/// new UID; drops from the map and records as failures those it refused.
pub(super) async fn record_appended(
    store: &Store,
    id: MigrationId,
    pass: u32,
    events: &EventSink,
    display: &str,
    items: &[Item],
    outcome: AppendOutcome,
) -> Result<AppendTally, EngineError> {
    let mut completions = Vec::new();
    let mut failures = Vec::new();
    let mut dropped = Vec::new();
    let mut tally = AppendTally::default();
    for (item, result) in items.iter().zip(&outcome.results) {
        match result {
            Ok(uid) => {
                completions.push(Completion {
                    kind: item.kind,
                    src_folder: &item.src_folder,
                    src_key: &item.src_key,
                    dst_uidvalidity: outcome.uidvalidity,
                    dst_uid: *uid,
                    dst_key: None,
                });
                tally.bytes += item.size;
            }
            Err(e) => {
                let reason = match &e.code {
                    Some(code) => format!("destination refused it [{code}]: {}", e.text),
                    None => format!("destination refused it: {}", e.text),
                };
                events.send(Event::ItemFailed {
                    folder: display.to_owned(),
                    uid: item
                        .src_uid
                        .unwrap_or_else(|| item.src_key.parse().unwrap_or(0)),
                    reason: reason.clone(),
                });
                failures.push(passeur_store::Failure {
                    pass,
                    kind: item.kind,
                    folder: display.to_owned(),
                    src_key: item.src_key.clone(),
                    size: Some(item.size),
                    reason,
                });
                dropped.push(item.key());
            }
        }
    }
    store.complete(id, &completions).await?;
    store.delete_items(id, &dropped).await?;
    store.record_failures(id, &failures).await?;
    tally.copied = completions.len() as u64;
    tally.failed = failures.len() as u64;
    events.send(Event::Copied {
        folder: display.to_owned(),
        messages: tally.copied,
        bytes: tally.bytes,
    });
    Ok(tally)
}

pub(super) async fn copy_missing(
    ctx: &Ctx,
    s: &mut Client,
    d: &mut Client,
    plan: &FolderPlan,
    st: &MailboxStatus,
    missing: &[&MessageMeta],
    report: &mut FolderReport,
) -> Result<(), EngineError> {
    let limits = ctx.opts.limits;
    // A message whose metadata cannot be read (an INTERNALDATE that is not a date) cannot be
    // appended as it is: it fails alone, and the rest of its batch goes on.
    let (unreadable, missing): (Vec<&MessageMeta>, Vec<&MessageMeta>) = missing
        .iter()
        .partition(|m| unreadable_metadata(m).is_some());
    if !unreadable.is_empty() {
        report.failed += record_unreadable(ctx, plan, st, &unreadable).await?;
    }
    // Large messages are streamed one by one after the batches; the rest goes through the
    // fetch/append pipeline, held in memory under the budget.
    let (large, small): (Vec<&MessageMeta>, Vec<&MessageMeta>) = missing
        .iter()
        .partition(|m| m.size.unwrap_or(0) >= limits.stream_from as u64);
    let batches = batches(&small, limits.batch_messages, limits.batch_bytes);
    let (tx, mut rx) = mpsc::channel::<Batch>(1);
    let dd = &mut *d;
    // The sizes are what the source declares. A body found larger than the streaming
    // threshold stops the batch fetch (the client does not hold a response that large), and
    // the messages of the batch not received yet are streamed after the batches.
    let response_cap = limits.stream_from.max(64 * 1024);
    let budget_total = ctx.budget_total;
    let acquire = |kib: u32| {
        let budget = ctx.budget.clone();
        async move {
            budget
                .acquire_many_owned(kib.clamp(1, budget_total))
                .await
                .map_err(|_| EngineError::from(InternalError::BudgetClosed))
        }
    };

    let fetch = async {
        let mut late: Vec<&MessageMeta> = Vec::new();
        s.set_max_response_literals(response_cap);
        for batch in batches {
            if ctx.cancel.is_cancelled() {
                break;
            }
            let kib: u64 = batch
                .iter()
                .map(|m| m.size.unwrap_or(0).div_ceil(1024))
                .sum();
            let mut permit = acquire(kib.min(u64::from(u32::MAX)) as u32).await?;
            let uids: Vec<u32> = batch.iter().map(|m| m.uid).collect();
            s.start_fetch_bodies(&uids)
                .await
                .map_err(src_err("fetch messages"))?;
            let wanted: HashMap<u32, &MessageMeta> = batch.iter().map(|m| (m.uid, *m)).collect();
            let mut received: HashSet<u32> = HashSet::with_capacity(uids.len());
            let mut held: Vec<(MessageMeta, Bytes)> = Vec::with_capacity(uids.len());
            // KiB actually received in `held`: the budget is charged with these, not with the
            // declared sizes.
            let mut charged: u64 = 0;
            loop {
                let body = match s.next_body().await {
                    Ok(Some(b)) => b,
                    Ok(None) => break,
                    Err(passeur_imap::Error::ResponseTooLarge { size, .. }) => {
                        tracing::warn!(
                            folder = %plan.display,
                            size,
                            "a message is larger than the source declared; streaming it"
                        );
                        late.extend(batch.iter().filter(|m| !received.contains(&m.uid)).copied());
                        reopen_source(ctx, s, plan, st).await?;
                        s.set_max_response_literals(response_cap);
                        break;
                    }
                    Err(e) => return Err(src_err("fetch messages")(e)),
                };
                // A message expunged on the source meanwhile is simply not there any more;
                // one sent twice or not asked for is ignored.
                let Some(m) = wanted.get(&body.uid) else {
                    continue;
                };
                if !received.insert(body.uid) {
                    continue;
                }
                let kib = (body.body.len() as u64).div_ceil(1024).max(1);
                charged += kib;
                let have = permit.num_permits() as u64;
                if charged > have {
                    let extra = (charged - have)
                        .min(u64::from(budget_total) - have.min(u64::from(budget_total)));
                    let more = if extra == 0 {
                        None
                    } else {
                        ctx.budget.clone().try_acquire_many_owned(extra as u32).ok()
                    };
                    match more {
                        Some(more) => permit.merge(more),
                        None if extra == 0 && held.is_empty() => {}
                        None => {
                            // Never wait for budget while holding some: hand over what is
                            // held, then wait for this body's share with nothing else held.
                            if held.is_empty() {
                                drop(permit);
                            } else if tx.send((std::mem::take(&mut held), permit)).await.is_err() {
                                return Ok(late);
                            }
                            permit = acquire(kib.min(u64::from(budget_total)) as u32).await?;
                            charged = kib;
                        }
                    }
                }
                held.push(((*m).clone(), body.body));
            }
            if tx.send((held, permit)).await.is_err() {
                break;
            }
        }
        drop(tx);
        Ok::<Vec<&MessageMeta>, EngineError>(late)
    };

    // `move`: when the append side fails, its receiver must be dropped at once, so that the
    // fetch side (waiting to send, or for budget held by a queued batch) wakes up and stops.
    let append = async move {
        let mut copied = 0u64;
        let mut bytes = 0u64;
        let mut failed = 0u64;
        while let Some((msgs, permit)) = rx.recv().await {
            if msgs.is_empty() {
                continue;
            }
            let items: Vec<Item> = msgs
                .iter()
                .map(|(m, body)| {
                    let mid = message_id(body);
                    pending_item(ctx, plan, st, m, mid.as_deref(), body.len() as u64)
                })
                .collect();
            let to_append: Vec<AppendMessage> = msgs
                .iter()
                .map(|(m, body)| AppendMessage {
                    flags: normalise_flags(&m.flags),
                    internal_date: m.internal_date.clone(),
                    body: body.clone(),
                })
                .collect();
            let ledger = Ledger {
                store: &ctx.store,
                id: ctx.id,
                pass: ctx.pass,
                events: &ctx.events,
            };
            let tally =
                append_recorded(ledger, dd, &plan.dst, &plan.display, &items, to_append).await?;
            copied += tally.copied;
            bytes += tally.bytes;
            failed += tally.failed;
            drop(msgs);
            drop(permit);
        }
        Ok::<(u64, u64, u64), EngineError>((copied, bytes, failed))
    };

    let (fetched, appended) = tokio::join!(fetch, append);
    let (copied, bytes, failed) = appended?;
    report.copied += copied;
    report.bytes += bytes;
    report.failed += failed;
    let mut large = large;
    large.extend(fetched?);
    if !large.is_empty() && !ctx.cancel.is_cancelled() {
        stream_large(ctx, s, d, plan, st, &large, report).await?;
    }
    Ok(())
}

/// Why a message's metadata cannot be used to append it, if it cannot.
pub(super) fn unreadable_metadata(m: &MessageMeta) -> Option<String> {
    let date = m.internal_date.as_deref()?;
    if crate::message::parse_internal_date(date).is_some() {
        return None;
    }
    let shown: String = date.chars().take(64).collect();
    Some(format!(
        "cannot copy it: the source gave an internal date that is not a date: {shown:?}"
    ))
}

/// Records messages whose metadata cannot be read as failures of this pass; returns how many.
pub(super) async fn record_unreadable(
    ctx: &Ctx,
    plan: &FolderPlan,
    st: &MailboxStatus,
    ms: &[&MessageMeta],
) -> Result<u64, EngineError> {
    let mut failures = Vec::with_capacity(ms.len());
    for m in ms {
        let reason = unreadable_metadata(m).unwrap_or_default();
        ctx.events.send(Event::ItemFailed {
            folder: plan.display.clone(),
            uid: m.uid,
            reason: reason.clone(),
        });
        failures.push(passeur_store::Failure {
            pass: ctx.pass,
            kind: ContentKind::Mail,
            folder: plan.display.clone(),
            src_key: Item::mail_key(st.uidvalidity, m.uid),
            size: m.size,
            reason,
        });
    }
    ctx.store.record_failures(ctx.id, &failures).await?;
    Ok(failures.len() as u64)
}

/// Replaces a source connection lost in the middle of a response with a new one on the same
/// folder. A changed UIDVALIDITY makes the folder start over (a retryable error).
pub(super) async fn reopen_source(
    ctx: &Ctx,
    s: &mut Client,
    plan: &FolderPlan,
    st: &MailboxStatus,
) -> Result<(), EngineError> {
    let mut fresh = ctx.src.connect(Side::Source).await?;
    examine_unchanged(&mut fresh, plan, st).await?;
    *s = fresh;
    Ok(())
}

/// Opens the source folder read-only on `s`, checking that its UIDVALIDITY is still the one
/// the scan saw (a change makes the folder start over: a retryable error).
pub(super) async fn examine_unchanged(
    s: &mut Client,
    plan: &FolderPlan,
    st: &MailboxStatus,
) -> Result<(), EngineError> {
    let now = s
        .examine(&plan.src)
        .await
        .map_err(src_err("open a folder"))?;
    if now.uidvalidity != st.uidvalidity {
        return Err(EngineError::imap(
            Side::Source,
            "go on copying a folder",
            passeur_imap::Error::Closed {
                reason: Some("the folder's UIDVALIDITY changed".into()),
            },
        ));
    }
    Ok(())
}

/// The map entry of a message about to be appended (pending until the destination confirms).
pub(super) fn pending_item(
    ctx: &Ctx,
    plan: &FolderPlan,
    st: &MailboxStatus,
    m: &MessageMeta,
    mid: Option<&[u8]>,
    size: u64,
) -> Item {
    Item {
        kind: ContentKind::Mail,
        src_folder: plan.src.clone(),
        src_key: Item::mail_key(st.uidvalidity, m.uid),
        src_uidvalidity: Some(st.uidvalidity),
        src_uid: Some(m.uid),
        fingerprint: fingerprint(mid, m.internal_date.as_deref(), size),
        dst_folder: plan.dst.clone(),
        dst_uidvalidity: None,
        dst_uid: None,
        dst_key: None,
        pass: ctx.pass,
        size,
        flags: normalise_flags(&m.flags).join(" "),
        etag: None,
        pending: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(uid: u32, size: u64) -> MessageMeta {
        MessageMeta {
            uid,
            flags: vec![],
            internal_date: None,
            size: Some(size),
            modseq: None,
        }
    }

    #[test]
    fn batches_respect_count_and_bytes_and_big_messages_go_alone() {
        let ms: Vec<MessageMeta> = vec![
            meta(1, 10),
            meta(2, 10),
            meta(3, 10),
            meta(4, 1000),
            meta(5, 10),
        ];
        let refs: Vec<&MessageMeta> = ms.iter().collect();
        let b = batches(&refs, 2, 100);
        let uids: Vec<Vec<u32>> = b
            .iter()
            .map(|b| b.iter().map(|m| m.uid).collect())
            .collect();
        assert_eq!(uids, vec![vec![1, 2], vec![3], vec![4], vec![5]]);
    }
}
