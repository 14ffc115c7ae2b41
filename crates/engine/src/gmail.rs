//! Gmail mode: a source that speaks `X-GM-EXT-1` is copied by message, not by folder.
//!
//! Gmail shows a message once per label, each label as a folder, and every message once in
//! `[Gmail]/All Mail` (the folder with the `\All` attribute). A folder-by-folder copy downloads
//! a message with three labels three times. Here each message is downloaded once, from All Mail,
//! and appended once, to the folder of its first label; it is then put into the folder of each
//! further label by a `UID COPY` on the destination, which sends nothing over the network and
//! gives the new UIDs (COPYUID) for the item map.
//!
//! Labels (from `X-GM-LABELS`) become folders through the same mapping as a folder copy (rules,
//! roles, nesting from `/`):
//! - `\Inbox` goes to the destination's INBOX, `\Sent` to the folder of the `\Sent` role, `\Draft`
//!   to the folder of the `\Drafts` role;
//! - `\Starred` becomes the `\Flagged` flag (Gmail's starred messages are its flagged ones), and
//!   `\Important` becomes the keyword `$Important`: neither makes a folder;
//! - a user label is the folder of that name (`Work/2024` is `2024` inside `Work`);
//! - a message with no label that makes a folder goes to `Archive` (the rule
//!   `gmail_archive`, CLI `--gmail-archive-folder`; without it, the destination's folder of the
//!   `\Archive` role when there is one, else `Archive`). A message whose labels all lead to
//!   folders the rules leave out is not copied.
//!
//! The label folders of the source are never read: nothing is downloaded twice. Gmail's Spam and
//! Trash are not in All Mail; they are not copied in this mode.
//!
//! Exactly once per (message, label): the item map has one row per message and label folder,
//! keyed by the `X-GM-MSGID` (`gm:<id>`) under the source folder name `gmail:<label folder>`.
//! Rows are written pending before each APPEND or COPY and confirmed with the destination UID
//! after it; at the next run, pending rows are matched against what reached the destination (by
//! fingerprint, as for a folder copy), so a run killed at any point leaves no duplicate.
//! Flags (the `\Flagged` of a starred message included) are brought over again when they change.
//!
//! The pass runs on one connection pair, and the source connection is given up as it is in a
//! folder copy (no retry inside the pass: the next pass goes on from the item map).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use passeur_imap::{AppendMessage, Client, GmailMeta, ListEntry, uid_set};
use passeur_store::{Completion, Failure, Item, ItemKey, MailScope, Store};
use passeur_types::{ContentKind, MigrationId};
use sha2::{Digest, Sha256};

use crate::error::{ConfigError, InternalError};
use crate::folders::layout;
use crate::folders::{self, FolderPlan, FolderRules, Layout};
use crate::mail::AppendTally;
use crate::mail::{
    FolderReport, Ledger, PassReport, append_recorded, batches, create_folder, reconcile_from,
    rematch_destination, settle,
};
use crate::message::parse_internal_date;
use crate::message::{fingerprint, message_id, normalise_flags};
use crate::verify::{FolderCheck, Seen, VerifyReport, compare, read_folder};
use crate::{Control, EngineError, Event, Limits, MailAccount, MailOptions, RunContext, Side};

mod known;
use known::{Known, Row};

/// The prefix of the item map's source folder for Gmail items.
pub(crate) const ITEM_FOLDER_PREFIX: &str = "gmail:";

/// The keyword Gmail's `\Important` label becomes.
pub const IMPORTANT_KEYWORD: &str = "$Important";

/// The default folder of messages with no label.
pub const DEFAULT_ARCHIVE: &str = "Archive";

fn src_err(action: &'static str) -> impl FnOnce(passeur_imap::Error) -> EngineError {
    move |e| EngineError::imap(Side::Source, action, e)
}

fn dst_err(action: &'static str) -> impl FnOnce(passeur_imap::Error) -> EngineError {
    move |e| EngineError::imap(Side::Destination, action, e)
}

fn item_key(msgid: u64) -> String {
    format!("gm:{msgid}")
}

fn item_folder(plan: &FolderPlan) -> String {
    format!("{ITEM_FOLDER_PREFIX}{}", plan.src)
}

/// The flags a message gets on the destination: its own, `\Flagged` when starred, and
/// [`IMPORTANT_KEYWORD`] when important.
pub fn gmail_flags(g: &GmailMeta) -> Vec<String> {
    let mut flags = g.meta.flags.clone();
    for l in &g.labels {
        if l.eq_ignore_ascii_case("\\Starred") {
            flags.push("\\Flagged".into());
        } else if l.eq_ignore_ascii_case("\\Important") {
            flags.push(IMPORTANT_KEYWORD.into());
        }
    }
    normalise_flags(&flags)
}

