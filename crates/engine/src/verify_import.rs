//! Verification of a file import: does the destination hold what the file yields, for every
//! item the map says was imported? Mail is compared byte for byte (the conversion of a PST item
//! is deterministic) with its flags and internal date; contacts and events must still be at the
//! href they were written to. Read-only on the destination (EXAMINE, BODY.PEEK, PROPFIND).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use passeur_dav::{Collection, CollectionKind, DavClient, normalize_href};
use passeur_formats::{ics, vcf};
use passeur_imap::MessageMeta;
use passeur_pst::{FolderKind, ItemContent, PstFolder};
use passeur_store::{Item, Store};
use passeur_types::{ContentKind, MigrationId};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::folders::layout;
use crate::import_dav::FileKind;
use crate::import_pst::{destination_path, pst_err};
use crate::mail::batches;
use crate::message::{normalise_flags, parse_internal_date};
use crate::{Control, EngineError, Event, MailAccount, Side};

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
    /// Items whose flags differ on the destination.
    pub flags_differ: Vec<String>,
    /// Items whose internal date differs on the destination.
    pub dates_differ: Vec<String>,
    /// The items counted in `not_imported` (first ones).
    pub left_out: Vec<String>,
}

impl ImportCheck {
    /// True when everything imported is there as it should be and nothing was left out.
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
    /// One check per folder of the file.
    pub folders: Vec<ImportCheck>,
    /// Stopped before every folder was checked.
    pub cancelled: bool,
}

impl ImportVerifyReport {
    /// True when every folder was checked and is OK.
    pub fn ok(&self) -> bool {
        !self.cancelled && self.folders.iter().all(ImportCheck::ok)
    }
}

/// What the file yields for one mail item.
struct Expected {
    hash: [u8; 32],
    flags: String,
    date: Option<i64>,
    /// The Subject header as written (for the report), shortened.
    subject: Option<String>,
}

/// What one PST folder yields for an import.
#[derive(Default)]
struct FolderContents {
    /// Mail an import takes (mail of a mail folder), by node id.
    mail: HashMap<u32, Expected>,
    /// Contacts, events, tasks and journal entries, by node id, with their UID.
    dav: HashMap<u32, String>,
    /// The folder, when it is a mail folder (an import creates it on the destination, empty
    /// or not).
    mail_folder: Option<PstFolder>,
}

/// By PST folder path.
type FileContents = BTreeMap<String, FolderContents>;

/// Most item names listed per kind of difference (the counts are complete).
const LIST_AT_MOST: usize = 20;

fn note(list: &mut Vec<String>, what: String) {
    if list.len() < LIST_AT_MOST {
        list.push(what);
    }
}

/// Reads the PST again: per folder path, what an import takes from it (mail of mail folders;
/// contacts, events, tasks, journal entries of any folder).
fn read_pst(path: &Path) -> Result<(FileContents, Vec<PstFolder>), EngineError> {
    let pst = passeur_pst::PstFile::open(path).map_err(|e| pst_err(path, e))?;
    let mut out = FileContents::new();
    let folders = pst.folders().map_err(|e| pst_err(path, e))?;
    for f in &folders {
        if !f.in_ipm_subtree || matches!(f.kind(), FolderKind::Other) {
            continue;
        }
        let mail_folder = f.kind() == FolderKind::Mail;
        let entry = out.entry(f.path.join("/")).or_default();
        if mail_folder && !f.path.is_empty() {
            entry.mail_folder = Some(f.clone());
        }
        for item in pst.items(f).flatten() {
            match item.content {
                ItemContent::Mail {
                    mime,
                    flags,
                    internal_date,
                } if mail_folder => {
                    entry.mail.insert(
                        item.node_id,
                        Expected {
                            hash: Sha256::digest(&mime).into(),
                            flags: normalise_flags(&flags).join(" "),
                            date: internal_date.as_deref().and_then(parse_internal_date),
                            subject: subject(&mime),
                        },
                    );
                }
                ItemContent::Contact { uid, .. }
                | ItemContent::DistList { uid, .. }
                | ItemContent::Event { uid, .. }
                | ItemContent::Task { uid, .. }
                | ItemContent::Journal { uid, .. } => {
                    entry.dav.insert(item.node_id, uid);
                }
                _ => {}
            }
        }
    }
    Ok((out, folders))
}

