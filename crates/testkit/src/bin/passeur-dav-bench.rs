//! `passeur-dav-bench` — how many calendar and contact items of real-world files arrive.
//!
//! Imports every `.ics`/`.ifb`/`.vcs` file of `<corpus>/ics` and every `.vcf` of `<corpus>/vcf`
//! into a private Radicale and a private Xandikos through `passeur import` (one collection
//! per file), then counts per file:
//! - `others`: the items other tools extract (`bench/dav_oracle.py`: Python's `icalendar` and
//!   `vobject`, and a plain line scan for files both refuse; the largest of the three;
//!   distinct UIDs of VEVENT/VTODO/VJOURNAL, or VCARDs);
//! - `read`: the items passeur read (its import report: copied, known, failed, skipped);
//! - `arrived`: the resources in the collection afterwards (a raw PROPFIND, not passeur's
//!   client);
//! - `listed`: the items passeur lists as not migrated (failed or skipped), with the reasons
//!   from `passeur status` in `failures.tsv`;
//! - `repaired`: the items passeur reports as repaired after a refusal;
//! - `silent`: expected − arrived − listed when positive, where expected = `others` (what
//!   passeur reads is not the measure: an older reader counted each iTIP version apart).
//!
//! The share that arrives is Σ min(arrived, expected) / Σ expected. A second import of each
//! file must copy nothing (`rerun_copied` stays 0).
//!
//! usage: passeur-dav-bench --passeur PATH [--corpus DIR] [--out DIR] [--servers radicale,xandikos]
//!                          [--from-tsv]
//!
//! `--copy N` measures DAV -> DAV throughput instead: a source Radicale holding N events, N/5
//! tasks and N/5 contacts (put there by `passeur import`, timed) is copied by `passeur migrate`
//! with each of `--connections` (default `0,8`: passeur's default and 8) into fresh Radicale
//! and Xandikos accounts, against a bare parallel PUT loop of the same items, vdirsyncer, and
//! (`--baseline`) an older passeur; `passeur verify` is timed against a plain read of both
//! accounts (see `dav_bench/copy.rs`). `--import-only` times only the import of an N-event
//! `.ics` (and the baseline's).
//!
//! `--from-tsv` summarises the `files.tsv` of an earlier run in `--out` (with the current
//! oracle) instead of importing. Servers are restarted every 40 files, so that a home with
//! hundreds of collections does not slow every discovery down.
//!
//! Output: `<out>/<server>/files.tsv`, `failures.tsv`, and a summary on stdout and in
//! `<out>/summary.md`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use passeur_testkit::{Radicale, RadicaleOptions, Xandikos};

#[path = "dav_bench/copy.rs"]
mod copy;

const USAGE: &str = "usage: passeur-dav-bench --passeur PATH [--corpus DIR] [--out DIR] [--servers radicale,xandikos] [--oracle SCRIPT] [--from-tsv] [--copy N [--connections 0,8] [--tools passeur,bare,vdirsyncer,verify] [--baseline OLD_PASSEUR [--baseline-servers radicale]] [--import-only]]";