/// The source folder a label shows in, by its wire name: `None` for the labels that are flags
/// (`\Starred`, `\Important`) and system labels with no folder.
fn label_folder(label: &str, src: &Layout) -> Option<String> {
    let by_attr = |attr: &str| {
        src.folders
            .iter()
            .find(|f| f.has_attribute(attr))
            .map(|f| f.name.clone())
    };
    if let Some(system) = label.strip_prefix('\\') {
        return match system.to_ascii_lowercase().as_str() {
            "inbox" => Some("INBOX".into()),
            "sent" => by_attr("\\Sent"),
            "draft" | "drafts" => by_attr("\\Drafts"),
            _ => None,
        };
    }
    if label.eq_ignore_ascii_case("INBOX") {
        return Some("INBOX".into());
    }
    // Labels come as folder names do (modified UTF-7); one sent as raw UTF-8 is encoded so
    // that it meets its folder.
    if label.is_ascii() {
        Some(label.to_owned())
    } else {
        Some(passeur_imap::mutf7::encode(label))
    }
}

/// Where one message goes: its label folders (distinct destinations, in label order).
struct Placement<'a> {
    g: &'a GmailMeta,
    flags: Vec<String>,
    targets: Vec<&'a FolderPlan>,
}

/// Runs one mail pass in Gmail mode on a connected pair, starting it over (after matching what
/// landed, as after a crash) when a connection drops, up to the retry limit with backoff. The
/// report is the last attempt's: what earlier attempts copied is in the item map, not counted
/// again.
pub(crate) async fn run_gmail_pass_retrying(
    rc: &RunContext,
    src: &MailAccount,
    dst: &MailAccount,
    opts: &MailOptions,
    s: Client,
    d: Client,
) -> Result<PassReport, EngineError> {
    let mut conns = Some((s, d));
    let mut attempt = 0;
    loop {
        let (s, d) = match conns.take() {
            Some(pair) => pair,
            None => {
                let (s, d) =
                    tokio::join!(src.connect(Side::Source), dst.connect(Side::Destination));
                (s?, d?)
            }
        };
        match run_gmail_pass(rc, src, dst, opts, s, d).await {
            Err(e)
                if e.is_retryable()
                    && attempt < opts.limits.retries
                    && !rc.cancel.is_cancelled() =>
            {
                attempt += 1;
                rc.events.send(Event::Retrying {
                    folder: "[Gmail]/All Mail".into(),
                    attempt,
                    reason: e.to_string(),
                });
                tracing::warn!(attempt, error = %e, "retrying the Gmail pass");
                let backoff = std::time::Duration::from_millis(250 << attempt.min(6));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = rc.cancel.cancelled() => {}
                }
            }
            r => return r,
        }
    }
}

