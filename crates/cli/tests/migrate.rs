//! End to end: the `passeur` binary between private Dovecot servers.

mod support;

use std::collections::BTreeMap;

use passeur_testkit::{CutProxy, Dovecot, DovecotOptions};
use support::*;

/// The source folder tree and its messages: special-use and non-ASCII folders, 8-bit headers,
/// no Message-ID, duplicate Message-IDs, bare LF, very long lines, a 20 MB attachment,
/// flags and keywords.
fn source_messages() -> Vec<Msg> {
    let mut v = Vec::new();
    for i in 0..30 {
        let flags: &[&str] = match i % 5 {
            0 => &["\\Seen"],
            1 => &["\\Seen", "\\Answered", "$Forwarded"],
            2 => &["\\Flagged", "$Label1"],
            3 => &["NonJunk"],
            _ => &[],
        };
        v.push(msg(
            "INBOX",
            simple(i, Some(&format!("<m{i}@example.org>"))),
            flags,
            "17-Jul-2019 02:44:25 -0700",
        ));
    }
    v.push(msg(
        "INBOX/Newsletters",
        simple(100, Some("<n1@example.org>")),
        &["\\Seen"],
        "01-Feb-2020 10:00:00 +0100",
    ));
    v.push(msg(
        "Sent",
        simple(101, Some("<s1@example.org>")),
        &["\\Seen"],
        "02-Mar-2021 11:00:00 +0000",
    ));
    v.push(msg(
        "Drafts",
        simple(102, None),
        &["\\Draft"],
        "03-Apr-2022 12:00:00 +0200",
    ));
    v.push(msg(
        "Trash",
        simple(103, Some("<t1@example.org>")),
        &["\\Seen", "\\Deleted"],
        "04-May-2023 13:00:00 -0500",
    ));
    v.push(msg(
        "Archive/2020",
        simple(104, Some("<a1@example.org>")),
        &["\\Seen"],
        "05-Jun-2020 14:00:00 +0000",
    ));
    // Non-ASCII folder names (given in UTF-8; `fill` encodes them).
    v.push(msg(
        "Entwürfe & Notizen",
        simple(105, Some("<e1@example.org>")),
        &[],
        "06-Jul-2024 15:00:00 +0000",
    ));
    v.push(msg(
        "請求書",
        simple(106, Some("<j1@example.org>")),
        &["\\Seen"],
        "07-Aug-2024 16:00:00 +0900",
    ));
    v.push(msg(
        "Reçus/Été 2023",
        simple(107, Some("<r1@example.org>")),
        &[],
        "08-Sep-2023 17:00:00 +0000",
    ));
    // Duplicate Message-IDs, no Message-ID.
    v.push(msg(
        "INBOX",
        simple(200, Some("<dup@example.org>")),
        &[],
        "09-Oct-2024 18:00:00 +0000",
    ));
    v.push(msg(
        "INBOX",
        simple(201, Some("<dup@example.org>")),
        &["\\Seen"],
        "09-Oct-2024 18:00:00 +0000",
    ));
    v.push(msg(
        "INBOX",
        simple(202, None),
        &[],
        "10-Nov-2024 19:00:00 +0000",
    ));
    // 8-bit header, bare LF, very long line.
    v.push(msg(
        "INBOX",
        "From: J\u{fc}rgen M\u{fc}ller <j@example.de>\r\nSubject: Gr\u{fc}\u{df}e aus K\u{f6}ln\r\nMessage-ID: <8bit@example.de>\r\n\r\nH\u{e9}llo\r\n".as_bytes().to_vec(),
        &[],
        "11-Dec-2024 20:00:00 +0000",
    ));
    v.push(msg(
        "INBOX",
        b"From: a@b\nSubject: bare LF\nMessage-ID: <lf@b>\n\nline one\nline two\n".to_vec(),
        &[],
        "12-Jan-2025 21:00:00 +0000",
    ));
    let long = format!(
        "From: a@b\r\nSubject: long line\r\nMessage-ID: <long@b>\r\n\r\n{}\r\n",
        "x".repeat(200_000)
    );
    v.push(msg("INBOX", long, &[], "13-Feb-2025 22:00:00 +0000"));
    v
}

