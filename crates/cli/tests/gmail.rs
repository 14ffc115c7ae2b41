//! Gmail mode end to end: the testkit's Gmail-speaking server (labels over a real Dovecot) as
//! the source, a private Dovecot as the destination, the `passeur` binary in between.

mod support;

use std::collections::BTreeMap;

use passeur_testkit::{CutProxy, Dovecot, DovecotOptions, GmailServer};
use sha2::{Digest, Sha256};
use support::*;

// In UTC: a Maildir keeps the instant, not the zone, so the backend gives dates back in UTC.
const DATE: &str = "02-Mar-2024 08:30:00 +0000";

fn body(i: usize, pad: usize) -> Vec<u8> {
    let mut b = simple(i, Some(&format!("<gm{i}@example.org>")));
    b.extend(std::iter::repeat_n(b'g', pad));
    b.extend_from_slice(b"\r\n");
    b
}

fn seen(raw: &[u8], flags: &[&str], date: &str) -> Seen {
    let mut flags: Vec<String> = flags.iter().map(|f| (*f).to_owned()).collect();
    flags.sort();
    Seen {
        sha256: hex::encode(Sha256::digest(raw)),
        flags,
        date: date.to_owned(),
    }
}

fn start() -> (Dovecot, Dovecot, GmailServer) {
    let backend = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let gmail = GmailServer::start(&backend.imap_addr(), "user1", "pass1", "INBOX").unwrap();
    (backend, dst, gmail)
}

/// The destination folders that hold messages.
fn non_empty(snap: &BTreeMap<String, Vec<Seen>>) -> Vec<String> {
    snap.iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, _)| k.clone())
        .collect()
}

