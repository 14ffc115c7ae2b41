//! Shared counters over the `throttle` table (whose windows `throttle_count`, `throttle_hit`
//! and `throttle_sweep` also use): several attempts added at once, the window's count
//! answered, so that a process can count locally and tell the store now and then.

use crate::types::Result;
use crate::{Store, with_pool};

impl Store {
    /// Adds `n` attempts to `key`'s window of `window_ms` (a new window when the last one is
    /// over) and answers the window's count, all processes sharing the store included.
    pub async fn throttle_add(&self, key: &str, window_ms: i64, n: u32) -> Result<u32> {
        let now = self.clock_ms().await?;
        let count: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO throttle (key, since_ms, count) VALUES ($1, $2, $4)
                 ON CONFLICT (key) DO UPDATE SET
                   count = CASE WHEN throttle.since_ms <= $2 - $3 THEN $4
                           ELSE throttle.count + $4 END,
                   since_ms = CASE WHEN throttle.since_ms <= $2 - $3 THEN $2
                              ELSE throttle.since_ms END
                 RETURNING CAST(count AS BIGINT)",
            )
            .bind(key)
            .bind(now)
            .bind(window_ms)
            .bind(i64::from(n))
            .fetch_one(pool)
            .await?
        });
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }
}