fn big_message() -> Vec<u8> {
    // 20 MB of base64 attachment.
    let mut m = b"From: a@b\r\nSubject: big\r\nMessage-ID: <big@b>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
    while m.len() < 20_000_000 {
        m.extend_from_slice(line);
    }
    m.extend_from_slice(b"--XX--\r\n");
    m
}

/// Maps the source's wire names to the expected destination names (prefix `INBOX.`, separator `.`).
fn expected_on_prefixed(src: &BTreeMap<String, Vec<Seen>>) -> BTreeMap<String, Vec<Seen>> {
    src.iter()
        .map(|(name, msgs)| {
            let dst = if name == "INBOX" {
                "INBOX".to_string()
            } else if let Some(rest) = name.strip_prefix("INBOX/") {
                format!("INBOX.{rest}")
            } else {
                format!("INBOX.{}", name.replace('/', "."))
            };
            (dst, msgs.clone())
        })
        .collect()
}

#[test]
fn migrate_is_exact_idempotent_incremental_and_purgeable() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions {
        inbox_prefix: true,
        ..Default::default()
    })
    .unwrap();
    let rt = rt();
    let state = tempfile::tempdir().unwrap();

    let mut msgs = source_messages();
    msgs.push(msg(
        "INBOX",
        big_message(),
        &["\\Seen"],
        "14-Mar-2025 23:00:00 +0000",
    ));
    let src_before = rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(&mut c, &msgs).await;
        // A message already on the destination must survive everything, purge included.
        let mut d = login(&dst, "user1").await;
        fill(
            &mut d,
            &[msg(
                "INBOX",
                simple(999, Some("<own@dst>")),
                &["\\Seen"],
                "01-Jan-2018 00:00:00 +0000",
            )],
        )
        .await;
        snapshot(&mut c).await
    });

    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &url(&src, "user1"),
            "--to",
            &url(&dst, "user1"),
            "--no-progress",
        ],
        "pass1",
        "pass1",
    );
    assert!(out.status.success(), "{}", text(&out));
    let id = migration_id(&out);
    assert_eq!(copied(&out), msgs.len() as u64, "{}", text(&out));

    // Same folders, bytes, flags, keywords and dates: checked without passeur's own verify.
    let dst_after = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    let mut expected = expected_on_prefixed(&src_before);
    // The destination's own message is still there.
    expected.get_mut("INBOX").unwrap().push(
        dst_after["INBOX"]
            .iter()
            .find(|s| s.date.starts_with("01-Jan-2018"))
            .cloned()
            .expect("own message kept"),
    );
    expected.get_mut("INBOX").unwrap().sort();
    for (folder, msgs) in &expected {
        assert_same(dst_after.get(folder), Some(msgs), folder);
    }

    let out = passeur(state.path(), &["verify", &id], "pass1", "pass1");
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("verify: OK"));

    // A second run copies nothing and continues the same migration.
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &url(&src, "user1"),
            "--to",
            &url(&dst, "user1"),
            "--no-progress",
        ],
        "pass1",
        "pass1",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(migration_id(&out), id);
    assert_eq!(copied(&out), 0);

    // New mail and a flag change: sync copies exactly the new mail and brings the flag over.
    rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(
            &mut c,
            &[
                msg(
                    "INBOX",
                    simple(300, Some("<new1@x>")),
                    &[],
                    "01-Apr-2025 00:00:00 +0000",
                ),
                msg(
                    "Sent",
                    simple(301, Some("<new2@x>")),
                    &["\\Seen"],
                    "02-Apr-2025 00:00:00 +0000",
                ),
            ],
        )
        .await;
        c.select("INBOX").await.unwrap();
        c.uid_store("1", "+FLAGS.SILENT", &["\\Flagged".to_string()])
            .await
            .unwrap();
    });
    let out = passeur(
        state.path(),
        &["sync", &id, "--no-progress"],
        "pass1",
        "pass1",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(copied(&out), 2, "{}", text(&out));
    let src_now = rt.block_on(async { snapshot(&mut login(&src, "user1").await).await });
    let dst_now = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_eq!(dst_now.get("INBOX.Sent"), src_now.get("Sent"));
    assert_eq!(dst_now["INBOX"].len(), src_now["INBOX"].len() + 1);
    let out = passeur(state.path(), &["verify", &id], "pass1", "pass1");
    assert!(
        out.status.success(),
        "flag change not brought over: {}",
        text(&out)
    );

    // Status lists both passes.
    let out = passeur(state.path(), &["status", &id, "--json"], "", "");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["passes"].as_array().unwrap().len(), 3);
    assert_eq!(v["status"], "done");

    // Purge from pass 3 removes exactly the two new messages.
    let out = passeur(
        state.path(),
        &["purge", &id, "--from-pass", "3"],
        "",
        "pass1",
    );
    assert!(out.status.success(), "{}", text(&out));
    let after_purge = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_eq!(after_purge["INBOX"].len(), dst_now["INBOX"].len() - 1);
    assert_eq!(
        after_purge["INBOX.Sent"].len(),
        dst_now["INBOX.Sent"].len() - 1
    );

    // Purge everything: only the destination's own message is left.
    let out = passeur(state.path(), &["purge", &id], "", "pass1");
    assert!(out.status.success(), "{}", text(&out));
    let empty = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    let left: usize = empty.values().map(Vec::len).sum();
    assert_eq!(left, 1, "{empty:?}");
    assert!(empty["INBOX"][0].date.starts_with("01-Jan-2018"));

    // "Synchronise" after a purge copies what is new on the source, not the purged mail again.
    rt.block_on(async {
        fill(
            &mut login(&src, "user1").await,
            &[msg(
                "INBOX",
                simple(400, Some("<after-purge@x>")),
                &[],
                "03-Apr-2025 00:00:00 +0000",
            )],
        )
        .await;
    });
    let out = passeur(
        state.path(),
        &["sync", &id, "--no-progress"],
        "pass1",
        "pass1",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(copied(&out), 1, "{}", text(&out));
    let after = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_eq!(after.values().map(Vec::len).sum::<usize>(), 2, "{after:?}");
    // verify expects everything but what was purged.
    let out = passeur(state.path(), &["verify", &id], "pass1", "pass1");
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn wrong_password_unreachable_host_and_tls_are_clear_errors() {
    let src = Dovecot::start(DovecotOptions {
        tls: true,
        ..Default::default()
    })
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let dst_url = url(&src, "user2");

    let out = passeur(
        state.path(),
        &["migrate", "--from", &url(&src, "user1"), "--to", &dst_url],
        "wrong",
        "pass2",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("source") && err.contains("log in"),
        "{}",
        text(&out)
    );

    let out = passeur(
        state.path(),
        &["migrate", "--from", &url(&src, "user1"), "--to", &dst_url],
        "pass1",
        "wrong",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("destination"),
        "{}",
        text(&out)
    );

    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &format!("imap://user1@127.0.0.1:{dead}"),
            "--to",
            &dst_url,
        ],
        "pass1",
        "pass2",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("source") && err.contains("connect"),
        "{}",
        text(&out)
    );

    // Self-signed certificate: refused unless --insecure-tls.
    let tls_url = format!("imaps://user1@127.0.0.1:{}", src.imaps_port.unwrap());
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &tls_url,
            "--to",
            &dst_url,
            "--no-progress",
        ],
        "pass1",
        "pass2",
    );
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        !out.status.success() && err.contains("certificate"),
        "{}",
        text(&out)
    );
    let starttls = format!("imap+starttls://user1@127.0.0.1:{}", src.imap_port);
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &tls_url,
            "--to",
            &starttls.replace("user1", "user2"),
            "--insecure-tls",
            "--no-progress",
        ],
        "pass1",
        "pass2",
    );
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn delegation_logs_in_as_admin_on_behalf_of_the_user() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(
            &mut c,
            &[msg(
                "INBOX",
                simple(1, Some("<d1@x>")),
                &["\\Seen"],
                "01-Jan-2024 00:00:00 +0000",
            )],
        )
        .await;
    });
    let state = tempfile::tempdir().unwrap();
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &url(&src, "user1"),
            "--from-admin",
            "admin",
            "--to",
            &url(&src, "user3"),
            "--to-admin",
            "admin",
            "--no-progress",
        ],
        "masterpass",
        "masterpass",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(copied(&out), 1);
    let (a, b) = rt.block_on(async {
        (
            snapshot(&mut login(&src, "user1").await).await,
            snapshot(&mut login(&src, "user3").await).await,
        )
    });
    assert_eq!(a["INBOX"], b["INBOX"]);
}

