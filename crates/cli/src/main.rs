//! `passeur`: the one binary. This file holds the command line; the work is done by
//! `passeur-engine` over `passeur-store`.

mod dav_args;
mod import;
mod progress;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use dav_args::{DavArgs, DavStored};
use passeur_engine::{
    FolderRules, Limits, MailAccount, MailOptions, PassReport, purge_dav, purge_mail, run_dav_pass,
    run_mail_pass, verify_dav, verify_mail,
};
use passeur_store::{PassCounters, Store};
use passeur_types::{Endpoint, MigrationId, Status};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "passeur",
    version,
    about = "Move mailboxes from one account to another, exactly once."
)]
struct Cli {
    /// Directory of the embedded store (default: the platform's data directory).
    #[arg(long, global = true, env = "PASSEUR_STATE")]
    state: Option<PathBuf>,
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
}

#[derive(Args, Clone)]
struct SourceAuth {
    /// File holding the source password (the admin's when --from-admin is given).
    #[arg(long)]
    from_password_file: Option<PathBuf>,
    /// Log in to the source as this admin on behalf of the user (SASL PLAIN authzid).
    #[arg(long)]
    from_admin: Option<String>,
}

#[derive(Args, Clone)]
struct DestAuth {
    /// File holding the destination password (the admin's when --to-admin is given).
    #[arg(long)]
    to_password_file: Option<PathBuf>,
    /// Log in to the destination as this admin on behalf of the user.
    #[arg(long)]
    to_admin: Option<String>,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Accept self-signed or otherwise untrusted TLS certificates (both sides).
    #[arg(long)]
    insecure_tls: bool,
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
    /// Source account: imap://, imap+starttls:// or imaps://LOGIN@HOST[:PORT]
    #[arg(long)]
    from: Option<String>,
    /// Destination account, same form.
    #[arg(long)]
    to: Option<String>,
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
    #[arg(long)]
    insecure_tls: bool,
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
    #[arg(long)]
    insecure_tls: bool,
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

/// What a migration remembers between runs (no secret).
#[derive(Serialize, Deserialize, Clone)]
struct StoredOptions {
    mail: MailOptions,
    from_admin: Option<String>,
    to_admin: Option<String>,
    insecure_tls: bool,
    /// False when only contacts/calendars/tasks are migrated.
    #[serde(default = "yes")]
    with_mail: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dav: Option<DavStored>,
}

fn yes() -> bool {
    true
}

/// Warnings of passeur and its libraries, without the TLS verifier's own log line for a
/// certificate it rejects: the error that follows says it in words a user can act on.
const DEFAULT_LOG: &str = "warn,rustls_platform_verifier=off";

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PASSEUR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
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

async fn open_store(state: Option<PathBuf>) -> Result<Store> {
    let dir = match state {
        Some(d) => d,
        None => dirs::data_dir()
            .map(|d| d.join("passeur"))
            .context("cannot find a data directory: use --state DIR")?,
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
    Ok(Store::open(&dir.join("passeur.db")).await?)
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let store = open_store(cli.state).await?;
    match cli.command {
        Command::Migrate(a) => migrate(&store, *a).await,
        Command::Sync(a) => sync(&store, a).await,
        Command::Status(a) => status(&store, a).await,
        Command::Purge(a) if import::is_import(&store, a.id).await? => {
            import::purge(&store, a).await
        }
        Command::Purge(a) => purge(&store, a).await,
        Command::Verify(a) if import::is_import(&store, a.id).await? => {
            import::verify(&store, a).await
        }
        Command::Verify(a) => verify(&store, a).await,
        Command::Import(a) => import::import(&store, a).await,
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

fn account(
    url: &str,
    admin: Option<String>,
    password: Zeroizing<String>,
    insecure: bool,
) -> Result<MailAccount> {
    let endpoint = Endpoint::parse(url)?;
    let mut acc = MailAccount::new(endpoint, String::new());
    acc.password = password;
    acc.admin = admin;
    acc.insecure_tls = insecure;
    Ok(acc)
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

async fn migrate(store: &Store, a: MigrateArgs) -> Result<ExitCode> {
    let plan = dav_args::plan(a.from.as_deref(), a.to.as_deref(), &a.dav)?;
    // A migration is identified by its mail accounts, or its DAV accounts without mail.
    let (src_url, dst_url) = match (&plan.dav, plan.mail, &a.from, &a.to) {
        (_, true, Some(f), Some(t)) => (Endpoint::parse(f)?.to_url(), Endpoint::parse(t)?.to_url()),
        (Some(d), _, _, _) => (d.from.clone(), d.to.clone()),
        _ => bail!("nothing to migrate"),
    };
    let existing = if a.new {
        None
    } else {
        store.find_migration(&src_url, &dst_url).await?
    };
    let opts = StoredOptions {
        mail: MailOptions {
            rules: FolderRules {
                include: a.include.clone(),
                exclude: a.exclude.clone(),
                rename: a.rename.clone(),
                include_virtual: false,
            },
            limits: limits(&a.run, Limits::default()),
            dry_run: false,
            full: false,
        },
        from_admin: a.src.from_admin.clone(),
        to_admin: a.dst.to_admin.clone(),
        insecure_tls: a.run.insecure_tls,
        with_mail: plan.mail,
        dav: plan.dav,
    };
    let id = match existing {
        Some(m) => {
            eprintln!(
                "continuing migration {} (use --new for a separate one)",
                m.id
            );
            m.id
        }
        None => {
            let id = MigrationId::random();
            if !a.run.dry_run {
                store
                    .create_migration(id, &src_url, &dst_url, &serde_json::to_string(&opts)?)
                    .await?;
            }
            id
        }
    };
    println!("migration {id}");
    if !a.run.dry_run {
        store
            .set_options(id, &serde_json::to_string(&opts)?)
            .await?;
    }
    run_pass(store, id, &src_url, &dst_url, opts, &a.src, &a.dst, &a.run).await
}

async fn sync(store: &Store, a: SyncArgs) -> Result<ExitCode> {
    let m = store.migration(a.id).await?;
    let mut opts: StoredOptions =
        serde_json::from_str(&m.options).context("cannot read the migration's options")?;
    opts.mail.limits = limits(&a.run, opts.mail.limits);
    opts.insecure_tls |= a.run.insecure_tls;
    if a.src.from_admin.is_some() {
        opts.from_admin = a.src.from_admin.clone();
    }
    if a.dst.to_admin.is_some() {
        opts.to_admin = a.dst.to_admin.clone();
    }
    println!("migration {}", a.id);
    run_pass(
        store,
        a.id,
        &m.source,
        &m.destination,
        opts,
        &a.src,
        &a.dst,
        &a.run,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn run_pass(
    store: &Store,
    id: MigrationId,
    src_url: &str,
    dst_url: &str,
    mut opts: StoredOptions,
    src_auth: &SourceAuth,
    dst_auth: &DestAuth,
    run: &RunArgs,
) -> Result<ExitCode> {
    let src_pw = password(
        src_auth.from_password_file.as_deref(),
        "PASSEUR_FROM_PASSWORD",
        "source",
    )?;
    let dst_pw = password(
        dst_auth.to_password_file.as_deref(),
        "PASSEUR_TO_PASSWORD",
        "destination",
    )?;
    let mail = if opts.with_mail {
        Some((
            account(
                src_url,
                opts.from_admin.clone(),
                src_pw.clone(),
                opts.insecure_tls,
            )?,
            account(
                dst_url,
                opts.to_admin.clone(),
                dst_pw.clone(),
                opts.insecure_tls,
            )?,
        ))
    } else {
        None
    };
    let dav = match &opts.dav {
        Some(d) => Some((
            d.clone(),
            d.accounts(
                src_pw,
                dst_pw,
                opts.insecure_tls,
                (opts.from_admin.clone(), opts.to_admin.clone()),
            )?,
        )),
        None => None,
    };
    opts.mail.dry_run = run.dry_run;
    opts.mail.full = run.full;

    let cancel = progress::cancel_on_ctrl_c("messages");
    let show = !run.no_progress && !run.json && std::io::stderr().is_terminal();
    let (sink, progress) = progress::start(show);

    let pass = if run.dry_run {
        0
    } else {
        store.set_status(id, Status::Running, None).await?;
        store.begin_pass(id).await?
    };
    let mut result = match &mail {
        Some((src, dst)) => run_mail_pass(store, id, pass, src, dst, &opts.mail, &sink, &cancel)
            .await
            .map(Some),
        None => Ok(None),
    };
    let mut dav_report = None;
    if let (Ok(_), Some((d, (src, dst)))) = (&result, &dav)
        && !cancel.is_cancelled()
    {
        let o = d.options(run.dry_run, run.full, run.connections.unwrap_or(0));
        match run_dav_pass(store, id, pass, src, dst, &d.kinds, &o, &sink, &cancel).await {
            Ok(r) => dav_report = Some(r),
            Err(e) => result = Err(e),
        }
    }
    drop(sink);
    let _ = progress.await;
    drop(mail);

    let report = match result {
        Ok(r) => r.unwrap_or_else(|| PassReport {
            pass,
            dry_run: run.dry_run,
            ..Default::default()
        }),
        Err(e) => {
            if !run.dry_run {
                let msg = e.to_string();
                store
                    .update_pass(
                        id,
                        pass,
                        PassCounters::default(),
                        Some(("failed", Some(&msg))),
                    )
                    .await?;
                store.set_status(id, Status::Failed, Some(&msg)).await?;
            }
            bail!(e);
        }
    };
    let cancelled = report.cancelled || dav_report.as_ref().is_some_and(|d| d.cancelled);
    let complete = report.complete() && dav_report.as_ref().is_none_or(|d| d.complete());
    let mut counters = report.counters;
    if let Some(d) = &dav_report {
        counters.copied += d.counters.copied;
        counters.bytes += d.counters.bytes;
        counters.flags_updated += d.counters.flags_updated;
        counters.failed += d.counters.failed;
    }
    if !run.dry_run {
        let (status, pass_status) = if cancelled {
            (Status::Stopped, "stopped")
        } else if complete {
            (Status::Done, "done")
        } else {
            (Status::Failed, "incomplete")
        };
        let err = (!complete && !cancelled).then(|| {
            let mut e = summary_error(&report);
            if let Some(d) = dav_report.as_ref().filter(|d| !d.complete()) {
                if !e.is_empty() {
                    e.push_str("; ");
                }
                e.push_str(&format!(
                    "{} contact(s)/event(s)/task(s) not copied",
                    d.counters.failed
                ));
            }
            e
        });
        store
            .update_pass(id, pass, counters, Some((pass_status, err.as_deref())))
            .await?;
        store.set_status(id, status, err.as_deref()).await?;
    }
    if run.json {
        match &dav_report {
            None => println!("{}", serde_json::to_string_pretty(&report)?),
            Some(d) => println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "mail": opts.with_mail.then_some(&report),
                    "dav": d,
                }))?
            ),
        }
    } else {
        if opts.with_mail {
            print_report(&report);
        }
        if let Some(d) = &dav_report {
            dav_args::print_pass(d);
        }
    }
    Ok(if cancelled {
        ExitCode::from(130)
    } else if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn summary_error(r: &PassReport) -> String {
    let failed: u64 = r.folders.iter().map(|f| f.failed).sum();
    let broken: Vec<&str> = r
        .folders
        .iter()
        .filter(|f| f.error.is_some())
        .map(|f| f.folder.as_str())
        .collect();
    let mut parts = Vec::new();
    if failed > 0 {
        parts.push(format!("{failed} message(s) refused by the destination"));
    }
    if !broken.is_empty() {
        parts.push(format!("folder(s) not finished: {}", broken.join(", ")));
    }
    parts.join("; ")
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

async fn status(store: &Store, a: StatusArgs) -> Result<ExitCode> {
    let m = store.migration(a.id).await?;
    let passes = store.passes(a.id).await?;
    let (items, bytes) = store.count_items(a.id).await?;
    let failures = store
        .failures(a.id, passes.last().map(|p| p.number))
        .await?;
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
    for p in &passes {
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
    Ok(ExitCode::SUCCESS)
}

async fn stored(
    store: &Store,
    id: MigrationId,
) -> Result<(passeur_store::MigrationRow, StoredOptions)> {
    let m = store.migration(id).await?;
    let o = serde_json::from_str(&m.options).context("cannot read the migration's options")?;
    Ok((m, o))
}

async fn purge(store: &Store, a: PurgeArgs) -> Result<ExitCode> {
    let (m, o) = stored(store, a.id).await?;
    let insecure = a.insecure_tls || o.insecure_tls;
    let pw = password(
        a.dst.to_password_file.as_deref(),
        "PASSEUR_TO_PASSWORD",
        "destination",
    )?;
    let from_pass = a.from_pass.max(1);
    let mut skipped = 0;
    let to_admin = a.dst.to_admin.or(o.to_admin);
    if o.with_mail {
        let dst = account(&m.destination, to_admin.clone(), pw.clone(), insecure)?;
        let r = purge_mail(store, a.id, &dst, from_pass, a.dry_run, true).await?;
        println!(
            "{} {} message(s) copied in pass {} and later; {} left in place",
            if a.dry_run { "would delete" } else { "deleted" },
            r.deleted,
            from_pass,
            r.skipped
        );
        for n in &r.notes {
            println!("note: {n}");
        }
        skipped += r.skipped;
    }
    if let Some(d) = &o.dav {
        let (_, dst) = d.accounts(
            Zeroizing::new(String::new()),
            pw,
            insecure,
            (None, to_admin.clone()),
        )?;
        let r = purge_dav(store, a.id, &dst, from_pass, a.dry_run).await?;
        dav_args::print_purge(&r, a.dry_run, from_pass);
        skipped += r.skipped;
    }
    Ok(if skipped == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

async fn verify(store: &Store, a: VerifyArgs) -> Result<ExitCode> {
    if a.file.is_some() {
        bail!("--file is for the verification of a file import");
    }
    let (m, o) = stored(store, a.id).await?;
    let insecure = a.insecure_tls || o.insecure_tls;
    let src_pw = password(
        a.src.from_password_file.as_deref(),
        "PASSEUR_FROM_PASSWORD",
        "source",
    )?;
    let dst_pw = password(
        a.dst.to_password_file.as_deref(),
        "PASSEUR_TO_PASSWORD",
        "destination",
    )?;
    let mut ok = true;
    let from_admin = a.src.from_admin.or(o.from_admin);
    let to_admin = a.dst.to_admin.or(o.to_admin);
    let mail_report = if o.with_mail {
        let src = account(&m.source, from_admin.clone(), src_pw.clone(), insecure)?;
        let dst = account(&m.destination, to_admin.clone(), dst_pw.clone(), insecure)?;
        let r = verify_mail(store, a.id, &src, &dst, &o.mail.rules).await?;
        ok &= r.ok();
        Some(r)
    } else {
        None
    };
    let dav_report = match &o.dav {
        Some(d) => {
            let (src, dst) = d.accounts(src_pw, dst_pw, insecure, (from_admin, to_admin))?;
            let r = verify_dav(store, a.id, &src, &dst, &d.kinds).await?;
            ok &= r.ok();
            Some(r)
        }
        None => None,
    };
    if a.json {
        match (&mail_report, &dav_report) {
            (Some(r), None) => println!("{}", serde_json::to_string_pretty(r)?),
            _ => println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "mail": mail_report, "dav": dav_report, "ok": ok,
                }))?
            ),
        }
    } else {
        if let Some(r) = &mail_report {
            print_mail_verify(r);
        }
        if let Some(r) = &dav_report {
            dav_args::print_verify(r);
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
        "{:<40} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6}",
        "folder", "source", "dest", "missing", "flags", "dates", "extra"
    );
    for f in &r.folders {
        println!(
            "{:<40} {:>8} {:>8} {:>8} {:>6} {:>6} {:>6}{}",
            f.folder,
            f.source_messages,
            f.destination_messages,
            f.missing,
            f.flags_differ,
            f.dates_differ,
            f.extra,
            if f.ok() { "" } else { "  DIFFERS" }
        );
    }
}
