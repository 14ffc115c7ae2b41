//! What the routes and the workers act on: the engine's runner over the store, the vault that
//! seals credentials, the notifier, and the job handler that runs passes, notifications and
//! the expiry sweep.
//!
//! Nothing here lives only in memory: a migration's credentials are sealed into the store, its
//! passes are jobs in the store, its progress is written to its job's row. Any process that
//! shares the store (a `serve`, a `worker`) can answer for it or take its work over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use passeur_engine::{Control, EngineError, Event, EventStream, RunOptions, Runner, Secrets};
use passeur_jobs::{Handler, Outcome, Progress, QueueConfig, Workers};
use passeur_net::AddressPolicy;
use passeur_notify::{KindCounts, Lang, Notification, Notifier, Side as NotifySide};
use passeur_store::{Job, NewJob, Store};
use passeur_types::{ContentKind, Endpoint, MigrationId};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::vault::Vault;

/// Runs one pass of the job's migration.
pub const PASS: &str = "pass";
/// Sends a notification by e-mail (payload: the notification). Neither held back nor
/// stopped by its migration's pass (see [`passeur_store::NOTIFY_KIND`]).
pub const NOTIFY: &str = passeur_store::NOTIFY_KIND;
/// Forgets migrations inactive for longer than the expiry (their items and credentials) and
/// expired uploads; queued again by the service while none is waiting.
pub const SWEEP: &str = "sweep";
/// Deletes an upload's file on the machine that holds it (payload: the path).
pub const FORGET_FILE: &str = "forget-file";
/// Deletes from the destination what a migration copied from a sync point on (payload:
/// the sync point to delete from); its result is the job's progress ([`PurgeResult`]).
pub const PURGE: &str = "purge";

/// How long before a project is deleted for inactivity its contact is told.
const WARN_BEFORE_EXPIRY: Duration = Duration::from_secs(7 * 86_400);

/// Operator settings of the service.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Jobs run at once by this process's workers (0: HTTP only).
    pub workers: usize,
    /// Accept self-signed certificates on user servers (test set-ups only).
    pub insecure_tls: bool,
    /// Let user servers resolve to loopback and private addresses (tests, closed networks).
    pub allow_private_addresses: bool,
    /// Let passwords go in clear text to user servers other than loopback.
    pub allow_plaintext: bool,
    /// The service's address as users reach it, for links in notifications.
    pub public_url: String,
    /// A migration with no activity for this long is deleted by the sweep.
    pub expire_after: Duration,
    /// How often a process queues the sweep (one runs at a time across the cluster).
    pub sweep_every: Duration,
    /// The queue: leases, heartbeats, limits, retries.
    pub queue: QueueConfig,
    /// Attempts of a pass before it fails for good on transient errors.
    pub pass_attempts: u32,
    /// Connections a pass opens to each server.
    pub connections: u32,
    /// Where this machine keeps uploaded files (under `uploads/`).
    pub data_dir: std::path::PathBuf,
    /// The largest file accepted, in bytes.
    pub max_upload: u64,
    /// An upload not imported by then is deleted with its file.
    pub upload_expire_after: Duration,
    /// The OAuth 2.0 providers this service is registered with (its client ID and secret
    /// there): a token given for one of them is renewed during migrations. Tokens never go
    /// to an endpoint a user names.
    pub oauth_providers: Vec<passeur_oauth::Provider>,
    /// The ISPDB that `auto://` detection asks after the domain's own autoconfig files
    /// (default: Thunderbird's; `None`: not asked).
    pub ispdb: Option<String>,
    /// The provider presets (the built-in ones, with the operator's in front): `auto://`
    /// detection, the connection and daily limits, the folder roles, the pages' server types
    /// and the OAuth 2.0 sign-ins' labels. This service's own: another in the same process
    /// may have others.
    pub presets: passeur_net::discover::Presets,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            workers: 2,
            insecure_tls: false,
            allow_private_addresses: false,
            allow_plaintext: false,
            public_url: "http://127.0.0.1:8080".into(),
            expire_after: Duration::from_secs(60 * 86_400),
            sweep_every: Duration::from_secs(3600),
            queue: QueueConfig::default(),
            pass_attempts: 5,
            connections: 4,
            data_dir: std::env::temp_dir().join("passeur"),
            max_upload: 50 << 30,
            upload_expire_after: Duration::from_secs(86_400),
            oauth_providers: Vec::new(),
            ispdb: Some(passeur_net::discover::ISPDB.to_owned()),
            presets: passeur_net::discover::Presets::built_in(),
        }
    }
}

/// The two passwords of a migration, as sealed into the store (JSON of sealed strings), and
/// each side's OAuth 2.0 token when it logs in with one (a sealed token file JSON).
#[derive(Serialize, Deserialize)]
struct SealedPair {
    source: String,
    destination: String,
    /// The destination password typed again to confirm a purge, kept only until the purge job
    /// has used it (it may differ from the one the migration was created with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    purge: Option<String>,
    /// The fresh OAuth 2.0 token given to confirm a purge (a sealed token file JSON), kept
    /// like `purge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    purge_oauth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_oauth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    destination_oauth: Option<String>,
}

/// A purge job's payload.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PurgePayload {
    pub from_pass: u32,
}

/// What a purge job did (its row's `progress` once it ends), or has done so far while it runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PurgeResult {
    /// Items deleted from the destination.
    pub deleted: u64,
    /// Items left in place: changed on the destination since, or not found safely.
    pub skipped: u64,
    /// What the owner should know about the purge, one sentence each.
    pub notes: Vec<String>,
    /// Items the purge set out to delete (known once it started).
    #[serde(default)]
    pub total: u64,
}