#[test]
fn each_message_is_downloaded_once_and_lands_in_each_label_folder() {
    let (backend, dst, gmail) = start();
    let rt = rt();
    let m1 = body(1, 2000);
    let m2 = body(2, 100);
    let m3 = body(3, 50);
    let m4 = body(4, 10);
    let u1 = gmail
        .add_message(
            &m1,
            &["\\Seen"],
            DATE,
            &[
                "\\Inbox",
                "Work",
                "Projects/Alpha",
                "\\Starred",
                "\\Important",
            ],
        )
        .unwrap();
    let u2 = gmail.add_message(&m2, &[], DATE, &[]).unwrap();
    let u3 = gmail
        .add_message(&m3, &["\\Seen", "\\Answered"], DATE, &["\\Sent"])
        .unwrap();
    let u4 = gmail
        .add_message(&m4, &["\\Seen"], DATE, &["\\Important"])
        .unwrap();

    let state = tempfile::tempdir().unwrap();
    let to = url(&dst, "user1");
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &gmail.url(),
            "--to",
            &to,
            "--no-progress",
        ],
        "pass1",
        "pass1",
    );
    assert!(out.status.success(), "{}", text(&out));
    // Three folders for m1, one for each of the others.
    assert_eq!(copied(&out), 6, "{}", text(&out));
    for uid in [u1, u2, u3, u4] {
        assert_eq!(gmail.bodies_sent_of(uid), 1, "body of UID {uid} sent once");
    }
    assert_eq!(gmail.bodies_sent(), 4);
    // Only All Mail was opened on the source: no label folder was read.
    let opened: Vec<String> = gmail
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("EXAMINE") || c.starts_with("SELECT"))
        .collect();
    assert!(
        !opened.is_empty() && opened.iter().all(|c| c.ends_with("\"[Gmail]/All Mail\"")),
        "{opened:?}"
    );

    let m1_seen = seen(&m1, &["$Important", "\\Flagged", "\\Seen"], DATE);
    let snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    let want: BTreeMap<String, Vec<Seen>> = [
        ("INBOX", vec![m1_seen.clone()]),
        ("Work", vec![m1_seen.clone()]),
        ("Projects/Alpha", vec![m1_seen.clone()]),
        ("Sent", vec![seen(&m3, &["\\Answered", "\\Seen"], DATE)]),
        ("Archive", {
            let mut v = vec![
                seen(&m2, &[], DATE),
                seen(&m4, &["$Important", "\\Seen"], DATE),
            ];
            v.sort();
            v
        }),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (folder, msgs) in &want {
        assert_same(snap.get(folder), Some(msgs), folder);
    }
    assert_eq!(
        non_empty(&snap),
        want.keys().cloned().collect::<Vec<_>>(),
        "no other folder holds messages"
    );

    // A label added later: one COPY on the destination, nothing downloaded.
    gmail.add_label(u1, "Later");
    let id = migration_id(&out);
    let sync = passeur(
        state.path(),
        &["sync", &id, "--no-progress"],
        "pass1",
        "pass1",
    );
    assert!(sync.status.success(), "{}", text(&sync));
    assert_eq!(copied(&sync), 1, "{}", text(&sync));
    assert_eq!(gmail.bodies_sent(), 4, "nothing downloaded again");
    let snap2 = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(snap2.get("Later"), Some(&vec![m1_seen.clone()]), "Later");
    for (folder, msgs) in &want {
        assert_same(snap2.get(folder), Some(msgs), folder);
    }

    // Starring a message later flags each of its copies; nothing is copied again.
    rt.block_on(async {
        // The backend holds Gmail's flags: star m2 there.
        let mut b = login(&backend, "user1").await;
        b.select("INBOX").await.unwrap();
        b.uid_store(&u2.to_string(), "+FLAGS.SILENT", &["\\Flagged".to_owned()])
            .await
            .unwrap();
    });
    let again = passeur(
        state.path(),
        &["sync", &id, "--no-progress"],
        "pass1",
        "pass1",
    );
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(copied(&again), 0, "{}", text(&again));
    assert_eq!(gmail.bodies_sent(), 4, "nothing downloaded again");
    let snap3 = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    let mut archive = vec![
        seen(&m2, &["\\Flagged"], DATE),
        seen(&m4, &["$Important", "\\Seen"], DATE),
    ];
    archive.sort();
    assert_same(
        snap3.get("Archive"),
        Some(&archive),
        "Archive after starring",
    );

    // Verify reads All Mail once and checks every label folder; it sees a copy gone.
    let ok = passeur(state.path(), &["verify", &id], "pass1", "pass1");
    assert!(ok.status.success(), "{}", text(&ok));
    rt.block_on(async {
        let mut c = login(&dst, "user1").await;
        c.select("INBOX").await.unwrap();
        c.uid_store("1:*", "+FLAGS.SILENT", &["\\Deleted".to_owned()])
            .await
            .unwrap();
        c.uid_expunge("1:*").await.unwrap();
    });
    let bad = passeur(state.path(), &["verify", &id], "pass1", "pass1");
    assert!(!bad.status.success(), "{}", text(&bad));
    assert!(text(&bad).contains("INBOX"), "{}", text(&bad));

    // A new label whose message's copy was deleted on the destination: refused with the
    // reason (never downloaded again behind the user's back), the rest of the pass goes on.
    gmail.add_label(u1, "Again");
    let before = gmail.bodies_sent();
    let sync = passeur(
        state.path(),
        &["sync", &id, "--no-progress"],
        "pass1",
        "pass1",
    );
    assert_eq!(sync.status.code(), Some(2), "{}", text(&sync));
    assert_eq!(gmail.bodies_sent(), before, "nothing downloaded again");
    let status = passeur(state.path(), &["status", &id], "", "");
    assert!(
        text(&status).contains("is no longer on the destination"),
        "{}",
        text(&status)
    );
}

