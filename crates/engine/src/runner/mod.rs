//! The one way to run a migration, for the CLI, the server and the workers alike.
//!
//! - [`MigrationSpec`]: what a migration is (stored with it, no secret).
//! - [`Runner`]: creates migrations and runs their passes, purges and verifications. It owns
//!   the lifecycle in the store: status, begin/finish of a pass, counters, and the mapping of
//!   what the engine did to an [`Outcome`].
//! - [`RunContext`]: what a pass's copy code gets from the runner (store, migration, pass,
//!   events, cancellation).
//! - [`Secrets`] and [`RunOptions`]: what a caller gives for one run and never stored.
//!
//! Callers parse, read secrets and print; nobody else touches a migration's state.

pub mod quota;
mod spec;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use passeur_dav::DavClient;
use passeur_net::AddressPolicy;
use passeur_store::{Lease, MigrationRow, PassCounters, PassRow, PassStatus, Store, StoreError};
use passeur_types::{Endpoint, MigrationId, Protocol, Status};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub use spec::{AccountSpec, DavSpec, ImportSpec, ImportTarget, MigrationSpec, file_source_id};

use crate::error::{BusyError, ConfigError};
use crate::{
    DavAccount, DavPassReport, DavPurgeReport, DavVerifyReport, EngineError, Event, EventSink,
    FileKind, ImportOptions, ImportReport, ImportVerifyReport, Limits, MailAccount, PassReport,
    PurgeReport, Side, VerifyReport,
};

/// A password or other secret, wiped from memory when dropped.
pub type Secret = zeroize::Zeroizing<String>;

/// What a pass's copy code gets from whoever runs it.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The store; bound to the run's lease when the runner holds one, so that a run whose lease
    /// was taken over writes nothing more.
    pub store: Store,
    /// The migration being run.
    pub migration: MigrationId,
    /// The pass being run (0 for a dry run, which records nothing).
    pub pass: u32,
    /// Where progress goes.
    pub events: EventSink,
    /// Cancelled to stop at the next safe point; what is copied stays recorded.
    pub cancel: CancellationToken,
}

impl RunContext {
    /// A context that reports nowhere and is never cancelled (tests, one-off tools).
    pub fn quiet(store: Store, migration: MigrationId, pass: u32) -> RunContext {
        RunContext {
            store,
            migration,
            pass,
            events: EventSink::none(),
            cancel: CancellationToken::new(),
        }
    }
}

/// How a caller follows and stops a run: the events it reports, and the token that stops it at
/// the next safe point.
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// Where the run reports its progress.
    pub events: EventSink,
    /// Cancelled to stop the run at the next safe point; what is copied stays recorded.
    pub cancel: CancellationToken,
}

/// What a purge was asked to do: from which pass, for real or not, with the destination's
/// password.
struct PurgeAsk {
    from_pass: u32,
    dry_run: bool,
    destination_password: Secret,
}

/// The passwords of one run (each side's, or its admin's under delegation).
#[derive(Default)]
pub struct Secrets {
    /// The source's password (or its admin's); None for a file import.
    pub source: Option<Secret>,
    /// The destination's password (or its admin's); empty with an OAuth token.
    pub destination: Option<Secret>,
}

impl Secrets {
    fn source(&self) -> Result<Secret, EngineError> {
        self.source
            .clone()
            .ok_or_else(|| ConfigError::NoPassword(Side::Source).into())
    }

    fn destination(&self) -> Result<Secret, EngineError> {
        self.destination
            .clone()
            .ok_or_else(|| ConfigError::NoPassword(Side::Destination).into())
    }
}

/// Choices of one run, never stored: every run decides them again.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Plan only: list what would be copied, copy nothing, record nothing.
    pub dry_run: bool,
    /// Run past the providers' documented daily transfer limits ([`quota`]), for an account
    /// whose provider allows more than its preset says.
    pub ignore_daily_limits: bool,
    /// Scan every folder even when its STATUS says nothing changed.
    pub full: bool,
    /// Connections per server (and DAV writes in flight); `None` keeps the stored limit.
    pub connections: Option<usize>,
    /// Message bytes held in memory at once; `None` keeps the stored limit.
    pub bytes_in_flight: Option<usize>,
    /// Messages per APPEND batch of an import.
    pub batch_messages: Option<usize>,
    /// Bytes per APPEND batch (at least 64 KiB); `None` keeps the stored limit.
    pub batch_bytes: Option<usize>,
    /// Accept untrusted TLS certificates on the source.
    pub source_insecure_tls: bool,
    /// Accept untrusted TLS certificates on the destination.
    pub destination_insecure_tls: bool,
    /// Log in to the source as this admin this time (else the stored one).
    pub from_admin: Option<String>,
    /// Log in to the destination as this admin this time (else the stored one).
    pub to_admin: Option<String>,
    /// The DNS server for RFC 6764 discovery of a DAV domain (`None`: the system's).
    pub dns_server: Option<std::net::SocketAddr>,
    /// Which addresses user servers may resolve to: everything for the command line, public
    /// addresses only for the service unless its operator allows private ones.
    pub address_policy: AddressPolicy,
    /// Send passwords in clear text (`imap://` without STARTTLS, `http://` DAV) to hosts other
    /// than loopback. Off unless the user or the operator opts in.
    pub allow_plaintext: bool,
    /// Log in to the source's mail server with this OAuth 2.0 token instead of a password.
    pub source_oauth: Option<Arc<passeur_oauth::TokenSource>>,
    /// Log in to the destination's mail server with this OAuth 2.0 token.
    pub destination_oauth: Option<Arc<passeur_oauth::TokenSource>>,
    /// The provider presets the binary was given (folder roles, daily limits); the built-in
    /// ones by default.
    pub presets: passeur_net::discover::Presets,
}