/// The token of a source that renewed it during a run, to seal again.
async fn renewed_file(t: Option<&passeur_oauth::TokenSource>) -> Option<passeur_oauth::TokenFile> {
    let t = t.filter(|t| t.renewals() > 0)?;
    Some(passeur_oauth::TokenFile {
        token: t.current().await,
        provider: t.provider_name().map(str::to_owned),
        token_endpoint: None,
        client_id: None,
    })
}

/// A migration's credentials, opened.
pub(crate) struct Opened {
    pub secrets: Secrets,
    pub source_oauth: Option<passeur_oauth::TokenFile>,
    pub destination_oauth: Option<passeur_oauth::TokenFile>,
}

/// A notification job's payload.
#[derive(Serialize, Deserialize)]
struct NotifyPayload {
    to: String,
    lang: Lang,
    notification: Notification,
}

/// The progress a pass job reports (its row's `progress`), per content kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PassProgress {
    /// Mail: messages to consider this pass (source count over the mapped folders).
    pub total: u64,
    /// Mail: messages already on the destination before this pass started.
    pub known: u64,
    /// Items copied this pass.
    pub copied: u64,
    /// Bytes copied this pass.
    pub bytes: u64,
    /// Items that could not be copied this pass.
    pub failed: u64,
    /// Milliseconds since the pass started.
    pub elapsed_ms: u64,
}

/// What the routes and the workers act on.
pub struct Service {
    pub(crate) runner: Runner,
    pub(crate) vault: Vault,
    pub(crate) settings: Settings,
    notifier: Option<Notifier>,
    /// Jobs running in this process, so that a stop reaches them at once (others see it at
    /// their next heartbeat).
    local: Mutex<HashMap<MigrationId, CancellationToken>>,
    /// Tracking lookups per client address, as this process counts them between the times it
    /// adds them to the store's shared count.
    pub(crate) lookups: Mutex<HashMap<std::net::IpAddr, crate::routes::LookupCount>>,
    /// The runner the API reads views with, over the store's reading handle (made at the first
    /// read): lookups do not wait behind the workers' writes for a connection.
    viewer: tokio::sync::OnceCell<Runner>,
    /// Cancelled when the service shuts down.
    pub(crate) shutdown: CancellationToken,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Service {
    /// The service over `runner`'s store, sealing credentials with `vault`, sending notifications
    /// through `notifier` when there is one.
    pub fn new(
        runner: Runner,
        vault: Vault,
        settings: Settings,
        notifier: Option<Notifier>,
    ) -> Arc<Service> {
        Arc::new(Service {
            runner,
            vault,
            settings,
            notifier,
            local: Mutex::new(HashMap::new()),
            lookups: Mutex::new(HashMap::new()),
            viewer: tokio::sync::OnceCell::new(),
            shutdown: CancellationToken::new(),
        })
    }

    /// The store the service and its workers share.
    pub fn store(&self) -> &Store {
        self.runner.store()
    }

    /// The runner for the API's reads (see [`Store::reader`]); the main one if the reading
    /// handle cannot be made.
    pub(crate) async fn viewer(&self) -> &Runner {
        self.viewer
            .get_or_init(|| async {
                match self.store().reader().await {
                    Ok(s) => Runner::new(s),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot open a reading pool: reads share the writers'");
                        self.runner.clone()
                    }
                }
            })
            .await
    }

    /// The operator's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Stops the workers: running jobs stop at a safe point and go back to the queue.
    pub fn shut_down(&self) {
        self.shutdown.cancel();
    }

    /// Runs this process's workers until [`Service::shut_down`]; also queues the sweep now
    /// and then.
    pub async fn run_workers(self: &Arc<Self>) {
        let n = self.settings.workers;
        if n == 0 {
            return;
        }
        let sweeper = {
            let svc = Arc::clone(self);
            tokio::spawn(async move { svc.queue_sweeps().await })
        };
        Workers::run(
            self.store().clone(),
            Arc::clone(self),
            n,
            self.settings.queue.clone(),
            self.shutdown.clone(),
        )
        .await;
        sweeper.abort();
    }

    async fn queue_sweeps(&self) {
        loop {
            // Uploads live on this machine's disk: each machine sweeps its own.
            if let Err(e) = self.sweep_uploads().await {
                tracing::warn!(error = %e, "cannot delete expired uploads");
            }
            match self.store().has_pending_kind(SWEEP).await {
                Ok(false) => {
                    let job = NewJob {
                        kind: SWEEP.into(),
                        payload: "{}".into(),
                        max_attempts: 3,
                        ..Default::default()
                    };
                    if let Err(e) = self.store().enqueue_job(&job).await {
                        tracing::warn!(error = %e, "cannot queue the expiry sweep");
                    }
                }
                Ok(true) => {}
                Err(e) => tracing::warn!(error = %e, "cannot look for the expiry sweep"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.sweep_every) => {}
                _ = self.shutdown.cancelled() => return,
            }
        }
    }

    pub(crate) fn address_policy(&self) -> AddressPolicy {
        if self.settings.allow_private_addresses {
            AddressPolicy::permissive()
        } else {
            AddressPolicy::public_only()
        }
    }

    pub(crate) fn run_options(&self) -> RunOptions {
        RunOptions {
            source_insecure_tls: self.settings.insecure_tls,
            destination_insecure_tls: self.settings.insecure_tls,
            address_policy: self.address_policy(),
            allow_plaintext: self.settings.allow_plaintext,
            presets: self.settings.presets.clone(),
            ..Default::default()
        }
    }

