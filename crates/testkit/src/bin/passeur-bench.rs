//! `passeur-bench` — IMAP→IMAP migration benchmark: passeur against doveadm and mbsync.
//!
//! Normally run through `bench/run.sh`. For each corpus: a source Dovecot filled with
//! the seeded corpus, a destination Dovecot with `mail_fsync = never`; each tool copies
//! into a fresh destination user under `/usr/bin/time -v`, is re-run at once (no-op
//! resync), and the result is verified over IMAP against the source (folders, counts,
//! body SHA-256, flags+keywords, INTERNALDATE).
//!
//! usage: passeur-bench [--corpus small|c5000|s20000|s100k|s1m]... [--tools passeur,doveadm,mbsync]
//!                      [--passeur PATH] [--out DIR] [--runs N] [--compress]
//!
//! `--pop3` benchmarks POP3 -> IMAP instead: the corpus's messages all in the source INBOX,
//! read over POP3 by passeur and by `doveadm backup` with the `pop3c` storage (see
//! `bench/pop3.rs`).
//!
//! `--dest courier` copies into a private Courier-IMAP 5.0 instead (no LITERAL+, no
//! MULTIAPPEND, `INBOX.` prefix): passeur with one connection and with the default four, a
//! plain sequential copier (`bench/seqcopy.py`) and imapsync when supplied (see
//! `bench/courier.rs`).
//!
//! `--compress` loads imap_zlib (COMPRESS=DEFLATE) on both servers; off by default.
//! `--rawlog` records every IMAP session of the destination in `<corpus>/dst/rawlog/<user>/`
//! (Dovecot `rawlog_dir`), to see what a tool sent.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use passeur_testkit::corpus::{CorpusSpec, Profile};
use passeur_testkit::imapwire;
use passeur_testkit::verify::{self, AccountSnapshot};
use passeur_testkit::{Dovecot, DovecotOptions};

#[path = "bench/courier.rs"]
mod courier;
#[path = "bench/ingest.rs"]
mod ingest;
#[path = "bench/pop3.rs"]
mod pop3;

const USAGE: &str = "usage: passeur-bench [--corpus small|c5000|s20000|s100k|s1m]... \
[--tools passeur,doveadm,mbsync[,imapsync]] [--passeur PATH] [--passeur-old PATH] [--out DIR] [--runs N] [--compress] [--rawlog] [--pop3] [--dest dovecot|courier] [--ingest N]";