impl RunOptions {
    fn limits(&self, base: Limits) -> Limits {
        Limits {
            connections: self.connections.unwrap_or(base.connections).max(1),
            bytes_in_flight: self
                .bytes_in_flight
                .map(|b| b.max(1 << 20))
                .unwrap_or(base.bytes_in_flight),
            batch_bytes: self
                .batch_bytes
                .map(|b| b.max(64 << 10))
                .unwrap_or(base.batch_bytes),
            ..base
        }
    }
}

/// How a pass ended, when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Everything that should have been copied was.
    Done,
    /// Stopped on request; what was copied stays.
    Stopped,
    /// Some items or folders could not be copied (listed in the failures).
    Incomplete,
}

/// What a pass did.
#[derive(Debug, Clone, Serialize)]
pub struct PassOutcome {
    /// The migration the pass belongs to.
    pub migration: MigrationId,
    /// The pass number (0 for a dry run).
    pub pass: u32,
    /// True when nothing was copied or recorded (the plan only).
    pub dry_run: bool,
    /// How the pass ended.
    pub outcome: Outcome,
    /// Why the pass is incomplete, in a sentence.
    pub summary: Option<String>,
    /// Mail and DAV counters together.
    #[serde(skip)]
    pub counters: PassCounters,
    /// The mail part, when the migration moves mail.
    pub mail: Option<PassReport>,
    /// The contacts/calendars/tasks part, when the migration moves them.
    pub dav: Option<DavPassReport>,
    /// The report of a file import.
    pub import: Option<ImportReport>,
    /// When the pass stopped at a provider's daily limit: the Unix time (seconds) from which
    /// a pass may go on.
    pub resume_at: Option<i64>,
}

/// What a purge did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PurgeOutcome {
    /// Items copied by this pass and later ones are deleted; earlier ones stay.
    pub from_pass: u32,
    /// True when nothing was deleted (what would be is counted).
    pub dry_run: bool,
    /// Stopped before a part began (see [`PurgeOutcome::stopped`]).
    #[serde(skip)]
    cancelled: bool,
    /// The mail part, when the migration copied mail.
    pub mail: Option<PurgeReport>,
    /// The contacts/calendars/tasks part, when the migration copied them.
    pub dav: Option<DavPurgeReport>,
}

impl PurgeOutcome {
    /// Items left in place (changed on the destination, or not found safely).
    pub fn skipped(&self) -> u64 {
        self.mail.as_ref().map_or(0, |m| m.skipped) + self.dav.as_ref().map_or(0, |d| d.skipped)
    }

    /// Items deleted from the destination (and from the item map).
    pub fn deleted(&self) -> u64 {
        self.mail.as_ref().map_or(0, |m| m.deleted) + self.dav.as_ref().map_or(0, |d| d.deleted)
    }

    /// Stopped before the end (cancelled): a new purge deletes the rest.
    pub fn stopped(&self) -> bool {
        self.cancelled
            || self.mail.as_ref().is_some_and(|m| m.cancelled)
            || self.dav.as_ref().is_some_and(|d| d.cancelled)
    }

    /// What the mail and DAV parts had to say, in that order.
    pub fn notes(&self) -> Vec<String> {
        let mail = self.mail.iter().flat_map(|m| m.notes.iter());
        let dav = self.dav.iter().flat_map(|d| d.notes.iter());
        mail.chain(dav).cloned().collect()
    }
}

/// What a verification found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyOutcome {
    /// The mail comparison, when the migration moves mail.
    pub mail: Option<VerifyReport>,
    /// The collection comparison, when the migration moves contacts, calendars or tasks.
    pub dav: Option<DavVerifyReport>,
    /// The check of a file import against the file read again.
    pub import: Option<ImportVerifyReport>,
    /// Stopped before a part began (see [`VerifyOutcome::stopped`]).
    #[serde(skip)]
    cancelled: bool,
}

impl VerifyOutcome {
    /// Stopped before the end (cancelled): not everything was compared, so it is not OK.
    pub fn stopped(&self) -> bool {
        self.cancelled
            || self.mail.as_ref().is_some_and(|r| r.cancelled)
            || self.dav.as_ref().is_some_and(|r| r.cancelled)
            || self.import.as_ref().is_some_and(|r| r.cancelled)
    }

