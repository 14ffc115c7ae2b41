//! End to end: the `passeur` binary from a private Dovecot's POP3 into another's IMAP.

mod support;

use passeur_testkit::{Dovecot, DovecotOptions};
use support::*;

fn start_pop3() -> Dovecot {
    Dovecot::start(DovecotOptions {
        pop3: true,
        tls: true,
        ..DovecotOptions::default()
    })
    .expect("start a private Dovecot with POP3")
}

/// A message with a distinct body of some size.
fn body(i: usize, pad: usize) -> Vec<u8> {
    let mut b = simple(i, Some(&format!("<p{i}@x>")));
    // Lines starting with a dot: POP3 byte-stuffs them, the copy must not keep the stuffing.
    b.extend_from_slice(format!(".dot {i}\r\n..two\r\n").as_bytes());
    b.extend(std::iter::repeat_n(b'p', pad));
    b.extend_from_slice(b"\r\n");
    b
}

fn inbox(msgs: impl IntoIterator<Item = Vec<u8>>) -> Vec<Msg> {
    msgs.into_iter()
        .map(|b| msg("INBOX", b, &[], "01-Jan-2024 00:00:00 +0000"))
        .collect()
}

/// The SHA-256 of each message of `user`'s INBOX, sorted (duplicates kept).
fn hashes(dc: &Dovecot, user: &str) -> Vec<String> {
    let rt = rt();
    let snap = rt.block_on(async { snapshot(&mut login(dc, user).await).await });
    let mut h: Vec<String> = snap
        .get("INBOX")
        .map(|v| v.iter().map(|s| s.sha256.clone()).collect())
        .unwrap_or_default();
    h.sort();
    h
}

fn pop3s_url(dc: &Dovecot, user: &str) -> String {
    format!("pop3s://{user}@127.0.0.1:{}", dc.pop3s_port.unwrap())
}

#[test]
fn pop3_migrate_sync_verify_status_and_purge() {
    let src = start_pop3();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    let first: Vec<Vec<u8>> = (0..40).map(|i| body(i, 100 * i)).collect();
    rt.block_on(async { fill(&mut login(&src, "user1").await, &inbox(first.clone())).await });
    let want = hashes(&src, "user1");
    let state = tempfile::tempdir().unwrap();

    let from = pop3s_url(&src, "user1");
    let to = url(&dst, "user1");
    // A dry run lists what would be copied and copies nothing.
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &from,
            "--to",
            &to,
            "--from-insecure-tls",
            "--no-progress",
            "--dry-run",
        ],
        "pass1",
        "pass1",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("dry run: nothing was copied"),
        "{}",
        text(&out)
    );
    let plan = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        plan.lines()
            .any(|l| l.starts_with("POP3") && l.split_whitespace().nth(2) == Some("40")),
        "40 to copy: {plan}"
    );
    assert!(hashes(&dst, "user1").is_empty());
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &from,
            "--to",
            &to,
            "--from-insecure-tls",
            "--no-progress",
        ],
        "pass1",
        "pass1",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(copied(&out), 40, "{}", text(&out));
    let id = migration_id(&out);
    assert_eq!(hashes(&dst, "user1"), want, "byte-exact copies in INBOX");

    let run = |args: &[&str]| passeur(state.path(), args, "pass1", "pass1");
    let v = run(&["verify", &id, "--from-insecure-tls"]);
    assert!(v.status.success(), "{}", text(&v));
    assert!(text(&v).contains("verify: OK"), "{}", text(&v));

    // A second pass copies only what is new.
    let more: Vec<Vec<u8>> = (40..45).map(|i| body(i, 10)).collect();
    rt.block_on(async { fill(&mut login(&src, "user1").await, &inbox(more)).await });
    let s = run(&["sync", &id, "--from-insecure-tls", "--no-progress"]);
    assert!(s.status.success(), "{}", text(&s));
    assert_eq!(copied(&s), 5, "{}", text(&s));
    let s = run(&["sync", &id, "--from-insecure-tls", "--no-progress"]);
    assert_eq!(copied(&s), 0, "{}", text(&s));
    assert_eq!(hashes(&dst, "user1"), hashes(&src, "user1"));

    let st = run(&["status", &id, "--json"]);
    assert!(st.status.success(), "{}", text(&st));
    let j: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(j["status"], "done");
    assert_eq!(j["items"], 45);
    assert_eq!(j["passes"].as_array().unwrap().len(), 3);
    assert!(j["source"].as_str().unwrap().starts_with("pop3s://"));

    // A message lost on the destination is found by verify.
    let mut c = dst.login(1).unwrap();
    c.select("INBOX", false).unwrap();
    c.run("STORE 1 +FLAGS.SILENT (\\Deleted)").unwrap();
    c.run("EXPUNGE").unwrap();
    c.logout();
    let v = run(&["verify", &id, "--from-insecure-tls"]);
    assert_eq!(v.status.code(), Some(2), "{}", text(&v));
    assert!(text(&v).contains("DIFFERENCES FOUND"), "{}", text(&v));

    // Purge deletes on the destination only; the POP3 mailbox is untouched.
    let p = run(&["purge", &id]);
    assert!(p.status.success(), "{}", text(&p));
    assert!(hashes(&dst, "user1").is_empty());
    assert_eq!(hashes(&src, "user1").len(), 45);
    // What was purged stays away on the next pass.
    let s = run(&["sync", &id, "--from-insecure-tls", "--no-progress"]);
    assert_eq!(copied(&s), 0, "{}", text(&s));
}

