//! Migrations, their passes, folder states and DAV collections.

use std::str::FromStr;

use passeur_types::{ContentKind, MigrationId, Status};

use crate::row::RowExt;
use crate::types::{
    DavCollectionState, FolderState, MigrationRow, PassCounters, PassRow, PassStatus, Result,
    StoreError, now, opt_u32,
};
use crate::{Backend, Store, with_pool, write_tx};

fn migration_from_row(r: &impl RowExt) -> Result<MigrationRow> {
    let id = r.text("id")?;
    let status = r.text("status")?;
    Ok(MigrationRow {
        id: MigrationId::from_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: r.int("created_at")?,
        source: r.text("source")?,
        destination: r.text("destination")?,
        options: r.text("options")?,
        status: Status::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("status {status:?}")))?,
        error: r.opt_text("error")?,
        error_code: r.opt_text("error_code")?,
    })
}

fn pass_from_row(r: &impl RowExt) -> Result<PassRow> {
    let status = r.text("status")?;
    Ok(PassRow {
        number: r.int("number")? as u32,
        started_at: r.int("started_at")?,
        finished_at: r.opt_int("finished_at")?,
        status: PassStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("pass status {status:?}")))?,
        counters: PassCounters {
            copied: r.int("copied")? as u64,
            bytes: r.int("bytes")? as u64,
            flags_updated: r.int("flags_updated")? as u64,
            failed: r.int("failed")? as u64,
        },
        error: r.opt_text("error")?,
    })
}

fn folder_from_row(r: &impl RowExt) -> Result<FolderState> {
    Ok(FolderState {
        src_name: r.text("src_name")?,
        dst_name: r.text("dst_name")?,
        src_uidvalidity: opt_u32(r.opt_int("src_uidvalidity")?),
        src_uidnext: opt_u32(r.opt_int("src_uidnext")?),
        src_messages: opt_u32(r.opt_int("src_messages")?),
        src_highestmodseq: r.opt_int("src_highestmodseq")?.map(|v| v as u64),
        dst_uidvalidity: opt_u32(r.opt_int("dst_uidvalidity")?),
        complete: r.flag("complete")?,
    })
}

pub(crate) fn parse_kind(kind: &str) -> Result<ContentKind> {
    kind.parse()
        .map_err(|_| StoreError::Corrupt(format!("kind {kind:?}")))
}

fn collection_from_row(r: &impl RowExt) -> Result<DavCollectionState> {
    Ok(DavCollectionState {
        src_href: r.text("src_href")?,
        kind: parse_kind(&r.text("kind")?)?,
        dst_href: r.text("dst_href")?,
        sync_token: r.opt_text("sync_token")?,
    })
}

impl Store {
    // ---- migrations -------------------------------------------------------------------------