/// Runs one mail pass in Gmail mode on a connected pair (see the module docs).
async fn run_gmail_pass(
    rc: &RunContext,
    src: &MailAccount,
    dst: &MailAccount,
    opts: &MailOptions,
    mut s: Client,
    mut d: Client,
) -> Result<PassReport, EngineError> {
    let (store, id, pass, events, cancel) =
        (&rc.store, rc.migration, rc.pass, &rc.events, &rc.cancel);
    let mut report = PassReport {
        pass,
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let mut src_layout = layout(&mut s, Side::Source, &src.presets).await?;
    let dst_layout = layout(&mut d, Side::Destination, &dst.presets).await?;
    let all_mail = all_mail_of(&src_layout)?;

    // An interrupted run left items pending: match them against the destination first.
    if !opts.dry_run {
        reconcile(rc, &mut d, opts.limits.reconcile_chunk).await?;
    }

    let st = s
        .examine(&all_mail)
        .await
        .map_err(src_err("open All Mail"))?;
    let metas: Vec<GmailMeta> = if st.exists == 0 {
        Vec::new()
    } else {
        s.uid_fetch_gmail("1:*")
            .await
            .map_err(src_err("list messages and labels"))?
    };

    let (plans, archive) =
        label_plans(&metas, &mut src_layout, &dst_layout, &opts.rules, &all_mail)?;
    let placements = place(&metas, &plans, &archive, &src_layout);

    // What the map already has, by message (numbers only, see `known`).
    let have = Known::load(store, id).await?;
    let mut purged: HashMap<String, HashSet<String>> = HashMap::new();
    let mut folder_reports: BTreeMap<String, FolderReport> = BTreeMap::new();
    // (placement index, target) still to do.
    let mut needed: Vec<(usize, &FolderPlan)> = Vec::new();
    // Flag changes: (destination folder, flags) -> rows.
    let mut flag_changes: HashMap<(String, String), Vec<Row>> = HashMap::new();
    for (n, p) in placements.iter().enumerate() {
        let key = item_key(p.g.msgid);
        let known = have.of(p.g.msgid);
        let joined = p.flags.join(" ");
        for i in known {
            if i.placed() && have.name(i.flags) != joined {
                flag_changes
                    .entry((have.name(i.dst_folder).to_owned(), joined.clone()))
                    .or_default()
                    .push(*i);
            }
        }
        for t in &p.targets {
            let r = folder_reports
                .entry(t.dst.clone())
                .or_insert_with(|| FolderReport {
                    folder: t.display.clone(),
                    dst: t.dst.clone(),
                    ..Default::default()
                });
            r.source_messages += 1;
            let folder = item_folder(t);
            let done = known
                .iter()
                .any(|i| have.name(i.src_folder) == folder || have.name(i.dst_folder) == t.dst);
            if done {
                continue;
            }
            if !purged.contains_key(&folder) {
                let keys = store.purged_keys(id, ContentKind::Mail, &folder).await?;
                purged.insert(folder.clone(), keys);
            }
            if purged.get(&folder).is_some_and(|k| k.contains(&key)) {
                continue;
            }
            r.to_copy += 1;
            r.to_copy_bytes += p.g.meta.size.unwrap_or(0);
            needed.push((n, t));
        }
    }
    let total: u64 = folder_reports.values().map(|r| r.source_messages).sum();
    events.send(Event::Planned {
        folders: folder_reports.len(),
        messages: total,
        known: have.confirmed(),
    });
    for r in folder_reports.values() {
        events.send(Event::FolderScanned {
            folder: r.folder.clone(),
            to_copy: r.to_copy,
            bytes: r.to_copy_bytes,
        });
    }
    if opts.dry_run {
        report.folders = folder_reports.into_values().collect();
        let _ = tokio::join!(s.logout(), d.logout());
        return Ok(report);
    }

    // Flags first: a message copied below takes its flags with it.
    for ((folder, joined), mut group) in flag_changes {
        let now = d.select(&folder).await.map_err(dst_err("open a folder"))?;
        // A folder made again since (new UIDVALIDITY): its UIDs are not ours any more.
        group.retain(|i| i.dst_uidvalidity == Some(now.uidvalidity));
        if group.is_empty() {
            continue;
        }
        let mut uids: Vec<u32> = group.iter().filter_map(|i| i.dst_uid).collect();
        uids.sort_unstable();
        let flags: Vec<String> = joined.split_whitespace().map(str::to_owned).collect();
        d.uid_store(&uid_set(&uids), "FLAGS.SILENT", &flags)
            .await
            .map_err(dst_err("update flags"))?;
        let keys: Vec<String> = group.iter().map(|i| item_key(i.msgid)).collect();
        let updates: Vec<_> = group
            .iter()
            .zip(&keys)
            .map(|(i, key)| {
                let k = ItemKey {
                    kind: ContentKind::Mail,
                    src_folder: have.name(i.src_folder),
                    src_key: key,
                };
                (k, joined.clone())
            })
            .collect();
        store.set_flags(id, &updates).await?;
        if let Some(r) = folder_reports.get_mut(&folder) {
            r.flags_updated += group.len() as u64;
        }
    }

    // The destination folders this pass writes to.
    let mut used: HashSet<String> = plans.iter().map(|p| p.dst.clone()).collect();
    used.insert(archive.dst.clone());
    let mut renamed: HashMap<String, String> = HashMap::new();
    let mut refused: HashMap<String, String> = HashMap::new();
    let mut created: HashSet<&str> = HashSet::new();
    for (_, t) in &needed {
        if t.dst_exists || !created.insert(t.dst.as_str()) {
            continue;
        }
        match create_folder(&mut d, t, dst_layout.delimiter, &mut used).await? {
            crate::mail::Created::AsPlanned => {}
            crate::mail::Created::Renamed(name) => {
                report.notes.push(format!(
                    "label {} goes to {name:?}: the destination refused the name {:?}",
                    t.display, t.dst
                ));
                renamed.insert(t.dst.clone(), name);
            }
            crate::mail::Created::Refused(e) => {
                refused.insert(
                    t.dst.clone(),
                    format!("cannot create folder {:?} on the destination: {e}", t.dst),
                );
                continue;
            }
        }
        let name = renamed.get(&t.dst).unwrap_or(&t.dst);
        d.subscribe(name)
            .await
            .map_err(dst_err("subscribe a folder"))?;
    }
    let dst_of = |t: &FolderPlan| renamed.get(&t.dst).cloned().unwrap_or(t.dst.clone());

    // Messages refused a folder fail there; the rest goes on.
    let mut failures = Vec::new();
    needed.retain(|(n, t)| match refused.get(&t.dst) {
        Some(reason) => {
            failures.push(Failure {
                pass,
                kind: ContentKind::Mail,
                folder: t.display.clone(),
                src_key: item_key(placements[*n].g.msgid),
                size: placements[*n].g.meta.size,
                reason: reason.clone(),
            });
            if let Some(r) = folder_reports.get_mut(&t.dst) {
                r.failed += 1;
            }
            false
        }
        None => true,
    });
    store.record_failures(id, &failures).await?;

    // Download once: the messages with no copy on the destination yet, appended to their first
    // folder still to do.
    let copied_somewhere: HashSet<u64> = placements
        .iter()
        .filter(|p| have.of(p.g.msgid).iter().any(Row::placed))
        .map(|p| p.g.msgid)
        .collect();
    let mut first: BTreeMap<usize, &FolderPlan> = BTreeMap::new();
    for (n, t) in &needed {
        if !copied_somewhere.contains(&placements[*n].g.msgid) {
            first.entry(*n).or_insert(t);
        }
    }
    // Sorted by destination, so that a batch goes to few folders.
    let mut fresh: Vec<Download> = first
        .iter()
        .map(|(n, t)| {
            let p = &placements[*n];
            Download {
                meta: p.g.meta.clone(),
                msgid: p.g.msgid,
                flags: p.flags.clone(),
                item_folder: item_folder(t),
                dst: dst_of(t),
                display: t.display.clone(),
            }
        })
        .collect();
    fresh.sort_by(|a, b| (&a.dst, a.meta.uid).cmp(&(&b.dst, b.meta.uid)));
    let refs: Vec<&passeur_imap::MessageMeta> = fresh.iter().map(|f| &f.meta).collect();
    let by_uid: HashMap<u32, &Download> = fresh.iter().map(|f| (f.meta.uid, f)).collect();
    let queue: VecDeque<Vec<Download>> =
        batches(&refs, opts.limits.batch_messages, opts.limits.batch_bytes)
            .into_iter()
            .map(|b| {
                b.iter()
                    .filter_map(|m| by_uid.get(&m.uid).map(|d| (*d).clone()))
                    .collect()
            })
            .collect();
    // The downloads run on their own connection pairs; these are not needed meanwhile.
    let _ = tokio::join!(s.logout(), d.logout());
    let workers = opts.limits.connections.clamp(1, queue.len().max(1));
    let queue = Arc::new(Mutex::new(queue));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (rc, queue, src, dst) = (rc.clone(), queue.clone(), src.clone(), dst.clone());
        let (all, uidvalidity) = (all_mail.clone(), st.uidvalidity);
        tasks.spawn(async move { download(&rc, &src, &dst, &all, uidvalidity, queue).await });
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(tallies)) => {
                for (dst, tally) in tallies {
                    if let Some(r) = folder_reports
                        .values_mut()
                        .find(|r| dst_matches(r, &dst, &renamed))
                    {
                        r.copied += tally.copied;
                        r.bytes += tally.bytes;
                        r.failed += tally.failed;
                    }
                }
            }
            Ok(Err(e)) => {
                if first_error.is_none() {
                    first_error = Some(e);
                }
            }
            Err(e) => {
                tasks.abort_all();
                return Err(InternalError::Task {
                    what: "a download task failed",
                    source: e,
                }
                .into());
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let mut d = dst.connect(Side::Destination).await?;

    // Every further label: a COPY on the destination from a copy already there.
    if !cancel.is_cancelled() {
        drop(have);
        let now = Known::load(store, id).await?;
        // (from folder, to folder) -> (target, row copied from, placement)
        let mut copies: BTreeMap<(String, String), Vec<CopyJob>> = BTreeMap::new();
        for (n, t) in &needed {
            let rows = now.of(placements[*n].g.msgid);
            let folder = item_folder(t);
            if rows.iter().any(|i| now.name(i.src_folder) == folder) {
                continue;
            }
            // The copy to copy from: the first placed one by destination folder and UID.
            let Some(from) = rows
                .iter()
                .filter(|i| i.placed())
                .min_by_key(|i| (now.name(i.dst_folder), i.dst_uid))
            else {
                continue;
            };
            copies
                .entry((now.name(from.dst_folder).to_owned(), dst_of(t)))
                .or_default()
                .push((t, *from, *n));
        }
        for ((from, to), list) in copies {
            if cancel.is_cancelled() {
                break;
            }
            let n = copy_between(rc, &mut d, (&from, &to), &list, &now, &placements).await?;
            if let Some(r) = folder_reports
                .values_mut()
                .find(|r| dst_matches(r, &to, &renamed))
            {
                r.copied += n.0;
                r.failed += n.1;
            }
        }
    }

    report.folders = folder_reports.into_values().collect();
    for r in &report.folders {
        report.counters.copied += r.copied;
        report.counters.bytes += r.bytes;
        report.counters.flags_updated += r.flags_updated;
        report.counters.failed += r.failed;
        events.send(Event::FolderDone(r.clone()));
    }
    report.cancelled = cancel.is_cancelled();
    if let Err(e) = store.update_pass(id, pass, report.counters, None).await {
        tracing::warn!(error = %e, "cannot record progress");
    }
    let _ = d.logout().await;
    Ok(report)
}

/// The wire name of the source's All Mail folder (`\\All`).
fn all_mail_of(src: &Layout) -> Result<String, EngineError> {
    src.folders
        .iter()
        .find(|f| f.has_attribute("\\All"))
        .map(|f| f.name.clone())
        .ok_or_else(|| ConfigError::GmailWithoutAllMail.into())
}

/// The destination folders of the labels (through the folder mapping and `rules`) and of
/// messages with no label.
fn label_plans(
    metas: &[GmailMeta],
    src_layout: &mut Layout,
    dst_layout: &Layout,
    rules: &FolderRules,
    all_mail: &str,
) -> Result<(Vec<FolderPlan>, FolderPlan), EngineError> {
    // Labels not shown as folders (hidden from IMAP in Gmail's settings) still make folders.
    let mut seen: HashSet<String> = HashSet::new();
    for g in metas {
        for l in &g.labels {
            if let Some(name) = label_folder(l, src_layout)
                && !src_layout.has(&name)
                && seen.insert(name.clone())
            {
                src_layout.folders.push(ListEntry {
                    name,
                    delimiter: Some('/'),
                    attributes: Vec::new(),
                    subscribed: true,
                });
            }
        }
    }
    // The views of system labels that are flags here, and the folders not in All Mail.
    src_layout.folders.retain(|f| {
        !["\\Important", "\\Junk", "\\Trash"]
            .iter()
            .any(|a| f.has_attribute(a))
    });
    let plans = folders::plan(src_layout, dst_layout, rules)?;
    let archive = archive_plan(rules, dst_layout, all_mail);
    Ok((plans, archive))
}

/// Where each message goes; messages whose label folders the rules all leave out are left out.
fn place<'a>(
    metas: &'a [GmailMeta],
    plans: &'a [FolderPlan],
    archive: &'a FolderPlan,
    src_layout: &Layout,
) -> Vec<Placement<'a>> {
    let by_src: HashMap<&str, &FolderPlan> = plans.iter().map(|p| (p.src.as_str(), p)).collect();
    metas
        .iter()
        .filter_map(|g| {
            let mut targets: Vec<&FolderPlan> = Vec::new();
            let mut any_folder = false;
            for l in &g.labels {
                let Some(name) = label_folder(l, src_layout) else {
                    continue;
                };
                any_folder = true;
                let key = if name.eq_ignore_ascii_case("INBOX") {
                    "INBOX"
                } else {
                    name.as_str()
                };
                if let Some(p) = by_src.get(key)
                    && !targets.iter().any(|t| t.dst == p.dst)
                {
                    targets.push(p);
                }
            }
            if !any_folder {
                targets.push(archive);
            }
            (!targets.is_empty()).then(|| Placement {
                g,
                flags: gmail_flags(g),
                targets,
            })
        })
        .collect()
}

