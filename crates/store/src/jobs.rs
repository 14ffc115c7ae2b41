//! The service's durable jobs, its sealed credentials and what it keeps about a migration.
//!
//! A job is a row: queued (or scheduled for a later time), then claimed by one worker with a
//! lease (`holder`, `lease_until_ms`) and a fencing `token` that grows at every claim. The
//! worker renews the lease by heartbeat and ends the job with its token: a worker whose lease
//! lapsed (and whose job another worker claimed since) changes nothing.
//!
//! A claim is one transaction that also enforces the limits shared by every worker: the
//! connections open to each mail host (the sum of the `connections` of the running jobs
//! that name the host), the running jobs of each project, and one running job per migration.
//! On PostgreSQL the claims of all processes are serialised by an advisory lock (the limits
//! are sums over rows, which row locks alone cannot protect) and candidate rows are read
//! `FOR UPDATE SKIP LOCKED`; on SQLite the write transaction is the lock.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use passeur_types::MigrationId;

use crate::postgres::pg_now_ms;
use crate::row::RowExt;
use crate::types::{Result, StoreError, now_ms};
use crate::{Backend, Store, sqlite, with_pool};

/// Serialises job claims across processes on PostgreSQL (any fixed number).
const CLAIM_LOCK: i64 = 0x0070_6173_736a_6f62;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// Waiting for its start time (a scheduled start, or a retry after a backoff).
    Scheduled,
    /// Claimed by a worker whose lease is (or was) live.
    Running,
    /// Held back (its project is paused).
    Paused,
    /// Stopped on request; what it did stays.
    Stopped,
    /// Done.
    Completed,
    /// Failed for good (a permanent error, or the retries ran out).
    Failed,
}

impl JobState {
    /// Every state, in a stable order (for metrics).
    pub const ALL: [JobState; 7] = [
        JobState::Queued,
        JobState::Scheduled,
        JobState::Running,
        JobState::Paused,
        JobState::Stopped,
        JobState::Completed,
        JobState::Failed,
    ];

    /// Its name in the store and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Scheduled => "scheduled",
            JobState::Running => "running",
            JobState::Paused => "paused",
            JobState::Stopped => "stopped",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
        }
    }

    /// Whether the job will not run again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Stopped | JobState::Completed | JobState::Failed
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        JobState::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| StoreError::Corrupt(format!("job state {s:?}")))
    }
}

/// The kind of a job that sends a notification. It touches no mailbox and no item map, so
/// its migration's other jobs do not hold it back and it does not hold them back: the
/// "started" message with the tracking link goes out while the first pass runs, not after
/// it. A stop leaves it queued (what it says stays true). Notifications of one migration
/// still go one at a time, in their order.
pub const NOTIFY_KIND: &str = "notify";

