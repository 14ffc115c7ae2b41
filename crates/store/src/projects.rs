//! Projects: many migrations under one name and password, with their own options, sessions,
//! and a pause switch for their waiting passes.
//!
//! - A project's ID is 128 random bits (32 hex digits): it cannot be guessed.
//! - Its password is kept only as an argon2id hash (PHC string; the crate's default cost:
//!   19 MiB, 2 passes), hashed and checked off the async threads.
//! - A session is a random 256-bit token given to the client once; the store keeps only its
//!   SHA-256, with a CSRF token and an expiry. Logging out deletes the row.
//! - Pausing moves the project's waiting jobs (`queued`, `scheduled`) to `paused`; running ones
//!   finish their pass. Resuming puts them back (`scheduled` again if their time is still to
//!   come). While paused, passes queued for the project are held as they are queued
//!   ([`Store::enqueue_job`] reads the project's state in its transaction).

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use passeur_types::MigrationId;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::row::RowExt;
use crate::types::{Result, StoreError, now_ms};
use crate::{Store, with_pool};

/// A project as stored (never its password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The project's identifier, random, used in its URLs.
    pub id: String,
    /// The name its owner gave it.
    pub name: String,
    /// The contact address.
    pub notify: Option<String>,
    /// `en` or `fr`.
    pub lang: String,
    /// The project's options, JSON (the service's business).
    pub options: String,
    /// Whether its waiting passes are held.
    pub paused: bool,
    /// When it was created (ms since the epoch).
    pub created_at_ms: i64,
    /// When its row last changed (ms since the epoch).
    pub updated_at_ms: i64,
}

/// A project to create.
#[derive(Clone, Default)]
pub struct NewProject {
    /// The name its owner gives it.
    pub name: String,
    /// Hashed with argon2id before it is stored; never kept.
    pub password: String,
    /// The contact address, if any.
    pub notify: Option<String>,
    /// `en` or `fr`.
    pub lang: String,
    /// The project's options, JSON (the service's business).
    pub options: String,
}

impl std::fmt::Debug for NewProject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewProject")
            .field("name", &self.name)
            .field("password", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// A new session: the token is shown to the client once and never stored.
#[derive(Clone)]
pub struct NewSession {
    /// The session token for the client's cookie (only its hash is stored).
    pub token: String,
    /// The token forms of this session must carry (CSRF protection).
    pub csrf: String,
    /// When the session ends (ms since the epoch).
    pub expires_at_ms: i64,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// A live session found by its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The project the session is logged in to.
    pub project_id: String,
    /// The token forms of this session must carry (CSRF protection).
    pub csrf: String,
    /// When the session ends (ms since the epoch).
    pub expires_at_ms: i64,
}

/// 32 hex digits of `n` random bytes.
fn random_hex(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    hex::encode(bytes)
}

/// The SHA-256 of a session token, as stored.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// An argon2id PHC string of `password`.
fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| StoreError::Corrupt(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Corrupt(format!("cannot hash the password: {e}")))
}

/// Whether `password` matches the PHC string `hash`.
fn check_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash of a random password, checked for unknown projects so that they take as long as
/// known ones.
fn dummy_hash() -> String {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password(&random_hex(16)).unwrap_or_default())
        .clone()
}

fn project_from_row(r: &impl RowExt) -> Result<Project> {
    Ok(Project {
        id: r.text("id")?,
        name: r.text("name")?,
        notify: r.opt_text("notify")?,
        lang: r.text("lang")?,
        options: r.text("options")?,
        paused: r.text("state")? == "paused",
        created_at_ms: r.int("created_at_ms")?,
        updated_at_ms: r.int("updated_at_ms")?,
    })
}