struct Args {
    corpora: Vec<String>,
    tools: Vec<String>,
    passeur: Option<PathBuf>,
    /// A second passeur binary (an older build), run as the tool `passeur-old` (POP3 case).
    passeur_old: Option<PathBuf>,
    out: PathBuf,
    runs: u32,
    compress: bool,
    rawlog: bool,
    /// POP3 -> IMAP instead of IMAP -> IMAP.
    pop3: bool,
    /// Copy into Courier-IMAP instead of Dovecot.
    courier: bool,
    /// Connections of the bare APPEND loop that measures the destination's own limit
    /// (0: not measured).
    ingest: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        corpora: Vec::new(),
        tools: vec!["passeur".into(), "doveadm".into(), "mbsync".into()],
        passeur: None,
        passeur_old: None,
        out: PathBuf::from("bench/out"),
        runs: 1,
        compress: false,
        rawlog: false,
        pop3: false,
        courier: false,
        ingest: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--corpus" => a.corpora.push(value()?),
            "--tools" => a.tools = value()?.split(',').map(str::to_string).collect(),
            "--passeur" => {
                let v = value()?;
                if !v.is_empty() {
                    a.passeur = Some(PathBuf::from(v));
                }
            }
            "--passeur-old" => a.passeur_old = Some(PathBuf::from(value()?)),
            "--out" => a.out = PathBuf::from(value()?),
            "--runs" => a.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--compress" => a.compress = true,
            "--rawlog" => a.rawlog = true,
            "--pop3" => a.pop3 = true,
            "--ingest" => a.ingest = value()?.parse().map_err(|e| format!("--ingest: {e}"))?,
            "--dest" => match value()?.as_str() {
                "dovecot" => a.courier = false,
                "courier" => a.courier = true,
                other => return Err(format!("--dest: unknown destination {other}")),
            },
            "-h" | "--help" => return Err(String::new()),
            other if !other.starts_with('-') => a.corpora.push(other.to_string()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.corpora.is_empty() {
        a.corpora.push("c5000".into());
    }
    Ok(a)
}

fn corpus_spec(name: &str) -> Result<CorpusSpec, String> {
    let (seed, count, profile) = match name {
        "c5000" => (42, 5000, Profile::Realistic),
        "s20000" => (43, 20000, Profile::Small),
        "small" => (7, 500, Profile::Realistic),
        // INBOX gets 29 % of every corpus (see `corpus::FOLDERS`): 29,000 here.
        "s100k" => (44, 100_000, Profile::Small),
        // Run by hand: about 5 GB per copy on disk (see bench/README.md).
        "s1m" => (45, 1_000_000, Profile::Small),
        other => {
            return Err(format!(
                "unknown corpus {other} (small, c5000, s20000, s100k, s1m)"
            ));
        }
    };
    Ok(CorpusSpec {
        seed,
        count,
        profile,
        ..CorpusSpec::default()
    })
}

/// Figures from `/usr/bin/time -v` plus the machine's CPU busy share during the run.
#[derive(Debug, Default, Clone)]
struct Timed {
    wall: f64,
    cpu: f64,
    rss_mb: f64,
    exit: i32,
    busy_pct: f64,
    stdout: String,
    stderr: String,
}

fn cpu_counters() -> (u64, u64) {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let nums: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = nums.iter().sum();
    let idle = nums.get(3).copied().unwrap_or(0) + nums.get(4).copied().unwrap_or(0);
    (total, idle)
}

fn parse_wall(v: &str) -> f64 {
    // h:mm:ss or m:ss.ss
    v.split(':')
        .map(|p| p.trim().parse::<f64>().unwrap_or(0.0))
        .fold(0.0, |acc, x| acc * 60.0 + x)
}

fn timed(program: &str, args: &[String], env: &[(&str, String)], log: &Path) -> io::Result<Timed> {
    let time_file = log.with_extension("time");
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-v")
        .arg("-o")
        .arg(&time_file)
        .arg(program)
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (t0, i0) = cpu_counters();
    let out = cmd.output()?;
    let (t1, i1) = cpu_counters();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    fs::write(
        log,
        format!(
            "$ {program} {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            args.join(" ")
        ),
    )?;
    let mut t = Timed {
        exit: out.status.code().unwrap_or(-1),
        stdout,
        stderr,
        ..Timed::default()
    };
    let dt = (t1 - t0).max(1);
    t.busy_pct = 100.0 * (dt - (i1 - i0).min(dt)) as f64 / dt as f64;
    let report = fs::read_to_string(&time_file).unwrap_or_default();
    for line in report.lines() {
        let line = line.trim();
        let Some((k, v)) = line.rsplit_once(": ") else {
            continue;
        };
        match k {
            "User time (seconds)" | "System time (seconds)" => {
                t.cpu += v.trim().parse::<f64>().unwrap_or(0.0);
            }
            "Maximum resident set size (kbytes)" => {
                t.rss_mb = v.trim().parse::<f64>().unwrap_or(0.0) / 1024.0;
            }
            "Exit status" => t.exit = v.trim().parse().unwrap_or(t.exit),
            _ if k.starts_with("Elapsed (wall clock) time") => t.wall = parse_wall(v),
            _ => {}
        }
    }
    Ok(t)
}

struct Row {
    tool: String,
    corpus: String,
    run: u32,
    full: Option<Timed>,
    noop: Option<Timed>,
    /// The resync after a small change on the source (new mail, changed flags).
    delta: Option<Timed>,
    verdict: String,
    exact: bool,
}

/// How to run a tool's synchronisation again (for the delta step).
struct Resync {
    program: String,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    log: PathBuf,
}

struct Ctx<'a> {
    src: &'a Dovecot,
    dst: &'a Dovecot,
    base: PathBuf,
    passeur: Option<PathBuf>,
}

