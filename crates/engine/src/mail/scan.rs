//! Scanning one folder: listing (in full or incrementally), reconciling, flags, and deciding
//! whether its copy is split into parts.

use std::collections::{HashMap, HashSet};

use passeur_imap::{Client, MailboxStatus, MessageMeta};
use passeur_store::{FolderState, Item, MailScope};
use passeur_types::ContentKind;

use super::copy::copy_missing;
use super::flags::sync_flags;
use super::parts::{Split, new_split, part_ranges, part_size};
use super::reconcile::{metas_after, reconcile_from, rekey_source, rematch_destination, settle};
use super::{Ctx, FolderReport, Work, dst_err, src_err};
use crate::{EngineError, Event, Side};

/// What scanning a folder came to.
pub(super) enum Scanned {
    /// The folder is done (copied, or failed item by item).
    Done(FolderReport),
    /// Its missing messages are to be copied in parts, over these UID ranges.
    Split(Box<Split>, Vec<(u32, u32)>),
}

pub(super) async fn process_folder(
    ctx: &Ctx,
    s: &mut Client,
    d: &mut Client,
    work: &Work,
) -> Result<Scanned, EngineError> {
    let plan = &work.plan;
    let mut report = FolderReport {
        folder: plan.display.clone(),
        dst: plan.dst.clone(),
        ..Default::default()
    };
    let st: MailboxStatus = s
        .examine(&plan.src)
        .await
        .map_err(src_err("open a folder"))?;
    report.source_messages = u64::from(st.exists);
    let store = &ctx.store;
    // What the map holds for the folder, counted: its rows are read only where needed (the
    // changed messages of a delta, a small folder, a reconciliation).
    let mut summary = store
        .mail_folder_summary(ctx.id, &plan.src, st.uidvalidity)
        .await?;
    let recovering = summary.pending > 0 || summary.other_uidvalidity > 0;
    let chunk = ctx.opts.limits.reconcile_chunk.max(1);
    // The source folder's UIDVALIDITY changed: recognise copied messages by fingerprint, one
    // range of UIDs at a time.
    if summary.other_uidvalidity > 0 {
        rekey_source(store, ctx.id, s, &plan.src, &st, chunk).await?;
        summary = store
            .mail_folder_summary(ctx.id, &plan.src, st.uidvalidity)
            .await?;
    }
    // The destination's side of a reconciliation, before anything is listed: afterwards the
    // map is whole again, and the folder is listed and copied as any other (in parts if big).
    let mut dst_st = None;
    let mut dst_changed = false;
    if !ctx.opts.dry_run {
        let mut now = d
            .select(&plan.dst)
            .await
            .map_err(dst_err("open a folder"))?;
        let scope = MailScope::Folder(&plan.src);
        dst_changed = summary
            .dst_uidvalidity
            .is_some_and(|(lo, hi)| lo != now.uidvalidity || hi != now.uidvalidity);
        if dst_changed {
            // The destination folder's UIDVALIDITY changed: find our messages again by
            // fingerprint (pending items included).
            rematch_destination(store, ctx.id, d, &now, scope, 0, chunk).await?;
        } else if summary.pending > 0 {
            // An interrupted run left items pending: they may or may not have reached the
            // destination.
            settle(d, &plan.dst).await?;
            // Open it again: what landed meanwhile must be visible to the reconciliation.
            now = d
                .select(&plan.dst)
                .await
                .map_err(dst_err("open a folder"))?;
            let after = reconcile_from(store, ctx.id, scope, now.uidvalidity, chunk).await?;
            rematch_destination(store, ctx.id, d, &now, scope, after, chunk).await?;
        }
        dst_st = Some(now);
    }
    // A folder with many messages to copy is copied in parts (UID ranges), each listing its
    // own range and reading its own items, so that memory does not grow with the folder.
    let can_split = !ctx.opts.dry_run;
    // After the destination folder changed, a delta would miss the messages whose copies are
    // gone: the folder is listed in full.
    let delta = if st.exists == 0 || recovering || dst_changed {
        None
    } else {
        delta_start(ctx, work, &st)
    };
    // A full listing of a big folder is left to its parts.
    let split_full = can_split && delta.is_none() && st.exists as usize >= ctx.split_from;
    let metas = if st.exists == 0 || split_full {
        Vec::new()
    } else if let Some((uidnext, modseq)) = delta {
        // The last pass copied everything below `uidnext`: list only the messages whose
        // flags changed since (CONDSTORE) and the new ones.
        let mut metas = if uidnext > 1 {
            s.uid_fetch_meta(&format!("1:{}", uidnext - 1), Some(modseq))
                .await
                .map_err(src_err("list changed messages"))?
        } else {
            Vec::new()
        };
        metas.extend(metas_after(s, uidnext - 1, Side::Source).await?);
        report.delta = true;
        metas
    } else {
        s.uid_fetch_meta("1:*", None)
            .await
            .map_err(src_err("list messages"))?
    };
    // The items the pass needs: all of a small folder, those of the listed messages in a
    // delta, none for a split folder (its parts read their own).
    let known = if delta.is_none() && !split_full {
        store
            .items_in_folder(ctx.id, ContentKind::Mail, &plan.src)
            .await?
    } else if delta.is_some() {
        let keys: Vec<String> = metas
            .iter()
            .map(|m| Item::mail_key(st.uidvalidity, m.uid))
            .collect();
        store.items_by_keys(ctx.id, &plan.src, &keys).await?
    } else {
        Vec::new()
    };

    // Messages a purge removed from the destination stay removed.
    let purged = store
        .purged_keys(ctx.id, ContentKind::Mail, &plan.src)
        .await?;
    let dst_st = match dst_st {
        Some(dst_st) => dst_st,
        None => {
            let missing_before: Vec<&MessageMeta> = {
                let have: HashSet<u32> = known
                    .iter()
                    .filter(|i| i.src_uidvalidity == Some(st.uidvalidity))
                    .filter_map(|i| i.src_uid)
                    .collect();
                metas
                    .iter()
                    .filter(|m| !have.contains(&m.uid))
                    .filter(|m| !purged.contains(&Item::mail_key(st.uidvalidity, m.uid)))
                    .collect()
            };
            // A dry run: what would be copied.
            report.to_copy = missing_before.len() as u64;
            report.to_copy_bytes = missing_before.iter().map(|m| m.size.unwrap_or(0)).sum();
            return Ok(Scanned::Done(report));
        }
    };

    // Parts copied side by side only where the destination gives each appended message's UID
    // (UIDPLUS): a reconciliation after an interruption then knows which destination UIDs
    // are ours whatever order the parts landed in, and the UID map stays whole. Elsewhere
    // the parts go one after the other on this pair, in UID order, as an unsplit folder.
    let parallel = ctx.opts.limits.split_parallel && ctx.workers > 1 && d.capabilities().uidplus();
    if split_full {
        let mut uids = s
            .uid_search("ALL")
            .await
            .map_err(src_err("list messages"))?;
        uids.sort_unstable();
        // Nothing left (all expunged meanwhile): the folder is done below.
        if !uids.is_empty() {
            let ranges = part_ranges(&uids, part_size(ctx, uids.len(), parallel));
            tracing::info!(folder = %plan.display, messages = uids.len(), parts = ranges.len(), "splitting a big folder");
            return Ok(Scanned::Split(
                Box::new(new_split(
                    work,
                    st,
                    dst_st.uidvalidity,
                    purged,
                    ranges.len(),
                    parallel,
                )),
                ranges,
            ));
        }
    }

    let by_uid: HashMap<u32, &Item> = known
        .iter()
        .filter(|i| i.src_uidvalidity == Some(st.uidvalidity))
        .filter_map(|i| i.src_uid.map(|u| (u, i)))
        .collect();
    report.flags_updated += sync_flags(ctx, d, &metas, &by_uid, dst_st.uidvalidity).await?;

    let missing: Vec<&MessageMeta> = metas
        .iter()
        .filter(|m| !by_uid.contains_key(&m.uid))
        .filter(|m| !purged.contains(&Item::mail_key(st.uidvalidity, m.uid)))
        .collect();
    if can_split && missing.len() >= ctx.split_from {
        let mut uids: Vec<u32> = missing.iter().map(|m| m.uid).collect();
        uids.sort_unstable();
        let ranges = part_ranges(&uids, part_size(ctx, uids.len(), parallel));
        tracing::info!(folder = %plan.display, messages = uids.len(), parts = ranges.len(), "splitting a big folder");
        report.parts = ranges.len() as u32;
        let mut split = Box::new(new_split(
            work,
            st,
            dst_st.uidvalidity,
            purged,
            ranges.len(),
            parallel,
        ));
        split
            .state
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .report = report;
        return Ok(Scanned::Split(split, ranges));
    }
    report.to_copy = missing.len() as u64;
    report.to_copy_bytes = missing.iter().map(|m| m.size.unwrap_or(0)).sum();
    ctx.events.send(Event::FolderScanned {
        folder: plan.display.clone(),
        to_copy: report.to_copy,
        bytes: report.to_copy_bytes,
    });
    if !missing.is_empty() {
        copy_missing(ctx, s, d, plan, &st, &missing, &mut report).await?;
    }

    let complete = report.failed == 0 && !ctx.cancel.is_cancelled();
    store
        .put_folder_state(
            ctx.id,
            &FolderState {
                src_name: plan.src.clone(),
                dst_name: plan.dst.clone(),
                src_uidvalidity: Some(st.uidvalidity),
                src_uidnext: st.uidnext,
                src_messages: Some(st.exists),
                src_highestmodseq: st.highestmodseq,
                dst_uidvalidity: Some(dst_st.uidvalidity),
                complete,
            },
        )
        .await?;
    Ok(Scanned::Done(report))
}

/// Where an incremental listing of the source folder can start: the UIDNEXT and HIGHESTMODSEQ
/// the previous pass saw, when that pass completed the folder and nothing since (UIDVALIDITY,
/// destination, `--full`) asks for a full listing.
/// The caller has checked that no item of the folder is pending or under another UIDVALIDITY.
pub(super) fn delta_start(ctx: &Ctx, work: &Work, st: &MailboxStatus) -> Option<(u32, u64)> {
    let prev = work.prev.as_ref()?;
    let usable = !ctx.opts.full
        && prev.complete
        && prev.dst_name == work.plan.dst
        && prev.src_uidvalidity == Some(st.uidvalidity)
        && st.highestmodseq.is_some();
    if !usable {
        return None;
    }
    Some((prev.src_uidnext?.max(1), prev.src_highestmodseq?))
}
