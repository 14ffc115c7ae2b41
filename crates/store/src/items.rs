//! The item map and the failure records.

use std::collections::HashSet;

use passeur_types::{ContentKind, MigrationId};

use crate::row::RowExt;
use crate::runs::parse_kind;
use crate::types::{
    Completion, FAILURE_TEXT_MAX, Failure, Item, ItemKey, ItemNote, MailFolderSummary, Rekey,
    Result, excerpt, now, opt_u32,
};
use crate::{Backend, Store, with_pool, write_tx};

pub(crate) fn item_from_row(r: &impl RowExt) -> Result<Item> {
    Ok(Item {
        kind: parse_kind(&r.text("kind")?)?,
        src_folder: r.text("src_folder")?,
        src_key: r.text("src_key")?,
        src_uidvalidity: opt_u32(r.opt_int("src_uidvalidity")?),
        src_uid: opt_u32(r.opt_int("src_uid")?),
        fingerprint: r.text("fingerprint")?,
        dst_folder: r.text("dst_folder")?,
        dst_uidvalidity: opt_u32(r.opt_int("dst_uidvalidity")?),
        dst_uid: opt_u32(r.opt_int("dst_uid")?),
        dst_key: r.opt_text("dst_key")?,
        pass: r.int("pass")? as u32,
        size: r.int("size")? as u64,
        flags: r.text("flags")?,
        etag: r.opt_text("etag")?,
        pending: r.flag("pending")?,
    })
}

fn failure_from_row(r: &impl RowExt) -> Result<Failure> {
    Ok(Failure {
        pass: r.int("pass")? as u32,
        kind: parse_kind(&r.text("kind")?)?,
        folder: r.text("folder")?,
        src_key: r.text("src_key")?,
        size: r.opt_int("size")?.map(|s| s as u64),
        reason: r.text("reason")?,
    })
}

/// Writes an item row; `$overwrite` is the SQL condition under which an existing row with
/// the same key is replaced.
const UPSERT_ITEM: &str = "INSERT INTO items (migration_id, kind, src_folder, src_key,
        src_uidvalidity, src_uid, fingerprint, dst_folder, dst_uidvalidity, dst_uid,
        dst_key, pass, size, flags, etag, pending)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
     ON CONFLICT (migration_id, kind, src_folder, src_key) DO UPDATE SET
        src_uidvalidity = excluded.src_uidvalidity, src_uid = excluded.src_uid,
        fingerprint = excluded.fingerprint, dst_folder = excluded.dst_folder,
        dst_uidvalidity = excluded.dst_uidvalidity, dst_uid = excluded.dst_uid,
        dst_key = excluded.dst_key, pass = excluded.pass, size = excluded.size,
        flags = excluded.flags, etag = excluded.etag, pending = excluded.pending";

/// [`UPSERT_ITEM`] that leaves a confirmed row alone.
const INSERT_PENDING: &str = "INSERT INTO items (migration_id, kind, src_folder, src_key,
        src_uidvalidity, src_uid, fingerprint, dst_folder, dst_uidvalidity, dst_uid,
        dst_key, pass, size, flags, etag, pending)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
     ON CONFLICT (migration_id, kind, src_folder, src_key) DO UPDATE SET
        src_uidvalidity = excluded.src_uidvalidity, src_uid = excluded.src_uid,
        fingerprint = excluded.fingerprint, dst_folder = excluded.dst_folder,
        dst_uidvalidity = excluded.dst_uidvalidity, dst_uid = excluded.dst_uid,
        dst_key = excluded.dst_key, pass = excluded.pass, size = excluded.size,
        flags = excluded.flags, etag = excluded.etag, pending = excluded.pending
     WHERE items.pending";

/// Keys per `IN (…)` list of [`Store::known_among`].
const KEY_CHUNK: usize = 500;

