//! One exactly-once pass from a POP3 mailbox into an IMAP folder.
//!
//! A POP3 mailbox is one folder with no flags and no dates; its messages are known by their
//! unique-id (UIDL), which is the item map's key: `kind` mail, `src_folder` [`POP3_FOLDER`],
//! `src_key` the unique-id. Each batch goes through the shared append-and-record step (pending,
//! APPEND, confirmed with the destination UID), so re-runs copy only new messages, an
//! interrupted run's pending rows are reconciled against the destination by fingerprint before
//! anything is sent again, and what a purge removed stays away.
//!
//! INTERNALDATE: POP3 has none. The message's `Date:` header is used when it parses, else the
//! time of the copy. The same string is fingerprinted, so a copy is recognised after a crash.
//!
//! The source is never changed: the POP3 client has no DELE. A server without UIDL is refused.
//! Messages come with RETR, pipelined when the server offers PIPELINING; each goes whole into
//! the APPEND, batches are bounded by message count and bytes.

use std::collections::HashSet;

use bytes::Bytes;
use passeur_imap::{AppendMessage, Client};
use passeur_pop3::{Client as Pop3Client, ConnectConfig};
use passeur_store::{Item, MailScope, PassCounters, Store};
use passeur_types::{ContentKind, MigrationId, Protocol};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ConfigError;
use crate::import_pst::internal_date_now;
use crate::mail::{Ledger, append_recorded, reconcile_from, rematch_destination, settle};
use crate::message::parse_internal_date;
use crate::message::{fingerprint, message_id};
use crate::verify::{FolderCheck, Seen, VerifyReport, compare, read_folder};
use crate::{
    Control, EngineError, Event, EventSink, FolderReport, ItemRef, MailAccount, PassReport,
    RunContext, Side,
};

/// `src_folder` of POP3 messages in the item map.
pub const POP3_FOLDER: &str = "POP3";

/// Unique-ids of the listing looked up in the item map at a time.
const KNOWN_CHUNK: usize = 2000;

/// Knobs of a POP3 pass.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pop3Options {
    /// Destination folder (IMAP wire name), created when missing.
    pub folder: String,
    /// Messages per RETR pipeline / MULTIAPPEND batch.
    pub batch_messages: usize,
    /// Message bytes per batch (a larger single message goes alone).
    pub batch_bytes: usize,
    /// Largest message copied (a larger one is recorded as failed).
    pub max_message: usize,
    /// Times the pass starts again after a dropped connection.
    pub retries: u32,
    /// List what would be copied, copy nothing.
    pub dry_run: bool,
    /// Send RETRs one at a time even when the server offers PIPELINING.
    pub no_pipelining: bool,
}

impl Default for Pop3Options {
    fn default() -> Self {
        Pop3Options {
            folder: "INBOX".into(),
            batch_messages: 100,
            batch_bytes: 6 << 20,
            max_message: 256 << 20,
            retries: 6,
            dry_run: false,
            no_pipelining: false,
        }
    }
}

/// What a POP3 pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Pop3Report {
    /// The pass number (0 for a dry run).
    pub pass: u32,
    /// Destination folder.
    pub folder: String,
    /// Messages in the POP3 mailbox.
    pub source_messages: u64,
    /// Copied by an earlier pass (or removed by a purge).
    pub known: u64,
    /// Missing on the destination at the start of the pass.
    pub to_copy: u64,
    /// Bytes of the messages to copy.
    pub to_copy_bytes: u64,
    /// Messages copied by this pass.
    pub copied: u64,
    /// Bytes copied by this pass.
    pub bytes: u64,
    /// Messages that could not be copied.
    pub failed: u64,
    /// The same counts in the store's shape.
    #[serde(skip)]
    pub counters: PassCounters,
    /// Stopped before the end: what was copied stays recorded.
    pub cancelled: bool,
    /// True when nothing was copied or recorded (the plan only).
    pub dry_run: bool,
}

impl Pop3Report {
    /// Everything that should have been copied was.
    pub fn complete(&self) -> bool {
        !self.cancelled && self.failed == 0
    }

