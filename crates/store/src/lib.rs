//! passeur's persistence.
//!
//! [`Store`] keeps, for each migration: its row ([`MigrationRow`]), its passes ([`PassRow`], the sync
//! points), the last seen state of each source folder ([`FolderState`]) and the **item map**
//! ([`Item`]): one row per copied item, with its source key, fingerprint, destination key and the
//! pass that copied it. The item map is what makes every pass incremental, every crash-resume
//! duplicate-free and "purge from pass N" exact.
//!
//! Items are written in two steps around the risky part (the APPEND or PUT): first as *pending*
//! ([`Store::insert_pending`]), then completed with their destination key ([`Store::complete`]). A
//! pending row found at the next run marks the crash window, which the engine reconciles against
//! the destination before copying again.
//!
//! The embedded backend is SQLite (one file under the data directory, WAL mode).

use std::path::Path;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use passeur_types::{ContentKind, MigrationId, Status};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("cannot open the store at {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("cannot read or write the store: {0}")]
    Db(#[from] sqlx::Error),
    #[error("no migration with ID {0}")]
    NotFound(String),
    #[error("the store holds an invalid value: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A migration as stored.
#[derive(Debug, Clone)]
pub struct MigrationRow {
    pub id: MigrationId,
    pub created_at: i64,
    /// The source, as a URL without secrets.
    pub source: String,
    /// The destination, as a URL without secrets.
    pub destination: String,
    /// Options as JSON (the engine's to interpret).
    pub options: String,
    pub status: Status,
    pub error: Option<String>,
}

/// One pass (sync point) of a migration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassRow {
    pub number: u32,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub status: String,
    pub counters: PassCounters,
    pub error: Option<String>,
}

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassCounters {
    pub copied: u64,
    pub bytes: u64,
    pub flags_updated: u64,
    pub failed: u64,
}

/// The last seen state of a source folder, which lets an unchanged folder be skipped outright.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderState {
    pub src_name: String,
    pub dst_name: String,
    pub src_uidvalidity: Option<u32>,
    pub src_uidnext: Option<u32>,
    pub src_messages: Option<u32>,
    pub src_highestmodseq: Option<u64>,
    pub dst_uidvalidity: Option<u32>,
    /// The last pass over this folder finished without failure.
    pub complete: bool,
}

/// A source DAV collection copied by a migration: where it goes and the source's sync token
/// after the last pass (`None`: list everything next time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavCollectionState {
    pub src_href: String,
    pub kind: ContentKind,
    pub dst_href: String,
    pub sync_token: Option<String>,
}

/// One row of the item map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub kind: ContentKind,
    pub src_folder: String,
    /// Unique within (kind, src_folder): `UIDVALIDITY/UID` for mail, the href or node id otherwise.
    pub src_key: String,
    pub src_uidvalidity: Option<u32>,
    pub src_uid: Option<u32>,
    /// A content fingerprint that survives a change of UID (see the engine for its recipe).
    pub fingerprint: String,
    pub dst_folder: String,
    pub dst_uidvalidity: Option<u32>,
    pub dst_uid: Option<u32>,
    pub dst_key: Option<String>,
    pub pass: u32,
    pub size: u64,
    /// Space-separated flags as last copied.
    pub flags: String,
    /// Written before the copy and not yet confirmed.
    pub pending: bool,
}

impl Item {
    /// The source key of a mail item.
    pub fn mail_key(uidvalidity: u32, uid: u32) -> String {
        format!("{uidvalidity}/{uid}")
    }
}

/// A per-item failure, kept for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub pass: u32,
    pub kind: ContentKind,
    pub folder: String,
    pub src_key: String,
    pub size: Option<u64>,
    pub reason: String,
}

/// The embedded store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn opt_u32(v: Option<i64>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

