//! `passeur`: the one binary. This file holds the command line and sends each command to its
//! module; the work is done by `passeur-engine` over `passeur-store`.

// The doc comments of this crate are clap's help texts (`[LOGIN@]HOST[:PORT]`), not rustdoc.
#![allow(rustdoc::broken_intra_doc_links)]

mod auth;
mod config;
mod dav_args;
mod detect;
mod env_secrets;
mod import;
mod malloc;
mod migrate;
mod oauth;
mod progress;
mod purge;
mod report;
mod serve;
mod status;
mod verify;

use passeur_net::discover::Presets;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use auth::password;
use clap::{Args, Parser, Subcommand};
use dav_args::DavArgs;
use migrate::{migrate, sync};
use passeur_engine::Runner;
use passeur_store::Store;
use passeur_types::MigrationId;
use purge::purge;
use report::{exit_code, mb};
use serve::{serve, worker};
use status::status;
use verify::verify;

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
    /// More provider presets (a JSON array in the form of the built-in `providers.json`),
    /// tried before the built-in ones: an operator's own provider, its folder names and limits.
    #[arg(long, global = true, env = "PASSEUR_PRESETS", value_name = "FILE")]
    presets: Option<PathBuf>,
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
    /// required), smtps://... (TLS from the start), smtp://...?tls=none (no TLS: a local
    /// relay; a password only to loopback). The password comes from PASSEUR_SMTP_PASSWORD.
    #[arg(long, env = "PASSEUR_SMTP_URL")]
    smtp_url: Option<String>,
    /// With `?auth=xoauth2` in the SMTP URL: log in with the OAuth 2.0 token of this file (as
    /// `passeur oauth login` writes it), renewed before it expires and written back renewed.
    #[arg(long, env = "PASSEUR_SMTP_TOKEN_FILE", value_name = "FILE")]
    smtp_token_file: Option<PathBuf>,
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
    /// Go past a provider's documented daily transfer limit (its preset's), for an account
    /// whose provider allows it more.
    #[arg(long)]
    ignore_daily_limits: bool,
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
    // First, while this is the only thread: the passwords leave the environment.
    env_secrets::take_from_env();
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
    tracing::debug!(
        left = ?env_secrets::left_in_env(),
        "secret variables left in the environment"
    );
    let argv = match config::expand(std::env::args_os().collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {}", error_text(&e));
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(argv);
    if !matches!(cli.command, Command::Serve(_) | Command::Worker(_)) {
        malloc::one_arena();
    }
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

async fn run(cli: Cli) -> Result<ExitCode> {
    let _ = ALLOW_PLAINTEXT.set(cli.allow_plaintext);
    let presets = match &cli.presets {
        Some(f) => {
            let json = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the presets file {}", f.display()))?;
            Presets::with_json(&json).with_context(|| format!("--presets {}", f.display()))?
        }
        None => Presets::built_in(),
    };
    let _ = PRESETS.set(presets);
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

/// `--allow-plaintext`, as given for this process.
static ALLOW_PLAINTEXT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// The provider presets of this run of the binary: the built-in ones, with `--presets FILE`'s
/// in front. Set once in `run`, before any command reads them; the libraries get them passed
/// in (run options, the service's settings, the discoverer).
static PRESETS: std::sync::OnceLock<Presets> = std::sync::OnceLock::new();

/// See [`PRESETS`].
pub(crate) fn presets() -> Presets {
    PRESETS.get().cloned().unwrap_or_default()
}

pub(crate) fn allow_plaintext() -> bool {
    ALLOW_PLAINTEXT.get().copied().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// Every SMTP URL form `serve --help` names is one the notifier takes (it once named
    /// `smtp+plain://`, which is refused at start).
    #[test]
    fn the_smtp_url_forms_in_the_help_are_accepted() {
        let mut cli = super::Cli::command();
        let serve = cli.find_subcommand_mut("serve").unwrap();
        let help = serve
            .get_arguments()
            .find(|a| a.get_id() == "smtp_url")
            .and_then(|a| a.get_long_help().or(a.get_help()))
            .unwrap()
            .to_string();
        let mut forms = 0;
        for word in help.split_whitespace() {
            let Some(at) = word.find("://") else { continue };
            let scheme = &word[..at];
            let rest = word[at + 3..].trim_end_matches([',', ')', '.']);
            // `[USER@]HOST[:PORT]` and `...` stand for a host of one's own.
            let query = rest.split_once('?').map(|(_, q)| format!("?{q}"));
            let url = format!("{scheme}://127.0.0.1:2525{}", query.unwrap_or_default());
            passeur_notify::SmtpConfig::from_url(&url, "a@example.org")
                .unwrap_or_else(|e| panic!("the help names {word} ({url}): {e}"));
            forms += 1;
        }
        assert_eq!(forms, 3, "{help}");
    }
}