struct Args {
    passeur: PathBuf,
    corpus: PathBuf,
    out: PathBuf,
    servers: Vec<String>,
    oracle: PathBuf,
    /// Summarise the files.tsv of an earlier run instead of importing.
    from_tsv: bool,
    /// DAV -> DAV throughput instead: this many events (and a fifth as many contacts).
    copy: Option<usize>,
    /// Connection counts of the copy runs (`0` or `default`: passeur's default).
    connections: String,
    /// An older passeur binary run the same way (copy and import figures side by side).
    baseline: Option<PathBuf>,
    /// Tools of the copy benchmark: passeur, bare, vdirsyncer, verify.
    tools: Vec<String>,
    /// Only time the import of an N-event file.
    import_only: bool,
    /// The servers the baseline copies into (default: all).
    baseline_servers: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        passeur: PathBuf::new(),
        corpus: PathBuf::from("../shared/corpus"),
        out: PathBuf::from("bench/out/dav-import"),
        servers: vec!["radicale".into(), "xandikos".into()],
        oracle: PathBuf::from("bench/dav_oracle.py"),
        from_tsv: false,
        copy: None,
        connections: "0,8".into(),
        baseline: None,
        tools: vec![
            "passeur".into(),
            "bare".into(),
            "vdirsyncer".into(),
            "verify".into(),
        ],
        import_only: false,
        baseline_servers: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--passeur" => a.passeur = PathBuf::from(value()?),
            "--corpus" => a.corpus = PathBuf::from(value()?),
            "--out" => a.out = PathBuf::from(value()?),
            "--servers" => a.servers = value()?.split(',').map(str::to_string).collect(),
            "--oracle" => a.oracle = PathBuf::from(value()?),
            "--from-tsv" => a.from_tsv = true,
            "--copy" => a.copy = Some(value()?.parse().map_err(|e| format!("--copy: {e}"))?),
            "--connections" => a.connections = value()?,
            "--baseline" => a.baseline = Some(PathBuf::from(value()?)),
            "--tools" => a.tools = value()?.split(',').map(str::to_string).collect(),
            "--import-only" => a.import_only = true,
            "--baseline-servers" => {
                a.baseline_servers = value()?.split(',').map(str::to_string).collect();
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.passeur.as_os_str().is_empty() && !a.from_tsv {
        return Err("--passeur is required".into());
    }
    Ok(a)
}

fn corpus_files(corpus: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (dir, exts) in [("ics", &["ics", "ifb", "vcs"][..]), ("vcf", &["vcf"][..])] {
        let Ok(rd) = fs::read_dir(corpus.join(dir)) else {
            continue;
        };
        let mut v: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| exts.contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        v.sort();
        out.extend(v);
    }
    out
}

/// Items per file name as other tools read them (the largest of icalendar's, vobject's and a
/// line scan's counts).
fn oracle(script: &Path, files: &[PathBuf]) -> Result<HashMap<String, u64>, String> {
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .args(files)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut m = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let n = ["icalendar", "vobject", "scan"]
            .iter()
            .filter_map(|k| v[*k].as_u64())
            .max()
            .unwrap_or(0);
        if let Some(f) = v["file"].as_str() {
            m.insert(f.to_string(), n);
        }
    }
    Ok(m)
}