#[test]
fn messages_without_labels_go_to_the_folder_given_and_purge_removes_every_copy() {
    let (_backend, dst, gmail) = start();
    let rt = rt();
    let m = body(9, 10);
    let uid = gmail.add_message(&m, &["\\Seen"], DATE, &[]).unwrap();
    let state = tempfile::tempdir().unwrap();
    let to = url(&dst, "user1");
    // A dry run plans the label folders and copies nothing.
    let dry = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &gmail.url(),
            "--to",
            &to,
            "--dry-run",
            "--no-progress",
        ],
        "pass1",
        "pass1",
    );
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(text(&dry).contains("Archive"), "{}", text(&dry));
    assert_eq!(gmail.bodies_sent(), 0);
    let snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert!(non_empty(&snap).is_empty(), "{snap:?}");
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &gmail.url(),
            "--to",
            &to,
            "--no-progress",
            "--gmail-archive-folder",
            "Old Gmail/All",
        ],
        "pass1",
        "pass1",
    );
    assert!(out.status.success(), "{}", text(&out));
    let snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(
        snap.get("Old Gmail/All"),
        Some(&vec![seen(&m, &["\\Seen"], DATE)]),
        "the archive folder given",
    );
    assert_eq!(non_empty(&snap), vec!["Old Gmail/All".to_owned()]);

    // A purge removes what was copied, label copies included, and a later sync leaves it away.
    gmail.add_label(uid, "Kept");
    let id = migration_id(&out);
    let sync = passeur(
        state.path(),
        &["sync", &id, "--no-progress"],
        "pass1",
        "pass1",
    );
    assert!(sync.status.success(), "{}", text(&sync));
    assert_eq!(copied(&sync), 1, "{}", text(&sync));
    let purge = passeur(state.path(), &["purge", &id], "", "pass1");
    assert!(purge.status.success(), "{}", text(&purge));
    let snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert!(non_empty(&snap).is_empty(), "{snap:?}");
    let sync = passeur(
        state.path(),
        &["sync", &id, "--no-progress"],
        "pass1",
        "pass1",
    );
    assert!(sync.status.success(), "{}", text(&sync));
    assert_eq!(copied(&sync), 0, "{}", text(&sync));
    let snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert!(non_empty(&snap).is_empty(), "{snap:?}");
}

#[test]
fn a_connection_cut_mid_pass_is_retried_and_the_copy_is_exact() {
    let (_backend, dst, gmail) = start();
    let rt = rt();
    let choices: [&[&str]; 3] = [&["\\Inbox"], &["\\Inbox", "A"], &["A", "B"]];
    let mut want: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    for i in 0..300 {
        let raw = body(i, 20_000);
        let labels = choices[i % choices.len()];
        gmail.add_message(&raw, &[], DATE, labels).unwrap();
        for l in labels {
            let f = if *l == "\\Inbox" { "INBOX" } else { *l };
            want.entry(f.to_owned())
                .or_default()
                .push(seen(&raw, &[], DATE));
        }
    }
    for v in want.values_mut() {
        v.sort();
    }
    // The destination is reached through a proxy that drops every connection after ~2 MB.
    let proxy = CutProxy::start(&dst.imap_addr()).unwrap();
    proxy.cut_after_bytes(2_000_000);
    let state = tempfile::tempdir().unwrap();
    let to = format!("imap://user1@127.0.0.1:{}", proxy.port());
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &gmail.url(),
            "--to",
            &to,
            "--no-progress",
        ],
        "pass1",
        "pass1",
    );
    assert!(proxy.cuts() >= 1, "the proxy never cut");
    assert!(out.status.success(), "{}", text(&out));
    let snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    for (folder, msgs) in &want {
        assert_same(
            snap.get(folder),
            Some(msgs),
            &format!("{folder} after a cut"),
        );
    }
    assert_eq!(
        non_empty(&snap),
        want.keys().cloned().collect::<Vec<_>>(),
        "no other folder holds messages"
    );
}

