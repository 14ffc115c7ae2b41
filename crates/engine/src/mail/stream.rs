//! Large messages, streamed from the source's FETCH into the destination's APPEND.

use bytes::Bytes;
use passeur_imap::{AppendMessage, Client, MailboxStatus, MessageMeta, StreamError};

use super::copy::{pending_item, record_appended};
use super::reconcile::message_ids;
use super::{Ctx, FolderReport, src_err};
use crate::folders::FolderPlan;
use crate::message::normalise_flags;
use crate::{EngineError, Side};

/// Copies large messages one at a time, each streamed from the source's FETCH into the
/// destination's APPEND as its bytes arrive, so that memory does not grow with their size.
pub(super) async fn stream_large(
    ctx: &Ctx,
    s: &mut Client,
    d: &mut Client,
    plan: &FolderPlan,
    st: &MailboxStatus,
    large: &[&MessageMeta],
    report: &mut FolderReport,
) -> Result<(), EngineError> {
    // The Message-IDs come from the same header fetch a later reconcile uses on the
    // destination, so a pending entry is recognised there.
    let mids = message_ids(s, large, Side::Source).await?;
    for m in large {
        if ctx.cancel.is_cancelled() {
            break;
        }
        // Expunged on the source meanwhile: nothing to copy.
        let Some(size) = s
            .open_body(m.uid)
            .await
            .map_err(src_err("fetch a message"))?
        else {
            continue;
        };
        let item = pending_item(ctx, plan, st, m, mids.get(&m.uid).map(Vec::as_slice), size);
        let msg = AppendMessage {
            flags: normalise_flags(&m.flags),
            internal_date: m.internal_date.clone(),
            body: Bytes::new(),
        };
        if let Err(e) = ctx
            .store
            .insert_pending(ctx.id, std::slice::from_ref(&item))
            .await
        {
            // The message must not be appended unrecorded; leave the connection clean.
            let _ = s.finish_body().await;
            return Err(e.into());
        }
        let outcome = d
            .append_from(&plan.dst, &msg, size, s)
            .await
            .map_err(|e| match e {
                StreamError::Source(e) => EngineError::imap(Side::Source, "fetch a message", e),
                StreamError::Destination(e) => {
                    EngineError::imap(Side::Destination, "append a message", e)
                }
            })?;
        let tally = record_appended(
            &ctx.store,
            ctx.id,
            ctx.pass,
            &ctx.events,
            &plan.display,
            std::slice::from_ref(&item),
            outcome,
        )
        .await?;
        report.copied += tally.copied;
        report.bytes += tally.bytes;
        report.failed += tally.failed;
    }
    Ok(())
}