/// Verification of a Gmail-mode migration: every message of All Mail, read once, is expected
/// byte for byte (with the flags and date it was given) in each of its label folders, and the
/// destination's folders are compared with that. Read-only on both sides.
pub(crate) async fn verify_gmail(
    store: &Store,
    id: MigrationId,
    (mut s, mut d): (Client, Client),
    presets: &passeur_net::discover::Presets,
    rules: &FolderRules,
    control: &Control,
) -> Result<VerifyReport, EngineError> {
    let mut src_layout = layout(&mut s, Side::Source, presets).await?;
    let dst_layout = layout(&mut d, Side::Destination, presets).await?;
    let all_mail = all_mail_of(&src_layout)?;
    let st = s
        .examine(&all_mail)
        .await
        .map_err(src_err("open All Mail"))?;
    let metas: Vec<GmailMeta> = if st.exists == 0 {
        Vec::new()
    } else {
        s.uid_fetch_gmail("1:*")
            .await
            .map_err(src_err("list messages and labels"))?
    };
    let (plans, archive) = label_plans(&metas, &mut src_layout, &dst_layout, rules, &all_mail)?;
    let placements = place(&metas, &plans, &archive, &src_layout);

    let mut hashes: HashMap<u32, [u8; 32]> = HashMap::with_capacity(metas.len());
    let refs: Vec<&passeur_imap::MessageMeta> = placements.iter().map(|p| &p.g.meta).collect();
    for batch in batches(&refs, 200, 8 << 20) {
        let uids: Vec<u32> = batch.iter().map(|m| m.uid).collect();
        s.start_fetch_bodies(&uids)
            .await
            .map_err(src_err("fetch messages"))?;
        while let Some(b) = s.next_body().await.map_err(src_err("fetch messages"))? {
            hashes.insert(b.uid, Sha256::digest(&b.body).into());
        }
    }
    let mut purged: HashMap<String, HashSet<String>> = HashMap::new();
    let mut expected: BTreeMap<String, (String, Vec<Seen>)> = BTreeMap::new();
    for p in &placements {
        let Some(hash) = hashes.get(&p.g.meta.uid) else {
            continue;
        };
        for t in &p.targets {
            let folder = item_folder(t);
            if !purged.contains_key(&folder) {
                let keys = store.purged_keys(id, ContentKind::Mail, &folder).await?;
                purged.insert(folder.clone(), keys);
            }
            if purged
                .get(&folder)
                .is_some_and(|k| k.contains(&item_key(p.g.msgid)))
            {
                continue;
            }
            expected
                .entry(t.dst.clone())
                .or_insert_with(|| (t.display.clone(), Vec::new()))
                .1
                .push(Seen {
                    hash: *hash,
                    flags: p.flags.join(" "),
                    date: p
                        .g
                        .meta
                        .internal_date
                        .as_deref()
                        .and_then(parse_internal_date),
                });
        }
    }
    let mut report = VerifyReport::default();
    let none = HashSet::new();
    control.events.send(Event::Verifying {
        folders: expected.len(),
    });
    for (dst, (display, want)) in expected {
        if control.cancel.is_cancelled() {
            report.cancelled = true;
            break;
        }
        let got = read_folder(&mut d, &dst, Side::Destination, &none).await?;
        let mut check = FolderCheck {
            folder: display,
            dst,
            source_messages: want.len() as u64,
            destination_missing: got.is_none(),
            ..Default::default()
        };
        compare(&mut check, &want, &got.unwrap_or_default());
        control.events.send(Event::Verified {
            folder: check.folder.clone(),
            ok: check.ok(),
        });
        report.folders.push(check);
    }
    let _ = tokio::join!(s.logout(), d.logout());
    Ok(report)
}

