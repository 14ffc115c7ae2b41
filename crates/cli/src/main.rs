//! `passeur`: the one binary. This file holds the command line; the work is done by
//! `passeur-engine` over `passeur-store`.

// The doc comments of this crate are clap's help texts (`[LOGIN@]HOST[:PORT]`), not rustdoc.
#![allow(rustdoc::broken_intra_doc_links)]

mod config;
mod dav_args;
mod detect;
mod import;
mod oauth;
mod progress;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use dav_args::DavArgs;
use passeur_engine::{
    AccountSpec, Control, EventSink, FolderRules, Limits, MailOptions, MigrationSpec, Outcome,
    PassOutcome, PassReport, RunOptions, Runner, Secrets,
};
use passeur_store::Store;
use passeur_types::{Endpoint, MigrationId, Protocol};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "passeur",
    version,
    about = "Move mailboxes from one account to another, exactly once."
)]
struct Cli {
    /// Directory of the embedded store (default: the platform's data directory).
    #[arg(long, global = true, env = "PASSEUR_STATE", visible_alias = "data")]
    state: Option<PathBuf>,
    /// Keep the state in this database instead of the embedded one: postgres://USER@HOST/DB
    /// (shared by several machines), or sqlite://PATH.
    #[arg(long, global = true, env = "PASSEUR_DATABASE")]
    database: Option<String>,
    /// When another process runs the same migration, wait up to this many seconds for it to
    /// end instead of giving up at once.
    #[arg(long, global = true, value_name = "SECONDS")]
    wait: Option<u64>,
    /// Allow sending passwords in clear text (`imap://` without STARTTLS, `http://` DAV) to
    /// hosts other than loopback.
    #[arg(long, global = true, env = "PASSEUR_ALLOW_PLAINTEXT")]
    allow_plaintext: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Copy every folder and message from one account to another. Running it again continues
    /// the same migration and copies only what is new.
    Migrate(Box<MigrateArgs>),
    /// A new pass of an existing migration: copy what appeared since the last pass and bring
    /// flag changes over.
    Sync(SyncArgs),
    /// Passes, counts, bytes and errors of a migration.
    Status(StatusArgs),
    /// Delete from the destination exactly the messages this migration copied (all, or from a pass on).
    Purge(PurgeArgs),
    /// Compare source and destination folder by folder: counts, bytes, flags, keywords, dates.
    Verify(VerifyArgs),
    /// Import a PST/OST (mail to IMAP, contacts/calendars/tasks to DAV) or an .ics/.vcf file
    /// (to a DAV collection). Importing the same file again copies nothing twice.
    Import(import::ImportArgs),
    /// Run the service: the JSON API and in-process workers, on the embedded store (or on
    /// the PostgreSQL database of --database, shared with other `serve` and `worker` processes).
    Serve(ServeArgs),
    /// Run workers only, on the database of --database shared with `passeur serve`.
    Worker(WorkerArgs),
    /// Find the mail servers of an e-mail address (provider presets, DNS SRV records,
    /// autoconfig files, MX records) and print them with where they were found.
    Detect(detect::DetectArgs),
    /// OAuth 2.0: sign in to a provider (Gmail, Microsoft 365, any RFC 8628 issuer) and keep
    /// the tokens in a file for --from-token-file / --to-token-file.
    #[command(name = "oauth")]
    OAuth(oauth::OAuthArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "PASSEUR_LISTEN")]
    listen: String,
    /// The largest file accepted by the upload endpoint (tus), in GiB.
    #[arg(long, default_value_t = 50, env = "PASSEUR_MAX_UPLOAD_GIB")]
    max_upload_gib: u64,
    #[command(flatten)]
    work: WorkArgs,
}

#[derive(Args)]
struct WorkerArgs {
    #[command(flatten)]
    work: WorkArgs,
}

