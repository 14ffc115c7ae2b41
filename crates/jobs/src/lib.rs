//! passeur's durable job queue: the workers of `passeur serve` and `passeur worker`.
//!
//! Jobs are rows of the store ([`passeur_store::Job`]), on SQLite alone or on a PostgreSQL
//! database shared by any number of processes. [`Workers::run`] starts N workers; each one
//! loops:
//!
//! 1. **claim** the next due job that fits the cluster-wide limits
//!    ([`passeur_store::Store::claim_job`]: connections per mail host, simultaneous jobs per
//!    project, one job per migration), with a lease and a fencing token;
//! 2. **run** it with the [`Handler`], while a heartbeat renews the lease. The heartbeat also
//!    carries requests to stop (from any process) and the loss of the lease: either cancels the
//!    handler's token, and a handler that lost its lease can no longer end the job;
//! 3. **end** it as the handler says: completed, stopped, failed for good, or failed for now,
//!    in which case it is scheduled again after an exponential backoff (capped) until its
//!    attempts run out. At shutdown, jobs still running are stopped at a safe point and given
//!    back to the queue ([`passeur_store::JobEnd::Requeue`]) for the next process to resume.
//!
//! A worker that dies stops renewing; once its lease lapses another worker claims the job
//! with a larger token. The migration runner holds its own per-migration lease and fences
//! every write of the item map with it, so the two never write at once, and its exactly-once
//! resume makes the rerun copy only what is missing.
//!
//! # Why our own queue and not apalis
//!
//! We evaluated apalis 1.0 (apalis-core with apalis-postgres and apalis-sqlite), which offers
//! durable jobs on both of our backends with heartbeats, re-enqueueing of orphaned jobs and
//! `SKIP LOCKED` claims. We chose a small queue on our own tables because:
//!
//! - **Limits across the cluster.** A claim must respect the connections already open to a
//!   mail host and the running migrations of a project, summed over every worker. That is a
//!   condition on other rows checked in the claiming transaction; apalis fetches the next job
//!   by its own query, so we would have to claim, check, and give back, with races between.
//! - **One fencing token.** The engine already fences item-map writes with a per-migration
//!   lease token in our store. Our job rows carry the same kind of token, checked in the same
//!   database, so "a worker that lost its lease writes nothing" holds for job ends too.
//! - **One schema, one migration path.** Our store already migrates its schema on SQLite and
//!   PostgreSQL; apalis brings its own schema and migrations per backend, and deleting a
//!   migration (GDPR) would have to reach into its tables as well. Ours cascade.
//! - **Size.** The queue is a few hundred lines over the store; apalis adds a tower-based
//!   middleware stack and codecs we would not use.
//!
//! What we give up: apalis-board's UI and `LISTEN/NOTIFY` wake-ups (we poll every
//! [`QueueConfig::poll`], half a second by default, which is far below a migration's length).

#![warn(missing_docs)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use passeur_store::{ClaimLimits, Job, JobEnd, JobState, Store, StoreError};
use tokio_util::sync::CancellationToken;

/// How a handler's run of a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Completed,
    /// It stopped because its token was cancelled (stop request, lost lease or shutdown).
    Stopped,
    /// Failed in a way a retry will meet again (wrong password, no such mailbox).
    Failed(String),
    /// Failed in a way that may pass (unreachable server, dropped connection).
    Retry(String),
}

/// What runs jobs: the service gives one.
pub trait Handler: Send + Sync + 'static {
    /// Runs `job` until it ends or `cancel` is cancelled; `progress` reports how far it is.
    fn run(
        &self,
        job: Job,
        progress: Progress,
        cancel: CancellationToken,
    ) -> impl Future<Output = Outcome> + Send;
}

/// Where a running job reports its progress (JSON), kept in its row for every process to read.
#[derive(Debug, Clone)]
pub struct Progress {
    store: Store,
    id: i64,
    token: i64,
}

impl Progress {
    /// Records `json` as the job's progress (ignored once the lease is lost).
    pub async fn report(&self, json: &str) {
        if let Err(e) = self.store.set_job_progress(self.id, self.token, json).await {
            tracing::debug!(job = self.id, error = %e, "cannot record progress");
        }
    }
}

/// The queue's settings.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Who the workers are, in leases and logs (e.g. `host:pid`); `-N` is appended per worker.
    pub holder: String,
    /// How long a claim lasts without a heartbeat.
    pub ttl: Duration,
    /// How often a running job's lease is renewed (and stop requests seen).
    pub heartbeat: Duration,
    /// How long an idle worker waits before looking for a job again.
    pub poll: Duration,
    /// The limits every claim respects.
    pub limits: ClaimLimits,
    /// The first retry's delay; each later one doubles it.
    pub retry_base: Duration,
    /// The longest delay between retries.
    pub retry_cap: Duration,
}