/// One COPY to do: the target folder, the map row of the copy already on the destination, and
/// the index of the message's placement.
type CopyJob<'a> = (&'a FolderPlan, Row, usize);

/// A message to download and append to its first folder.
#[derive(Debug, Clone)]
struct Download {
    meta: passeur_imap::MessageMeta,
    msgid: u64,
    flags: Vec<String>,
    /// The item map's source folder for this (message, label).
    item_folder: String,
    dst: String,
    display: String,
}

/// Takes batches from the queue until it is empty, on a connection pair of its own: fetches
/// each batch's bodies from All Mail, then appends them the exactly-once way, one APPEND batch
/// per destination folder. Returns what it did by destination folder.
async fn download(
    rc: &RunContext,
    src: &MailAccount,
    dst: &MailAccount,
    all_mail: &str,
    uidvalidity: u32,
    queue: Arc<Mutex<VecDeque<Vec<Download>>>>,
) -> Result<HashMap<String, AppendTally>, EngineError> {
    let mut out: HashMap<String, AppendTally> = HashMap::new();
    let next = || queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
    let Some(mut batch) = next() else {
        return Ok(out);
    };
    let (s, d) = tokio::join!(src.connect(Side::Source), dst.connect(Side::Destination));
    let (mut s, mut d) = (s?, d?);
    let now = s
        .examine(all_mail)
        .await
        .map_err(src_err("open All Mail"))?;
    if now.uidvalidity != uidvalidity {
        return Err(EngineError::imap(
            Side::Source,
            "go on copying All Mail",
            passeur_imap::Error::Closed {
                reason: Some("the folder's UIDVALIDITY changed".into()),
            },
        ));
    }
    loop {
        if rc.cancel.is_cancelled() {
            break;
        }
        let uids: Vec<u32> = batch.iter().map(|m| m.meta.uid).collect();
        s.start_fetch_bodies(&uids)
            .await
            .map_err(src_err("fetch messages"))?;
        let mut bodies: HashMap<u32, Bytes> = HashMap::with_capacity(uids.len());
        while let Some(b) = s.next_body().await.map_err(src_err("fetch messages"))? {
            bodies.insert(b.uid, b.body);
        }
        let mut groups: BTreeMap<String, (String, Vec<Item>, Vec<AppendMessage>)> = BTreeMap::new();
        for m in batch.drain(..) {
            // Expunged on the source meanwhile: nothing to copy.
            let Some(body) = bodies.remove(&m.meta.uid) else {
                continue;
            };
            let size = body.len() as u64;
            let item = Item {
                kind: ContentKind::Mail,
                src_folder: m.item_folder,
                src_key: item_key(m.msgid),
                src_uidvalidity: Some(uidvalidity),
                src_uid: Some(m.meta.uid),
                fingerprint: fingerprint(
                    message_id(&body).as_deref(),
                    m.meta.internal_date.as_deref(),
                    size,
                ),
                dst_folder: m.dst.clone(),
                dst_uidvalidity: None,
                dst_uid: None,
                dst_key: None,
                pass: rc.pass,
                size,
                flags: m.flags.join(" "),
                etag: None,
                pending: true,
            };
            let msg = AppendMessage {
                flags: m.flags,
                internal_date: m.meta.internal_date,
                body,
            };
            let g = groups
                .entry(m.dst)
                .or_insert_with(|| (m.display, Vec::new(), Vec::new()));
            g.1.push(item);
            g.2.push(msg);
        }
        for (folder, (display, items, msgs)) in groups {
            let ledger = Ledger {
                store: &rc.store,
                id: rc.migration,
                pass: rc.pass,
                events: &rc.events,
            };
            let tally = append_recorded(ledger, &mut d, &folder, &display, &items, msgs).await?;
            let t = out.entry(folder).or_default();
            t.copied += tally.copied;
            t.bytes += tally.bytes;
            t.failed += tally.failed;
        }
        match next() {
            Some(b) => batch = b,
            None => break,
        }
    }
    let _ = tokio::join!(s.logout(), d.logout());
    Ok(out)
}

