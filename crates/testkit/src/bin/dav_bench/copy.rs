//! `--copy N`: DAV -> DAV throughput, against the server's own limit and other tools.
//!
//! A source Radicale (user1) holds N events, N/5 tasks and N/5 contacts, put there by `passeur
//! import` (each import timed: the file-import figure). For every destination server
//! (Radicale: a fresh user of the same instance; Xandikos: a fresh instance per run) and every
//! connection count, in one invocation:
//! - `passeur migrate --connections C` (and the `--baseline` binary's, if given), timed, with the
//!   average of PUTs in flight that passeur logs (`dav_writes` target); then `passeur verify`,
//!   timed, and a plain read of both accounts (per collection: PROPFIND Depth 1 and one
//!   calendar-query/addressbook-query REPORT with the data), timed;
//! - `bare`: the same items, bodies in memory, PUT with `If-None-Match: *` by C threads each
//!   with one keep-alive connection into a fresh account: no copier with C connections into
//!   that server can go faster (average in flight = Σ request time / wall time);
//! - `vdirsyncer` (Radicale only, when installed): `discover` then `sync` of a caldav and a
//!   carddav pair into a fresh user, timed together.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use passeur_testkit::{Radicale, RadicaleOptions, Xandikos};

/// What the copy benchmark is told.
pub struct CopyArgs<'a> {
    /// The passeur binary measured.
    pub passeur: &'a Path,
    /// An older passeur binary run the same way, for a ratio in the same invocation.
    pub baseline: Option<&'a Path>,
    /// Events (tasks and contacts: a fifth as many each).
    pub n: usize,
    /// Connection counts to run (0: passeur's default, 4 for the bare loop).
    pub connections: Vec<usize>,
    /// `radicale`, `xandikos`.
    pub servers: Vec<String>,
    /// `passeur`, `bare`, `vdirsyncer`, `verify`.
    pub tools: Vec<String>,
    /// The servers the baseline copies into (all when empty; its import always runs).
    pub baseline_servers: Vec<String>,
    /// Where `copy-N.md` goes.
    pub out: &'a Path,
    /// Only time `passeur import` of an N-event .ics into a fresh Radicale user (and the
    /// baseline's), no copies.
    pub import_only: bool,
}

/// One generated item: collection slug, resource name, body.
struct Item {
    coll: &'static str,
    name: String,
    body: String,
}

fn event(i: usize) -> String {
    format!(
        "BEGIN:VEVENT\r\nUID:bench-{i}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:2024{:02}{:02}T{:02}0000Z\r\nDURATION:PT1H\r\nSUMMARY:Event {i}\r\nDESCRIPTION:{}\r\nEND:VEVENT\r\n",
        1 + i % 12,
        1 + i % 28,
        i % 24,
        "Agenda item. ".repeat(10)
    )
}

fn task(i: usize) -> String {
    format!(
        "BEGIN:VTODO\r\nUID:task-{i}\r\nDTSTAMP:20240101T000000Z\r\nDUE:2024{:02}{:02}T{:02}0000Z\r\nSUMMARY:Task {i}\r\nSTATUS:NEEDS-ACTION\r\nPRIORITY:{}\r\nEND:VTODO\r\n",
        1 + i % 12,
        1 + i % 28,
        i % 24,
        i % 10
    )
}

fn card(i: usize) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-{i}\r\nFN:Person {i}\r\nN:{i};Person;;;\r\nEMAIL:p{i}@example.org\r\nTEL:+1 555 {i:04}\r\nEND:VCARD\r\n"
    )
}

const CAL_HEAD: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//passeur-bench//EN\r\n";
const CAL_TAIL: &str = "END:VCALENDAR\r\n";

/// A collection, its file, how many items and how each is written.
type ItemSet = (&'static str, &'static str, usize, fn(usize) -> String);