/// A job to queue.
#[derive(Debug, Clone, Default)]
pub struct NewJob {
    /// What to do (`pass`, `purge`, `notify`, `sweep`, ...): the worker's business.
    pub kind: String,
    /// The migration it is for, if any (its rows go when the migration is deleted).
    pub migration: Option<MigrationId>,
    /// Its parameters (JSON; never secrets).
    pub payload: String,
    /// Not before this time (milliseconds since the Unix epoch); now if `None`.
    pub run_at_ms: Option<i64>,
    /// How many times it may be claimed before it is failed for good.
    pub max_attempts: u32,
    /// The connections it opens to each of `hosts`.
    pub connections: u32,
    /// The mail hosts it connects to (lower case), for the per-host limits.
    pub hosts: Vec<String>,
    /// Its project and the project's limit of simultaneous jobs.
    pub project: Option<(String, u32)>,
    /// Only a worker of this machine may run it (it reads a file on that machine's disk).
    pub only_node: Option<String>,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The job's number, unique in the store.
    pub id: i64,
    /// What to do (see [`NewJob::kind`]).
    pub kind: String,
    /// The migration it is for, if any.
    pub migration: Option<MigrationId>,
    /// Its parameters (JSON; never secrets).
    pub payload: String,
    /// Where it is in its life cycle.
    pub state: JobState,
    /// Not claimed before this time (milliseconds since the Unix epoch).
    pub run_at_ms: i64,
    /// Claims so far (the current one included).
    pub attempts: u32,
    /// Claims allowed before it is failed for good.
    pub max_attempts: u32,
    /// The connections it opens to each of its hosts (counted against the per-host limits).
    pub connections: u32,
    /// The project it belongs to, if any.
    pub project: Option<String>,
    /// The project's limit of simultaneous jobs when it was queued (or last set).
    pub project_limit: Option<u32>,
    /// The worker that holds the current claim, while it is running.
    pub holder: Option<String>,
    /// The fencing token of the latest claim.
    pub token: i64,
    /// The claim's lease ends then unless the holder's heartbeat extends it (ms since the epoch).
    pub lease_until_ms: i64,
    /// True once someone asked it to stop; the holder learns it at its next heartbeat.
    pub stop_requested: bool,
    /// The error of the latest failed attempt, if any.
    pub last_error: Option<String>,
    /// The worker's latest progress report (JSON), if any.
    pub progress: Option<String>,
    /// The machine it is bound to, if any.
    pub only_node: Option<String>,
    /// When it was queued (ms since the epoch).
    pub created_at_ms: i64,
    /// When its row last changed (ms since the epoch).
    pub updated_at_ms: i64,
}

/// The limits a claim respects, shared by every worker of the cluster.
#[derive(Debug, Clone)]
pub struct ClaimLimits {
    /// Connections to one mail host at once, unless `per_host` says otherwise.
    pub per_host_default: u32,
    /// Per-host exceptions (lower-case host name → connections).
    pub per_host: HashMap<String, u32>,
    /// The machine the claiming worker runs on: jobs bound to another machine are left to
    /// it (see [`NewJob::only_node`]). `None` takes only unbound jobs.
    pub node: Option<String>,
}

impl Default for ClaimLimits {
    fn default() -> Self {
        ClaimLimits {
            per_host_default: 8,
            per_host: HashMap::new(),
            node: None,
        }
    }
}

impl ClaimLimits {
    fn of(&self, host: &str) -> i64 {
        i64::from(
            *self
                .per_host
                .get(&host.to_ascii_lowercase())
                .unwrap_or(&self.per_host_default),
        )
    }
}

/// How a worker ends a job.
#[derive(Debug, Clone)]
pub enum JobEnd {
    /// Done.
    Completed,
    /// Stopped on request.
    Stopped,
    /// Failed for good, with the reason.
    Failed(String),
    /// Given back unfinished (the worker is shutting down): queued again at once, and this
    /// claim does not count as an attempt.
    Requeue,
    /// Failed for now: try again at `at_ms` (unless the attempts ran out: then failed).
    Retry {
        /// When to try again (ms since the epoch).
        at_ms: i64,
        /// Why this attempt failed.
        error: String,
    },
}

/// What the service keeps about a migration beside the engine's spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceMeta {
    /// Where notifications go.
    pub notify: Option<String>,
    /// The language of notifications and pages (`en`, `fr`).
    pub lang: String,
    /// The project the migration was created in, if any.
    pub project: Option<String>,
    /// The source waits for its owner's sign-in (OAuth 2.0): no pass runs before it.
    pub source_sign_in: bool,
    /// As `source_sign_in`, for the destination.
    pub destination_sign_in: bool,
}

impl ServiceMeta {
    /// Whether a side still waits for a sign-in, so that no pass may start.
    pub fn awaits_sign_in(&self) -> bool {
        self.source_sign_in || self.destination_sign_in
    }
}