/// This machine's name (from `/etc/hostname`), for jobs bound to a machine.
pub fn this_node() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            holder: format!("{}:{}", this_node(), std::process::id()),
            ttl: Duration::from_secs(30),
            heartbeat: Duration::from_secs(2),
            poll: Duration::from_millis(500),
            limits: ClaimLimits {
                node: Some(this_node()),
                ..Default::default()
            },
            retry_base: Duration::from_secs(30),
            retry_cap: Duration::from_secs(3600),
        }
    }
}

impl QueueConfig {
    /// The delay before the retry that follows attempt `attempts` (1 for the first).
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(20);
        self.retry_base
            .saturating_mul(1u32 << doublings)
            .min(self.retry_cap)
    }
}

/// A pool of workers over one store.
#[derive(Debug)]
pub struct Workers;

impl Workers {
    /// Runs `n` workers until `shutdown` is cancelled; then stops the jobs they run at a safe
    /// point, gives them back to the queue, and returns.
    pub async fn run<H: Handler>(
        store: Store,
        handler: Arc<H>,
        n: usize,
        config: QueueConfig,
        shutdown: CancellationToken,
    ) {
        let config = Arc::new(config);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let store = store.clone();
            let handler = Arc::clone(&handler);
            let config = Arc::clone(&config);
            let shutdown = shutdown.clone();
            let holder = format!("{}-{}", config.holder, i + 1);
            tasks.spawn(async move { worker(store, handler, &config, holder, shutdown).await });
        }
        while tasks.join_next().await.is_some() {}
    }
}

async fn worker<H: Handler>(
    store: Store,
    handler: Arc<H>,
    config: &QueueConfig,
    holder: String,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        let job = match store.claim_job(&holder, config.ttl, &config.limits).await {
            Ok(Some(job)) => job,
            Ok(None) => {
                nap(config.poll, &shutdown).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(worker = %holder, error = %e, "cannot claim a job");
                nap(config.poll * 4, &shutdown).await;
                continue;
            }
        };
        run_one(&store, &*handler, config, &holder, job, &shutdown).await;
    }
}

async fn nap(d: Duration, shutdown: &CancellationToken) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = shutdown.cancelled() => {}
    }
}

/// Why a running job's token was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    StopRequested,
    LeaseLost,
}

async fn run_one<H: Handler>(
    store: &Store,
    handler: &H,
    config: &QueueConfig,
    holder: &str,
    job: Job,
    shutdown: &CancellationToken,
) {
    let (id, token, kind) = (job.id, job.token, job.kind.clone());
    tracing::info!(worker = %holder, job = id, kind = %kind, migration = ?job.migration.map(|m| m.to_string()), attempt = job.attempts, "job claimed");
    let cancel = shutdown.child_token();
    let cut = Arc::new(std::sync::Mutex::new(None::<Cut>));
    let beat = {
        let (store, cancel, cut) = (store.clone(), cancel.clone(), Arc::clone(&cut));
        let (every, ttl) = (config.heartbeat, config.ttl);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = cancel.cancelled() => return,
                }
                let why = match store.renew_job(id, token, ttl).await {
                    Ok(false) => continue,
                    Ok(true) => Cut::StopRequested,
                    Err(StoreError::LeaseLost) => Cut::LeaseLost,
                    // The database is away for a moment: the lease has its TTL to spare.
                    Err(e) => {
                        tracing::warn!(job = id, error = %e, "cannot renew a job's lease");
                        continue;
                    }
                };
                *cut.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
                cancel.cancel();
                return;
            }
        })
    };
    let progress = Progress {
        store: store.clone(),
        id,
        token,
    };
    let attempts = job.attempts;
    let outcome = handler.run(job, progress, cancel.clone()).await;
    beat.abort();
    let cut = *cut.lock().unwrap_or_else(|e| e.into_inner());
    if cut == Some(Cut::LeaseLost) {
        tracing::warn!(worker = %holder, job = id, "job's lease lost: another worker has it");
        return;
    }
    let end = match outcome {
        Outcome::Completed => JobEnd::Completed,
        Outcome::Stopped | Outcome::Retry(_) if shutdown.is_cancelled() => JobEnd::Requeue,
        Outcome::Stopped => JobEnd::Stopped,
        Outcome::Failed(e) => JobEnd::Failed(e),
        Outcome::Retry(error) => {
            let now = store.clock_ms().await.unwrap_or_default();
            let wait = i64::try_from(config.backoff(attempts).as_millis()).unwrap_or(i64::MAX / 4);
            JobEnd::Retry {
                at_ms: now.saturating_add(wait),
                error,
            }
        }
    };
    match store.finish_job(id, token, &end).await {
        Ok(state) => {
            let level_warn = matches!(state, JobState::Failed);
            if level_warn {
                tracing::warn!(worker = %holder, job = id, kind = %kind, state = %state, "job ended");
            } else {
                tracing::info!(worker = %holder, job = id, kind = %kind, state = %state, "job ended");
            }
        }
        Err(e) => tracing::warn!(worker = %holder, job = id, error = %e, "cannot end a job"),
    }
}

#[cfg(test)]
mod tests;
