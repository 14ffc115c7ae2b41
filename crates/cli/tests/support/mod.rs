//! Shared helpers of the end-to-end tests: fill a mailbox over IMAP, snapshot an account
//! independently of passeur's own verify, run the binary.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use bytes::Bytes;
use passeur_imap::{AppendMessage, Client, ConnectConfig, Security};
use passeur_testkit::Dovecot;
use sha2::{Digest, Sha256};

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

pub async fn login(dc: &Dovecot, user: &str) -> Client {
    let n: u32 = user.trim_start_matches("user").parse().expect("userN");
    login_at(dc.imap_port, user, &format!("pass{n}")).await
}

/// A logged-in client for any server on 127.0.0.1 (plain IMAP).
pub async fn login_at(port: u16, user: &str, password: &str) -> Client {
    let cfg = ConnectConfig {
        host: "127.0.0.1".into(),
        port,
        security: Security::Plain,
        insecure_tls: false,
        connect_timeout: Duration::from_secs(10),
        io_timeout: Duration::from_secs(60),
        address_policy: Default::default(),
    };
    let mut c = Client::connect(&cfg).await.expect("connect");
    c.authenticate(None, user, password).await.expect("login");
    c
}

/// One message to put in a folder.
pub struct Msg {
    pub folder: &'static str,
    pub body: Vec<u8>,
    pub flags: Vec<&'static str>,
    pub date: &'static str,
}

pub fn msg(
    folder: &'static str,
    body: impl Into<Vec<u8>>,
    flags: &[&'static str],
    date: &'static str,
) -> Msg {
    Msg {
        folder,
        body: body.into(),
        flags: flags.to_vec(),
        date,
    }
}

pub fn simple(i: usize, mid: Option<&str>) -> Vec<u8> {
    let mut m = String::new();
    m.push_str("From: Alice <alice@example.org>\r\nTo: bob@example.net\r\n");
    if let Some(mid) = mid {
        m.push_str(&format!("Message-ID: {mid}\r\n"));
    }
    m.push_str(&format!(
        "Subject: message {i}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nBody of message {i}.\r\n"
    ));
    m.into_bytes()
}

/// Creates the folders (UTF-8 names, encoded here) and appends the messages.
pub async fn fill(c: &mut Client, msgs: &[Msg]) {
    let mut folders: Vec<&str> = msgs.iter().map(|m| m.folder).collect();
    folders.sort();
    folders.dedup();
    for f in folders {
        let wire = passeur_imap::mutf7::encode(f);
        if f != "INBOX" {
            c.create(&wire).await.expect("create");
        }
        let batch: Vec<AppendMessage> = msgs
            .iter()
            .filter(|m| m.folder == f)
            .map(|m| AppendMessage {
                flags: m.flags.iter().map(|s| s.to_string()).collect(),
                internal_date: Some(m.date.to_string()),
                body: Bytes::from(m.body.clone()),
            })
            .collect();
        for chunk in batch.chunks(50) {
            let out = c.append_batch(&wire, chunk).await.expect("append");
            assert!(
                out.results.iter().all(|r| r.is_ok()),
                "append refused in {f}"
            );
        }
    }
}

/// One message as a user sees it: bytes (hash), flags, internal date.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen {
    pub sha256: String,
    pub flags: Vec<String>,
    pub date: String,
}

