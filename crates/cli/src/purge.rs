//! `passeur purge`: delete from the destination what a migration copied.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;
use passeur_engine::{Control, RunOptions, Runner};
use zeroize::Zeroizing;

use crate::auth::password;
use crate::{PurgeArgs, allow_plaintext, dav_args, import, oauth, progress};

pub(crate) async fn purge(runner: &Runner, a: PurgeArgs) -> Result<ExitCode> {
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
        presets: crate::presets(),
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
    // Ctrl-C stops between two deletions; what is deleted stays recorded.
    let cancel = progress::cancel_on_ctrl_c("deletions");
    let (events, bar) = progress::start(std::io::stderr().is_terminal());
    let r = runner
        .purge(
            a.id,
            a.from_pass,
            a.dry_run,
            pw,
            &opts,
            Control { events, cancel },
        )
        .await;
    let _ = bar.await;
    let r = r?;
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
    if r.stopped() {
        println!("stopped before the end: run the purge again to delete the rest");
        return Ok(ExitCode::from(130));
    }
    Ok(if r.skipped() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