    /// True when everything was compared and nothing is missing, altered or duplicated.
    pub fn ok(&self) -> bool {
        !self.stopped()
            && self.mail.as_ref().is_none_or(|r| r.ok())
            && self.dav.as_ref().is_none_or(|r| r.ok())
            && self.import.as_ref().is_none_or(|r| r.ok())
    }
}

/// A migration as it stands: its row, spec, passes, totals and the failures of its last pass.
#[derive(Debug, Clone)]
pub struct MigrationView {
    /// The migration's row in the store.
    pub row: MigrationRow,
    /// What the migration moves, read from its stored spec.
    pub spec: MigrationSpec,
    /// Every pass, oldest first.
    pub passes: Vec<PassRow>,
    /// Items in the item map, and their bytes.
    pub items: u64,
    /// Bytes of the items in the item map.
    pub bytes: u64,
    /// The items that could not be copied in the last pass.
    pub failures: Vec<passeur_store::Failure>,
    /// What was repaired, skipped or mended on the way, every pass (see [`passeur_store::ItemNote`]).
    pub notes: Vec<passeur_store::ItemNote>,
}

/// Runs migrations over one store.
#[derive(Debug, Clone)]
pub struct Runner {
    store: Store,
    /// Who holds the leases this runner takes (host, process, random).
    holder: String,
    lease_ttl: Duration,
    /// How long to wait for another runner's lease before giving up (`None`: refuse at once).
    wait: Option<Duration>,
}

/// A migration's lease, renewed by heartbeat while a run holds it.
struct Held {
    lease: Lease,
    store: Store,
    heartbeat: tokio::task::JoinHandle<()>,
    lost: Arc<AtomicBool>,
}

impl Held {
    async fn release(self) {
        self.heartbeat.abort();
        if let Err(e) = self.store.release_lease(&self.lease).await {
            tracing::warn!(error = %e, "cannot release the migration's lease");
        }
    }
}