    /// Records a new migration, `queued`.
    pub async fn create_migration(
        &self,
        id: MigrationId,
        source: &str,
        destination: &str,
        options: &str,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO migrations (id, created_at, source, destination, options, status)
                 VALUES ($1, $2, $3, $4, $5, 'queued')",
            )
            .bind(id.to_string())
            .bind(now())
            .bind(source)
            .bind(destination)
            .bind(options)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The migration with this ID, or [`StoreError::NotFound`].
    pub async fn migration(&self, id: MigrationId) -> Result<MigrationRow> {
        with_pool!(self, |pool| {
            let row = sqlx::query("SELECT * FROM migrations WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?
                .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
            migration_from_row(&row)
        })
    }

    /// The most recent migration between this source and destination, if any.
    pub async fn find_migration(
        &self,
        source: &str,
        destination: &str,
    ) -> Result<Option<MigrationRow>> {
        let sql = match self.backend {
            Backend::Sqlite(_) => {
                "SELECT * FROM migrations WHERE source = $1 AND destination = $2
                 ORDER BY created_at DESC, rowid DESC LIMIT 1"
            }
            Backend::Postgres(_) => {
                "SELECT * FROM migrations WHERE source = $1 AND destination = $2
                 ORDER BY created_at DESC, seq DESC LIMIT 1"
            }
        };
        with_pool!(self, |pool| {
            let row = sqlx::query(sql)
                .bind(source)
                .bind(destination)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(migration_from_row).transpose()
        })
    }

    /// Replaces a migration's options (JSON).
    ///
    /// Through a fenced handle, refused with [`StoreError::LeaseLost`] once its lease is lost.
    pub async fn set_options(&self, id: MigrationId, options: &str) -> Result<()> {
        write_tx!(self, id, |tx| {
            sqlx::query("UPDATE migrations SET options = $1 WHERE id = $2")
                .bind(options)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Sets a migration's status and error. Through a fenced handle, refused with
    /// [`StoreError::LeaseLost`] once its lease is lost.
    pub async fn set_status(
        &self,
        id: MigrationId,
        status: Status,
        error: Option<&str>,
    ) -> Result<()> {
        self.set_status_coded(id, status, error, None).await
    }

    /// [`Store::set_status`] with a stable word for the kind of failure beside its text (see
    /// [`MigrationRow::error_code`]).
    pub async fn set_status_coded(
        &self,
        id: MigrationId,
        status: Status,
        error: Option<&str>,
        code: Option<&str>,
    ) -> Result<()> {
        write_tx!(self, id, |tx| {
            sqlx::query(
                "UPDATE migrations SET status = $1, error = $2, error_code = $3 WHERE id = $4",
            )
            .bind(status.as_str())
            .bind(error)
            .bind(code)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    // ---- passes -----------------------------------------------------------------------------

    /// Starts the next pass and returns its number (1 for the first). A pass left `running`
    /// (by a process that died: with the lease held, nobody else is running) is closed as
    /// `interrupted` first.
    pub async fn begin_pass(&self, id: MigrationId) -> Result<u32> {
        let number = write_tx!(self, id, |tx| {
            sqlx::query(
                "UPDATE passes SET status = $1, finished_at = $2
                 WHERE migration_id = $3 AND status = $4",
            )
            .bind(PassStatus::Interrupted.as_str())
            .bind(now())
            .bind(id.to_string())
            .bind(PassStatus::Running.as_str())
            .execute(&mut *tx)
            .await?;
            let last: Option<i64> =
                sqlx::query_scalar("SELECT MAX(number) FROM passes WHERE migration_id = $1")
                    .bind(id.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
            let number = last.unwrap_or(0) + 1;
            sqlx::query(
                "INSERT INTO passes (migration_id, number, started_at, status)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id.to_string())
            .bind(number)
            .bind(now())
            .bind(PassStatus::Running.as_str())
            .execute(&mut *tx)
            .await?;
            number
        });
        Ok(number as u32)
    }

    /// Records a pass's counters; with `finished`, also how it ended and why.
    pub async fn update_pass(
        &self,
        id: MigrationId,
        number: u32,
        counters: PassCounters,
        finished: Option<(PassStatus, Option<&str>)>,
    ) -> Result<()> {
        let (status, error, finished_at) = match finished {
            Some((status, error)) => (status, error, Some(now())),
            None => (PassStatus::Running, None, None),
        };
        write_tx!(self, id, |tx| {
            sqlx::query(
                "UPDATE passes SET copied = $1, bytes = $2, flags_updated = $3, failed = $4,
                    status = $5, error = $6, finished_at = $7
                 WHERE migration_id = $8 AND number = $9",
            )
            .bind(counters.copied as i64)
            .bind(counters.bytes as i64)
            .bind(counters.flags_updated as i64)
            .bind(counters.failed as i64)
            .bind(status.as_str())
            .bind(error)
            .bind(finished_at)
            .bind(id.to_string())
            .bind(i64::from(number))
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    /// A migration's passes, first first.
    pub async fn passes(&self, id: MigrationId) -> Result<Vec<PassRow>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query("SELECT * FROM passes WHERE migration_id = $1 ORDER BY number")
                .bind(id.to_string())
                .fetch_all(pool)
                .await?;
            rows.iter().map(pass_from_row).collect()
        })
    }

    /// Every pass, of any migration, started after `since` (Unix seconds), with its
    /// migration's recorded source and destination: what an account moved lately across
    /// migrations (a provider's daily limit counts them all).
    pub async fn passes_since(&self, since: i64) -> Result<Vec<(String, String, PassRow)>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT m.source AS m_source, m.destination AS m_destination, p.*
                 FROM passes p JOIN migrations m ON m.id = p.migration_id
                 WHERE p.started_at > $1 ORDER BY p.started_at",
            )
            .bind(since)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok((
                        r.text("m_source")?,
                        r.text("m_destination")?,
                        pass_from_row(r)?,
                    ))
                })
                .collect()
        })
    }

    // ---- folders ----------------------------------------------------------------------------

    /// The last seen state of each source folder, by name.
    pub async fn folder_states(&self, id: MigrationId) -> Result<Vec<FolderState>> {
        with_pool!(self, |pool| {
            let rows =
                sqlx::query("SELECT * FROM folders WHERE migration_id = $1 ORDER BY src_name")
                    .bind(id.to_string())
                    .fetch_all(pool)
                    .await?;
            rows.iter().map(folder_from_row).collect()
        })
    }

    /// Records the state of a source folder.
    pub async fn put_folder_state(&self, id: MigrationId, f: &FolderState) -> Result<()> {
        write_tx!(self, id, |tx| {
            sqlx::query(
                "INSERT INTO folders (migration_id, src_name, dst_name, src_uidvalidity,
                    src_uidnext, src_messages, src_highestmodseq, dst_uidvalidity, complete)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
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
            .bind(f.complete)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    // ---- DAV collections --------------------------------------------------------------------

    /// The DAV collections of a migration, by source href.
    pub async fn dav_collections(&self, id: MigrationId) -> Result<Vec<DavCollectionState>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT * FROM dav_collections WHERE migration_id = $1 ORDER BY src_href",
            )
            .bind(id.to_string())
            .fetch_all(pool)
            .await?;
            rows.iter().map(collection_from_row).collect()
        })
    }

    /// Records a DAV collection (its destination and sync token).
    pub async fn put_dav_collection(&self, id: MigrationId, c: &DavCollectionState) -> Result<()> {
        write_tx!(self, id, |tx| {
            sqlx::query(
                "INSERT INTO dav_collections (migration_id, src_href, kind, dst_href, sync_token)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (migration_id, src_href) DO UPDATE SET
                    kind = excluded.kind, dst_href = excluded.dst_href,
                    sync_token = excluded.sync_token",
            )
            .bind(id.to_string())
            .bind(&c.src_href)
            .bind(c.kind.as_str())
            .bind(&c.dst_href)
            .bind(&c.sync_token)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }
}