impl Store {
    /// Opens (creating if needed) the store file and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Store> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        let store = Store { pool };
        store.upgrade_schema().await?;
        Ok(store)
    }

    /// Applies the schema steps this file has not seen yet, tracked in `PRAGMA user_version`.
    async fn upgrade_schema(&self) -> Result<()> {
        const STEPS: &[&str] = &[
            include_str!("../migrations/0001_initial.sql"),
            include_str!("../migrations/0002_dav_collections.sql"),
            include_str!("../migrations/0003_purged.sql"),
        ];
        let mut tx = self.pool.begin().await?;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&mut *tx)
            .await?;
        if version as usize > STEPS.len() {
            return Err(StoreError::Corrupt(format!(
                "schema version {version} is newer than this program knows ({})",
                STEPS.len()
            )));
        }
        for step in &STEPS[version as usize..] {
            sqlx::raw_sql(*step).execute(&mut *tx).await?;
        }
        // The statement holds only a number of ours, nothing from outside.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "PRAGMA user_version = {}",
            STEPS.len()
        )))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- migrations -------------------------------------------------------------------------

    pub async fn create_migration(
        &self,
        id: MigrationId,
        source: &str,
        destination: &str,
        options: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO migrations (id, created_at, source, destination, options, status)
             VALUES (?, ?, ?, ?, ?, 'queued')",
        )
        .bind(id.to_string())
        .bind(now())
        .bind(source)
        .bind(destination)
        .bind(options)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    fn migration_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<MigrationRow> {
        let id: String = row.get("id");
        let status: String = row.get("status");
        Ok(MigrationRow {
            id: MigrationId::from_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            created_at: row.get("created_at"),
            source: row.get("source"),
            destination: row.get("destination"),
            options: row.get("options"),
            status: Status::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("status {status:?}")))?,
            error: row.get("error"),
        })
    }

    pub async fn migration(&self, id: MigrationId) -> Result<MigrationRow> {
        let row = sqlx::query("SELECT * FROM migrations WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        Self::migration_from_row(&row)
    }

    /// The most recent migration between this source and destination, if any.
    pub async fn find_migration(
        &self,
        source: &str,
        destination: &str,
    ) -> Result<Option<MigrationRow>> {
        let row = sqlx::query(
            "SELECT * FROM migrations WHERE source = ? AND destination = ?
             ORDER BY created_at DESC, rowid DESC LIMIT 1",
        )
        .bind(source)
        .bind(destination)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::migration_from_row).transpose()
    }

    pub async fn set_options(&self, id: MigrationId, options: &str) -> Result<()> {
        sqlx::query("UPDATE migrations SET options = ? WHERE id = ?")
            .bind(options)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_status(
        &self,
        id: MigrationId,
        status: Status,
        error: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE migrations SET status = ?, error = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(error)
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- passes -----------------------------------------------------------------------------

    /// Starts the next pass and returns its number (1 for the first). A pass left `running` by a
    /// crashed process is closed as `interrupted` first.
    pub async fn begin_pass(&self, id: MigrationId) -> Result<u32> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE passes SET status = 'interrupted', finished_at = ?
             WHERE migration_id = ? AND status = 'running'",
        )
        .bind(now())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let last: Option<i64> =
            sqlx::query_scalar("SELECT MAX(number) FROM passes WHERE migration_id = ?")
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await?;
        let number = last.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO passes (migration_id, number, started_at, status) VALUES (?, ?, ?, 'running')",
        )
        .bind(id.to_string())
        .bind(number)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(number as u32)
    }

    pub async fn update_pass(
        &self,
        id: MigrationId,
        number: u32,
        counters: PassCounters,
        finished: Option<(&str, Option<&str>)>,
    ) -> Result<()> {
        let (status, error, finished_at) = match finished {
            Some((status, error)) => (status, error, Some(now())),
            None => ("running", None, None),
        };
        sqlx::query(
            "UPDATE passes SET copied = ?, bytes = ?, flags_updated = ?, failed = ?,
                status = ?, error = ?, finished_at = ?
             WHERE migration_id = ? AND number = ?",
        )
        .bind(counters.copied as i64)
        .bind(counters.bytes as i64)
        .bind(counters.flags_updated as i64)
        .bind(counters.failed as i64)
        .bind(status)
        .bind(error)
        .bind(finished_at)
        .bind(id.to_string())
        .bind(number as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn passes(&self, id: MigrationId) -> Result<Vec<PassRow>> {
        let rows = sqlx::query("SELECT * FROM passes WHERE migration_id = ? ORDER BY number")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| PassRow {
                number: r.get::<i64, _>("number") as u32,
                started_at: r.get("started_at"),
                finished_at: r.get("finished_at"),
                status: r.get("status"),
                counters: PassCounters {
                    copied: r.get::<i64, _>("copied") as u64,
                    bytes: r.get::<i64, _>("bytes") as u64,
                    flags_updated: r.get::<i64, _>("flags_updated") as u64,
                    failed: r.get::<i64, _>("failed") as u64,
                },
                error: r.get("error"),
            })
            .collect())
    }

    // ---- folders ----------------------------------------------------------------------------

    pub async fn folder_states(&self, id: MigrationId) -> Result<Vec<FolderState>> {
        let rows = sqlx::query("SELECT * FROM folders WHERE migration_id = ? ORDER BY src_name")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| FolderState {
                src_name: r.get("src_name"),
                dst_name: r.get("dst_name"),
                src_uidvalidity: opt_u32(r.get("src_uidvalidity")),
                src_uidnext: opt_u32(r.get("src_uidnext")),
                src_messages: opt_u32(r.get("src_messages")),
                src_highestmodseq: r
                    .get::<Option<i64>, _>("src_highestmodseq")
                    .map(|v| v as u64),
                dst_uidvalidity: opt_u32(r.get("dst_uidvalidity")),
                complete: r.get::<i64, _>("complete") != 0,
            })
            .collect())
    }

    pub async fn put_folder_state(&self, id: MigrationId, f: &FolderState) -> Result<()> {
        sqlx::query(
            "INSERT INTO folders (migration_id, src_name, dst_name, src_uidvalidity, src_uidnext,
                src_messages, src_highestmodseq, dst_uidvalidity, complete)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (migration_id, src_name) DO UPDATE SET
                dst_name = excluded.dst_name, src_uidvalidity = excluded.src_uidvalidity,
                src_uidnext = excluded.src_uidnext, src_messages = excluded.src_messages,
                src_highestmodseq = excluded.src_highestmodseq,
                dst_uidvalidity = excluded.dst_uidvalidity, complete = excluded.complete",
        )
        .bind(id.to_string())
        .bind(&f.src_name)
        .bind(&f.dst_name)
        .bind(f.src_uidvalidity.map(i64::from))
        .bind(f.src_uidnext.map(i64::from))
        .bind(f.src_messages.map(i64::from))
        .bind(f.src_highestmodseq.map(|v| v as i64))
        .bind(f.dst_uidvalidity.map(i64::from))
        .bind(f.complete as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ---- DAV collections --------------------------------------------------------------------

    pub async fn dav_collections(&self, id: MigrationId) -> Result<Vec<DavCollectionState>> {
        let rows =
            sqlx::query("SELECT * FROM dav_collections WHERE migration_id = ? ORDER BY src_href")
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.get("kind");
                Ok(DavCollectionState {
                    src_href: r.get("src_href"),
                    kind: kind
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("kind {kind:?}")))?,
                    dst_href: r.get("dst_href"),
                    sync_token: r.get("sync_token"),
                })
            })
            .collect()
    }

    pub async fn put_dav_collection(&self, id: MigrationId, c: &DavCollectionState) -> Result<()> {
        sqlx::query(
            "INSERT INTO dav_collections (migration_id, src_href, kind, dst_href, sync_token)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (migration_id, src_href) DO UPDATE SET
                kind = excluded.kind, dst_href = excluded.dst_href,
                sync_token = excluded.sync_token",
        )
        .bind(id.to_string())
        .bind(&c.src_href)
        .bind(c.kind.as_str())
        .bind(&c.dst_href)
        .bind(&c.sync_token)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ---- items ------------------------------------------------------------------------------

    fn item_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Item> {
        let kind: String = r.get("kind");
        Ok(Item {
            kind: kind
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("kind {kind:?}")))?,
            src_folder: r.get("src_folder"),
            src_key: r.get("src_key"),
            src_uidvalidity: opt_u32(r.get("src_uidvalidity")),
            src_uid: opt_u32(r.get("src_uid")),
            fingerprint: r.get("fingerprint"),
            dst_folder: r.get("dst_folder"),
            dst_uidvalidity: opt_u32(r.get("dst_uidvalidity")),
            dst_uid: opt_u32(r.get("dst_uid")),
            dst_key: r.get("dst_key"),
            pass: r.get::<i64, _>("pass") as u32,
            size: r.get::<i64, _>("size") as u64,
            flags: r.get("flags"),
            pending: r.get::<i64, _>("pending") != 0,
        })
    }

    /// Every item of one source folder (any UIDVALIDITY), pending ones included.
    pub async fn items_in_folder(
        &self,
        id: MigrationId,
        kind: ContentKind,
        src_folder: &str,
    ) -> Result<Vec<Item>> {
        let rows = sqlx::query(
            "SELECT * FROM items WHERE migration_id = ? AND kind = ? AND src_folder = ?
             ORDER BY src_uid, src_key",
        )
        .bind(id.to_string())
        .bind(kind.as_str())
        .bind(src_folder)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::item_from_row).collect()
    }

    /// Items copied in pass `from_pass` or later (all items for `from_pass` = 1).
    pub async fn items_from_pass(&self, id: MigrationId, from_pass: u32) -> Result<Vec<Item>> {
        let rows = sqlx::query(
            "SELECT * FROM items WHERE migration_id = ? AND pass >= ?
             ORDER BY kind, dst_folder, dst_uid",
        )
        .bind(id.to_string())
        .bind(from_pass as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::item_from_row).collect()
    }

    pub async fn count_items(&self, id: MigrationId) -> Result<(u64, u64)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS b FROM items
             WHERE migration_id = ? AND pending = 0",
        )
        .bind(id.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok((row.get::<i64, _>("n") as u64, row.get::<i64, _>("b") as u64))
    }

    /// Records items as pending, in one transaction, before they are copied. An existing row
    /// with the same key is replaced (a retried pending item).
    pub async fn insert_pending(&self, id: MigrationId, items: &[Item]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for it in items {
            sqlx::query(
                "INSERT OR REPLACE INTO items (migration_id, kind, src_folder, src_key,
                    src_uidvalidity, src_uid, fingerprint, dst_folder, dst_uidvalidity, dst_uid,
                    dst_key, pass, size, flags, pending)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
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
            .bind(it.pass as i64)
            .bind(it.size as i64)
            .bind(&it.flags)
            .bind(it.pending as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Confirms items: sets their destination key and clears `pending`, in one transaction.
    pub async fn complete(&self, id: MigrationId, done: &[Completion<'_>]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for c in done {
            sqlx::query(
                "UPDATE items SET pending = 0, dst_uidvalidity = ?, dst_uid = ?, dst_key = ?
                 WHERE migration_id = ? AND kind = ? AND src_folder = ? AND src_key = ?",
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
        tx.commit().await?;
        Ok(())
    }

    /// Removes items from the map (after a purge, or a pending item that never reached the destination).
    /// Deletes items from the map because a purge removed them from the destination, and
    /// remembers them (with the pass that copied them) so that later passes do not copy them
    /// again.
    pub async fn purge_items(&self, id: MigrationId, items: &[&Item]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for i in items {
            sqlx::query(
                "DELETE FROM items WHERE migration_id = ? AND kind = ? AND src_folder = ? AND src_key = ?",
            )
            .bind(id.to_string())
            .bind(i.kind.as_str())
            .bind(&i.src_folder)
            .bind(&i.src_key)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT OR REPLACE INTO purged (migration_id, kind, src_folder, src_key, pass) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(id.to_string())
            .bind(i.kind.as_str())
            .bind(&i.src_folder)
            .bind(&i.src_key)
            .bind(i64::from(i.pass))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Source keys of the items of `kind` in `src_folder` that a purge removed.
    pub async fn purged_keys(
        &self,
        id: MigrationId,
        kind: ContentKind,
        src_folder: &str,
    ) -> Result<std::collections::HashSet<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT src_key FROM purged WHERE migration_id = ? AND kind = ? AND src_folder = ?",
        )
        .bind(id.to_string())
        .bind(kind.as_str())
        .bind(src_folder)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(k,)| k).collect())
    }

    pub async fn delete_items(&self, id: MigrationId, keys: &[ItemKey<'_>]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for k in keys {
            sqlx::query(
                "DELETE FROM items WHERE migration_id = ? AND kind = ? AND src_folder = ? AND src_key = ?",
            )
            .bind(id.to_string())
            .bind(k.kind.as_str())
            .bind(k.src_folder)
            .bind(k.src_key)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives an item a new source key (after the source folder's UIDVALIDITY changed and the item
    /// was recognised by its fingerprint).
    pub async fn rekey_items(&self, id: MigrationId, rekeys: &[Rekey<'_>]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for r in rekeys {
            sqlx::query(
                "UPDATE items SET src_key = ?, src_uidvalidity = ?, src_uid = ?
                 WHERE migration_id = ? AND kind = ? AND src_folder = ? AND src_key = ?",
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
        tx.commit().await?;
        Ok(())
    }

    /// Records the flags last brought over for items.
    pub async fn set_flags(
        &self,
        id: MigrationId,
        updates: &[(ItemKey<'_>, String)],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for (k, flags) in updates {
            sqlx::query(
                "UPDATE items SET flags = ?
                 WHERE migration_id = ? AND kind = ? AND src_folder = ? AND src_key = ?",
            )
            .bind(flags)
            .bind(id.to_string())
            .bind(k.kind.as_str())
            .bind(k.src_folder)
            .bind(k.src_key)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // ---- failures ---------------------------------------------------------------------------

    pub async fn record_failures(&self, id: MigrationId, failures: &[Failure]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for f in failures {
            sqlx::query(
                "INSERT INTO failures (migration_id, pass, kind, folder, src_key, size, reason, at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id.to_string())
            .bind(f.pass as i64)
            .bind(f.kind.as_str())
            .bind(&f.folder)
            .bind(&f.src_key)
            .bind(f.size.map(|s| s as i64))
            .bind(&f.reason)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn failures(&self, id: MigrationId, pass: Option<u32>) -> Result<Vec<Failure>> {
        let rows = sqlx::query(
            "SELECT * FROM failures WHERE migration_id = ? AND (? IS NULL OR pass = ?)
             ORDER BY rowid",
        )
        .bind(id.to_string())
        .bind(pass.map(i64::from))
        .bind(pass.map(i64::from))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.get("kind");
                Ok(Failure {
                    pass: r.get::<i64, _>("pass") as u32,
                    kind: kind
                        .parse()
                        .map_err(|_| StoreError::Corrupt(format!("kind {kind:?}")))?,
                    folder: r.get("folder"),
                    src_key: r.get("src_key"),
                    size: r.get::<Option<i64>, _>("size").map(|s| s as u64),
                    reason: r.get("reason"),
                })
            })
            .collect()
    }
}

/// Identifies one item of the map.
#[derive(Debug, Clone, Copy)]
pub struct ItemKey<'a> {
    pub kind: ContentKind,
    pub src_folder: &'a str,
    pub src_key: &'a str,
}

impl Item {
    pub fn key(&self) -> ItemKey<'_> {
        ItemKey {
            kind: self.kind,
            src_folder: &self.src_folder,
            src_key: &self.src_key,
        }
    }
}

/// The confirmation of one copied item.
#[derive(Debug, Clone, Copy)]
pub struct Completion<'a> {
    pub kind: ContentKind,
    pub src_folder: &'a str,
    pub src_key: &'a str,
    pub dst_uidvalidity: Option<u32>,
    pub dst_uid: Option<u32>,
    pub dst_key: Option<&'a str>,
}

/// A new source key for a mail item.
#[derive(Debug, Clone, Copy)]
pub struct Rekey<'a> {
    pub key: ItemKey<'a>,
    pub new_uidvalidity: u32,
    pub new_uid: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(folder: &str, uid: u32, pass: u32) -> Item {
        Item {
            kind: ContentKind::Mail,
            src_folder: folder.into(),
            src_key: Item::mail_key(7, uid),
            src_uidvalidity: Some(7),
            src_uid: Some(uid),
            fingerprint: format!("fp{uid}"),
            dst_folder: folder.into(),
            dst_uidvalidity: None,
            dst_uid: None,
            dst_key: None,
            pass,
            size: 100,
            flags: "\\Seen".into(),
            pending: true,
        }
    }

    #[tokio::test]
    async fn passes_items_and_pending_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).await.unwrap();
        let id = MigrationId::random();
        store
            .create_migration(id, "imap://a@x:143", "imap://b@y:143", "{}")
            .await
            .unwrap();
        assert_eq!(
            store
                .find_migration("imap://a@x:143", "imap://b@y:143")
                .await
                .unwrap()
                .unwrap()
                .id,
            id
        );
        assert_eq!(store.begin_pass(id).await.unwrap(), 1);
        store
            .insert_pending(id, &[mail("INBOX", 1, 1), mail("INBOX", 2, 1)])
            .await
            .unwrap();
        store
            .complete(
                id,
                &[Completion {
                    kind: ContentKind::Mail,
                    src_folder: "INBOX",
                    src_key: "7/1",
                    dst_uidvalidity: Some(9),
                    dst_uid: Some(41),
                    dst_key: None,
                }],
            )
            .await
            .unwrap();
        let items = store
            .items_in_folder(id, ContentKind::Mail, "INBOX")
            .await
            .unwrap();
        assert_eq!(items.len(), 2);
        assert!(!items[0].pending && items[0].dst_uid == Some(41));
        assert!(items[1].pending);
        assert_eq!(store.count_items(id).await.unwrap(), (1, 100));

        // A crashed pass is closed when the next one begins.
        assert_eq!(store.begin_pass(id).await.unwrap(), 2);
        store
            .insert_pending(id, &[mail("Sent", 5, 2)])
            .await
            .unwrap();
        let passes = store.passes(id).await.unwrap();
        assert_eq!(passes[0].status, "interrupted");
        assert_eq!(store.items_from_pass(id, 2).await.unwrap().len(), 1);
        assert_eq!(store.items_from_pass(id, 1).await.unwrap().len(), 3);
        store.delete_items(id, &[items[1].key()]).await.unwrap();
        assert_eq!(store.items_from_pass(id, 1).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn dav_collections_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).await.unwrap();
        let id = MigrationId::random();
        store
            .create_migration(id, "http://a@x/", "http://b@y/", "{}")
            .await
            .unwrap();
        let mut c = DavCollectionState {
            src_href: "/a/cal/".into(),
            kind: ContentKind::Calendars,
            dst_href: "/b/cal/".into(),
            sync_token: Some("t1".into()),
        };
        store.put_dav_collection(id, &c).await.unwrap();
        c.sync_token = None;
        store.put_dav_collection(id, &c).await.unwrap();
        assert_eq!(store.dav_collections(id).await.unwrap(), vec![c]);
        // Reopening keeps the schema version and the rows.
        store.close().await;
        let store = Store::open(&dir.path().join("s.db")).await.unwrap();
        assert_eq!(store.dav_collections(id).await.unwrap().len(), 1);
    }
}
