//! Verification of a file import: does the destination hold what the file yields, for every
//! item the map says was imported? Mail is compared byte for byte (the conversion of a PST item
//! is deterministic) with its flags and internal date; contacts and events must still be at the
//! href they were written to. Read-only on the destination (EXAMINE, BODY.PEEK, PROPFIND).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use passeur_dav::{Collection, CollectionKind, DavClient, normalize_href};
use passeur_imap::MessageMeta;
use passeur_pst::{FolderKind, ItemContent};
use passeur_store::{Item, Store};
use passeur_types::{ContentKind, MigrationId};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::import_pst::import_err;
use crate::mail::batches;
use crate::message::{normalise_flags, parse_internal_date};
use crate::{EngineError, MailAccount, Side};

/// The check of one source folder (or file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportCheck {
    /// Source folder path, or the file name.
    pub folder: String,
    /// Destination IMAP folder or DAV collection(s).
    pub dst: String,
    /// Items the map records as imported.
    pub imported: u64,
    /// Imported items found on the destination as they should be.
    pub found: u64,
    /// Items the file holds that were neither imported nor recorded as failed or left out.
    pub not_imported: u64,
    /// Recorded as imported but not on the destination (node ids or hrefs, first ones).
    pub missing: Vec<String>,
    /// On the destination with other bytes.
    pub altered: Vec<String>,
    pub flags_differ: Vec<String>,
    pub dates_differ: Vec<String>,
}

impl ImportCheck {
    pub fn ok(&self) -> bool {
        self.missing.is_empty()
            && self.altered.is_empty()
            && self.flags_differ.is_empty()
            && self.dates_differ.is_empty()
            && self.not_imported == 0
    }
}

/// The check of a whole import.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportVerifyReport {
    pub folders: Vec<ImportCheck>,
}

impl ImportVerifyReport {
    pub fn ok(&self) -> bool {
        self.folders.iter().all(ImportCheck::ok)
    }
}

/// What the file yields for one mail item.
struct Expected {
    hash: [u8; 32],
    flags: String,
    date: Option<i64>,
}

/// Per PST folder path: its mail by node id, and the ids of every item an import takes.
type FileContents = BTreeMap<String, (HashMap<u32, Expected>, HashSet<u32>)>;

/// Most item names listed per kind of difference (the counts are complete).
const LIST_AT_MOST: usize = 20;

fn note(list: &mut Vec<String>, what: String) {
    if list.len() < LIST_AT_MOST {
        list.push(what);
    }
}

