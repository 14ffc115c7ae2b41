//! Verification: does the destination hold every source message, byte for byte, with the same
//! flags, keywords and internal date? Read-only on both sides (EXAMINE, BODY.PEEK).
//!
//! A verification reports [`Event::Verifying`] and [`Event::Verified`] (one per folder), and
//! stops between two folders when its token is cancelled; its report then says so and is not
//! OK.

use std::collections::{HashMap, HashSet};

use passeur_imap::{Client, MessageMeta};
use passeur_store::{Item, Store};
use passeur_types::{ContentKind, MigrationId};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::folders::{self, FolderRules};
// `mail.rs` takes `layout` from here; it lives in `folders.rs`.
pub(crate) use crate::folders::layout;
use crate::mail::batches;
use crate::message::{normalise_flags, parse_internal_date};
use crate::{Control, EngineError, Event, MailAccount, Side};

/// The comparison of one folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FolderCheck {
    /// The source folder's name.
    pub folder: String,
    /// The destination folder it maps to.
    pub dst: String,
    /// Messages in the source folder.
    pub source_messages: u64,
    /// Messages in the destination folder.
    pub destination_messages: u64,
    /// Source messages with no byte-identical copy on the destination.
    pub missing: u64,
    /// Copies whose flags or keywords differ.
    pub flags_differ: u64,
    /// Copies whose internal date differs.
    pub dates_differ: u64,
    /// Destination messages that match no source message (mail that was there before).
    pub extra: u64,
    /// Surplus destination copies of a source message: the same bytes more often on the
    /// destination than on the source (a message appended twice). A destination that already
    /// held an identical copy before the migration shows it here too.
    #[serde(default)]
    pub duplicates: u64,
    /// The destination folder does not exist.
    pub destination_missing: bool,
}

impl FolderCheck {
    /// True when every source message is on the destination, with its flags and date, once.
    pub fn ok(&self) -> bool {
        self.missing == 0
            && self.flags_differ == 0
            && self.dates_differ == 0
            && self.duplicates == 0
    }
}

/// The comparison of every mapped folder.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// One comparison per mapped folder.
    pub folders: Vec<FolderCheck>,
    /// Stopped before every folder was compared.
    pub cancelled: bool,
}

impl VerifyReport {
    /// True when every folder was compared and is OK.
    pub fn ok(&self) -> bool {
        !self.cancelled && self.folders.iter().all(FolderCheck::ok)
    }
}

/// One message as verification sees it.
pub(crate) struct Seen {
    pub(crate) hash: [u8; 32],
    pub(crate) flags: String,
    /// The internal date; a source message without one (POP3 with no `Date:` header, copied
    /// with the time of the copy) has its date not compared.
    pub(crate) date: Option<i64>,
}

/// The messages of folder `name`, but those whose item key (UIDVALIDITY and UID) is in
/// `left_out`.
pub(crate) async fn read_folder(
    c: &mut Client,
    name: &str,
    side: Side,
    left_out: &HashSet<String>,
) -> Result<Option<Vec<Seen>>, EngineError> {
    let st = match c.examine(name).await {
        Ok(st) => st,
        Err(passeur_imap::Error::No { .. }) if side == Side::Destination => return Ok(None),
        Err(e) => return Err(EngineError::imap(side, "open a folder", e)),
    };
    if st.exists == 0 {
        return Ok(Some(Vec::new()));
    }
    let metas = c
        .uid_fetch_meta("1:*", None)
        .await
        .map_err(|e| EngineError::imap(side, "list messages", e))?;
    let by_uid: HashMap<u32, &MessageMeta> = metas.iter().map(|m| (m.uid, m)).collect();
    let refs: Vec<&MessageMeta> = metas
        .iter()
        .filter(|m| !left_out.contains(&Item::mail_key(st.uidvalidity, m.uid)))
        .collect();
    let mut out = Vec::with_capacity(metas.len());
    for batch in batches(&refs, 200, 8 << 20) {
        let uids: Vec<u32> = batch.iter().map(|m| m.uid).collect();
        c.start_fetch_bodies(&uids)
            .await
            .map_err(|e| EngineError::imap(side, "fetch messages", e))?;
        while let Some(b) = c
            .next_body()
            .await
            .map_err(|e| EngineError::imap(side, "fetch messages", e))?
        {
            let Some(m) = by_uid.get(&b.uid) else {
                continue;
            };
            out.push(Seen {
                hash: Sha256::digest(&b.body).into(),
                flags: normalise_flags(&m.flags).join(" "),
                date: m.internal_date.as_deref().and_then(parse_internal_date),
            });
        }
    }
    Ok(Some(out))
}