    /// The same as a mail pass's report: one folder, the POP3 mailbox, shown as [`POP3_FOLDER`].
    pub fn to_pass_report(&self) -> PassReport {
        PassReport {
            pass: self.pass,
            folders: vec![FolderReport {
                folder: POP3_FOLDER.into(),
                dst: self.folder.clone(),
                source_messages: self.source_messages,
                to_copy: self.to_copy,
                to_copy_bytes: self.to_copy_bytes,
                copied: self.copied,
                bytes: self.bytes,
                flags_updated: 0,
                failed: self.failed,
                unchanged: false,
                delta: false,
                parts: 0,
                error: None,
            }],
            counters: self.counters,
            cancelled: self.cancelled,
            dry_run: self.dry_run,
            notes: Vec::new(),
        }
    }
}

/// Runs one pass of the migration in `rc` (already begun in the store as pass `rc.pass`; 0
/// for a dry run): the POP3 mailbox of `src` (an endpoint with [`Protocol::Pop3`]; `src.admin`
/// logs in for the user with SASL PLAIN) into `opts.folder` of the IMAP account `dst`.
pub async fn run_pop3_pass(
    rc: &RunContext,
    src: &MailAccount,
    dst: &MailAccount,
    opts: &Pop3Options,
) -> Result<Pop3Report, EngineError> {
    let (store, id, pass, events, cancel) =
        (&rc.store, rc.migration, rc.pass, &rc.events, &rc.cancel);
    if src.endpoint.protocol != Protocol::Pop3 {
        return Err(ConfigError::NotPop3Source.into());
    }
    let mut report = Pop3Report {
        pass,
        folder: opts.folder.clone(),
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let mut attempt = 0;
    let mut planned = false;
    loop {
        match attempt_pass(rc, src, dst, opts, &mut report, &mut planned).await {
            Ok(()) => break,
            Err(e) if e.is_retryable() && attempt < opts.retries => {
                attempt += 1;
                events.send(Event::Retrying {
                    folder: POP3_FOLDER.into(),
                    attempt,
                    reason: e.to_string(),
                });
                tracing::warn!(attempt, error = %e, "retrying the POP3 pass");
                tokio::select! {
                    _ = tokio::time::sleep(backoff(attempt)) => {}
                    _ = cancel.cancelled() => break,
                }
            }
            Err(e) => return Err(e),
        }
    }
    report.counters = PassCounters {
        copied: report.copied,
        bytes: report.bytes,
        flags_updated: 0,
        failed: report.failed,
    };
    if !opts.dry_run {
        store.update_pass(id, pass, report.counters, None).await?;
    }
    report.cancelled = cancel.is_cancelled();
    Ok(report)
}

fn backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(250 << attempt.clamp(1, 5))
}

fn pop3_err(action: &'static str) -> impl FnOnce(passeur_pop3::Error) -> EngineError {
    move |source| EngineError::Pop3 {
        side: Side::Source,
        action,
        source,
    }
}

/// Connects to the POP3 source and logs in.
pub async fn connect_pop3(
    src: &MailAccount,
    no_pipelining: bool,
) -> Result<Pop3Client, EngineError> {
    src.check_plaintext(Side::Source)?;
    let cfg = ConnectConfig {
        host: src.endpoint.host.clone(),
        port: src.endpoint.port,
        security: src.endpoint.security,
        insecure_tls: src.insecure_tls,
        connect_timeout: std::time::Duration::from_secs(20),
        io_timeout: src.io_timeout,
        quirk_no_pipelining: no_pipelining,
        address_policy: src.address_policy,
    };
    let mut c = Pop3Client::connect(&cfg)
        .await
        .map_err(pop3_err("connect"))?;
    if let Some(ts) = src.oauth_source(Side::Source)? {
        let login = src.endpoint.login.as_str();
        let side = Side::Source;
        let token = ts
            .access_token()
            .await
            .map_err(|e| EngineError::oauth(side, e))?;
        match c.authenticate_oauth(login, token.expose()).await {
            Ok(()) => {}
            Err(passeur_pop3::Error::Auth { text }) => {
                tracing::info!(%side, reason = %text, "OAuth 2.0 token refused; renewing it");
                let fresh = ts
                    .renew(&token)
                    .await
                    .map_err(|e| EngineError::oauth(side, e))?;
                // A POP3 server may end the session after a failed AUTH: log in on a new one.
                let _ = c.quit().await;
                c = Pop3Client::connect(&cfg)
                    .await
                    .map_err(pop3_err("connect"))?;
                c.authenticate_oauth(login, fresh.expose())
                    .await
                    .map_err(pop3_err("log in"))?;
            }
            Err(e) => return Err(pop3_err("log in")(e)),
        }
        return Ok(c);
    }
    let (authzid, authcid) = match &src.admin {
        Some(admin) => (Some(src.endpoint.login.as_str()), admin.as_str()),
        None => (None, src.endpoint.login.as_str()),
    };
    c.authenticate(authzid, authcid, &src.password)
        .await
        .map_err(pop3_err("log in"))?;
    Ok(c)
}

