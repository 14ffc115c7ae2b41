//! The report of a pass, and the exit code that says how it ended.

use std::process::ExitCode;

use anyhow::Result;
use passeur_engine::{Outcome, PassOutcome, PassReport};

use crate::dav_args;

/// Prints a pass's report; the exit code says how it ended.
pub(crate) fn report_pass(o: PassOutcome, json: bool) -> Result<ExitCode> {
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
    if let Some(s) = o.summary.as_ref().filter(|_| o.outcome == Outcome::Stopped) {
        eprintln!("{s}");
    }
    Ok(exit_code(o.outcome))
}

pub(crate) fn exit_code(o: Outcome) -> ExitCode {
    match o {
        Outcome::Done => ExitCode::SUCCESS,
        Outcome::Stopped => ExitCode::from(130),
        Outcome::Incomplete => ExitCode::from(2),
    }
}

pub(crate) fn mb(b: u64) -> String {
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
