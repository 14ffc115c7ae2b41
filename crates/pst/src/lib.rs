//! passeur's PST/OST reader and the conversion of Outlook items.
//!
//! - [`PstFile`]: opens a PST (Unicode or ANSI, any encryption) and lists its
//!   [`PstFolder`]s; [`PstFile::items`] converts a folder's items lazily into
//!   [`PstItem`]s: mail as RFC 5322/MIME, contacts as vCard 3.0, appointments and
//!   tasks as iCalendar.
//! - Reading is on demand (positional reads of pages and blocks), so memory stays
//!   bounded by the largest single item, not the file.
//! - Layers: `ndb` (nodes and blocks, [MS-PST] 2.2), `ltp` (heaps, property and
//!   table contexts, 2.3), then `mail`, `contact` and `ical` for the conversions.
//!
//! [`PstFile`] is `Send + Sync` (reads are positional; the page cache is behind a
//! mutex): open it on a blocking thread and send items over a channel.
//!
//! ```no_run
//! use passeur_pst::{ItemContent, PstFile};
//!
//! let pst = PstFile::open("archive.pst".as_ref())?;
//! for folder in pst.folders()? {
//!     for item in pst.items(&folder) {
//!         match item {
//!             // Resume key: (folder.node_id, item.node_id).
//!             Ok(item) => match item.content {
//!                 ItemContent::Mail { mime, flags, internal_date } => { /* IMAP APPEND */ }
//!                 ItemContent::Contact { vcard, uid } => { /* CardDAV PUT */ }
//!                 ItemContent::Event { ics, uid } | ItemContent::Task { ics, uid } => { /* CalDAV PUT */ }
//!                 other => { /* report */ }
//!             },
//!             Err(e) => eprintln!("{e}"), // one damaged item; the others go on
//!         }
//!     }
//! }
//! # Ok::<(), passeur_pst::PstError>(())
//! ```

#![warn(missing_docs)]

mod contact;
mod crypt;
mod error;
mod ical;
mod ltp;
mod mail;
mod message;
mod mime;
mod ndb;
mod props;
mod recur;
mod rtf;
mod time;

use std::collections::HashMap;
use std::path::Path;

pub use error::{ItemError, PstError};
pub use ndb::Encryption;

use ltp::PropContext;
use ndb::Ndb;
use props::NameMap;

const NID_ROOT_FOLDER: u32 = 0x122;
const NID_MESSAGE_STORE: u32 = 0x21;
const NID_TYPE_NORMAL_FOLDER: u32 = 0x02;
const NID_TYPE_NORMAL_MESSAGE: u32 = 0x04;
const NID_TYPE_CONTENTS_TABLE: u32 = 0x0E;

/// Facts about the file, from its header and message store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PstInfo {
    /// Unicode (Outlook 2003+) or ANSI (Outlook 97-2002).
    pub unicode: bool,
    /// How the data blocks are encoded.
    pub encryption: Encryption,
    /// The PST carries a password; it is only a flag, the data is readable without it.
    pub password_protected: bool,
    /// The file's size in bytes.
    pub file_size: u64,
    /// An OST (offline copy of an Exchange mailbox) rather than a PST.
    pub ost: bool,
    /// Normal messages found in the node index (all kinds: mail, contacts, events...).
    pub item_count: u64,
    /// Damaged node index pages skipped while listing items (the items they
    /// listed are missing unless a folder's contents table names them).
    pub damaged_index_pages: usize,
}

/// The special-use role of a folder, for IMAP SPECIAL-USE mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecialRole {
    /// The Inbox.
    Inbox,
    /// Sent Items.
    Sent,
    /// Drafts.
    Drafts,
    /// Deleted Items.
    Trash,
    /// Junk E-mail.
    Junk,
    /// The Outbox (mail not sent yet).
    Outbox,
}

/// What a folder holds, from its container class (IPF.*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FolderKind {
    /// Mail (IPF.Note, IPF.Imap, IPF.Post, or no class).
    Mail,
    /// Contacts and distribution lists (IPF.Contact).
    Contacts,
    /// Appointments and meetings (IPF.Appointment).
    Calendar,
    /// Tasks (IPF.Task).
    Tasks,
    /// Sticky notes (IPF.StickyNote).
    Notes,
    /// Journal entries (IPF.Journal).
    Journal,
    /// Outlook internals (IPF.Configuration, search roots...).
    Other,
}