impl Store {
    /// Every item of one source folder (any UIDVALIDITY), pending ones included.
    pub async fn items_in_folder(
        &self,
        id: MigrationId,
        kind: ContentKind,
        src_folder: &str,
    ) -> Result<Vec<Item>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT * FROM items WHERE migration_id = $1 AND kind = $2 AND src_folder = $3
                 ORDER BY src_uid NULLS FIRST, src_key",
            )
            .bind(id.to_string())
            .bind(kind.as_str())
            .bind(src_folder)
            .fetch_all(pool)
            .await?;
            rows.iter().map(item_from_row).collect()
        })
    }

    /// Whether one source folder has pending items (an interrupted run's), without reading
    /// its rows.
    pub async fn has_pending(
        &self,
        id: MigrationId,
        kind: ContentKind,
        src_folder: &str,
    ) -> Result<bool> {
        with_pool!(self, |pool| {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM (SELECT 1 FROM items
                   WHERE migration_id = $1 AND kind = $2 AND src_folder = $3 AND pending
                   LIMIT 1) AS p",
            )
            .bind(id.to_string())
            .bind(kind.as_str())
            .bind(src_folder)
            .fetch_one(pool)
            .await?;
            Ok(n > 0)
        })
    }

    /// The source keys of the confirmed items of one source folder, nothing else of their
    /// rows.
    pub async fn confirmed_keys(
        &self,
        id: MigrationId,
        kind: ContentKind,
        src_folder: &str,
    ) -> Result<Vec<String>> {
        with_pool!(self, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT src_key FROM items
                 WHERE migration_id = $1 AND kind = $2 AND src_folder = $3 AND NOT pending",
            )
            .bind(id.to_string())
            .bind(kind.as_str())
            .bind(src_folder)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Which of these source keys of one source folder are done: a confirmed item, or one a
    /// purge removed (a pending item is not). Looked up on the primary key, `KEY_CHUNK` keys
    /// per query, so that a caller can walk a long listing in pieces.
    pub async fn known_among(
        &self,
        id: MigrationId,
        kind: ContentKind,
        src_folder: &str,
        keys: &[&str],
    ) -> Result<HashSet<String>> {
        let mut out = HashSet::new();
        for chunk in keys.chunks(KEY_CHUNK) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 4)).collect();
            let marks = marks.join(", ");
            // Only numbered placeholders are formatted in; the keys are bound.
            for sql in [
                format!(
                    "SELECT src_key FROM items WHERE migration_id = $1 AND kind = $2
                       AND src_folder = $3 AND NOT pending AND src_key IN ({marks})"
                ),
                format!(
                    "SELECT src_key FROM purged WHERE migration_id = $1 AND kind = $2
                       AND src_folder = $3 AND src_key IN ({marks})"
                ),
            ] {
                with_pool!(self, |pool| {
                    let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.clone()))
                        // One statement per IN-list length: not kept in the connection's cache.
                        .persistent(false)
                        .bind(id.to_string())
                        .bind(kind.as_str())
                        .bind(src_folder);
                    for k in chunk {
                        q = q.bind(*k);
                    }
                    out.extend(q.fetch_all(pool).await?);
                });
            }
        }
        Ok(out)
    }

    /// The mail items of one source folder under one UIDVALIDITY with a source UID in
    /// `lo..=hi`, pending ones included, by UID.
    pub async fn items_in_uid_range(
        &self,
        id: MigrationId,
        src_folder: &str,
        uidvalidity: u32,
        lo: u32,
        hi: u32,
    ) -> Result<Vec<Item>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT * FROM items WHERE migration_id = $1 AND kind = $2 AND src_folder = $3
                   AND src_uid >= $4 AND src_uid <= $5 AND src_uidvalidity = $6
                 ORDER BY src_uid",
            )
            .bind(id.to_string())
            .bind(ContentKind::Mail.as_str())
            .bind(src_folder)
            .bind(i64::from(lo))
            .bind(i64::from(hi))
            .bind(i64::from(uidvalidity))
            .fetch_all(pool)
            .await?;
            rows.iter().map(item_from_row).collect()
        })
    }

    /// The mail items of one source folder with these source keys (`UIDVALIDITY/UID`),
    /// pending ones included.
    pub async fn items_by_keys(
        &self,
        id: MigrationId,
        src_folder: &str,
        keys: &[String],
    ) -> Result<Vec<Item>> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(500) {
            // Only numbered placeholders are formatted in; the keys are bound.
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 4)).collect();
            let sql = format!(
                "SELECT * FROM items WHERE migration_id = $1 AND kind = $2 AND src_folder = $3
                   AND src_key IN ({})",
                marks.join(", ")
            );
            with_pool!(self, |pool| {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    // One statement per IN-list length: not kept in the connection's cache.
                    .persistent(false)
                    .bind(id.to_string())
                    .bind(ContentKind::Mail.as_str())
                    .bind(src_folder);
                for k in chunk {
                    q = q.bind(k);
                }
                let rows = q.fetch_all(pool).await?;
                for r in &rows {
                    out.push(item_from_row(r)?);
                }
            });
        }
        Ok(out)
    }

    /// What the map holds for one mail folder (counts, no rows): whether items are pending,
    /// recorded under another source UIDVALIDITY than `src_uidvalidity`, and which
    /// destination UIDVALIDITYs the confirmed ones carry.
    pub async fn mail_folder_summary(
        &self,
        id: MigrationId,
        src_folder: &str,
        src_uidvalidity: u32,
    ) -> Result<MailFolderSummary> {
        with_pool!(self, |pool| {
            let (items, pending, other, lo, hi): (i64, i64, i64, Option<i64>, Option<i64>) =
                sqlx::query_as(
                    "SELECT COUNT(*),
                        COALESCE(SUM(CASE WHEN pending THEN 1 ELSE 0 END), 0),
                        COALESCE(SUM(CASE WHEN COALESCE(src_uidvalidity, -1) <> $4
                            THEN 1 ELSE 0 END), 0),
                        MIN(CASE WHEN pending THEN NULL ELSE dst_uidvalidity END),
                        MAX(CASE WHEN pending THEN NULL ELSE dst_uidvalidity END)
                     FROM items WHERE migration_id = $1 AND kind = $2 AND src_folder = $3",
                )
                .bind(id.to_string())
                .bind(ContentKind::Mail.as_str())
                .bind(src_folder)
                .bind(i64::from(src_uidvalidity))
                .fetch_one(pool)
                .await?;
            Ok(MailFolderSummary {
                items: items as u64,
                pending: pending as u64,
                other_uidvalidity: other as u64,
                dst_uidvalidity: match (opt_u32(lo), opt_u32(hi)) {
                    (Some(lo), Some(hi)) => Some((lo, hi)),
                    _ => None,
                },
            })
        })
    }

    /// How many mail items the map holds for these source folders (pending ones included),
    /// counted on the index, without reading the rows.
    pub async fn count_in_folders(&self, id: MigrationId, folders: &[&str]) -> Result<u64> {
        let mut total = 0u64;
        for f in folders {
            let n: i64 = with_pool!(self, |pool| {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM items
                     WHERE migration_id = $1 AND kind = $2 AND src_folder = $3",
                )
                .bind(id.to_string())
                .bind(ContentKind::Mail.as_str())
                .bind(*f)
                .fetch_one(pool)
                .await?
            });
            total += n as u64;
        }
        Ok(total)
    }

    /// Items copied in pass `from_pass` or later (all items for `from_pass` = 1).
    pub async fn items_from_pass(&self, id: MigrationId, from_pass: u32) -> Result<Vec<Item>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT * FROM items WHERE migration_id = $1 AND pass >= $2
                 ORDER BY kind, dst_folder, dst_uid NULLS FIRST, src_key",
            )
            .bind(id.to_string())
            .bind(i64::from(from_pass))
            .fetch_all(pool)
            .await?;
            rows.iter().map(item_from_row).collect()
        })
    }

    /// How many confirmed items a migration has, and their total size.
    pub async fn count_items(&self, id: MigrationId) -> Result<(u64, u64)> {
        with_pool!(self, |pool| {
            let (n, b): (i64, i64) = sqlx::query_as(
                "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM items
                 WHERE migration_id = $1 AND NOT pending",
            )
            .bind(id.to_string())
            .fetch_one(pool)
            .await?;
            Ok((n as u64, b as u64))
        })
    }

    /// Records items before they are copied, in one transaction. A pending row with the same
    /// key is replaced (a retried item); a confirmed one is left as it is, so that a copy that
    /// landed is never forgotten. Items given with `pending: false` are written confirmed
    /// (a copy already done), under the same rule.
    pub async fn insert_pending(&self, id: MigrationId, items: &[Item]) -> Result<()> {
        self.write_items(id, items, INSERT_PENDING).await
    }

    /// Records items as they are now on the destination, replacing any row with the same
    /// key, pending or confirmed: for a DAV item updated in place (new source and
    /// destination ETags), which keeps its row.
    pub async fn record_copied(&self, id: MigrationId, items: &[Item]) -> Result<()> {
        self.write_items(id, items, UPSERT_ITEM).await
    }

    async fn write_items(&self, id: MigrationId, items: &[Item], sql: &'static str) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        write_tx!(self, id, |tx| {
            for it in items {
                sqlx::query(sql)
                    .bind(id.to_string())
                    .bind(it.kind.as_str())
                    .bind(&it.src_folder)
                    .bind(&it.src_key)
                    .bind(it.src_uidvalidity.map(i64::from))
                    .bind(it.src_uid.map(i64::from))
                    .bind(&it.fingerprint)
                    .bind(&it.dst_folder)
                    .bind(it.dst_uidvalidity.map(i64::from))
                    .bind(it.dst_uid.map(i64::from))
                    .bind(&it.dst_key)
                    .bind(i64::from(it.pass))
                    .bind(it.size as i64)
                    .bind(&it.flags)
                    .bind(&it.etag)
                    .bind(it.pending)
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(())
    }

    /// Confirms items: sets their destination key and clears `pending`, in one transaction.
    pub async fn complete(&self, id: MigrationId, done: &[Completion<'_>]) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        write_tx!(self, id, |tx| {
            for c in done {
                sqlx::query(
                    "UPDATE items SET pending = FALSE, dst_uidvalidity = $1, dst_uid = $2,
                        dst_key = $3
                     WHERE migration_id = $4 AND kind = $5 AND src_folder = $6 AND src_key = $7",
                )
                .bind(c.dst_uidvalidity.map(i64::from))
                .bind(c.dst_uid.map(i64::from))
                .bind(c.dst_key)
                .bind(id.to_string())
                .bind(c.kind.as_str())
                .bind(c.src_folder)
                .bind(c.src_key)
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }

    /// Deletes items from the map because a purge removed them from the destination, and
    /// remembers them (with the pass that copied them) so that later passes do not copy them
    /// again.
    pub async fn purge_items(&self, id: MigrationId, items: &[&Item]) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        write_tx!(self, id, |tx| {
            for i in items {
                sqlx::query(
                    "DELETE FROM items
                     WHERE migration_id = $1 AND kind = $2 AND src_folder = $3 AND src_key = $4",
                )
                .bind(id.to_string())
                .bind(i.kind.as_str())
                .bind(&i.src_folder)
                .bind(&i.src_key)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO purged (migration_id, kind, src_folder, src_key, pass)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (migration_id, kind, src_folder, src_key)
                     DO UPDATE SET pass = excluded.pass",
                )
                .bind(id.to_string())
                .bind(i.kind.as_str())
                .bind(&i.src_folder)
                .bind(&i.src_key)
                .bind(i64::from(i.pass))
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }

    /// Source keys of the items of `kind` in `src_folder` that a purge removed.
    pub async fn purged_keys(
        &self,
        id: MigrationId,
        kind: ContentKind,
        src_folder: &str,
    ) -> Result<HashSet<String>> {
        with_pool!(self, |pool| {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT src_key FROM purged
                 WHERE migration_id = $1 AND kind = $2 AND src_folder = $3",
            )
            .bind(id.to_string())
            .bind(kind.as_str())
            .bind(src_folder)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(k,)| k).collect())
        })
    }

    /// Removes items from the map (a pending item that never reached the destination).
    pub async fn delete_items(&self, id: MigrationId, keys: &[ItemKey<'_>]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        write_tx!(self, id, |tx| {
            for k in keys {
                sqlx::query(
                    "DELETE FROM items
                     WHERE migration_id = $1 AND kind = $2 AND src_folder = $3 AND src_key = $4",
                )
                .bind(id.to_string())
                .bind(k.kind.as_str())
                .bind(k.src_folder)
                .bind(k.src_key)
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }

    /// Gives an item a new source key (after the source folder's UIDVALIDITY changed and the
    /// item was recognised by its fingerprint).
    pub async fn rekey_items(&self, id: MigrationId, rekeys: &[Rekey<'_>]) -> Result<()> {
        if rekeys.is_empty() {
            return Ok(());
        }
        write_tx!(self, id, |tx| {
            for r in rekeys {
                sqlx::query(
                    "UPDATE items SET src_key = $1, src_uidvalidity = $2, src_uid = $3
                     WHERE migration_id = $4 AND kind = $5 AND src_folder = $6 AND src_key = $7",
                )
                .bind(Item::mail_key(r.new_uidvalidity, r.new_uid))
                .bind(i64::from(r.new_uidvalidity))
                .bind(i64::from(r.new_uid))
                .bind(id.to_string())
                .bind(r.key.kind.as_str())
                .bind(r.key.src_folder)
                .bind(r.key.src_key)
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }

    /// Records the flags last brought over for items.
    pub async fn set_flags(
        &self,
        id: MigrationId,
        updates: &[(ItemKey<'_>, String)],
    ) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        write_tx!(self, id, |tx| {
            for (k, flags) in updates {
                sqlx::query(
                    "UPDATE items SET flags = $1
                     WHERE migration_id = $2 AND kind = $3 AND src_folder = $4 AND src_key = $5",
                )
                .bind(flags)
                .bind(id.to_string())
                .bind(k.kind.as_str())
                .bind(k.src_folder)
                .bind(k.src_key)
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }

    // ---- failures ---------------------------------------------------------------------------

    /// Records per-item failures, keeping at most [`FAILURE_TEXT_MAX`] bytes of each text
    /// (cut on a character boundary, with a marker saying so).
    pub async fn record_failures(&self, id: MigrationId, failures: &[Failure]) -> Result<()> {
        if failures.is_empty() {
            return Ok(());
        }
        write_tx!(self, id, |tx| {
            for f in failures {
                sqlx::query(
                    "INSERT INTO failures (migration_id, pass, kind, folder, src_key, size,
                        reason, at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id.to_string())
                .bind(i64::from(f.pass))
                .bind(f.kind.as_str())
                .bind(excerpt(&f.folder, FAILURE_TEXT_MAX).as_ref())
                .bind(excerpt(&f.src_key, FAILURE_TEXT_MAX).as_ref())
                .bind(f.size.map(|s| s as i64))
                .bind(excerpt(&f.reason, FAILURE_TEXT_MAX).as_ref())
                .bind(now())
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }

    /// Records notes about items (see [`ItemNote`]); a note already recorded for the same item
    /// is not added again.
    pub async fn record_notes(&self, id: MigrationId, notes: &[ItemNote]) -> Result<()> {
        if notes.is_empty() {
            return Ok(());
        }
        let sql = match self.backend {
            Backend::Sqlite(_) => {
                "INSERT INTO item_notes (migration_id, pass, kind, folder, src_key, repaired,
                    note, at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING"
            }
            Backend::Postgres(_) => {
                "INSERT INTO item_notes (migration_id, pass, kind, folder, src_key, repaired,
                    note, at)
                 VALUES ($1, $2, $3, $4, $5, $6 <> 0, $7, $8) ON CONFLICT DO NOTHING"
            }
        };
        write_tx!(self, id, |tx| {
            for n in notes {
                sqlx::query(sql)
                    .bind(id.to_string())
                    .bind(i64::from(n.pass))
                    .bind(n.kind.as_str())
                    .bind(excerpt(&n.folder, FAILURE_TEXT_MAX).as_ref())
                    .bind(excerpt(&n.src_key, FAILURE_TEXT_MAX).as_ref())
                    .bind(i64::from(n.repaired))
                    .bind(excerpt(&n.note, FAILURE_TEXT_MAX).as_ref())
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(())
    }

    /// The notes of a migration (all passes), in the order recorded.
    pub async fn notes(&self, id: MigrationId) -> Result<Vec<ItemNote>> {
        let sql = match self.backend {
            Backend::Sqlite(_) => {
                "SELECT pass, kind, folder, src_key, repaired, note
                 FROM item_notes WHERE migration_id = $1 ORDER BY rowid"
            }
            Backend::Postgres(_) => {
                "SELECT pass, kind, folder, src_key, repaired, note
                 FROM item_notes WHERE migration_id = $1 ORDER BY seq"
            }
        };
        with_pool!(self, |pool| {
            let rows = sqlx::query(sql)
                .bind(id.to_string())
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(ItemNote {
                        pass: r.int("pass")? as u32,
                        kind: parse_kind(&r.text("kind")?)?,
                        folder: r.text("folder")?,
                        src_key: r.text("src_key")?,
                        repaired: r.flag("repaired")?,
                        note: r.text("note")?,
                    })
                })
                .collect()
        })
    }

    /// The failures of a migration (of one pass, or all), in the order recorded.
    pub async fn failures(&self, id: MigrationId, pass: Option<u32>) -> Result<Vec<Failure>> {
        let order = match self.backend {
            Backend::Sqlite(_) => "rowid",
            Backend::Postgres(_) => "seq",
        };
        let sql = match (pass, order) {
            (None, "rowid") => "SELECT * FROM failures WHERE migration_id = $1 ORDER BY rowid",
            (None, _) => "SELECT * FROM failures WHERE migration_id = $1 ORDER BY seq",
            (Some(_), "rowid") => {
                "SELECT * FROM failures WHERE migration_id = $1 AND pass = $2 ORDER BY rowid"
            }
            (Some(_), _) => {
                "SELECT * FROM failures WHERE migration_id = $1 AND pass = $2 ORDER BY seq"
            }
        };
        with_pool!(self, |pool| {
            let mut q = sqlx::query(sql).bind(id.to_string());
            if let Some(p) = pass {
                q = q.bind(i64::from(p));
            }
            let rows = q.fetch_all(pool).await?;
            rows.iter().map(failure_from_row).collect()
        })
    }
}