/// The mailbox's messages as (number, unique-id, size); refused without UIDL or with a
/// unique-id given twice (exactly-once rests on them).
async fn listing(c: &mut Pop3Client) -> Result<Vec<(u32, String, u64)>, EngineError> {
    let uidl = match c.uidl().await {
        Ok(u) => u,
        Err(passeur_pop3::Error::Unsupported(_)) => {
            return Err(ConfigError::Pop3WithoutUidl.into());
        }
        Err(e) => return Err(pop3_err("list message unique-ids")(e)),
    };
    let sizes: std::collections::HashMap<u32, u64> = c
        .list()
        .await
        .map_err(pop3_err("list messages"))?
        .into_iter()
        .collect();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(uidl.len());
    for (n, uid) in uidl {
        if !seen.insert(uid.clone()) {
            return Err(ConfigError::Pop3DuplicateUid { uid }.into());
        }
        out.push((n, uid, sizes.get(&n).copied().unwrap_or(0)));
    }
    Ok(out)
}

async fn attempt_pass(
    rc: &RunContext,
    src: &MailAccount,
    dst: &MailAccount,
    opts: &Pop3Options,
    report: &mut Pop3Report,
    planned: &mut bool,
) -> Result<(), EngineError> {
    let (store, id, events, cancel) = (&rc.store, rc.migration, &rc.events, &rc.cancel);
    let mut s = connect_pop3(src, opts.no_pipelining).await?;
    let messages = listing(&mut s).await?;
    let mut d = dst.connect(Side::Destination).await?;
    let folder = opts.folder.as_str();
    if !opts.dry_run && !folder.eq_ignore_ascii_case("INBOX") {
        // CREATE of an existing folder is no error (see `Client::create`).
        d.create(folder)
            .await
            .map_err(|e| EngineError::imap(Side::Destination, "create a folder", e))?;
        d.subscribe(folder)
            .await
            .map_err(|e| EngineError::imap(Side::Destination, "subscribe a folder", e))?;
    }

    // What an interrupted run left pending: find out what reached the destination.
    if !opts.dry_run
        && store
            .has_pending(id, ContentKind::Mail, POP3_FOLDER)
            .await?
    {
        reconcile(store, id, &mut d, folder).await?;
    }
    // The messages not copied yet (nor removed by a purge): the listing is looked up in the
    // map a chunk of unique-ids at a time, so that only the listing is held whole.
    let mut todo: Vec<&(u32, String, u64)> = Vec::new();
    for chunk in messages.chunks(KNOWN_CHUNK) {
        let keys: Vec<&str> = chunk.iter().map(|(_, uid, _)| uid.as_str()).collect();
        let known = store
            .known_among(id, ContentKind::Mail, POP3_FOLDER, &keys)
            .await?;
        todo.extend(chunk.iter().filter(|(_, uid, _)| !known.contains(uid)));
    }
    if !*planned {
        *planned = true;
        report.source_messages = messages.len() as u64;
        report.known = (messages.len() - todo.len()) as u64;
        report.to_copy = todo.len() as u64;
        report.to_copy_bytes = todo.iter().map(|m| m.2).sum();
        events.send(Event::Planned {
            folders: 1,
            messages: report.source_messages,
            known: report.known,
        });
        events.send(Event::FolderScanned {
            folder: POP3_FOLDER.into(),
            to_copy: report.to_copy,
            bytes: report.to_copy_bytes,
        });
    }
    if opts.dry_run {
        let _ = s.quit().await;
        let _ = d.logout().await;
        return Ok(());
    }

    // The next batch is read from the POP3 server while the current one is appended: the two
    // servers work at once, with at most three batches in memory (one being read, one
    // waiting, one being appended).
    let plan = batches(&todo, opts.batch_messages, opts.batch_bytes);
    type Read = Result<Vec<(u32, Result<Vec<u8>, String>)>, EngineError>;
    let (tx, rx) = tokio::sync::mpsc::channel::<(usize, Read)>(1);
    let reader = {
        let (s, plan) = (&mut s, &plan);
        async move {
            for (i, batch) in plan.iter().enumerate() {
                if cancel.is_cancelled() {
                    break;
                }
                let ns: Vec<u32> = batch.iter().map(|m| m.0).collect();
                let r = s
                    .retr_many(&ns, opts.max_message)
                    .await
                    .map_err(pop3_err("read messages"));
                let failed = r.is_err();
                if tx.send((i, r)).await.is_err() || failed {
                    break;
                }
            }
        }
    };
    let writer = async {
        // Owned here, so that a writer that stops early closes the channel and the reader
        // stops too.
        let mut rx = rx;
        while let Some((i, bodies)) = rx.recv().await {
            if cancel.is_cancelled() {
                break;
            }
            let (batch, bodies) = (&plan[i], bodies?);
            let mut items = Vec::with_capacity(bodies.len());
            let mut msgs = Vec::with_capacity(bodies.len());
            for ((_, uid, _), (_, body)) in batch.iter().zip(bodies) {
                let body = match body {
                    Ok(b) => Bytes::from(b),
                    Err(text) => {
                        record_failure(store, id, report, events, uid, &text).await?;
                        continue;
                    }
                };
                let date = date_header(&body).unwrap_or_else(internal_date_now);
                items.push(Item {
                    kind: ContentKind::Mail,
                    src_folder: POP3_FOLDER.into(),
                    src_key: uid.clone(),
                    src_uidvalidity: None,
                    src_uid: None,
                    fingerprint: fingerprint(
                        message_id(&body).as_deref(),
                        Some(&date),
                        body.len() as u64,
                    ),
                    dst_folder: folder.to_owned(),
                    dst_uidvalidity: None,
                    dst_uid: None,
                    etag: None,
                    dst_key: None,
                    pass: report.pass,
                    size: body.len() as u64,
                    flags: String::new(),
                    pending: true,
                });
                msgs.push(AppendMessage {
                    flags: Vec::new(),
                    internal_date: Some(date),
                    body,
                });
            }
            if msgs.is_empty() {
                continue;
            }
            let ledger = Ledger {
                store,
                id,
                pass: report.pass,
                events,
            };
            let tally = append_recorded(ledger, &mut d, folder, POP3_FOLDER, &items, msgs).await?;
            report.copied += tally.copied;
            report.bytes += tally.bytes;
            report.failed += tally.failed;
            store
                .update_pass(
                    id,
                    report.pass,
                    PassCounters {
                        copied: report.copied,
                        bytes: report.bytes,
                        flags_updated: 0,
                        failed: report.failed,
                    },
                    None,
                )
                .await?;
        }
        Ok::<(), EngineError>(())
    };
    let ((), written) = tokio::join!(reader, writer);
    written?;
    let _ = s.quit().await;
    let _ = d.logout().await;
    Ok(())
}