fn dst_matches(r: &FolderReport, dst: &str, renamed: &HashMap<String, String>) -> bool {
    r.dst == dst || renamed.get(&r.dst).is_some_and(|n| n == dst)
}

/// Where messages with no label go.
fn archive_plan(rules: &FolderRules, dst: &Layout, all_mail: &str) -> FolderPlan {
    let path: Vec<String> = match &rules.gmail_archive {
        Some(name) => name.split('/').map(str::to_owned).collect(),
        None => dst
            .role_path("\\Archive")
            .unwrap_or_else(|| vec![DEFAULT_ARCHIVE.to_owned()]),
    };
    let wire = dst.wire(&path);
    FolderPlan {
        src: all_mail.to_owned(),
        dst_exists: dst
            .folders
            .iter()
            .any(|f| f.name == wire && f.is_selectable()),
        dst: wire,
        display: path.join("/"),
        subscribed: true,
        role: Some("\\Archive"),
    }
}

/// Matches the pending Gmail items against the destination, folder by folder: the APPENDs and
/// COPYs that landed are confirmed, the others dropped (they are done again).
async fn reconcile(rc: &RunContext, d: &mut Client, chunk: usize) -> Result<(), EngineError> {
    let folders = rc
        .store
        .pending_dst_folders(rc.migration, ITEM_FOLDER_PREFIX)
        .await?;
    for folder in &folders {
        let scope = MailScope::Into {
            dst_folder: folder,
            src_prefix: ITEM_FOLDER_PREFIX,
        };
        settle(d, folder).await?;
        let st = match d.select(folder).await {
            Ok(st) => st,
            // The folder was never created: nothing reached it.
            Err(passeur_imap::Error::No { .. }) => {
                rc.store
                    .delete_unmatched(rc.migration, scope, 0, false)
                    .await?;
                continue;
            }
            Err(e) => return Err(dst_err("open a folder")(e)),
        };
        // Appends and copies into one folder run side by side: a pending item can sit below
        // one confirmed later, so the match starts below the first UID not confirmed.
        let after = reconcile_from(&rc.store, rc.migration, scope, st.uidvalidity, chunk).await?;
        rematch_destination(&rc.store, rc.migration, d, &st, scope, after, chunk).await?;
    }
    Ok(())
}

