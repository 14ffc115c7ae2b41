//! `passeur import FILE`: a PST/OST into an IMAP account (+ contacts, events, tasks into a DAV
//! account), or an .ics / .vcf into a DAV collection. Importing the same file into the same
//! destination again continues the same migration and copies nothing twice.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use passeur_engine::{
    Control, FileKind, ImportReport, ImportSpec, ImportTarget, ImportVerifyReport, MigrationSpec,
    PurgeOutcome, RunOptions, Runner, Secrets, file_source_id,
};
use passeur_types::Endpoint;

use crate::{DestAuth, exit_code, mb, password, progress};

#[derive(Args)]
pub struct ImportArgs {
    /// The file: .pst / .ost (mail, contacts, calendar, tasks), .ics or .vcf.
    file: PathBuf,
    /// Destination mail account: imap://, imap+starttls:// or imaps://LOGIN@HOST[:PORT].
    #[arg(long)]
    to: Option<String>,
    /// Destination CalDAV/CardDAV server or account URL (contacts, events, tasks). The login is
    /// the --to login, or the URL's user name.
    #[arg(long)]
    to_dav: Option<String>,
    /// Collection for an .ics / .vcf import (default: the file name without extension).
    #[arg(long)]
    collection: Option<String>,
    #[command(flatten)]
    dst: DestAuth,
    /// Accept self-signed or otherwise untrusted TLS certificates.
    #[arg(long)]
    insecure_tls: bool,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Print the final report as JSON.
    #[arg(long)]
    json: bool,
    /// Messages per APPEND batch (tests).
    #[arg(long, hide = true)]
    batch_messages: Option<usize>,
}

/// The DAV URL without user information, and the user name it carried.
fn split_dav_url(raw: &str) -> Result<(url::Url, Option<String>)> {
    let mut u = url::Url::parse(raw).with_context(|| format!("cannot parse the URL {raw:?}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        bail!("cannot use {raw:?}: a DAV URL starts with http:// or https://");
    }
    let user = (!u.username().is_empty()).then(|| {
        percent_encoding::percent_decode_str(u.username())
            .decode_utf8_lossy()
            .into_owned()
    });
    let _ = u.set_username("");
    let _ = u.set_password(None);
    Ok((u, user))
}

pub async fn import(runner: &Runner, a: ImportArgs) -> Result<ExitCode> {
    let format = FileKind::detect(&a.file).with_context(|| {
        format!(
            "cannot tell what {} is: expected a .pst/.ost, .ics or .vcf file",
            a.file.display()
        )
    })?;
    let (canon, src_id) = file_source_id(&a.file)?;
    let imap =
        a.to.as_deref()
            .map(Endpoint::parse)
            .transpose()?
            .map(|e| e.to_url());
    let dav = a.to_dav.as_deref().map(split_dav_url).transpose()?;
    let dav_user = match (&dav, &a.to) {
        (Some((_, Some(u))), _) => Some(u.clone()),
        (Some(_), Some(to)) => Some(Endpoint::parse(to)?.login),
        (Some(_), None) => bail!(
            "cannot log in to the DAV server: put the user in the --to-dav URL (https://USER@host/) or give --to"
        ),
        (None, _) => None,
    };
    let dav_url = dav.as_ref().map(|(u, _)| u.to_string());
    let collection = match format {
        FileKind::Pst => None,
        _ => Some(a.collection.clone().unwrap_or_else(|| {
            a.file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "Imported".into())
        })),
    };
    if format == FileKind::Pst && imap.is_none() && dav_url.is_none() {
        bail!(
            "cannot import a PST without a destination: give --to (and --to-dav for contacts and calendars)"
        );
    }
    if format != FileKind::Pst && dav_url.is_none() {
        bail!("cannot import {} without --to-dav URL", a.file.display());
    }
    let target = ImportTarget {
        file: canon.display().to_string(),
        format,
        imap,
        dav: dav_url,
        dav_user,
        collection,
    };
    let destination = target.destination();
    let spec = MigrationSpec::Import(ImportSpec {
        import: target,
        to_admin: a.dst.to_admin.clone(),
    });
    let (id, existed) = runner.create(&src_id, &destination, &spec, true).await?;
    if existed {
        eprintln!("continuing import {id}");
    }
    println!("migration {id}");

    let secrets = Secrets {
        source: None,
        // None is asked when the destination logs in with a token file.
        destination: Some(match &a.dst.to_token_file {
            Some(_) => zeroize::Zeroizing::new(String::new()),
            None => password(
                a.dst.to_password_file.as_deref(),
                "PASSEUR_TO_PASSWORD",
                "destination",
            )?,
        }),
    };
    let opts = RunOptions {
        allow_plaintext: crate::allow_plaintext(),
        presets: crate::presets(),
        batch_messages: a.batch_messages,
        destination_insecure_tls: a.insecure_tls,
        to_admin: a.dst.to_admin.clone(),
        dns_server: crate::dav_args::dns_server()?,
        // Renewed during the run and written back to its file, as for `migrate`.
        destination_oauth: a
            .dst
            .to_token_file
            .as_deref()
            .map(crate::oauth::token_source)
            .transpose()?,
        ..Default::default()
    };
    let cancel = progress::cancel_on_ctrl_c("items");
    let show = !a.no_progress && !a.json && std::io::stderr().is_terminal();
    let (events, prog) = progress::start(show);
    let result = runner
        .run_pass(id, &secrets, &opts, Control { events, cancel })
        .await;
    let _ = prog.await;
    let outcome = result?;
    let report = outcome
        .import
        .clone()
        .context("internal error: an import pass without an import report")?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(exit_code(outcome.outcome))
}