/// The three files and the same items one by one.
fn generate(dir: &Path, n: usize) -> (Vec<(PathBuf, &'static str)>, Vec<Item>) {
    let mut items = Vec::new();
    let mut files = Vec::new();
    let sets: [ItemSet; 3] = [
        ("Events", "events.ics", n, event),
        ("Tasks", "tasks.ics", n / 5, task),
        ("Contacts", "contacts.vcf", n / 5, card),
    ];
    for (coll, file, count, make) in sets {
        let cal = coll != "Contacts";
        let mut text = String::new();
        if cal {
            text.push_str(CAL_HEAD);
        }
        for i in 0..count {
            let obj = make(i);
            text.push_str(&obj);
            let (name, body) = if cal {
                (
                    format!("{coll}-{i}.ics"),
                    format!("{CAL_HEAD}{obj}{CAL_TAIL}"),
                )
            } else {
                (format!("{coll}-{i}.vcf"), obj)
            };
            items.push(Item { coll, name, body });
        }
        if cal {
            text.push_str(CAL_TAIL);
        }
        let p = dir.join(file);
        fs::write(&p, text).expect("write the bench file");
        files.push((p, coll));
    }
    (files, items)
}

// ------------------------------------------------------------------ a minimal HTTP/1.1 client

/// One keep-alive connection (reopened when the server closes it).
struct Http {
    host: String,
    port: u16,
    auth: Option<String>,
    conn: Option<BufReader<TcpStream>>,
}

impl Http {
    fn new(host: &str, port: u16, auth: Option<String>) -> Http {
        Http {
            host: host.to_owned(),
            port,
            auth,
            conn: None,
        }
    }

    /// (status, body).
    fn req(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        // One retry on a connection the server closed between two requests.
        for attempt in 0..2 {
            match self.try_req(method, path, headers, body) {
                Ok(r) => return Ok(r),
                Err(e) if attempt == 0 => {
                    self.conn = None;
                    let _ = e;
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!()
    }

    fn try_req(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        if self.conn.is_none() {
            let s = TcpStream::connect((self.host.as_str(), self.port))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(600)))?;
            self.conn = Some(BufReader::new(s));
        }
        let c = self.conn.as_mut().expect("connected");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nContent-Length: {}\r\n",
            self.host,
            self.port,
            body.len()
        );
        if let Some(a) = &self.auth {
            let _ = write!(head, "Authorization: Basic {a}\r\n");
        }
        for (k, v) in headers {
            let _ = write!(head, "{k}: {v}\r\n");
        }
        head.push_str("\r\n");
        head.push_str(body);
        c.get_mut().write_all(head.as_bytes())?;
        let mut line = String::new();
        if c.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut close = line.starts_with("HTTP/1.0");
        let (mut len, mut chunked) = (None, false);
        loop {
            line.clear();
            c.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap_or((l, ""));
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
            match k.as_str() {
                "content-length" => len = v.parse::<usize>().ok(),
                "transfer-encoding" => chunked = v.contains("chunked"),
                "connection" if v == "close" => close = true,
                "connection" if v == "keep-alive" => close = false,
                _ => {}
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                line.clear();
                c.read_line(&mut line)?;
                let n = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                    .map_err(std::io::Error::other)?;
                if n == 0 {
                    line.clear();
                    c.read_line(&mut line)?;
                    break;
                }
                let start = out.len();
                out.resize(start + n, 0);
                c.read_exact(&mut out[start..])?;
                line.clear();
                c.read_line(&mut line)?;
            }
        } else if let Some(n) = len {
            out.resize(n, 0);
            c.read_exact(&mut out)?;
        } else if method != "HEAD" && status != 204 && status != 304 {
            c.read_to_end(&mut out)?;
            close = true;
        }
        if close {
            self.conn = None;
        }
        Ok((status, String::from_utf8_lossy(&out).into_owned()))
    }
}

fn basic(user: &str, pass: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = format!("{user}:{pass}").into_bytes();
    let mut s = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                s.push(T[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

// ------------------------------------------------------------------ destinations

/// Where one run writes: a fresh account.
struct Dest {
    label: &'static str,
    host: String,
    port: u16,
    user: String,
    pass: String,
    /// `--to-dav` / `--from-dav` URL.
    url: String,
    /// Calendar home and address-book home paths.
    cal_home: String,
    card_home: String,
    _keep: Option<Xandikos>,
}

impl Dest {
    fn http(&self) -> Http {
        Http::new(&self.host, self.port, Some(basic(&self.user, &self.pass)))
    }
}

/// A fresh account on `server`: the next Radicale user, or a new Xandikos.
fn fresh(server: &str, rad: &Radicale, next_user: &mut u32) -> Dest {
    if server == "xandikos" {
        let x = Xandikos::start("user1").expect("start Xandikos");
        Dest {
            label: "Xandikos",
            host: x.host.clone(),
            port: x.port,
            user: "user1".into(),
            pass: "pass1".into(),
            url: format!("http://user1@{}:{}/", x.host, x.port),
            cal_home: "/user1/calendars/".into(),
            card_home: "/user1/contacts/".into(),
            _keep: Some(x),
        }
    } else {
        let n = *next_user;
        *next_user += 1;
        Dest {
            label: "Radicale",
            host: rad.host.clone(),
            port: rad.port,
            user: format!("user{n}"),
            pass: format!("pass{n}"),
            url: format!("http://user{n}@{}:{}/", rad.host, rad.port),
            cal_home: format!("/user{n}/"),
            card_home: format!("/user{n}/"),
            _keep: None,
        }
    }
}

// ------------------------------------------------------------------ the runs

struct Row {
    server: &'static str,
    tool: String,
    conns: String,
    secs: f64,
    in_flight: Option<f64>,
    verify: Option<f64>,
    plain_read: Option<f64>,
    note: String,
}

/// `passeur migrate`; (seconds, average PUTs in flight, migration id, summary line).
fn passeur_copy(
    bin: &Path,
    state: &Path,
    from: &str,
    to: &Dest,
    conns: usize,
) -> Result<(f64, Option<f64>, String, String), String> {
    let mut args: Vec<String> = vec![
        "migrate".into(),
        "--from-dav".into(),
        from.into(),
        "--to-dav".into(),
        to.url.clone(),
        "--no-progress".into(),
    ];
    if conns > 0 {
        args.push("--connections".into());
        args.push(conns.to_string());
    }
    let t = Instant::now();
    let o = Command::new(bin)
        .arg("--state")
        .arg(state)
        .args(&args)
        .env("PASSEUR_FROM_PASSWORD", "pass1")
        .env("PASSEUR_TO_PASSWORD", &to.pass)
        .env("PASSEUR_LOG", "warn,dav_writes=debug")
        .env_remove("PASSEUR_STATE")
        .output()
        .map_err(|e| e.to_string())?;
    let secs = t.elapsed().as_secs_f64();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("migration "))
        .map(|s| s.trim().to_string())
        .ok_or_else(|| format!("no migration: {out}{err}"))?;
    let total = out
        .lines()
        .find(|l| l.starts_with("dav total:"))
        .unwrap_or("")
        .to_string();
    Ok((secs, in_flight_of(&err), id, total))
}

/// Σ busy / Σ wall over the `dav_writes` lines of a run's log.
fn in_flight_of(log: &str) -> Option<f64> {
    let (mut busy, mut wall) = (0.0, 0.0);
    // Without the terminal colours the log may carry.
    let mut plain = String::with_capacity(log.len());
    let mut esc = false;
    for ch in log.chars() {
        match (esc, ch) {
            (false, '\u{1b}') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, c) => plain.push(c),
        }
    }
    for l in plain.lines().filter(|l| l.contains("dav_writes")) {
        let field = |k: &str| -> Option<f64> {
            let i = l.find(&format!("{k}="))? + k.len() + 1;
            l[i..].split([' ', ',']).next()?.parse().ok()
        };
        if let (Some(b), Some(w)) = (field("busy_s"), field("wall_s")) {
            busy += b;
            wall += w;
        }
    }
    (wall > 0.0).then(|| busy / wall)
}

fn timed_verify(bin: &Path, state: &Path, id: &str, to: &Dest) -> (f64, bool) {
    let t = Instant::now();
    let ok = Command::new(bin)
        .arg("--state")
        .arg(state)
        .args(["verify", id])
        .env("PASSEUR_FROM_PASSWORD", "pass1")
        .env("PASSEUR_TO_PASSWORD", &to.pass)
        .env_remove("PASSEUR_STATE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (t.elapsed().as_secs_f64(), ok)
}

/// The calendar and address-book collections under `home` (PROPFIND Depth 1).
fn collections(h: &mut Http, home: &str) -> Vec<(String, bool)> {
    let body = r#"<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>"#;
    let Ok((207, text)) = h.req(
        "PROPFIND",
        home,
        &[("Depth", "1"), ("Content-Type", "application/xml")],
        body,
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for resp in text.split("response>").filter(|r| r.contains("href>")) {
        let Some(href) = resp
            .split("href>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .map(str::to_string)
        else {
            continue;
        };
        let cal = resp.contains("calendar/>") || resp.contains("calendar />");
        let book = resp.contains("addressbook/>") || resp.contains("addressbook />");
        if (cal || book) && !out.iter().any(|(h, _)| *h == href) {
            out.push((href, cal));
        }
    }
    out
}

/// A plain read of one account: per collection, PROPFIND Depth 1 with ETags and one query
/// REPORT with the data. Returns the resources read.
fn plain_read(d: &Dest) -> usize {
    let mut h = d.http();
    let mut homes = vec![d.cal_home.clone()];
    if d.card_home != d.cal_home {
        homes.push(d.card_home.clone());
    }
    let mut n = 0;
    for home in homes {
        for (href, cal) in collections(&mut h, &home) {
            let _ = h.req(
                "PROPFIND",
                &href,
                &[("Depth", "1"), ("Content-Type", "application/xml")],
                r#"<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><prop><getetag/></prop></propfind>"#,
            );
            let q = if cal {
                r#"<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>"#
            } else {
                r#"<?xml version="1.0" encoding="utf-8"?><CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><CR:address-data/></D:prop><CR:filter/></CR:addressbook-query>"#
            };
            if let Ok((_, text)) = h.req(
                "REPORT",
                &href,
                &[("Depth", "1"), ("Content-Type", "application/xml")],
                q,
            ) {
                n += text.matches("BEGIN:VCALENDAR").count() + text.matches("BEGIN:VCARD").count();
            }
        }
    }
    n
}

/// The bare PUT loop into a fresh account; (seconds, average in flight, failures).
fn bare_loop(d: &Dest, items: &[Item], conns: usize) -> (f64, f64, usize) {
    let mut h = d.http();
    // The three collections, as passeur would create them.
    let mkcal = |res: &str| {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/>{res}</D:resourcetype></D:prop></D:set></D:mkcol>"#
        )
    };
    let path = |coll: &str| {
        if coll == "Contacts" {
            format!("{}{coll}/", d.card_home)
        } else {
            format!("{}{coll}/", d.cal_home)
        }
    };
    for coll in ["Events", "Tasks", "Contacts"] {
        let res = if coll == "Contacts" {
            "<CR:addressbook/>"
        } else {
            "<C:calendar/>"
        };
        match h.req(
            "MKCOL",
            &path(coll),
            &[("Content-Type", "application/xml")],
            &mkcal(res),
        ) {
            Ok((s, _)) if s < 300 => {}
            other => eprintln!("bare: MKCOL {} -> {other:?}", path(coll)),
        }
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let busy = Mutex::new(0.0f64);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..conns {
            s.spawn(|| {
                let mut h = d.http();
                let mut mine = 0.0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(it) = items.get(i) else { break };
                    let ct = if it.coll == "Contacts" {
                        "text/vcard; charset=utf-8"
                    } else {
                        "text/calendar; charset=utf-8"
                    };
                    let p = format!("{}{}", path(it.coll), it.name);
                    let t0 = Instant::now();
                    let r = h.req(
                        "PUT",
                        &p,
                        &[("Content-Type", ct), ("If-None-Match", "*")],
                        &it.body,
                    );
                    mine += t0.elapsed().as_secs_f64();
                    if !matches!(r, Ok((200..=299, _))) {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                *busy.lock().expect("busy") += mine;
            });
        }
    });
    let secs = t.elapsed().as_secs_f64();
    let b = *busy.lock().expect("busy");
    (secs, b / secs.max(1e-9), failed.into_inner())
}

/// vdirsyncer discover + sync from `from` (Radicale user1) into `to`; seconds.
fn vdirsyncer(tmp: &Path, rad: &Radicale, to: &Dest) -> Result<f64, String> {
    let dir = tmp.join(format!("vdirsyncer-{}", to.user));
    fs::create_dir_all(dir.join("status")).map_err(|e| e.to_string())?;
    let base = format!("http://{}:{}", rad.host, rad.port);
    let mut conf = format!("[general]\nstatus_path = \"{}/status/\"\n", dir.display());
    for (pair, kind) in [("cal", "caldav"), ("card", "carddav")] {
        let _ = write!(
            conf,
            "\n[pair {pair}]\na = \"{pair}_a\"\nb = \"{pair}_b\"\ncollections = [\"from a\"]\nconflict_resolution = \"a wins\"\n\
             \n[storage {pair}_a]\ntype = \"{kind}\"\nurl = \"{base}/user1/\"\nusername = \"user1\"\npassword = \"pass1\"\n\
             \n[storage {pair}_b]\ntype = \"{kind}\"\nurl = \"{base}/{u}/\"\nusername = \"{u}\"\npassword = \"{p}\"\n",
            u = to.user,
            p = to.pass
        );
    }
    let cfg = dir.join("config");
    fs::write(&cfg, conf).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut disc = Command::new("vdirsyncer")
        .arg("-c")
        .arg(&cfg)
        .arg("discover")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    // "Create collection … on b?": yes to each.
    if let Some(mut i) = disc.stdin.take() {
        let _ = i.write_all("y\n".repeat(20).as_bytes());
    }
    let o = disc.wait_with_output().map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!(
            "vdirsyncer discover: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let o = Command::new("vdirsyncer")
        .arg("-c")
        .arg(&cfg)
        .arg("sync")
        .output()
        .map_err(|e| e.to_string())?;
    let secs = t.elapsed().as_secs_f64();
    if !o.status.success() {
        return Err(format!(
            "vdirsyncer sync: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" / ")
        ));
    }
    Ok(secs)
}

/// `passeur import`; (seconds, average PUTs in flight when it logs them).
fn import_file(
    bin: &Path,
    state: &Path,
    file: &Path,
    to: &str,
    coll: &str,
    pass: &str,
) -> Result<(f64, Option<f64>), String> {
    let t = Instant::now();
    let o = Command::new(bin)
        .arg("--state")
        .arg(state)
        .arg("import")
        .arg(file)
        .args(["--to-dav", to, "--collection", coll])
        .env("PASSEUR_TO_PASSWORD", pass)
        .env("PASSEUR_LOG", "warn,dav_writes=debug")
        .env_remove("PASSEUR_STATE")
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    Ok((
        t.elapsed().as_secs_f64(),
        in_flight_of(&String::from_utf8_lossy(&o.stderr)),
    ))
}

fn count(d: &Dest) -> usize {
    plain_read(d)
}

/// Runs the benchmark; the table goes to stdout and `<out>/copy-N.md`.
pub fn run(a: &CopyArgs<'_>) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (files, items) = generate(tmp.path(), a.n);
    let total = items.len();
    let rad = Radicale::start(RadicaleOptions {
        users: 40,
        create_collections: false,
        admin: false,
    })
    .map_err(|e| e.to_string())?;
    let mut next_user = 2;
    let mut md = String::new();
    let load = || fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let _ = writeln!(md, "load before: {}", load().trim());

    // The file imports (the source's fill, then for the baseline into another user).
    let mut bins: Vec<(&str, &Path)> = vec![("passeur", a.passeur)];
    if let Some(b) = a.baseline {
        bins.push(("baseline", b));
    }
    let _ = writeln!(
        md,
        "\n| import into Radicale | file | items | s | items/s | PUTs in flight (avg) |\n|---|---|---:|---:|---:|---:|"
    );
    let mut src: Option<Dest> = None;
    for (label, bin) in &bins {
        let d = fresh("radicale", &rad, &mut next_user);
        let d = if src.is_none() {
            // The first account imported into is the copy's source: user1.
            next_user -= 1;
            Dest {
                user: "user1".into(),
                pass: "pass1".into(),
                url: format!("http://user1@{}:{}/", rad.host, rad.port),
                cal_home: "/user1/".into(),
                card_home: "/user1/".into(),
                ..d
            }
        } else {
            d
        };
        let state = tmp.path().join(format!("import-{label}-{}", d.user));
        for (f, coll) in &files {
            if a.import_only && *coll != "Events" {
                continue;
            }
            let (secs, inf) = import_file(bin, &state, f, &d.url, coll, &d.pass)?;
            let k = items.iter().filter(|i| i.coll == *coll).count();
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            println!(
                "{label}: import {name} ({k} items): {secs:.1} s, PUTs in flight {}",
                opt(inf, 1)
            );
            let _ = writeln!(
                md,
                "| {label} | {name} | {k} | {secs:.1} | {:.0} | {} |",
                k as f64 / secs.max(1e-9),
                opt(inf, 1)
            );
        }
        let got = count(&d);
        if got != if a.import_only { a.n } else { total } {
            println!("{label}: {got} items arrived");
        }
        if src.is_none() {
            src = Some(d);
        }
    }
    let src = src.expect("source");
    if a.import_only {
        return finish(a, &md);
    }
    let from = src.url.clone();

    let _ = writeln!(
        md,
        "\n{total} items ({} events, {} tasks, {} contacts) from Radicale user1\n\n| destination | tool | connections | copy s | items/s | PUTs in flight (avg) | verify s | plain read of both s | note |\n|---|---|---:|---:|---:|---:|---:|---:|---|",
        a.n,
        a.n / 5,
        a.n / 5
    );
    let mut rows: Vec<Row> = Vec::new();
    for server in &a.servers {
        for &c in &a.connections {
            let cs = if c == 0 {
                "default".to_string()
            } else {
                c.to_string()
            };
            if a.tools.iter().any(|t| t == "passeur") {
                for (label, bin) in &bins {
                    if *label == "baseline"
                        && !a.baseline_servers.is_empty()
                        && !a.baseline_servers.contains(server)
                    {
                        continue;
                    }
                    let d = fresh(server, &rad, &mut next_user);
                    let state = tmp.path().join(format!("{label}-{server}-{c}"));
                    let mut row = Row {
                        server: d.label,
                        tool: (*label).to_string(),
                        conns: cs.clone(),
                        secs: 0.0,
                        in_flight: None,
                        verify: None,
                        plain_read: None,
                        note: String::new(),
                    };
                    match passeur_copy(bin, &state, &from, &d, c) {
                        Ok((secs, inf, id, summary)) => {
                            row.secs = secs;
                            row.in_flight = inf;
                            row.note = summary;
                            if a.tools.iter().any(|t| t == "verify") {
                                let (v, ok) = timed_verify(bin, &state, &id, &d);
                                row.verify = Some(v);
                                if !ok {
                                    row.note.push_str("; VERIFY FAILED");
                                }
                                let t = Instant::now();
                                let (ns, nd) = (plain_read(&src), plain_read(&d));
                                row.plain_read = Some(t.elapsed().as_secs_f64());
                                if nd != total || ns != total {
                                    let _ = write!(row.note, "; read {ns} / {nd}");
                                }
                            } else {
                                let nd = count(&d);
                                if nd != total {
                                    let _ = write!(row.note, "; {nd} arrived");
                                }
                            }
                        }
                        Err(e) => row.note = e.lines().last().unwrap_or("").to_string(),
                    }
                    print_row(&row, total);
                    rows.push(row);
                }
            }
            if a.tools.iter().any(|t| t == "bare") {
                let d = fresh(server, &rad, &mut next_user);
                let n = if c == 0 { 4 } else { c };
                let (secs, inf, failed) = bare_loop(&d, &items, n);
                let nd = count(&d);
                let row = Row {
                    server: d.label,
                    tool: "bare PUT loop".into(),
                    conns: n.to_string(),
                    secs,
                    in_flight: Some(inf),
                    verify: None,
                    plain_read: None,
                    note: format!("{failed} refused, {nd} arrived"),
                };
                print_row(&row, total);
                rows.push(row);
            }
        }
        if server == "radicale" && a.tools.iter().any(|t| t == "vdirsyncer") {
            let d = fresh(server, &rad, &mut next_user);
            let (secs, note) = match vdirsyncer(tmp.path(), &rad, &d) {
                Ok(s) => (s, format!("{} arrived", count(&d))),
                Err(e) => (0.0, e),
            };
            let row = Row {
                server: d.label,
                tool: "vdirsyncer 0.19".into(),
                conns: "its own".into(),
                secs,
                in_flight: None,
                verify: None,
                plain_read: None,
                note,
            };
            print_row(&row, total);
            rows.push(row);
        }
    }
    for r in &rows {
        md.push_str(&row_md(r, total));
    }
    let _ = writeln!(md, "\nload after: {}", load().trim());
    finish(a, &md)
}

fn finish(a: &CopyArgs<'_>, md: &str) -> Result<(), String> {
    print!("{md}");
    let _ = fs::create_dir_all(a.out);
    let name = if a.import_only { "import" } else { "copy" };
    fs::write(a.out.join(format!("{name}-{}.md", a.n)), md).map_err(|e| e.to_string())
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "–".to_string(), |x| format!("{x:.prec$}"))
}

fn row_md(r: &Row, total: usize) -> String {
    format!(
        "| {} | {} | {} | {:.1} | {:.0} | {} | {} | {} | {} |\n",
        r.server,
        r.tool,
        r.conns,
        r.secs,
        total as f64 / r.secs.max(1e-9),
        opt(r.in_flight, 1),
        opt(r.verify, 1),
        opt(r.plain_read, 1),
        r.note
    )
}

fn print_row(r: &Row, total: usize) {
    print!("{}", row_md(r, total));
    let _ = std::io::stdout().flush();
}
