//! What the item map holds for Gmail mode, without its rows' text.
//!
//! A pass compares every message of All Mail with its rows in the map. Holding those rows as
//! [`Item`]s (six strings each) cost several hundred bytes per (message, label) on every pass,
//! on top of the listing itself. Here a row is a few integers: its message's `X-GM-MSGID`, the
//! indexes of its folder names and flags in a table of the distinct strings (a handful of
//! folders, a few flag sets), its destination UID. The rows are read a page at a time. A whole
//! row is read again only for the messages a pass copies from one destination folder into
//! another (see `copy_between`), a chunk at a time.

use std::collections::HashMap;

use passeur_store::{Item, Store};
use passeur_types::MigrationId;

use super::ITEM_FOLDER_PREFIX;
use crate::EngineError;

/// Rows read per query.
const PAGE: usize = 5000;

/// One row of the map, as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Row {
    /// The message (`X-GM-MSGID`; the row's key is `gm:<msgid>`).
    pub(super) msgid: u64,
    /// The row's source (item) folder, `gmail:<label folder>`: an index into the names.
    pub(super) src_folder: u32,
    /// The destination folder: an index into the names.
    pub(super) dst_folder: u32,
    /// The flags it was given, space-separated: an index into the names.
    pub(super) flags: u32,
    pub(super) dst_uidvalidity: Option<u32>,
    pub(super) dst_uid: Option<u32>,
    pub(super) pending: bool,
}

impl Row {
    /// Confirmed, with a destination UID: a copy other folders can be copied from.
    pub(super) fn placed(&self) -> bool {
        !self.pending && self.dst_uid.is_some()
    }
}

/// The Gmail rows of a migration, sorted by message.
#[derive(Debug, Default)]
pub(super) struct Known {
    rows: Vec<Row>,
    names: Vec<String>,
    index: HashMap<String, u32>,
    /// Confirmed rows (those whose key is not `gm:<number>` too).
    confirmed: u64,
}

impl Known {
    /// Reads the migration's Gmail rows, [`PAGE`] at a time.
    pub(super) async fn load(store: &Store, id: MigrationId) -> Result<Known, EngineError> {
        let mut known = Known::default();
        let mut after = (String::new(), String::new());
        loop {
            let page = store
                .mail_items_page(id, ITEM_FOLDER_PREFIX, (&after.0, &after.1), PAGE)
                .await?;
            let full = page.len() == PAGE;
            for i in &page {
                known.add(i);
            }
            match page.into_iter().last() {
                Some(last) if full => after = (last.src_folder, last.src_key),
                _ => break,
            }
        }
        known.rows.shrink_to_fit();
        known.rows.sort_by_key(|r| r.msgid);
        Ok(known)
    }

    fn add(&mut self, i: &Item) {
        if !i.pending {
            self.confirmed += 1;
        }
        // Every Gmail row is keyed `gm:<msgid>`; another key matches no message.
        let Some(msgid) = i
            .src_key
            .strip_prefix("gm:")
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return;
        };
        let row = Row {
            msgid,
            src_folder: self.intern(&i.src_folder),
            dst_folder: self.intern(&i.dst_folder),
            flags: self.intern(&i.flags),
            dst_uidvalidity: i.dst_uidvalidity,
            dst_uid: i.dst_uid,
            pending: i.pending,
        };
        self.rows.push(row);
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&n) = self.index.get(s) {
            return n;
        }
        let n = self.names.len() as u32;
        self.names.push(s.to_owned());
        self.index.insert(s.to_owned(), n);
        n
    }

    /// A folder name or flag set by its index.
    pub(super) fn name(&self, n: u32) -> &str {
        &self.names[n as usize]
    }

    /// The rows of one message.
    pub(super) fn of(&self, msgid: u64) -> &[Row] {
        let lo = self.rows.partition_point(|r| r.msgid < msgid);
        let hi = lo + self.rows[lo..].partition_point(|r| r.msgid == msgid);
        &self.rows[lo..hi]
    }

    /// How many rows are confirmed.
    pub(super) fn confirmed(&self) -> u64 {
        self.confirmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use passeur_types::ContentKind;

    fn item(folder: &str, key: &str, dst: &str, uid: Option<u32>, pending: bool) -> Item {
        Item {
            kind: ContentKind::Mail,
            src_folder: folder.into(),
            src_key: key.into(),
            src_uidvalidity: Some(1),
            src_uid: Some(1),
            fingerprint: "f".into(),
            dst_folder: dst.into(),
            dst_uidvalidity: uid.map(|_| 5),
            dst_uid: uid,
            dst_key: None,
            pass: 1,
            size: 10,
            flags: "\\Seen".into(),
            etag: None,
            pending,
        }
    }

    #[test]
    fn rows_are_found_by_message_with_their_names() {
        let mut k = Known::default();
        for i in [
            item("gmail:INBOX", "gm:7", "INBOX", Some(3), false),
            item("gmail:Work", "gm:7", "Work", None, true),
            item("gmail:INBOX", "gm:2", "INBOX", Some(1), false),
            item("gmail:INBOX", "not-a-msgid", "INBOX", Some(2), false),
        ] {
            k.add(&i);
        }
        k.rows.sort_by_key(|r| r.msgid);
        assert_eq!(k.confirmed(), 3);
        let seven = k.of(7);
        assert_eq!(seven.len(), 2);
        assert_eq!(k.name(seven[0].src_folder), "gmail:INBOX");
        assert_eq!(k.name(seven[1].dst_folder), "Work");
        assert_eq!(k.name(seven[1].flags), "\\Seen");
        assert!(seven[0].placed() && !seven[1].placed());
        assert_eq!(k.of(2).len(), 1);
        assert!(k.of(3).is_empty() && k.of(99).is_empty() && k.of(0).is_empty());
        // Three rows kept, five distinct strings: two item folders, two destination folders,
        // one flag set.
        assert_eq!(k.names.len(), 5);
    }
}