/// One folder of the file, as its folder tree lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PstFolder {
    /// The folder's node id in the file (stable: key resume on it).
    pub node_id: u32,
    /// Names from the IPM subtree root, e.g. `["Inbox", "Sub"]`. Folders outside the
    /// IPM subtree (rare; search roots, Outlook internals) start from the root folder.
    pub path: Vec<String>,
    /// The container class (`IPF.Note`, `IPF.Contact`, ...), when the folder has one.
    pub container_class: Option<String>,
    /// The special role the message store gives the folder, if any.
    pub role: Option<SpecialRole>,
    /// Items the folder holds (normal messages in the node index).
    pub item_count: u32,
    /// Whether the folder lies under the user-visible IPM subtree.
    pub in_ipm_subtree: bool,
    /// The node id of the parent folder.
    pub parent_node_id: u32,
}

impl PstFolder {
    /// The folder's kind by container class; a folder without one holds mail.
    pub fn kind(&self) -> FolderKind {
        let Some(c) = self.container_class.as_deref() else {
            return FolderKind::Mail;
        };
        let c = c.to_ascii_lowercase();
        let is = |p: &str| c == p || c.starts_with(&format!("{p}."));
        if is("ipf.note") || is("ipf.imap") || c == "ipf" || is("ipf.post") {
            FolderKind::Mail
        } else if is("ipf.contact") {
            FolderKind::Contacts
        } else if is("ipf.appointment") {
            FolderKind::Calendar
        } else if is("ipf.task") {
            FolderKind::Tasks
        } else if is("ipf.stickynote") {
            FolderKind::Notes
        } else if is("ipf.journal") {
            FolderKind::Journal
        } else {
            FolderKind::Other
        }
    }
}

/// One converted item.
#[derive(Debug, Clone, PartialEq)]
pub struct PstItem {
    /// The PST node id (stable: key resume on it).
    pub node_id: u32,
    /// The node id of the folder it is in.
    pub folder_node_id: u32,
    /// The MAPI message class (`IPM.Note`, `IPM.Contact`, `IPM.Appointment`, ...).
    pub message_class: String,
    /// The item converted to a standard format.
    pub content: ItemContent,
    /// Size for progress: the converted output length.
    pub approx_size: u64,
}

/// An item in a standard format: RFC 5322 mail, vCard or iCalendar.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ItemContent {
    /// RFC 5322 with CRLF; flags are IMAP system flags (and `$Forwarded`);
    /// `internal_date` is IMAP INTERNALDATE syntax.
    Mail {
        /// The message, RFC 5322 with CRLF line ends.
        mime: Vec<u8>,
        /// IMAP system flags (`\Seen`, `\Answered`, `\Flagged`, `\Draft`) and `$Forwarded`.
        flags: Vec<String>,
        /// The delivery time in IMAP INTERNALDATE syntax, when known.
        internal_date: Option<String>,
    },
    /// vCard 3.0 with UID.
    Contact {
        /// The vCard.
        vcard: String,
        /// Its UID (the one written into it).
        uid: String,
    },
    /// vCard 3.0 group (X-ADDRESSBOOKSERVER-KIND:group).
    DistList {
        /// The vCard.
        vcard: String,
        /// Its UID (the one written into it).
        uid: String,
    },
    /// A full VCALENDAR with VEVENT(s) and VTIMEZONE(s).
    Event {
        /// The iCalendar text.
        ics: String,
        /// The event's UID.
        uid: String,
    },
    /// A full VCALENDAR with one VTODO.
    Task {
        /// The iCalendar text.
        ics: String,
        /// The task's UID.
        uid: String,
    },
    /// A full VCALENDAR with one VJOURNAL (Outlook journal entries, IPM.Activity).
    Journal {
        /// The iCalendar text.
        ics: String,
        /// The entry's UID.
        uid: String,
    },
    /// Not converted; the reason says what it is.
    Other {
        /// What the item is, and why it is not converted.
        reason: String,
    },
}

/// An open PST or OST file (`Send + Sync`).
pub struct PstFile {
    ndb: Ndb,
    names: NameMap,
    /// folder nid -> its message nids (from the node index, sorted).
    children: HashMap<u32, Vec<u32>>,
    /// folder nid -> parent nid
    folder_parents: HashMap<u32, u32>,
    store_uid: [u8; 16],
    password: bool,
    ipm_root: Option<u32>,
    role_nids: HashMap<u32, SpecialRole>,
    damage: Vec<String>,
}

impl PstFile {
    /// Opens a file: checks the header, reads the node index once (folder and
    /// message ids only), the message store and the named-property map.
    pub fn open(path: &Path) -> Result<PstFile, PstError> {
        Self::with_ndb(Ndb::open(path)?)
    }