#[test]
fn kill_9_then_resume_leaves_no_duplicate_and_nothing_missing() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    let msgs: Vec<Msg> = (0..3000)
        .map(|i| {
            let folder = if i % 3 == 0 { "Archive" } else { "INBOX" };
            let mut body = simple(i, Some(&format!("<k{i}@x>")));
            body.extend(std::iter::repeat_n(b'z', 3000 + i % 1000));
            body.extend_from_slice(b"\r\n");
            msg(folder, body, &["\\Seen"], "01-Jan-2024 00:00:00 +0000")
        })
        .collect();
    let src_snap = rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(&mut c, &msgs).await;
        snapshot(&mut c).await
    });
    let state = tempfile::tempdir().unwrap();
    let args = [
        "--state",
        state.path().to_str().unwrap(),
        "migrate",
        "--from",
        &url(&src, "user1"),
        "--to",
        &url(&dst, "user1"),
        "--no-progress",
        "--connections",
        "2",
    ];
    for round in 0..3 {
        // Let it copy part of the mail, then kill it without warning.
        let target = 600 * (round + 1);
        kill_when(&args, "pass1", "pass1", || {
            let n: u32 = rt.block_on(async {
                let mut d = login(&dst, "user1").await;
                let a = d.status("INBOX").await.map(|s| s.exists).unwrap_or(0);
                let b = d.status("Archive").await.map(|s| s.exists).unwrap_or(0);
                a + b
            });
            n >= target
        });
    }
    let out = passeur(state.path(), &args[2..], "pass1", "pass1");
    assert!(out.status.success(), "{}", text(&out));
    let dst_snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(
        dst_snap.get("INBOX"),
        src_snap.get("INBOX"),
        "INBOX after kill -9 and resume",
    );
    assert_same(
        dst_snap.get("Archive"),
        src_snap.get("Archive"),
        "Archive after kill -9 and resume",
    );
}

