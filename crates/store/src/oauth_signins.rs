//! "Sign in with ..." in the service: short-lived rows for the authorization requests under
//! way (their state and PKCE verifier) and for the tokens a browser signed in with, until a
//! migration takes them.
//!
//! A row is found by a key (the `state`, or a browser's cookie and a side) and belongs to an
//! owner (the browser's cookie); both are stored as SHA-256 hashes only, so that a copy of the
//! database does not give them away. Its data is sealed by the service before it comes here.
//! A row is taken once ([`Store::take_oauth_signin`] deletes it in the same statement): a
//! replayed `state` finds nothing.

use sha2::{Digest, Sha256};

use crate::row::RowExt;
use crate::types::{Result, now_ms};
use crate::{Store, with_pool};

/// Rows expired longer ago than this are deleted as new ones come (until then, an expired row
/// is still found, so that the service can say "expired" rather than "unknown").
const KEEP_EXPIRED_MS: i64 = 3_600_000;

/// One row, as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSignin {
    /// Whether the owner asked for is the row's.
    pub owner_matches: bool,
    /// As the service sealed it.
    pub data: String,
    /// The row is gone after this time (ms since the epoch).
    pub expires_at_ms: i64,
}

impl OAuthSignin {
    /// Whether the row is past its expiry.
    pub fn expired(&self) -> bool {
        self.expires_at_ms <= now_ms()
    }
}

fn hash(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

impl Store {
    /// Keeps (or replaces) the row of `key`, owned by `owner`, until `expires_at_ms`.
    pub async fn put_oauth_signin(
        &self,
        key: &str,
        owner: &str,
        data: &str,
        expires_at_ms: i64,
    ) -> Result<()> {
        let old = now_ms() - KEEP_EXPIRED_MS;
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM oauth_signins WHERE expires_at_ms <= $1")
                .bind(old)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO oauth_signins (key_hash, owner_hash, data, expires_at_ms)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (key_hash) DO UPDATE SET owner_hash = excluded.owner_hash,
                    data = excluded.data, expires_at_ms = excluded.expires_at_ms",
            )
            .bind(hash(key))
            .bind(hash(owner))
            .bind(data)
            .bind(expires_at_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The row of `key`, left in place.
    pub async fn oauth_signin(&self, key: &str, owner: &str) -> Result<Option<OAuthSignin>> {
        let owner = hash(owner);
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT owner_hash, data, expires_at_ms FROM oauth_signins WHERE key_hash = $1",
            )
            .bind(hash(key))
            .fetch_optional(pool)
            .await?;
            row.map(|r| -> Result<OAuthSignin> {
                Ok(OAuthSignin {
                    owner_matches: r.text("owner_hash")? == owner,
                    data: r.text("data")?,
                    expires_at_ms: r.int("expires_at_ms")?,
                })
            })
            .transpose()
        })
    }

    /// The row of `key`, deleted as it is read: a second take finds nothing.
    pub async fn take_oauth_signin(&self, key: &str, owner: &str) -> Result<Option<OAuthSignin>> {
        let owner = hash(owner);
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "DELETE FROM oauth_signins WHERE key_hash = $1
                 RETURNING owner_hash, data, expires_at_ms",
            )
            .bind(hash(key))
            .fetch_optional(pool)
            .await?;
            row.map(|r| -> Result<OAuthSignin> {
                Ok(OAuthSignin {
                    owner_matches: r.text("owner_hash")? == owner,
                    data: r.text("data")?,
                    expires_at_ms: r.int("expires_at_ms")?,
                })
            })
            .transpose()
        })
    }

    /// Deletes the row of `key`, if it belongs to `owner`; whether there was one.
    pub async fn delete_oauth_signin(&self, key: &str, owner: &str) -> Result<bool> {
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM oauth_signins WHERE key_hash = $1 AND owner_hash = $2")
                .bind(hash(key))
                .bind(hash(owner))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;

    #[tokio::test]
    async fn taken_once_owned_and_expiring() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.db")).await.unwrap();
        let later = super::now_ms() + 60_000;
        s.put_oauth_signin("state1", "browser", "sealed", later)
            .await
            .unwrap();
        let peek = s.oauth_signin("state1", "browser").await.unwrap().unwrap();
        assert!(peek.owner_matches && !peek.expired());
        let other = s.oauth_signin("state1", "other").await.unwrap().unwrap();
        assert!(!other.owner_matches);
        let got = s.take_oauth_signin("state1", "browser").await.unwrap();
        assert_eq!(got.unwrap().data, "sealed");
        assert!(
            s.take_oauth_signin("state1", "browser")
                .await
                .unwrap()
                .is_none(),
            "a row is taken once"
        );
        // Replaced, expired, deleted only by its owner.
        s.put_oauth_signin("k", "b", "one", later).await.unwrap();
        s.put_oauth_signin("k", "b", "two", super::now_ms() - 1)
            .await
            .unwrap();
        let r = s.oauth_signin("k", "b").await.unwrap().unwrap();
        assert_eq!(r.data, "two");
        assert!(r.expired());
        assert!(!s.delete_oauth_signin("k", "someone").await.unwrap());
        assert!(s.delete_oauth_signin("k", "b").await.unwrap());
        // Nothing in clear.
        s.put_oauth_signin("visible-key", "visible-owner", "d", later)
            .await
            .unwrap();
        drop(s);
        let raw = std::fs::read(dir.path().join("s.db")).unwrap_or_default();
        let wal = std::fs::read(dir.path().join("s.db-wal")).unwrap_or_default();
        for bytes in [raw, wal] {
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("visible-key") && !text.contains("visible-owner"));
        }
    }
}