/// What `serve` and `worker` share.
#[derive(Args, Clone)]
struct WorkArgs {
    /// Read settings from this TOML file (keys as the options, `_` for `-`; see
    /// contrib/passeur.toml). The command line and the environment take precedence.
    #[arg(long, env = "PASSEUR_CONFIG")]
    config: Option<PathBuf>,
    /// The address users reach the service at, for links in notifications (default: the
    /// listening address of `serve`).
    #[arg(long, env = "PASSEUR_PUBLIC_URL")]
    public_url: Option<String>,
    /// Jobs run at once by this process (0: HTTP only).
    #[arg(long, default_value_t = 2, env = "PASSEUR_WORKERS")]
    workers: usize,
    /// The 32-byte key that seals credentials (default: `secret.key` in the state directory,
    /// created with mode 0600 at first start). Every process of a cluster needs the same key.
    #[arg(long, env = "PASSEUR_SECRET_KEY_FILE")]
    secret_key_file: Option<PathBuf>,
    /// Send notifications through this SMTP server: smtp://[USER@]HOST[:PORT] (STARTTLS
    /// required), smtps://... (TLS from the start), smtp+plain://... (loopback only). The
    /// password comes from PASSEUR_SMTP_PASSWORD.
    #[arg(long, env = "PASSEUR_SMTP_URL")]
    smtp_url: Option<String>,
    /// The sender of notifications.
    #[arg(
        long,
        env = "PASSEUR_SMTP_FROM",
        default_value = "passeur <noreply@localhost>"
    )]
    smtp_from: String,
    /// Let user servers resolve to loopback, private and link-local addresses (refused by
    /// default: a stranger's URL must not reach the service's own network).
    #[arg(long, env = "PASSEUR_ALLOW_PRIVATE_ADDRESSES")]
    allow_private_addresses: bool,
    /// The ISPDB that `auto://` detection asks after a domain's own autoconfig files (a
    /// mirror's base URL, the domain appended), or `off` (default: Thunderbird's).
    #[arg(long, env = "PASSEUR_ISPDB", value_name = "URL|off")]
    ispdb: Option<String>,
    /// Delete a migration (credentials, item map, history) after this many days without activity.
    #[arg(long, default_value_t = 60, env = "PASSEUR_EXPIRE_DAYS")]
    expire_days: u64,
    /// Connections at once to one mail host, across the cluster (HOST=N to set one host's
    /// limit; repeat as needed; a bare N sets the default).
    #[arg(long = "host-limit", value_name = "[HOST=]N")]
    host_limits: Vec<String>,
    /// Seconds before the first retry of a pass that failed for a passing reason; each
    /// later retry waits twice as long.
    #[arg(long, default_value_t = 30, hide = true)]
    retry_seconds: u64,
    /// Seconds a job's claim lasts without a heartbeat (a dead worker's jobs are taken over
    /// after it).
    #[arg(long, default_value_t = 30, hide = true)]
    job_ttl_seconds: u64,
    /// Accept self-signed certificates on every user server (test set-ups only).
    #[arg(long, hide = true)]
    insecure_tls: bool,
}