#[test]
fn a_connection_cut_mid_transfer_is_retried_and_the_copy_is_exact() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    let msgs: Vec<Msg> = (0..400)
        .map(|i| {
            let mut body = simple(i, Some(&format!("<c{i}@x>")));
            body.extend(std::iter::repeat_n(b'y', 20_000));
            body.extend_from_slice(b"\r\n");
            msg("INBOX", body, &[], "01-Jan-2024 00:00:00 +0000")
        })
        .collect();
    let src_snap = rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(&mut c, &msgs).await;
        snapshot(&mut c).await
    });
    // The destination is reached through a proxy that drops the connection after ~3 MB.
    let proxy = CutProxy::start(&dst.imap_addr()).unwrap();
    proxy.cut_after_bytes(3_000_000);
    let state = tempfile::tempdir().unwrap();
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &url(&src, "user1"),
            "--to",
            &format!("imap://user1@127.0.0.1:{}", proxy.port()),
            "--no-progress",
        ],
        "pass1",
        "pass1",
    );
    assert!(proxy.cuts() >= 1, "the proxy never cut");
    assert!(out.status.success(), "{}", text(&out));
    let dst_snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(dst_snap.get("INBOX"), src_snap.get("INBOX"), "INBOX");
}

/// The copy pipeline fetches the next batch while one is being appended. A reply lost after
/// the third batch landed leaves the third batch pending in the item map, with the fourth
/// already fetched: the retry must find the third on the destination and send the fourth once.
#[test]
fn a_lost_append_reply_mid_pipeline_leaves_no_duplicate() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    let msgs: Vec<Msg> = (0..600)
        .map(|i| {
            msg(
                "INBOX",
                simple(i, Some(&format!("<lost{i}@x>"))),
                &[],
                "01-Jan-2024 00:00:00 +0000",
            )
        })
        .collect();
    let src_snap = rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(&mut c, &msgs).await;
        snapshot(&mut c).await
    });
    let proxy = CutProxy::start(&dst.imap_addr()).unwrap();
    // Batches of 100 messages, one MULTIAPPEND each: the third one's OK never arrives.
    proxy.cut_on_reply(b"[APPENDUID", 3);
    let state = tempfile::tempdir().unwrap();
    let args = [
        "migrate",
        "--from",
        &url(&src, "user1"),
        "--to",
        &format!("imap://user1@127.0.0.1:{}", proxy.port()),
        "--no-progress",
    ];
    let out = passeur(state.path(), &args, "pass1", "pass1");
    assert_eq!(proxy.cuts(), 1, "the proxy did not cut: {}", text(&out));
    assert!(out.status.success(), "{}", text(&out));
    let dst_snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(
        dst_snap.get("INBOX"),
        src_snap.get("INBOX"),
        "INBOX after the lost reply",
    );
    let again = passeur(state.path(), &args, "pass1", "pass1");
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("total: 0 copied"),
        "the re-run copied again: {}",
        text(&again)
    );
}