#[test]
fn kill_9_mid_run_leaves_no_duplicate_in_any_folder() {
    let (_backend, dst, gmail) = start();
    let rt = rt();
    let choices: [&[&str]; 6] = [
        &["\\Inbox"],
        &["\\Inbox", "A"],
        &["A", "B", "C"],
        &["B"],
        &[],
        &["\\Inbox", "C", "\\Starred"],
    ];
    let mut want: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    let n = 900;
    for i in 0..n {
        let raw = body(i, 3000 + i % 700);
        let labels = choices[i % choices.len()];
        gmail.add_message(&raw, &["\\Seen"], DATE, labels).unwrap();
        let flags: &[&str] = if labels.contains(&"\\Starred") {
            &["\\Flagged", "\\Seen"]
        } else {
            &["\\Seen"]
        };
        let folders: Vec<&str> = labels
            .iter()
            .filter(|l| **l != "\\Starred")
            .map(|l| if *l == "\\Inbox" { "INBOX" } else { *l })
            .collect();
        let folders = if folders.is_empty() {
            vec!["Archive"]
        } else {
            folders
        };
        for f in folders {
            want.entry(f.to_owned())
                .or_default()
                .push(seen(&raw, flags, DATE));
        }
    }
    for v in want.values_mut() {
        v.sort();
    }
    let total: usize = want.values().map(Vec::len).sum();
    let state = tempfile::tempdir().unwrap();
    let from = gmail.url();
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
    let count = || -> usize {
        rt.block_on(async {
            let mut d = login(&dst, "user1").await;
            let mut n = 0;
            for f in ["INBOX", "A", "B", "C", "Archive"] {
                n += d.status(f).await.map(|s| s.exists).unwrap_or(0) as usize;
            }
            n
        })
    };
    let mut cut_short = 0;
    for round in 1..=3 {
        // Kill it once part of the mail is there: first during the APPENDs, then later.
        let target = total * round / 5;
        kill_when(&args, "pass1", "pass1", || count() >= target);
        if count() < total {
            cut_short += 1;
        }
    }
    assert!(cut_short > 0, "no run was killed before it finished");
    let out = passeur(state.path(), &args[2..], "pass1", "pass1");
    assert!(out.status.success(), "{}", text(&out));
    let snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    for (folder, msgs) in &want {
        assert_same(
            snap.get(folder),
            Some(msgs),
            &format!("{folder} after kill -9"),
        );
    }
    assert_eq!(
        non_empty(&snap),
        want.keys().cloned().collect::<Vec<_>>(),
        "no other folder holds messages"
    );
    // Never once per label: that would send at least one body per folder placement (`total`,
    // 1,500 here). What was fetched but not yet appended when a run was killed is fetched again,
    // and how much that is depends on how far the fetches ran ahead of a loaded destination
    // (1,400 bodies were seen under a full suite, so a bound at 1.5 × n was flaky).
    assert!(
        gmail.bodies_sent() < total as u64,
        "{} bodies sent for {n} messages in {total} placements",
        gmail.bodies_sent()
    );
}

/// Not a test: the Gmail-mode figures for the README (`cargo nextest run -p passeur --test gmail
/// --run-ignored only`). 2,000 messages with 1.6 labels each on average, copied by passeur in
/// Gmail mode and then folder by folder (`--no-gmail-labels`) from the same server, each into
/// its own destination user; prints the bytes the Gmail server sent and the wall time of each.
#[test]
#[ignore = "benchmark: prints figures, asserts only that both copies hold the same messages"]
fn bench_gmail_mode_against_folder_by_folder() {
    let (_backend, dst, gmail) = start();
    let rt = rt();
    let patterns: [&[&str]; 5] = [
        &["\\Inbox"],
        &["Receipts"],
        &["\\Inbox", "Work"],
        &["\\Sent", "Projects/Alpha"],
        &["Work", "Receipts", "\\Starred"],
    ];
    let n = 2000;
    for i in 0..n {
        // 2 KiB to 60 KiB, a few larger.
        let pad = 2048 + (i * 7919) % (58 * 1024) + if i % 97 == 0 { 400 * 1024 } else { 0 };
        let raw = body(i, pad);
        gmail
            .add_message(&raw, &["\\Seen"], DATE, patterns[i % patterns.len()])
            .unwrap();
    }
    let mut figures = Vec::new();
    let mut snaps = Vec::new();
    for (user, extra) in [("user1", None), ("user2", Some("--no-gmail-labels"))] {
        let state = tempfile::tempdir().unwrap();
        let to = url(&dst, user);
        let from = gmail.url();
        let mut args = vec!["migrate", "--from", &from, "--to", &to, "--no-progress"];
        args.extend(extra);
        let before = gmail.bytes_sent();
        let t = std::time::Instant::now();
        let out = passeur(
            state.path(),
            &args,
            "pass1",
            if user == "user1" { "pass1" } else { "pass2" },
        );
        let secs = t.elapsed().as_secs_f64();
        assert!(out.status.success(), "{}", text(&out));
        figures.push((
            extra.unwrap_or("gmail mode"),
            gmail.bytes_sent() - before,
            secs,
            copied(&out),
        ));
        snaps.push(rt.block_on(async { snapshot(&mut login(&dst, user).await).await }));
    }
    for (mode, bytes, secs, copied) in &figures {
        println!(
            "{mode}: {copied} messages placed, {:.1} MiB sent by the Gmail server, {secs:.2} s",
            *bytes as f64 / (1 << 20) as f64
        );
    }
    for folder in ["INBOX", "Receipts", "Work", "Projects/Alpha", "Sent"] {
        assert_same(snaps[0].get(folder), snaps[1].get(folder), folder);
    }
}

