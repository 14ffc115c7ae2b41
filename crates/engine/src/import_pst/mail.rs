//! The mail side of a PST import: destination folders, batches appended exactly once, and
//! their reconciliation after a dropped connection.

use std::collections::HashSet;

use bytes::Bytes;
use passeur_imap::{AppendMessage, Client};
use passeur_pst::PstFolder;
use passeur_store::{Item, MailScope, Store};
use passeur_types::{ContentKind, MigrationId};

use super::{Ctx, FolderRun, Work, backoff, destination_path};
use crate::error::InternalError;
use crate::folders::Layout;
use crate::mail::{Ledger, append_recorded, reconcile_from, rematch_destination, settle};
use crate::message::{fingerprint, message_id};
use crate::{EngineError, Event, MailAccount, Side};

/// Mail waiting to be appended.
pub(super) struct PendingMail {
    pub(super) node_id: u32,
    pub(super) mime: Bytes,
    pub(super) flags: Vec<String>,
    pub(super) internal_date: String,
}

/// The destination folder of a PST mail folder, created and subscribed when missing (an empty
/// PST folder too); mail an interrupted run left pending there is reconciled (what landed is
/// added to `known`). Safe to repeat after a dropped connection.
pub(super) async fn prepare_mail_folder(
    store: &Store,
    id: MigrationId,
    sink: &mut MailSink<'_>,
    folder: &PstFolder,
    all: &[PstFolder],
    path: &str,
    known: &mut HashSet<u32>,
) -> Result<String, EngineError> {
    let (d, l) = sink.parts().await?;
    let wire = l.wire(&destination_path(folder, all, l));
    let entry = l.folders.iter().position(|f| {
        f.name == wire
            || (f.name.eq_ignore_ascii_case("INBOX") && wire.eq_ignore_ascii_case("INBOX"))
    });
    let subscribed = entry.is_some_and(|i| l.folders[i].subscribed);
    if entry.is_none() {
        // A folder created by an attempt whose reply was lost is no error (see `create`).
        d.create(&wire)
            .await
            .map_err(|e| EngineError::imap(Side::Destination, "create a folder", e))?;
        l.folders.push(passeur_imap::ListEntry {
            name: wire.clone(),
            delimiter: l.delimiter,
            attributes: Vec::new(),
            subscribed: false,
        });
    }
    if !subscribed {
        d.subscribe(&wire)
            .await
            .map_err(|e| EngineError::imap(Side::Destination, "subscribe a folder", e))?;
        if let Some(f) = l.folders.iter_mut().find(|f| f.name == wire) {
            f.subscribed = true;
        }
    }
    // An interrupted run left mail pending: find out what reached the server.
    if store.has_pending(id, ContentKind::Mail, path).await? {
        reconcile(store, id, d, &wire, path, known).await?;
    }
    Ok(wire)
}

/// Settles and matches the pending mail of the PST folder `path` against the destination
/// folder `wire`; what is found there is confirmed (and added to `known`), the rest is dropped
/// from the map to be sent again.
async fn reconcile(
    store: &Store,
    id: MigrationId,
    d: &mut Client,
    wire: &str,
    path: &str,
    known: &mut HashSet<u32>,
) -> Result<(), EngineError> {
    settle(d, wire).await?;
    let st = d
        .select(wire)
        .await
        .map_err(|e| EngineError::imap(Side::Destination, "open a folder", e))?;
    let scope = MailScope::Folder(path);
    let chunk = crate::Limits::default().reconcile_chunk;
    let after = reconcile_from(store, id, scope, st.uidvalidity, chunk).await?;
    rematch_destination(store, id, d, &st, scope, after, chunk).await?;
    known.extend(
        store
            .confirmed_keys(id, ContentKind::Mail, path)
            .await?
            .iter()
            .filter_map(|k| k.parse::<u32>().ok()),
    );
    Ok(())
}

/// The destination of the mail: its account, layout and (while it holds) connection.
pub(super) struct MailSink<'a> {
    pub(super) acc: &'a MailAccount,
    pub(super) client: Option<Client>,
    pub(super) layout: Layout,
}