#[test]
fn a_message_the_destination_refuses_is_reported_and_the_rest_goes_on() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions {
        quota_bytes: Some(2_000_000),
        ..Default::default()
    })
    .unwrap();
    let rt = rt();
    let mut msgs: Vec<Msg> = (0..20)
        .map(|i| {
            msg(
                "INBOX",
                simple(i, Some(&format!("<q{i}@x>"))),
                &[],
                "01-Jan-2024 00:00:00 +0000",
            )
        })
        .collect();
    let mut big = simple(99, Some("<q-big@x>"));
    big.extend(std::iter::repeat_n(b'q', 3_000_000));
    big.extend_from_slice(b"\r\n");
    msgs.push(msg("INBOX", big, &[], "02-Jan-2024 00:00:00 +0000"));
    rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(&mut c, &msgs).await;
    });
    let state = tempfile::tempdir().unwrap();
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &url(&src, "user1"),
            "--to",
            &url(&dst, "user1"),
            "--no-progress",
        ],
        "pass1",
        "pass1",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(copied(&out), 20, "{}", text(&out));
    let id = migration_id(&out);
    let st = passeur(state.path(), &["status", &id], "", "");
    let s = String::from_utf8_lossy(&st.stdout);
    assert!(
        s.contains("OVERQUOTA") || s.to_lowercase().contains("quota"),
        "{s}"
    );
}