/// Reads the PST again: per folder path, its mail by node id, and the ids of every item it holds
/// that an import takes (mail into mail folders; contacts, events, tasks, journal entries).
fn read_pst(path: &Path) -> Result<FileContents, EngineError> {
    let pst = passeur_pst::PstFile::open(path).map_err(import_err)?;
    let mut out = FileContents::new();
    for f in pst.folders().map_err(import_err)? {
        if !f.in_ipm_subtree || matches!(f.kind(), FolderKind::Other) {
            continue;
        }
        let entry = out.entry(f.path.join("/")).or_default();
        for item in pst.items(&f).flatten() {
            match item.content {
                ItemContent::Mail {
                    mime,
                    flags,
                    internal_date,
                } => {
                    entry.1.insert(item.node_id);
                    entry.0.insert(
                        item.node_id,
                        Expected {
                            hash: Sha256::digest(&mime).into(),
                            flags: normalise_flags(&flags).join(" "),
                            date: internal_date.as_deref().and_then(parse_internal_date),
                        },
                    );
                }
                ItemContent::Contact { .. }
                | ItemContent::DistList { .. }
                | ItemContent::Event { .. }
                | ItemContent::Task { .. }
                | ItemContent::Journal { .. } => {
                    entry.1.insert(item.node_id);
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// Compares the destination with the PST at `path` for import `id`. `mail` and `dav` are the
/// destinations the import used; items of a destination not given are not checked.
pub async fn verify_pst_import(
    store: &Store,
    id: MigrationId,
    path: &Path,
    mail: Option<&MailAccount>,
    dav: Option<&DavClient>,
) -> Result<ImportVerifyReport, EngineError> {
    let owned = path.to_owned();
    let expected = tokio::task::spawn_blocking(move || read_pst(&owned))
        .await
        .map_err(|e| EngineError::Internal(format!("the PST reader ended abnormally: {e}")))??;
    let items = store.items_from_pass(id, 1).await?;
    let failed: HashSet<(String, String)> = store
        .failures(id, None)
        .await?
        .into_iter()
        .map(|f| (f.folder, f.src_key))
        .collect();
    let mut by_folder: BTreeMap<&str, Vec<&Item>> = BTreeMap::new();
    for i in items.iter().filter(|i| !i.pending) {
        by_folder.entry(i.src_folder.as_str()).or_default().push(i);
    }
    let mut d = match mail {
        Some(acc) => Some(acc.connect(Side::Destination).await?),
        None => None,
    };
    let mut listed: HashMap<String, HashSet<String>> = HashMap::new();
    let mut report = ImportVerifyReport::default();
    for (folder, (mail_expected, all_ids)) in &expected {
        let recorded = by_folder.get(folder.as_str()).cloned().unwrap_or_default();
        let mut check = ImportCheck {
            folder: folder.clone(),
            imported: recorded.len() as u64,
            ..Default::default()
        };
        let recorded_ids: HashSet<u32> = recorded
            .iter()
            .filter_map(|i| i.src_key.parse().ok())
            .collect();
        check.not_imported = all_ids
            .iter()
            .filter(|n| !recorded_ids.contains(n))
            .filter(|n| !failed.contains(&(folder.clone(), n.to_string())))
            .filter(|n| {
                // Left out on purpose: no destination of that kind for this run.
                let is_mail = mail_expected.contains_key(n);
                (is_mail && mail.is_some()) || (!is_mail && dav.is_some())
            })
            .count() as u64;
        let (mail_items, dav_items): (Vec<&Item>, Vec<&Item>) =
            recorded.iter().partition(|i| i.kind == ContentKind::Mail);
        if let (Some(c), false) = (d.as_mut(), mail_items.is_empty()) {
            let dst = mail_items[0].dst_folder.clone();
            check.dst = dst.clone();
            check_mail(c, &dst, &mail_items, mail_expected, &mut check).await?;
        }
        if let (Some(c), false) = (dav, dav_items.is_empty()) {
            check_dav(c, &dav_items, &mut listed, &mut check).await;
        }
        if check.imported > 0 || check.not_imported > 0 {
            report.folders.push(check);
        }
    }
    if let Some(c) = d {
        let _ = c.logout().await;
    }
    Ok(report)
}

/// Compares the destination with an .ics / .vcf import `id`: every contact or event recorded
/// as imported must still be at the href it was written to.
pub async fn verify_dav_import(
    store: &Store,
    id: MigrationId,
    dav: &DavClient,
) -> Result<ImportVerifyReport, EngineError> {
    let items = store.items_from_pass(id, 1).await?;
    let mut by_file: BTreeMap<&str, Vec<&Item>> = BTreeMap::new();
    for i in items
        .iter()
        .filter(|i| !i.pending && i.kind != ContentKind::Mail)
    {
        by_file.entry(i.src_folder.as_str()).or_default().push(i);
    }
    let mut listed = HashMap::new();
    let mut report = ImportVerifyReport::default();
    for (file, items) in by_file {
        let mut check = ImportCheck {
            folder: file.to_owned(),
            imported: items.len() as u64,
            ..Default::default()
        };
        check_dav(dav, &items, &mut listed, &mut check).await;
        report.folders.push(check);
    }
    Ok(report)
}

/// Checks that each item is a member of the collection it was written to (each collection is
/// listed once, through `listed`).
async fn check_dav(
    c: &DavClient,
    items: &[&Item],
    listed: &mut HashMap<String, HashSet<String>>,
    check: &mut ImportCheck,
) {
    for i in items {
        let Some(href) = i.dst_key.as_deref() else {
            note(&mut check.missing, i.src_key.clone());
            continue;
        };
        let coll = collection_of(href);
        if !check.dst.split(' ').any(|d| d == coll) {
            if !check.dst.is_empty() {
                check.dst.push(' ');
            }
            check.dst.push_str(&coll);
        }
        if !listed.contains_key(&coll) {
            // A collection that cannot be listed (gone) has no members.
            let members = c
                .list_items(&Collection {
                    href: coll.clone(),
                    kind: CollectionKind::AddressBook,
                    displayname: None,
                    color: None,
                    description: None,
                    sync_token: None,
                    ctag: None,
                    vcard_versions: Vec::new(),
                })
                .await
                .map(|v| v.into_iter().map(|r| normalize_href(&r.href)).collect())
                .unwrap_or_default();
            listed.insert(coll.clone(), members);
        }
        if listed[&coll].contains(&normalize_href(href)) {
            check.found += 1;
        } else {
            note(&mut check.missing, href.to_owned());
        }
    }
}

/// The collection path of a member href (`/u/cal/x.ics` → `/u/cal/`).
fn collection_of(href: &str) -> String {
    let path = normalize_href(href);
    match path.trim_end_matches('/').rfind('/') {
        Some(i) => path[..=i].to_owned(),
        None => "/".to_owned(),
    }
}

async fn check_mail(
    c: &mut passeur_imap::Client,
    dst: &str,
    items: &[&Item],
    expected: &HashMap<u32, Expected>,
    check: &mut ImportCheck,
) -> Result<(), EngineError> {
    let st = match c.examine(dst).await {
        Ok(st) => st,
        Err(passeur_imap::Error::No { .. }) => {
            for i in items {
                note(&mut check.missing, i.src_key.clone());
            }
            return Ok(());
        }
        Err(e) => return Err(EngineError::imap(Side::Destination, "open a folder", e)),
    };
    let metas = if st.exists > 0 {
        c.uid_fetch_meta("1:*", None)
            .await
            .map_err(|e| EngineError::imap(Side::Destination, "list messages", e))?
    } else {
        Vec::new()
    };
    let by_uid: HashMap<u32, &MessageMeta> = metas.iter().map(|m| (m.uid, m)).collect();
    // The recorded copies, by destination UID (a copy recorded under another UIDVALIDITY is
    // not findable by UID any more: reported missing).
    let mut want: HashMap<u32, &Item> = HashMap::new();
    for i in items {
        match (i.dst_uid, i.dst_uidvalidity) {
            (Some(uid), Some(v)) if v == st.uidvalidity && by_uid.contains_key(&uid) => {
                want.insert(uid, i);
            }
            _ => note(&mut check.missing, i.src_key.clone()),
        }
    }
    let refs: Vec<&MessageMeta> = metas.iter().filter(|m| want.contains_key(&m.uid)).collect();
    for batch in batches(&refs, 200, 8 << 20) {
        let uids: Vec<u32> = batch.iter().map(|m| m.uid).collect();
        c.start_fetch_bodies(&uids)
            .await
            .map_err(|e| EngineError::imap(Side::Destination, "fetch messages", e))?;
        while let Some(b) = c
            .next_body()
            .await
            .map_err(|e| EngineError::imap(Side::Destination, "fetch messages", e))?
        {
            let (Some(item), Some(meta)) = (want.get(&b.uid), by_uid.get(&b.uid)) else {
                continue;
            };
            let Some(exp) = item
                .src_key
                .parse()
                .ok()
                .and_then(|n: u32| expected.get(&n))
            else {
                // The file no longer has this item: nothing to compare with.
                note(&mut check.altered, item.src_key.clone());
                continue;
            };
            let hash: [u8; 32] = Sha256::digest(&b.body).into();
            let mut good = true;
            if hash != exp.hash {
                note(&mut check.altered, item.src_key.clone());
                good = false;
            }
            if normalise_flags(&meta.flags).join(" ") != exp.flags {
                note(&mut check.flags_differ, item.src_key.clone());
                good = false;
            }
            let date = meta.internal_date.as_deref().and_then(parse_internal_date);
            if exp.date.is_some() && date != exp.date {
                note(&mut check.dates_differ, item.src_key.clone());
                good = false;
            }
            if good {
                check.found += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::collection_of;

    #[test]
    fn collection_of_a_member() {
        assert_eq!(collection_of("/u/cal/x.ics"), "/u/cal/");
        assert_eq!(collection_of("http://h:1/u/a%20b/x.vcf"), "/u/a b/");
    }
}
