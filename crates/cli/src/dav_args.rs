//! The contacts / calendars / tasks side of the command line: `--from-dav`, `--to-dav`,
//! `--content`, what a migration stores about them, and the reports.

use anyhow::{Result, bail};
use clap::Args;
use passeur_engine::{DavAccount, DavPassReport, DavPurgeReport, DavSpec, DavVerifyReport};
use passeur_types::{ContentKind, Endpoint};
use zeroize::Zeroizing;

/// DAV options of `migrate`.
#[derive(Args, Clone, Default)]
pub struct DavArgs {
    /// Source CalDAV/CardDAV server: http(s)://[LOGIN@]HOST[:PORT][/PATH], or a domain
    /// ([LOGIN@]example.org) whose server DNS names (RFC 6764 SRV/TXT, then the well-known
    /// URL). PASSEUR_DNS=IP:PORT picks the DNS server (default: the system's).
    #[arg(long)]
    pub from_dav: Option<String>,
    /// Destination CalDAV/CardDAV server, same form.
    #[arg(long)]
    pub to_dav: Option<String>,
    /// Source DAV login (default: the login in --from-dav, else the IMAP login of --from).
    #[arg(long)]
    pub from_dav_user: Option<String>,
    /// Destination DAV login (default: the login in --to-dav, else the IMAP login of --to).
    #[arg(long)]
    pub to_dav_user: Option<String>,
    /// What to move, comma-separated: mail,contacts,calendars,tasks (default: mail when
    /// --from/--to are given, plus contacts, calendars and tasks when both DAV URLs are).
    #[arg(long, value_delimiter = ',')]
    pub content: Vec<ContentKind>,
    /// Replace contacts/events on the destination that have the same UID but were not written
    /// by this migration (default: leave them and report a conflict).
    #[arg(long)]
    pub overwrite_conflicts: bool,
}

pub const DAV_KINDS: [ContentKind; 3] = [
    ContentKind::Contacts,
    ContentKind::Calendars,
    ContentKind::Tasks,
];

/// What `migrate` was asked to move: mail or not, and the DAV side.
pub struct Plan {
    pub mail: bool,
    pub dav: Option<DavSpec>,
}

fn login_of(imap: Option<&str>) -> String {
    imap.and_then(|u| Endpoint::parse(u).ok())
        .map(|e| e.login)
        .unwrap_or_default()
}

/// Resolves `--content`, the URLs and the DAV logins.
pub fn plan(from: Option<&str>, to: Option<&str>, a: &DavArgs) -> Result<Plan> {
    let both_dav = a.from_dav.is_some() && a.to_dav.is_some();
    let content: Vec<ContentKind> = if a.content.is_empty() {
        let mut c = Vec::new();
        if from.is_some() || to.is_some() {
            c.push(ContentKind::Mail);
        }
        if both_dav {
            c.extend(DAV_KINDS);
        }
        c
    } else {
        a.content.clone()
    };
    if content.is_empty() {
        bail!("nothing to migrate: give --from and --to (mail) and/or --from-dav and --to-dav");
    }
    let mail = content.contains(&ContentKind::Mail);
    if mail && (from.is_none() || to.is_none()) {
        bail!("mail needs both --from and --to (or leave mail out of --content)");
    }
    let mut kinds: Vec<ContentKind> = content
        .iter()
        .copied()
        .filter(|k| *k != ContentKind::Mail)
        .collect();
    kinds.sort();
    kinds.dedup();
    let dav = if kinds.is_empty() {
        None
    } else {
        let (Some(fd), Some(td)) = (&a.from_dav, &a.to_dav) else {
            bail!("contacts, calendars and tasks need both --from-dav and --to-dav");
        };
        let side = |url: &str, user: &Option<String>, imap: Option<&str>| -> Result<String> {
            let login = user.clone().unwrap_or_else(|| login_of(imap));
            let acc = DavAccount::parse(url, &login, Zeroizing::new(String::new()), false)?;
            Ok(acc.display_url())
        };
        Some(DavSpec {
            from: side(fd, &a.from_dav_user, from)?,
            to: side(td, &a.to_dav_user, to)?,
            kinds,
            overwrite_conflicts: a.overwrite_conflicts,
        })
    };
    Ok(Plan { mail, dav })
}

/// The DNS server `PASSEUR_DNS=IP:PORT` names for RFC 6764 discovery (`None`: the system's).
pub fn dns_server() -> Result<Option<std::net::SocketAddr>> {
    match std::env::var("PASSEUR_DNS").ok().filter(|v| !v.is_empty()) {
        Some(v) => match v.parse() {
            Ok(a) => Ok(Some(a)),
            Err(_) => bail!("PASSEUR_DNS={v:?}: expected IP:PORT"),
        },
        None => Ok(None),
    }
}

pub fn print_pass(r: &DavPassReport) {
    println!(
        "{:<40} {:>8} {:>8} {:>8} {:>8} {:>10} {:>6}",
        "collection", "listed", "copied", "updated", "same", "bytes", "failed"
    );
    for c in &r.collections {
        let kind = c.kind.map(|k| k.as_str()).unwrap_or("");
        let mut note = String::new();
        if c.created {
            note.push_str("  (created)");
        }
        if c.conflicts > 0 {
            note.push_str(&format!("  {} conflict(s)", c.conflicts));
        }
        if let Some(e) = &c.error {
            note.push_str(&format!("  ERROR: {e}"));
        }
        println!(
            "{:<40} {:>8} {:>8} {:>8} {:>8} {:>10} {:>6}{note}",
            format!("{kind}: {}", c.name),
            c.listed,
            c.copied + c.already_there,
            c.updated,
            c.unchanged,
            c.bytes,
            c.failed + c.conflicts,
        );
    }
    let c = r.counters;
    println!(
        "dav total: {} copied, {} updated ({} bytes), {} failed{}",
        c.copied,
        c.flags_updated,
        c.bytes,
        c.failed,
        if r.dry_run { " (dry run)" } else { "" }
    );
}

pub fn print_purge(r: &DavPurgeReport, dry_run: bool, from_pass: u32) {
    println!(
        "{} {} contact(s)/event(s)/task(s) copied in pass {from_pass} and later; {} already gone; {} left in place",
        if dry_run { "would delete" } else { "deleted" },
        r.deleted,
        r.gone,
        r.skipped
    );
    for n in &r.notes {
        println!("note: {n}");
    }
}

pub fn print_verify(r: &DavVerifyReport) {
    println!(
        "{:<40} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "collection", "source", "dest", "missing", "differ", "extra"
    );
    for c in &r.collections {
        let kind = c.kind.map(|k| k.as_str()).unwrap_or("");
        let note = if let Some(e) = &c.error {
            format!("  ERROR: {e}")
        } else if c.destination_missing {
            "  NOT ON THE DESTINATION".into()
        } else if !c.ok() {
            "  DIFFERS".into()
        } else {
            String::new()
        };
        println!(
            "{:<40} {:>8} {:>8} {:>8} {:>8} {:>6}{note}",
            format!("{kind}: {}", c.name),
            c.source_items,
            c.destination_items,
            c.missing.len(),
            c.differing.len(),
            c.extra
        );
        for m in c.missing.iter().take(20) {
            println!("  missing UID {m}");
        }
        for d in c.differing.iter().take(20) {
            println!("  differs: {d}");
        }
    }
}
