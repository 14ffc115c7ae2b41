//! Reconciliation: finding on the destination what an interrupted run left pending, and the
//! copied messages again after a UIDVALIDITY change, by fingerprint.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use passeur_imap::{Client, MailboxStatus, MessageMeta, uid_set};
use passeur_store::{Completion, Item, Rekey, Store};
use passeur_types::{ContentKind, MigrationId};

use super::{Ctx, dst_err};
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

/// Waits until the destination folder stops growing. A server may still be committing an
/// APPEND that a killed process sent just before it died; reconciling before that lands would
/// copy those messages a second time.
pub(crate) async fn settle(d: &mut Client, folder: &str) -> Result<(), EngineError> {
    let mut last = None;
    for _ in 0..20 {
        let st = d
            .status(folder)
            .await
            .map_err(dst_err("read folder status"))?;
        let now = (st.uidnext, st.exists);
        if last == Some(now) {
            break;
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
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

/// Where the reconciliation of pending items may start on the destination: the highest UID
/// below which every UID belongs to a confirmed item of the folder. The destination UIDs of
/// pending items are unknown, and with a split folder parts append side by side, so an item
/// confirmed by one part can sit above one still pending in another: starting after the
/// highest confirmed UID (enough for one connection) could miss a pending item that landed
/// and copy it twice.
pub(crate) fn reconcile_from(known: &[Item], dst_uidvalidity: u32) -> u32 {
    let mut taken: Vec<u32> = known
        .iter()
        .filter(|i| !i.pending && i.dst_uidvalidity == Some(dst_uidvalidity))
        .filter_map(|i| i.dst_uid)
        .collect();
    taken.sort_unstable();
    taken.dedup();
    let mut after = 0;
    for uid in taken {
        if uid != after + 1 {
            break;
        }
        after = uid;
    }
    after
}

pub(super) async fn rekey_source(
    ctx: &Ctx,
    s: &mut Client,
    folder: &str,
    st: &MailboxStatus,
    metas: &[MessageMeta],
    known: &[Item],
) -> Result<(), EngineError> {
    let current: HashSet<u32> = known
        .iter()
        .filter(|i| i.src_uidvalidity == Some(st.uidvalidity))
        .filter_map(|i| i.src_uid)
        .collect();
    let candidates: Vec<MessageMeta> = metas
        .iter()
        .filter(|m| !current.contains(&m.uid))
        .cloned()
        .collect();
    let fps = fingerprints(s, &candidates, Side::Source).await?;
    let mut by_fp: HashMap<&str, Vec<u32>> = HashMap::new();
    for m in &candidates {
        if let Some(fp) = fps.get(&m.uid) {
            by_fp.entry(fp.as_str()).or_default().push(m.uid);
        }
    }
    let mut rekeys = Vec::new();
    for item in known
        .iter()
        .filter(|i| i.src_uidvalidity != Some(st.uidvalidity))
    {
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
    tracing::info!(
        folder,
        recognised = rekeys.len(),
        "source UIDVALIDITY changed; copied messages recognised by fingerprint"
    );
    ctx.store.rekey_items(ctx.id, &rekeys).await?;
    Ok(())
}

/// Matches items of the map against the destination's messages above UID `after`: pending items
/// found there are confirmed, pending ones not found are dropped (they will be copied again);
/// when `after` is 0 every item is matched again (after a destination UIDVALIDITY change).
pub(crate) async fn rematch_destination(
    store: &Store,
    id: MigrationId,
    d: &mut Client,
    dst_st: &MailboxStatus,
    known: &[Item],
    after: u32,
) -> Result<(), EngineError> {
    let metas = if dst_st.exists > 0 {
        metas_after(d, after, Side::Destination).await?
    } else {
        Vec::new()
    };
    let fps = fingerprints(d, &metas, Side::Destination).await?;
    let mut by_fp: HashMap<&str, Vec<u32>> = HashMap::new();
    for m in &metas {
        if let Some(fp) = fps.get(&m.uid) {
            by_fp.entry(fp.as_str()).or_default().push(m.uid);
        }
    }
    // Already-confirmed destination UIDs are not available to a pending item.
    let taken: HashSet<u32> = known
        .iter()
        .filter(|i| !i.pending && i.dst_uidvalidity == Some(dst_st.uidvalidity))
        .filter_map(|i| i.dst_uid)
        .collect();
    let full = after == 0;
    let mut found = Vec::new();
    let mut lost = Vec::new();
    for item in known.iter().filter(|i| i.pending || full) {
        if !item.pending && item.dst_uidvalidity == Some(dst_st.uidvalidity) {
            continue;
        }
        let uid = by_fp.get_mut(item.fingerprint.as_str()).and_then(|v| {
            let pos = v.iter().position(|u| !taken.contains(u))?;
            Some(v.remove(pos))
        });
        match uid {
            Some(uid) => found.push((item, uid)),
            None => lost.push(item.key()),
        }
    }
    let completions: Vec<Completion> = found
        .iter()
        .map(|(i, uid)| Completion {
            kind: ContentKind::Mail,
            src_folder: &i.src_folder,
            src_key: &i.src_key,
            dst_uidvalidity: Some(dst_st.uidvalidity),
            dst_uid: Some(*uid),
            dst_key: None,
        })
        .collect();
    tracing::info!(
        recovered = completions.len(),
        not_found = lost.len(),
        "reconciled items with the destination"
    );
    store.complete(id, &completions).await?;
    store.delete_items(id, &lost).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confirmed(dst_uid: u32, pending: bool) -> Item {
        Item {
            kind: ContentKind::Mail,
            src_folder: "INBOX".into(),
            src_key: format!("1/{dst_uid}"),
            src_uidvalidity: Some(1),
            src_uid: Some(dst_uid),
            fingerprint: String::new(),
            dst_folder: "INBOX".into(),
            dst_uidvalidity: (!pending).then_some(5),
            dst_uid: (!pending).then_some(dst_uid),
            dst_key: None,
            pass: 1,
            size: 1,
            flags: String::new(),
            etag: None,
            pending,
        }
    }

    #[test]
    fn reconciliation_starts_below_the_first_uid_not_confirmed() {
        // Parts confirmed 1-3 and 6-7; what one part left pending may sit at 4-5.
        let known: Vec<Item> = [1, 2, 3, 6, 7]
            .into_iter()
            .map(|u| confirmed(u, false))
            .chain([confirmed(100, true)])
            .collect();
        assert_eq!(reconcile_from(&known, 5), 3);
        // Under another destination UIDVALIDITY nothing counts as ours.
        assert_eq!(reconcile_from(&known, 6), 0);
        // Not starting at 1 (messages of the user's own): from the start.
        let known: Vec<Item> = [3, 4].into_iter().map(|u| confirmed(u, false)).collect();
        assert_eq!(reconcile_from(&known, 5), 0);
        assert_eq!(reconcile_from(&[], 5), 0);
    }
}