fn job_from_row(r: &impl RowExt) -> Result<Job> {
    let migration = match r.opt_text("migration_id")? {
        Some(m) => Some(
            m.parse()
                .map_err(|_| StoreError::Corrupt(format!("migration id {m:?}")))?,
        ),
        None => None,
    };
    Ok(Job {
        id: r.int("id")?,
        kind: r.text("kind")?,
        migration,
        payload: r.text("payload")?,
        state: r.text("state")?.parse()?,
        run_at_ms: r.int("run_at_ms")?,
        attempts: r.int("attempts")?.clamp(0, u32::MAX as i64) as u32,
        max_attempts: r.int("max_attempts")?.clamp(0, u32::MAX as i64) as u32,
        connections: r.int("connections")?.clamp(0, u32::MAX as i64) as u32,
        project: r.opt_text("project_id")?,
        project_limit: r
            .opt_int("project_limit")?
            .map(|l| l.clamp(0, u32::MAX as i64) as u32),
        holder: r.opt_text("holder")?,
        token: r.int("token")?,
        lease_until_ms: r.int("lease_until_ms")?,
        stop_requested: r.flag("stop_requested")?,
        last_error: r.opt_text("last_error")?,
        progress: r.opt_text("progress")?,
        only_node: r.opt_text("only_node")?,
        created_at_ms: r.int("created_at_ms")?,
        updated_at_ms: r.int("updated_at_ms")?,
    })
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4).max(1)
}

