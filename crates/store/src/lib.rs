//! passeur's persistence, on SQLite (one file, for the CLI) or PostgreSQL (for the service).
//!
//! [`Store`] keeps, for each migration: its row ([`MigrationRow`]), its passes ([`PassRow`], the
//! sync points, with a typed [`PassStatus`]), the last seen state of each source folder
//! ([`FolderState`]), its DAV collections ([`DavCollectionState`]), its per-item failures
//! ([`Failure`], bounded to [`FAILURE_TEXT_MAX`] bytes per text field) and the **item map**
//! ([`Item`]): one row per copied item, with its source key, fingerprint, destination key, the
//! destination ETag for DAV items, and the pass that copied it. The item map is what makes every
//! pass incremental, every crash-resume duplicate-free and "purge from pass N" exact.
//!
//! Items are written in two steps around the risky part (the APPEND or PUT): first as *pending*
//! ([`Store::insert_pending`], which never overwrites a confirmed row), then completed with their
//! destination key ([`Store::complete`]). A pending row found at the next run marks the crash
//! window, which the engine reconciles against the destination before copying again. A DAV
//! item updated in place is rewritten with [`Store::record_copied`].
//!
//! # Backends
//!
//! [`Store`] is one type over a fixed set of backends: [`Store::open`] (an SQLite file) and
//! [`Store::connect`] (`sqlite://…`, a path, or `postgres://…`). Both run the same queries
//! (written with `$n` placeholders, which both accept); what differs — schema steps, the
//! transaction that takes the write lock, lease clocks — stays in `sqlite.rs` and `postgres.rs`.
//!
//! # Durability
//!
//! A committed pending row must survive a power loss, or the next run would copy again an item
//! whose APPEND landed. PostgreSQL guarantees it with its default `synchronous_commit = on`.
//! SQLite runs in WAL mode with `synchronous = FULL`, which syncs the WAL at every commit;
//! with `NORMAL` a commit could be lost at power loss. We chose `FULL` over a separate fsync
//! barrier before each APPEND because it covers every write with one setting, and its cost is
//! one WAL sync per transaction: pending rows are written per batch, not per message.
//!
//! # Leases and fencing
//!
//! A migration is run by one process at a time. A runner takes the migration's [`Lease`] with
//! [`Store::acquire_lease`] (refused with [`StoreError::Busy`] while another holds it, or waited
//! for with [`Store::acquire_lease_wait`]), renews it more often than its TTL with
//! [`Store::renew_lease`], and gives it back with [`Store::release_lease`]. Every acquisition
//! increments the lease's fencing token. A handle made by [`Store::fenced`] checks, in the same
//! transaction as each write of the migration's rows, that its token is still the lease's and
//! the lease unexpired; otherwise the write fails with [`StoreError::LeaseLost`] and writes
//! nothing. So a runner whose lease was taken over (it stalled past its TTL) cannot write
//! after the new holder started. Handles that are not fenced write as before.

#![warn(missing_docs)]

mod items;
mod jobs;
mod lease;
mod oauth_signins;
mod postgres;
mod projects;
mod reader;
mod reconcile;
mod row;
mod runs;
mod sqlite;
mod throttle;
mod types;
mod upload_chunks;
mod uploads;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_jobs;
#[cfg(test)]
mod tests_projects;
#[cfg(test)]
mod tests_uploads;

pub use jobs::{ClaimLimits, Job, JobEnd, JobState, NOTIFY_KIND, NewJob, ServiceMeta};
pub use lease::Lease;
pub use oauth_signins::OAuthSignin;
pub use projects::{NewProject, NewSession, Project, Session};
pub use types::{
    Completion, DavCollectionState, FAILURE_TEXT_MAX, Failure, FolderState, Item, ItemKey,
    ItemNote, MailFolderSummary, MailScope, MigrationRow, PassCounters, PassRow, PassStatus, Rekey,
    Result, StoreError,
};
pub use uploads::Upload;

use std::path::Path;

use passeur_types::MigrationId;
use sqlx::{PgPool, SqlitePool};

/// The database behind a [`Store`].
#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The token a fenced handle writes under.
#[derive(Clone, Copy, Debug)]
struct Fence {
    migration: MigrationId,
    token: i64,
}

/// The store: a handle on the database, cheap to clone.
///
/// A handle may be bound to a [`Lease`] with [`Store::fenced`]; its writes of that migration's
/// rows are then refused once the lease is lost.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    fence: Option<Fence>,
}

/// Runs `$body` with `$pool` bound to the backend's pool (`&SqlitePool` or `&PgPool`): the
/// same source, type-checked once per backend.
macro_rules! with_pool {
    ($self:expr, |$pool:ident| $body:expr) => {
        match &$self.backend {
            $crate::Backend::Sqlite($pool) => $body,
            $crate::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Runs `$body` in a write transaction `$tx` on migration `$id`: it takes the write lock first
/// (`BEGIN IMMEDIATE` on SQLite), checks the handle's fence if any, and commits after `$body`.
/// An error anywhere rolls back (the transaction is dropped).
macro_rules! write_tx {
    ($self:expr, $id:expr, |$tx:ident| $body:block) => {
        match &$self.backend {
            $crate::Backend::Sqlite(pool) => {
                let mut $tx = $crate::sqlite::begin_write(pool).await?;
                $crate::sqlite::check_fence(&mut $tx, $self.fence, $id).await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::Backend::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                $crate::postgres::check_fence(&mut $tx, $self.fence, $id).await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}
pub(crate) use write_tx;

impl Store {
    /// Opens (creating if needed) the SQLite store file and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Store> {
        let pool = sqlite::open(path).await?;
        Ok(Store {
            backend: Backend::Sqlite(pool),
            fence: None,
        })
    }

    /// Opens the store named by `url` and brings its schema up to date: `postgres://…` or
    /// `postgresql://…` for PostgreSQL (the database must exist), `sqlite://PATH`,
    /// `sqlite:PATH` or a plain path for an SQLite file (created if missing).
    pub async fn connect(url: &str) -> Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = postgres::connect(url).await?;
            return Ok(Store {
                backend: Backend::Postgres(pool),
                fence: None,
            });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.contains("://") || path.is_empty() {
            return Err(StoreError::Url(format!(
                "{} is neither postgres://… nor sqlite://… nor a file path",
                postgres::redact(url)
            )));
        }
        Store::open(Path::new(path)).await
    }

    /// Which backend this is: `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// A handle whose writes of `lease`'s migration are checked against the lease (see the
    /// crate docs): once the lease is lost they fail with [`StoreError::LeaseLost`].
    pub fn fenced(&self, lease: &Lease) -> Store {
        Store {
            backend: self.backend.clone(),
            fence: Some(Fence {
                migration: lease.migration(),
                token: lease.token_raw(),
            }),
        }
    }

    /// Whether this handle is bound to a lease.
    pub fn is_fenced(&self) -> bool {
        self.fence.is_some()
    }

    /// Closes the connections (of every clone of this handle).
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }
}