impl Store {
    /// Creates a project (its password hashed with argon2id); its new, unguessable ID.
    pub async fn create_project(&self, p: &NewProject) -> Result<String> {
        let password = Zeroizing::new(p.password.clone());
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| StoreError::Corrupt(format!("password hashing stopped: {e}")))??;
        let id = random_hex(16);
        let now = now_ms();
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO projects (id, name, password_hash, notify, lang, options, state,
                    created_at_ms, updated_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7)",
            )
            .bind(&id)
            .bind(&p.name)
            .bind(&hash)
            .bind(&p.notify)
            .bind(&p.lang)
            .bind(&p.options)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(id)
    }

    /// The project with this ID, if any.
    pub async fn project(&self, id: &str) -> Result<Option<Project>> {
        with_pool!(self, |pool| {
            let row = sqlx::query("SELECT * FROM projects WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(project_from_row).transpose()
        })
    }

    /// Whether `password` is project `id`'s. An unknown project is `false`, after as much
    /// work as a known one.
    pub async fn verify_project_password(&self, id: &str, password: &str) -> Result<bool> {
        let hash: Option<String> = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT password_hash FROM projects WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        let known = hash.is_some();
        let password = Zeroizing::new(password.to_string());
        let ok = tokio::task::spawn_blocking(move || {
            check_password(&password, &hash.unwrap_or_else(dummy_hash))
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("password check stopped: {e}")))?;
        Ok(known && ok)
    }

    /// Opens a session on project `id` for `ttl`: a random token (kept only as its SHA-256)
    /// and a CSRF token.
    pub async fn create_project_session(&self, id: &str, ttl: Duration) -> Result<NewSession> {
        let s = NewSession {
            token: random_hex(32),
            csrf: random_hex(16),
            expires_at_ms: now_ms() + ttl.as_millis() as i64,
        };
        let now = now_ms();
        with_pool!(self, |pool| {
            // Expired sessions go as new ones come.
            sqlx::query("DELETE FROM project_sessions WHERE expires_at_ms <= $1")
                .bind(now)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO project_sessions (token_hash, project_id, csrf, expires_at_ms)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash(&s.token))
            .bind(id)
            .bind(&s.csrf)
            .bind(s.expires_at_ms)
            .execute(pool)
            .await?;
        });
        Ok(s)
    }

    /// The live session of `token`, if any (an expired one is none).
    pub async fn project_session(&self, token: &str) -> Result<Option<Session>> {
        let now = now_ms();
        with_pool!(self, |pool| {
            let row = sqlx::query(
                "SELECT project_id, csrf, expires_at_ms FROM project_sessions
                 WHERE token_hash = $1 AND expires_at_ms > $2",
            )
            .bind(token_hash(token))
            .bind(now)
            .fetch_optional(pool)
            .await?;
            row.map(|r| -> Result<Session> {
                Ok(Session {
                    project_id: r.text("project_id")?,
                    csrf: r.text("csrf")?,
                    expires_at_ms: r.int("expires_at_ms")?,
                })
            })
            .transpose()
        })
    }

    /// Ends the session of `token` (logging out); whether there was one.
    pub async fn delete_project_session(&self, token: &str) -> Result<bool> {
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM project_sessions WHERE token_hash = $1")
                .bind(token_hash(token))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// The migrations of project `id`, oldest first (in the order their first jobs were queued).
    pub async fn project_migrations(&self, id: &str) -> Result<Vec<MigrationId>> {
        let ids: Vec<String> = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT m.id FROM service_meta s JOIN migrations m ON m.id = s.migration_id
                 WHERE s.project_id = $1
                 ORDER BY m.created_at,
                    (SELECT MIN(j.id) FROM jobs j WHERE j.migration_id = m.id), m.id",
            )
            .bind(id)
            .fetch_all(pool)
            .await?
        });
        ids.iter()
            .map(|s| {
                s.parse()
                    .map_err(|_| StoreError::Corrupt(format!("migration id {s:?}")))
            })
            .collect()
    }

    /// Pauses project `id`: its waiting jobs are held (running ones finish their pass). How
    /// many jobs were held.
    pub async fn pause_project(&self, id: &str) -> Result<u64> {
        let now = self.clock_ms().await?;
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE projects SET state = 'paused', updated_at_ms = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query(
                "UPDATE jobs SET state = 'paused', updated_at_ms = $2
                 WHERE project_id = $1 AND state IN ('queued', 'scheduled')",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(n)
        })
    }

    /// Resumes project `id`: its held jobs wait again (scheduled if their time is still to
    /// come). How many.
    pub async fn resume_project(&self, id: &str) -> Result<u64> {
        let now = self.clock_ms().await?;
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE projects SET state = 'active', updated_at_ms = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query(
                "UPDATE jobs SET updated_at_ms = $2,
                    state = CASE WHEN run_at_ms > $2 THEN 'scheduled' ELSE 'queued' END
                 WHERE project_id = $1 AND state = 'paused'",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(n)
        })
    }

    /// Marks project `id` as active now (a login): its expiry starts again.
    pub async fn touch_project(&self, id: &str) -> Result<()> {
        let now = self.clock_ms().await?;
        with_pool!(self, |pool| {
            sqlx::query("UPDATE projects SET updated_at_ms = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Deletes the projects with no activity since `before_ms` and no migration left (their
    /// migrations expire on their own), with their sessions. Their IDs.
    pub async fn delete_inactive_projects(&self, before_ms: i64) -> Result<Vec<String>> {
        with_pool!(self, |pool| {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT p.id FROM projects p WHERE p.updated_at_ms < $1
                   AND NOT EXISTS (SELECT 1 FROM service_meta s WHERE s.project_id = p.id)",
            )
            .bind(before_ms)
            .fetch_all(pool)
            .await?;
            for id in &ids {
                sqlx::query("DELETE FROM projects WHERE id = $1 AND updated_at_ms < $2")
                    .bind(id)
                    .bind(before_ms)
                    .execute(pool)
                    .await?;
            }
            Ok(ids)
        })
    }

    /// Projects idle since before `idle_before_ms`, with a contact address, whose contact was
    /// not told since their last activity: (id, contact, language).
    pub async fn projects_to_warn(
        &self,
        idle_before_ms: i64,
    ) -> Result<Vec<(String, String, String)>> {
        with_pool!(self, |pool| {
            let rows: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT id, notify, lang FROM projects
                 WHERE updated_at_ms < $1 AND notify IS NOT NULL
                   AND (expiry_warned_at_ms IS NULL OR expiry_warned_at_ms < updated_at_ms)
                 ORDER BY id",
            )
            .bind(idle_before_ms)
            .fetch_all(pool)
            .await?;
            Ok(rows)
        })
    }

    /// Failed attempts recorded for `key` in the current window of `window_ms` (one that
    /// started longer ago is over: 0), and how many milliseconds are left of it.
    pub async fn throttle_count(&self, key: &str, window_ms: i64) -> Result<(u32, i64)> {
        let now = self.clock_ms().await?;
        let row: Option<(i64, i64)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT since_ms, CAST(count AS BIGINT) FROM throttle WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?
        });
        Ok(match row {
            Some((since, n)) if since + window_ms > now => (n as u32, since + window_ms - now),
            _ => (0, 0),
        })
    }

    /// Counts one failed attempt for `key` (a new window when the last one is over). Every
    /// process sharing the store sees it.
    pub async fn throttle_hit(&self, key: &str, window_ms: i64) -> Result<()> {
        let now = self.clock_ms().await?;
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO throttle (key, since_ms, count) VALUES ($1, $2, 1)
                 ON CONFLICT (key) DO UPDATE SET
                   count = CASE WHEN throttle.since_ms <= $2 - $3 THEN 1 ELSE throttle.count + 1 END,
                   since_ms = CASE WHEN throttle.since_ms <= $2 - $3 THEN $2 ELSE throttle.since_ms END",
            )
            .bind(key)
            .bind(now)
            .bind(window_ms)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Forgets the windows that started before `before_ms`.
    pub async fn throttle_sweep(&self, before_ms: i64) -> Result<u64> {
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM throttle WHERE since_ms < $1")
                .bind(before_ms)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n)
    }

    /// Records that project `id`'s contact was told it will expire.
    pub async fn mark_project_warned(&self, id: &str) -> Result<()> {
        let now = self.clock_ms().await?;
        with_pool!(self, |pool| {
            sqlx::query("UPDATE projects SET expiry_warned_at_ms = $2 WHERE id = $1")
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Replaces project `id`'s options (JSON) and its limit of simultaneous migrations, which
    /// its waiting jobs take at once. Whether the project exists.
    pub async fn set_project_options(&self, id: &str, options: &str, limit: u32) -> Result<bool> {
        let now = self.clock_ms().await?;
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let n =
                sqlx::query("UPDATE projects SET options = $2, updated_at_ms = $3 WHERE id = $1")
                    .bind(id)
                    .bind(options)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            sqlx::query(
                "UPDATE jobs SET project_limit = $2
                 WHERE project_id = $1 AND state IN ('queued', 'scheduled', 'paused', 'running')",
            )
            .bind(id)
            .bind(i64::from(limit.max(1)))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(n > 0)
        })
    }
}
