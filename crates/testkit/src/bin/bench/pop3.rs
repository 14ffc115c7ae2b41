//! The POP3 case of `passeur-bench`: a source Dovecot whose INBOX holds the whole seeded
//! corpus, read over POP3, into a fresh user of a destination Dovecot (IMAP), by passeur and by
//! `doveadm backup` with Dovecot's `pop3c` storage, in the same invocation.
//!
//! POP3 has no folders, flags or dates, so the verdict compares the INBOX bodies only: the
//! multiset of SHA-256 of the source's INBOX against the destination's.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::Path;
use std::time::{Duration, Instant, UNIX_EPOCH};

use passeur_testkit::corpus::{self, CorpusSpec};
use passeur_testkit::verify;
use passeur_testkit::{Dovecot, DovecotOptions};

use super::{Args, Resync, Row, Timed, corpus_spec, now_utc, passeur_supports, render, timed};

/// Writes the corpus's messages, all into `user`'s INBOX (the only mailbox POP3 shows).
fn write_inbox(dc: &Dovecot, user: &str, spec: &CorpusSpec) -> io::Result<(usize, u64)> {
    let md = dc.maildir(user);
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(md.join(sub))?;
    }
    let (mut n, mut bytes) = (0, 0);
    for g in corpus::generate(spec) {
        let name = format!(
            "{}.S{}N{}.passeur,S={},W={}:2,",
            g.item.internal_date,
            spec.seed,
            n,
            g.raw.len(),
            g.item.size
        );
        let mut f = File::create(md.join("cur").join(name))?;
        f.write_all(&g.raw)?;
        let when =
            UNIX_EPOCH + Duration::from_secs(u64::try_from(g.item.internal_date).unwrap_or(0));
        f.set_times(fs::FileTimes::new().set_modified(when))?;
        n += 1;
        bytes += g.item.size;
    }
    dc.resync(user)?;
    Ok((n, bytes))
}

/// SHA-256 → count of `user`'s INBOX.
fn inbox(dc: &Dovecot, user: &str, password: &str) -> Result<BTreeMap<String, usize>, String> {
    let snap = verify::snapshot(&dc.imap_addr(), user, password)
        .map_err(|e| format!("cannot read {user}: {e}"))?;
    let mut out = BTreeMap::new();
    for m in snap.folders.get("INBOX").into_iter().flatten() {
        *out.entry(m.sha256.clone()).or_insert(0) += 1;
    }
    Ok(out)
}

/// "exact", or what differs.
fn verdict(want: &BTreeMap<String, usize>, got: &BTreeMap<String, usize>) -> (bool, String) {
    let (mut missing, mut extra) = (0usize, 0usize);
    for (h, n) in want {
        missing += n.saturating_sub(got.get(h).copied().unwrap_or(0));
    }
    for (h, n) in got {
        extra += n.saturating_sub(want.get(h).copied().unwrap_or(0));
    }
    if missing == 0 && extra == 0 {
        (true, "exact (INBOX bodies)".into())
    } else {
        (
            false,
            format!("{missing} missing, {extra} extra or duplicated"),
        )
    }
}