impl Runner {
    /// A runner over `store`; its leases are held in the name of this process on this host
    /// (so a runner of the same host can take over the lease of a process that is gone).
    pub fn new(store: Store) -> Runner {
        let tag = MigrationId::random().to_string();
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into());
        Runner {
            store,
            holder: format!("{host}:{}:{}", std::process::id(), &tag[..8]),
            lease_ttl: Duration::from_secs(30),
            wait: None,
        }
    }

    /// Waits up to `wait` for another runner of the same migration to finish, instead of
    /// refusing at once.
    pub fn with_wait(mut self, wait: Option<Duration>) -> Runner {
        self.wait = wait;
        self
    }

    /// How long a lease lasts without a heartbeat (a crashed runner's is taken over after it).
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Runner {
        self.lease_ttl = ttl.max(Duration::from_millis(300));
        self
    }

    /// Whether `holder` (`host:pid:tag`) names a process of this machine that no longer exists.
    fn is_dead_local(&self, holder: &str) -> bool {
        let mine = self.holder.split(':').next().unwrap_or_default();
        let mut parts = holder.split(':');
        let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
            return false;
        };
        host == mine
            && pid.parse::<u32>().is_ok_and(|p| {
                p != std::process::id() && !Path::new(&format!("/proc/{p}")).exists()
            })
    }

    /// Takes migration `id`'s lease (or waits for it), and renews it every third of its
    /// lifetime; a lease found lost cancels `cancel`, so the run stops before writing more, and
    /// every write through the fenced store is refused anyway.
    async fn hold(&self, id: MigrationId, cancel: &CancellationToken) -> Result<Held, EngineError> {
        let mut taken = match self.wait {
            None => {
                self.store
                    .acquire_lease(id, &self.holder, self.lease_ttl)
                    .await
            }
            Some(w) => {
                self.store
                    .acquire_lease_wait(id, &self.holder, self.lease_ttl, w)
                    .await
            }
        };
        // A holder on this machine whose process is gone (killed) needs no waiting for.
        if let Err(StoreError::Busy { holder, .. }) = &taken
            && self.is_dead_local(holder)
        {
            let dead = holder.clone();
            tracing::info!(holder = %dead, "taking over the lease of a process that is gone");
            taken = self
                .store
                .acquire_lease_from(id, &self.holder, self.lease_ttl, &dead)
                .await;
        }
        let lease = match taken {
            Ok(l) => l,
            Err(StoreError::Busy { holder, until }) => {
                let left = until
                    .duration_since(std::time::SystemTime::now())
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                return Err(BusyError::Held {
                    id,
                    holder,
                    lapses_in: left,
                }
                .into());
            }
            Err(e) => return Err(e.into()),
        };
        let lost = Arc::new(AtomicBool::new(false));
        let (store, l, flag, stop) = (
            self.store.clone(),
            lease.clone(),
            Arc::clone(&lost),
            cancel.clone(),
        );
        let every = self.lease_ttl / 3;
        let heartbeat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = store.renew_lease(&l).await {
                    if matches!(e, StoreError::LeaseLost) {
                        tracing::warn!("the migration's lease was taken over: stopping");
                        flag.store(true, Ordering::SeqCst);
                        stop.cancel();
                        return;
                    }
                    tracing::warn!(error = %e, "cannot renew the migration's lease");
                }
            }
        });
        Ok(Held {
            store: self.store.clone(),
            lease,
            heartbeat,
            lost,
        })
    }

    /// The store the runner reads and writes.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The migration between `source` and `destination` (URLs without secrets) when one exists
    /// and `reuse` is set, else a new one. Its spec is stored (replacing the old one). Returns the
    /// ID and whether it existed.
    pub async fn create(
        &self,
        source: &str,
        destination: &str,
        spec: &MigrationSpec,
        reuse: bool,
    ) -> Result<(MigrationId, bool), EngineError> {
        let json = spec.to_json();
        if reuse && let Some(m) = self.store.find_migration(source, destination).await? {
            self.store.set_options(m.id, &json).await?;
            return Ok((m.id, true));
        }
        let id = MigrationId::random();
        self.store
            .create_migration(id, source, destination, &json)
            .await?;
        Ok((id, false))
    }

    /// A migration's row and spec.
    pub async fn load(
        &self,
        id: MigrationId,
    ) -> Result<(MigrationRow, MigrationSpec), EngineError> {
        let row = self.store.migration(id).await?;
        let spec = MigrationSpec::from_json(&row.options)?;
        Ok((row, spec))
    }

    /// Everything `status` shows.
    pub async fn view(&self, id: MigrationId) -> Result<MigrationView, EngineError> {
        let (row, spec) = self.load(id).await?;
        let passes = self.store.passes(id).await?;
        let (items, bytes) = self.store.count_items(id).await?;
        let failures = self
            .store
            .failures(id, passes.last().map(|p| p.number))
            .await?;
        let notes = self.store.notes(id).await?;
        Ok(MigrationView {
            row,
            spec,
            passes,
            items,
            bytes,
            failures,
            notes,
        })
    }

    /// Runs a new pass of migration `id`: the first copies everything, later ones what is new
    /// (and flag changes). The pass, its counters and the migration's status are recorded
    /// whatever happens; an error is returned after being recorded.
    pub async fn run_pass(
        &self,
        id: MigrationId,
        secrets: &Secrets,
        opts: &RunOptions,
        control: Control,
    ) -> Result<PassOutcome, EngineError> {
        let Control { events, cancel } = control;
        let (row, spec) = self.load(id).await?;
        if opts.dry_run {
            let rc = RunContext {
                store: self.store.clone(),
                migration: id,
                pass: 0,
                events,
                cancel,
            };
            let parts = execute(&rc, &row.source, &row.destination, &spec, secrets, opts).await;
            return finish(&rc, true, parts);
        }
        let held = self.hold(id, &cancel).await?;
        let result = self
            .run_held(
                &row,
                &spec,
                secrets,
                opts,
                &held,
                Control { events, cancel },
            )
            .await;
        let lost = held.lost.load(Ordering::SeqCst);
        held.release().await;
        match result {
            Err(EngineError::Store(StoreError::LeaseLost)) | Ok(_) if lost => {
                Err(BusyError::TakenOver { id }.into())
            }
            r => r,
        }
    }

    async fn run_held(
        &self,
        row: &MigrationRow,
        spec: &MigrationSpec,
        secrets: &Secrets,
        opts: &RunOptions,
        held: &Held,
        control: Control,
    ) -> Result<PassOutcome, EngineError> {
        let (id, Control { events, cancel }) = (row.id, control);
        let store = held.store.fenced(&held.lease);
        let quota = if opts.ignore_daily_limits {
            None
        } else {
            let (src, dst) = (
                Endpoint::of_recorded(&row.source),
                Endpoint::of_recorded(&row.destination),
            );
            // The pass history is read only for a side at a provider with a daily limit.
            match quota::daily_limit(&opts.presets, src.as_ref(), dst.as_ref()) {
                Some(limit) => {
                    let now = chrono::Utc::now().timestamp();
                    let recent = store.passes_since(now - quota::WINDOW_SECS).await?;
                    Some(limit.left_after(&recent, now))
                }
                None => None,
            }
        };
        store.set_status(id, Status::Running, None).await?;
        let pass = store.begin_pass(id).await?;
        // Under a daily limit, the pass's events go through a counter that stops the pass
        // (its own token: the caller's stays as it is) once the day's bytes are moved.
        let (events, cancel, meter) = match &quota {
            Some(q) => {
                let (inner, mut stream) = crate::events::channel();
                let stop = cancel.child_token();
                let (left, outer, stop2) = (q.left, events, stop.clone());
                let meter = tokio::spawn(async move {
                    let mut moved = 0u64;
                    let mut reached = left == 0;
                    if reached {
                        stop2.cancel();
                    }
                    while let Some(ev) = stream.recv().await {
                        if let Event::Copied { bytes, .. } = &ev {
                            moved += bytes;
                            if moved >= left && !reached {
                                reached = true;
                                stop2.cancel();
                            }
                        }
                        outer.send(ev);
                    }
                    reached
                });
                (inner, stop, Some(meter))
            }
            None => (events, cancel, None),
        };
        let rc = RunContext {
            store: store.clone(),
            migration: id,
            pass,
            events,
            cancel,
        };
        // Smaller batches under a limit, so that the stop comes close after it.
        let opts = &RunOptions {
            batch_bytes: quota
                .as_ref()
                .map(|q| {
                    usize::try_from(q.left / 8)
                        .unwrap_or(usize::MAX)
                        .clamp(256 << 10, 6 << 20)
                })
                .or(opts.batch_bytes),
            ..opts.clone()
        };
        let parts = execute(&rc, &row.source, &row.destination, spec, secrets, opts).await;
        let counters = parts.counters();
        let mut result = finish(&rc, false, parts);
        drop(rc);
        if let Some(m) = meter {
            let reached = m.await.unwrap_or(false);
            if let (true, Ok(o), Some(q)) = (reached, result.as_mut(), quota.as_ref())
                && o.outcome == Outcome::Stopped
            {
                o.summary = Some(q.stop_summary());
                o.resume_at = Some(q.reset_at);
            }
        }
        let (status, pass_status, err, code) = match &result {
            Ok(o) => match o.outcome {
                Outcome::Done => (Status::Done, PassStatus::Done, None, None),
                Outcome::Stopped => (Status::Stopped, PassStatus::Stopped, None, None),
                Outcome::Incomplete => (
                    Status::Failed,
                    PassStatus::Incomplete,
                    o.summary.clone(),
                    Some("incomplete"),
                ),
            },
            Err(e) => (
                Status::Failed,
                PassStatus::Failed,
                Some(e.to_string()),
                Some(e.code()),
            ),
        };
        store
            .update_pass(id, pass, counters, Some((pass_status, err.as_deref())))
            .await?;
        store
            .set_status_coded(id, status, err.as_deref(), code)
            .await?;
        result
    }

    /// Plans a migration that is not stored: what a pass would copy, with nothing recorded.
    pub async fn dry_run(
        &self,
        source: &str,
        destination: &str,
        spec: &MigrationSpec,
        secrets: &Secrets,
        opts: &RunOptions,
        control: Control,
    ) -> Result<PassOutcome, EngineError> {
        let Control { events, cancel } = control;
        let rc = RunContext {
            store: self.store.clone(),
            migration: MigrationId::random(),
            pass: 0,
            events,
            cancel,
        };
        let opts = RunOptions {
            dry_run: true,
            ..opts.clone()
        };
        let parts = execute(&rc, source, destination, spec, secrets, &opts).await;
        finish(&rc, true, parts)
    }

    /// Deletes from the destination what migration `id` copied in pass `from_pass` and later.
    /// Only the destination's password is needed. It reports its progress to `control`'s
    /// events and stops between two deletions when its token is cancelled
    /// ([`PurgeOutcome::stopped`]): what was deleted is recorded, a new purge deletes the rest.
    pub async fn purge(
        &self,
        id: MigrationId,
        from_pass: u32,
        dry_run: bool,
        destination_password: Secret,
        opts: &RunOptions,
        control: Control,
    ) -> Result<PurgeOutcome, EngineError> {
        let (row, spec) = self.load(id).await?;
        let from_pass = from_pass.max(1);
        let held = self.hold(id, &control.cancel).await?;
        let fenced = held.store.fenced(&held.lease);
        let result = self
            .purge_held(
                &fenced,
                &row,
                &spec,
                PurgeAsk {
                    from_pass,
                    dry_run,
                    destination_password,
                },
                opts,
                &control,
            )
            .await;
        held.release().await;
        result
    }

    /// Logs in to the migration's mail destination with `destination_password` and out again,
    /// changing nothing: the check a service makes before it queues a purge. A destination with
    /// no mail side (contacts and calendars only) is not checked here.
    pub async fn check_destination(
        &self,
        id: MigrationId,
        destination_password: Secret,
        opts: &RunOptions,
    ) -> Result<(), EngineError> {
        let (row, spec) = self.load(id).await?;
        let (url, admin) = match &spec {
            MigrationSpec::Accounts(a) if a.with_mail => (
                row.destination.clone(),
                opts.to_admin.clone().or(a.to_admin.clone()),
            ),
            MigrationSpec::Import(i) => match &i.import.imap {
                Some(u) => (u.clone(), opts.to_admin.clone().or(i.to_admin.clone())),
                None => return Ok(()),
            },
            MigrationSpec::Accounts(_) => return Ok(()),
        };
        let acc = mail_account(
            &url,
            admin,
            destination_password,
            opts.destination_insecure_tls,
            opts,
        )?
        .with_oauth(opts.destination_oauth.clone());
        let client = acc.connect(Side::Destination).await?;
        let _ = client.logout().await;
        Ok(())
    }

    async fn purge_held(
        &self,
        store: &Store,
        row: &MigrationRow,
        spec: &MigrationSpec,
        ask: PurgeAsk,
        opts: &RunOptions,
        control: &Control,
    ) -> Result<PurgeOutcome, EngineError> {
        let id = row.id;
        let PurgeAsk {
            from_pass,
            dry_run,
            destination_password,
        } = ask;
        let insecure = opts.destination_insecure_tls;
        let mut out = PurgeOutcome {
            from_pass,
            dry_run,
            ..Default::default()
        };
        match spec {
            MigrationSpec::Accounts(a) => {
                let to_admin = opts.to_admin.clone().or(a.to_admin.clone());
                if a.with_mail {
                    let dst = mail_account(
                        &row.destination,
                        to_admin.clone(),
                        destination_password.clone(),
                        insecure,
                        opts,
                    )?
                    .with_oauth(opts.destination_oauth.clone());
                    out.mail = Some(
                        crate::purge_mail(store, id, &dst, from_pass, dry_run, true, control)
                            .await?,
                    );
                }
                if a.dav.is_some() && control.cancel.is_cancelled() {
                    out.cancelled = true;
                    return Ok(out);
                }
                if let Some(d) = &a.dav {
                    let (_, dst) = d.accounts(
                        Secret::default(),
                        destination_password,
                        (false, insecure),
                        (None, to_admin),
                    )?;
                    let dst = dst
                        .with_net(opts.dns_server, opts)
                        .with_oauth(opts.destination_oauth.as_ref(), Side::Destination)
                        .await?;
                    out.dav =
                        Some(crate::purge_dav(store, id, &dst, from_pass, dry_run, control).await?);
                }
            }
            MigrationSpec::Import(i) => {
                let admin = opts.to_admin.clone().or(i.to_admin.clone());
                if let Some(u) = &i.import.imap {
                    let acc = mail_account(
                        u,
                        admin.clone(),
                        destination_password.clone(),
                        insecure,
                        opts,
                    )?
                    .with_oauth(opts.destination_oauth.clone());
                    out.mail = Some(
                        crate::purge_mail(store, id, &acc, from_pass, dry_run, false, control)
                            .await?,
                    );
                }
                if control.cancel.is_cancelled() {
                    out.cancelled = true;
                    return Ok(out);
                }
                if let Some(c) = import_dav_client(
                    &i.import,
                    &destination_password,
                    insecure,
                    admin,
                    (opts.dns_server, opts),
                )
                .await?
                {
                    out.dav = Some(
                        crate::purge_dav_with(store, id, &c, from_pass, dry_run, false, control)
                            .await?,
                    );
                }
            }
        }
        Ok(out)
    }

    /// Compares the destination with the source (or, for an import, with the file read again;
    /// `file` when it moved since). Read-only on both sides. It reports its progress to
    /// `control`'s events and stops between two folders when its token is cancelled
    /// ([`VerifyOutcome::stopped`]).
    pub async fn verify(
        &self,
        id: MigrationId,
        secrets: &Secrets,
        opts: &RunOptions,
        file: Option<&Path>,
        control: Control,
    ) -> Result<VerifyOutcome, EngineError> {
        let control = &control;
        let (row, spec) = self.load(id).await?;
        let store = &self.store;
        let mut out = VerifyOutcome::default();
        match &spec {
            MigrationSpec::Accounts(a) => {
                if file.is_some() {
                    return Err(ConfigError::FileNotAnImport.into());
                }
                let from_admin = opts.from_admin.clone().or(a.from_admin.clone());
                let to_admin = opts.to_admin.clone().or(a.to_admin.clone());
                let (src_pw, dst_pw) = (secrets.source()?, secrets.destination()?);
                if a.with_mail {
                    let src = mail_account(
                        &row.source,
                        from_admin.clone(),
                        src_pw.clone(),
                        opts.source_insecure_tls,
                        opts,
                    )?
                    .with_oauth(opts.source_oauth.clone());
                    let dst = mail_account(
                        &row.destination,
                        to_admin.clone(),
                        dst_pw.clone(),
                        opts.destination_insecure_tls,
                        opts,
                    )?
                    .with_oauth(opts.destination_oauth.clone());
                    out.mail = Some(if src.endpoint.protocol == Protocol::Pop3 {
                        crate::verify_pop3(store, id, &src, &dst, a.pop3_folder(), control).await?
                    } else {
                        crate::verify_mail(store, id, &src, &dst, &a.mail.rules, control).await?
                    });
                }
                if a.dav.is_some() && control.cancel.is_cancelled() {
                    out.cancelled = true;
                    return Ok(out);
                }
                if let Some(d) = &a.dav {
                    let (src, dst) = d
                        .run_accounts((src_pw, dst_pw), (from_admin, to_admin), opts)
                        .await?;
                    out.dav =
                        Some(crate::verify_dav(store, id, &src, &dst, &d.kinds, control).await?);
                }
            }
            MigrationSpec::Import(i) => {
                let path = file
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from(&i.import.file));
                check_same_file(&path, &row.source, &i.import.file, file.is_some())?;
                let pw = secrets.destination()?;
                let insecure = opts.destination_insecure_tls;
                let admin = opts.to_admin.clone().or(i.to_admin.clone());
                let davc = import_dav_client(
                    &i.import,
                    &pw,
                    insecure,
                    admin.clone(),
                    (opts.dns_server, opts),
                )
                .await?;
                out.import = Some(match i.import.format {
                    FileKind::Pst => {
                        let mail = match &i.import.imap {
                            Some(u) => Some(
                                mail_account(u, admin, pw.clone(), insecure, opts)?
                                    .with_oauth(opts.destination_oauth.clone()),
                            ),
                            None => None,
                        };
                        crate::verify_pst_import(
                            store,
                            id,
                            &path,
                            mail.as_ref(),
                            davc.as_ref(),
                            control,
                        )
                        .await?
                    }
                    _ => match &davc {
                        Some(c) => crate::verify_dav_import(store, id, &path, c, control).await?,
                        None => {
                            return Err(ConfigError::NoDavToVerify.into());
                        }
                    },
                });
            }
        }
        Ok(out)
    }
}