#[test]
fn real_mime_corpus_goes_through_byte_identical() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/mime");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        panic!("the shared corpus is missing at {}", dir.display());
    };
    let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.sort();
    let bodies: Vec<Vec<u8>> = files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|b| !b.is_empty() && b.len() < 10_000_000)
        .collect();
    assert!(bodies.len() > 100, "expected the corpus's MIME files");
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    let src_snap = rt.block_on(async {
        let mut c = login(&src, "user1").await;
        let msgs: Vec<Msg> = bodies
            .into_iter()
            .map(|b| msg("INBOX", b, &["\\Seen"], "01-Jan-2024 00:00:00 +0000"))
            .collect();
        fill(&mut c, &msgs).await;
        snapshot(&mut c).await
    });
    let state = tempfile::tempdir().unwrap();
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &url(&src, "user1"),
            "--to",
            &url(&dst, "user1"),
            "--no-progress",
        ],
        "pass1",
        "pass1",
    );
    assert!(out.status.success(), "{}", text(&out));
    let dst_snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(dst_snap.get("INBOX"), src_snap.get("INBOX"), "INBOX");
}

/// The folders of a `--json` pass report, by source folder name.
fn json_folders(o: &std::process::Output) -> BTreeMap<String, serde_json::Value> {
    let out = String::from_utf8_lossy(&o.stdout);
    let start = out
        .find('{')
        .unwrap_or_else(|| panic!("no JSON in {}", text(o)));
    let v: serde_json::Value = serde_json::from_str(&out[start..]).unwrap();
    v["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["folder"].as_str().unwrap().to_owned(), f.clone()))
        .collect()
}

#[test]
fn sync_lists_only_changes_since_the_last_pass_and_falls_back_to_a_full_listing() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    let state = tempfile::tempdir().unwrap();
    let msgs: Vec<Msg> = (0..60)
        .map(|i| {
            let folder = if i % 2 == 0 { "INBOX" } else { "Archive" };
            msg(
                folder,
                simple(i, Some(&format!("<d{i}@x>"))),
                &["\\Seen"],
                "01-Jan-2024 00:00:00 +0000",
            )
        })
        .collect();
    rt.block_on(async { fill(&mut login(&src, "user1").await, &msgs).await });
    let migrate = |extra: &[&str]| {
        let mut args = vec![
            "migrate",
            "--from",
            &url(&src, "user1"),
            "--to",
            &url(&dst, "user1"),
            "--no-progress",
            "--json",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        passeur(state.path(), &refs, "pass1", "pass1")
    };
    let out = migrate(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let first = json_folders(&out);
    assert_eq!(first["INBOX"]["delta"], false);
    assert_eq!(first["INBOX"]["copied"], 30);

    // One new message and two flag changes in INBOX; Archive untouched.
    rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(
            &mut c,
            &[msg(
                "INBOX",
                simple(100, Some("<d100@x>")),
                &[],
                "02-Jan-2024 00:00:00 +0000",
            )],
        )
        .await;
        c.select("INBOX").await.unwrap();
        c.uid_store("3,7", "+FLAGS.SILENT", &["$Important".to_string()])
            .await
            .unwrap();
    });
    let out = migrate(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let second = json_folders(&out);
    assert_eq!(second["INBOX"]["delta"], true, "{}", text(&out));
    assert_eq!(second["INBOX"]["copied"], 1);
    assert_eq!(second["INBOX"]["flags_updated"], 2);
    assert_eq!(second["Archive"]["unchanged"], true);
    let src_now = rt.block_on(async { snapshot(&mut login(&src, "user1").await).await });
    let dst_now = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(dst_now.get("INBOX"), src_now.get("INBOX"), "INBOX");

    // --full lists everything again and finds nothing to do.
    rt.block_on(async {
        let mut c = login(&src, "user1").await;
        c.select("INBOX").await.unwrap();
        c.uid_store("1", "+FLAGS.SILENT", &["\\Flagged".to_string()])
            .await
            .unwrap();
    });
    let out = migrate(&["--full"]);
    assert!(out.status.success(), "{}", text(&out));
    let third = json_folders(&out);
    assert_eq!(third["INBOX"]["delta"], false);
    assert_eq!(third["INBOX"]["copied"], 0);
    assert_eq!(third["INBOX"]["flags_updated"], 1);
    let src_now = rt.block_on(async { snapshot(&mut login(&src, "user1").await).await });
    let dst_now = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(dst_now.get("INBOX"), src_now.get("INBOX"), "INBOX");
    assert_same(dst_now.get("Archive"), src_now.get("Archive"), "Archive");
}

#[test]
fn special_use_folders_map_by_role_when_their_names_differ() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    // An Outlook-style destination: the same roles under other names.
    let dst = Dovecot::start(DovecotOptions {
        special_folders: Some(
            [
                ("Drafts", "\\Drafts"),
                ("Sent Items", "\\Sent"),
                ("Deleted Items", "\\Trash"),
                ("Junk E-mail", "\\Junk"),
                ("Archives", "\\Archive"),
            ]
            .iter()
            .map(|(n, a)| ((*n).to_owned(), (*a).to_owned()))
            .collect(),
        ),
        ..Default::default()
    })
    .unwrap();
    let rt = rt();
    let folders = [
        "INBOX", "Sent", "Trash", "Junk", "Drafts", "Archive", "Projects",
    ];
    let msgs: Vec<Msg> = folders
        .iter()
        .enumerate()
        .flat_map(|(f, folder)| {
            (0..3).map(move |i| {
                msg(
                    folder,
                    simple(f * 10 + i, Some(&format!("<s{f}-{i}@x>"))),
                    &["\\Seen"],
                    "05-May-2024 10:00:00 +0200",
                )
            })
        })
        .collect();
    let src_snap = rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(&mut c, &msgs).await;
        snapshot(&mut c).await
    });
    let state = tempfile::tempdir().unwrap();
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &url(&src, "user1"),
            "--to",
            &url(&dst, "user1"),
            "--no-progress",
        ],
        "pass1",
        "pass1",
    );
    assert!(out.status.success(), "{}", text(&out));
    let dst_snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    for (from, to) in [
        ("INBOX", "INBOX"),
        ("Sent", "Sent Items"),
        ("Trash", "Deleted Items"),
        ("Junk", "Junk E-mail"),
        ("Drafts", "Drafts"),
        ("Archive", "Archives"),
        ("Projects", "Projects"),
    ] {
        assert_same(dst_snap.get(to), src_snap.get(from), to);
    }
    // No folder was created under the source's names for a role the destination has.
    for name in ["Sent", "Trash", "Junk", "Archive"] {
        assert!(
            !dst_snap.contains_key(name),
            "{name} created on the destination: {:?}",
            dst_snap.keys().collect::<Vec<_>>()
        );
    }
}