/// Compares the destination with the PST at `path` for import `id`. `mail` and `dav` are the
/// destinations the import used; items of a destination not given are not checked.
pub async fn verify_pst_import(
    store: &Store,
    id: MigrationId,
    path: &Path,
    mail: Option<&MailAccount>,
    dav: Option<&DavClient>,
    control: &Control,
) -> Result<ImportVerifyReport, EngineError> {
    let owned = path.to_owned();
    let (expected, all_folders) = tokio::task::spawn_blocking(move || read_pst(&owned))
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
    let dst_layout = match (d.as_mut(), mail) {
        (Some(c), Some(acc)) => Some(layout(c, Side::Destination, &acc.presets).await?),
        _ => None,
    };
    let mut seen = HashSet::new();
    let mut report = ImportVerifyReport::default();
    control.events.send(Event::Verifying {
        folders: expected.len(),
    });
    for (folder, contents) in &expected {
        if control.cancel.is_cancelled() {
            report.cancelled = true;
            break;
        }
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
        let recorded_uids: HashSet<&str> = recorded
            .iter()
            .filter(|i| i.kind != ContentKind::Mail)
            .map(|i| i.fingerprint.as_str())
            .collect();
        let unaccounted = |n: &u32| {
            !recorded_ids.contains(n) && !failed.contains(&(folder.clone(), n.to_string()))
        };
        // Mail and contacts/events are checked only when the import had a destination for them.
        let mut left: Vec<String> = Vec::new();
        if mail.is_some() {
            let mut ids: Vec<&u32> = contents.mail.keys().filter(|n| unaccounted(n)).collect();
            ids.sort();
            left.extend(ids.into_iter().map(|n| match &contents.mail[n].subject {
                Some(s) => format!("item {n} ({s:?})"),
                None => format!("item {n}"),
            }));
        }
        if dav.is_some() {
            // An item with the UID of another one of the folder that was imported counts as
            // imported (the import takes one per UID).
            let mut ids: Vec<(&u32, &String)> = contents
                .dav
                .iter()
                .filter(|(n, uid)| unaccounted(n) && !recorded_uids.contains(uid.as_str()))
                .collect();
            ids.sort();
            left.extend(
                ids.into_iter()
                    .map(|(n, uid)| format!("item {n} (UID {uid})")),
            );
        }
        check.not_imported = left.len() as u64;
        for l in left {
            note(&mut check.left_out, l);
        }
        let mail_expected = &contents.mail;
        let (mail_items, dav_items): (Vec<&Item>, Vec<&Item>) =
            recorded.iter().partition(|i| i.kind == ContentKind::Mail);
        if let (Some(c), false) = (d.as_mut(), mail_items.is_empty()) {
            let dst = mail_items[0].dst_folder.clone();
            check.dst = dst.clone();
            check_mail(c, &dst, &mail_items, mail_expected, &mut check).await?;
        } else if let (Some(l), Some(f)) = (&dst_layout, &contents.mail_folder) {
            // A mail folder with no mail imported (empty): it must exist all the same.
            let wire = l.wire(&destination_path(f, &all_folders, l));
            if !l.has(&wire) {
                note(&mut check.missing, format!("folder {wire}"));
            }
            check.dst = wire;
        }
        if let (Some(c), false) = (dav, dav_items.is_empty()) {
            check_dav(c, &dav_items, &mut seen, &mut check).await?;
        }
        control.events.send(Event::Verified {
            folder: check.folder.clone(),
            ok: check.ok(),
        });
        if check.imported > 0 || check.not_imported > 0 || !check.ok() {
            report.folders.push(check);
        }
    }
    if let Some(c) = d {
        let _ = c.logout().await;
    }
    Ok(report)
}

