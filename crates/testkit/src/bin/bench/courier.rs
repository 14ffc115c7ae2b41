//! The Courier case of `passeur-bench` (`--dest courier`): a source Dovecot filled with the
//! seeded corpus, a destination Courier-IMAP 5.0 (no LITERAL+, no MULTIAPPEND, `INBOX.` prefix
//! with separator `.`), each tool into a fresh Courier user in the same invocation:
//!
//! * `passeur` with `--connections 1`, and `passeur-c4` with the default 4 connections;
//! * `seqcopy`: `bench/seqcopy.py`, a plain sequential copier (Python imaplib, TCP_NODELAY,
//!   one connection per side, every command waits for its reply);
//! * `imapsync` when its script is supplied (`IMAPSYNC=/path`, default `/tmp/imapsync`).
//!
//! The verdict compares the destination with the source over IMAP after mapping Courier's
//! names back (`INBOX.Sent` is the source's `Sent`).

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;
use std::time::Instant;

use passeur_testkit::verify::{self, AccountSnapshot};
use passeur_testkit::{Courier, Dovecot, DovecotOptions};

use super::{Args, Row, Timed, corpus_spec, now_utc, passeur_supports, render, timed};

/// The tools this case knows, in the order they run.
const TOOLS: &[&str] = &["passeur", "passeur-c4", "seqcopy", "imapsync"];

/// `user`'s account on Courier with the names mapped back to the source's: `INBOX.X` → `X`,
/// except where the source itself has `INBOX/X`.
fn courier_snapshot(
    dst: &Courier,
    n: u32,
    source: &AccountSnapshot,
) -> Result<AccountSnapshot, String> {
    let (u, p) = dst.user(n);
    let snap =
        verify::snapshot(&dst.imap_addr(), &u, &p).map_err(|e| format!("cannot read {u}: {e}"))?;
    // Two names may map to one (imapsync creates `INBOX.INBOX` as the parent of
    // `INBOX.INBOX.Newsletters`): their messages are pooled.
    let mut folders: std::collections::BTreeMap<String, Vec<_>> = Default::default();
    for (name, msgs) in snap.folders {
        let mapped = if name == "INBOX" || source.folders.contains_key(&name) {
            name
        } else {
            name.strip_prefix("INBOX/").unwrap_or(&name).to_owned()
        };
        folders.entry(mapped).or_default().extend(msgs);
    }
    Ok(AccountSnapshot {
        folders,
        noselect: snap.noselect,
        delimiter: snap.delimiter,
    })
}

