//! `passeur verify`: compare the source and the destination of a migration.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Result, bail};
use passeur_engine::{Control, RunOptions, Runner, Secrets};

use crate::auth::{both_passwords, password};
use crate::{VerifyArgs, allow_plaintext, dav_args, import, oauth, progress};

pub(crate) async fn verify(runner: &Runner, a: VerifyArgs) -> Result<ExitCode> {
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
        presets: crate::presets(),
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
    let cancel = progress::cancel_on_ctrl_c("folder in progress");
    let (events, bar) = progress::start(!a.json && std::io::stderr().is_terminal());
    let r = runner
        .verify(
            a.id,
            &secrets,
            &opts,
            a.file.as_deref(),
            Control { events, cancel },
        )
        .await;
    let _ = bar.await;
    let r = r?;
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
            } else if r.stopped() {
                "verify: STOPPED before every folder was compared"
            } else {
                "verify: DIFFERENCES FOUND"
            }
        );
    }
    if r.stopped() {
        return Ok(ExitCode::from(130));
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