/// Copies messages from one destination folder into another with `UID COPY`, recorded pending
/// before and confirmed from COPYUID after, 500 at a time (the rows copied from are read whole
/// for each 500 only). Returns (copied, failed).
async fn copy_between(
    rc: &RunContext,
    d: &mut Client,
    (from, to): (&str, &str),
    list: &[CopyJob<'_>],
    known: &Known,
    placements: &[Placement<'_>],
) -> Result<(u64, u64), EngineError> {
    let (store, id, pass) = (&rc.store, rc.migration, rc.pass);
    let st = d.select(from).await.map_err(dst_err("open a folder"))?;
    // Copies whose first copy is no longer where the map says are left to a later pass.
    let usable: Vec<&CopyJob> = list
        .iter()
        .filter(|(_, i, _)| i.dst_uidvalidity == Some(st.uidvalidity))
        .collect();
    let (mut copied, mut failed) = (0u64, 0u64);
    for chunk in usable.chunks(500) {
        let rows: Vec<Row> = chunk.iter().map(|(_, r, _)| *r).collect();
        let sources = rows_in_full(store, id, known, &rows).await?;
        // A row gone since the map was read (nothing else writes it during the pass): its
        // message is left to a later pass.
        let chunk: Vec<(&CopyJob, &Item)> = chunk
            .iter()
            .filter_map(|job| {
                let (_, r, _) = job;
                let key = (known.name(r.src_folder), r.msgid);
                sources.get(&key).map(|item| (*job, item))
            })
            .collect();
        if chunk.is_empty() {
            continue;
        }
        let pending: Vec<Item> = chunk
            .iter()
            .map(|((t, _, n), from_item)| Item {
                kind: ContentKind::Mail,
                src_folder: item_folder(t),
                src_key: from_item.src_key.clone(),
                src_uidvalidity: from_item.src_uidvalidity,
                src_uid: from_item.src_uid,
                fingerprint: from_item.fingerprint.clone(),
                dst_folder: to.to_owned(),
                dst_uidvalidity: None,
                dst_uid: None,
                dst_key: None,
                pass,
                size: from_item.size,
                flags: placements[*n].flags.join(" "),
                etag: None,
                pending: true,
            })
            .collect();
        store.insert_pending(id, &pending).await?;
        let mut uids: Vec<u32> = chunk.iter().filter_map(|(_, i)| i.dst_uid).collect();
        uids.sort_unstable();
        let outcome = match d.uid_copy(&uid_set(&uids), to).await {
            Ok(o) => o,
            Err(e @ (passeur_imap::Error::No { .. } | passeur_imap::Error::Bad { .. })) => {
                let reason = format!("the destination refused to copy it into {to:?}: {e}");
                failed += not_copied(store, id, pass, pending.iter(), &reason).await?;
                continue;
            }
            Err(e) => return Err(dst_err("copy messages")(e)),
        };
        // The rows confirmed, by (source folder, key).
        let mut confirmed: HashSet<(String, String)> = HashSet::new();
        if outcome.uids.is_empty() {
            // No COPYUID (a server without UIDPLUS, or nothing copied): find the copies by
            // fingerprint, as after a crash, then read back the rows of this chunk.
            let to_st = d.select(to).await.map_err(dst_err("open a folder"))?;
            let scope = MailScope::Into {
                dst_folder: to,
                src_prefix: ITEM_FOLDER_PREFIX,
            };
            let chunk = Limits::default().reconcile_chunk;
            rematch_destination(store, id, d, &to_st, scope, 0, chunk).await?;
            d.select(from).await.map_err(dst_err("open a folder"))?;
            let mut by_folder: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for p in &pending {
                by_folder
                    .entry(p.src_folder.as_str())
                    .or_default()
                    .push(p.src_key.clone());
            }
            for (folder, keys) in by_folder {
                confirmed.extend(
                    store
                        .items_by_keys(id, folder, &keys)
                        .await?
                        .into_iter()
                        .filter(|i| !i.pending && i.dst_folder == to)
                        .map(|i| (i.src_folder, i.src_key)),
                );
            }
        } else {
            let new_uid: HashMap<u32, u32> = outcome.uids.iter().copied().collect();
            let completions: Vec<Completion> = chunk
                .iter()
                .zip(&pending)
                .filter_map(|((_, from_item), p)| {
                    let uid = new_uid.get(&from_item.dst_uid?)?;
                    Some(Completion {
                        kind: ContentKind::Mail,
                        src_folder: &p.src_folder,
                        src_key: &p.src_key,
                        dst_uidvalidity: outcome.uidvalidity,
                        dst_uid: Some(*uid),
                        dst_key: None,
                    })
                })
                .collect();
            store.complete(id, &completions).await?;
            confirmed.extend(
                completions
                    .iter()
                    .map(|c| (c.src_folder.to_owned(), c.src_key.to_owned())),
            );
        }
        let done = pending
            .iter()
            .filter(|p| confirmed.contains(&(p.src_folder.clone(), p.src_key.clone())))
            .count() as u64;
        // A copy the destination did not make: the message it was to be copied from is gone
        // from the destination folder (deleted there). Its row goes and the failure is
        // recorded: `purge` and a new migration (`--new`) are the ways to place it again.
        let lost: Vec<&Item> = pending
            .iter()
            .filter(|p| !confirmed.contains(&(p.src_folder.clone(), p.src_key.clone())))
            .collect();
        if !lost.is_empty() {
            let reason = format!(
                "not copied into {to:?}: its copy in {from:?} is no longer on the destination"
            );
            failed += not_copied(store, id, pass, lost.iter().copied(), &reason).await?;
        }
        copied += done;
        rc.events.send(Event::Copied {
            folder: to.to_owned(),
            messages: done,
            bytes: 0,
        });
    }
    Ok((copied, failed))
}

/// The rows of the map behind these [`Row`]s, read whole, by (source folder, message).
async fn rows_in_full<'k>(
    store: &Store,
    id: MigrationId,
    known: &'k Known,
    rows: &[Row],
) -> Result<HashMap<(&'k str, u64), Item>, EngineError> {
    let mut by_folder: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in rows {
        by_folder
            .entry(known.name(r.src_folder))
            .or_default()
            .push(item_key(r.msgid));
    }
    let mut out = HashMap::with_capacity(rows.len());
    for (folder, keys) in by_folder {
        for i in store.items_by_keys(id, folder, &keys).await? {
            if let Some(msgid) = i.src_key.strip_prefix("gm:").and_then(|n| n.parse().ok()) {
                out.insert((folder, msgid), i);
            }
        }
    }
    Ok(out)
}

/// Drops the pending rows of label copies that did not land and records them as not migrated
/// with `reason`; the number of them.
async fn not_copied<'a>(
    store: &Store,
    id: MigrationId,
    pass: u32,
    items: impl Iterator<Item = &'a Item>,
    reason: &str,
) -> Result<u64, EngineError> {
    let items: Vec<&Item> = items.collect();
    let keys: Vec<_> = items.iter().map(|i| i.key()).collect();
    store.delete_items(id, &keys).await?;
    let failures: Vec<Failure> = items
        .iter()
        .map(|i| Failure {
            pass,
            kind: ContentKind::Mail,
            folder: i.src_folder.clone(),
            src_key: i.src_key.clone(),
            size: Some(i.size),
            reason: reason.to_string(),
        })
        .collect();
    store.record_failures(id, &failures).await?;
    Ok(items.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use passeur_imap::MessageMeta;

    #[test]
    fn starred_and_important_become_flags() {
        let g = GmailMeta {
            meta: MessageMeta {
                uid: 1,
                flags: vec!["\\Seen".into()],
                ..Default::default()
            },
            msgid: 7,
            labels: vec!["\\Starred".into(), "\\Important".into(), "Work".into()],
        };
        assert_eq!(gmail_flags(&g), vec!["$Important", "\\Flagged", "\\Seen"]);
    }

    #[test]
    fn labels_lead_to_source_folders() {
        let entry = |name: &str, attrs: &[&str]| ListEntry {
            name: name.into(),
            delimiter: Some('/'),
            attributes: attrs.iter().map(|a| (*a).to_owned()).collect(),
            subscribed: true,
        };
        let src = Layout::new(
            String::new(),
            Some('/'),
            vec![
                entry("INBOX", &[]),
                entry("[Gmail]/Sent Mail", &["\\Sent"]),
                entry("[Gmail]/Drafts", &["\\Drafts"]),
            ],
        );
        assert_eq!(label_folder("\\Inbox", &src).as_deref(), Some("INBOX"));
        assert_eq!(
            label_folder("\\Sent", &src).as_deref(),
            Some("[Gmail]/Sent Mail")
        );
        assert_eq!(
            label_folder("\\Draft", &src).as_deref(),
            Some("[Gmail]/Drafts")
        );
        assert_eq!(label_folder("\\Starred", &src), None);
        assert_eq!(label_folder("\\Important", &src), None);
        assert_eq!(
            label_folder("Work/2024", &src).as_deref(),
            Some("Work/2024")
        );
        assert_eq!(
            label_folder("R&AOk-sum&AOk-", &src).as_deref(),
            Some("R&AOk-sum&AOk-")
        );
        assert_eq!(
            label_folder("Résumé", &src).as_deref(),
            Some("R&AOk-sum&AOk-")
        );
    }
}