/// Runs `$body` in a transaction `$tx` with `$now` the database's clock in milliseconds. On
/// PostgreSQL the transaction first takes the claim lock; on SQLite it takes the write lock.
macro_rules! claim_tx {
    ($self:expr, |$tx:ident, $now:ident| $body:block) => {
        match &$self.backend {
            Backend::Sqlite(pool) => {
                let mut $tx = sqlite::begin_write(pool).await?;
                let $now = now_ms();
                let out = $body;
                $tx.commit().await?;
                out
            }
            Backend::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(CLAIM_LOCK)
                    .execute(&mut *$tx)
                    .await?;
                let $now: i64 = sqlx::query_scalar(concat!("SELECT ", pg_now_ms!()))
                    .fetch_one(&mut *$tx)
                    .await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

impl Store {
    /// The database's clock, in milliseconds since the Unix epoch (the server's on
    /// PostgreSQL, so that every worker agrees on lease expiry and start times).
    pub async fn clock_ms(&self) -> Result<i64> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(now_ms()),
            Backend::Postgres(pool) => Ok(sqlx::query_scalar(concat!("SELECT ", pg_now_ms!()))
                .fetch_one(pool)
                .await?),
        }
    }

    /// Queues `job`: `scheduled` if it starts later than now, else `queued`; `paused` if its
    /// project is paused. Its ID.
    pub async fn enqueue_job(&self, job: &NewJob) -> Result<i64> {
        let now = self.clock_ms().await?;
        let run_at = job.run_at_ms.unwrap_or(now);
        let state = if run_at > now {
            JobState::Scheduled
        } else {
            JobState::Queued
        };
        // A pass queued while its project is paused is held at once (in the same statement).
        let (project, project_limit) = match &job.project {
            Some((p, l)) => (Some(p.clone()), Some(i64::from(*l))),
            None => (None, None),
        };
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO jobs (kind, migration_id, payload, state, run_at_ms, max_attempts,
                    connections, project_id, project_limit, created_at_ms, updated_at_ms, only_node)
                 VALUES ($1, $2, $3,
                    CASE WHEN EXISTS (SELECT 1 FROM projects p WHERE p.id = $8 AND p.state = 'paused')
                         THEN 'paused' ELSE $4 END,
                    $5, $6, $7, $8, $9, $10, $10, $11) RETURNING id",
            )
            .bind(&job.kind)
            .bind(job.migration.map(|m| m.to_string()))
            .bind(&job.payload)
            .bind(state.as_str())
            .bind(run_at)
            .bind(i64::from(job.max_attempts.max(1)))
            .bind(i64::from(job.connections.max(1)))
            .bind(project)
            .bind(project_limit)
            .bind(now)
            .bind(&job.only_node)
            .fetch_one(&mut *tx)
            .await?;
            let mut hosts: Vec<String> = job.hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
            hosts.sort();
            hosts.dedup();
            for h in hosts {
                sqlx::query("INSERT INTO job_hosts (job_id, host) VALUES ($1, $2)")
                    .bind(id)
                    .bind(h)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    /// The job with this ID, if any.
    pub async fn job(&self, id: i64) -> Result<Option<Job>> {
        with_pool!(self, |pool| {
            let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(job_from_row).transpose()
        })
    }

    /// The jobs of a migration, oldest first.
    pub async fn jobs_of(&self, migration: MigrationId) -> Result<Vec<Job>> {
        with_pool!(self, |pool| {
            let rows = sqlx::query("SELECT * FROM jobs WHERE migration_id = $1 ORDER BY id")
                .bind(migration.to_string())
                .fetch_all(pool)
                .await?;
            rows.iter().map(job_from_row).collect()
        })
    }

    /// How many jobs are in each state (every state listed).
    pub async fn job_counts(&self) -> Result<Vec<(JobState, u64)>> {
        let counts: Vec<(String, i64)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .fetch_all(pool)
                .await?
        });
        let mut out: Vec<(JobState, u64)> = JobState::ALL.iter().map(|s| (*s, 0)).collect();
        for (s, n) in counts {
            let s: JobState = s.parse()?;
            if let Some(slot) = out.iter_mut().find(|(k, _)| *k == s) {
                slot.1 = n.max(0) as u64;
            }
        }
        Ok(out)
    }

    /// Claims the next job that is due and fits the limits, for `holder`, with a lease of
    /// `ttl`: a job queued or scheduled for now or earlier, or a running job whose worker's
    /// lease lapsed (it died). `None` when nothing is due or everything due is held back by
    /// a limit.
    ///
    /// A lapsed job that was asked to stop is stopped instead; one whose attempts ran out is
    /// failed.
    pub async fn claim_job(
        &self,
        holder: &str,
        ttl: Duration,
        limits: &ClaimLimits,
    ) -> Result<Option<Job>> {
        let ttl = ms(ttl);
        let pick = match self.backend {
            Backend::Sqlite(_) => {
                "SELECT * FROM jobs WHERE ((state IN ('queued', 'scheduled') AND run_at_ms <= $1)
                    OR (state = 'running' AND lease_until_ms <= $1))
                    AND (only_node IS NULL OR only_node = $2)
                 ORDER BY run_at_ms, id LIMIT 64"
            }
            Backend::Postgres(_) => {
                "SELECT * FROM jobs WHERE ((state IN ('queued', 'scheduled') AND run_at_ms <= $1)
                    OR (state = 'running' AND lease_until_ms <= $1))
                    AND (only_node IS NULL OR only_node = $2)
                 ORDER BY run_at_ms, id LIMIT 64 FOR UPDATE SKIP LOCKED"
            }
        };
        let claimed = claim_tx!(self, |tx, now| {
            let rows = sqlx::query(pick)
                .bind(now)
                .bind(limits.node.as_deref().unwrap_or(""))
                .fetch_all(&mut *tx)
                .await?;
            let mut claimed = None;
            for row in &rows {
                let job = job_from_row(row)?;
                if job.state == JobState::Running {
                    // Its worker died. Stop or fail it here if it must not run again.
                    let end = if job.stop_requested {
                        Some(("stopped", None))
                    } else if job.attempts >= job.max_attempts {
                        Some((
                            "failed",
                            Some(format!(
                                "gave up after {} attempts: the worker running it stopped responding",
                                job.attempts
                            )),
                        ))
                    } else {
                        None
                    };
                    if let Some((state, error)) = end {
                        sqlx::query(
                            "UPDATE jobs SET state = $2, holder = NULL, lease_until_ms = 0,
                                last_error = COALESCE($3, last_error), updated_at_ms = $4
                             WHERE id = $1",
                        )
                        .bind(job.id)
                        .bind(state)
                        .bind(error)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        continue;
                    }
                }
                if let Some(m) = job.migration {
                    // One job at a time per migration, notifications apart (see
                    // [`NOTIFY_KIND`]): those go one at a time among themselves.
                    let busy: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM jobs WHERE migration_id = $1 AND id <> $2
                            AND state = 'running' AND lease_until_ms > $3
                            AND (kind = $4) = $5",
                    )
                    .bind(m.to_string())
                    .bind(job.id)
                    .bind(now)
                    .bind(NOTIFY_KIND)
                    .bind(job.kind == NOTIFY_KIND)
                    .fetch_one(&mut *tx)
                    .await?;
                    if busy > 0 {
                        continue;
                    }
                }
                if let Some(p) = &job.project {
                    let running: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM jobs WHERE project_id = $1 AND id <> $2
                            AND state = 'running' AND lease_until_ms > $3",
                    )
                    .bind(p)
                    .bind(job.id)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    if job
                        .project_limit
                        .is_some_and(|l| running >= i64::from(l.max(1)))
                    {
                        continue;
                    }
                }
                let hosts: Vec<String> =
                    sqlx::query_scalar("SELECT host FROM job_hosts WHERE job_id = $1")
                        .bind(job.id)
                        .fetch_all(&mut *tx)
                        .await?;
                let mut fits = true;
                for h in &hosts {
                    let used: i64 = sqlx::query_scalar(
                        "SELECT CAST(COALESCE(SUM(j.connections), 0) AS BIGINT)
                         FROM jobs j JOIN job_hosts h ON h.job_id = j.id
                         WHERE h.host = $1 AND j.id <> $2 AND j.state = 'running'
                            AND j.lease_until_ms > $3",
                    )
                    .bind(h)
                    .bind(job.id)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    // A job wider than the limit still runs, alone on the host.
                    if used > 0 && used + i64::from(job.connections) > limits.of(h) {
                        fits = false;
                        break;
                    }
                }
                if !fits {
                    continue;
                }
                let row = sqlx::query(
                    "UPDATE jobs SET state = 'running', holder = $2, token = token + 1,
                        lease_until_ms = $3 + $4, attempts = attempts + 1, updated_at_ms = $3
                     WHERE id = $1 RETURNING *",
                )
                .bind(job.id)
                .bind(holder)
                .bind(now)
                .bind(ttl)
                .fetch_one(&mut *tx)
                .await?;
                claimed = Some(job_from_row(&row)?);
                break;
            }
            claimed
        });
        Ok(claimed)
    }

    /// Extends the lease of job `id` claimed with `token` by `ttl` from now. `Ok(true)` if it
    /// was asked to stop meanwhile; [`StoreError::LeaseLost`] if the lease lapsed and another
    /// worker claimed the job, or the job was ended: the worker must stop.
    pub async fn renew_job(&self, id: i64, token: i64, ttl: Duration) -> Result<bool> {
        let now = self.clock_ms().await?;
        let stop: Option<bool> = with_pool!(self, |pool| {
            let row = sqlx::query(
                "UPDATE jobs SET lease_until_ms = $3 + $4, updated_at_ms = $3
                 WHERE id = $1 AND token = $2 AND state = 'running' RETURNING stop_requested",
            )
            .bind(id)
            .bind(token)
            .bind(now)
            .bind(ms(ttl))
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(|r| r.flag("stop_requested")).transpose()?
        });
        stop.ok_or(StoreError::LeaseLost)
    }

    /// Records the progress of job `id` (JSON) if `token` still holds it; whether it did.
    pub async fn set_job_progress(&self, id: i64, token: i64, progress: &str) -> Result<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query("UPDATE jobs SET progress = $3 WHERE id = $1 AND token = $2")
                .bind(id)
                .bind(token)
                .bind(progress)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }

    /// Ends job `id` as `end`, if `token` still holds it; else [`StoreError::LeaseLost`] and
    /// nothing changes. The final state.
    pub async fn finish_job(&self, id: i64, token: i64, end: &JobEnd) -> Result<JobState> {
        let now = self.clock_ms().await?;
        let attempts_left: Option<(i64, i64)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT attempts, max_attempts FROM jobs WHERE id = $1 AND token = $2")
                .bind(id)
                .bind(token)
                .fetch_optional(pool)
                .await?
        });
        let Some((attempts, max_attempts)) = attempts_left else {
            return Err(StoreError::LeaseLost);
        };
        let (state, run_at, error) = match end {
            JobEnd::Completed => (JobState::Completed, None, None),
            JobEnd::Requeue => (JobState::Queued, Some(now), None),
            JobEnd::Stopped => (JobState::Stopped, None, None),
            JobEnd::Failed(e) => (JobState::Failed, None, Some(e.clone())),
            JobEnd::Retry { at_ms, error } if attempts < max_attempts => {
                (JobState::Scheduled, Some(*at_ms), Some(error.clone()))
            }
            JobEnd::Retry { error, .. } => (
                JobState::Failed,
                None,
                Some(format!("{error} (gave up after {attempts} attempts)")),
            ),
        };
        let done = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE jobs SET state = $3, run_at_ms = COALESCE($4, run_at_ms), holder = NULL,
                    lease_until_ms = 0, last_error = COALESCE($5, last_error), updated_at_ms = $6,
                    attempts = attempts - $7
                 WHERE id = $1 AND token = $2 AND state = 'running'",
            )
            .bind(id)
            .bind(token)
            .bind(state.as_str())
            .bind(run_at)
            .bind(error)
            .bind(now)
            .bind(i64::from(matches!(end, JobEnd::Requeue)))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 1 {
            Ok(state)
        } else {
            Err(StoreError::LeaseLost)
        }
    }

    /// Asks the jobs of `migration` to stop: those waiting are stopped at once, running ones
    /// see it at their next heartbeat. Its notifications ([`NOTIFY_KIND`]) are left to go
    /// out. How many jobs it concerned.
    pub async fn stop_jobs(&self, migration: MigrationId) -> Result<u64> {
        let now = self.clock_ms().await?;
        with_pool!(self, |pool| {
            let waiting = sqlx::query(
                "UPDATE jobs SET state = 'stopped', updated_at_ms = $2
                 WHERE migration_id = $1 AND state IN ('queued', 'scheduled', 'paused')
                    AND kind <> $3",
            )
            .bind(migration.to_string())
            .bind(now)
            .bind(NOTIFY_KIND)
            .execute(pool)
            .await?;
            let running = sqlx::query(
                "UPDATE jobs SET stop_requested = $3, updated_at_ms = $2
                 WHERE migration_id = $1 AND state = 'running' AND kind <> $4",
            )
            .bind(migration.to_string())
            .bind(now)
            .bind(true)
            .bind(NOTIFY_KIND)
            .execute(pool)
            .await?;
            Ok(waiting.rows_affected() + running.rows_affected())
        })
    }

    /// Whether `migration` has a job waiting or running (of one of `kinds`, or any if empty).
    pub async fn has_active_job(&self, migration: MigrationId, kinds: &[&str]) -> Result<bool> {
        let jobs = self.jobs_of(migration).await?;
        Ok(jobs
            .iter()
            .any(|j| !j.state.is_final() && (kinds.is_empty() || kinds.contains(&j.kind.as_str()))))
    }

    /// Whether a job of `kind` is waiting or running (e.g. the sweep).
    pub async fn has_pending_kind(&self, kind: &str) -> Result<bool> {
        let n: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs WHERE kind = $1
                    AND state IN ('queued', 'scheduled', 'running')",
            )
            .bind(kind)
            .fetch_one(pool)
            .await?
        });
        Ok(n > 0)
    }

    /// What every pass of every migration copied and failed, for metrics.
    pub async fn pass_totals(&self) -> Result<crate::PassCounters> {
        let (copied, bytes, failed): (i64, i64, i64) = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(copied), 0) AS BIGINT), CAST(COALESCE(SUM(bytes), 0) AS BIGINT),
                    CAST(COALESCE(SUM(failed), 0) AS BIGINT) FROM passes",
            )
            .fetch_one(pool)
            .await?
        });
        Ok(crate::PassCounters {
            copied: copied.max(0) as u64,
            bytes: bytes.max(0) as u64,
            failed: failed.max(0) as u64,
            ..Default::default()
        })
    }

    // ---- credentials and service data -----------------------------------------------------

    /// Keeps a migration's sealed credentials (replacing any).
    pub async fn put_credentials(&self, migration: MigrationId, sealed: &str) -> Result<()> {
        let now = now_ms();
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO credentials (migration_id, sealed, updated_at_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (migration_id) DO UPDATE SET sealed = excluded.sealed,
                    updated_at_ms = excluded.updated_at_ms",
            )
            .bind(migration.to_string())
            .bind(sealed)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// A migration's sealed credentials, if they are still kept.
    pub async fn credentials(&self, migration: MigrationId) -> Result<Option<String>> {
        with_pool!(self, |pool| {
            Ok(
                sqlx::query_scalar("SELECT sealed FROM credentials WHERE migration_id = $1")
                    .bind(migration.to_string())
                    .fetch_optional(pool)
                    .await?,
            )
        })
    }

    /// Forgets a migration's credentials.
    pub async fn delete_credentials(&self, migration: MigrationId) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM credentials WHERE migration_id = $1")
                .bind(migration.to_string())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Keeps what the service knows of a migration beside its spec.
    pub async fn put_service_meta(&self, migration: MigrationId, meta: &ServiceMeta) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO service_meta (migration_id, notify, lang, project_id,
                    source_sign_in, destination_sign_in)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (migration_id) DO UPDATE SET notify = excluded.notify,
                    lang = excluded.lang, project_id = excluded.project_id,
                    source_sign_in = excluded.source_sign_in,
                    destination_sign_in = excluded.destination_sign_in",
            )
            .bind(migration.to_string())
            .bind(&meta.notify)
            .bind(&meta.lang)
            .bind(&meta.project)
            .bind(meta.source_sign_in)
            .bind(meta.destination_sign_in)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// What the service knows of a migration beside its spec (defaults if nothing).
    pub async fn service_meta(&self, migration: MigrationId) -> Result<ServiceMeta> {
        with_pool!(self, |pool| {
            let row = sqlx::query("SELECT * FROM service_meta WHERE migration_id = $1")
                .bind(migration.to_string())
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(r) => ServiceMeta {
                    notify: r.opt_text("notify")?,
                    lang: r.text("lang")?,
                    project: r.opt_text("project_id")?,
                    source_sign_in: r.flag("source_sign_in")?,
                    destination_sign_in: r.flag("destination_sign_in")?,
                },
                None => ServiceMeta {
                    lang: "en".into(),
                    ..Default::default()
                },
            })
        })
    }

    /// Deletes a migration and everything of it: passes, folder states, item map, failures,
    /// leases, jobs, credentials and service data. Whether it existed.
    pub async fn delete_migration(&self, migration: MigrationId) -> Result<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM migrations WHERE id = $1")
                .bind(migration.to_string())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// The migrations with no activity (creation, pass start or end, job change) since
    /// `before` (seconds since the Unix epoch), and no job waiting or running.
    pub async fn inactive_migrations(&self, before: i64) -> Result<Vec<MigrationId>> {
        let ids: Vec<String> = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT m.id FROM migrations m
                 WHERE m.created_at < $1
                   AND NOT EXISTS (SELECT 1 FROM passes p WHERE p.migration_id = m.id
                        AND COALESCE(p.finished_at, p.started_at) >= $1)
                   AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.migration_id = m.id
                        AND (j.state IN ('queued', 'scheduled', 'running', 'paused')
                             OR j.updated_at_ms >= $1 * 1000))",
            )
            .bind(before)
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
}