/// The destination's own limit with one connection: the corpus's folders CREATEd and its
/// messages APPENDed one after the other (each into its folder, with its flags, keywords and
/// date) into Courier user `n` over a bare socket (TCP_NODELAY; each command line,
/// its `+`, the body, its OK), bodies already in memory. No copier can go faster on one
/// connection. Returns the seconds taken.
fn raw_append(
    dst: &Courier,
    n: u32,
    spec: &passeur_testkit::corpus::CorpusSpec,
) -> io::Result<f64> {
    use passeur_testkit::corpus::{self, encode};
    use passeur_testkit::imapwire::quote;
    use std::io::{BufRead, BufReader};
    // Each message into its own folder, with its flags, keywords and date, as a copier sends it.
    let wire = |name: &str| {
        let dotted = name.replace('/', ".");
        let full = if name == "INBOX" || name.starts_with("INBOX/") {
            dotted
        } else {
            format!("INBOX.{dotted}")
        };
        quote(&encode::mutf7_encode(&full))
    };
    let messages: Vec<(String, String, Vec<u8>)> = corpus::generate(spec)
        .map(|g| {
            let flags: Vec<&str> = g
                .item
                .flags
                .iter()
                .chain(&g.item.keywords)
                .map(String::as_str)
                .collect();
            let args = format!(
                "({}) \"{}\"",
                flags.join(" "),
                encode::imap_date(g.item.internal_date)
            );
            let mut body = corpus::to_crlf(&g.raw);
            body.extend_from_slice(b"\r\n");
            (wire(&g.item.folder), args, body)
        })
        .collect();
    let mut folders: Vec<&str> = messages
        .iter()
        .map(|(f, _, _)| f.as_str())
        .filter(|f| *f != "\"INBOX\"")
        .collect();
    folders.sort_unstable();
    folders.dedup();
    let stream = std::net::TcpStream::connect(dst.imap_addr())?;
    stream.set_nodelay(true)?;
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    let read_line = |r: &mut BufReader<std::net::TcpStream>, line: &mut String| {
        line.clear();
        r.read_line(line).and_then(|k| {
            if k == 0 {
                Err(io::Error::other("Courier closed the connection"))
            } else {
                Ok(())
            }
        })
    };
    read_line(&mut r, &mut line)?;
    let (u, p) = dst.user(n);
    w.write_all(format!("l LOGIN {u} {p}\r\n").as_bytes())?;
    read_line(&mut r, &mut line)?;
    if !line.starts_with("l OK") {
        return Err(io::Error::other(format!("LOGIN: {line}")));
    }
    let t = Instant::now();
    for (i, folder) in folders.iter().enumerate() {
        w.write_all(format!("c{i} CREATE {folder}\r\n").as_bytes())?;
        let tag = format!("c{i} ");
        loop {
            read_line(&mut r, &mut line)?;
            if line.starts_with(&tag) {
                break;
            }
        }
    }
    for (i, (folder, args, body)) in messages.iter().enumerate() {
        // `body` ends with the CRLF that ends the command line.
        let len = body.len() - 2;
        w.write_all(format!("a{i} APPEND {folder} {args} {{{len}}}\r\n").as_bytes())?;
        read_line(&mut r, &mut line)?;
        if !line.starts_with('+') {
            return Err(io::Error::other(format!("APPEND: {line}")));
        }
        w.write_all(body)?;
        let tag = format!("a{i} ");
        loop {
            read_line(&mut r, &mut line)?;
            if line.starts_with(&tag) {
                break;
            }
        }
        if !line[tag.len()..].starts_with("OK") {
            return Err(io::Error::other(format!("APPEND: {line}")));
        }
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Runs `tool` into Courier user `n`: the full run and, for tools that keep state, the no-op run.
fn run_tool(
    tool: &str,
    src: &Dovecot,
    dst: &Courier,
    n: u32,
    base: &Path,
    passeur: Option<&Path>,
) -> Result<(Timed, Option<Timed>), String> {
    let (dst_user, dst_pass) = dst.user(n);
    let work = base.join(format!("{tool}-{dst_user}"));
    fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let io = |e: io::Error| format!("cannot run {tool}: {e}");
    match tool {
        "passeur" | "passeur-c4" => {
            let bin = passeur
                .filter(|b| b.exists())
                .ok_or("passeur: not available (no binary)")?;
            if !passeur_supports(bin, "migrate", "--from") {
                return Err("passeur: not available (no `migrate` command yet)".into());
            }
            let bin_s = bin.display().to_string();
            let mut migrate: Vec<String> = vec![
                "migrate".into(),
                "--from".into(),
                format!("imap://user1@127.0.0.1:{}", src.imap_port),
                "--to".into(),
                format!("imap://{dst_user}@127.0.0.1:{}", dst.imap_port),
                "--state".into(),
                work.join("state").display().to_string(),
                "--no-progress".into(),
            ];
            if tool == "passeur" {
                migrate.extend(["--connections".into(), "1".into()]);
            }
            let extra = std::env::var("PASSEUR_BENCH_ARGS").unwrap_or_default();
            migrate.extend(extra.split_whitespace().map(str::to_owned));
            let env = [
                ("PASSEUR_FROM_PASSWORD", "pass1".to_string()),
                ("PASSEUR_TO_PASSWORD", dst_pass),
            ];
            let full = timed(&bin_s, &migrate, &env, &work.join("full.log")).map_err(io)?;
            let noop = timed(&bin_s, &migrate, &env, &work.join("noop.log")).map_err(io)?;
            Ok((full, Some(noop)))
        }
        "seqcopy" => {
            let script = std::env::var("SEQCOPY").unwrap_or_else(|_| "bench/seqcopy.py".into());
            if !Path::new(&script).exists() {
                return Err(format!("seqcopy: not available (no script at {script})"));
            }
            let args: Vec<String> = vec![
                script,
                src.imap_addr(),
                "user1".into(),
                "pass1".into(),
                dst.imap_addr(),
                dst_user,
                dst_pass,
            ];
            let full = timed("python3", &args, &[], &work.join("full.log")).map_err(io)?;
            Ok((full, None))
        }
        "imapsync" => {
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
                &src.imap_port.to_string(),
                "--user1",
                "user1",
                "--password1",
                "pass1",
                "--host2",
                "127.0.0.1",
                "--port2",
                &dst.imap_port.to_string(),
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
            Ok((full, Some(noop)))
        }
        other => Err(format!(
            "{other}: not a tool of the Courier case ({})",
            TOOLS.join(", ")
        )),
    }
}

/// The Courier benchmark of corpus `name`.
pub fn bench(args: &Args, name: &str, rows: &mut Vec<Row>) -> Result<(), String> {
    passeur_testkit::ensure_courier()?;
    let spec = corpus_spec(name)?;
    let label = format!("courier-{name}");
    let base = args.out.join(&label);
    if base.exists() {
        fs::remove_dir_all(&base).map_err(|e| format!("cannot clean {}: {e}", base.display()))?;
    }
    fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    let base = base
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", base.display()))?;
    // `--tools` names the peers; passeur runs with one connection and with the default.
    let mut tools: Vec<&str> = Vec::new();
    for t in &args.tools {
        match t.as_str() {
            "passeur" => tools.extend(["passeur", "passeur-c4"]),
            t if TOOLS.contains(&t) => tools.push(t),
            _ => {}
        }
    }
    if !tools.contains(&"seqcopy") {
        tools.push("seqcopy");
    }
    if !tools.contains(&"imapsync") {
        tools.push("imapsync");
    }
    // One more user for the raw APPEND loop.
    let users = tools.len() as u32 * args.runs + 1;
    let src = Dovecot::start_in(
        &base.join("src"),
        DovecotOptions {
            compress: args.compress,
            ..DovecotOptions::default()
        },
    )
    .map_err(|e| format!("cannot start the source Dovecot: {e}"))?;
    let dst = Courier::start(users).map_err(|e| format!("cannot start Courier-IMAP: {e}"))?;
    let t = Instant::now();
    let summary = src
        .write_corpus("user1", &spec)
        .map_err(|e| format!("cannot write the corpus: {e}"))?;
    println!(
        "== {label}: source Dovecot 127.0.0.1:{}, destination Courier-IMAP 127.0.0.1:{}; \
         corpus {} msgs, {:.1} MB, written in {:.1}s",
        src.imap_port,
        dst.imap_port,
        summary.messages,
        summary.imap_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let _ = std::process::Command::new("sync").status();
    let source = verify::snapshot(&src.imap_addr(), "user1", "pass1")
        .map_err(|e| format!("cannot read the source: {e}"))?;
    let mut next_user = 2;
    let floor = match raw_append(&dst, 1, &spec) {
        Ok(secs) => {
            println!(
                "   Courier's own limit, one connection (a bare APPEND loop, bodies in memory): \
                 {secs:.2}s"
            );
            Some(secs)
        }
        Err(e) => {
            println!("   cannot run the bare APPEND loop: {e}");
            None
        }
    };
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
            match run_tool(tool, &src, &dst, n, &base, args.passeur.as_deref()) {
                Err(why) => {
                    println!("{why}");
                    row.verdict = why;
                }
                Ok((full, noop)) => {
                    let (exact, mut text) = match courier_snapshot(&dst, n, &source) {
                        Ok(got) => {
                            let v = verify::compare(&source, &got);
                            (v.is_exact(), v.summary())
                        }
                        Err(e) => (false, e),
                    };
                    if full.exit != 0 {
                        text = format!("exit {}; {text}", full.exit);
                        let tail: Vec<&str> = full.stderr.lines().rev().take(5).collect();
                        println!("      stderr: {}", tail.join(" | "));
                    }
                    println!(
                        "{:.2}s (no-op {}, {:.0} MB RSS, busy {:.0}%): {text}",
                        full.wall,
                        noop.as_ref()
                            .map_or("–".to_owned(), |t| format!("{:.2}s", t.wall)),
                        full.rss_mb,
                        full.busy_pct
                    );
                    row.exact = exact && full.exit == 0;
                    row.verdict = text;
                    row.full = Some(full);
                    row.noop = noop;
                }
            }
            rows.push(row);
        }
    }
    let mb = source.bytes() as f64 / 1e6;
    let table = render(
        rows.iter().filter(|r| r.corpus == label),
        source.messages() as f64,
        mb,
    );
    let floor = floor.map_or(String::new(), |s| {
        format!(
            "\nCourier's own limit with one connection (a bare APPEND loop of the same messages, \
             bodies in memory): {s:.2} s\n"
        )
    });
    println!("\n{table}{floor}");
    let md = args.out.join("results.md");
    let mut prev = fs::read_to_string(&md).unwrap_or_default();
    prev.push_str(&format!(
        "\n## {label} (Dovecot -> Courier-IMAP, {} msgs, {mb:.1} MB) — {}\n\n{table}{floor}",
        source.messages(),
        now_utc()
    ));
    fs::write(&md, prev).map_err(|e| format!("cannot write {}: {e}", md.display()))?;
    super::append_tsv(
        &args.out.join("results.tsv"),
        rows.iter().filter(|r| r.corpus == label),
    )
    .map_err(|e| format!("cannot write results.tsv: {e}"))
}