    /// Opens a PST held in memory (tests, fuzzing, small uploads).
    pub fn from_bytes(data: Vec<u8>) -> Result<PstFile, PstError> {
        Self::with_ndb(Ndb::from_bytes(data)?)
    }

    fn with_ndb(ndb: Ndb) -> Result<PstFile, PstError> {
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut folder_parents = HashMap::new();
        let damage = ndb.walk_nodes(|n| match n.nid & ndb::NID_TYPE_MASK {
            NID_TYPE_NORMAL_MESSAGE => children.entry(n.parent).or_default().push(n.nid),
            NID_TYPE_NORMAL_FOLDER => {
                folder_parents.insert(n.nid, n.parent);
            }
            _ => {}
        })?;
        for v in children.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        let names = NameMap::load(&ndb);
        let mut pst = PstFile {
            ndb,
            names,
            children,
            folder_parents,
            store_uid: [0; 16],
            password: false,
            ipm_root: None,
            role_nids: HashMap::new(),
            damage,
        };
        pst.read_store();
        Ok(pst)
    }

    fn read_store(&mut self) {
        let entry_nid = |b: &[u8]| -> Option<u32> {
            let t = b.get(b.len().checked_sub(4)?..)?;
            Some(u32::from_le_bytes([t[0], t[1], t[2], t[3]]))
        };
        if let Ok(node) = self.ndb.node(NID_MESSAGE_STORE)
            && let Ok(pc) = PropContext::open(&self.ndb, node.data, node.sub)
        {
            self.password = pc.int(props::PST_PASSWORD).unwrap_or(0) != 0;
            if let Some(rk) = pc.bin(props::RECORD_KEY)
                && rk.len() >= 16
            {
                self.store_uid.copy_from_slice(&rk[..16]);
            }
            self.ipm_root = pc
                .bin(props::IPM_SUBTREE_ENTRYID)
                .and_then(|b| entry_nid(&b));
            for (prop, role) in [
                (props::IPM_SENTMAIL_ENTRYID, SpecialRole::Sent),
                (props::IPM_WASTEBASKET_ENTRYID, SpecialRole::Trash),
                (props::IPM_OUTBOX_ENTRYID, SpecialRole::Outbox),
            ] {
                if let Some(n) = pc.bin(prop).and_then(|b| entry_nid(&b)) {
                    self.role_nids.insert(n, role);
                }
            }
        }
        if self.store_uid == [0; 16] {
            // Deterministic fallback: the header's CRC and size.
            let h = self.ndb.read_at(0, 8).unwrap_or_default();
            self.store_uid[..h.len()].copy_from_slice(&h);
            self.store_uid[8..].copy_from_slice(&self.ndb.file_size.to_le_bytes());
        }
        if self
            .ipm_root
            .is_none_or(|n| !self.folder_parents.contains_key(&n))
        {
            // OSTs carry no entry id: their mailbox tree is "Root - Mailbox/IPM_SUBTREE".
            // Otherwise the usual IPM subtree id, or the root's first child folder.
            let named: Vec<u32> = self
                .folder_parents
                .keys()
                .copied()
                .filter(|&nid| {
                    self.ndb
                        .node(nid)
                        .and_then(|n| PropContext::open(&self.ndb, n.data, n.sub))
                        .ok()
                        .and_then(|pc| pc.string(props::DISPLAY_NAME))
                        .is_some_and(|n| n.eq_ignore_ascii_case("IPM_SUBTREE"))
                })
                .collect();
            let subfolders =
                |root: u32| self.folder_parents.values().filter(|p| **p == root).count();
            self.ipm_root = if let Some(best) = named.iter().copied().max_by_key(|n| subfolders(*n))
            {
                Some(best)
            } else if self.folder_parents.contains_key(&0x8022) {
                Some(0x8022)
            } else {
                self.folder_parents
                    .iter()
                    .filter(|(n, p)| **p == NID_ROOT_FOLDER && **n != NID_ROOT_FOLDER)
                    .map(|(n, _)| *n)
                    .min()
            };
        }
        // Drafts and Junk: entry ids on the root folder or the IPM subtree root.
        for holder in [Some(NID_ROOT_FOLDER), self.ipm_root].into_iter().flatten() {
            let Ok(node) = self.ndb.node(holder) else {
                continue;
            };
            let Ok(pc) = PropContext::open(&self.ndb, node.data, node.sub) else {
                continue;
            };
            if let Some(n) = pc
                .bin(props::IPM_DRAFTS_ENTRYID)
                .and_then(|b| entry_nid(&b))
            {
                self.role_nids.entry(n).or_insert(SpecialRole::Drafts);
            }
            if let Some(ltp::Value::MvBin(v)) = pc.get(props::ADDITIONAL_REN_ENTRYIDS)
                && let Some(n) = v.get(4).and_then(|b| entry_nid(b))
            {
                self.role_nids.entry(n).or_insert(SpecialRole::Junk);
            }
        }
    }

