//! Reconciliation: finding on the destination what an interrupted run left pending, and the
//! copied messages again after a UIDVALIDITY change, by fingerprint.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use passeur_imap::{Client, MailboxStatus, MessageMeta, uid_set};
use passeur_store::{Completion, MailScope, Rekey, Store};
use passeur_types::MigrationId;

use super::dst_err;
use crate::message::{fingerprint, message_id};
use crate::{EngineError, Side};

/// Message-IDs of messages on the selected mailbox, by UID (absent: the message has none).
pub(super) async fn message_ids(
    c: &mut Client,
    metas: &[&MessageMeta],
    side: Side,
) -> Result<HashMap<u32, Vec<u8>>, EngineError> {
    let mut out = HashMap::with_capacity(metas.len());
    for chunk in metas.chunks(500) {
        let uids: Vec<u32> = chunk.iter().map(|m| m.uid).collect();
        let headers = c
            .uid_fetch_header_fields(&uid_set(&uids), &["MESSAGE-ID"])
            .await
            .map_err(|e| EngineError::imap(side, "read message headers", e))?;
        out.extend(
            headers
                .into_iter()
                .filter_map(|(uid, h)| message_id(&h).map(|mid| (uid, mid))),
        );
    }
    Ok(out)
}

/// Fingerprints of messages on the selected mailbox, by UID, from their Message-ID, date and size.
pub(super) async fn fingerprints(
    c: &mut Client,
    metas: &[MessageMeta],
    side: Side,
) -> Result<HashMap<u32, String>, EngineError> {
    let refs: Vec<&MessageMeta> = metas.iter().collect();
    let mids = message_ids(c, &refs, side).await?;
    Ok(metas
        .iter()
        .map(|m| {
            let fp = fingerprint(
                mids.get(&m.uid).map(Vec::as_slice),
                m.internal_date.as_deref(),
                m.size.unwrap_or(0),
            );
            (m.uid, fp)
        })
        .collect())
}

/// How long the destination folder must stay unchanged before a reconciliation trusts what
/// it sees, and the longest passeur waits for that.
const SETTLED_FOR: Duration = Duration::from_secs(3);
const SETTLE_AT_MOST: Duration = Duration::from_secs(60);

