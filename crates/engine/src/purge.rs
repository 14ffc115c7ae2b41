//! Purge: delete from the destination exactly the messages a migration copied (all of them, or
//! those of pass N and later), and nothing else. Uses the item map's destination UIDs, checked
//! against the folder's current UIDVALIDITY, and `UID EXPUNGE` so that no other message marked
//! `\Deleted` is touched.
//!
//! A purge reports [`Event::Purging`] and [`Event::Purged`], and stops between two chunks when
//! its token is cancelled. Each chunk is recorded as deleted as soon as it is expunged, so a
//! purge stopped (or cut) half-way leaves the item map true: a re-run deletes the rest only.

use std::collections::BTreeMap;

use passeur_store::{FolderState, Item, ItemKey, Store};
use passeur_types::{ContentKind, MigrationId};
use serde::Serialize;

use crate::error::PurgeError;
use crate::{Control, EngineError, Event, MailAccount, Side};

/// What a purge did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PurgeReport {
    /// Messages deleted from the destination (and from the item map).
    pub deleted: u64,
    /// Items that could not be located safely (no destination UID recorded, or the folder's
    /// UIDVALIDITY changed); they are left in place and stay in the item map.
    pub skipped: u64,
    /// What the user should know about the purge, one sentence each.
    pub notes: Vec<String>,
    /// Stopped before the end: what is not deleted stays in the item map.
    pub cancelled: bool,
}

/// Deletes the mail items of migration `id` copied in pass `from_pass` or later. With
/// `remember`, later passes leave the purged messages alone (a migration's "synchronise" copies
/// only what is new); without, they are forgotten (a file import run again puts them back).
pub async fn purge_mail(
    store: &Store,
    id: MigrationId,
    dst: &MailAccount,
    from_pass: u32,
    dry_run: bool,
    remember: bool,
    control: &Control,
) -> Result<PurgeReport, EngineError> {
    let items: Vec<Item> = store
        .items_from_pass(id, from_pass)
        .await?
        .into_iter()
        .filter(|i| i.kind == ContentKind::Mail)
        .collect();
    let mut report = PurgeReport::default();
    if items.is_empty() {
        return Ok(report);
    }
    control.events.send(Event::Purging {
        items: items.len() as u64,
    });
    let mut by_folder: BTreeMap<&str, Vec<&Item>> = BTreeMap::new();
    for i in &items {
        by_folder.entry(i.dst_folder.as_str()).or_default().push(i);
    }
    let mut d = dst.connect(Side::Destination).await?;
    if !d.capabilities().uidplus() {
        return Err(PurgeError::NoUidplus.into());
    }
    let mut touched_src_folders: Vec<String> = Vec::new();
    for (folder, items) in by_folder {
        if control.cancel.is_cancelled() {
            report.cancelled = true;
            break;
        }
        let st = match d.select(folder).await {
            Ok(st) => st,
            Err(passeur_imap::Error::No { text, .. }) => {
                report.skipped += items.len() as u64;
                report
                    .notes
                    .push(format!("{folder}: cannot open the folder ({text})"));
                continue;
            }
            Err(e) => return Err(EngineError::imap(Side::Destination, "open a folder", e)),
        };
        let (mut ok, stale): (Vec<&Item>, Vec<&Item>) = items.into_iter().partition(|i| {
            !i.pending && i.dst_uid.is_some() && i.dst_uidvalidity == Some(st.uidvalidity)
        });
        if !stale.is_empty() {
            report.skipped += stale.len() as u64;
            report.notes.push(format!(
                "{folder}: {} item(s) without a valid destination UID left in place",
                stale.len()
            ));
        }
        ok.sort_unstable_by_key(|i| i.dst_uid);
        for chunk in ok.chunks(1000) {
            if control.cancel.is_cancelled() {
                report.cancelled = true;
                break;
            }
            let uids: Vec<u32> = chunk.iter().filter_map(|i| i.dst_uid).collect();
            if !dry_run {
                let set = passeur_imap::uid_set(&uids);
                d.uid_store(&set, "+FLAGS.SILENT", &["\\Deleted".to_string()])
                    .await
                    .map_err(|e| {
                        EngineError::imap(Side::Destination, "mark messages deleted", e)
                    })?;
                d.uid_expunge(&set)
                    .await
                    .map_err(|e| EngineError::imap(Side::Destination, "expunge messages", e))?;
                forget(store, id, chunk, remember).await?;
            }
            report.deleted += uids.len() as u64;
            touched_src_folders.extend(chunk.iter().map(|i| i.src_folder.clone()));
            control.events.send(Event::Purged {
                folder: folder.to_owned(),
                items: uids.len() as u64,
            });
        }
        if report.cancelled {
            break;
        }
    }
    if !dry_run {
        // The next synchronisation must look at these folders again.
        touched_src_folders.sort();
        touched_src_folders.dedup();
        let states = store.folder_states(id).await?;
        for st in states
            .into_iter()
            .filter(|s| touched_src_folders.contains(&s.src_name))
        {
            store
                .put_folder_state(
                    id,
                    &FolderState {
                        complete: false,
                        ..st
                    },
                )
                .await?;
        }
    }
    let _ = d.logout().await;
    Ok(report)
}

/// Drops purged items from the map; with `remember`, keeps them as purged (see
/// [`Store::purge_items`]).
pub(crate) async fn forget(
    store: &Store,
    id: MigrationId,
    items: &[&Item],
    remember: bool,
) -> Result<(), EngineError> {
    if remember {
        store.purge_items(id, items).await?;
    } else {
        let keys: Vec<ItemKey<'_>> = items.iter().map(|i| i.key()).collect();
        store.delete_items(id, &keys).await?;
    }
    Ok(())
}
