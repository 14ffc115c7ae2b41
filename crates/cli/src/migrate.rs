//! `passeur migrate` and `passeur sync`: a pass of an account-to-account migration.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Result, bail};
use passeur_engine::{
    AccountSpec, Control, EventSink, FolderRules, Limits, MailOptions, MigrationSpec, RunOptions,
    Runner, Secrets,
};
use passeur_types::{Endpoint, MigrationId, Protocol};

use crate::auth::both_passwords;
use crate::report::report_pass;
use crate::{
    DestAuth, MigrateArgs, RunArgs, SourceAuth, SyncArgs, allow_plaintext, dav_args, detect, oauth,
    progress,
};

/// The per-run options common to `migrate` and `sync` (never stored).
fn run_options(run: &RunArgs, src: &SourceAuth, dst: &DestAuth) -> Result<RunOptions> {
    Ok(RunOptions {
        dry_run: run.dry_run,
        ignore_daily_limits: run.ignore_daily_limits,
        full: run.full,
        connections: run.connections,
        bytes_in_flight: run.max_mib_in_flight.map(|m| m.max(1) << 20),
        batch_messages: None,
        batch_bytes: None,
        source_insecure_tls: run.insecure_tls || run.from_insecure_tls,
        destination_insecure_tls: run.insecure_tls || run.to_insecure_tls,
        from_admin: src.from_admin.clone(),
        to_admin: dst.to_admin.clone(),
        dns_server: dav_args::dns_server().unwrap_or(None),
        address_policy: Default::default(),
        allow_plaintext: allow_plaintext(),
        presets: crate::presets(),
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

/// The limits a new migration records. Three tuning knobs that have no flag are read from the
/// environment here (never inside the engine): `PASSEUR_SPLIT_FROM`, the number of messages
/// from which a folder is copied in parts, `PASSEUR_SPLIT_PARALLEL=1`, parts side by side, and
/// `PASSEUR_RECONCILE_CHUNK`, the UIDs a reconciliation matches at a time.
fn limits(run: &RunArgs, base: Limits) -> Limits {
    let env = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_string());
    Limits {
        connections: run.connections.unwrap_or(base.connections).max(1),
        bytes_in_flight: run
            .max_mib_in_flight
            .map(|m| m.max(1) << 20)
            .unwrap_or(base.bytes_in_flight),
        split_from: env("PASSEUR_SPLIT_FROM")
            .and_then(|v| v.parse().ok())
            .unwrap_or(base.split_from)
            .max(1),
        split_parallel: env("PASSEUR_SPLIT_PARALLEL").is_some_and(|v| v == "1" || v == "true"),
        reconcile_chunk: env("PASSEUR_RECONCILE_CHUNK")
            .and_then(|v| v.parse().ok())
            .unwrap_or(base.reconcile_chunk)
            .max(1),
        ..base
    }
}

pub(crate) async fn migrate(runner: &Runner, mut a: MigrateArgs) -> Result<ExitCode> {
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
    let mut limits = limits(&a.run, Limits::default());
    if let (true, Some(f), Some(t)) = (plan.mail, &a.from, &a.to) {
        check_pop3(&Endpoint::parse(f)?, &Endpoint::parse(t)?, &a)?;
        limits.connections = provider_connections(
            &[f.as_str(), t.as_str()],
            limits.connections,
            a.run.connections.is_some(),
        );
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
            limits,
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

/// The connections to open to each server of these account URLs: `connections`, capped at
/// the lowest documented limit of their providers (presets) unless the user gave the number
/// (`explicit`); says on stderr what was decided and why.
fn provider_connections(urls: &[&str], connections: usize, explicit: bool) -> usize {
    let hosts: Vec<String> = urls
        .iter()
        .filter_map(|u| Endpoint::of_recorded(u))
        .map(|e| e.host)
        .collect();
    let presets = crate::presets();
    let Some((cap, p)) = presets.connection_cap(hosts.iter().map(String::as_str)) else {
        return connections;
    };
    if connections <= cap {
        eprintln!(
            "connections: {connections} ({} documents at most {cap} per account)",
            p.name
        );
        connections
    } else if explicit {
        eprintln!(
            "warning: {connections} connections exceed the documented limit of {} ({cap} per \
             account): it may refuse logins or lock the account for a while",
            p.name
        );
        connections
    } else {
        eprintln!(
            "connections: {cap}, the documented limit of {} per account (--connections sets \
             another number)",
            p.name
        );
        cap
    }
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

pub(crate) async fn sync(runner: &Runner, a: SyncArgs) -> Result<ExitCode> {
    let (row, spec) = runner.load(a.id).await?;
    if let MigrationSpec::Accounts(s) = &spec
        && s.with_mail
    {
        // The number stored with the migration was the user's (or already capped) when it
        // was created: a provider's limit only warns here.
        let n = a.run.connections.unwrap_or(s.mail.limits.connections);
        provider_connections(&[row.source.as_str(), row.destination.as_str()], n, true);
    }
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