/// passeur or doveadm (pop3c) into destination user `n`: the full run, the no-op run, and how
/// to run it again.
fn run_tool(
    tool: &str,
    src: &Dovecot,
    dst: &Dovecot,
    n: u32,
    base: &Path,
    passeur: Option<&Path>,
) -> Result<(Timed, Timed, Resync), String> {
    let (dst_user, dst_pass) = dst.user(n);
    let work = base.join(format!("{tool}-{dst_user}"));
    fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let io = |e: io::Error| format!("cannot run {tool}: {e}");
    let pop3_port = src.pop3_port.ok_or("the source has no POP3")?;
    match tool {
        "passeur" | "passeur-old" => {
            let bin = passeur
                .filter(|b| b.exists())
                .ok_or("passeur: not available (no binary)")?;
            if !passeur_supports(bin, "migrate", "pop3") {
                return Err("passeur: not available (no POP3 source yet)".into());
            }
            let bin_s = bin.display().to_string();
            let state = work.join("state").display().to_string();
            let extra = std::env::var("PASSEUR_BENCH_ARGS").unwrap_or_default();
            let mut migrate: Vec<String> = vec![
                "migrate".into(),
                "--from".into(),
                format!("pop3://user1@127.0.0.1:{pop3_port}"),
                "--to".into(),
                format!("imap://{dst_user}@127.0.0.1:{}", dst.imap_port),
                "--state".into(),
                state.clone(),
                "--no-progress".into(),
            ];
            migrate.extend(extra.split_whitespace().map(str::to_owned));
            let env = vec![
                ("PASSEUR_FROM_PASSWORD", "pass1".to_string()),
                ("PASSEUR_TO_PASSWORD", dst_pass),
            ];
            let full = timed(&bin_s, &migrate, &env, &work.join("full.log")).map_err(io)?;
            let id = full
                .stdout
                .lines()
                .find_map(|l| l.strip_prefix("migration "))
                .map(|s| s.trim().to_string())
                .ok_or_else(|| format!("passeur gave no migration ID: {}", full.stderr.trim()))?;
            let args: Vec<String> = vec![
                "sync".into(),
                id,
                "--state".into(),
                state,
                "--no-progress".into(),
            ];
            let noop = timed(&bin_s, &args, &env, &work.join("noop.log")).map_err(io)?;
            Ok((
                full,
                noop,
                Resync {
                    program: bin_s,
                    args,
                    env,
                    log: work.join("delta.log"),
                },
            ))
        }
        "doveadm" => {
            // dsync with the pop3c storage as the remote side: `backup -R` makes the user's
            // mailbox a copy of the POP3 account (only its INBOX exists there). pop3c needs
            // index files of its own (`pop3c:~/pop3c`): with none (`pop3c:`) its INBOX gets a
            // new UIDVALIDITY each session, and a re-run empties the copy or copies nothing.
            let args: Vec<String> = vec![
                "-c".into(),
                dst.conf_path().display().to_string(),
                "-o".into(),
                "pop3c_host=127.0.0.1".into(),
                "-o".into(),
                format!("pop3c_port={pop3_port}"),
                "-o".into(),
                "pop3c_user=user1".into(),
                "-o".into(),
                "pop3c_password=pass1".into(),
                "-o".into(),
                "pop3c_ssl=no".into(),
                "backup".into(),
                "-R".into(),
                "-u".into(),
                dst_user,
                "pop3c:~/pop3c".into(),
            ];
            let full = timed("doveadm", &args, &[], &work.join("full.log")).map_err(io)?;
            let noop = timed("doveadm", &args, &[], &work.join("noop.log")).map_err(io)?;
            Ok((
                full,
                noop,
                Resync {
                    program: "doveadm".into(),
                    args,
                    env: Vec::new(),
                    log: work.join("delta.log"),
                },
            ))
        }
        other => Err(format!(
            "{other}: not a POP3 tool (passeur, passeur-old, doveadm)"
        )),
    }
}

