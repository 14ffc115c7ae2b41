//! Resumable uploads (tus): what the service knows of a file being received. The bytes live
//! in a file on the disk of the machine that received them (`node`, `path`); the row says how
//! many of them are safely on disk (`received`, only moved forward after an fsync), until
//! when an unfinished upload is kept, and the file migration that imports it, once there is
//! one (the row then lives as long as that migration: deleting the migration deletes it).

use passeur_types::MigrationId;

use crate::row::RowExt;
use crate::types::{Result, StoreError};
use crate::{Store, with_pool};

/// One upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Unguessable (the only key to it).
    pub id: String,
    /// The file's full size, in bytes.
    pub length: u64,
    /// Bytes received and synced to disk.
    pub received: u64,
    /// The client's `Upload-Metadata` header, as sent (`key base64,key base64`).
    pub metadata: String,
    /// The file, on `node`'s disk.
    pub path: String,
    /// The machine that holds the file.
    pub node: String,
    /// When the upload began (ms since the epoch).
    pub created_at_ms: i64,
    /// An upload not imported by then is deleted (with its file).
    pub expires_at_ms: i64,
    /// The file migration that imports it.
    pub migration: Option<MigrationId>,
}

impl Upload {
    /// Every byte is there.
    pub fn is_complete(&self) -> bool {
        self.received == self.length
    }
}

fn upload_from_row(r: &impl RowExt) -> Result<Upload> {
    let migration = match r.opt_text("migration_id")? {
        Some(m) => Some(
            m.parse()
                .map_err(|_| StoreError::Corrupt(format!("migration id {m:?}")))?,
        ),
        None => None,
    };
    let size = |c: &str| -> Result<u64> {
        let v = r.int(c)?;
        u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("upload {c} {v}")))
    };
    Ok(Upload {
        id: r.text("id")?,
        length: size("length")?,
        received: size("received")?,
        metadata: r.text("metadata")?,
        path: r.text("path")?,
        node: r.text("node")?,
        created_at_ms: r.int("created_at_ms")?,
        expires_at_ms: r.int("expires_at_ms")?,
        migration,
    })
}

fn db_size(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Records a new upload.
    pub async fn create_upload(&self, u: &Upload) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO uploads (id, length, received, metadata, path, node, created_at_ms,
                    expires_at_ms, migration_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&u.id)
            .bind(db_size(u.length))
            .bind(db_size(u.received))
            .bind(&u.metadata)
            .bind(&u.path)
            .bind(&u.node)
            .bind(u.created_at_ms)
            .bind(u.expires_at_ms)
            .bind(u.migration.map(|m| m.to_string()))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The upload with this ID, if any.
    pub async fn upload(&self, id: &str) -> Result<Option<Upload>> {
        with_pool!(self, |pool| {
            let row = sqlx::query("SELECT * FROM uploads WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(upload_from_row).transpose()
        })
    }

    /// Moves an upload's offset from `from` to `to`; false (and nothing changed) when its
    /// offset is no longer `from`, or it is gone.
    pub async fn advance_upload(&self, id: &str, from: u64, to: u64) -> Result<bool> {
        let n = with_pool!(self, |pool| {
            sqlx::query("UPDATE uploads SET received = $3 WHERE id = $1 AND received = $2")
                .bind(id)
                .bind(db_size(from))
                .bind(db_size(to))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Binds a complete upload to the file migration that imports it; false when it is not
    /// complete, already bound, or gone.
    pub async fn attach_upload(&self, id: &str, migration: MigrationId) -> Result<bool> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE uploads SET migration_id = $2
                 WHERE id = $1 AND migration_id IS NULL AND received = length",
            )
            .bind(id)
            .bind(migration.to_string())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Forgets an upload (its file is the caller's to delete). Whether it existed.
    pub async fn delete_upload(&self, id: &str) -> Result<bool> {
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM uploads WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// The uploads held by `node` (or by the store itself, which any machine sweeps) that no
    /// migration imports and that expired before `now_ms`.
    pub async fn expired_uploads(&self, node: &str, now_ms: i64) -> Result<Vec<Upload>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT * FROM uploads
                 WHERE (node = $1 OR node = '') AND migration_id IS NULL AND expires_at_ms < $2
                 ORDER BY expires_at_ms LIMIT 1000",
            )
            .bind(node)
            .bind(now_ms)
            .fetch_all(pool)
            .await?;
            rows.iter().map(upload_from_row).collect()
        })
    }

    /// The uploads a migration imports.
    pub async fn uploads_of(&self, migration: MigrationId) -> Result<Vec<Upload>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query("SELECT * FROM uploads WHERE migration_id = $1")
                .bind(migration.to_string())
                .fetch_all(pool)
                .await?;
            rows.iter().map(upload_from_row).collect()
        })
    }
}