/// Messages large enough to be streamed (above the 1 MiB default), and small ones around them.
fn large_and_small(tag: &str) -> Vec<Msg> {
    (0..30)
        .map(|i| {
            let mut body = simple(i, Some(&format!("<{tag}{i}@x>")));
            let pad = if i % 3 == 0 { 2_500_000 } else { 2_000 };
            body.extend((0..pad).map(|j| {
                if j % 100 == 99 {
                    b'\n'
                } else {
                    b'a' + (j % 26) as u8
                }
            }));
            body.extend_from_slice(b"\r\n");
            let flags: &[&str] = if i % 2 == 0 {
                &["\\Seen", "$Work"]
            } else {
                &[]
            };
            msg("INBOX", body, flags, "03-Mar-2023 12:00:00 +0100")
        })
        .collect()
}

#[test]
fn large_messages_stream_exactly_through_cuts_on_either_side_and_kill_9() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    let msgs = large_and_small("L");
    let src_snap = rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(&mut c, &msgs).await;
        snapshot(&mut c).await
    });

    // The destination connection drops in the middle of a streamed message.
    let dst_proxy = CutProxy::start(&dst.imap_addr()).unwrap();
    dst_proxy.cut_after_bytes(6_000_000);
    let state = tempfile::tempdir().unwrap();
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &url(&src, "user1"),
            "--to",
            &format!("imap://user1@127.0.0.1:{}", dst_proxy.port()),
            "--no-progress",
        ],
        "pass1",
        "pass1",
    );
    assert!(dst_proxy.cuts() >= 1, "the destination proxy never cut");
    assert!(out.status.success(), "{}", text(&out));
    let got = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(
        got.get("INBOX"),
        src_snap.get("INBOX"),
        "INBOX, destination cut",
    );

    // The source connection drops in the middle of a streamed message.
    let src_proxy = CutProxy::start(&src.imap_addr()).unwrap();
    src_proxy.cut_after_bytes(6_000_000);
    let state = tempfile::tempdir().unwrap();
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &format!("imap://user1@127.0.0.1:{}", src_proxy.port()),
            "--to",
            &url(&dst, "user2"),
            "--no-progress",
        ],
        "pass1",
        "pass2",
    );
    assert!(src_proxy.cuts() >= 1, "the source proxy never cut");
    assert!(out.status.success(), "{}", text(&out));
    let got = rt.block_on(async { snapshot(&mut login(&dst, "user2").await).await });
    assert_same(got.get("INBOX"), src_snap.get("INBOX"), "INBOX, source cut");

    // Killed while streaming, then resumed.
    let state = tempfile::tempdir().unwrap();
    let args = [
        "--state",
        state.path().to_str().unwrap(),
        "migrate",
        "--from",
        &url(&src, "user1"),
        "--to",
        &url(&dst, "user3"),
        "--no-progress",
    ];
    for target in [2, 5] {
        // The 20 small messages go first, then the 10 large ones one by one.
        kill_when(&args, "pass1", "pass3", || {
            let landed: u32 = rt.block_on(async {
                let mut d = login(&dst, "user3").await;
                d.status("INBOX").await.map(|s| s.exists).unwrap_or(0)
            });
            landed >= 20 + target
        });
    }
    let out = passeur(state.path(), &args[2..], "pass1", "pass3");
    assert!(out.status.success(), "{}", text(&out));
    let got = rt.block_on(async { snapshot(&mut login(&dst, "user3").await).await });
    assert_same(got.get("INBOX"), src_snap.get("INBOX"), "INBOX, kill -9");
}