/// The file to verify must be the one imported: the same size and first MiB, and the same
/// path unless the caller named where it is now (`moved`).
fn check_same_file(
    path: &Path,
    source_id: &str,
    imported: &str,
    moved: bool,
) -> Result<(), EngineError> {
    let content = |sid: &str| sid.rsplit_once('#').map(|(_, c)| c.to_owned());
    match file_source_id(path) {
        Ok((_, sid)) if sid == source_id => Ok(()),
        Ok((_, sid)) if moved && content(&sid) == content(source_id) => Ok(()),
        Ok(_) => Err(ConfigError::NotTheImportedFile {
            path: path.to_owned(),
            imported: imported.to_owned(),
        }
        .into()),
        Err(e) => Err(ConfigError::ImportedFileGone(Box::new(e)).into()),
    }
}

/// A mail account from a URL without secrets.
pub fn mail_account(
    url: &str,
    admin: Option<String>,
    password: Secret,
    insecure_tls: bool,
    opts: &RunOptions,
) -> Result<MailAccount, EngineError> {
    let endpoint = Endpoint::parse(url).map_err(ConfigError::MailUrl)?;
    let mut acc = MailAccount::new(endpoint, String::new());
    acc.password = password;
    acc.admin = admin;
    acc.insecure_tls = insecure_tls;
    acc.address_policy = opts.address_policy;
    acc.allow_plaintext = opts.allow_plaintext;
    acc.presets = opts.presets.clone();
    Ok(acc)
}