/// Compares the destination with an .ics / .vcf import `id` of the file at `path`: every
/// contact or event recorded as imported must still be at the href it was written to, with its
/// UID; every UID of the file must have been imported (or recorded as failed).
pub async fn verify_dav_import(
    store: &Store,
    id: MigrationId,
    path: &Path,
    dav: &DavClient,
    control: &Control,
) -> Result<ImportVerifyReport, EngineError> {
    let owned = path.to_owned();
    let uids: Vec<String> = tokio::task::spawn_blocking(move || {
        let file = std::io::BufReader::new(std::fs::File::open(&owned).map_err(|source| {
            EngineError::File {
                path: owned.display().to_string(),
                source,
            }
        })?);
        Ok::<_, EngineError>(match FileKind::detect(&owned) {
            Some(FileKind::Vcf) => vcf::split(file).flatten().map(|o| o.uid).collect(),
            _ => ics::split(file).flatten().map(|o| o.uid).collect(),
        })
    })
    .await
    .map_err(|e| EngineError::Internal(format!("the file reader ended abnormally: {e}")))??;
    let items = store.items_from_pass(id, 1).await?;
    let failed: HashSet<String> = store
        .failures(id, None)
        .await?
        .into_iter()
        .map(|f| f.src_key)
        .collect();
    let mut by_file: BTreeMap<&str, Vec<&Item>> = BTreeMap::new();
    for i in items
        .iter()
        .filter(|i| !i.pending && i.kind != ContentKind::Mail)
    {
        by_file.entry(i.src_folder.as_str()).or_default().push(i);
    }
    let recorded: HashSet<&str> = by_file
        .values()
        .flatten()
        .map(|i| i.src_key.as_str())
        .collect();
    let mut left: Vec<&String> = uids
        .iter()
        .filter(|u| !recorded.contains(u.as_str()) && !failed.contains(*u))
        .collect();
    left.sort();
    left.dedup();
    let mut seen = HashSet::new();
    let mut report = ImportVerifyReport::default();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if by_file.is_empty() {
        by_file.insert(name.as_str(), Vec::new());
    }
    control.events.send(Event::Verifying {
        folders: by_file.len(),
    });
    for (i, (file, items)) in by_file.into_iter().enumerate() {
        if control.cancel.is_cancelled() {
            report.cancelled = true;
            break;
        }
        let mut check = ImportCheck {
            folder: file.to_owned(),
            imported: items.len() as u64,
            ..Default::default()
        };
        check_dav(dav, &items, &mut seen, &mut check).await?;
        if i == 0 {
            check.not_imported = left.len() as u64;
            for u in &left {
                note(&mut check.left_out, format!("UID {u}"));
            }
        }
        control.events.send(Event::Verified {
            folder: check.folder.clone(),
            ok: check.ok(),
        });
        report.folders.push(check);
    }
    Ok(report)
}