#[derive(Args, Clone)]
struct SourceAuth {
    /// File holding the source password (the admin's when --from-admin is given).
    #[arg(long)]
    from_password_file: Option<PathBuf>,
    /// Log in to the source as this admin on behalf of the user (SASL PLAIN authzid).
    #[arg(long)]
    from_admin: Option<String>,
    /// Log in to the source with the OAuth 2.0 token in this file (an access token alone, or
    /// the JSON `passeur oauth login` writes, renewed during the run) instead of a password.
    #[arg(long, conflicts_with_all = ["from_password_file", "from_admin"])]
    from_token_file: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct DestAuth {
    /// File holding the destination password (the admin's when --to-admin is given).
    #[arg(long)]
    to_password_file: Option<PathBuf>,
    /// Log in to the destination as this admin on behalf of the user.
    #[arg(long)]
    to_admin: Option<String>,
    /// Log in to the destination with the OAuth 2.0 token in this file instead of a password.
    #[arg(long, conflicts_with_all = ["to_password_file", "to_admin"])]
    to_token_file: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Accept self-signed or otherwise untrusted TLS certificates on both sides, for this run.
    #[arg(long)]
    insecure_tls: bool,
    /// Accept an untrusted TLS certificate on the source only, for this run.
    #[arg(long)]
    from_insecure_tls: bool,
    /// Accept an untrusted TLS certificate on the destination only, for this run.
    #[arg(long)]
    to_insecure_tls: bool,
    /// Simultaneous connections per server.
    #[arg(long)]
    connections: Option<usize>,
    /// Message bytes held in memory at once, in MiB.
    #[arg(long)]
    max_mib_in_flight: Option<usize>,
    /// Plan only: show what would be copied.
    #[arg(long)]
    dry_run: bool,
    /// Scan every folder, even those whose status says nothing changed.
    #[arg(long)]
    full: bool,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Print the final report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct MigrateArgs {
    /// Source account: imap://, imap+starttls://, imaps://, pop3://, pop3+starttls:// or
    /// pop3s://LOGIN@HOST[:PORT] (a POP3 mailbox goes to the destination's INBOX), or
    /// auto://ADDRESS to detect the server (see `passeur detect`)
    #[arg(long)]
    from: Option<String>,
    /// Destination account: imap://, imap+starttls:// or imaps://LOGIN@HOST[:PORT], or
    /// auto://ADDRESS
    #[arg(long)]
    to: Option<String>,
    #[command(flatten)]
    discover: detect::DiscoverArgs,
    #[command(flatten)]
    dav: DavArgs,
    #[command(flatten)]
    src: SourceAuth,
    #[command(flatten)]
    dst: DestAuth,
    #[command(flatten)]
    run: RunArgs,
    /// Only folders matching these globs (on source paths written with '/'), e.g. 'INBOX*'.
    #[arg(long)]
    include: Vec<String>,
    /// Leave out folders matching these globs.
    #[arg(long)]
    exclude: Vec<String>,
    /// Rename a folder and its children: OLD=NEW (paths written with '/').
    #[arg(long, value_parser = parse_rename)]
    rename: Vec<(String, String)>,
    /// Start a new migration even if one exists between these accounts.
    #[arg(long)]
    new: bool,
    /// With a POP3 source: the destination folder its messages go to (default INBOX).
    #[arg(long, value_name = "FOLDER")]
    pop3_folder: Option<String>,
    /// With a Gmail source: the folder of messages with no label (path written with '/';
    /// default: the destination's Archive folder).
    #[arg(long, value_name = "FOLDER")]
    gmail_archive_folder: Option<String>,
    /// With a Gmail source: copy folder by folder like any server (each label downloaded
    /// again) instead of once per message with server-side copies for its further labels.
    #[arg(long)]
    no_gmail_labels: bool,
}

#[derive(Args)]
struct SyncArgs {
    id: MigrationId,
    #[command(flatten)]
    src: SourceAuth,
    #[command(flatten)]
    dst: DestAuth,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args)]
struct StatusArgs {
    id: MigrationId,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct PurgeArgs {
    id: MigrationId,
    /// Delete only what passes N and later copied (default: everything).
    #[arg(long, default_value_t = 1)]
    from_pass: u32,
    #[command(flatten)]
    dst: DestAuth,
    /// Accept an untrusted TLS certificate on the destination, for this run.
    #[arg(long)]
    insecure_tls: bool,
    /// The same as --insecure-tls (only the destination is reached).
    #[arg(long)]
    to_insecure_tls: bool,
    /// Count only.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
struct VerifyArgs {
    id: MigrationId,
    #[command(flatten)]
    src: SourceAuth,
    #[command(flatten)]
    dst: DestAuth,
    /// Accept untrusted TLS certificates on both sides, for this run.
    #[arg(long)]
    insecure_tls: bool,
    /// Accept an untrusted TLS certificate on the source only.
    #[arg(long)]
    from_insecure_tls: bool,
    /// Accept an untrusted TLS certificate on the destination only.
    #[arg(long)]
    to_insecure_tls: bool,
    #[arg(long)]
    json: bool,
    /// For a file import: the imported file, when it is no longer where it was imported from
    /// (it must have the same content).
    #[arg(long)]
    file: Option<PathBuf>,
}

fn parse_rename(s: &str) -> Result<(String, String), String> {
    let (a, b) = s
        .split_once('=')
        .ok_or_else(|| format!("expected OLD=NEW, got {s:?}"))?;
    if a.is_empty() || b.is_empty() {
        return Err(format!("expected OLD=NEW, got {s:?}"));
    }
    Ok((a.trim_matches('/').into(), b.trim_matches('/').into()))
}

/// Warnings of passeur and its libraries, without the TLS verifier's own log line for a
/// certificate it rejects: the error that follows says it in words a user can act on.
const DEFAULT_LOG: &str = "warn,rustls_platform_verifier=off";

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PASSEUR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("PASSEUR_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    let argv = match config::expand(std::env::args_os().collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(argv);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes, each said once: a layer whose message already contains its
/// cause's (the library errors include their source) does not repeat it.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn state_dir(state: Option<PathBuf>) -> Result<PathBuf> {
    let dir = match state {
        Some(d) => d,
        None => dirs::data_dir()
            .map(|d| d.join("passeur"))
            .context("cannot find a data directory: use --state DIR")?,
    };
    let created = !dir.exists();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
    if created {
        // The store holds sealed credentials and users' addresses: for this user only.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict the state directory {}", dir.display()))?;
    }
    Ok(dir)
}

async fn open_store(dir: &Path) -> Result<Store> {
    Ok(Store::open(&dir.join("passeur.db")).await?)
}

/// The service of `serve` and `worker`.
fn service(
    runner: Runner,
    dir: &Path,
    w: &WorkArgs,
    public_url: String,
    max_upload_gib: u64,
) -> Result<std::sync::Arc<passeur_server::Service>> {
    let key = w
        .secret_key_file
        .clone()
        .unwrap_or_else(|| dir.join("secret.key"));
    let vault = passeur_server::vault::Vault::open_or_create(&key)?;
    let notifier = match &w.smtp_url {
        Some(url) => {
            let mut c = passeur_notify::SmtpConfig::from_url(url, &w.smtp_from)?;
            if let Ok(pw) = std::env::var("PASSEUR_SMTP_PASSWORD") {
                c.set_password(pw);
            }
            Some(passeur_notify::Notifier::new(c)?)
        }
        None => None,
    };
    let mut limits = passeur_store::ClaimLimits {
        node: Some(passeur_jobs::this_node()),
        ..Default::default()
    };
    for l in &w.host_limits {
        match l.split_once('=') {
            Some((h, n)) => {
                let n = n
                    .trim()
                    .parse()
                    .with_context(|| format!("--host-limit {l}: not a number"))?;
                limits.per_host.insert(h.trim().to_ascii_lowercase(), n);
            }
            None => {
                limits.per_host_default = l
                    .trim()
                    .parse()
                    .with_context(|| format!("--host-limit {l}: not a number"))?;
            }
        }
    }
    let host = passeur_jobs::this_node();
    let settings = passeur_server::Settings {
        workers: w.workers,
        insecure_tls: w.insecure_tls,
        allow_private_addresses: w.allow_private_addresses,
        allow_plaintext: allow_plaintext(),
        ispdb: match w.ispdb.as_deref().map(str::trim) {
            None | Some("") => Some(passeur_net::discover::ISPDB.to_owned()),
            Some("off") => None,
            Some(u) if u.ends_with('/') => Some(u.to_owned()),
            Some(u) => Some(format!("{u}/")),
        },
        public_url,
        expire_after: std::time::Duration::from_secs(w.expire_days.max(1) * 86_400),
        data_dir: dir.to_path_buf(),
        max_upload: max_upload_gib.saturating_mul(1 << 30),
        queue: passeur_jobs::QueueConfig {
            holder: format!("{host}:{}", std::process::id()),
            limits,
            retry_base: std::time::Duration::from_secs(w.retry_seconds.max(1)),
            ttl: std::time::Duration::from_secs(w.job_ttl_seconds.max(2)),
            ..Default::default()
        },
        oauth_providers: oauth::service_providers()?,
        ..Default::default()
    };
    Ok(passeur_server::Service::new(
        runner, vault, settings, notifier,
    ))
}

/// Completes at SIGTERM or Ctrl-C.
async fn terminated() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

async fn serve(runner: Runner, dir: &Path, a: ServeArgs) -> Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(&a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    let public = a
        .work
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let svc = service(runner, dir, &a.work, public, a.max_upload_gib)?;
    println!("passeur is serving on http://{addr}/");
    passeur_server::serve(
        listener,
        svc,
        terminated(),
        std::time::Duration::from_secs(30),
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

async fn worker(runner: Runner, dir: &Path, a: WorkerArgs) -> Result<ExitCode> {
    if a.work.workers == 0 {
        bail!("--workers 0 leaves nothing to do");
    }
    let public = a
        .work
        .public_url
        .clone()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let svc = service(runner, dir, &a.work, public, 50)?;
    eprintln!(
        "passeur worker: {} worker(s) on the {} store",
        a.work.workers,
        svc.store().backend_name()
    );
    let run = {
        let svc = std::sync::Arc::clone(&svc);
        tokio::spawn(async move { svc.run_workers().await })
    };
    terminated().await;
    svc.shut_down();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), run).await;
    Ok(ExitCode::SUCCESS)
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let _ = ALLOW_PLAINTEXT.set(cli.allow_plaintext);
    let dir = state_dir(cli.state)?;
    let store = match &cli.database {
        Some(url) => Store::connect(url).await?,
        None => open_store(&dir).await?,
    };
    let runner = Runner::new(store).with_wait(cli.wait.map(std::time::Duration::from_secs));
    match cli.command {
        Command::Serve(a) => serve(runner, &dir, a).await,
        Command::Worker(a) => worker(runner, &dir, a).await,
        Command::Migrate(a) => migrate(&runner, *a).await,
        Command::Sync(a) => sync(&runner, a).await,
        Command::Status(a) => status(&runner, a).await,
        Command::Purge(a) => purge(&runner, a).await,
        Command::Verify(a) => verify(&runner, a).await,
        Command::Import(a) => import::import(&runner, a).await,
        Command::Detect(a) => detect::detect(a).await,
        Command::OAuth(a) => oauth::oauth(a).await,
    }
}

/// A password from a file, the environment or the terminal; never from the command line.
fn password(file: Option<&Path>, env: &str, what: &str) -> Result<Zeroizing<String>> {
    if let Some(f) = file {
        let s =
            Zeroizing::new(std::fs::read_to_string(f).with_context(|| {
                format!("cannot read the {what} password file {}", f.display())
            })?);
        return Ok(Zeroizing::new(s.trim_end_matches(['\r', '\n']).to_owned()));
    }
    if let Ok(v) = std::env::var(env) {
        return Ok(Zeroizing::new(v));
    }
    if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password(format!("{what} password: "))
            .with_context(|| format!("cannot read the {what} password"))?;
        return Ok(Zeroizing::new(p));
    }
    bail!(
        "no {what} password: give --{}-password-file or set {env}",
        if what == "source" { "from" } else { "to" }
    )
}

/// The per-run options common to `migrate` and `sync` (never stored).
fn run_options(run: &RunArgs, src: &SourceAuth, dst: &DestAuth) -> Result<RunOptions> {
    Ok(RunOptions {
        dry_run: run.dry_run,
        full: run.full,
        connections: run.connections,
        bytes_in_flight: run.max_mib_in_flight.map(|m| m.max(1) << 20),
        batch_messages: None,
        source_insecure_tls: run.insecure_tls || run.from_insecure_tls,
        destination_insecure_tls: run.insecure_tls || run.to_insecure_tls,
        from_admin: src.from_admin.clone(),
        to_admin: dst.to_admin.clone(),
        dns_server: dav_args::dns_server().unwrap_or(None),
        address_policy: Default::default(),
        allow_plaintext: allow_plaintext(),
        source_oauth: src
            .from_token_file
            .as_deref()
            .map(oauth::token_source)
            .transpose()?,
        destination_oauth: dst
            .to_token_file
            .as_deref()
            .map(oauth::token_source)
            .transpose()?,
    })
}

/// `--allow-plaintext`, as given for this process.
static ALLOW_PLAINTEXT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

pub(crate) fn allow_plaintext() -> bool {
    ALLOW_PLAINTEXT.get().copied().unwrap_or(false)
}

/// Each side's password; none is asked for a side that logs in with a token file.
fn both_passwords(src: &SourceAuth, dst: &DestAuth) -> Result<Secrets> {
    Ok(Secrets {
        source: Some(match &src.from_token_file {
            Some(_) => Zeroizing::new(String::new()),
            None => password(
                src.from_password_file.as_deref(),
                "PASSEUR_FROM_PASSWORD",
                "source",
            )?,
        }),
        destination: Some(match &dst.to_token_file {
            Some(_) => Zeroizing::new(String::new()),
            None => password(
                dst.to_password_file.as_deref(),
                "PASSEUR_TO_PASSWORD",
                "destination",
            )?,
        }),
    })
}

fn limits(run: &RunArgs, base: Limits) -> Limits {
    Limits {
        connections: run.connections.unwrap_or(base.connections).max(1),
        bytes_in_flight: run
            .max_mib_in_flight
            .map(|m| m.max(1) << 20)
            .unwrap_or(base.bytes_in_flight),
        ..base
    }
}

async fn migrate(runner: &Runner, mut a: MigrateArgs) -> Result<ExitCode> {
    // auto://ADDRESS becomes the URL found; the migration records that URL.
    if let Some(f) = &a.from {
        a.from = Some(detect::resolve(f, false, &a.discover).await?);
    }
    if let Some(t) = &a.to {
        a.to = Some(detect::resolve(t, true, &a.discover).await?);
    }
    let plan = dav_args::plan(a.from.as_deref(), a.to.as_deref(), &a.dav)?;
    // A migration is identified by its mail accounts, or its DAV accounts without mail.
    let (src_url, dst_url) = match (&plan.dav, plan.mail, &a.from, &a.to) {
        (_, true, Some(f), Some(t)) => (Endpoint::parse(f)?.to_url(), Endpoint::parse(t)?.to_url()),
        (Some(d), _, _, _) => (d.from.clone(), d.to.clone()),
        _ => bail!("nothing to migrate"),
    };
    if let (true, Some(f), Some(t)) = (plan.mail, &a.from, &a.to) {
        check_pop3(&Endpoint::parse(f)?, &Endpoint::parse(t)?, &a)?;
    }
    let spec = MigrationSpec::Accounts(AccountSpec {
        mail: MailOptions {
            rules: FolderRules {
                include: a.include.clone(),
                exclude: a.exclude.clone(),
                rename: a.rename.clone(),
                include_virtual: false,
                gmail_archive: a.gmail_archive_folder.clone(),
                no_gmail_labels: a.no_gmail_labels,
            },
            limits: limits(&a.run, Limits::default()),
            dry_run: false,
            full: false,
        },
        from_admin: a.src.from_admin.clone(),
        to_admin: a.dst.to_admin.clone(),
        with_mail: plan.mail,
        dav: plan.dav,
        pop3_folder: a.pop3_folder.clone(),
    });
    let opts = run_options(&a.run, &a.src, &a.dst)?;
    if a.run.dry_run {
        // Nothing is stored: there is no migration ID to give.
        let secrets = both_passwords(&a.src, &a.dst)?;
        eprintln!("dry run: nothing will be copied or stored");
        let (sink, progress, cancel) = progress_for(&a.run);
        let r = runner
            .dry_run(
                &src_url,
                &dst_url,
                &spec,
                &secrets,
                &opts,
                Control {
                    events: sink,
                    cancel,
                },
            )
            .await;
        let _ = progress.await;
        return report_pass(r?, a.run.json);
    }
    let secrets = both_passwords(&a.src, &a.dst)?;
    let (id, existed) = runner.create(&src_url, &dst_url, &spec, !a.new).await?;
    if existed {
        eprintln!("continuing migration {id} (use --new for a separate one)");
    }
    println!("migration {id}");
    run_pass(runner, id, &secrets, &opts, &a.run).await
}

/// A POP3 account is a source only, with one mailbox: folder rules mean nothing for it.
fn check_pop3(from: &Endpoint, to: &Endpoint, a: &MigrateArgs) -> Result<()> {
    if to.protocol == Protocol::Pop3 {
        bail!(
            "the destination {to} is a POP3 account: POP3 can only be a source (give an imap://, imap+starttls:// or imaps:// destination)"
        );
    }
    if from.protocol == Protocol::Pop3 {
        if !a.include.is_empty() || !a.exclude.is_empty() || !a.rename.is_empty() {
            bail!(
                "--include, --exclude and --rename choose IMAP folders; a POP3 source has one mailbox (choose where it goes with --pop3-folder)"
            );
        }
    } else if a.pop3_folder.is_some() {
        bail!("--pop3-folder is for a POP3 source (pop3://, pop3+starttls:// or pop3s://)");
    }
    Ok(())
}

async fn sync(runner: &Runner, a: SyncArgs) -> Result<ExitCode> {
    runner.load(a.id).await?;
    let secrets = both_passwords(&a.src, &a.dst)?;
    println!("migration {}", a.id);
    let opts = run_options(&a.run, &a.src, &a.dst)?;
    run_pass(runner, a.id, &secrets, &opts, &a.run).await
}

/// The progress bar (or nothing) and a token that Ctrl-C cancels.
fn progress_for(
    run: &RunArgs,
) -> (
    EventSink,
    tokio::task::JoinHandle<()>,
    tokio_util::sync::CancellationToken,
) {
    let cancel = progress::cancel_on_ctrl_c("messages");
    let show = !run.no_progress && !run.json && std::io::stderr().is_terminal();
    let (sink, progress) = progress::start(show);
    (sink, progress, cancel)
}

async fn run_pass(
    runner: &Runner,
    id: MigrationId,
    secrets: &Secrets,
    opts: &RunOptions,
    run: &RunArgs,
) -> Result<ExitCode> {
    let (sink, progress, cancel) = progress_for(run);
    let result = runner
        .run_pass(
            id,
            secrets,
            opts,
            Control {
                events: sink,
                cancel,
            },
        )
        .await;
    let _ = progress.await;
    report_pass(result?, run.json)
}

/// Prints a pass's report; the exit code says how it ended.
fn report_pass(o: PassOutcome, json: bool) -> Result<ExitCode> {
    let mail = o.mail.clone().unwrap_or_else(|| PassReport {
        pass: o.pass,
        dry_run: o.dry_run,
        ..Default::default()
    });
    if json {
        match &o.dav {
            None => println!("{}", serde_json::to_string_pretty(&mail)?),
            Some(d) => println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "mail": o.mail,
                    "dav": d,
                }))?
            ),
        }
    } else {
        if o.mail.is_some() {
            print_report(&mail);
        }
        if let Some(d) = &o.dav {
            dav_args::print_pass(d);
        }
    }
    Ok(exit_code(o.outcome))
}

