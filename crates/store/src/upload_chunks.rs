//! Uploads held in the store rather than on one machine's disk, so that every process of a
//! cluster can take the next PATCH of an upload and any worker can import it.
//!
//! - The bytes are rows of `upload_chunks`: (upload, first byte, bytes), about 1 MiB each,
//!   deleted with their upload (and so with the migration that imports it).
//! - An upload's `received` counts only chunks wholly written: a chunk row beyond it is left
//!   over from a cut or refused request, and the next writer drops it first.
//! - One writer at a time, across processes: a writer takes a short lease on the upload's row
//!   ([`Store::claim_upload_writer`]); every chunk write renews it and is refused, writing
//!   nothing, once the lease is another's. A writer that died frees the upload when its lease
//!   runs out.
//!
//! Such an upload has no machine: its `node` and `path` are empty ([`Upload::held_in_store`]).

use crate::row::RowExt as _;
use crate::types::{Result, StoreError};
use crate::uploads::Upload;
use crate::{Store, with_pool};

impl Upload {
    /// Its bytes are in the store (`upload_chunks`), not in a file on one machine.
    pub fn held_in_store(&self) -> bool {
        self.node.is_empty()
    }
}

fn db(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Makes `writer` the only writer of upload `id` for `ttl_ms` (renewed by each chunk it
    /// writes); false while another writer's lease runs.
    pub async fn claim_upload_writer(&self, id: &str, writer: &str, ttl_ms: i64) -> Result<bool> {
        let now = self.clock_ms().await?;
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE uploads SET writer = $2, writer_until_ms = $3
                 WHERE id = $1 AND (writer IS NULL OR writer = $2 OR writer_until_ms < $4)",
            )
            .bind(id)
            .bind(writer)
            .bind(now.saturating_add(ttl_ms))
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Lets go of upload `id` if `writer` still holds it.
    pub async fn release_upload_writer(&self, id: &str, writer: &str) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE uploads SET writer = NULL, writer_until_ms = 0
                 WHERE id = $1 AND writer = $2",
            )
            .bind(id)
            .bind(writer)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Writes `data` as the chunk of upload `id` that starts at byte `at`, renewing `writer`'s
    /// lease for `ttl_ms`. With `advance`, the upload's offset must be `at` and moves past the
    /// chunk in the same transaction; without, the offset stays (a chunk checked later as part
    /// of a whole). False, and nothing written, when `writer` no longer holds the upload or
    /// (with `advance`) its offset is not `at`.
    pub async fn put_upload_chunk(
        &self,
        id: &str,
        writer: &str,
        ttl_ms: i64,
        at: u64,
        data: &[u8],
        advance: bool,
    ) -> Result<bool> {
        let now = self.clock_ms().await?;
        let end = at + data.len() as u64;
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "UPDATE uploads SET writer_until_ms = $3,
                   received = CASE WHEN $4 THEN $6 ELSE received END
                 WHERE id = $1 AND writer = $2 AND (NOT $4 OR received = $5)",
            )
            .bind(id)
            .bind(writer)
            .bind(now.saturating_add(ttl_ms))
            .bind(advance)
            .bind(db(at))
            .bind(db(end))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Ok(false);
            }
            sqlx::query("INSERT INTO upload_chunks (upload_id, at_byte, data) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(db(at))
                .bind(data)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Renews `writer`'s lease on upload `id` (a slow client between chunks); with
    /// `advance_to`, also moves the offset from `from` to it (chunks written without
    /// advancing, now checked). False when the lease is another's or the offset moved.
    pub async fn renew_upload_writer(
        &self,
        id: &str,
        writer: &str,
        ttl_ms: i64,
        advance: Option<(u64, u64)>,
    ) -> Result<bool> {
        let now = self.clock_ms().await?;
        let (from, to) = advance.map_or((-1, -1), |(f, t)| (db(f), db(t)));
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE uploads SET writer_until_ms = $3,
                   received = CASE WHEN $4 >= 0 THEN $5 ELSE received END
                 WHERE id = $1 AND writer = $2 AND ($4 < 0 OR received = $4)",
            )
            .bind(id)
            .bind(writer)
            .bind(now.saturating_add(ttl_ms))
            .bind(from)
            .bind(to)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Drops the chunks of upload `id` that start at byte `from` or later (left over beyond
    /// its offset, or refused), if `writer` holds it. False when it does not.
    pub async fn drop_upload_chunks(&self, id: &str, writer: &str, from: u64) -> Result<bool> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let n = sqlx::query("UPDATE uploads SET writer = writer WHERE id = $1 AND writer = $2")
                .bind(id)
                .bind(writer)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n != 1 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM upload_chunks WHERE upload_id = $1 AND at_byte >= $2")
                .bind(id)
                .bind(db(from))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Up to `limit` chunks of upload `id` from byte `from` on, in order, below its offset
    /// (what was safely received): `(first byte, bytes)`. A reader pages through a file with
    /// it, holding `limit` chunks at most.
    pub async fn upload_chunks(
        &self,
        id: &str,
        from: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT c.at_byte, c.data FROM upload_chunks c JOIN uploads u ON u.id = c.upload_id
                 WHERE c.upload_id = $1 AND c.at_byte >= $2 AND c.at_byte < u.received
                 ORDER BY c.at_byte LIMIT $3",
            )
            .bind(id)
            .bind(db(from))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let at = r.int("at_byte")?;
                    let at = u64::try_from(at)
                        .map_err(|_| StoreError::Corrupt(format!("chunk offset {at}")))?;
                    Ok((at, r.blob("data")?))
                })
                .collect()
        })
    }
}