    /// Seals and keeps a migration's two passwords.
    pub(crate) async fn keep_credentials(
        &self,
        id: MigrationId,
        source: &str,
        destination: &str,
    ) -> Result<(), passeur_store::StoreError> {
        let ctx = id.to_string();
        let pair = SealedPair {
            source: self.vault.seal(&ctx, source),
            destination: self.vault.seal(&ctx, destination),
            purge: None,
            purge_oauth: None,
            source_oauth: None,
            destination_oauth: None,
        };
        let json = serde_json::to_string(&pair).unwrap_or_default();
        self.store().put_credentials(id, &json).await
    }

    /// Seals new passwords for the source and/or the destination of `id` in place of the kept
    /// ones (a migration whose credentials are no longer kept needs each side's that has one:
    /// `has_source_password` is false for a file import).
    pub(crate) async fn replace_passwords(
        &self,
        id: MigrationId,
        source: Option<&str>,
        destination: Option<&str>,
        has_source_password: bool,
    ) -> Result<(), String> {
        let ctx = id.to_string();
        let mut pair = match self.sealed_pair(id).await? {
            Some(p) if !(p.source.is_empty() && p.destination.is_empty()) => p,
            // No pair, or only a purge's password kept: every password is needed.
            kept => match (source, destination) {
                (s, Some(_)) if s.is_some() || !has_source_password => SealedPair {
                    source: String::new(),
                    destination: String::new(),
                    purge: kept.as_ref().and_then(|p| p.purge.clone()),
                    purge_oauth: kept.as_ref().and_then(|p| p.purge_oauth.clone()),
                    source_oauth: None,
                    destination_oauth: None,
                },
                _ => {
                    return Err(
                        "this migration's credentials are no longer kept: give every password"
                            .into(),
                    );
                }
            },
        };
        if let Some(p) = source {
            pair.source = self.vault.seal(&ctx, p);
        }
        if let Some(p) = destination {
            pair.destination = self.vault.seal(&ctx, p);
        }
        let json = serde_json::to_string(&pair).unwrap_or_default();
        self.store()
            .put_credentials(id, &json)
            .await
            .map_err(|e| e.to_string())
    }

    /// Seals and keeps each side's OAuth 2.0 token (`None` leaves that side as it is), next to
    /// the passwords kept by [`Service::keep_credentials`].
    pub(crate) async fn keep_oauth(
        &self,
        id: MigrationId,
        source: Option<&passeur_oauth::TokenFile>,
        destination: Option<&passeur_oauth::TokenFile>,
    ) -> Result<(), passeur_store::StoreError> {
        let Ok(Some(mut pair)) = self.sealed_pair(id).await else {
            return Ok(());
        };
        let ctx = id.to_string();
        if let Some(t) = source {
            pair.source_oauth = Some(self.vault.seal(&ctx, t.to_json().expose()));
        }
        if let Some(t) = destination {
            pair.destination_oauth = Some(self.vault.seal(&ctx, t.to_json().expose()));
        }
        let json = serde_json::to_string(&pair).unwrap_or_default();
        self.store().put_credentials(id, &json).await
    }

    /// The token source of a side's sealed token: renewed through the configured provider it
    /// names, if any.
    pub(crate) fn token_source(
        &self,
        f: passeur_oauth::TokenFile,
    ) -> Arc<passeur_oauth::TokenSource> {
        let provider = f.provider.as_deref().and_then(|name| {
            self.settings
                .oauth_providers
                .iter()
                .find(|p| p.name == name)
                .cloned()
        });
        Arc::new(passeur_oauth::TokenSource::new(f.token, provider))
    }

    /// The sealed pair of `id`, if its credentials are kept.
    /// Whether each side (source, destination) of `id` logs in with an OAuth 2.0 token kept
    /// beside its credentials.
    pub(crate) async fn logs_in_with_oauth(&self, id: MigrationId) -> (bool, bool) {
        match self.sealed_pair(id).await {
            Ok(Some(p)) => (p.source_oauth.is_some(), p.destination_oauth.is_some()),
            _ => (false, false),
        }
    }

