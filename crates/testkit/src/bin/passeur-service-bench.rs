//! passeur-service-bench: the service under load (bench/service.sh runs it).
//!
//! Starts a private source Dovecot with N users of M messages each (seeded corpus) and, per
//! configuration, a fresh destination Dovecot (`mail_fsync = never`); then:
//!
//! - **cli**: `passeur migrate` on the first K accounts one after another (time per account);
//! - **sqlite-W**: `passeur serve --workers W` on the embedded store: N migrations queued at
//!   once through the API; total time, accounts per minute, peak RSS of `serve`, and the GET
//!   latency (p50, p99) measured by a client polling while the migrations run;
//! - **pg-1w / pg-2w**: `serve --workers 0` on PostgreSQL plus 1 or 2 `passeur worker`
//!   processes of W workers each;
//! - **serve-1k-queued**: `serve --workers 0` with 1,000 migrations queued: peak RSS.
//!
//! Every migration must end `done` with the source's item count; the destination of a sample
//! of accounts is checked message for message (count per folder). Prints a Markdown table.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use passeur_testkit::corpus::CorpusSpec;
use passeur_testkit::{Dovecot, DovecotOptions, PgTestDb};

struct Args {
    passeur: PathBuf,
    accounts: u32,
    messages: usize,
    workers: usize,
    cli_accounts: u32,
    only: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        passeur: PathBuf::from("target/release/passeur"),
        accounts: 500,
        messages: 100,
        workers: 8,
        cli_accounts: 10,
        only: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--passeur" => a.passeur = PathBuf::from(v()?),
            "--accounts" => a.accounts = v()?.parse().map_err(|e| format!("{k}: {e}"))?,
            "--messages" => a.messages = v()?.parse().map_err(|e| format!("{k}: {e}"))?,
            "--workers" => a.workers = v()?.parse().map_err(|e| format!("{k}: {e}"))?,
            "--cli-accounts" => a.cli_accounts = v()?.parse().map_err(|e| format!("{k}: {e}"))?,
            "--only" => a.only = v()?.split(',').map(str::to_string).collect(),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn http(
    addr: &str,
    method: &str,
    path: &str,
    account: Option<&str>,
    body: &str,
) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(a) = account {
        req.push_str(&format!("X-Passeur-Account: {a}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    let status = out
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or("no HTTP status")?;
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn spawn(bin: &Path, args: &[String]) -> Child {
    Command::new(bin)
        .args(args)
        .env_remove("PASSEUR_STATE")
        .env_remove("PASSEUR_DATABASE")
        .env("PASSEUR_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run passeur")
}

fn serve(bin: &Path, args: &[String]) -> (Child, String) {
    let mut all: Vec<String> = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--allow-private-addresses",
        "--host-limit",
        "256",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    all.extend_from_slice(args);
    let mut child = spawn(bin, &all);
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("passeur is serving on http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("serve said {line:?}"))
        .to_string();
    (child, addr)
}

/// Peak resident memory of a live process, in MB.
fn peak_rss_mb(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn stop(mut c: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &c.id().to_string()])
        .status();
    let _ = c.wait();
}

fn url(dc: &Dovecot, n: u32) -> String {
    format!("imap://user{n}@127.0.0.1:{}", dc.imap_port)
}

fn create_body(src: &Dovecot, dst: &Dovecot, n: u32) -> String {
    format!(
        r#"{{"source":{{"url":"{}","password":"pass{n}"}},"destination":{{"url":"{}","password":"pass{n}"}}}}"#,
        url(src, n),
        url(dst, n)
    )
}

fn id_of(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v["id"].as_str().unwrap_or_default().to_string()
}

struct Row {
    config: String,
    accounts: u32,
    wall: f64,
    per_minute: f64,
    per_account: f64,
    rss_serve: f64,
    rss_workers: f64,
    p50: f64,
    p99: f64,
    check: String,
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// The destination of `n` matches the source folder by folder (message counts).
fn same_counts(src: &Dovecot, dst: &Dovecot, n: u32) -> bool {
    let counts = |dc: &Dovecot| -> String {
        let user = format!("user{n}");
        dc.doveadm(&[
            "-f", "flow", "mailbox", "status", "-u", &user, "messages", "*",
        ])
        .map(|o| {
            let mut l: Vec<String> = String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect();
            l.sort();
            l.join("\n")
        })
        .unwrap_or_default()
    };
    let (a, b) = (counts(src), counts(dst));
    !a.is_empty() && a == b
}

/// Queues the accounts through `addr`, polls GETs while they run, waits for the end.
fn run_service(
    args: &Args,
    addr: &str,
    src: &Dovecot,
    dst: &Dovecot,
    n: u32,
) -> Result<(f64, Vec<f64>, Vec<String>), String> {
    let start = Instant::now();
    let mut ids = Vec::new();
    for i in 1..=n {
        let (st, body) = http(
            addr,
            "POST",
            "/api/v1/migrations",
            None,
            &create_body(src, dst, i),
        )?;
        if st != 201 {
            return Err(format!("create {i}: {st} {body}"));
        }
        ids.push(id_of(&body));
    }
    let done = Arc::new(AtomicBool::new(false));
    let poller = {
        let (addr, ids, done) = (addr.to_string(), ids.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut lat = Vec::new();
            let mut i = 0usize;
            while !done.load(Ordering::Relaxed) {
                let k = i % ids.len();
                let t = Instant::now();
                let acc = format!("user{}", k + 1);
                if http(
                    &addr,
                    "GET",
                    &format!("/api/v1/migrations/{}", ids[k]),
                    Some(&acc),
                    "",
                )
                .is_ok()
                {
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            lat
        })
    };
    // Wait until no pass job waits or runs.
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let (_, m) = http(addr, "GET", "/metrics", None, "")?;
        let n_state = |s: &str| -> u64 {
            m.lines()
                .find_map(|l| l.strip_prefix(&format!("passeur_jobs{{state=\"{s}\"}} ")))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        let completed = n_state("completed") + n_state("failed");
        if completed >= u64::from(n) && n_state("queued") + n_state("running") == 0 {
            break;
        }
        if start.elapsed() > Duration::from_secs(3600) {
            return Err("not done within an hour".into());
        }
    }
    let wall = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let lat = poller.join().unwrap();
    // Every migration done with the source's count.
    let mut bad = Vec::new();
    for (k, id) in ids.iter().enumerate() {
        let acc = format!("user{}", k + 1);
        let (_, body) = http(
            addr,
            "GET",
            &format!("/api/v1/migrations/{id}"),
            Some(&acc),
            "",
        )?;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if v["status"] != "done" || v["items"].as_u64() != Some(args.messages as u64) {
            bad.push(format!("{acc}: {} items {}", v["status"], v["items"]));
        }
    }
    Ok((wall, lat, bad))
}

fn check_sample(src: &Dovecot, dst: &Dovecot, n: u32, bad: &[String]) -> String {
    let sample: Vec<u32> = (1..=n).step_by((n as usize / 10).max(1)).collect();
    let wrong: Vec<u32> = sample
        .iter()
        .copied()
        .filter(|u| !same_counts(src, dst, *u))
        .collect();
    if bad.is_empty() && wrong.is_empty() {
        format!("all done, {} sampled exact", sample.len())
    } else {
        format!(
            "FAILED: {} not done ({:?}), sample mismatches {wrong:?}",
            bad.len(),
            bad.iter().take(3).collect::<Vec<_>>()
        )
    }
}

fn dst_dovecot(n: u32) -> Dovecot {
    Dovecot::start(DovecotOptions {
        users: n,
        fsync_never: true,
        ..Default::default()
    })
    .expect("destination dovecot")
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("passeur-service-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let want = |c: &str| args.only.is_empty() || args.only.iter().any(|o| o == c);
    let n = args.accounts;
    eprintln!("== source: {n} accounts x {} messages", args.messages);
    let src = Dovecot::start(DovecotOptions {
        users: n.max(1000),
        ..Default::default()
    })
    .expect("source dovecot");
    let t = Instant::now();
    for u in 1..=n {
        let spec = CorpusSpec {
            seed: u64::from(u),
            count: args.messages,
            ..Default::default()
        };
        src.write_corpus(&format!("user{u}"), &spec)
            .expect("corpus");
    }
    eprintln!("   filled in {:.1} s", t.elapsed().as_secs_f64());
    let mut rows = Vec::new();
    let w = args.workers.to_string();

    if want("cli") {
        let dst = dst_dovecot(args.cli_accounts);
        let state = tempfile::tempdir().unwrap();
        let start = Instant::now();
        for u in 1..=args.cli_accounts {
            let out = Command::new(&args.passeur)
                .args([
                    "--state",
                    state.path().to_str().unwrap(),
                    "migrate",
                    "--from",
                    &url(&src, u),
                    "--to",
                    &url(&dst, u),
                    "--no-progress",
                ])
                .env("PASSEUR_FROM_PASSWORD", format!("pass{u}"))
                .env("PASSEUR_TO_PASSWORD", format!("pass{u}"))
                .output()
                .expect("passeur migrate");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let wall = start.elapsed().as_secs_f64();
        let k = args.cli_accounts;
        rows.push(Row {
            config: "cli, one account after another".into(),
            accounts: k,
            wall,
            per_minute: f64::from(k) * 60.0 / wall,
            per_account: wall / f64::from(k),
            rss_serve: 0.0,
            rss_workers: 0.0,
            p50: 0.0,
            p99: 0.0,
            check: check_sample(&src, &dst, k, &[]),
        });
        // The same accounts through the service with one worker.
        let dst = dst_dovecot(k);
        let state = tempfile::tempdir().unwrap();
        let (serve_p, addr) = serve(
            &args.passeur,
            &[
                "--state".into(),
                state.path().display().to_string(),
                "--workers".into(),
                "1".into(),
            ],
        );
        let (wall, mut lat, bad) = run_service(&args, &addr, &src, &dst, k).expect("service run");
        rows.push(Row {
            config: "serve --workers 1 (same accounts)".into(),
            accounts: k,
            wall,
            per_minute: f64::from(k) * 60.0 / wall,
            per_account: wall / f64::from(k),
            rss_serve: peak_rss_mb(serve_p.id()),
            rss_workers: 0.0,
            p50: percentile(&mut lat, 0.5),
            p99: percentile(&mut lat, 0.99),
            check: check_sample(&src, &dst, k, &bad),
        });
        stop(serve_p);
    }

    if want("sqlite") {
        let dst = dst_dovecot(n);
        let state = tempfile::tempdir().unwrap();
        let (serve_p, addr) = serve(
            &args.passeur,
            &[
                "--state".into(),
                state.path().display().to_string(),
                "--workers".into(),
                w.clone(),
            ],
        );
        let (wall, mut lat, bad) = run_service(&args, &addr, &src, &dst, n).expect("service run");
        rows.push(Row {
            config: format!("serve --workers {w}, SQLite"),
            accounts: n,
            wall,
            per_minute: f64::from(n) * 60.0 / wall,
            per_account: wall / f64::from(n),
            rss_serve: peak_rss_mb(serve_p.id()),
            rss_workers: 0.0,
            p50: percentile(&mut lat, 0.5),
            p99: percentile(&mut lat, 0.99),
            check: check_sample(&src, &dst, n, &bad),
        });
        stop(serve_p);
    }

    for procs in [1usize, 2] {
        if !want(&format!("pg{procs}")) {
            continue;
        }
        let db = match PgTestDb::create() {
            Ok(db) => db,
            Err(e) => {
                eprintln!("   PostgreSQL unavailable ({e}): pg rows skipped");
                break;
            }
        };
        let dst = dst_dovecot(n);
        let state = tempfile::tempdir().unwrap();
        let key = state.path().join("secret.key");
        let common = |extra: &[&str]| -> Vec<String> {
            let mut v: Vec<String> = vec![
                "--state".into(),
                state.path().display().to_string(),
                "--database".into(),
                db.url(),
            ];
            v.extend(extra.iter().map(|s| s.to_string()));
            v
        };
        let (serve_p, addr) = serve(
            &args.passeur,
            &common(&["--workers", "0", "--secret-key-file", key.to_str().unwrap()]),
        );
        let workers: Vec<Child> = (0..procs)
            .map(|_| {
                spawn(
                    &args.passeur,
                    &common(&[
                        "worker",
                        "--secret-key-file",
                        key.to_str().unwrap(),
                        "--workers",
                        &w,
                        "--allow-private-addresses",
                        "--host-limit",
                        "256",
                    ]),
                )
            })
            .collect();
        let (wall, mut lat, bad) = run_service(&args, &addr, &src, &dst, n).expect("service run");
        let rss_workers = workers
            .iter()
            .map(|c| peak_rss_mb(c.id()))
            .fold(0.0, f64::max);
        rows.push(Row {
            config: format!("serve --workers 0 + {procs} worker process(es) x {w}, PostgreSQL"),
            accounts: n,
            wall,
            per_minute: f64::from(n) * 60.0 / wall,
            per_account: wall / f64::from(n),
            rss_serve: peak_rss_mb(serve_p.id()),
            rss_workers,
            p50: percentile(&mut lat, 0.5),
            p99: percentile(&mut lat, 0.99),
            check: check_sample(&src, &dst, n, &bad),
        });
        for c in workers {
            stop(c);
        }
        stop(serve_p);
    }

    if want("queued") {
        let dst = dst_dovecot(4);
        let state = tempfile::tempdir().unwrap();
        let (serve_p, addr) = serve(
            &args.passeur,
            &[
                "--state".into(),
                state.path().display().to_string(),
                "--workers".into(),
                "0".into(),
            ],
        );
        let start = Instant::now();
        for i in 0..1000u32 {
            let u = i % n.max(1) + 1;
            let (st, body) = http(
                &addr,
                "POST",
                "/api/v1/migrations",
                None,
                &create_body(&src, &dst, u),
            )
            .expect("create");
            assert_eq!(st, 201, "{body}");
        }
        let wall = start.elapsed().as_secs_f64();
        rows.push(Row {
            config: "serve --workers 0, 1,000 migrations queued".into(),
            accounts: 1000,
            wall,
            per_minute: 1000.0 * 60.0 / wall,
            per_account: wall / 1000.0,
            rss_serve: peak_rss_mb(serve_p.id()),
            rss_workers: 0.0,
            p50: 0.0,
            p99: 0.0,
            check: "queued only (creation rate)".into(),
        });
        stop(serve_p);
    }

    println!(
        "\n| configuration | accounts | wall s | accounts/min | s per account | peak RSS serve MB | peak RSS worker MB | GET p50 ms | GET p99 ms | check |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.1} | {:.0} | {:.2} | {:.0} | {} | {:.1} | {:.1} | {} |",
            r.config,
            r.accounts,
            r.wall,
            r.per_minute,
            r.per_account,
            r.rss_serve,
            if r.rss_workers > 0.0 {
                format!("{:.0}", r.rss_workers)
            } else {
                "–".into()
            },
            r.p50,
            r.p99,
            r.check
        );
    }
    if rows.iter().any(|r| r.check.starts_with("FAILED")) {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