/// Whether `passeur <sub> --help` succeeds and documents `must_mention` (a skeleton
/// binary that ignores its arguments must not count as available).
fn passeur_supports(bin: &Path, sub: &str, must_mention: &str) -> bool {
    Command::new(bin)
        .args([sub, "--help"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && (String::from_utf8_lossy(&o.stdout).contains(must_mention)
                    || String::from_utf8_lossy(&o.stderr).contains(must_mention))
        })
}

/// Runs `tool` into destination user `n`: (full run, no-op run, how to resync) or why it is
/// not available.
fn run_tool(ctx: &Ctx, tool: &str, n: u32) -> Result<(Timed, Timed, Resync), String> {
    let (dst_user, dst_pass) = ctx.dst.user(n);
    let work = ctx.base.join(format!("{tool}-{dst_user}"));
    fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let io = |e: io::Error| format!("cannot run {tool}: {e}");
    match tool {
        // `passeur-nosplit`: the same binary with folder splitting off (PASSEUR_SPLIT_FROM
        // above any folder), to see what splitting big folders across connections brings.
        "passeur" | "passeur-nosplit" => {
            let bin = ctx
                .passeur
                .clone()
                .filter(|b| b.exists())
                .ok_or("passeur: not available (no binary)")?;
            if !passeur_supports(&bin, "migrate", "--from") {
                return Err("passeur: not available (no `migrate` command yet)".into());
            }
            let bin_s = bin.display().to_string();
            let state = work.join("state");
            // PASSEUR_BENCH_ARGS: extra options for passeur (e.g. `--connections 2`), for tuning.
            let extra = std::env::var("PASSEUR_BENCH_ARGS").unwrap_or_default();
            let mut migrate: Vec<String> = vec![
                "migrate".into(),
                "--from".into(),
                format!("imap://user1@127.0.0.1:{}", ctx.src.imap_port),
                "--to".into(),
                format!("imap://{dst_user}@127.0.0.1:{}", ctx.dst.imap_port),
                "--state".into(),
                state.display().to_string(),
                "--no-progress".into(),
            ];
            migrate.extend(extra.split_whitespace().map(str::to_owned));
            let split_from = if tool == "passeur-nosplit" {
                u32::MAX.to_string()
            } else {
                std::env::var("PASSEUR_SPLIT_FROM").unwrap_or_else(|_| "2000".into())
            };
            let env = [
                ("PASSEUR_FROM_PASSWORD", "pass1".to_string()),
                ("PASSEUR_TO_PASSWORD", dst_pass),
                ("PASSEUR_SPLIT_FROM", split_from),
            ];
            let full = timed(&bin_s, &migrate, &env, &work.join("full.log")).map_err(io)?;
            let id = full
                .stdout
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("migration "))
                .map(|s| s.trim().to_string());
            let noop_args = match id {
                Some(id) if passeur_supports(&bin, "sync", "sync") => vec![
                    "sync".into(),
                    id,
                    "--state".into(),
                    state.display().to_string(),
                    "--no-progress".into(),
                ],
                _ => migrate.clone(),
            };
            let noop = timed(&bin_s, &noop_args, &env, &work.join("noop.log")).map_err(io)?;
            let resync = Resync {
                program: bin_s,
                args: noop_args,
                env: env.to_vec(),
                log: work.join("delta.log"),
            };
            Ok((full, noop, resync))
        }
        "doveadm" => {
            let args: Vec<String> = [
                "-c".to_string(),
                ctx.dst.conf_path().display().to_string(),
                "-o".into(),
                "imapc_host=127.0.0.1".into(),
                "-o".into(),
                format!("imapc_port={}", ctx.src.imap_port),
                "-o".into(),
                "imapc_user=user1".into(),
                "-o".into(),
                format!("imapc_master_user={}", ctx.src.master_user),
                "-o".into(),
                format!("imapc_password={}", ctx.src.master_password),
                "-o".into(),
                "imapc_features=rfc822.size fetch-headers".into(),
                "-o".into(),
                "mail_prefetch_count=20".into(),
                "backup".into(),
                "-R".into(),
                "-u".into(),
                dst_user,
                "imapc:".into(),
            ]
            .to_vec();
            let full = timed("doveadm", &args, &[], &work.join("full.log")).map_err(io)?;
            let noop = timed("doveadm", &args, &[], &work.join("noop.log")).map_err(io)?;
            let resync = Resync {
                program: "doveadm".into(),
                args,
                env: Vec::new(),
                log: work.join("delta.log"),
            };
            Ok((full, noop, resync))
        }
        "mbsync" => {
            if !Path::new("/usr/bin/mbsync").exists() {
                return Err("mbsync: not installed (apt-get install isync)".into());
            }
            let state = work.join("syncstate");
            fs::create_dir_all(&state).map_err(io)?;
            let rc = format!(
                "IMAPAccount src\nHost 127.0.0.1\nPort {sp}\nUser user1\nPass pass1\nSSLType None\nAuthMechs LOGIN\n\n\
                 IMAPStore src\nAccount src\n\n\
                 IMAPAccount dst\nHost 127.0.0.1\nPort {dp}\nUser {dst_user}\nPass {dst_pass}\nSSLType None\nAuthMechs LOGIN\n\n\
                 IMAPStore dst\nAccount dst\n\n\
                 Channel bench\nFar :src:\nNear :dst:\nPatterns *\nCreate Near\nSync Pull\nExpunge None\n\
                 CopyArrivalDate yes\nSyncState {st}/\n",
                sp = ctx.src.imap_port,
                dp = ctx.dst.imap_port,
                st = state.display()
            );
            let rc_path = work.join("mbsyncrc");
            fs::write(&rc_path, rc).map_err(io)?;
            let args = vec!["-c".to_string(), rc_path.display().to_string(), "-a".into()];
            let full = timed("mbsync", &args, &[], &work.join("full.log")).map_err(io)?;
            let noop = timed("mbsync", &args, &[], &work.join("noop.log")).map_err(io)?;
            let resync = Resync {
                program: "mbsync".into(),
                args,
                env: Vec::new(),
                log: work.join("delta.log"),
            };
            Ok((full, noop, resync))
        }
        "imapsync" => {
            // imapsync is not in Debian and is not ours to vendor: the operator supplies the
            // script (IMAPSYNC=/path, default /tmp/imapsync) and its Perl modules.
            let script = std::env::var("IMAPSYNC").unwrap_or_else(|_| "/tmp/imapsync".into());
            if !Path::new(&script).exists() {
                return Err(format!(
                    "imapsync: not available (no script at {script}; see bench/README.md)"
                ));
            }
            let tmp = work.join("tmp");
            fs::create_dir_all(&tmp).map_err(io)?;
            let args: Vec<String> = [
                script.as_str(),
                "--host1",
                "127.0.0.1",
                "--port1",
                &ctx.src.imap_port.to_string(),
                "--user1",
                "user1",
                "--password1",
                "pass1",
                "--host2",
                "127.0.0.1",
                "--port2",
                &ctx.dst.imap_port.to_string(),
                "--user2",
                &dst_user,
                "--password2",
                &dst_pass,
                "--nossl1",
                "--nossl2",
                "--notls1",
                "--notls2",
                "--noreleasecheck",
                "--tmpdir",
                &tmp.display().to_string(),
                "--logdir",
                &tmp.display().to_string(),
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
            let full = timed("perl", &args, &[], &work.join("full.log")).map_err(io)?;
            let noop = timed("perl", &args, &[], &work.join("noop.log")).map_err(io)?;
            let resync = Resync {
                program: "perl".into(),
                args,
                env: Vec::new(),
                log: work.join("delta.log"),
            };
            Ok((full, noop, resync))
        }
        other => Err(format!("{other}: unknown tool")),
    }
}

