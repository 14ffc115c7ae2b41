//! The item map read and settled in bounded pieces, for a reconciliation: after an
//! interrupted run (pending items) or a UIDVALIDITY change, a folder's items are matched against
//! the messages of one UID range at a time, never loaded whole.

use passeur_types::{ContentKind, MigrationId};

use crate::items::item_from_row;
use crate::types::{Item, MailScope, Result};
use crate::{Store, with_pool, write_tx};

/// Fingerprints per `IN (…)` list.
const FP_CHUNK: usize = 500;

/// The SQL condition selecting a scope's items, its parameters numbered from `$first`, and
/// how many it takes.
fn scope_sql(scope: MailScope<'_>, first: usize) -> (String, usize) {
    match scope {
        MailScope::Folder(_) => (format!("src_folder = ${first}"), 1),
        MailScope::Into { .. } => (
            format!(
                "dst_folder = ${first} AND substr(src_folder, 1, length(CAST(${} AS TEXT))) = ${}",
                first + 1,
                first + 2
            ),
            3,
        ),
    }
}

/// Binds a scope's parameters, in the order of [`scope_sql`].
macro_rules! bind_scope {
    ($q:expr, $scope:expr) => {
        match $scope {
            MailScope::Folder(f) => $q.bind(f),
            MailScope::Into {
                dst_folder,
                src_prefix,
            } => $q.bind(dst_folder).bind(src_prefix).bind(src_prefix),
        }
    };
}