/// Not a test: peak RSS and wall time of two passeur builds in Gmail mode, in one invocation
/// (`PASSEUR_OLD=… PASSEUR_NEW=… [PASSEUR_N=20000] cargo nextest run -p passeur --test gmail
/// bench_gmail_old_and_new --run-ignored only --no-capture`). `PASSEUR_N` small messages,
/// each in INBOX and about half in one or two more labels: each build copies them into a
/// destination user of its own (first pass), then each runs the no-op sync of its own
/// migration twice, alternating, under `/usr/bin/time -v`.
#[test]
#[ignore = "benchmark: needs PASSEUR_OLD and PASSEUR_NEW; prints figures"]
fn bench_gmail_old_and_new() {
    let (Ok(old), Ok(new)) = (std::env::var("PASSEUR_OLD"), std::env::var("PASSEUR_NEW")) else {
        panic!("set PASSEUR_OLD and PASSEUR_NEW to two passeur binaries");
    };
    let n: usize = std::env::var("PASSEUR_N").map_or(20_000, |v| v.parse().unwrap());
    let (backend, dst, gmail) = start();
    let rt = rt();
    let msgs: Vec<Msg> = (0..n)
        .map(|i| msg("INBOX", body(i, 200), &["\\Seen"], DATE))
        .collect();
    rt.block_on(async { fill(&mut login(&backend, "user1").await, &msgs).await });
    for uid in 1..=n as u32 {
        gmail.add_label(uid, "\\Inbox");
        match uid % 4 {
            0 => gmail.add_label(uid, "Work"),
            1 => {
                gmail.add_label(uid, "Receipts");
                gmail.add_label(uid, "Projects/Alpha");
            }
            _ => {}
        }
    }
    // `/usr/bin/time -v` of one run: (wall s, peak RSS MB, stdout).
    let timed = |bin: &str, state: &std::path::Path, args: &[&str], pw: &str| {
        let out = std::process::Command::new("/usr/bin/time")
            .arg("-v")
            .arg(bin)
            .arg("--state")
            .arg(state)
            .args(args)
            .env("PASSEUR_FROM_PASSWORD", "pass1")
            .env("PASSEUR_TO_PASSWORD", pw)
            .env_remove("PASSEUR_STATE")
            .output()
            .expect("run passeur");
        assert!(out.status.success(), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        let field = |name: &str| {
            err.lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .unwrap_or_default()
                .trim()
                .to_owned()
        };
        let rss = field("Maximum resident set size (kbytes):")
            .parse::<f64>()
            .unwrap_or(0.0)
            / 1024.0;
        let wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss):");
        let secs = wall
            .split(':')
            .fold(0.0, |acc, p| acc * 60.0 + p.parse::<f64>().unwrap_or(0.0));
        (secs, rss, String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let from = gmail.url();
    let mut runs = Vec::new();
    for (name, bin, user, pw) in [
        ("old", &old, "user1", "pass1"),
        ("new", &new, "user2", "pass2"),
    ] {
        let state = tempfile::tempdir().unwrap();
        let to = url(&dst, user);
        let args = ["migrate", "--from", &from, "--to", &to, "--no-progress"];
        let (secs, rss, stdout) = timed(bin, state.path(), &args, pw);
        let id = stdout
            .lines()
            .find_map(|l| l.strip_prefix("migration "))
            .unwrap()
            .trim()
            .to_owned();
        println!("{name} first pass: {secs:.2} s, {rss:.1} MB peak RSS");
        runs.push((name, bin, state, id, pw));
    }
    for round in 1..=2 {
        for (name, bin, state, id, pw) in &runs {
            let (secs, rss, _) = timed(bin, state.path(), &["sync", id, "--no-progress"], pw);
            println!("{name} no-op sync {round}: {secs:.2} s, {rss:.1} MB peak RSS");
        }
    }
    let snap = |user: &str| rt.block_on(async { snapshot(&mut login(&dst, user).await).await });
    let (a, b) = (snap("user1"), snap("user2"));
    for folder in ["INBOX", "Work", "Receipts", "Projects/Alpha"] {
        assert_eq!(
            a.get(folder).map(Vec::len),
            b.get(folder).map(Vec::len),
            "{folder}"
        );
        assert_same(a.get(folder), b.get(folder), folder);
    }
}

#[test]
fn folder_rules_apply_to_labels() {
    let (_backend, dst, gmail) = start();
    let rt = rt();
    let only_work = body(20, 10);
    let inbox_and_work = body(21, 10);
    let renamed = body(22, 10);
    gmail.add_message(&only_work, &[], DATE, &["Work"]).unwrap();
    gmail
        .add_message(&inbox_and_work, &[], DATE, &["\\Inbox", "Work"])
        .unwrap();
    gmail
        .add_message(&renamed, &[], DATE, &["Clients/Acme"])
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let to = url(&dst, "user1");
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &gmail.url(),
            "--to",
            &to,
            "--no-progress",
            "--exclude",
            "Work",
            "--rename",
            "Clients=Customers",
        ],
        "pass1",
        "pass1",
    );
    assert!(out.status.success(), "{}", text(&out));
    // A message whose only label is left out is not copied (it does not go to Archive).
    assert_eq!(gmail.bodies_sent(), 2);
    let snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(
        snap.get("INBOX"),
        Some(&vec![seen(&inbox_and_work, &[], DATE)]),
        "INBOX",
    );
    assert_same(
        snap.get("Customers/Acme"),
        Some(&vec![seen(&renamed, &[], DATE)]),
        "Customers/Acme",
    );
    assert_eq!(
        non_empty(&snap),
        vec!["Customers/Acme".to_owned(), "INBOX".to_owned()]
    );
    assert!(!snap.contains_key("Work"), "{snap:?}");
}