fn exit_code(o: Outcome) -> ExitCode {
    match o {
        Outcome::Done => ExitCode::SUCCESS,
        Outcome::Stopped => ExitCode::from(130),
        Outcome::Incomplete => ExitCode::from(2),
    }
}

fn mb(b: u64) -> String {
    format!("{:.1} MB", b as f64 / 1e6)
}

fn print_report(r: &PassReport) {
    if r.dry_run {
        println!("dry run: nothing was copied");
    } else {
        println!("pass {}", r.pass);
    }
    println!(
        "{:<40} {:>8} {:>8} {:>8} {:>10} {:>6} {:>6}",
        "folder", "source", "to copy", "copied", "bytes", "flags", "failed"
    );
    for f in &r.folders {
        let note = match (&f.error, f.unchanged) {
            (Some(e), _) => format!("  ERROR: {e}"),
            (None, true) => "  (unchanged)".into(),
            _ => String::new(),
        };
        println!(
            "{:<40} {:>8} {:>8} {:>8} {:>10} {:>6} {:>6}{note}",
            f.folder,
            f.source_messages,
            f.to_copy,
            f.copied,
            mb(f.bytes),
            f.flags_updated,
            f.failed
        );
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    let c = r.counters;
    println!(
        "total: {} copied ({}), {} flag updates, {} failed{}",
        c.copied,
        mb(c.bytes),
        c.flags_updated,
        c.failed,
        if r.cancelled {
            ", stopped before the end"
        } else {
            ""
        }
    );
}

async fn status(runner: &Runner, a: StatusArgs) -> Result<ExitCode> {
    let v = runner.view(a.id).await?;
    let (m, passes, failures, notes) = (&v.row, &v.passes, &v.failures, &v.notes);
    let (items, bytes) = (v.items, v.bytes);
    if a.json {
        let v = serde_json::json!({
            "id": m.id,
            "source": m.source,
            "destination": m.destination,
            "status": m.status,
            "error": m.error,
            "items": items,
            "bytes": bytes,
            "passes": passes.iter().map(|p| serde_json::json!({
                "number": p.number, "status": p.status, "started_at": p.started_at,
                "finished_at": p.finished_at, "copied": p.counters.copied, "bytes": p.counters.bytes,
                "flags_updated": p.counters.flags_updated, "failed": p.counters.failed, "error": p.error,
            })).collect::<Vec<_>>(),
            "failures": failures.iter().map(|f| serde_json::json!({
                "pass": f.pass, "folder": f.folder, "item": f.src_key, "size": f.size, "reason": f.reason,
            })).collect::<Vec<_>>(),
            "notes": notes.iter().map(|n| serde_json::json!({
                "pass": n.pass, "folder": n.folder, "item": n.src_key, "repaired": n.repaired,
                "note": n.note,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("migration   {}", m.id);
    println!("source      {}", m.source);
    println!("destination {}", m.destination);
    println!("status      {}", m.status);
    if let Some(e) = &m.error {
        println!("error       {e}");
    }
    println!("copied      {items} items, {}", mb(bytes));
    println!(
        "{:>4} {:<12} {:>8} {:>10} {:>6} {:>6}",
        "pass", "status", "copied", "bytes", "flags", "failed"
    );
    for p in passes {
        println!(
            "{:>4} {:<12} {:>8} {:>10} {:>6} {:>6}",
            p.number,
            p.status,
            p.counters.copied,
            mb(p.counters.bytes),
            p.counters.flags_updated,
            p.counters.failed
        );
    }
    for f in failures.iter().take(50) {
        println!(
            "failed: pass {} {} {}: {}",
            f.pass, f.folder, f.src_key, f.reason
        );
    }
    // Repairs first: the destination refused these items as they were.
    let repaired: Vec<_> = notes.iter().filter(|n| n.repaired).collect();
    let mut items: Vec<(&str, &str)> = repaired
        .iter()
        .map(|n| (n.folder.as_str(), n.src_key.as_str()))
        .collect();
    items.dedup();
    if !items.is_empty() {
        println!("repaired    {} items (refused as they were)", items.len());
    }
    let others = notes.len() - repaired.len();
    if others > 0 {
        println!("warnings    {others} (lines or components skipped or mended while reading)");
    }
    for n in repaired
        .iter()
        .chain(
            notes
                .iter()
                .filter(|n| !n.repaired)
                .collect::<Vec<_>>()
                .iter(),
        )
        .take(100)
    {
        println!(
            "{}: pass {} {} {}: {}",
            if n.repaired { "repaired" } else { "warning" },
            n.pass,
            n.folder,
            n.src_key,
            n.note
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn purge(runner: &Runner, a: PurgeArgs) -> Result<ExitCode> {
    let (_, spec) = runner.load(a.id).await?;
    let pw = match &a.dst.to_token_file {
        Some(_) => Zeroizing::new(String::new()),
        None => password(
            a.dst.to_password_file.as_deref(),
            "PASSEUR_TO_PASSWORD",
            "destination",
        )?,
    };
    let opts = RunOptions {
        allow_plaintext: allow_plaintext(),
        destination_insecure_tls: a.insecure_tls || a.to_insecure_tls,
        to_admin: a.dst.to_admin.clone(),
        destination_oauth: a
            .dst
            .to_token_file
            .as_deref()
            .map(oauth::token_source)
            .transpose()?,
        dns_server: dav_args::dns_server()?,
        ..Default::default()
    };
    let r = runner
        .purge(a.id, a.from_pass, a.dry_run, pw, &opts)
        .await?;
    if spec.is_import() {
        import::print_purge(&r);
    } else {
        if let Some(m) = &r.mail {
            println!(
                "{} {} message(s) copied in pass {} and later; {} left in place",
                if a.dry_run { "would delete" } else { "deleted" },
                m.deleted,
                r.from_pass,
                m.skipped
            );
            for n in &m.notes {
                println!("note: {n}");
            }
        }
        if let Some(d) = &r.dav {
            dav_args::print_purge(d, a.dry_run, r.from_pass);
        }
    }
    Ok(if r.skipped() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

async fn verify(runner: &Runner, a: VerifyArgs) -> Result<ExitCode> {
    let (_, spec) = runner.load(a.id).await?;
    let secrets = if spec.is_import() {
        Secrets {
            source: None,
            destination: Some(password(
                a.dst.to_password_file.as_deref(),
                "PASSEUR_TO_PASSWORD",
                "destination",
            )?),
        }
    } else {
        if a.file.is_some() {
            bail!("--file is for the verification of a file import");
        }
        both_passwords(&a.src, &a.dst)?
    };
    let opts = RunOptions {
        allow_plaintext: allow_plaintext(),
        source_insecure_tls: a.insecure_tls || a.from_insecure_tls,
        destination_insecure_tls: a.insecure_tls || a.to_insecure_tls,
        from_admin: a.src.from_admin.clone(),
        to_admin: a.dst.to_admin.clone(),
        dns_server: dav_args::dns_server()?,
        source_oauth: a
            .src
            .from_token_file
            .as_deref()
            .map(oauth::token_source)
            .transpose()?,
        destination_oauth: a
            .dst
            .to_token_file
            .as_deref()
            .map(oauth::token_source)
            .transpose()?,
        ..Default::default()
    };
    let r = runner
        .verify(a.id, &secrets, &opts, a.file.as_deref())
        .await?;
    let ok = r.ok();
    if let Some(i) = &r.import {
        if a.json {
            println!("{}", serde_json::to_string_pretty(i)?);
        } else {
            import::print_verify(i);
        }
    } else if a.json {
        match (&r.mail, &r.dav) {
            (Some(m), None) => println!("{}", serde_json::to_string_pretty(m)?),
            _ => println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "mail": r.mail, "dav": r.dav, "ok": ok,
                }))?
            ),
        }
    } else {
        if let Some(m) = &r.mail {
            print_mail_verify(m);
        }
        if let Some(d) = &r.dav {
            dav_args::print_verify(d);
        }
        println!(
            "{}",
            if ok {
                "verify: OK"
            } else {
                "verify: DIFFERENCES FOUND"
            }
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn print_mail_verify(r: &passeur_engine::VerifyReport) {
    println!(
        "{:<40} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6} {:>6}",
        "folder", "source", "dest", "missing", "flags", "dates", "extra", "dupl."
    );
    for f in &r.folders {
        println!(
            "{:<40} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6} {:>6}{}",
            f.folder,
            f.source_messages,
            f.destination_messages,
            f.missing,
            f.flags_differ,
            f.dates_differ,
            f.extra,
            f.duplicates,
            if f.ok() { "" } else { "  DIFFERS" }
        );
    }
}