/// Resources in the collection at `href` on `host:port`: a raw HTTP/1.0 PROPFIND, Depth 1,
/// counting the responses but the collection's own.
fn count_resources(host: &str, port: u16, href: &str, auth: Option<&str>) -> Result<u64, String> {
    let body = r#"<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><prop><getetag/></prop></propfind>"#;
    let mut req = format!(
        "PROPFIND {href} HTTP/1.0\r\nHost: {host}:{port}\r\nDepth: 1\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(a) = auth {
        let _ = write!(req, "Authorization: Basic {a}\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    let mut s = TcpStream::connect((host, port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&resp);
    if !text.starts_with("HTTP/1.") || !text[9..].starts_with("207") {
        return Err(format!(
            "PROPFIND {href}: {}",
            text.lines().next().unwrap_or("")
        ));
    }
    // Closing tags `</response>` or `</ns:response>`.
    let n = text
        .split("</")
        .skip(1)
        .filter(|seg| {
            let name = seg.split('>').next().unwrap_or("");
            name == "response" || name.ends_with(":response")
        })
        .count() as u64;
    Ok(n.saturating_sub(1))
}

#[derive(Default, Clone)]
struct FileRow {
    file: String,
    others: u64,
    read: u64,
    arrived: u64,
    listed: u64,
    repaired: u64,
    silent: u64,
    rerun_copied: u64,
    error: String,
}

impl FileRow {
    fn expected(&self) -> u64 {
        self.others
    }
}

struct Server {
    host: String,
    port: u16,
    /// `--to-dav` URL.
    url: String,
    auth: Option<String>,
}

fn json_after_id(stdout: &str) -> Option<serde_json::Value> {
    let start = stdout.find('{')?;
    serde_json::from_str(&stdout[start..]).ok()
}

fn run_file(
    a: &Args,
    srv: &Server,
    state: &Path,
    n: usize,
    file: &Path,
    failures: &mut String,
) -> FileRow {
    let name = file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut row = FileRow {
        file: name.clone(),
        ..FileRow::default()
    };
    let coll = format!("f{n:04}");
    let import = || {
        Command::new(&a.passeur)
            .arg("--state")
            .arg(state)
            .arg("import")
            .arg(file)
            .args(["--to-dav", &srv.url, "--collection", &coll, "--json"])
            .env("PASSEUR_TO_PASSWORD", "pass1")
            .env_remove("PASSEUR_STATE")
            .output()
    };
    let out = match import() {
        Ok(o) => o,
        Err(e) => {
            row.error = e.to_string();
            return row;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let Some(rep) = json_after_id(&stdout) else {
        row.error = String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("no report")
            .to_string();
        return row;
    };
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("migration "))
        .map(|s| s.trim().to_string());
    let mut dst = String::new();
    for f in rep["folders"].as_array().into_iter().flatten() {
        let g = |k: &str| f[k].as_u64().unwrap_or(0);
        row.read += g("copied") + g("known") + g("failed") + g("skipped");
        row.listed += g("failed") + g("skipped");
        row.repaired += g("repaired");
        dst = f["dst"].as_str().unwrap_or("").to_string();
    }
    if !dst.is_empty() {
        match count_resources(&srv.host, srv.port, &dst, srv.auth.as_deref()) {
            Ok(c) => row.arrived = c,
            Err(e) => row.error = e,
        }
    }
    if let Some(id) = &id
        && row.listed > 0
        && let Ok(o) = Command::new(&a.passeur)
            .arg("--state")
            .arg(state)
            .args(["status", id, "--json"])
            .env_remove("PASSEUR_STATE")
            .output()
        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&o.stdout)
    {
        for f in v["failures"].as_array().into_iter().flatten() {
            let _ = writeln!(
                failures,
                "{name}\t{}\t{}",
                f["item"].as_str().unwrap_or(""),
                f["reason"]
                    .as_str()
                    .unwrap_or("")
                    .replace(['\t', '\n'], " ")
            );
        }
    }
    // A second import of the same file copies nothing.
    if let Ok(o) = import()
        && let Some(r) = json_after_id(&String::from_utf8_lossy(&o.stdout))
    {
        row.rerun_copied = r["folders"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| f["copied"].as_u64().unwrap_or(0))
            .sum();
    }
    row.silent = row.expected().saturating_sub(row.arrived + row.listed);
    row
}

/// Files per server instance: a home with hundreds of collections makes every discovery slow
/// (Radicale and Xandikos list them all), which would measure the servers, not the import.
const FILES_PER_SERVER: usize = 40;

fn run_server(a: &Args, name: &str, files: &[PathBuf], others: &HashMap<String, u64>) -> String {
    let dir = a.out.join(name);
    let _ = fs::create_dir_all(&dir);
    let t0 = Instant::now();
    let mut failures = String::from("file\titem\treason\n");
    let mut rows = Vec::new();
    if a.from_tsv {
        rows = read_rows(&dir.join("files.tsv"));
        for r in &mut rows {
            r.others = others.get(&r.file).copied().unwrap_or(0);
            r.silent = r.expected().saturating_sub(r.arrived + r.listed);
        }
    } else {
        for (g, group) in files.chunks(FILES_PER_SERVER).enumerate() {
            let (srv, _guard) = start_server(name);
            let state = dir.join(format!("state{g}"));
            let _ = fs::remove_dir_all(&state);
            for (i, f) in group.iter().enumerate() {
                let n = g * FILES_PER_SERVER + i;
                let mut r = run_file(a, &srv, &state, n, f, &mut failures);
                r.others = others.get(&r.file).copied().unwrap_or(0);
                r.silent = r.expected().saturating_sub(r.arrived + r.listed);
                rows.push(r);
            }
        }
        write_rows(&dir, &rows, &failures);
    }
    summarize(name, &rows, t0)
}

/// A running server (kept alive by the guard) and how to reach it.
fn start_server(name: &str) -> (Server, Box<dyn std::any::Any>) {
    let (_rad, _xan, srv);
    match name {
        "radicale" => {
            let r = Radicale::start(RadicaleOptions {
                users: 1,
                create_collections: false,
                admin: false,
            })
            .expect("start Radicale");
            srv = Server {
                host: r.host.clone(),
                port: r.port,
                url: format!("http://user1@{}:{}/", r.host, r.port),
                // user1:pass1
                auth: Some("dXNlcjE6cGFzczE=".into()),
            };
            _rad = Some(r);
            _xan = None;
        }
        _ => {
            let x = Xandikos::start("user1").expect("start Xandikos");
            srv = Server {
                host: x.host.clone(),
                port: x.port,
                url: format!("http://user1@{}:{}/", x.host, x.port),
                auth: None,
            };
            _xan = Some(x);
            _rad = None;
        }
    }
    (srv, Box::new((_rad, _xan)))
}

fn read_rows(path: &Path) -> Vec<FileRow> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            let n = |i: usize| c.get(i).and_then(|v| v.parse().ok()).unwrap_or(0);
            Some(FileRow {
                file: (*c.first()?).to_string(),
                others: n(1),
                read: n(2),
                arrived: n(4),
                listed: n(5),
                repaired: n(6),
                rerun_copied: n(8),
                error: c.get(9).unwrap_or(&"").to_string(),
                ..FileRow::default()
            })
        })
        .collect()
}

