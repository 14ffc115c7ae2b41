//! Flag changes of messages already copied.

use std::collections::HashMap;

use passeur_imap::{Client, MessageMeta, uid_set};
use passeur_store::Item;

use super::{Ctx, dst_err};
use crate::EngineError;
use crate::message::normalise_flags;

/// Brings flag changes over for messages already copied, grouped by the new flag set (one
/// STORE per set). The destination folder must be selected. Returns how many changed.
pub(super) async fn sync_flags(
    ctx: &Ctx,
    d: &mut Client,
    metas: &[MessageMeta],
    by_uid: &HashMap<u32, &Item>,
    dst_uidvalidity: u32,
) -> Result<u64, EngineError> {
    #[derive(Default)]
    struct FlagGroup<'a> {
        flags: Vec<String>,
        dst_uids: Vec<u32>,
        items: Vec<&'a Item>,
    }
    let mut groups: HashMap<String, FlagGroup> = HashMap::new();
    for m in metas {
        let Some(item) = by_uid.get(&m.uid) else {
            continue;
        };
        let flags = normalise_flags(&m.flags);
        let joined = flags.join(" ");
        if joined != item.flags
            && item.dst_uidvalidity == Some(dst_uidvalidity)
            && let Some(dst_uid) = item.dst_uid
        {
            let g = groups.entry(joined).or_default();
            g.flags = flags;
            g.dst_uids.push(dst_uid);
            g.items.push(item);
        }
    }
    let mut updated = 0;
    for (joined, mut g) in groups {
        g.dst_uids.sort_unstable();
        d.uid_store(&uid_set(&g.dst_uids), "FLAGS.SILENT", &g.flags)
            .await
            .map_err(dst_err("update flags"))?;
        let updates: Vec<_> = g.items.iter().map(|i| (i.key(), joined.clone())).collect();
        ctx.store.set_flags(ctx.id, &updates).await?;
        updated += g.dst_uids.len() as u64;
    }
    Ok(updated)
}
