//! The SQLite backend: opening the file, its schema steps, the write transaction, and the
//! lease statements that read the local clock.

use std::path::Path;
use std::time::Duration;

use passeur_types::MigrationId;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::Fence;
use crate::types::{Result, StoreError, now_ms};

/// The schema steps, in order; `PRAGMA user_version` counts those applied. Never edit a
/// step that has shipped: add one.
const STEPS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_initial.sql"),
    include_str!("../migrations/sqlite/0002_dav_collections.sql"),
    include_str!("../migrations/sqlite/0003_purged.sql"),
    include_str!("../migrations/sqlite/0004_etag_leases.sql"),
    include_str!("../migrations/sqlite/0005_service.sql"),
    include_str!("../migrations/sqlite/0006_uploads_projects.sql"),
    include_str!("../migrations/sqlite/0007_error_code_warning_throttle.sql"),
    include_str!("../migrations/sqlite/0008_item_notes.sql"),
    include_str!("../migrations/sqlite/0009_upload_chunks.sql"),
    include_str!("../migrations/sqlite/0010_oauth_signins.sql"),
    include_str!("../migrations/sqlite/0011_items_by_src_uid.sql"),
    include_str!("../migrations/sqlite/0012_sign_in.sql"),
];

/// Opens (creating if needed) the store file and brings its schema up to date.
pub(crate) async fn open(path: &Path) -> Result<SqlitePool> {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a committed transaction survives power loss (see the crate docs).
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(30));
    let pool = SqlitePoolOptions::new()
        // WAL lets readers run beside the one writer: API reads must not queue behind the
        // workers' writes for a connection.
        .max_connections(16)
        .connect_with(opts)
        .await
        .map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
    upgrade_schema(&pool).await?;
    Ok(pool)
}

/// Applies the schema steps this file has not seen yet.
async fn upgrade_schema(pool: &SqlitePool) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut *tx)
        .await?;
    if version < 0 || version as usize > STEPS.len() {
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

/// A transaction that holds the write lock from its start, so that its reads (the fence
/// check) and writes see one state and it never fails to upgrade a read lock.
pub(crate) async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

/// Fails with [`StoreError::LeaseLost`] unless `fence` (if any) still holds `id`'s lease.
pub(crate) async fn check_fence(
    tx: &mut Transaction<'static, Sqlite>,
    fence: Option<Fence>,
    id: MigrationId,
) -> Result<()> {
    let Some(f) = fence else { return Ok(()) };
    if f.migration != id {
        return Err(StoreError::LeaseLost);
    }
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT token FROM leases WHERE migration_id = $1 AND token = $2 AND expires_at_ms > $3",
    )
    .bind(id.to_string())
    .bind(f.token)
    .bind(now_ms())
    .fetch_optional(&mut **tx)
    .await?;
    held.map(|_| ()).ok_or(StoreError::LeaseLost)
}

/// Takes the lease if free or expired: `Ok((token, expires_at_ms))`, or `Err((holder,
/// expires_at_ms))` of the current holder.
pub(crate) async fn acquire(
    pool: &SqlitePool,
    id: MigrationId,
    holder: &str,
    ttl_ms: i64,
    dead: &str,
) -> Result<std::result::Result<(i64, i64), (String, i64)>> {
    let mut tx = begin_write(pool).await?;
    let now = now_ms();
    let won: Option<(i64, i64)> = sqlx::query_as(
        "INSERT INTO leases (migration_id, holder, token, expires_at_ms) VALUES ($1, $2, 1, $3 + $4)
         ON CONFLICT (migration_id) DO UPDATE SET holder = excluded.holder,
            token = leases.token + 1, expires_at_ms = excluded.expires_at_ms
         WHERE leases.expires_at_ms <= $3 OR leases.holder = $5
         RETURNING token, expires_at_ms",
    )
    .bind(id.to_string())
    .bind(holder)
    .bind(now)
    .bind(ttl_ms)
    .bind(dead)
    .fetch_optional(&mut *tx)
    .await?;
    let out = match won {
        Some(w) => Ok(w),
        None => Err(sqlx::query_as(
            "SELECT holder, expires_at_ms FROM leases WHERE migration_id = $1",
        )
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await?),
    };
    tx.commit().await?;
    Ok(out)
}

/// Extends an unexpired lease still carrying `token`: whether it was.
pub(crate) async fn renew(
    pool: &SqlitePool,
    id: MigrationId,
    token: i64,
    ttl_ms: i64,
) -> Result<bool> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE leases SET expires_at_ms = $3 + $4
         WHERE migration_id = $1 AND token = $2 AND expires_at_ms > $3",
    )
    .bind(id.to_string())
    .bind(token)
    .bind(now)
    .bind(ttl_ms)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends the lease if it still carries `token`.
pub(crate) async fn release(pool: &SqlitePool, id: MigrationId, token: i64) -> Result<()> {
    sqlx::query("UPDATE leases SET expires_at_ms = 0 WHERE migration_id = $1 AND token = $2")
        .bind(id.to_string())
        .bind(token)
        .execute(pool)
        .await?;
    Ok(())
}