/// Every folder (wire name) of an account with its messages, sorted: an independent oracle.
pub async fn snapshot(c: &mut Client) -> BTreeMap<String, Vec<Seen>> {
    let mut out = BTreeMap::new();
    for f in c.list().await.expect("list") {
        if !f.is_selectable() {
            continue;
        }
        let st = c.examine(&f.name).await.expect("examine");
        let mut seen = Vec::new();
        if st.exists > 0 {
            let metas = c.uid_fetch_meta("1:*", None).await.expect("meta");
            let uids: Vec<u32> = metas.iter().map(|m| m.uid).collect();
            c.start_fetch_bodies(&uids).await.expect("fetch");
            let mut hashes = BTreeMap::new();
            while let Some(b) = c.next_body().await.expect("body") {
                hashes.insert(b.uid, hex::encode(Sha256::digest(&b.body)));
            }
            for m in metas {
                let mut flags: Vec<String> = m
                    .flags
                    .iter()
                    .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                    .cloned()
                    .collect();
                flags.sort();
                seen.push(Seen {
                    sha256: hashes.remove(&m.uid).expect("body for every uid"),
                    flags,
                    date: m.internal_date.unwrap_or_default(),
                });
            }
        }
        seen.sort();
        out.insert(f.name, seen);
    }
    out
}

pub fn passeur(state: &Path, args: &[&str], src_pw: &str, dst_pw: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passeur"))
        .arg("--state")
        .arg(state)
        .args(args)
        .env("PASSEUR_FROM_PASSWORD", src_pw)
        .env("PASSEUR_TO_PASSWORD", dst_pw)
        .env_remove("PASSEUR_STATE")
        .output()
        .expect("run passeur")
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The migration ID from `migration <ID>` on the first line.
pub fn migration_id(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout);
    out.lines()
        .find_map(|l| l.strip_prefix("migration "))
        .unwrap_or_else(|| panic!("no migration ID in {}", text(o)))
        .trim()
        .to_string()
}

pub fn url(dc: &Dovecot, user: &str) -> String {
    url_at(dc.imap_port, user)
}

/// `imap://USER@127.0.0.1:PORT`.
pub fn url_at(port: u16, user: &str) -> String {
    format!("imap://{user}@127.0.0.1:{port}")
}

/// The total copied count from the `total: N copied` line.
pub fn copied(o: &Output) -> u64 {
    let out = String::from_utf8_lossy(&o.stdout);
    out.lines()
        .find_map(|l| l.strip_prefix("total: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no total in {}", text(o)))
}

/// Asserts two folder contents are equal, reporting counts, missing and duplicated hashes
/// instead of the whole lists.
pub fn assert_same(got: Option<&Vec<Seen>>, want: Option<&Vec<Seen>>, what: &str) {
    let got = got.cloned().unwrap_or_default();
    let want = want.cloned().unwrap_or_default();
    if got == want {
        return;
    }
    let count = |v: &[Seen]| {
        let mut m: BTreeMap<Seen, usize> = BTreeMap::new();
        for s in v {
            *m.entry(s.clone()).or_default() += 1;
        }
        m
    };
    let (g, w) = (count(&got), count(&want));
    let missing: Vec<_> = w
        .iter()
        .filter(|(k, n)| g.get(*k).copied().unwrap_or(0) < **n)
        .take(5)
        .collect();
    let extra: Vec<_> = g
        .iter()
        .filter(|(k, n)| w.get(*k).copied().unwrap_or(0) < **n)
        .take(5)
        .collect();
    panic!(
        "{what}: destination has {} messages, expected {}; first missing/short: {missing:?}; first extra/duplicated: {extra:?}",
        got.len(),
        want.len()
    );
}

/// Runs passeur with `args` (which carry their own `--state`) and kills it with SIGKILL as
/// soon as `done()` says so (polled every 10 ms), or after 60 s, or when it ends by itself.
/// Returns what it printed on stdout.
pub fn kill_when(
    args: &[&str],
    src_pw: &str,
    dst_pw: &str,
    mut done: impl FnMut() -> bool,
) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_passeur"))
        .args(args)
        .env("PASSEUR_FROM_PASSWORD", src_pw)
        .env("PASSEUR_TO_PASSWORD", dst_pw)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run passeur");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done()
        && std::time::Instant::now() < deadline
        && child.try_wait().expect("wait").is_none()
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let mut printed = String::new();
    if let Some(mut out) = child.stdout.take() {
        use std::io::Read as _;
        let _ = out.read_to_string(&mut printed);
    }
    let _ = child.wait();
    printed
}
