//! `passeur-corpus --seed 42 --count 5000 --profile realistic --maildir DIR/mail/user1/Maildir`
//!
//! Writes the seeded corpus into a Maildir++ tree. If Dovecot already opened the account,
//! run `doveadm force-resync -u USER '*'` afterwards (and, as root, chown the tree to the
//! mail owner).

use std::path::PathBuf;
use std::process::ExitCode;

use passeur_testkit::corpus::{CorpusSpec, Profile, write_maildir};

const USAGE: &str = "usage: passeur-corpus --maildir DIR [--seed N] [--count N] \
[--profile realistic|small] [--big-attachment BYTES] [--inbox-prefix]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("passeur-corpus: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut spec = CorpusSpec {
        seed: 42,
        count: 5000,
        profile: Profile::Realistic,
        ..CorpusSpec::default()
    };
    let mut maildir: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--seed" => spec.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--count" => spec.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--profile" => spec.profile = value()?.parse()?,
            "--maildir" => maildir = Some(PathBuf::from(value()?)),
            "--big-attachment" => {
                spec.big_attachment = Some(
                    value()?
                        .parse()
                        .map_err(|e| format!("--big-attachment: {e}"))?,
                );
            }
            "--inbox-prefix" => spec.inbox_prefix = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let root = maildir.ok_or("--maildir is required")?;
    let s = write_maildir(&root, &spec).map_err(|e| format!("cannot write corpus: {e}"))?;
    println!(
        "{} messages, {} folders, {:.1} MB on disk, {:.1} MB over IMAP -> {}",
        s.messages,
        s.folders,
        s.bytes as f64 / 1e6,
        s.imap_bytes as f64 / 1e6,
        root.display()
    );
    Ok(())
}