impl MailSink<'_> {
    /// The connection (opened again after a drop) and the layout.
    async fn parts(&mut self) -> Result<(&mut Client, &mut Layout), EngineError> {
        if self.client.is_none() {
            self.client = Some(self.acc.connect(Side::Destination).await?);
        }
        match self.client.as_mut() {
            Some(c) => Ok((c, &mut self.layout)),
            None => Err(InternalError::NoDestinationConnection.into()),
        }
    }
}

/// Times a mail batch is retried after a dropped connection, with backoff.
pub(super) const MAIL_RETRIES: u32 = 6;

/// Appends the mail waiting in `run`, recording it pending first and complete after. A dropped
/// connection is opened again (with backoff) and the batch's pending entries are reconciled
/// with what reached the destination before the rest is sent again.
pub(super) async fn flush_mail(
    ctx: &Ctx<'_>,
    w: &Work,
    run: &mut FolderRun,
    sink: Option<&mut MailSink<'_>>,
) -> Result<(), EngineError> {
    let mut batch = std::mem::take(&mut run.mail);
    run.mail_bytes = 0;
    let (Some(sink), Some(wire)) = (sink, w.mail_dst.as_deref()) else {
        return Ok(());
    };
    let mut attempt = 0;
    loop {
        if batch.is_empty() {
            return Ok(());
        }
        let result = append_mail(ctx, w, wire, sink, &mut batch, run).await;
        match result {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retryable() && attempt < MAIL_RETRIES => {
                attempt += 1;
                sink.client = None;
                ctx.events.send(Event::Retrying {
                    folder: w.path.clone(),
                    attempt,
                    reason: e.to_string(),
                });
                tracing::warn!(folder = %w.path, attempt, error = %e, "retrying a mail batch");
                // Stopped while waiting: the batch is left for the next pass (the pending
                // entries of the failed attempt are reconciled then).
                tokio::select! {
                    _ = tokio::time::sleep(backoff(attempt)) => {}
                    _ = ctx.cancel.cancelled() => return Ok(()),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// One attempt at a mail batch. On a fresh connection, pending entries left by a failed
/// attempt are first matched against the destination: what landed counts as copied and
/// leaves `batch`.
async fn append_mail(
    ctx: &Ctx<'_>,
    w: &Work,
    wire: &str,
    sink: &mut MailSink<'_>,
    batch: &mut Vec<PendingMail>,
    run: &mut FolderRun,
) -> Result<(), EngineError> {
    let fresh = sink.client.is_none();
    let (d, _) = sink.parts().await?;
    if fresh
        && ctx
            .store
            .has_pending(ctx.id, ContentKind::Mail, &w.path)
            .await?
    {
        let mut known = HashSet::new();
        reconcile(ctx.store, ctx.id, d, wire, &w.path, &mut known).await?;
        batch.retain(|m| {
            let landed = known.contains(&m.node_id);
            if landed {
                run.report.copied += 1;
                run.report.bytes += m.mime.len() as u64;
            }
            !landed
        });
        if batch.is_empty() {
            return Ok(());
        }
    }
    let items: Vec<Item> = batch
        .iter()
        .map(|m| Item {
            kind: ContentKind::Mail,
            src_folder: w.path.clone(),
            src_key: m.node_id.to_string(),
            src_uidvalidity: None,
            src_uid: None,
            fingerprint: fingerprint(
                message_id(&m.mime).as_deref(),
                Some(&m.internal_date),
                m.mime.len() as u64,
            ),
            dst_folder: wire.to_owned(),
            dst_uidvalidity: None,
            dst_uid: None,
            dst_key: None,
            pass: ctx.pass,
            size: m.mime.len() as u64,
            flags: m.flags.join(" "),
            etag: None,
            pending: true,
        })
        .collect();
    let msgs: Vec<AppendMessage> = batch
        .iter()
        .map(|m| AppendMessage {
            flags: m.flags.clone(),
            internal_date: Some(m.internal_date.clone()),
            body: m.mime.clone(),
        })
        .collect();
    let ledger = Ledger {
        store: ctx.store,
        id: ctx.id,
        pass: ctx.pass,
        events: ctx.events,
    };
    let tally = append_recorded(ledger, d, wire, &w.path, &items, msgs).await?;
    batch.clear();
    run.report.copied += tally.copied;
    run.report.bytes += tally.bytes;
    run.report.failed += tally.failed;
    Ok(())
}