fn print_report(r: &ImportReport) {
    println!("pass {}", r.pass);
    println!(
        "{:<40} {:<9} {:>7} {:>7} {:>7} {:>10} {:>7} {:>6}",
        "folder", "kind", "items", "known", "copied", "bytes", "skipped", "failed"
    );
    for f in &r.folders {
        println!(
            "{:<40} {:<9} {:>7} {:>7} {:>7} {:>10} {:>7} {:>6}  -> {}",
            f.folder,
            f.kind,
            f.items,
            f.known,
            f.copied,
            mb(f.bytes),
            f.skipped,
            f.failed,
            f.dst
        );
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    let repaired: u64 = r.folders.iter().map(|f| f.repaired).sum();
    let warnings: u64 = r.folders.iter().map(|f| f.warnings).sum();
    if repaired > 0 || warnings > 0 {
        println!(
            "note: {repaired} item(s) repaired after the destination refused them, {warnings} reading warning(s); `passeur status` lists them"
        );
    }
    println!(
        "total: {} copied ({}), {} skipped, {} failed{}",
        r.copied(),
        mb(r.counters.bytes),
        r.skipped(),
        r.failed(),
        if r.cancelled {
            ", stopped before the end"
        } else {
            ""
        }
    );
}

/// Prints what the purge of an import did.
pub fn print_purge(r: &PurgeOutcome) {
    let mut notes: Vec<String> = Vec::new();
    if let Some(m) = &r.mail {
        notes.extend(m.notes.iter().cloned());
    }
    if let Some(d) = &r.dav {
        notes.extend(d.notes.iter().cloned());
        if d.gone > 0 {
            notes.push(format!(
                "{} contact(s)/event(s) were already gone from the destination",
                d.gone
            ));
        }
    }
    println!(
        "{} {} item(s) imported in pass {} and later; {} left in place",
        if r.dry_run { "would delete" } else { "deleted" },
        r.deleted(),
        r.from_pass,
        r.skipped()
    );
    for n in &notes {
        println!("note: {n}");
    }
}

pub fn print_verify(r: &ImportVerifyReport) {
    println!(
        "{:<40} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "folder", "imported", "found", "missing", "altered", "flags", "dates", "not imp."
    );
    for f in &r.folders {
        println!(
            "{:<40} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  -> {}",
            f.folder,
            f.imported,
            f.found,
            f.missing.len(),
            f.altered.len(),
            f.flags_differ.len(),
            f.dates_differ.len(),
            f.not_imported,
            f.dst
        );
        for (what, list) in [
            ("missing", &f.missing),
            ("altered", &f.altered),
            ("flags differ", &f.flags_differ),
            ("dates differ", &f.dates_differ),
            ("not imported", &f.left_out),
        ] {
            if !list.is_empty() {
                println!("    {what}: {}", list.join(", "));
            }
        }
    }
    println!(
        "{}",
        if r.ok() {
            "verify: OK"
        } else {
            "verify: DIFFERENCES FOUND"
        }
    );
}
