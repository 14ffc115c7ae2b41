//! `passeur import FILE`: a PST/OST into an IMAP account (+ contacts, events, tasks into a DAV
//! account), or an .ics / .vcf into a DAV collection. Importing the same file into the same
//! destination again continues the same migration and copies nothing twice.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use passeur_dav::DavClient;
use passeur_engine::{
    DavAccount, FileKind, ImportOptions, ImportReport, ImportVerifyReport, PurgeReport, Side,
    purge_dav_with, purge_mail, run_file_import, run_pst_import, verify_dav_import,
    verify_pst_import,
};
use passeur_store::{PassCounters, Store};
use passeur_types::{Endpoint, MigrationId, Status};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{DestAuth, PurgeArgs, VerifyArgs, account, mb, password, progress};

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

/// What an import migration remembers (no secret).
#[derive(Serialize, Deserialize, Clone)]
struct ImportStored {
    import: ImportTarget,
    to_admin: Option<String>,
    insecure_tls: bool,
}

#[derive(Serialize, Deserialize, Clone)]
struct ImportTarget {
    file: String,
    format: FileKind,
    /// IMAP destination URL (no secret).
    imap: Option<String>,
    /// DAV base URL, without user information.
    dav: Option<String>,
    dav_user: Option<String>,
    collection: Option<String>,
}