/// Checks that each item is still at the href it was written to, with the UID it was written
/// with (the map's fingerprint of a contact or event). The bodies are read with one multiget per
/// collection and batch; `seen` keeps the hrefs already checked (a resource is counted once).
async fn check_dav(
    c: &DavClient,
    items: &[&Item],
    seen: &mut HashSet<String>,
    check: &mut ImportCheck,
) -> Result<(), EngineError> {
    // By collection: (kind of collection, items).
    let mut by_coll: BTreeMap<String, Vec<&Item>> = BTreeMap::new();
    for i in items {
        let Some(href) = i.dst_key.as_deref() else {
            note(
                &mut check.missing,
                format!("item {} (no href recorded)", i.src_key),
            );
            continue;
        };
        if !seen.insert(normalize_href(href)) {
            continue;
        }
        by_coll.entry(collection_of(href)).or_default().push(i);
    }
    for (coll, items) in by_coll {
        if !check.dst.split(' ').any(|d| d == coll) {
            if !check.dst.is_empty() {
                check.dst.push(' ');
            }
            check.dst.push_str(&coll);
        }
        let contacts = items.iter().all(|i| i.kind == ContentKind::Contacts);
        let collection = Collection {
            href: coll.clone(),
            kind: if contacts {
                CollectionKind::AddressBook
            } else {
                CollectionKind::Calendar {
                    components: Vec::new(),
                }
            },
            displayname: None,
            color: None,
            description: None,
            sync_token: None,
            ctag: None,
            vcard_versions: Vec::new(),
        };
        let hrefs: Vec<String> = items.iter().filter_map(|i| i.dst_key.clone()).collect();
        let bodies: HashMap<String, String> = match c.multiget(&collection, &hrefs).await {
            Ok(v) => v
                .into_iter()
                .map(|(r, text)| (normalize_href(&r.href), text))
                .collect(),
            // A collection that is gone holds nothing.
            Err(passeur_dav::DavError::Http {
                status: 404 | 410, ..
            }) => HashMap::new(),
            Err(e) => return Err(EngineError::dav(Side::Destination, "read items", e)),
        };
        for i in items {
            let Some(href) = i.dst_key.as_deref() else {
                continue;
            };
            let Some(text) = bodies.get(&normalize_href(href)) else {
                note(
                    &mut check.missing,
                    format!("{href} (UID {})", i.fingerprint),
                );
                continue;
            };
            let uid = if i.kind == ContentKind::Contacts {
                vcf::inspect(text).uid
            } else {
                ics::inspect(text).uid
            };
            if uid.as_deref() == Some(i.fingerprint.as_str()) {
                check.found += 1;
            } else {
                note(
                    &mut check.altered,
                    format!(
                        "{href} (UID {} instead of {})",
                        uid.as_deref().unwrap_or("none"),
                        i.fingerprint
                    ),
                );
            }
        }
    }
    Ok(())
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
                note(&mut check.missing, mail_label(i, expected));
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
            _ => note(&mut check.missing, mail_label(i, expected)),
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
                note(&mut check.altered, mail_label(item, expected));
                continue;
            };
            let hash: [u8; 32] = Sha256::digest(&b.body).into();
            let mut good = true;
            if hash != exp.hash {
                note(&mut check.altered, mail_label(item, expected));
                good = false;
            }
            let flags = normalise_flags(&meta.flags).join(" ");
            if flags != exp.flags {
                note(
                    &mut check.flags_differ,
                    format!(
                        "{}: ({flags}) instead of ({})",
                        mail_label(item, expected),
                        exp.flags
                    ),
                );
                good = false;
            }
            let date = meta.internal_date.as_deref().and_then(parse_internal_date);
            if exp.date.is_some() && date != exp.date {
                note(
                    &mut check.dates_differ,
                    format!(
                        "{}: {}",
                        mail_label(item, expected),
                        meta.internal_date.as_deref().unwrap_or("no date")
                    ),
                );
                good = false;
            }
            if good {
                check.found += 1;
            }
        }
    }
    Ok(())
}

/// How the report names a mail item: its node id in the file, the UID it was given and its
/// subject, e.g. `item 2097188 (UID 7, "Quarterly figures")`.
fn mail_label(i: &Item, expected: &HashMap<u32, Expected>) -> String {
    let mut parts = Vec::new();
    if let Some(uid) = i.dst_uid {
        parts.push(format!("UID {uid}"));
    }
    if let Some(subject) = i
        .src_key
        .parse()
        .ok()
        .and_then(|n: u32| expected.get(&n))
        .and_then(|e| e.subject.as_deref())
    {
        parts.push(format!("{subject:?}"));
    }
    if parts.is_empty() {
        format!("item {}", i.src_key)
    } else {
        format!("item {} ({})", i.src_key, parts.join(", "))
    }
}

/// The Subject header of a message, unfolded, at most 60 characters (as written: an encoded
/// word stays encoded).
fn subject(mime: &[u8]) -> Option<String> {
    let head = match mime.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => &mime[..end],
        None => mime,
    };
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.eq_ignore_ascii_case("subject") {
            continue;
        }
        let mut v = value.trim().to_owned();
        for next in lines.by_ref() {
            if next.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(next.trim());
            } else {
                break;
            }
        }
        let v: String = v.chars().take(60).collect();
        return (!v.is_empty()).then_some(v);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{collection_of, subject};

    #[test]
    fn subject_of_a_message() {
        assert_eq!(
            subject(b"From: a\r\nSubject: Hello\r\n  world\r\nTo: b\r\n\r\nSubject: body"),
            Some("Hello world".to_owned())
        );
        assert_eq!(subject(b"From: a\r\n\r\nSubject: body"), None);
    }

    #[test]
    fn collection_of_a_member() {
        assert_eq!(collection_of("/u/cal/x.ics"), "/u/cal/");
        assert_eq!(collection_of("http://h:1/u/a%20b/x.vcf"), "/u/a b/");
    }
}