/// The DAV client of an import's destination, when it has one; with `admin`, logged in as the
/// admin on behalf of the user.
async fn import_dav_client(
    t: &ImportTarget,
    password: &Secret,
    insecure: bool,
    admin: Option<String>,
    net: (Option<std::net::SocketAddr>, &RunOptions),
) -> Result<Option<DavClient>, EngineError> {
    let (Some(url), Some(user)) = (&t.dav, &t.dav_user) else {
        return Ok(None);
    };
    let acc = DavAccount::parse(url, user, password.clone(), insecure)?
        .with_admin(admin)
        .with_net(net.0, net.1)
        .with_oauth(net.1.destination_oauth.as_ref(), Side::Destination)
        .await?;
    Ok(Some(acc.connect(Side::Destination).await?))
}

/// What the parts of a pass returned.
struct Parts {
    mail: Option<Result<PassReport, EngineError>>,
    dav: Option<Result<DavPassReport, EngineError>>,
    import: Option<Result<ImportReport, EngineError>>,
}

impl Parts {
    /// The counters of every part that finished, whichever others failed.
    fn counters(&self) -> PassCounters {
        let mut c = PassCounters::default();
        let mut add = |o: PassCounters| {
            c.copied += o.copied;
            c.bytes += o.bytes;
            c.flags_updated += o.flags_updated;
            c.failed += o.failed;
        };
        if let Some(Ok(r)) = &self.mail {
            add(r.counters);
        }
        if let Some(Ok(r)) = &self.dav {
            add(r.counters);
        }
        if let Some(Ok(r)) = &self.import {
            add(r.counters);
        }
        c
    }
}