/// `file:<canonical path>#<sha256 of the first MiB>:<size>`: the same file imported again is
/// the same migration; a changed file of the same name is another.
fn source_id(path: &Path) -> Result<(PathBuf, String)> {
    let canon = path
        .canonicalize()
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut f =
        std::fs::File::open(&canon).with_context(|| format!("cannot open {}", canon.display()))?;
    let size = f.metadata()?.len();
    let mut head = Vec::with_capacity(1 << 20);
    f.by_ref()
        .take(1 << 20)
        .read_to_end(&mut head)
        .with_context(|| format!("cannot read {}", canon.display()))?;
    let hash = hex::encode(Sha256::digest(&head));
    let id = format!("file:{}#{hash}:{size}", canon.display());
    Ok((canon, id))
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

/// The DAV client of an import's destination; with `admin`, logged in as the admin on behalf
/// of `user` (as `--to-admin` does for IMAP).
async fn dav_client(
    base: &str,
    user: &str,
    pw: &Zeroizing<String>,
    insecure: bool,
    admin: Option<String>,
) -> Result<DavClient> {
    let acc = DavAccount::parse(base, user, pw.clone(), insecure)?
        .with_admin(admin)
        .with_dns(crate::dav_args::dns_server()?);
    Ok(acc.connect(Side::Destination).await?)
}

pub async fn import(store: &Store, a: ImportArgs) -> Result<ExitCode> {
    let format = FileKind::detect(&a.file).with_context(|| {
        format!(
            "cannot tell what {} is: expected a .pst/.ost, .ics or .vcf file",
            a.file.display()
        )
    })?;
    let (canon, src_id) = source_id(&a.file)?;
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
    let destination = match format {
        FileKind::Pst => {
            if imap.is_none() && dav_url.is_none() {
                bail!(
                    "cannot import a PST without a destination: give --to (and --to-dav for contacts and calendars)"
                );
            }
            [imap.clone(), dav_url.clone().map(|d| format!("dav:{d}"))]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        }
        _ => {
            let Some(d) = &dav_url else {
                bail!("cannot import {} without --to-dav URL", a.file.display());
            };
            format!("dav:{d}#{}", collection.as_deref().unwrap_or_default())
        }
    };
    let stored = ImportStored {
        import: ImportTarget {
            file: canon.display().to_string(),
            format,
            imap: imap.clone(),
            dav: dav_url.clone(),
            dav_user: dav_user.clone(),
            collection: collection.clone(),
        },
        to_admin: a.dst.to_admin.clone(),
        insecure_tls: a.insecure_tls,
    };
    let options = serde_json::to_string(&stored)?;
    let id = match store.find_migration(&src_id, &destination).await? {
        Some(m) => {
            eprintln!("continuing import {}", m.id);
            store.set_options(m.id, &options).await?;
            m.id
        }
        None => {
            let id = MigrationId::random();
            store
                .create_migration(id, &src_id, &destination, &options)
                .await?;
            id
        }
    };
    println!("migration {id}");

    let pw = password(
        a.dst.to_password_file.as_deref(),
        "PASSEUR_TO_PASSWORD",
        "destination",
    )?;
    let mail = match &imap {
        Some(u) => Some(account(
            u,
            a.dst.to_admin.clone(),
            pw.clone(),
            a.insecure_tls,
        )?),
        None => None,
    };
    let davc = match (&dav_url, &dav_user) {
        (Some(u), Some(user)) => {
            Some(dav_client(u, user, &pw, a.insecure_tls, a.dst.to_admin.clone()).await?)
        }
        _ => None,
    };
    let mut opts = ImportOptions::default();
    if let Some(n) = a.batch_messages {
        opts.batch_messages = n.max(1);
    }

    let cancel = progress::cancel_on_ctrl_c("items");
    let show = !a.no_progress && !a.json && std::io::stderr().is_terminal();
    let (events, prog) = progress::start(show);
    store.set_status(id, Status::Running, None).await?;
    let pass = store.begin_pass(id).await?;
    let result = match format {
        FileKind::Pst => {
            run_pst_import(
                store,
                id,
                pass,
                &canon,
                mail.as_ref(),
                davc.as_ref(),
                &opts,
                &events,
                &cancel,
            )
            .await
        }
        _ => match &davc {
            Some(d) => {
                run_file_import(
                    store,
                    id,
                    pass,
                    &canon,
                    d,
                    collection.as_deref().unwrap_or("Imported"),
                    &opts,
                    &events,
                    &cancel,
                )
                .await
            }
            None => bail!("cannot import without --to-dav"),
        },
    };
    drop(events);
    let _ = prog.await;
    let report = match result {
        Ok(r) => r,
        Err(e) => {
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
            bail!(e);
        }
    };
    let (status, pass_status) = if report.cancelled {
        (Status::Stopped, "stopped")
    } else if report.complete() {
        (Status::Done, "done")
    } else {
        (Status::Failed, "incomplete")
    };
    let err = (!report.complete() && !report.cancelled)
        .then(|| format!("{} item(s) could not be imported", report.failed()));
    store
        .update_pass(
            id,
            pass,
            report.counters,
            Some((pass_status, err.as_deref())),
        )
        .await?;
    store.set_status(id, status, err.as_deref()).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.cancelled {
        ExitCode::from(130)
    } else if report.complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
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

/// Whether migration `id` is a file import.
pub async fn is_import(store: &Store, id: MigrationId) -> Result<bool> {
    Ok(store.migration(id).await?.source.starts_with("file:"))
}

/// `passeur purge` of an import: the mail by UID, the contacts/events by href.
pub async fn purge(store: &Store, a: PurgeArgs) -> Result<ExitCode> {
    let m = store.migration(a.id).await?;
    let o: ImportStored =
        serde_json::from_str(&m.options).context("cannot read the import's options")?;
    let pw = password(
        a.dst.to_password_file.as_deref(),
        "PASSEUR_TO_PASSWORD",
        "destination",
    )?;
    let insecure = a.insecure_tls || o.insecure_tls;
    let admin = a.dst.to_admin.clone().or(o.to_admin.clone());
    let from = a.from_pass.max(1);
    let mut total = PurgeReport::default();
    if let Some(u) = &o.import.imap {
        let acc = account(
            u,
            a.dst.to_admin.clone().or(o.to_admin.clone()),
            pw.clone(),
            insecure,
        )?;
        let r = purge_mail(store, a.id, &acc, from, a.dry_run, false).await?;
        total.deleted += r.deleted;
        total.skipped += r.skipped;
        total.notes.extend(r.notes);
    }
    if let (Some(u), Some(user)) = (&o.import.dav, &o.import.dav_user) {
        let c = dav_client(u, user, &pw, insecure, admin.clone()).await?;
        let r = purge_dav_with(store, a.id, &c, from, a.dry_run, false).await?;
        total.deleted += r.deleted;
        total.skipped += r.skipped;
        total.notes.extend(r.notes);
        if r.gone > 0 {
            total.notes.push(format!(
                "{} contact(s)/event(s) were already gone from the destination",
                r.gone
            ));
        }
    }
    println!(
        "{} {} item(s) imported in pass {from} and later; {} left in place",
        if a.dry_run { "would delete" } else { "deleted" },
        total.deleted,
        total.skipped
    );
    for n in &total.notes {
        println!("note: {n}");
    }
    Ok(if total.skipped == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// `passeur verify` of an import: the destination against what the file yields (read again).
pub async fn verify(store: &Store, a: VerifyArgs) -> Result<ExitCode> {
    let m = store.migration(a.id).await?;
    let o: ImportStored =
        serde_json::from_str(&m.options).context("cannot read the import's options")?;
    let file = a
        .file
        .clone()
        .unwrap_or_else(|| PathBuf::from(&o.import.file));
    // The file must be the one imported: the same size and first MiB (and the same path,
    // unless --file names where it is now).
    let content = |sid: &str| sid.rsplit_once('#').map(|(_, c)| c.to_owned());
    match source_id(&file) {
        Ok((_, sid)) if sid == m.source => {}
        Ok((_, sid)) if a.file.is_some() && content(&sid) == content(&m.source) => {}
        Ok(_) => bail!(
            "cannot verify: {} is not the file imported ({}), or it changed since",
            file.display(),
            o.import.file
        ),
        Err(e) => bail!("cannot verify without the imported file: {e:#} (give --file if it moved)"),
    }
    let pw = password(
        a.dst.to_password_file.as_deref(),
        "PASSEUR_TO_PASSWORD",
        "destination",
    )?;
    let insecure = a.insecure_tls || o.insecure_tls;
    let admin = a.dst.to_admin.clone().or(o.to_admin.clone());
    let davc = match (&o.import.dav, &o.import.dav_user) {
        (Some(u), Some(user)) => Some(dav_client(u, user, &pw, insecure, admin.clone()).await?),
        _ => None,
    };
    let report = match o.import.format {
        FileKind::Pst => {
            let mail = match &o.import.imap {
                Some(u) => Some(account(
                    u,
                    a.dst.to_admin.clone().or(o.to_admin.clone()),
                    pw.clone(),
                    insecure,
                )?),
                None => None,
            };
            verify_pst_import(store, a.id, &file, mail.as_ref(), davc.as_ref()).await?
        }
        _ => match &davc {
            Some(c) => verify_dav_import(store, a.id, &file, c).await?,
            None => bail!("cannot verify: the import has no DAV destination"),
        },
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_verify(&report);
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn print_verify(r: &ImportVerifyReport) {
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