/// `$first, $first+1, …` for an `IN` list of `n`.
fn marks(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which items still look for their copy on the destination: the pending ones, and with
/// `all` those not confirmed under the destination's UIDVALIDITY `$3` (`$4`: `all`).
const UNMATCHED: &str = "(pending OR ($4 AND (dst_uidvalidity IS NULL OR dst_uidvalidity <> $3)))";

impl Store {
    /// The distinct destination UIDs in `lo..=hi` of the scope's items confirmed under
    /// `dst_uidvalidity`, ascending, at most `limit` of them.
    pub async fn confirmed_dst_uids(
        &self,
        id: MigrationId,
        scope: MailScope<'_>,
        dst_uidvalidity: u32,
        (lo, hi): (u32, u32),
        limit: usize,
    ) -> Result<Vec<u32>> {
        let (cond, _) = scope_sql(scope, 7);
        let sql = format!(
            "SELECT DISTINCT dst_uid FROM items
             WHERE migration_id = $1 AND kind = $2 AND NOT pending AND dst_uidvalidity = $3
               AND dst_uid >= $4 AND dst_uid <= $5 AND {cond}
             ORDER BY dst_uid LIMIT $6"
        );
        with_pool!(self, |pool| {
            let q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id.to_string())
                .bind(ContentKind::Mail.as_str())
                .bind(i64::from(dst_uidvalidity))
                .bind(i64::from(lo))
                .bind(i64::from(hi))
                .bind(limit as i64);
            let uids = bind_scope!(q, scope).fetch_all(pool).await?;
            Ok(uids.into_iter().map(|u| u as u32).collect())
        })
    }

    /// The scope's items that still look for their copy on the destination (pending, and with
    /// `all` every item not confirmed under `dst_uidvalidity`) with one of these fingerprints,
    /// by source UID then key.
    pub async fn unmatched_by_fingerprint(
        &self,
        id: MigrationId,
        scope: MailScope<'_>,
        dst_uidvalidity: u32,
        all: bool,
        fingerprints: &[&str],
    ) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        let (cond, n) = scope_sql(scope, 5);
        for chunk in fingerprints.chunks(FP_CHUNK) {
            // Only numbered placeholders are formatted in; the values are bound.
            let sql = format!(
                "SELECT * FROM items
                 WHERE migration_id = $1 AND kind = $2 AND {UNMATCHED} AND {cond}
                   AND fingerprint IN ({})
                 ORDER BY src_uid NULLS FIRST, src_key",
                marks(5 + n, chunk.len())
            );
            with_pool!(self, |pool| {
                let q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    // One statement per IN-list length: not kept in the connection's cache.
                    .persistent(false)
                    .bind(id.to_string())
                    .bind(ContentKind::Mail.as_str())
                    .bind(i64::from(dst_uidvalidity))
                    .bind(all);
                let mut q = bind_scope!(q, scope);
                for fp in chunk {
                    q = q.bind(*fp);
                }
                for r in &q.fetch_all(pool).await? {
                    out.push(item_from_row(r)?);
                }
            });
        }
        Ok(out)
    }

    /// Removes the scope's items that a reconciliation did not find on the destination
    /// (pending, and with `all` every item not confirmed under `dst_uidvalidity`): they are
    /// copied again. Returns how many.
    pub async fn delete_unmatched(
        &self,
        id: MigrationId,
        scope: MailScope<'_>,
        dst_uidvalidity: u32,
        all: bool,
    ) -> Result<u64> {
        let (cond, _) = scope_sql(scope, 5);
        let sql = format!(
            "DELETE FROM items WHERE migration_id = $1 AND kind = $2 AND {UNMATCHED} AND {cond}"
        );
        let n = write_tx!(self, id, |tx| {
            let q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(id.to_string())
                .bind(ContentKind::Mail.as_str())
                .bind(i64::from(dst_uidvalidity))
                .bind(all);
            bind_scope!(q, scope)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        });
        Ok(n)
    }

    /// One page of the mail items whose source folder starts with `src_prefix`, by (source
    /// folder, key), starting after `after` (a source folder and key; `("", "")` for the
    /// first page), at most `limit` of them: a caller walks the items without holding them
    /// all.
    pub async fn mail_items_page(
        &self,
        id: MigrationId,
        src_prefix: &str,
        after: (&str, &str),
        limit: usize,
    ) -> Result<Vec<Item>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT * FROM items
                 WHERE migration_id = $1 AND kind = $2
                   AND substr(src_folder, 1, length(CAST($3 AS TEXT))) = $4
                   AND (src_folder, src_key) > ($5, $6)
                 ORDER BY src_folder, src_key LIMIT $7",
            )
            .bind(id.to_string())
            .bind(ContentKind::Mail.as_str())
            .bind(src_prefix)
            .bind(src_prefix)
            .bind(after.0)
            .bind(after.1)
            .bind(limit as i64)
            .fetch_all(pool)
            .await?;
            rows.iter().map(item_from_row).collect()
        })
    }

    /// The destination folders holding pending mail items whose source folder starts with
    /// `src_prefix`.
    pub async fn pending_dst_folders(
        &self,
        id: MigrationId,
        src_prefix: &str,
    ) -> Result<Vec<String>> {
        with_pool!(self, |pool| {
            Ok(sqlx::query_scalar(
                "SELECT DISTINCT dst_folder FROM items
                 WHERE migration_id = $1 AND kind = $2 AND pending
                   AND substr(src_folder, 1, length(CAST($3 AS TEXT))) = $4
                 ORDER BY dst_folder",
            )
            .bind(id.to_string())
            .bind(ContentKind::Mail.as_str())
            .bind(src_prefix)
            .bind(src_prefix)
            .fetch_all(pool)
            .await?)
        })
    }

    /// The mail items of `src_folder` recorded under another source UIDVALIDITY than
    /// `uidvalidity` with one of these fingerprints, by key.
    pub async fn other_uidvalidity_by_fingerprint(
        &self,
        id: MigrationId,
        src_folder: &str,
        uidvalidity: u32,
        fingerprints: &[&str],
    ) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        for chunk in fingerprints.chunks(FP_CHUNK) {
            let sql = format!(
                "SELECT * FROM items
                 WHERE migration_id = $1 AND kind = $2 AND src_folder = $3
                   AND COALESCE(src_uidvalidity, -1) <> $4 AND fingerprint IN ({})
                 ORDER BY src_key",
                marks(5, chunk.len())
            );
            with_pool!(self, |pool| {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    // One statement per IN-list length: not kept in the connection's cache.
                    .persistent(false)
                    .bind(id.to_string())
                    .bind(ContentKind::Mail.as_str())
                    .bind(src_folder)
                    .bind(i64::from(uidvalidity));
                for fp in chunk {
                    q = q.bind(*fp);
                }
                for r in &q.fetch_all(pool).await? {
                    out.push(item_from_row(r)?);
                }
            });
        }
        Ok(out)
    }
}