    /// What was found damaged while opening (unreadable index pages), one line each.
    pub fn damage(&self) -> &[String] {
        &self.damage
    }

    /// Facts about the file: format, encryption, size, item count, damage skipped.
    pub fn info(&self) -> PstInfo {
        PstInfo {
            unicode: self.ndb.unicode,
            encryption: self.ndb.encryption,
            password_protected: self.password,
            file_size: self.ndb.file_size,
            ost: self.ndb.is_ost,
            item_count: self.children.values().map(|v| v.len() as u64).sum(),
            damaged_index_pages: self.damage.len(),
        }
    }

    /// The folders, parents before children, sorted by path. A folder whose own
    /// properties cannot be read keeps a placeholder name with its node id.
    pub fn folders(&self) -> Result<Vec<PstFolder>, PstError> {
        let mut info: HashMap<u32, (String, Option<String>)> = HashMap::new();
        for &nid in self.folder_parents.keys() {
            let (name, class) = match self
                .ndb
                .node(nid)
                .and_then(|n| PropContext::open(&self.ndb, n.data, n.sub))
            {
                Ok(pc) => (
                    pc.string(props::DISPLAY_NAME)
                        .unwrap_or_else(|| format!("Folder {nid:#x}")),
                    pc.string(props::CONTAINER_CLASS),
                ),
                Err(_) => (format!("Folder {nid:#x} (damaged)"), None),
            };
            info.insert(nid, (clean_folder_name(&name), class));
        }
        let mut out = Vec::new();
        for (&nid, &parent) in &self.folder_parents {
            if nid == NID_ROOT_FOLDER || Some(nid) == self.ipm_root {
                continue;
            }
            let mut path = Vec::new();
            let mut cur = nid;
            let mut in_ipm = false;
            let mut ok = false;
            for _ in 0..64 {
                if Some(cur) == self.ipm_root {
                    in_ipm = true;
                    ok = true;
                    break;
                }
                if cur == NID_ROOT_FOLDER {
                    ok = true;
                    break;
                }
                let Some(p) = self.folder_parents.get(&cur) else {
                    break;
                };
                path.push(info.get(&cur).map(|i| i.0.clone()).unwrap_or_default());
                if *p == cur {
                    break;
                }
                cur = *p;
            }
            if !ok {
                // Orphan folder (its parent is missing): keep it, under its own name.
                path.truncate(1);
            }
            path.reverse();
            let (_, class) = info.get(&nid).cloned().unwrap_or_default();
            let mut role = self.role_nids.get(&nid).copied();
            if role.is_none() && in_ipm && path.len() == 1 {
                role = role_by_name(&path[0]);
            }
            out.push(PstFolder {
                node_id: nid,
                path,
                container_class: class,
                role,
                item_count: self.item_ids(nid).len() as u32,
                in_ipm_subtree: in_ipm,
                parent_node_id: parent,
            });
        }
        // Items that sit directly in the root or IPM root folders: expose them too.
        for (nid, name) in [
            (self.ipm_root, "(Top of Personal Folders)"),
            (Some(NID_ROOT_FOLDER), "(Root)"),
        ] {
            let Some(nid) = nid else { continue };
            if self.children.get(&nid).is_some_and(|v| !v.is_empty()) {
                out.push(PstFolder {
                    node_id: nid,
                    path: vec![name.to_string()],
                    container_class: None,
                    role: None,
                    item_count: self.children.get(&nid).map_or(0, |v| v.len() as u32),
                    in_ipm_subtree: Some(nid) == self.ipm_root,
                    parent_node_id: nid,
                });
            }
        }
        // Messages whose folder is lost (damaged index): keep them, in a folder of their own.
        let mut orphans: Vec<(&u32, &Vec<u32>)> = self
            .children
            .iter()
            .filter(|(p, v)| {
                !v.is_empty()
                    && !self.folder_parents.contains_key(p)
                    && **p != NID_ROOT_FOLDER
                    && Some(**p) != self.ipm_root
            })
            .collect();
        orphans.sort();
        for (&parent, v) in orphans {
            out.push(PstFolder {
                node_id: parent,
                path: vec!["Recovered items".into(), format!("Folder {parent:#x}")],
                container_class: None,
                role: None,
                item_count: v.len() as u32,
                in_ipm_subtree: false,
                parent_node_id: 0,
            });
        }
        out.sort_by(|a, b| {
            (!a.in_ipm_subtree, &a.path, a.node_id).cmp(&(!b.in_ipm_subtree, &b.path, b.node_id))
        });
        Ok(out)
    }