#[test]
fn verify_fails_on_a_duplicate_of_a_migrated_message() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    let state = tempfile::tempdir().unwrap();
    let msgs: Vec<Msg> = (0..5)
        .map(|i| {
            msg(
                "INBOX",
                simple(i, Some(&format!("<dup{i}@x>"))),
                &["\\Seen"],
                "17-Jul-2019 02:44:25 -0700",
            )
        })
        .collect();
    rt.block_on(async { fill(&mut login(&src, "user1").await, &msgs).await });
    let args = [
        "migrate",
        "--from",
        &url(&src, "user1"),
        "--to",
        &url(&dst, "user1"),
        "--no-progress",
    ];
    let out = passeur(state.path(), &args, "pass1", "pass1");
    assert!(out.status.success(), "{}", text(&out));
    let id = migration_id(&out);
    let out = passeur(state.path(), &["verify", &id], "pass1", "pass1");
    assert!(out.status.success(), "{}", text(&out));

    // The same message a second time on the destination: the same bytes, flags and date.
    let mut c =
        passeur_testkit::imapwire::Client::login(&dst.imap_addr(), "user1", "pass1").unwrap();
    c.append(
        "INBOX",
        &["\\Seen"],
        Some("17-Jul-2019 02:44:25 -0700"),
        &msgs[2].body,
    )
    .unwrap();
    c.logout();
    let out = passeur(state.path(), &["verify", &id, "--json"], "pass1", "pass1");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let inbox = v["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["folder"] == "INBOX")
        .unwrap()
        .clone();
    assert_eq!(inbox["duplicates"], 1, "{inbox}");
    assert_eq!(inbox["extra"], 0, "{inbox}");
    assert_eq!(inbox["missing"], 0, "{inbox}");
}