/// Runs the parts of a pass: mail, then contacts/calendars/tasks (not after a mail failure or a
/// stop), or the import of a file.
async fn execute(
    rc: &RunContext,
    source: &str,
    destination: &str,
    spec: &MigrationSpec,
    secrets: &Secrets,
    opts: &RunOptions,
) -> Parts {
    let mut parts = Parts {
        mail: None,
        dav: None,
        import: None,
    };
    match spec {
        MigrationSpec::Accounts(a) => {
            if a.with_mail {
                let r = async {
                    let src = mail_account(
                        source,
                        opts.from_admin.clone().or(a.from_admin.clone()),
                        secrets.source()?,
                        opts.source_insecure_tls,
                        opts,
                    )?
                    .with_oauth(opts.source_oauth.clone());
                    let dst = mail_account(
                        destination,
                        opts.to_admin.clone().or(a.to_admin.clone()),
                        secrets.destination()?,
                        opts.destination_insecure_tls,
                        opts,
                    )?
                    .with_oauth(opts.destination_oauth.clone());
                    if src.endpoint.protocol == Protocol::Pop3 {
                        let mut po = a.pop3_options(opts.dry_run);
                        if let Some(n) = opts.batch_messages {
                            po.batch_messages = n.max(1);
                        }
                        if let Some(b) = opts.batch_bytes {
                            po.batch_bytes = b.max(64 << 10);
                        }
                        let r = crate::run_pop3_pass(rc, &src, &dst, &po).await?;
                        return Ok(r.to_pass_report());
                    }
                    let mut mo = a.mail.clone();
                    mo.limits = opts.limits(mo.limits);
                    mo.dry_run = opts.dry_run;
                    mo.full = opts.full;
                    crate::run_mail_pass(rc, &src, &dst, &mo).await
                }
                .await;
                parts.mail = Some(r);
            }
            let mail_ok = parts.mail.as_ref().is_none_or(|r| r.is_ok());
            if let Some(d) = &a.dav
                && mail_ok
                && !rc.cancel.is_cancelled()
            {
                let r = async {
                    let admins = (
                        opts.from_admin.clone().or(a.from_admin.clone()),
                        opts.to_admin.clone().or(a.to_admin.clone()),
                    );
                    let (src, dst) = d
                        .run_accounts((secrets.source()?, secrets.destination()?), admins, opts)
                        .await?;
                    let o = d.options(opts.dry_run, opts.full, opts.connections.unwrap_or(0));
                    crate::run_dav_pass(rc, &src, &dst, &d.kinds, &o).await
                }
                .await;
                parts.dav = Some(r);
            }
        }
        MigrationSpec::Import(i) => {
            let r = async {
                let t = &i.import;
                let pw = secrets.destination()?;
                let insecure = opts.destination_insecure_tls;
                let admin = opts.to_admin.clone().or(i.to_admin.clone());
                let mut io = ImportOptions::default();
                if let Some(n) = opts.batch_messages {
                    io.batch_messages = n.max(1);
                }
                let path = PathBuf::from(&t.file);
                let davc =
                    import_dav_client(t, &pw, insecure, admin.clone(), (opts.dns_server, opts))
                        .await?;
                match t.format {
                    FileKind::Pst => {
                        let mail = match &t.imap {
                            Some(u) => Some(
                                mail_account(u, admin, pw.clone(), insecure, opts)?
                                    .with_oauth(opts.destination_oauth.clone()),
                            ),
                            None => None,
                        };
                        crate::run_pst_import(rc, &path, mail.as_ref(), davc.as_ref(), &io).await
                    }
                    _ => match &davc {
                        Some(c) => {
                            let coll = t.collection.as_deref().unwrap_or("Imported");
                            crate::run_file_import(rc, &path, c, coll, &io).await
                        }
                        None => Err(ConfigError::NoDavDestination.into()),
                    },
                }
            }
            .await;
            parts.import = Some(r);
        }
    }
    parts
}