/// Waits until the destination folder has stopped changing for [`SETTLED_FOR`]. A server may
/// still be committing an APPEND (a MULTIAPPEND of a whole batch) that a killed process sent
/// just before it died, and on a loaded server that can take seconds; reconciling before it
/// lands would drop those items as lost and copy them a second time. Paid only after an
/// interrupted run, once per folder with pending items.
pub(crate) async fn settle(d: &mut Client, folder: &str) -> Result<(), EngineError> {
    let start = std::time::Instant::now();
    let mut last = None;
    let mut since = start;
    loop {
        let st = d
            .status(folder)
            .await
            .map_err(dst_err("read folder status"))?;
        let now = (st.uidnext, st.exists);
        if last != Some(now) {
            last = Some(now);
            since = std::time::Instant::now();
        } else if since.elapsed() >= SETTLED_FOR {
            return Ok(());
        }
        if start.elapsed() >= SETTLE_AT_MOST {
            tracing::warn!(
                folder,
                "the destination folder is still changing: reconciling as it is"
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Messages of the selected mailbox with a UID above `after`.
pub(super) async fn metas_after(
    c: &mut Client,
    after: u32,
    side: Side,
) -> Result<Vec<MessageMeta>, EngineError> {
    let mut metas = c
        .uid_fetch_meta(&format!("{}:*", after.saturating_add(1)), None)
        .await
        .map_err(|e| EngineError::imap(side, "list messages", e))?;
    // "n:*" always includes the highest UID, even when it is below n.
    metas.retain(|m| m.uid > after);
    Ok(metas)
}

/// Messages of the selected mailbox with a UID in `lo..=hi`.
async fn metas_in(
    c: &mut Client,
    (lo, hi): (u32, u32),
    side: Side,
) -> Result<Vec<MessageMeta>, EngineError> {
    let mut metas = c
        .uid_fetch_meta(&format!("{lo}:{hi}"), None)
        .await
        .map_err(|e| EngineError::imap(side, "list messages", e))?;
    metas.retain(|m| (lo..=hi).contains(&m.uid));
    metas.sort_unstable_by_key(|m| m.uid);
    Ok(metas)
}

/// The highest UID a message of the selected mailbox can have (0 when it is empty).
async fn top_uid(c: &mut Client, st: &MailboxStatus, side: Side) -> Result<u32, EngineError> {
    if st.exists == 0 {
        return Ok(0);
    }
    if let Some(next) = st.uidnext {
        return Ok(next.saturating_sub(1));
    }
    // No UIDNEXT: the last message's UID.
    let last = c
        .uid_fetch_meta("*", None)
        .await
        .map_err(|e| EngineError::imap(side, "list messages", e))?;
    Ok(last.iter().map(|m| m.uid).max().unwrap_or(0))
}

/// The UID ranges a reconciliation walks, from `after + 1` up to `top`: `chunk` UIDs wide,
/// up to four times wider while they hold few messages (sparse UIDs), so that a range never
/// lists more than `4 × chunk` messages.
#[derive(Debug)]
pub(crate) struct UidRanges {
    next: u64,
    top: u64,
    chunk: u64,
    width: u64,
}

impl UidRanges {
    pub(crate) fn new(after: u32, top: u32, chunk: usize) -> Self {
        let chunk = (chunk as u64).max(1);
        UidRanges {
            next: u64::from(after) + 1,
            top: u64::from(top),
            chunk,
            width: chunk,
        }
    }

    /// Records how many messages the last range held: the next one is wider if few.
    pub(crate) fn saw(&mut self, messages: usize) {
        self.width = if (messages as u64) * 2 < self.chunk {
            (self.width * 2).min(self.chunk * 4)
        } else {
            self.chunk
        };
    }
}

impl Iterator for UidRanges {
    type Item = (u32, u32);

    fn next(&mut self) -> Option<(u32, u32)> {
        if self.next > self.top {
            return None;
        }
        let hi = (self.next + self.width - 1).min(self.top);
        let range = (self.next as u32, hi as u32);
        self.next = hi + 1;
        Some(range)
    }
}

/// Extends a run of consecutive UIDs `1..=after` with the next ones, ascending: the new end,
/// and whether a gap stopped it.
fn extend_run(mut after: u32, uids: &[u32]) -> (u32, bool) {
    for &uid in uids {
        if uid != after + 1 {
            return (after, true);
        }
        after = uid;
    }
    (after, false)
}

/// Where the reconciliation of pending items may start on the destination: the highest UID
/// below which every UID belongs to a confirmed item of the scope. The destination UIDs of
/// pending items are unknown, and with a split folder parts append side by side, so an item
/// confirmed by one part can sit above one still pending in another: starting after the
/// highest confirmed UID (enough for one connection) could miss a pending item that landed
/// and copy it twice. The confirmed UIDs are read `chunk` at a time.
pub(crate) async fn reconcile_from(
    store: &Store,
    id: MigrationId,
    scope: MailScope<'_>,
    dst_uidvalidity: u32,
    chunk: usize,
) -> Result<u32, EngineError> {
    let chunk = chunk.max(1);
    let mut after = 0;
    loop {
        let uids = store
            .confirmed_dst_uids(id, scope, dst_uidvalidity, (after + 1, u32::MAX), chunk)
            .await?;
        let (end, gap) = extend_run(after, &uids);
        if gap || uids.len() < chunk || end == u32::MAX {
            return Ok(end);
        }
        after = end;
    }
}

/// After the source folder's UIDVALIDITY changed: recognises the copied messages by
/// fingerprint and gives their items the new UIDs, one range of `chunk` source UIDs at a time.
pub(super) async fn rekey_source(
    store: &Store,
    id: MigrationId,
    s: &mut Client,
    folder: &str,
    st: &MailboxStatus,
    chunk: usize,
) -> Result<(), EngineError> {
    let top = top_uid(s, st, Side::Source).await?;
    let mut ranges = UidRanges::new(0, top, chunk);
    let mut recognised = 0;
    while let Some(range) = ranges.next() {
        let metas = metas_in(s, range, Side::Source).await?;
        ranges.saw(metas.len());
        if metas.is_empty() {
            continue;
        }
        // Messages of the range already keyed under the new UIDVALIDITY are not candidates.
        let current: HashSet<u32> = store
            .items_in_uid_range(id, folder, st.uidvalidity, range.0, range.1)
            .await?
            .into_iter()
            .filter_map(|i| i.src_uid)
            .collect();
        let candidates: Vec<MessageMeta> = metas
            .into_iter()
            .filter(|m| !current.contains(&m.uid))
            .collect();
        if candidates.is_empty() {
            continue;
        }
        let fps = fingerprints(s, &candidates, Side::Source).await?;
        let mut by_fp: HashMap<&str, Vec<u32>> = HashMap::new();
        for m in &candidates {
            if let Some(fp) = fps.get(&m.uid) {
                by_fp.entry(fp.as_str()).or_default().push(m.uid);
            }
        }
        let keys: Vec<&str> = by_fp.keys().copied().collect();
        let items = store
            .other_uidvalidity_by_fingerprint(id, folder, st.uidvalidity, &keys)
            .await?;
        let mut rekeys = Vec::new();
        for item in &items {
            if let Some(uid) = by_fp
                .get_mut(item.fingerprint.as_str())
                .and_then(|v| v.pop())
            {
                rekeys.push(Rekey {
                    key: item.key(),
                    new_uidvalidity: st.uidvalidity,
                    new_uid: uid,
                });
            }
        }
        recognised += rekeys.len();
        store.rekey_items(id, &rekeys).await?;
    }
    tracing::info!(
        folder,
        recognised,
        "source UIDVALIDITY changed; copied messages recognised by fingerprint"
    );
    Ok(())
}

/// Matches items of the scope against the destination's messages above UID `after`, one range
/// of `chunk` UIDs at a time: pending items found there are confirmed, pending ones not found
/// are dropped (they will be copied again); when `after` is 0 every item not confirmed under
/// the destination's UIDVALIDITY is matched again (after a destination UIDVALIDITY change).
pub(crate) async fn rematch_destination(
    store: &Store,
    id: MigrationId,
    d: &mut Client,
    dst_st: &MailboxStatus,
    scope: MailScope<'_>,
    after: u32,
    chunk: usize,
) -> Result<(), EngineError> {
    let all = after == 0;
    let v = dst_st.uidvalidity;
    let top = top_uid(d, dst_st, Side::Destination).await?;
    let mut ranges = UidRanges::new(after, top, chunk);
    let mut recovered = 0;
    while let Some(range) = ranges.next() {
        let metas = metas_in(d, range, Side::Destination).await?;
        ranges.saw(metas.len());
        if metas.is_empty() {
            continue;
        }
        // Destination UIDs already confirmed for an item are not available to another.
        let taken: HashSet<u32> = store
            .confirmed_dst_uids(id, scope, v, range, (range.1 - range.0) as usize + 1)
            .await?
            .into_iter()
            .collect();
        let free: Vec<MessageMeta> = metas
            .into_iter()
            .filter(|m| !taken.contains(&m.uid))
            .collect();
        if free.is_empty() {
            continue;
        }
        let fps = fingerprints(d, &free, Side::Destination).await?;
        // By fingerprint, the free UIDs in ascending order.
        let mut by_fp: HashMap<&str, VecDeque<u32>> = HashMap::new();
        for m in &free {
            if let Some(fp) = fps.get(&m.uid) {
                by_fp.entry(fp.as_str()).or_default().push_back(m.uid);
            }
        }
        let keys: Vec<&str> = by_fp.keys().copied().collect();
        let items = store
            .unmatched_by_fingerprint(id, scope, v, all, &keys)
            .await?;
        let completions: Vec<Completion> = items
            .iter()
            .filter_map(|i| {
                let uid = by_fp.get_mut(i.fingerprint.as_str())?.pop_front()?;
                Some(Completion {
                    kind: i.kind,
                    src_folder: &i.src_folder,
                    src_key: &i.src_key,
                    dst_uidvalidity: Some(v),
                    dst_uid: Some(uid),
                    dst_key: None,
                })
            })
            .collect();
        recovered += completions.len();
        store.complete(id, &completions).await?;
    }
    let lost = store.delete_unmatched(id, scope, v, all).await?;
    tracing::info!(
        recovered,
        not_found = lost,
        "reconciled items with the destination"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciliation_starts_below_the_first_uid_not_confirmed() {
        // Parts confirmed 1-3 and 6-7; what one part left pending may sit at 4-5.
        assert_eq!(extend_run(0, &[1, 2, 3, 6, 7]), (3, true));
        // Read in pieces: the run goes on from one piece to the next.
        assert_eq!(extend_run(0, &[1, 2]), (2, false));
        assert_eq!(extend_run(2, &[3, 6]), (3, true));
        // Not starting at 1 (messages of the user's own): from the start.
        assert_eq!(extend_run(0, &[3, 4]), (0, true));
        assert_eq!(extend_run(0, &[]), (0, false));
    }

    #[test]
    fn uid_ranges_cover_every_uid_once_and_widen_only_while_sparse() {
        let ranges: Vec<_> = UidRanges::new(3, 20, 7).collect();
        assert_eq!(ranges, [(4, 10), (11, 17), (18, 20)]);
        assert_eq!(UidRanges::new(20, 20, 7).next(), None);
        assert_eq!(UidRanges::new(0, 0, 7).next(), None);
        let mut r = UidRanges::new(0, 1000, 10);
        assert_eq!(r.next(), Some((1, 10)));
        r.saw(1);
        assert_eq!(r.next(), Some((11, 30)));
        r.saw(0);
        assert_eq!(r.next(), Some((31, 70)));
        r.saw(0);
        // At most four chunks wide.
        assert_eq!(r.next(), Some((71, 110)));
        r.saw(40);
        assert_eq!(r.next(), Some((111, 120)));
        // Up to the highest UID, without overflow.
        let last: Vec<_> = UidRanges::new(u32::MAX - 3, u32::MAX, 2).collect();
        assert_eq!(last, [(u32::MAX - 2, u32::MAX - 1), (u32::MAX, u32::MAX)]);
    }
}