async fn record_failure(
    store: &Store,
    id: MigrationId,
    report: &mut Pop3Report,
    events: &EventSink,
    uid: &str,
    text: &str,
) -> Result<(), EngineError> {
    let reason = format!("the POP3 server refused to give it: {text}");
    report.failed += 1;
    store
        .record_failures(
            id,
            &[passeur_store::Failure {
                pass: report.pass,
                kind: ContentKind::Mail,
                folder: POP3_FOLDER.into(),
                src_key: uid.to_owned(),
                size: None,
                reason: reason.clone(),
            }],
        )
        .await?;
    events.send(Event::EntryFailed {
        folder: POP3_FOLDER.into(),
        item: ItemRef::Uidl(uid.to_owned()),
        reason,
    });
    Ok(())
}

/// Settles and matches pending POP3 items against the destination folder: what landed is
/// confirmed, the rest is dropped from the map to be sent again.
async fn reconcile(
    store: &Store,
    id: MigrationId,
    d: &mut Client,
    folder: &str,
) -> Result<(), EngineError> {
    settle(d, folder).await?;
    let st = d
        .select(folder)
        .await
        .map_err(|e| EngineError::imap(Side::Destination, "open a folder", e))?;
    // Where the pending items may have landed: above the confirmed run (as for a folder).
    let scope = MailScope::Folder(POP3_FOLDER);
    let chunk = crate::Limits::default().reconcile_chunk;
    let after = reconcile_from(store, id, scope, st.uidvalidity, chunk).await?;
    rematch_destination(store, id, d, &st, scope, after, chunk).await
}