fn write_rows(dir: &Path, rows: &[FileRow], failures: &str) {
    let mut tsv = String::from(
        "file\tothers\tread\texpected\tarrived\tlisted\trepaired\tsilent\trerun_copied\terror\n",
    );
    for r in rows {
        let _ = writeln!(
            tsv,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.file,
            r.others,
            r.read,
            r.expected(),
            r.arrived,
            r.listed,
            r.repaired,
            r.silent,
            r.rerun_copied,
            r.error
        );
    }
    let _ = fs::write(dir.join("files.tsv"), tsv);
    let _ = fs::write(dir.join("failures.tsv"), failures);
}

fn summarize(name: &str, rows: &[FileRow], t0: Instant) -> String {
    let mut line = String::new();
    for (kind, ext) in [("ics", false), ("vcf", true)] {
        let sel: Vec<&FileRow> = rows
            .iter()
            .filter(|r| r.file.to_ascii_lowercase().ends_with(".vcf") == ext)
            .collect();
        let expected: u64 = sel.iter().map(|r| r.expected()).sum();
        let arrived: u64 = sel.iter().map(|r| r.arrived.min(r.expected())).sum();
        let listed: u64 = sel.iter().map(|r| r.listed).sum();
        let repaired: u64 = sel.iter().map(|r| r.repaired).sum();
        let silent: u64 = sel.iter().map(|r| r.silent).sum();
        let files_silent = sel.iter().filter(|r| r.silent > 0).count();
        let files_short = sel.iter().filter(|r| r.arrived < r.expected()).count();
        let rerun: u64 = sel.iter().map(|r| r.rerun_copied).sum();
        let errors = sel.iter().filter(|r| !r.error.is_empty()).count();
        let _ = writeln!(
            line,
            "| {name} | {kind} | {} | {files_short} | {expected} | {arrived} ({:.1} %) | {listed} | {repaired} | {silent} in {files_silent} files | {rerun} | {errors} |",
            sel.len(),
            100.0 * arrived as f64 / expected.max(1) as f64,
        );
    }
    println!("{name} done in {:.0} s", t0.elapsed().as_secs_f64());
    line
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(n) = a.copy {
        let connections: Result<Vec<usize>, _> = a
            .connections
            .split(',')
            .map(|c| if c == "default" { Ok(0) } else { c.parse() })
            .collect();
        let Ok(connections) = connections else {
            eprintln!("--connections: a list of numbers (0 or default: passeur's default)");
            return ExitCode::from(2);
        };
        let args = copy::CopyArgs {
            passeur: &a.passeur,
            baseline: a.baseline.as_deref(),
            n,
            connections,
            servers: a.servers.clone(),
            tools: a.tools.clone(),
            out: &a.out,
            import_only: a.import_only,
            baseline_servers: a.baseline_servers.clone(),
        };
        return match copy::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let files = corpus_files(&a.corpus);
    if files.is_empty() {
        eprintln!("no .ics or .vcf files under {}", a.corpus.display());
        return ExitCode::from(2);
    }
    let others = match oracle(&a.oracle, &files) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let _ = fs::create_dir_all(&a.out);
    let lines: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = a
            .servers
            .iter()
            .map(|name| s.spawn(|| run_server(&a, name, &files, &others)))
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut md = String::from(
        "| server | kind | files | files short of an item | items expected | arrived | listed with a reason | repaired | lost silently | copied by a re-run | file errors |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for l in lines {
        md.push_str(&l);
    }
    print!("{md}");
    let _ = fs::write(a.out.join("summary.md"), md);
    ExitCode::SUCCESS
}