/// The POP3 benchmark of corpus `name` (its messages all in the source INBOX).
pub fn bench(args: &Args, name: &str, rows: &mut Vec<Row>) -> Result<(), String> {
    let spec = corpus_spec(name)?;
    let label = format!("pop3-{name}");
    let base = args.out.join(&label);
    if base.exists() {
        fs::remove_dir_all(&base).map_err(|e| format!("cannot clean {}: {e}", base.display()))?;
    }
    fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    let base = base
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", base.display()))?;
    let tools: Vec<&str> = args
        .tools
        .iter()
        .map(String::as_str)
        .filter(|t| matches!(*t, "passeur" | "passeur-old" | "doveadm"))
        .collect();
    let users = 2 + tools.len() as u32 * args.runs;
    let src = Dovecot::start_in(
        &base.join("src"),
        DovecotOptions {
            pop3: true,
            ..DovecotOptions::default()
        },
    )
    .map_err(|e| format!("cannot start the source Dovecot: {e}"))?;
    let dst = Dovecot::start_in(
        &base.join("dst"),
        DovecotOptions {
            users,
            fsync_never: true,
            ..DovecotOptions::default()
        },
    )
    .map_err(|e| format!("cannot start the destination Dovecot: {e}"))?;
    let t = Instant::now();
    let (count, bytes) =
        write_inbox(&src, "user1", &spec).map_err(|e| format!("cannot write the corpus: {e}"))?;
    println!(
        "== {label}: {count} msgs, {:.1} MB in the source INBOX (written in {:.1}s); POP3 \
         127.0.0.1:{} -> IMAP 127.0.0.1:{}",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        src.pop3_port.unwrap_or(0),
        dst.imap_port
    );
    let _ = std::process::Command::new("sync").status();
    let want = inbox(&src, "user1", "pass1")?;
    let mut resyncs = Vec::new();
    let mut next_user = 1;
    for run in 1..=args.runs {
        for tool in &tools {
            let n = next_user;
            next_user += 1;
            print!("   {tool} run {run} -> user{n} ... ");
            let _ = io::stdout().flush();
            let mut row = Row {
                tool: (*tool).into(),
                corpus: label.clone(),
                run,
                full: None,
                noop: None,
                delta: None,
                verdict: String::new(),
                exact: false,
            };
            // `passeur-old`: the same runs with an older build (`--passeur-old`).
            let bin = match *tool {
                "passeur-old" => args.passeur_old.as_deref(),
                _ => args.passeur.as_deref(),
            };
            match run_tool(tool, &src, &dst, n, &base, bin) {
                Err(why) => {
                    println!("{why}");
                    row.verdict = why;
                }
                Ok((full, noop, resync)) => {
                    let (u, p) = dst.user(n);
                    let (exact, mut text) = match inbox(&dst, &u, &p) {
                        Ok(got) => verdict(&want, &got),
                        Err(e) => (false, e),
                    };
                    if full.exit != 0 {
                        text = format!("exit {}; {text}", full.exit);
                        let tail: Vec<&str> = full.stderr.lines().rev().take(5).collect();
                        println!("      stderr: {}", tail.join(" | "));
                    }
                    println!(
                        "{:.2}s (no-op {:.2}s, {:.0} MB RSS, busy {:.0}%): {text}",
                        full.wall, noop.wall, full.rss_mb, full.busy_pct
                    );
                    row.exact = exact && full.exit == 0;
                    row.verdict = text;
                    row.full = Some(full);
                    row.noop = Some(noop);
                    resyncs.push((rows.len(), resync, n));
                }
            }
            rows.push(row);
        }
    }
    delta(&src, &dst, resyncs, rows)?;
    let mb = bytes as f64 / 1e6;
    let table = render(rows.iter().filter(|r| r.corpus == label), count as f64, mb);
    println!("\n{table}");
    let md = args.out.join("results.md");
    let mut prev = fs::read_to_string(&md).unwrap_or_default();
    prev.push_str(&format!(
        "\n## {label} (POP3 -> IMAP, {count} msgs, {mb:.1} MB) — {}\n\n{table}",
        now_utc()
    ));
    fs::write(&md, prev).map_err(|e| format!("cannot write {}: {e}", md.display()))?;
    super::append_tsv(
        &args.out.join("results.tsv"),
        rows.iter().filter(|r| r.corpus == label),
    )
    .map_err(|e| format!("cannot write results.tsv: {e}"))
}

/// New mail in the POP3 INBOX, then each tool's resync, verified again.
fn delta(
    src: &Dovecot,
    dst: &Dovecot,
    resyncs: Vec<(usize, Resync, u32)>,
    rows: &mut [Row],
) -> Result<(), String> {
    let md = src.maildir("user1");
    for i in 0..super::DELTA_NEW {
        let msg = format!(
            "From: Delta Sender <delta@example.net>\nTo: user1@example.org\n\
             Subject: delta message {i}\nDate: Tue, 24 Nov 2026 09:00:00 +0000\n\
             Message-ID: <pop3-delta-{i}-{}@bench.passeur>\n\nNew mail.\n",
            std::process::id()
        );
        fs::write(md.join("new").join(format!("1800000000.D{i}.bench")), msg)
            .map_err(|e| format!("cannot add new mail: {e}"))?;
    }
    src.resync("user1")
        .map_err(|e| format!("cannot resync the source: {e}"))?;
    let want = inbox(src, "user1", "pass1")?;
    println!(
        "   delta: {} new messages in the POP3 INBOX",
        super::DELTA_NEW
    );
    for (i, r, n) in resyncs {
        let row = &mut rows[i];
        print!("   {} run {} resync ... ", row.tool, row.run);
        let _ = io::stdout().flush();
        let t = timed(&r.program, &r.args, &r.env, &r.log)
            .map_err(|e| format!("cannot run {}: {e}", r.program))?;
        let (u, p) = dst.user(n);
        let (exact, text) = match inbox(dst, &u, &p) {
            Ok(got) => verdict(&want, &got),
            Err(e) => (false, e),
        };
        row.exact &= exact && t.exit == 0;
        println!("{:.2}s: {text}", t.wall);
        row.verdict = format!("{}; after delta: {text}", row.verdict);
        row.delta = Some(t);
    }
    Ok(())
}