/// Compares the POP3 mailbox of `src` with `folder` of `dst`, byte for byte: every message
/// (but those a purge of migration `id` removed) must be there once. Dates are compared where
/// the message has a `Date:` header (else the copy carries the time it was made). Read-only
/// on both sides (RETR, EXAMINE).
pub async fn verify_pop3(
    store: &Store,
    id: MigrationId,
    src: &MailAccount,
    dst: &MailAccount,
    folder: &str,
    control: &Control,
) -> Result<VerifyReport, EngineError> {
    control.events.send(Event::Verifying { folders: 1 });
    let mut s = connect_pop3(src, false).await?;
    let messages = listing(&mut s).await?;
    let purged = store
        .purged_keys(id, ContentKind::Mail, POP3_FOLDER)
        .await?;
    let todo: Vec<&(u32, String, u64)> = messages
        .iter()
        .filter(|(_, uid, _)| !purged.contains(uid))
        .collect();
    let mut a = Vec::with_capacity(todo.len());
    for batch in batches(&todo, 100, 8 << 20) {
        if control.cancel.is_cancelled() {
            let _ = s.quit().await;
            return Ok(VerifyReport {
                cancelled: true,
                ..Default::default()
            });
        }
        let ns: Vec<u32> = batch.iter().map(|m| m.0).collect();
        for (n, body) in s
            .retr_many(&ns, usize::MAX)
            .await
            .map_err(pop3_err("read messages"))?
        {
            let body = body.map_err(|text| {
                pop3_err("verify")(passeur_pop3::Error::Server {
                    command: format!("read message {n}"),
                    text,
                })
            })?;
            a.push(Seen {
                hash: Sha256::digest(&body).into(),
                flags: String::new(),
                date: date_header(&body).as_deref().and_then(parse_internal_date),
            });
        }
    }
    let _ = s.quit().await;
    let mut d = dst.connect(Side::Destination).await?;
    let b = read_folder(&mut d, folder, Side::Destination, &HashSet::new()).await?;
    let _ = d.logout().await;
    let mut check = FolderCheck {
        folder: POP3_FOLDER.into(),
        dst: folder.to_owned(),
        source_messages: a.len() as u64,
        destination_missing: b.is_none(),
        ..Default::default()
    };
    compare(&mut check, &a, &b.unwrap_or_default());
    control.events.send(Event::Verified {
        folder: check.folder.clone(),
        ok: check.ok(),
    });
    Ok(VerifyReport {
        folders: vec![check],
        cancelled: false,
    })
}