fn bench_corpus(args: &Args, name: &str, rows: &mut Vec<Row>) -> Result<(), String> {
    let spec = corpus_spec(name)?;
    let base = args.out.join(name);
    if base.exists() {
        fs::remove_dir_all(&base).map_err(|e| format!("cannot clean {}: {e}", base.display()))?;
    }
    fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    let base = base
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", base.display()))?;
    // One more user for the bare APPEND loop (the destination's own limit).
    let users = 3 + args.tools.len() as u32 * args.runs;
    // PASSEUR_BENCH_HOLD=FILE: after the setup, keep the servers up for runs by hand (profiling)
    // into users above the harness's own, until FILE is removed.
    let hold = std::env::var_os("PASSEUR_BENCH_HOLD").map(PathBuf::from);
    let spare = if hold.is_some() { 20 } else { 0 };
    let (users, spare_from) = (users + spare, users + 1);
    // No COMPRESS=DEFLATE by default: on loopback it only burns CPU (mbsync uses it when
    // offered, 13x its CPU time), and the baseline figures were taken without it.
    let src = Dovecot::start_in(
        &base.join("src"),
        DovecotOptions {
            compress: args.compress,
            ..DovecotOptions::default()
        },
    )
    .map_err(|e| format!("cannot start source Dovecot: {e}"))?;
    let dst = Dovecot::start_in(
        &base.join("dst"),
        DovecotOptions {
            users,
            fsync_never: true,
            compress: args.compress,
            extra_config: if args.rawlog {
                vec![format!(
                    "protocol imap {{\n  rawlog_dir = {}/dst/rawlog/%u\n}}",
                    base.display()
                )]
            } else {
                Vec::new()
            },
            ..DovecotOptions::default()
        },
    )
    .map_err(|e| format!("cannot start destination Dovecot: {e}"))?;
    if args.rawlog {
        for n in 1..=users {
            let dir = base.join("dst").join("rawlog").join(format!("user{n}"));
            fs::create_dir_all(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        dst.fix_ownership()
            .map_err(|e| format!("cannot chown: {e}"))?;
        let rawlog = base.join("dst").join("rawlog");
        let owner = fs::metadata(dst.dir.join("mail")).map_err(|e| e.to_string())?;
        use std::os::unix::fs::MetadataExt as _;
        for entry in walk(&rawlog) {
            let _ = std::os::unix::fs::chown(&entry, Some(owner.uid()), Some(owner.gid()));
        }
    }
    println!(
        "== {name}: source Dovecot 127.0.0.1:{}, destination (mail_fsync=never) 127.0.0.1:{}",
        src.imap_port, dst.imap_port
    );

    let t = Instant::now();
    let summary = src
        .write_corpus("user1", &spec)
        .map_err(|e| format!("cannot write corpus: {e}"))?;
    println!(
        "   corpus {name}: {} msgs, {} folders, {:.1} MB over IMAP, written in {:.1}s",
        summary.messages,
        summary.folders,
        summary.imap_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    // Flush the freshly written corpus so its writeback does not land in the first run.
    let _ = Command::new("sync").status();
    let t = Instant::now();
    let source: AccountSnapshot = verify::snapshot(&src.imap_addr(), "user1", "pass1")
        .map_err(|e| format!("cannot read source: {e}"))?;
    println!(
        "   source read over IMAP (cold): {} msgs, {:.1} MB in {:.2}s",
        source.messages(),
        source.bytes() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let floor = if args.ingest > 0 {
        match ingest::parallel_append(&dst, users, &spec, args.ingest) {
            Ok(secs) => {
                println!(
                    "   destination's own limit, {} connections (bare pipelined MULTIAPPEND \
                     loop, bodies in memory): {secs:.2}s",
                    args.ingest
                );
                Some((args.ingest, secs))
            }
            Err(e) => {
                println!("   cannot run the bare APPEND loop: {e}");
                None
            }
        }
    } else {
        None
    };
    if let Some(hold) = &hold {
        let note = format!(
            "source 127.0.0.1:{} user1/pass1\ndestination 127.0.0.1:{} users user{spare_from}..user{} (password passN)\n",
            src.imap_port,
            dst.imap_port,
            users - 1
        );
        fs::write(hold, &note).map_err(|e| format!("cannot write {}: {e}", hold.display()))?;
        println!(
            "   holding the servers until {} is removed:\n{note}",
            hold.display()
        );
        while hold.exists() {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
    let ctx = Ctx {
        src: &src,
        dst: &dst,
        base: base.clone(),
        passeur: args.passeur.clone(),
    };
    let mut next_user = 1;
    let mut resyncs: Vec<(usize, Resync, u32)> = Vec::new();
    for run in 1..=args.runs {
        for tool in &args.tools {
            let n = next_user;
            next_user += 1;
            print!("   {tool} run {run} -> user{n} ... ");
            let _ = io::Write::flush(&mut io::stdout());
            let row = match run_tool(&ctx, tool, n) {
                Err(why) => {
                    println!("{why}");
                    Row {
                        tool: tool.clone(),
                        corpus: name.into(),
                        run,
                        full: None,
                        noop: None,
                        delta: None,
                        verdict: why,
                        exact: false,
                    }
                }
                Ok((full, noop, resync)) => {
                    let (dst_user, dst_pass) = dst.user(n);
                    let verdict = match verify::snapshot(&dst.imap_addr(), &dst_user, &dst_pass) {
                        Ok(snap) => verify::compare(&source, &snap),
                        Err(e) => {
                            let v = format!("cannot verify: {e}");
                            println!("{v}");
                            rows.push(Row {
                                tool: tool.clone(),
                                corpus: name.into(),
                                run,
                                full: Some(full),
                                noop: Some(noop),
                                delta: None,
                                verdict: v,
                                exact: false,
                            });
                            continue;
                        }
                    };
                    let mut text = verdict.summary();
                    if full.exit != 0 {
                        text = format!("exit {}; {text}", full.exit);
                    }
                    println!(
                        "{:.2}s (no-op {:.2}s, {:.0} MB RSS, busy {:.0}%): {text}",
                        full.wall, noop.wall, full.rss_mb, full.busy_pct
                    );
                    if full.exit != 0 {
                        let tail: Vec<&str> = full.stderr.lines().rev().take(5).collect();
                        println!("      stderr: {}", tail.join(" | "));
                    }
                    resyncs.push((rows.len(), resync, n));
                    Row {
                        tool: tool.clone(),
                        corpus: name.into(),
                        run,
                        exact: verdict.is_exact() && full.exit == 0,
                        full: Some(full),
                        noop: Some(noop),
                        delta: None,
                        verdict: text,
                    }
                }
            };
            rows.push(row);
        }
    }
    if !resyncs.is_empty() {
        delta_step(&src, &dst, resyncs, rows)?;
    }
    let mb = source.bytes() as f64 / 1e6;
    let msgs = source.messages() as f64;
    let mut table = render(rows.iter().filter(|r| r.corpus == name), msgs, mb);
    if let Some((n, secs)) = floor {
        let _ = writeln!(
            table,
            "\ndestination's own limit with {n} connections (bare pipelined MULTIAPPEND loop, \
             bodies in memory): {secs:.2} s"
        );
        let best = rows
            .iter()
            .filter(|r| r.corpus == name && r.tool == "passeur")
            .filter_map(|r| r.full.as_ref().map(|f| f.wall))
            .fold(f64::INFINITY, f64::min);
        if best.is_finite() {
            let _ = writeln!(
                table,
                "\npasseur/destination-limit wall-time ratio: {:.2}",
                best / secs.max(0.001)
            );
        }
    }
    println!("\n{table}");
    let md = args.out.join("results.md");
    let mut prev = fs::read_to_string(&md).unwrap_or_default();
    let _ = writeln!(
        prev,
        "\n## {name} ({} msgs, {mb:.1} MB) — {}\n\n{table}",
        source.messages(),
        now_utc()
    );
    fs::write(&md, prev).map_err(|e| format!("cannot write {}: {e}", md.display()))?;
    append_tsv(
        &args.out.join("results.tsv"),
        rows.iter().filter(|r| r.corpus == name),
    )
    .map_err(|e| format!("cannot write results.tsv: {e}"))?;
    Ok(())
}

/// New mail in the source INBOX, added after the full runs.
const DELTA_NEW: usize = 10;
/// Messages of the source INBOX flagged after the full runs.
const DELTA_FLAGGED: usize = 20;

/// Changes the source a little (new messages in INBOX, \Flagged on some old ones), then times
/// each tool's resync of its own destination and verifies the result again.
fn delta_step(
    src: &Dovecot,
    dst: &Dovecot,
    resyncs: Vec<(usize, Resync, u32)>,
    rows: &mut [Row],
) -> Result<(), String> {
    let err = |e: io::Error| format!("cannot change the source for the delta step: {e}");
    let mut c = imapwire::Client::login(&src.imap_addr(), "user1", "pass1").map_err(err)?;
    c.select("INBOX", false).map_err(err)?;
    c.run(&format!(
        "STORE 1:{DELTA_FLAGGED} +FLAGS.SILENT (\\Flagged)"
    ))
    .map_err(err)?;
    let stamp = now_utc();
    for i in 0..DELTA_NEW {
        let msg = format!(
            "From: Delta Sender <delta@example.net>\r\nTo: user1@example.org\r\n\
             Subject: delta message {i}\r\nDate: Tue, 24 Nov 2026 09:00:00 +0000\r\n\
             Message-ID: <delta-{i}-{}@bench.passeur>\r\nX-Corpus-Id: delta-{i}\r\n\r\n\
             New mail that arrived after the first migration.\r\n",
            std::process::id()
        );
        c.append("INBOX", &["$Delta"], Some(&stamp), msg.as_bytes())
            .map_err(err)?;
    }
    c.logout();
    let source = verify::snapshot(&src.imap_addr(), "user1", "pass1")
        .map_err(|e| format!("cannot read source: {e}"))?;
    println!(
        "   delta: {DELTA_NEW} new messages and {DELTA_FLAGGED} flag changes in the source INBOX"
    );
    for (i, r, n) in resyncs {
        let row = &mut rows[i];
        print!("   {} run {} resync ... ", row.tool, row.run);
        let _ = io::Write::flush(&mut io::stdout());
        let t = timed(&r.program, &r.args, &r.env, &r.log)
            .map_err(|e| format!("cannot run {}: {e}", r.program))?;
        let (u, p) = dst.user(n);
        let text = match verify::snapshot(&dst.imap_addr(), &u, &p) {
            Ok(snap) => {
                let v = verify::compare(&source, &snap);
                row.exact &= v.is_exact() && t.exit == 0;
                v.summary()
            }
            Err(e) => {
                row.exact = false;
                format!("cannot verify: {e}")
            }
        };
        println!("{:.2}s: {text}", t.wall);
        row.verdict = format!("{}; after delta: {text}", row.verdict);
        row.delta = Some(t);
    }
    Ok(())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            out.extend(walk(&e.path()));
        }
    }
    out
}

fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    passeur_testkit::corpus::encode::imap_date(secs)
}

fn render<'a>(rows: impl Iterator<Item = &'a Row>, msgs: f64, mb: f64) -> String {
    let rows: Vec<&Row> = rows.collect();
    let mut t = String::from(
        "| tool | run | wall s | msgs/s | MB/s | peak RSS MB | tool CPU s | no-op s | delta s | busy % | verification |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        match (&r.full, &r.noop) {
            (Some(f), n) => {
                let _ = writeln!(
                    t,
                    "| {} | {} | {:.2} | {:.0} | {:.1} | {:.0} | {:.1} | {} | {} | {:.0} | {} |",
                    r.tool,
                    r.run,
                    f.wall,
                    msgs / f.wall.max(0.001),
                    mb / f.wall.max(0.001),
                    f.rss_mb,
                    f.cpu,
                    n.as_ref().map_or("–".into(), |n| format!("{:.2}", n.wall)),
                    r.delta
                        .as_ref()
                        .map_or("–".into(), |d| format!("{:.2}", d.wall)),
                    f.busy_pct,
                    r.verdict
                );
            }
            _ => {
                let _ = writeln!(
                    t,
                    "| {} | {} | – | – | – | – | – | – | – | – | {} |",
                    r.tool, r.run, r.verdict
                );
            }
        }
    }
    // passeur / peer ratios (best run each; < 1 means passeur is faster).
    let best = |tool: &str| {
        rows.iter()
            .filter(|r| r.tool == tool)
            .filter_map(|r| r.full.as_ref().map(|f| f.wall))
            .fold(None, |acc: Option<f64>, w| {
                Some(acc.map_or(w, |a| a.min(w)))
            })
    };
    for me in ["passeur", "passeur-nosplit"] {
        if let Some(p) = best(me) {
            for peer in ["doveadm", "mbsync", "imapsync", "seqcopy"] {
                if let Some(w) = best(peer) {
                    let _ = writeln!(t, "\n{me}/{peer} wall-time ratio: {:.2}", p / w);
                }
            }
        }
    }
    t
}

fn append_tsv<'a>(path: &Path, rows: impl Iterator<Item = &'a Row>) -> io::Result<()> {
    let mut text = fs::read_to_string(path).unwrap_or_else(|_| {
        "corpus\ttool\trun\twall_s\tcpu_s\tmaxrss_MB\texit\tnoop_s\tdelta_s\tbusy_pct\texact\tverification\n"
            .to_string()
    });
    for r in rows {
        let (w, c, m, e, b) = r
            .full
            .as_ref()
            .map_or((f64::NAN, f64::NAN, f64::NAN, -1, f64::NAN), |f| {
                (f.wall, f.cpu, f.rss_mb, f.exit, f.busy_pct)
            });
        let n = r.noop.as_ref().map_or(f64::NAN, |n| n.wall);
        let d = r.delta.as_ref().map_or(f64::NAN, |d| d.wall);
        let _ = writeln!(
            text,
            "{}\t{}\t{}\t{w:.2}\t{c:.2}\t{m:.1}\t{e}\t{n:.2}\t{d:.2}\t{b:.0}\t{}\t{}",
            r.corpus, r.tool, r.run, r.exact, r.verdict
        );
    }
    fs::write(path, text)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("passeur-bench: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = passeur_testkit::ensure_dovecot() {
        eprintln!("passeur-bench: {e}");
        return ExitCode::from(2);
    }
    if let Err(e) = fs::create_dir_all(&args.out) {
        eprintln!("passeur-bench: cannot create {}: {e}", args.out.display());
        return ExitCode::from(2);
    }
    let mut rows = Vec::new();
    for c in &args.corpora {
        let r = if args.pop3 {
            pop3::bench(&args, c, &mut rows)
        } else if args.courier {
            courier::bench(&args, c, &mut rows)
        } else {
            bench_corpus(&args, c, &mut rows)
        };
        if let Err(e) = r {
            eprintln!("passeur-bench: {e}");
            return ExitCode::FAILURE;
        }
    }
    println!("results: {}", args.out.join("results.md").display());
    ExitCode::SUCCESS
}