/// Maps what the parts did to the pass's outcome; the first error wins.
fn finish(rc: &RunContext, dry_run: bool, parts: Parts) -> Result<PassOutcome, EngineError> {
    let counters = parts.counters();
    let mail = parts.mail.transpose()?;
    let dav = parts.dav.transpose()?;
    let import = parts.import.transpose()?;
    let cancelled = rc.cancel.is_cancelled()
        || mail.as_ref().is_some_and(|r| r.cancelled)
        || dav.as_ref().is_some_and(|r| r.cancelled)
        || import.as_ref().is_some_and(|r| r.cancelled);
    let mut problems = Vec::new();
    if let Some(r) = mail.as_ref().filter(|r| !r.complete()) {
        let failed: u64 = r.folders.iter().map(|f| f.failed).sum();
        if failed > 0 {
            problems.push(format!("{failed} message(s) refused by the destination"));
        }
        let broken: Vec<&str> = r
            .folders
            .iter()
            .filter(|f| f.error.is_some())
            .map(|f| f.folder.as_str())
            .collect();
        if !broken.is_empty() {
            problems.push(format!("folder(s) not finished: {}", broken.join(", ")));
        }
    }
    if let Some(d) = dav.as_ref().filter(|d| !d.complete()) {
        problems.push(format!(
            "{} contact(s)/event(s)/task(s) not copied",
            d.counters.failed
        ));
    }
    if let Some(r) = import.as_ref().filter(|r| !r.complete()) {
        problems.push(format!("{} item(s) could not be imported", r.failed()));
    }
    let outcome = if cancelled {
        Outcome::Stopped
    } else if problems.is_empty() {
        Outcome::Done
    } else {
        Outcome::Incomplete
    };
    Ok(PassOutcome {
        migration: rc.migration,
        pass: rc.pass,
        dry_run,
        outcome,
        summary: (outcome == Outcome::Incomplete).then(|| problems.join("; ")),
        counters,
        mail,
        dav,
        import,
        resume_at: None,
    })
}