    /// Items of one folder, lazily converted. An item that cannot be read yields an
    /// [`ItemError`] and iteration goes on.
    pub fn items<'a>(
        &'a self,
        folder: &PstFolder,
    ) -> impl Iterator<Item = Result<PstItem, ItemError>> + 'a {
        let folder_nid = folder.node_id;
        let nids = self.item_ids(folder_nid);
        nids.into_iter().map(move |nid| self.item(folder_nid, nid))
    }

    /// The message ids of a folder: its children in the node index, plus any its
    /// contents table lists that the (maybe damaged) index lost, so they are
    /// reported as errors rather than silently missing. With [`PstFile::item`], lets a
    /// resumed import skip what it already has without converting it.
    pub fn item_ids(&self, folder_nid: u32) -> Vec<u32> {
        let mut ids = self.children.get(&folder_nid).cloned().unwrap_or_default();
        if folder_nid & ndb::NID_TYPE_MASK == NID_TYPE_NORMAL_FOLDER {
            let table = (folder_nid & !ndb::NID_TYPE_MASK) | NID_TYPE_CONTENTS_TABLE;
            if let Ok(node) = self.ndb.node(table)
                && let Ok(rows) = ltp::Table::row_ids(&self.ndb, node.data)
            {
                let known: std::collections::HashSet<u32> = ids.iter().copied().collect();
                let mut extra: Vec<u32> = rows
                    .into_iter()
                    .filter(|n| {
                        n & ndb::NID_TYPE_MASK == NID_TYPE_NORMAL_MESSAGE && !known.contains(n)
                    })
                    // A stale row for a message the index files under another folder
                    // must not import it twice; one the index lost is reported.
                    .filter(|n| self.ndb.node(*n).is_err())
                    .collect();
                extra.sort_unstable();
                extra.dedup();
                ids.extend(extra);
            }
        }
        ids
    }

    /// Reads and converts one item by node id.
    pub fn item(&self, folder_node_id: u32, node_id: u32) -> Result<PstItem, ItemError> {
        let err = |reason: String| ItemError {
            node_id,
            folder_node_id,
            reason,
        };
        let node = self.ndb.node(node_id).map_err(|e| err(e.to_string()))?;
        let ctx = message::Ctx {
            ndb: &self.ndb,
            names: &self.names,
            store_uid: self.store_uid,
        };
        let msg = message::Message::open(&ctx, node.data, node.sub, node_id)
            .map_err(|e| err(e.to_string()))?;
        let class = msg.class();
        let content = message::convert(&ctx, &msg, &class).map_err(|e| err(e.to_string()))?;
        let approx_size = match &content {
            ItemContent::Mail { mime, .. } => mime.len() as u64,
            ItemContent::Contact { vcard, .. } | ItemContent::DistList { vcard, .. } => {
                vcard.len() as u64
            }
            ItemContent::Event { ics, .. }
            | ItemContent::Task { ics, .. }
            | ItemContent::Journal { ics, .. } => ics.len() as u64,
            ItemContent::Other { .. } => 0,
        };
        Ok(PstItem {
            node_id,
            folder_node_id,
            message_class: class,
            content,
            approx_size,
        })
    }
}

fn clean_folder_name(s: &str) -> String {
    let t: String = s.chars().filter(|c| !c.is_control()).collect();
    let t = t.trim().to_string();
    if t.is_empty() { "Unnamed".into() } else { t }
}

fn role_by_name(name: &str) -> Option<SpecialRole> {
    let n = name.to_lowercase();
    Some(match n.as_str() {
        "inbox"
        | "posteingang"
        | "boîte de réception"
        | "bandeja de entrada"
        | "posta in arrivo" => SpecialRole::Inbox,
        "sent items" | "sent" | "sent mail" | "gesendete elemente" | "éléments envoyés" => {
            SpecialRole::Sent
        }
        "drafts" | "entwürfe" | "brouillons" => SpecialRole::Drafts,
        "deleted items" | "trash" | "gelöschte elemente" | "éléments supprimés" => {
            SpecialRole::Trash
        }
        "junk e-mail" | "junk email" | "junk" | "spam" | "junk-e-mail" | "courrier indésirable" => {
            SpecialRole::Junk
        }
        "outbox" | "postausgang" | "boîte d'envoi" => SpecialRole::Outbox,
        _ => return None,
    })
}