#[test]
fn pop3_is_a_source_only_and_has_no_folder_rules() {
    let state = tempfile::tempdir().unwrap();
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            "imap://a@127.0.0.1:1",
            "--to",
            "pop3://b@127.0.0.1:1",
        ],
        "p",
        "p",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("POP3 can only be a source"),
        "{}",
        text(&out)
    );
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            "pop3://a@127.0.0.1:1",
            "--to",
            "imap://b@127.0.0.1:1",
            "--include",
            "INBOX",
        ],
        "p",
        "p",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("one mailbox"), "{}", text(&out));
}

#[test]
fn pop3_kill_9_then_resume_leaves_no_duplicate_and_nothing_missing() {
    let src = start_pop3();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    let msgs: Vec<Vec<u8>> = (0..1500).map(|i| body(i, 2000 + i % 1000)).collect();
    rt.block_on(async { fill(&mut login(&src, "user1").await, &inbox(msgs)).await });
    let want = hashes(&src, "user1");
    let state = tempfile::tempdir().unwrap();
    let from = format!("pop3://user1@127.0.0.1:{}", src.pop3_port.unwrap());
    let to = url(&dst, "user1");
    let args = [
        "--state",
        state.path().to_str().unwrap(),
        "migrate",
        "--from",
        &from,
        "--to",
        &to,
        "--no-progress",
    ];
    let mut seen = Vec::new();
    for round in 0..3u32 {
        let target = 300 * (round + 1);
        kill_when(&args, "pass1", "pass1", || {
            let n: u32 = rt.block_on(async {
                let mut d = login(&dst, "user1").await;
                d.status("INBOX").await.map(|s| s.exists).unwrap_or(0)
            });
            n >= target
        });
        seen.push(hashes(&dst, "user1").len());
    }
    assert!(
        seen.iter().all(|&n| n < 1500),
        "every run was killed before the end: {seen:?}"
    );
    let out = passeur(state.path(), &args[2..], "pass1", "pass1");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        hashes(&dst, "user1"),
        want,
        "after kill -9 and resume: nothing lost, nothing twice"
    );
    let id = migration_id(&out);
    let v = passeur(state.path(), &["verify", &id], "pass1", "pass1");
    assert!(v.status.success(), "{}", text(&v));
}