fn batches<'a>(
    todo: &[&'a (u32, String, u64)],
    max_msgs: usize,
    max_bytes: usize,
) -> Vec<Vec<&'a (u32, String, u64)>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut bytes = 0u64;
    for m in todo {
        if !cur.is_empty() && (cur.len() >= max_msgs.max(1) || bytes + m.2 > max_bytes as u64) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += m.2;
        cur.push(*m);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The message's `Date:` header as an IMAP INTERNALDATE (`"01-Jul-2003 10:52:37 +0200"`), when
/// it parses (RFC 5322 section 3.3, with the obsolete zones and two-digit years).
pub(crate) fn date_header(raw: &[u8]) -> Option<String> {
    let value = header(raw, b"date")?;
    let value = String::from_utf8_lossy(&value).into_owned();
    // Comments such as "(CEST)" carry nothing we need.
    let mut clean = String::with_capacity(value.len());
    let mut depth = 0u32;
    for ch in value.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => clean.push(c),
            _ => {}
        }
    }
    let clean = match clean.split_once(',') {
        Some((_, rest)) => rest.to_owned(),
        None => clean,
    };
    let mut w = clean.split_ascii_whitespace();
    let day: u32 = w.next()?.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = w.next()?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))?;
    let y = w.next()?;
    let year: u32 = y.parse().ok()?;
    let year = match y.len() {
        2 if year < 50 => 2000 + year,
        2 | 3 => 1900 + year,
        4 => year,
        _ => return None,
    };
    let time = w.next()?;
    let mut t = time.split(':');
    let hh: u32 = t.next()?.parse().ok()?;
    let mm: u32 = t.next()?.parse().ok()?;
    let ss: u32 = match t.next() {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    if t.next().is_some() {
        return None;
    }
    let zone = match w.next().unwrap_or("-0000") {
        z if z.len() == 5
            && (z.starts_with('+') || z.starts_with('-'))
            && z[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            let mins: u32 = z[3..].parse().ok()?;
            if mins > 59 {
                return None;
            }
            z.to_owned()
        }
        z => match z.to_ascii_uppercase().as_str() {
            "EDT" => "-0400",
            "EST" | "CDT" => "-0500",
            "CST" | "MDT" => "-0600",
            "MST" | "PDT" => "-0700",
            "PST" => "-0800",
            // UT, GMT, Z and unknown zones (RFC 5322: "-0000", no known offset).
            _ => "+0000",
        }
        .to_owned(),
    };
    let days_in = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month];
    if !(1970..=9999).contains(&year) || day == 0 || day > days_in || hh > 23 || mm > 59 || ss > 60
    {
        return None;
    }
    Some(format!(
        "{day:02}-{}-{year:04} {hh:02}:{mm:02}:{:02} {zone}",
        MONTHS[month],
        ss.min(59)
    ))
}

/// The unfolded value of the first header `name` (lower-case) of a message.
fn header(raw: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    let mut lines = raw.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return None;
        }
        if line.len() > name.len()
            && line[..name.len()].eq_ignore_ascii_case(name)
            && line[name.len()..].trim_ascii_start().starts_with(b":")
        {
            let after = line[name.len()..].trim_ascii_start();
            let mut value = after[1..].to_vec();
            while let Some(next) = lines.peek() {
                if next.first().is_some_and(|&b| b == b' ' || b == b'\t') {
                    let next = next.strip_suffix(b"\r").unwrap_or(next);
                    value.push(b' ');
                    value.extend_from_slice(next);
                    lines.next();
                } else {
                    break;
                }
            }
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_header_becomes_the_internal_date() {
        let m = b"From: a\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200 (CEST)\r\n\r\nDate: no\r\n";
        assert_eq!(date_header(m).unwrap(), "01-Jul-2003 10:52:37 +0200");
        let folded = b"Subject: x\nDate:\n 13 Feb 99 23:31 EST\n\n";
        assert_eq!(date_header(folded).unwrap(), "13-Feb-1999 23:31:00 -0500");
        assert_eq!(
            date_header(b"Date: 5 mar 2024 00:00:00 GMT\r\n\r\n").unwrap(),
            "05-Mar-2024 00:00:00 +0000"
        );
        for bad in [
            &b"Date: yesterday\r\n\r\n"[..],
            b"Date: 32 Jan 2020 10:00 +0000\r\n\r\n",
            b"Date: 1 Jan 2020 25:00 +0000\r\n\r\n",
            b"Date: 1 Foo 2020 10:00 +0000\r\n\r\n",
            b"Subject: no date\r\n\r\n",
            b"\r\nDate: 1 Jan 2020 10:00 +0000\r\n",
            b"Date: 1 Jan 2020 10:00 +0099\r\n\r\n",
        ] {
            assert_eq!(date_header(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        let d = date_header(b"Date: Sun, 6 Nov 1994 08:49:37 -0130\r\n\r\n").unwrap();
        assert_eq!(parse_internal_date(&d), Some(784_111_777 + 5400));
    }
}
