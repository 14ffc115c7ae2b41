//! Per-migration leases: one runner at a time, fenced by a token that grows at every
//! acquisition (see the crate docs).

use std::time::{Duration, Instant, SystemTime};

use passeur_types::MigrationId;

use crate::types::{Result, StoreError, from_ms};
use crate::{Backend, Store, postgres, sqlite};

/// The right to run one migration, until it expires or is released.
///
/// Renew it (with [`Store::renew_lease`]) well within its TTL, e.g. every third of it; bind
/// the handles that write with [`Store::fenced`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    migration: MigrationId,
    holder: String,
    token: i64,
    ttl: Duration,
    expires_at: SystemTime,
}

impl Lease {
    /// The migration it is for.
    pub fn migration(&self) -> MigrationId {
        self.migration
    }

    /// Who holds it.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The fencing token: larger for every later acquisition of the same migration's lease.
    pub fn token(&self) -> u64 {
        self.token as u64
    }

    pub(crate) fn token_raw(&self) -> i64 {
        self.token
    }

    /// How long it lasts after each acquisition or renewal.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// When it ends unless renewed, as of its acquisition ([`Store::renew_lease`] extends it
    /// in the store, not in this value).
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis())
        .unwrap_or(i64::MAX / 4)
        .max(1)
}

impl Store {
    /// Takes migration `id`'s lease for `holder` (a name for messages, e.g. `host:pid`) for
    /// `ttl`, if nobody holds it or its holder let it expire. Each acquisition gets a larger
    /// fencing token than the last.
    ///
    /// Fails with [`StoreError::Busy`] while another runner holds it (even one with the same
    /// `holder`: a runner renews its lease, it does not take it again).
    pub async fn acquire_lease(
        &self,
        id: MigrationId,
        holder: &str,
        ttl: Duration,
    ) -> Result<Lease> {
        self.acquire_lease_from(id, holder, ttl, "").await
    }

    /// Like [`Store::acquire_lease`], but also takes the lease from `dead`, a holder the
    /// caller knows is gone (a process of this machine that no longer exists), without waiting
    /// for its lease to expire. An empty `dead` names nobody.
    pub async fn acquire_lease_from(
        &self,
        id: MigrationId,
        holder: &str,
        ttl: Duration,
        dead: &str,
    ) -> Result<Lease> {
        let ttl_ms = ttl_ms(ttl);
        let dead = if dead.is_empty() { "(nobody)" } else { dead };
        let got = match &self.backend {
            Backend::Sqlite(p) => sqlite::acquire(p, id, holder, ttl_ms, dead).await?,
            Backend::Postgres(p) => postgres::acquire(p, id, holder, ttl_ms, dead).await?,
        };
        match got {
            Ok((token, expires_at_ms)) => Ok(Lease {
                migration: id,
                holder: holder.to_string(),
                token,
                ttl,
                expires_at: from_ms(expires_at_ms),
            }),
            Err((holder, until)) => Err(StoreError::Busy {
                holder,
                until: from_ms(until),
            }),
        }
    }

    /// Like [`Store::acquire_lease`], but while the lease is busy tries again (at least once a
    /// second, and as soon as the holder's lease would expire) until `timeout` has passed;
    /// then fails with the last [`StoreError::Busy`].
    pub async fn acquire_lease_wait(
        &self,
        id: MigrationId,
        holder: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Lease> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.acquire_lease(id, holder, ttl).await {
                Err(StoreError::Busy { holder: h, until }) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(StoreError::Busy { holder: h, until });
                    }
                    let until_free = until
                        .duration_since(SystemTime::now())
                        .unwrap_or(Duration::ZERO);
                    let nap = until_free
                        .min(Duration::from_secs(1))
                        .max(Duration::from_millis(20))
                        .min(left);
                    tokio::time::sleep(nap).await;
                }
                other => return other,
            }
        }
    }

    /// Extends `lease` by its TTL from now. Fails with [`StoreError::LeaseLost`] if it expired
    /// or was taken over meanwhile: the holder must then stop writing.
    pub async fn renew_lease(&self, lease: &Lease) -> Result<()> {
        let ttl_ms = ttl_ms(lease.ttl);
        let ok = match &self.backend {
            Backend::Sqlite(p) => sqlite::renew(p, lease.migration, lease.token, ttl_ms).await?,
            Backend::Postgres(p) => {
                postgres::renew(p, lease.migration, lease.token, ttl_ms).await?
            }
        };
        if ok {
            Ok(())
        } else {
            Err(StoreError::LeaseLost)
        }
    }

    /// Gives `lease` back, so that the next runner need not wait for its expiry. Does nothing
    /// if it was already lost.
    pub async fn release_lease(&self, lease: &Lease) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(p) => sqlite::release(p, lease.migration, lease.token).await,
            Backend::Postgres(p) => postgres::release(p, lease.migration, lease.token).await,
        }
    }
}
