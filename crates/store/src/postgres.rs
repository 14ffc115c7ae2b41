//! The PostgreSQL backend: connecting, its schema steps, and the lease statements, which read
//! the server's clock so that runners on several machines agree on expiry.

use std::time::Duration;

use passeur_types::MigrationId;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};

use crate::Fence;
use crate::types::{Result, StoreError};

/// The schema steps, in order; the `passeur_schema` table counts those applied. Never edit a
/// step that has shipped: add one.
const STEPS: &[&str] = &[
    include_str!("../migrations/postgres/0001_initial.sql"),
    include_str!("../migrations/postgres/0002_service.sql"),
    include_str!("../migrations/postgres/0003_uploads_projects.sql"),
    include_str!("../migrations/postgres/0004_error_code_warning_throttle.sql"),
    include_str!("../migrations/postgres/0005_item_notes.sql"),
    include_str!("../migrations/postgres/0006_upload_chunks.sql"),
    include_str!("../migrations/postgres/0007_oauth_signins.sql"),
    include_str!("../migrations/postgres/0008_items_by_src_uid.sql"),
    include_str!("../migrations/postgres/0009_sign_in.sql"),
];

/// Serialises schema upgrades of processes that start together (any fixed number).
const SCHEMA_LOCK: i64 = 0x0070_6173_7365_7572;

/// The server's time in milliseconds since the Unix epoch.
macro_rules! pg_now_ms {
    () => {
        "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"
    };
}
pub(crate) use pg_now_ms;

/// `url` with its password (if any) replaced, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let auth_end = rest.find('/').unwrap_or(rest.len());
    match rest[..auth_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***{}", &rest[at..])
        }
        None => url.to_string(),
    }
}

/// Connects to the database at `url` and brings its schema up to date.
pub(crate) async fn connect(url: &str) -> Result<PgPool> {
    let open_err = |source| StoreError::Open {
        path: redact(url),
        source,
    };
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await
        .map_err(open_err)?;
    upgrade_schema(&pool).await?;
    Ok(pool)
}

async fn upgrade_schema(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SCHEMA_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS passeur_schema (version BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM passeur_schema")
        .fetch_one(&mut *tx)
        .await?;
    let version = version.unwrap_or(0);
    if version < 0 || version as usize > STEPS.len() {
        return Err(StoreError::Corrupt(format!(
            "schema version {version} is newer than this program knows ({})",
            STEPS.len()
        )));
    }
    for step in &STEPS[version as usize..] {
        sqlx::raw_sql(*step).execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM passeur_schema")
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO passeur_schema (version) VALUES ($1)")
        .bind(STEPS.len() as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Fails with [`StoreError::LeaseLost`] unless `fence` (if any) still holds `id`'s lease. The
/// row stays share-locked until the transaction ends, so a take-over waits for this write to
/// commit and this write never lands after a take-over.
pub(crate) async fn check_fence(
    tx: &mut Transaction<'static, Postgres>,
    fence: Option<Fence>,
    id: MigrationId,
) -> Result<()> {
    let Some(f) = fence else { return Ok(()) };
    if f.migration != id {
        return Err(StoreError::LeaseLost);
    }
    let held: Option<i64> = sqlx::query_scalar(concat!(
        "SELECT token FROM leases WHERE migration_id = $1 AND token = $2 AND expires_at_ms > ",
        pg_now_ms!(),
        " FOR SHARE"
    ))
    .bind(id.to_string())
    .bind(f.token)
    .fetch_optional(&mut **tx)
    .await?;
    held.map(|_| ()).ok_or(StoreError::LeaseLost)
}

/// Takes the lease if free or expired: `Ok((token, expires_at_ms))`, or `Err((holder,
/// expires_at_ms))` of the current holder.
pub(crate) async fn acquire(
    pool: &PgPool,
    id: MigrationId,
    holder: &str,
    ttl_ms: i64,
    dead: &str,
) -> Result<std::result::Result<(i64, i64), (String, i64)>> {
    let mut tx = pool.begin().await?;
    // Two first acquisitions race on the INSERT: the loser waits for the winner's commit,
    // then sees its unexpired row and updates nothing.
    let won: Option<(i64, i64)> = sqlx::query_as(concat!(
        "INSERT INTO leases (migration_id, holder, token, expires_at_ms) VALUES ($1, $2, 1, ",
        pg_now_ms!(),
        " + $3)
         ON CONFLICT (migration_id) DO UPDATE SET holder = excluded.holder,
            token = leases.token + 1, expires_at_ms = excluded.expires_at_ms
         WHERE leases.holder = $4 OR leases.expires_at_ms <= ",
        pg_now_ms!(),
        " RETURNING token, expires_at_ms"
    ))
    .bind(id.to_string())
    .bind(holder)
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
pub(crate) async fn renew(pool: &PgPool, id: MigrationId, token: i64, ttl_ms: i64) -> Result<bool> {
    let done = sqlx::query(concat!(
        "UPDATE leases SET expires_at_ms = ",
        pg_now_ms!(),
        " + $3 WHERE migration_id = $1 AND token = $2 AND expires_at_ms > ",
        pg_now_ms!()
    ))
    .bind(id.to_string())
    .bind(token)
    .bind(ttl_ms)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends the lease if it still carries `token`.
pub(crate) async fn release(pool: &PgPool, id: MigrationId, token: i64) -> Result<()> {
    sqlx::query("UPDATE leases SET expires_at_ms = 0 WHERE migration_id = $1 AND token = $2")
        .bind(id.to_string())
        .bind(token)
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn redact_hides_the_password() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact("postgres://h/db"), "postgres://h/db");
    }
}
