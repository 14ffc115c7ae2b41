//! Big folders copied in parts: UID ranges that each list their own messages and read their own
//! items from the store, so that memory stays flat however big the folder.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use passeur_imap::{Client, MailboxStatus, MessageMeta};
use passeur_store::{FolderState, Item};

use super::copy::{copy_missing, examine_unchanged};
use super::flags::sync_flags;
use super::{Ctx, FolderReport, Work, dst_err, src_err};
use crate::message::normalise_flags;
use crate::{EngineError, Event};

/// A folder whose copy is split into UID ranges that several connection pairs copy at once.
/// Each part lists its own range and reads its own items from the store, so no worker holds
/// the whole folder; the last part to end records the folder's state.
pub(super) struct Split {
    pub(super) work: Work,
    /// The source folder as the scan saw it: every part checks its UIDVALIDITY is unchanged.
    pub(super) st: MailboxStatus,
    pub(super) dst_uidvalidity: u32,
    pub(super) purged: HashSet<String>,
    /// Its parts go to every connection pair (a destination with UIDPLUS and more than one
    /// pair); otherwise the pair that scanned it copies them one after the other.
    pub(super) parallel: bool,
    pub(super) state: Mutex<SplitState>,
}

pub(super) struct SplitState {
    /// Parts not ended yet.
    pub(super) left: usize,
    pub(super) report: FolderReport,
    /// The first error of a part.
    pub(super) error: Option<EngineError>,
    pub(super) finished: bool,
}

impl Split {
    /// Adds what a part did; when it was the last part, returns the folder's report and the
    /// first error of its parts.
    pub(super) fn part_ended(
        &self,
        part: Result<FolderReport, EngineError>,
    ) -> Option<(FolderReport, Option<EngineError>)> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match part {
            Ok(r) => add_report(&mut st.report, &r),
            Err(e) => {
                if st.error.is_none() {
                    st.error = Some(e);
                }
            }
        }
        st.left = st.left.saturating_sub(1);
        if st.left > 0 || st.finished {
            return None;
        }
        st.finished = true;
        Some((std::mem::take(&mut st.report), st.error.take()))
    }
}

pub(super) fn add_report(into: &mut FolderReport, r: &FolderReport) {
    into.to_copy += r.to_copy;
    into.to_copy_bytes += r.to_copy_bytes;
    into.copied += r.copied;
    into.bytes += r.bytes;
    into.flags_updated += r.flags_updated;
    into.failed += r.failed;
}

/// Records the state of a split folder once its parts have ended.
pub(super) async fn put_split_state(
    ctx: &Ctx,
    split: &Split,
    complete: bool,
) -> Result<(), EngineError> {
    let plan = &split.work.plan;
    ctx.store
        .put_folder_state(
            ctx.id,
            &FolderState {
                src_name: plan.src.clone(),
                dst_name: plan.dst.clone(),
                src_uidvalidity: Some(split.st.uidvalidity),
                src_uidnext: split.st.uidnext,
                src_messages: Some(split.st.exists),
                src_highestmodseq: split.st.highestmodseq,
                dst_uidvalidity: Some(split.dst_uidvalidity),
                complete,
            },
        )
        .await?;
    Ok(())
}

pub(super) fn new_split(
    work: &Work,
    st: MailboxStatus,
    dst_uidvalidity: u32,
    purged: HashSet<String>,
    parts: usize,
    parallel: bool,
) -> Split {
    Split {
        work: work.clone(),
        st,
        dst_uidvalidity,
        purged,
        parallel,
        state: Mutex::new(SplitState {
            left: parts,
            report: FolderReport {
                parts: parts as u32,
                ..Default::default()
            },
            error: None,
            finished: false,
        }),
    }
}

/// Messages per part of a split folder: about four parts per connection pair, so that the
/// pairs finish together, between half the split threshold and 5,000.
pub(super) fn part_size(ctx: &Ctx, messages: usize, parallel: bool) -> usize {
    let pairs = if parallel { ctx.workers.max(1) } else { 1 };
    let even = messages.div_ceil(4 * pairs);
    even.max(ctx.split_from / 2).clamp(1, 5000)
}

/// Consecutive UID ranges of `size` messages each over sorted `uids`.
pub(super) fn part_ranges(uids: &[u32], size: usize) -> Vec<(u32, u32)> {
    uids.chunks(size.max(1))
        .map(|c| (c[0], c[c.len() - 1]))
        .collect()
}

/// Copies one part of a split folder: the messages with a source UID in `lo..=hi` that the
/// map does not hold, after bringing flag changes of the copied ones over.
pub(super) async fn process_part(
    ctx: &Ctx,
    s: &mut Client,
    d: &mut Client,
    split: &Split,
    lo: u32,
    hi: u32,
) -> Result<FolderReport, EngineError> {
    let plan = &split.work.plan;
    let st = &split.st;
    let mut report = FolderReport::default();
    if ctx.cancel.is_cancelled() {
        return Ok(report);
    }
    examine_unchanged(s, plan, st).await?;
    let mut metas = s
        .uid_fetch_meta(&format!("{lo}:{hi}"), None)
        .await
        .map_err(src_err("list messages"))?;
    metas.retain(|m| m.uid >= lo && m.uid <= hi);
    let known = ctx
        .store
        .items_in_uid_range(ctx.id, &plan.src, st.uidvalidity, lo, hi)
        .await?;
    let by_uid: HashMap<u32, &Item> = known
        .iter()
        .filter_map(|i| i.src_uid.map(|u| (u, i)))
        .collect();
    let changed = metas.iter().any(|m| {
        by_uid
            .get(&m.uid)
            .is_some_and(|i| normalise_flags(&m.flags).join(" ") != i.flags)
    });
    if changed {
        let dst_st = d
            .select(&plan.dst)
            .await
            .map_err(dst_err("open a folder"))?;
        if dst_st.uidvalidity == split.dst_uidvalidity {
            report.flags_updated += sync_flags(ctx, d, &metas, &by_uid, dst_st.uidvalidity).await?;
        }
    }
    let missing: Vec<&MessageMeta> = metas
        .iter()
        .filter(|m| !by_uid.contains_key(&m.uid))
        .filter(|m| {
            !split
                .purged
                .contains(&Item::mail_key(st.uidvalidity, m.uid))
        })
        .collect();
    report.to_copy = missing.len() as u64;
    report.to_copy_bytes = missing.iter().map(|m| m.size.unwrap_or(0)).sum();
    ctx.events.send(Event::FolderScanned {
        folder: plan.display.clone(),
        to_copy: report.to_copy,
        bytes: report.to_copy_bytes,
    });
    if !missing.is_empty() {
        copy_missing(ctx, s, d, plan, st, &missing, &mut report).await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_consecutive_uid_ranges() {
        let uids = [2, 3, 5, 8, 13, 21, 34];
        assert_eq!(part_ranges(&uids, 3), vec![(2, 5), (8, 21), (34, 34)]);
        assert_eq!(part_ranges(&uids, 10), vec![(2, 34)]);
        assert!(part_ranges(&[], 3).is_empty());
    }
}