    async fn sealed_pair(&self, id: MigrationId) -> Result<Option<SealedPair>, String> {
        match self.store().credentials(id).await {
            Ok(Some(json)) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|_| "the sealed credentials are damaged".to_string()),
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Seals the destination password typed to confirm a purge of `id` beside its credentials
    /// (`None`: takes it away again). A migration whose credentials are no longer kept gets a
    /// pair holding only this password.
    async fn keep_purge_password(
        &self,
        id: MigrationId,
        password: Option<&str>,
        token: Option<&passeur_oauth::TokenFile>,
    ) -> Result<(), String> {
        let ctx = id.to_string();
        let mut pair = match self.sealed_pair(id).await? {
            Some(p) => p,
            None if password.is_none() => return Ok(()),
            None => SealedPair {
                source: String::new(),
                destination: String::new(),
                purge: None,
                purge_oauth: None,
                source_oauth: None,
                destination_oauth: None,
            },
        };
        pair.purge = password.map(|p| self.vault.seal(&ctx, p));
        pair.purge_oauth = token.map(|t| self.vault.seal(&ctx, t.to_json().expose()));
        let json = serde_json::to_string(&pair).unwrap_or_default();
        self.store()
            .put_credentials(id, &json)
            .await
            .map_err(|e| e.to_string())
    }

    /// Queues the deletion of what `id` copied from pass `from_pass` on, with the destination
    /// password the user typed again (sealed until the job has used it).
    pub(crate) async fn queue_purge(
        &self,
        id: MigrationId,
        from_pass: u32,
        destination_password: &str,
        token: Option<&passeur_oauth::TokenFile>,
    ) -> Result<i64, crate::ApiError> {
        self.keep_purge_password(id, Some(destination_password), token)
            .await
            .map_err(crate::ApiError::Internal)?;
        let row = self.store().migration(id).await?;
        // Only the destination is reached.
        let hosts = Endpoint::of_recorded(&row.destination)
            .map(|e| vec![e.host.to_ascii_lowercase()])
            .unwrap_or_default();
        let job = NewJob {
            kind: PURGE.into(),
            migration: Some(id),
            payload: serde_json::to_string(&PurgePayload { from_pass }).unwrap_or_default(),
            max_attempts: 3,
            connections: 1,
            hosts,
            ..Default::default()
        };
        Ok(self.store().enqueue_job(&job).await?)
    }

    async fn run_purge_job(
        &self,
        job: &Job,
        progress: Progress,
        cancel: CancellationToken,
    ) -> Outcome {
        let Some(id) = job.migration else {
            return Outcome::Failed("a purge job without a migration".into());
        };
        let p: PurgePayload = match serde_json::from_str(&job.payload) {
            Ok(p) => p,
            Err(e) => return Outcome::Failed(format!("a purge job is damaged: {e}")),
        };
        let mut opts = self.run_options();
        let password = match self.sealed_pair(id).await {
            Ok(Some(SealedPair {
                purge: Some(sealed),
                purge_oauth,
                ..
            })) => {
                if let Some(t) = purge_oauth {
                    let file = self
                        .vault
                        .open(&id.to_string(), &t)
                        .map_err(|e| e.to_string())
                        .and_then(|j| passeur_oauth::TokenFile::parse(&j));
                    match file {
                        Ok(f) => opts.destination_oauth = Some(self.token_source(f)),
                        Err(e) => return Outcome::Failed(e),
                    }
                }
                match self.vault.open(&id.to_string(), &sealed) {
                    Ok(pw) => pw,
                    Err(e) => return Outcome::Failed(e.to_string()),
                }
            }
            Ok(_) => {
                return Outcome::Failed(
                    "the destination password for this deletion is no longer kept: ask again"
                        .into(),
                );
            }
            Err(e) => return Outcome::Retry(e),
        };
        let (events, rx) = passeur_engine::events::channel();
        let reporter = tokio::spawn(report_purge_progress(rx, progress.clone()));
        let result = self
            .runner
            .purge(
                id,
                p.from_pass,
                false,
                password,
                &opts,
                Control { events, cancel },
            )
            .await;
        let total = reporter.await.unwrap_or_default();
        let outcome = match result {
            Ok(r) => {
                let done = PurgeResult {
                    deleted: r.deleted(),
                    skipped: r.skipped(),
                    notes: r.notes(),
                    total,
                };
                progress
                    .report(&serde_json::to_string(&done).unwrap_or_default())
                    .await;
                if r.stopped() {
                    Outcome::Stopped
                } else {
                    Outcome::Completed
                }
            }
            Err(e) if e.is_retryable() && job.attempts < job.max_attempts => {
                return Outcome::Retry(e.to_string());
            }
            Err(e) => Outcome::Failed(e.to_string()),
        };
        // Used (or failed for good): the typed password is not kept any longer.
        if let Err(e) = self.keep_purge_password(id, None, None).await {
            tracing::warn!(migration = %id, error = %e, "cannot drop a purge's password");
        }
        outcome
    }

    /// A migration's passwords, opened; `None` when they are no longer kept.
    async fn secrets(&self, id: MigrationId) -> Result<Option<Opened>, String> {
        let Some(pair) = self.sealed_pair(id).await? else {
            return Ok(None);
        };
        let ctx = id.to_string();
        let open = |v: &str| self.vault.open(&ctx, v).map_err(|e| e.to_string());
        let token = |v: &Option<String>| -> Result<Option<passeur_oauth::TokenFile>, String> {
            match v {
                None => Ok(None),
                Some(v) => {
                    let json = open(v)?;
                    passeur_oauth::TokenFile::parse(&json)
                        .map(Some)
                        .map_err(|_| "the sealed credentials are damaged".to_string())
                }
            }
        };
        Ok(Some(Opened {
            secrets: Secrets {
                source: Some(open(&pair.source)?),
                destination: Some(open(&pair.destination)?),
            },
            source_oauth: token(&pair.source_oauth)?,
            destination_oauth: token(&pair.destination_oauth)?,
        }))
    }

    /// The providers the source and the destination of `id` log in with, where a side has a
    /// token kept (their names only: the tokens stay sealed).
    pub(crate) async fn providers(&self, id: MigrationId) -> (Option<String>, Option<String>) {
        let Ok(Some(pair)) = self.sealed_pair(id).await else {
            return (None, None);
        };
        let provider = |sealed: &Option<String>| {
            let json =
                zeroize::Zeroizing::new(self.vault.open(&id.to_string(), sealed.as_ref()?).ok()?);
            passeur_oauth::TokenFile::parse(&json).ok()?.provider
        };
        (
            provider(&pair.source_oauth),
            provider(&pair.destination_oauth),
        )
    }

    /// The hosts a migration connects to, for the per-host limits.
    fn hosts_of(&self, row: &passeur_store::MigrationRow) -> Vec<String> {
        [&row.source, &row.destination]
            .iter()
            .filter_map(|u| Endpoint::of_recorded(u))
            .map(|e| e.host.to_ascii_lowercase())
            .collect()
    }

    /// Queues a pass of `id`, at `start_at_ms` at the earliest.
    pub(crate) async fn queue_pass(
        &self,
        id: MigrationId,
        start_at_ms: Option<i64>,
    ) -> Result<i64, passeur_store::StoreError> {
        let row = self.store().migration(id).await?;
        let meta = self.store().service_meta(id).await?;
        // A project's migrations honour its options: simultaneous migrations across the
        // cluster, connections per migration.
        let (project, connections) = match meta.project {
            Some(p) => {
                let opts = match self.store().project(&p).await? {
                    Some(pr) => crate::projects::ProjectOptions::from_json(&pr.options),
                    None => crate::projects::ProjectOptions::default(),
                };
                (Some((p, opts.simultaneous)), opts.connections)
            }
            None => (None, self.settings.connections),
        };
        // Within the providers' documented limits (their presets).
        let hosts = self.hosts_of(&row);
        let connections = crate::routes::capped_connections(
            &self.settings.presets,
            connections as usize,
            hosts.iter().map(String::as_str),
        ) as u32;
        let job = NewJob {
            kind: PASS.into(),
            migration: Some(id),
            payload: "{}".into(),
            run_at_ms: start_at_ms,
            max_attempts: self.settings.pass_attempts,
            connections,
            hosts,
            project,
            // A file import reads a file on the disk of the machine that received it (an
            // upload kept in the store can be read by any).
            only_node: self
                .store()
                .uploads_of(id)
                .await?
                .into_iter()
                .find(|u| !u.held_in_store())
                .map(|u| u.node),
        };
        // Queued while its project is paused: held until it resumes (the store sees to it).
        self.store().enqueue_job(&job).await
    }

    /// Queues a notification to `to` that concerns no migration (a project's).
    pub(crate) async fn queue_mail(&self, to: &str, lang: Lang, n: Notification) {
        let payload = NotifyPayload {
            to: to.to_string(),
            lang,
            notification: n,
        };
        let job = NewJob {
            kind: NOTIFY.into(),
            payload: serde_json::to_string(&payload).unwrap_or_default(),
            max_attempts: 8,
            ..Default::default()
        };
        if let Err(e) = self.store().enqueue_job(&job).await {
            tracing::warn!(error = %e, "cannot queue a notification");
        }
    }

    /// Queues a notification to `id`'s notification address, if it has one.
    pub(crate) async fn queue_notification(&self, id: MigrationId, n: Notification) {
        let meta = match self.store().service_meta(id).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(migration = %id, error = %e, "cannot read the notification address");
                return;
            }
        };
        let Some(to) = meta.notify else { return };
        let payload = NotifyPayload {
            to,
            lang: meta.lang.parse().unwrap_or_default(),
            notification: n,
        };
        let job = NewJob {
            kind: NOTIFY.into(),
            migration: Some(id),
            payload: serde_json::to_string(&payload).unwrap_or_default(),
            max_attempts: 8,
            ..Default::default()
        };
        if let Err(e) = self.store().enqueue_job(&job).await {
            tracing::warn!(migration = %id, error = %e, "cannot queue a notification");
        }
    }

    /// The link to a migration's tracking page.
    pub(crate) fn tracking_url(&self, id: MigrationId) -> String {
        format!(
            "{}/track/{id}",
            self.settings.public_url.trim_end_matches('/')
        )
    }

    /// Stops migration `id`: its running pass at the next safe point, a waiting one at once
    /// (then marked stopped). What is copied stays.
    pub(crate) async fn stop_migration(
        &self,
        id: MigrationId,
    ) -> Result<(), passeur_store::StoreError> {
        self.stop(id).await?;
        if self.store().migration(id).await?.status == passeur_types::Status::Queued {
            self.store()
                .set_status(id, passeur_types::Status::Stopped, None)
                .await?;
        }
        Ok(())
    }

    /// Queues a new pass of `id` (only what is new is copied), unless a pass or a deletion of
    /// it waits or runs, or its credentials are no longer kept.
    pub(crate) async fn start_sync(&self, id: MigrationId) -> Result<(), crate::ApiError> {
        use crate::ApiError::Conflict;
        if self.store().service_meta(id).await?.awaits_sign_in() {
            return Err(Conflict(
                "this migration waits for a sign-in: open its tracking page and sign in".into(),
            ));
        }
        if self.store().has_active_job(id, &[PASS]).await? {
            return Err(Conflict(
                "a pass of this migration is waiting or running".into(),
            ));
        }
        if self.store().has_active_job(id, &[PURGE]).await? {
            return Err(Conflict(
                "a deletion of this migration's items is waiting or running".into(),
            ));
        }
        if self.store().credentials(id).await?.is_none() {
            return Err(Conflict(
                "this migration's credentials are no longer kept".into(),
            ));
        }
        self.store()
            .set_status(id, passeur_types::Status::Queued, None)
            .await?;
        self.queue_pass(id, None).await?;
        Ok(())
    }

    /// Stops `id`'s jobs: at once if they run here, else at their next heartbeat.
    pub(crate) async fn stop(&self, id: MigrationId) -> Result<(), passeur_store::StoreError> {
        self.store().stop_jobs(id).await?;
        if let Some(c) = lock(&self.local).get(&id) {
            c.cancel();
        }
        Ok(())
    }

    async fn run_pass_job(
        &self,
        job: &Job,
        progress: Progress,
        cancel: CancellationToken,
    ) -> Outcome {
        let Some(id) = job.migration else {
            return Outcome::Failed("a pass job without a migration".into());
        };
        let secrets = match self.secrets(id).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                let msg = "this migration's credentials are no longer kept".to_string();
                let _ = self
                    .store()
                    .set_status_coded(
                        id,
                        passeur_types::Status::Failed,
                        Some(&msg),
                        Some("credentials"),
                    )
                    .await;
                return Outcome::Failed(msg);
            }
            Err(e) => return Outcome::Retry(e),
        };
        let fetched = match self.fetch_stored_upload(id).await {
            Ok(p) => p,
            Err(e) => return Outcome::Retry(e),
        };
        lock(&self.local).insert(id, cancel.clone());
        let (events, rx) = passeur_engine::events::channel();
        let reporter = tokio::spawn(report_progress(rx, progress));
        let control = Control {
            events,
            cancel: cancel.clone(),
        };
        let Opened {
            secrets,
            source_oauth,
            destination_oauth,
        } = secrets;
        let mut opts = self.run_options();
        opts.source_oauth = source_oauth.map(|f| self.token_source(f));
        opts.destination_oauth = destination_oauth.map(|f| self.token_source(f));
        let result = self.runner.run_pass(id, &secrets, &opts, control).await;
        drop(secrets);
        // Renewed tokens (and their rotated refresh tokens) are sealed again for the next pass.
        let (sf, df) = (
            renewed_file(opts.source_oauth.as_deref()).await,
            renewed_file(opts.destination_oauth.as_deref()).await,
        );
        if (sf.is_some() || df.is_some())
            && let Err(e) = self.keep_oauth(id, sf.as_ref(), df.as_ref()).await
        {
            tracing::warn!(error = %e, "cannot keep the renewed OAuth 2.0 tokens");
        }
        lock(&self.local).remove(&id);
        let _ = reporter.await;
        if let Some(p) = fetched {
            crate::uploads::remove_file(&p).await;
        }
        match result {
            Ok(o) if o.outcome == passeur_engine::Outcome::Stopped => {
                // Stopped at a provider's daily limit: the next pass waits for the reset.
                if let Some(at) = o.resume_at
                    && let Err(e) = self.queue_pass(id, Some(at.saturating_mul(1000))).await
                {
                    tracing::warn!(migration = %id, error = %e, "cannot queue the pass after the daily limit");
                }
                Outcome::Stopped
            }
            Ok(o) => {
                let counts = self.counts(id, &o).await;
                let failures = self
                    .store()
                    .failures(id, Some(o.pass))
                    .await
                    .unwrap_or_default()
                    .iter()
                    .map(|f| format!("{}: {} — {}", f.folder, f.src_key, f.reason))
                    .collect::<Vec<_>>();
                // No upload's path on the server in what its owner reads.
                let names = crate::uploads::UploadNames::of(self, id).await;
                let failures = failures.iter().map(|f| names.hide(f)).collect();
                self.queue_notification(
                    id,
                    Notification::Completed {
                        migration_id: id.to_string(),
                        tracking_url: self.tracking_url(id),
                        counts,
                        failures,
                    },
                )
                .await;
                Outcome::Completed
            }
            Err(e) if cancel.is_cancelled() && e.is_retryable() => Outcome::Stopped,
            // A passing failure is tried again while attempts are left; on the last one it
            // fails for good here, so that its owner is told (the queue would fail it
            // silently).
            Err(e)
                if (e.is_retryable() || matches!(e, EngineError::Store(_)))
                    && job.attempts < job.max_attempts =>
            {
                Outcome::Retry(e.to_string())
            }
            Err(e) => {
                let side = match e.side() {
                    Some(passeur_engine::Side::Source) => NotifySide::Source,
                    Some(passeur_engine::Side::Destination) => NotifySide::Destination,
                    None => NotifySide::None,
                };
                // "The source server reported: …" already names the side.
                let said = e.to_string();
                let reason = match side {
                    NotifySide::Source => said.strip_prefix("source: "),
                    NotifySide::Destination => said.strip_prefix("destination: "),
                    _ => None,
                }
                .unwrap_or(&said);
                // Where an uploaded file lies on the server is none of its owner's business.
                let reason = crate::uploads::UploadNames::of(self, id).await.hide(reason);
                self.queue_notification(
                    id,
                    Notification::Failed {
                        migration_id: id.to_string(),
                        tracking_url: self.tracking_url(id),
                        reason,
                        side,
                    },
                )
                .await;
                Outcome::Failed(e.to_string())
            }
        }
    }

    /// Copied and failed counts of pass `o` per content kind of the migration.
    async fn counts(&self, id: MigrationId, o: &passeur_engine::PassOutcome) -> Vec<KindCounts> {
        let kinds = match self.runner.load(id).await {
            Ok((_, spec)) => spec.content(),
            Err(_) => vec![ContentKind::Mail],
        };
        kinds
            .into_iter()
            .map(|kind| {
                let (copied, failed) = match kind {
                    ContentKind::Mail => o
                        .mail
                        .as_ref()
                        .map(|m| {
                            (
                                m.folders.iter().map(|f| f.copied).sum(),
                                m.folders.iter().map(|f| f.failed).sum(),
                            )
                        })
                        .unwrap_or((0, 0)),
                    // Each kind its own collections' counts (the pass's counters sum them all).
                    _ => o
                        .dav
                        .as_ref()
                        .map(|d| {
                            let of_kind = || d.collections.iter().filter(|c| c.kind == Some(kind));
                            (
                                of_kind().map(|c| c.copied).sum(),
                                of_kind().map(|c| c.failed).sum(),
                            )
                        })
                        .unwrap_or((0, 0)),
                };
                KindCounts {
                    kind,
                    copied,
                    failed,
                }
            })
            .collect()
    }

    async fn run_notify_job(&self, job: &Job) -> Outcome {
        let p: NotifyPayload = match serde_json::from_str(&job.payload) {
            Ok(p) => p,
            Err(e) => return Outcome::Failed(format!("a notification job is damaged: {e}")),
        };
        let Some(n) = &self.notifier else {
            tracing::info!(
                kind = p.notification.kind(),
                "no SMTP server configured: notification not sent"
            );
            return Outcome::Completed;
        };
        match n.send(&p.to, p.lang, &p.notification).await {
            Ok(()) => Outcome::Completed,
            Err(e) if e.is_retryable() => Outcome::Retry(e.to_string()),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// Deletes a migration and everything of it, its uploaded files too (those on another
    /// machine's disk by a job bound to that machine).
    pub(crate) async fn forget_migration(
        &self,
        id: MigrationId,
    ) -> Result<bool, passeur_store::StoreError> {
        let here = passeur_jobs::this_node();
        for u in self.store().uploads_of(id).await? {
            if u.held_in_store() {
                // Its chunks go with its row; a copy a pass made here goes now, one elsewhere
                // at the end of that pass or at that machine's next sweep.
                crate::uploads::remove_file(&self.fetched_path(&u.id)).await;
            } else if u.node == here {
                crate::uploads::remove_file(std::path::Path::new(&u.path)).await;
            } else {
                let job = NewJob {
                    kind: FORGET_FILE.into(),
                    payload: serde_json::to_string(&u.path).unwrap_or_default(),
                    max_attempts: 5,
                    only_node: Some(u.node.clone()),
                    ..Default::default()
                };
                self.store().enqueue_job(&job).await?;
            }
        }
        self.store().delete_migration(id).await
    }

    /// Deletes the expired uploads held by this machine, with their files.
    pub(crate) async fn sweep_uploads(&self) -> Result<(), passeur_store::StoreError> {
        let now = self.store().clock_ms().await?;
        let expired = self
            .store()
            .expired_uploads(&passeur_jobs::this_node(), now)
            .await?;
        for u in &expired {
            if self.store().delete_upload(&u.id).await? && !u.held_in_store() {
                crate::uploads::remove_file(std::path::Path::new(&u.path)).await;
            }
        }
        if !expired.is_empty() {
            tracing::info!(deleted = expired.len(), "expired uploads deleted");
        }
        // Copies of stored uploads whose upload is gone (a pass that died, a migration
        // forgotten elsewhere).
        if let Ok(mut dir) = tokio::fs::read_dir(self.fetched_dir()).await {
            while let Ok(Some(e)) = dir.next_entry().await {
                let name = e.file_name().to_string_lossy().into_owned();
                let id = name.trim_end_matches(".part");
                if self.store().upload(id).await?.is_none() {
                    crate::uploads::remove_file(&e.path()).await;
                }
            }
        }
        Ok(())
    }

    /// Where passes on this machine copy stored uploads to import them.
    fn fetched_dir(&self) -> std::path::PathBuf {
        self.settings.data_dir.join("uploads").join("fetched")
    }

    fn fetched_path(&self, upload: &str) -> std::path::PathBuf {
        self.fetched_dir().join(upload)
    }

    /// For a file import of an upload kept in the store: copies its chunks, in order, to a
    /// file of this machine and points the migration's spec at it. The copy, or `None` when
    /// the migration imports no stored upload.
    async fn fetch_stored_upload(
        &self,
        id: MigrationId,
    ) -> Result<Option<std::path::PathBuf>, String> {
        use tokio::io::AsyncWriteExt as _;
        let uploads = self
            .store()
            .uploads_of(id)
            .await
            .map_err(|e| e.to_string())?;
        let Some(u) = uploads.into_iter().find(|u| u.held_in_store()) else {
            return Ok(None);
        };
        let path = self.fetched_path(&u.id);
        let part = path.with_extension("part");
        let io = |e: std::io::Error| format!("cannot copy the uploaded file here: {e}");
        tokio::fs::create_dir_all(self.fetched_dir())
            .await
            .map_err(io)?;
        let mut f = tokio::fs::File::create(&part).await.map_err(io)?;
        let mut at = 0u64;
        while at < u.length {
            let chunks = self
                .store()
                .upload_chunks(&u.id, at, 8)
                .await
                .map_err(|e| e.to_string())?;
            if chunks.is_empty() {
                break;
            }
            for (start, data) in chunks {
                if start != at {
                    return Err(format!(
                        "the stored upload {} lacks bytes {at}–{start}",
                        u.id
                    ));
                }
                f.write_all(&data).await.map_err(io)?;
                at += data.len() as u64;
            }
        }
        if at != u.length {
            return Err(format!(
                "the stored upload {} holds {at} of its {} bytes",
                u.id, u.length
            ));
        }
        f.flush().await.map_err(io)?;
        drop(f);
        tokio::fs::rename(&part, &path).await.map_err(io)?;
        // The spec names the file a pass reads: this machine's copy, for this pass.
        let (_, mut spec) = self.runner.load(id).await.map_err(|e| e.to_string())?;
        if let passeur_engine::MigrationSpec::Import(i) = &mut spec {
            i.import.file = path.display().to_string();
        }
        self.store()
            .set_options(id, &spec.to_json())
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some(path))
    }

    /// Tells the contact of each project that the sweep will delete within a week (idle, and
    /// every migration of it idle too), once per idle spell. `cutoff` is the sweep's own (Unix
    /// seconds): what was last active before it goes now.
    async fn warn_expiring_projects(&self, cutoff: i64) -> Result<(), passeur_store::StoreError> {
        let lead = WARN_BEFORE_EXPIRY.min(self.settings.expire_after).as_secs() as i64;
        let soon = cutoff + lead;
        let candidates = self.store().projects_to_warn(soon * 1000).await?;
        if candidates.is_empty() {
            return Ok(());
        }
        let idle: std::collections::HashSet<MigrationId> = self
            .store()
            .inactive_migrations(soon)
            .await?
            .into_iter()
            .collect();
        for (id, to, lang) in candidates {
            let migrations = self.store().project_migrations(&id).await?;
            if !migrations.iter().all(|m| idle.contains(m)) {
                continue;
            }
            self.queue_mail(
                &to,
                lang.parse().unwrap_or_default(),
                Notification::ProjectExpiring {
                    project_id: id.clone(),
                    days: (lead as u64).div_ceil(86_400).max(1) as u32,
                    url: crate::projects::project_url(self, &id),
                },
            )
            .await;
            self.store().mark_project_warned(&id).await?;
            tracing::info!(project = %id, "project expiry announced");
        }
        Ok(())
    }

    async fn run_sweep(&self) -> Outcome {
        if let Err(e) = self.sweep_uploads().await {
            return Outcome::Retry(e.to_string());
        }
        let now = self.store().clock_ms().await.unwrap_or_default() / 1000;
        let cutoff = now - self.settings.expire_after.as_secs() as i64;
        let ids = match self.store().inactive_migrations(cutoff).await {
            Ok(ids) => ids,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        for id in &ids {
            if let Err(e) = self.forget_migration(*id).await {
                return Outcome::Retry(e.to_string());
            }
        }
        if !ids.is_empty() {
            tracing::info!(deleted = ids.len(), "expired migrations deleted");
        }
        if let Err(e) = self.store().throttle_sweep((now - 86_400) * 1000).await {
            return Outcome::Retry(e.to_string());
        }
        if let Err(e) = self.warn_expiring_projects(cutoff).await {
            return Outcome::Retry(e.to_string());
        }
        // Projects go once idle as long and left without migrations.
        match self.store().delete_inactive_projects(cutoff * 1000).await {
            Ok(p) if !p.is_empty() => tracing::info!(deleted = p.len(), "expired projects deleted"),
            Ok(_) => {}
            Err(e) => return Outcome::Retry(e.to_string()),
        }
        Outcome::Completed
    }
}

impl Handler for Service {
    async fn run(&self, job: Job, progress: Progress, cancel: CancellationToken) -> Outcome {
        match job.kind.as_str() {
            PASS => self.run_pass_job(&job, progress, cancel).await,
            NOTIFY => self.run_notify_job(&job).await,
            PURGE => self.run_purge_job(&job, progress, cancel).await,
            SWEEP => self.run_sweep().await,
            FORGET_FILE => match serde_json::from_str::<String>(&job.payload) {
                Ok(path) => {
                    crate::uploads::remove_file(std::path::Path::new(&path)).await;
                    Outcome::Completed
                }
                Err(e) => Outcome::Failed(format!("a file deletion job is damaged: {e}")),
            },
            other => Outcome::Failed(format!("unknown job kind {other:?}")),
        }
    }
}

/// Writes a purge's items deleted so far to the job row at most once a second; returns the
/// number of items it set out to delete.
async fn report_purge_progress(mut rx: EventStream, progress: Progress) -> u64 {
    let mut p = PurgeResult::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = false;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(Event::Purging { items }) => {
                    p.total += items;
                    dirty = true;
                }
                Some(Event::Purged { items, .. }) => {
                    p.deleted += items;
                    dirty = true;
                }
                Some(_) => {}
                None => return p.total,
            },
            _ = tick.tick(), if dirty => {
                progress.report(&serde_json::to_string(&p).unwrap_or_default()).await;
                dirty = false;
            }
        }
    }
}

/// Folds a pass's events into [`PassProgress`] and writes it to the job row at most once a
/// second (and once at the end).
async fn report_progress(mut rx: EventStream, progress: Progress) {
    let start = Instant::now();
    let mut p = PassProgress::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = true;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(Event::Planned { messages, known, .. }) => {
                    p.total = messages;
                    p.known = known;
                    dirty = true;
                }
                Some(Event::Copied { messages, bytes, .. }) => {
                    p.copied += messages;
                    p.bytes += bytes;
                    dirty = true;
                }
                Some(Event::ItemFailed { .. } | Event::EntryFailed { .. }) => {
                    p.failed += 1;
                    dirty = true;
                }
                Some(_) => {}
                None => {
                    p.elapsed_ms = start.elapsed().as_millis() as u64;
                    progress.report(&serde_json::to_string(&p).unwrap_or_default()).await;
                    return;
                }
            },
            _ = tick.tick(), if dirty => {
                p.elapsed_ms = start.elapsed().as_millis() as u64;
                progress.report(&serde_json::to_string(&p).unwrap_or_default()).await;
                dirty = false;
            }
        }
    }
}