/// Compares source and destination folder by folder, through the same mapping a migration uses.
/// Source messages a purge of migration `id` removed are not expected on the destination.
pub async fn verify_mail(
    store: &Store,
    id: MigrationId,
    src: &MailAccount,
    dst: &MailAccount,
    rules: &FolderRules,
    control: &Control,
) -> Result<VerifyReport, EngineError> {
    let mut s = src.connect(Side::Source).await?;
    let mut d = dst.connect(Side::Destination).await?;
    // A Gmail source was copied by message and label: see `gmail.rs`.
    if s.is_gmail() && !rules.no_gmail_labels {
        return crate::gmail::verify_gmail(store, id, (s, d), &src.presets, rules, control).await;
    }
    let src_layout = layout(&mut s, Side::Source, &src.presets).await?;
    let dst_layout = layout(&mut d, Side::Destination, &dst.presets).await?;
    let plans = folders::plan(&src_layout, &dst_layout, rules)?;
    let mut report = VerifyReport::default();
    control.events.send(Event::Verifying {
        folders: plans.len(),
    });
    for plan in plans {
        if control.cancel.is_cancelled() {
            report.cancelled = true;
            break;
        }
        let purged = store.purged_keys(id, ContentKind::Mail, &plan.src).await?;
        let none = HashSet::new();
        let (a, b) = tokio::join!(
            read_folder(&mut s, &plan.src, Side::Source, &purged),
            read_folder(&mut d, &plan.dst, Side::Destination, &none)
        );
        let a = a?.unwrap_or_default();
        let b = b?;
        let mut check = FolderCheck {
            folder: plan.display.clone(),
            dst: plan.dst.clone(),
            source_messages: a.len() as u64,
            destination_missing: b.is_none(),
            ..Default::default()
        };
        compare(&mut check, &a, &b.unwrap_or_default());
        control.events.send(Event::Verified {
            folder: check.folder.clone(),
            ok: check.ok(),
        });
        report.folders.push(check);
    }
    let _ = tokio::join!(s.logout(), d.logout());
    Ok(report)
}

/// Matches source messages `a` against destination messages `b` by content, counting what is
/// missing, differs, is extra or is there twice.
pub(crate) fn compare(check: &mut FolderCheck, a: &[Seen], b: &[Seen]) {
    check.destination_messages = b.len() as u64;
    let mut pool: HashMap<[u8; 32], Vec<&Seen>> = HashMap::new();
    for m in b {
        pool.entry(m.hash).or_default().push(m);
    }
    for m in a {
        let candidates = pool.get_mut(&m.hash);
        let Some(candidates) = candidates.filter(|c| !c.is_empty()) else {
            check.missing += 1;
            continue;
        };
        let same_date = |c: &Seen| m.date.is_none() || c.date == m.date;
        // Prefer an exact copy among identical bodies.
        let pos = candidates
            .iter()
            .position(|c| c.flags == m.flags && same_date(c))
            .unwrap_or(0);
        let c = candidates.swap_remove(pos);
        if c.flags != m.flags {
            check.flags_differ += 1;
        }
        if !same_date(c) {
            check.dates_differ += 1;
        }
    }
    let source_hashes: HashSet<[u8; 32]> = a.iter().map(|m| m.hash).collect();
    for (hash, left) in &pool {
        if source_hashes.contains(hash) {
            check.duplicates += left.len() as u64;
        } else {
            check.extra += left.len() as u64;
        }
    }
}