#[test]
fn a_new_message_is_downloaded_once_at_the_next_sync() {
    let (_backend, dst, gmail) = start();
    let rt = rt();
    let old = body(30, 10);
    let new = body(31, 10);
    gmail.add_message(&old, &[], DATE, &["\\Inbox"]).unwrap();
    let state = tempfile::tempdir().unwrap();
    let to = url(&dst, "user1");
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &gmail.url(),
            "--to",
            &to,
            "--no-progress",
        ],
        "pass1",
        "pass1",
    );
    assert!(out.status.success(), "{}", text(&out));
    let uid = gmail
        .add_message(&new, &["\\Seen"], DATE, &["\\Inbox", "Travel"])
        .unwrap();
    let sync = passeur(
        state.path(),
        &["sync", &migration_id(&out), "--no-progress"],
        "pass1",
        "pass1",
    );
    assert!(sync.status.success(), "{}", text(&sync));
    assert_eq!(copied(&sync), 2, "{}", text(&sync));
    assert_eq!(gmail.bodies_sent_of(uid), 1);
    assert_eq!(gmail.bodies_sent(), 2);
    let snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    let mut inbox = vec![seen(&old, &[], DATE), seen(&new, &["\\Seen"], DATE)];
    inbox.sort();
    assert_same(snap.get("INBOX"), Some(&inbox), "INBOX");
    assert_same(
        snap.get("Travel"),
        Some(&vec![seen(&new, &["\\Seen"], DATE)]),
        "Travel",
    );
}
