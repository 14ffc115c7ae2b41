//! A handle for the service's reads (a tracking lookup, the dashboard) that must not queue
//! behind the workers' writes.
//!
//! On SQLite, WAL lets any number of readers run beside the one writer, but a reader still
//! needs a connection of the pool, and while passes run most of the pool's connections are
//! held by writers waiting for the write lock (SQLite's busy handler sleeps while it holds
//! the connection). A lookup then waited for a writer to commit before it could even start
//! reading. [`Store::reader`] gives such reads a small pool of their own on the same file.
//! On PostgreSQL, writers do not hold connections waiting for one another: the same handle.

use sqlx::sqlite::SqlitePoolOptions;

use crate::types::Result;
use crate::{Backend, Store};

/// Connections of the reading pool (reads are short; each GET makes a few in a row).
const READERS: u32 = 4;

impl Store {
    /// A handle whose reads never wait behind writers for a connection (see the module
    /// docs). Writes through it are allowed (they take the write lock like any other).
    pub async fn reader(&self) -> Result<Store> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let opts = (*pool.connect_options()).clone();
                let readers = SqlitePoolOptions::new()
                    .max_connections(READERS)
                    .connect_with(opts)
                    .await?;
                Ok(Store {
                    backend: Backend::Sqlite(readers),
                    fence: None,
                })
            }
            Backend::Postgres(_) => Ok(self.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::tests::{Db, new_migration};

    /// Every connection of the main pool held (writers waiting for the lock): a read through
    /// the reading handle still answers at once, one through the main handle waits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_through_the_reader_do_not_wait_for_the_writers_connections() {
        let db = Db::sqlite();
        let s = db.open().await;
        let id = new_migration(&s).await;
        let reader = s.reader().await.unwrap();
        let Backend::Sqlite(pool) = &s.backend else {
            unreachable!()
        };
        let mut held = Vec::new();
        while let Ok(Ok(c)) = tokio::time::timeout(Duration::from_millis(200), pool.acquire()).await
        {
            held.push(c);
        }
        assert!(held.len() >= 4, "{}", held.len());
        let read = tokio::time::timeout(Duration::from_secs(2), reader.migration(id)).await;
        assert_eq!(read.expect("the reader waited").unwrap().id, id);
        let blocked = tokio::time::timeout(Duration::from_millis(300), s.migration(id)).await;
        assert!(blocked.is_err(), "the main pool had a free connection");
        drop(held);
        assert_eq!(s.migration(id).await.unwrap().id, id);
    }
}
