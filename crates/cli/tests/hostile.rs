//! A hostile source server must not crash, stall or balloon the copy. The hostile server is a
//! real Dovecot behind a proxy that rewrites what it says (a bad INTERNALDATE, lying sizes);
//! the destination is a real Dovecot.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use passeur_testkit::{Dovecot, DovecotOptions, RewriteProxy, replace_all};
use support::*;

const BAD_DATE: &str = "03-Mar-2003 03:03:03 +0000";

/// 4 folders of 20 messages; one message of INBOX has the date the proxy makes unreadable.
fn four_folders() -> Vec<Msg> {
    let mut msgs = Vec::new();
    for (f, folder) in ["INBOX", "Archive", "Sent", "Work"].into_iter().enumerate() {
        for i in 0..20 {
            let n = f * 100 + i;
            let date = if folder == "INBOX" && i == 7 {
                BAD_DATE
            } else {
                "01-Jan-2024 00:00:00 +0000"
            };
            msgs.push(msg(
                folder,
                simple(n, Some(&format!("<h{n}@x>"))),
                &[],
                date,
            ));
        }
    }
    msgs
}

#[test]
fn a_bad_internaldate_fails_that_message_alone_and_the_counts_are_true() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    let msgs = four_folders();
    let src_snap = rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(&mut c, &msgs).await;
        snapshot(&mut c).await
    });
    assert!(
        src_snap["INBOX"].iter().any(|m| m.date == BAD_DATE),
        "the source does not give the date back as appended: {:?}",
        src_snap["INBOX"]
            .iter()
            .map(|m| &m.date)
            .collect::<Vec<_>>()
    );
    // The zone `+0é0` has the byte length of `+0000`: it used to panic the copy.
    let from = format!("\"{BAD_DATE}\"").into_bytes();
    let to = "\"03-Mar-2003 03:03:03 +0\u{e9}0\"".as_bytes().to_vec();
    assert_eq!(from.len(), to.len());
    let proxy = RewriteProxy::start(&src.imap_addr(), move |l| replace_all(l, &from, &to)).unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &format!("imap://user1@127.0.0.1:{}", proxy.port()),
            "--to",
            &url(&dst, "user1"),
            "--no-progress",
        ],
        "pass1",
        "pass1",
    );
    assert!(proxy.rewritten() >= 1, "the proxy rewrote nothing");
    // Partial: one message could not be copied; the rest was.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(copied(&out), 79, "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 failed"), "{}", text(&out));
    let dst_snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    for f in ["Archive", "Sent", "Work"] {
        assert_same(dst_snap.get(f), src_snap.get(f), f);
    }
    let want_inbox: Vec<Seen> = src_snap["INBOX"]
        .iter()
        .filter(|m| m.date != BAD_DATE)
        .cloned()
        .collect();
    assert_eq!(want_inbox.len(), 19);
    assert_same(dst_snap.get("INBOX"), Some(&want_inbox), "INBOX");
    // The status tells what failed and why, and counts what landed.
    let id = migration_id(&out);
    let st = passeur(state.path(), &["status", &id], "", "");
    let s = String::from_utf8_lossy(&st.stdout);
    assert!(s.contains("internal date"), "{s}");
    assert!(s.contains("79"), "{s}");
    // A second pass copies nothing twice and fails the same message again.
    let again = passeur(
        state.path(),
        &["sync", &id, "--no-progress"],
        "pass1",
        "pass1",
    );
    assert_eq!(copied(&again), 0, "{}", text(&again));
    let dst_again = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_eq!(dst_again, dst_snap);
}

/// `line` with the number after `RFC822.SIZE ` replaced by `size`.
fn lie_about_size(line: &[u8], size: &[u8]) -> Vec<u8> {
    const KEY: &[u8] = b"RFC822.SIZE ";
    let Some(at) = line.windows(KEY.len()).position(|w| w == KEY) else {
        return line.to_vec();
    };
    let start = at + KEY.len();
    let end = start
        + line[start..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
    [&line[..start], size, &line[end..]].concat()
}

/// Peak resident memory (VmHWM, in KiB) of a process, read while it runs.
fn run_measuring_peak(args: &[&str]) -> (std::process::ExitStatus, u64, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_passeur"))
        .args(args)
        .env("PASSEUR_FROM_PASSWORD", "pass1")
        .env("PASSEUR_TO_PASSWORD", "pass1")
        .env_remove("PASSEUR_STATE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run passeur");
    let status_path = format!("/proc/{}/status", child.id());
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut peak = 0;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_path)
            && let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(Instant::now() < deadline, "passeur did not finish");
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = child.wait_with_output().expect("output");
    let printed = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (status, peak, printed)
}

fn big_bodies(folder: &'static str, n: usize, size: usize) -> Vec<Msg> {
    (0..n)
        .map(|i| {
            let mut body = simple(i, Some(&format!("<{folder}{i}@x>")));
            let line = format!("{:0>998}\r\n", i).into_bytes();
            while body.len() < size {
                body.extend_from_slice(&line);
            }
            body.truncate(size);
            body.extend_from_slice(b"\r\n");
            msg(folder, body, &[], "01-Jan-2024 00:00:00 +0000")
        })
        .collect()
}

#[test]
fn bodies_larger_than_declared_are_streamed_and_memory_stays_bounded() {
    // Bodies above the streaming threshold (1 MiB), and bodies under it that make two batches
    // (100 and 20 messages, 117 MiB): all declared as 100 bytes, or without a size.
    const BODIES: usize = 4;
    const SIZE: usize = 16 << 20;
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    let mut msgs = big_bodies("INBOX", BODIES, SIZE);
    msgs.extend(big_bodies("Mid", 120, 1000 << 10));
    let src_snap = rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(&mut c, &msgs).await;
        snapshot(&mut c).await
    });
    drop(msgs);
    // Sizes declared as 100 bytes, then absent.
    for (case, lie) in [("declared 100", Some(b"100".to_vec())), ("absent", None)] {
        let dst = Dovecot::start(DovecotOptions::default()).unwrap();
        let proxy = RewriteProxy::start(&src.imap_addr(), move |l| match &lie {
            Some(size) => lie_about_size(l, size),
            None => {
                // `RFC822.SIZE n` removed from the FETCH items.
                let cut = lie_about_size(l, b"");
                replace_all(&cut, b" RFC822.SIZE ", b"")
            }
        })
        .unwrap();
        let state = tempfile::tempdir().unwrap();
        let (status, peak_kib, printed) = run_measuring_peak(&[
            "--state",
            state.path().to_str().unwrap(),
            "migrate",
            "--from",
            &format!("imap://user1@127.0.0.1:{}", proxy.port()),
            "--to",
            &url(&dst, "user1"),
            "--no-progress",
        ]);
        eprintln!("{case}: peak RSS {} MiB", peak_kib / 1024);
        assert!(proxy.rewritten() >= 1, "{case}: the proxy rewrote nothing");
        assert!(status.success(), "{case}: {printed}");
        let dst_snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
        assert_same(dst_snap.get("INBOX"), src_snap.get("INBOX"), case);
        assert_same(dst_snap.get("Mid"), src_snap.get("Mid"), case);
        // 181 MiB of bodies went through under the default 24 MiB budget; trusting the sizes
        // (before), a batch of 100 bodies (98 MiB) was held whole, and the next one with it.
        assert!(
            peak_kib < 80 * 1024,
            "{case}: peak RSS {} MiB",
            peak_kib / 1024,
        );
    }
}
