//! Provider presets in use, not only printed: private Dovecots play Outlook (the source, reached
//! as `localhost`) and Gmail (the destination, reached as `127.0.0.1`), neither flagging its
//! special folders with SPECIAL-USE; a presets file given with `--presets` names them.

mod support;

use std::path::Path;

use passeur_testkit::{Dovecot, DovecotOptions};
use support::*;

/// Test providers: an Outlook at `localhost`, a Gmail at `127.0.0.1` with a low documented
/// connection limit.
const PRESETS: &str = r#"[
  {"id": "test-outlook", "name": "Test Outlook", "domains": ["outlook.test"],
   "imap": {"host": "localhost", "port": 993, "security": "tls"},
   "folders": {"sent": "Sent Items", "trash": "Deleted Items"},
   "limits": {"connections": 20}},
  {"id": "test-gmail", "name": "Test Gmail", "domains": ["gmail.test"],
   "imap": {"host": "127.0.0.1", "port": 993, "security": "tls"},
   "folders": {"sent": "[Gmail]/Sent Mail", "trash": "[Gmail]/Trash"},
   "limits": {"connections": 2, "daily_download_mb": 2500, "daily_upload_mb": 500}}
]"#;

fn with_presets(state: &Path, presets: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--presets", presets.to_str().unwrap()];
    all.extend_from_slice(args);
    passeur(state, &all, "pass1", "pass1")
}

#[test]
fn a_providers_folder_names_and_connection_limit_are_used() {
    let bare = DovecotOptions {
        special_folders: Some(Vec::new()),
        ..DovecotOptions::default()
    };
    let src = Dovecot::start(bare.clone()).unwrap();
    let dst = Dovecot::start(bare).unwrap();
    let rt = rt();
    let date = "01-Jan-2024 00:00:00 +0000";
    let mut msgs = Vec::new();
    for i in 0..2 {
        msgs.push(msg("INBOX", simple(i, None), &[], date));
    }
    for i in 10..13 {
        msgs.push(msg("Sent Items", simple(i, None), &["\\Seen"], date));
    }
    msgs.push(msg("Deleted Items", simple(20, None), &["\\Seen"], date));
    // A folder merely called Sent is an ordinary folder at this provider.
    msgs.push(msg("Sent", simple(30, None), &[], date));
    rt.block_on(async {
        fill(&mut login(&src, "user1").await, &msgs).await;
        // The destination has its Trash already, not its Sent Mail.
        let mut d = login(&dst, "user1").await;
        d.create("[Gmail]/Trash").await.unwrap();
    });
    let before = rt.block_on(async { snapshot(&mut login(&src, "user1").await).await });

    let dir = tempfile::tempdir().unwrap();
    let presets = dir.path().join("presets.json");
    std::fs::write(&presets, PRESETS).unwrap();
    let state = tempfile::tempdir().unwrap();
    let from = format!("imap://user1@localhost:{}", src.imap_port);
    let to = url(&dst, "user1");

    // `detect` shows a preset's folders and limits, and the steps it went through.
    let out = with_presets(state.path(), &presets, &["detect", "bob@gmail.test"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("folder      sent: [Gmail]/Sent Mail"), "{t}");
    assert!(t.contains("limit       connections: 2"), "{t}");
    assert!(
        t.contains("step 1      the presets, by the address's domain: found"),
        "{t}"
    );
    assert!(t.contains("step 2      DNS SRV records: not tried"), "{t}");

    let out = with_presets(
        state.path(),
        &presets,
        &["migrate", "--from", &from, "--to", &to, "--no-progress"],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("connections: 2, the documented limit of Test Gmail per account"),
        "{t}"
    );
    assert_eq!(copied(&out), 7, "{t}");
    let after = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    let names: Vec<&str> = after.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["INBOX", "Sent", "[Gmail]/Sent Mail", "[Gmail]/Trash"],
        "{t}"
    );
    assert_same(
        after.get("[Gmail]/Sent Mail"),
        before.get("Sent Items"),
        "Sent Items -> [Gmail]/Sent Mail",
    );
    assert_same(
        after.get("[Gmail]/Trash"),
        before.get("Deleted Items"),
        "Deleted Items -> [Gmail]/Trash",
    );
    assert_same(after.get("Sent"), before.get("Sent"), "Sent stays Sent");

    // A number the user gives is kept, and said to be above the provider's limit.
    let id = migration_id(&out);
    let out = with_presets(
        state.path(),
        &presets,
        &["sync", &id, "--connections", "6", "--no-progress"],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("6 connections exceed the documented limit of Test Gmail (2 per account)"),
        "{t}"
    );
    assert_eq!(copied(&out), 0, "{t}");

    // Without the presets the same servers are strangers: names stay names.
    let state = tempfile::tempdir().unwrap();
    let dst2 = Dovecot::start(DovecotOptions {
        special_folders: Some(Vec::new()),
        ..DovecotOptions::default()
    })
    .unwrap();
    let out = passeur(
        state.path(),
        &[
            "migrate",
            "--from",
            &from,
            "--to",
            &url(&dst2, "user1"),
            "--no-progress",
        ],
        "pass1",
        "pass1",
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(!t.contains("connections:"), "{t}");
    let plain = rt.block_on(async { snapshot(&mut login(&dst2, "user1").await).await });
    assert!(plain.contains_key("Sent Items"), "{plain:?}");
    assert!(!plain.contains_key("[Gmail]/Sent Mail"), "{plain:?}");
}

/// A provider's documented daily upload limit (here 1 MB a day at the destination): the pass
/// stops at the first safe point past it, says when it may go on, exit 130 like any stop;
/// a sync the same day copies nothing and says so again; what was copied is exact, and a
/// sync told to go past the limit finishes the rest, each message once.
#[test]
fn a_providers_daily_limit_stops_the_pass_and_says_when_it_goes_on() {
    const LIMITED: &str = r#"[
      {"id": "test-limited", "name": "Test Limited", "domains": ["limited.test"],
       "imap": {"host": "127.0.0.1", "port": 993, "security": "tls"},
       "limits": {"daily_upload_mb": 1}}
    ]"#;
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    // 40 messages of about 75 KB: 3 MB, three days' worth at this provider.
    let big = |i: usize| {
        let mut m = format!(
            "From: a@example.org\r\nTo: b@example.net\r\nSubject: big {i}\r\nMessage-ID: <big{i}@x>\r\n\r\n"
        );
        for _ in 0..1_300 {
            m.push_str(&format!(
                "{i:04} line of a large message, long enough to weigh.....\r\n"
            ));
        }
        m.into_bytes()
    };
    let msgs: Vec<Msg> = (0..40)
        .map(|i| msg("INBOX", big(i), &[], "01-Jan-2024 00:00:00 +0000"))
        .collect();
    rt.block_on(async { fill(&mut login(&src, "user1").await, &msgs).await });
    let before = rt.block_on(async { snapshot(&mut login(&src, "user1").await).await });
    let dir = tempfile::tempdir().unwrap();
    let presets = dir.path().join("presets.json");
    std::fs::write(&presets, LIMITED).unwrap();
    let state = tempfile::tempdir().unwrap();
    // The source by name (`localhost`), so that only the destination is at the provider.
    let from = format!("imap://user1@localhost:{}", src.imap_port);
    let to = url(&dst, "user1");

    let out = with_presets(
        state.path(),
        &presets,
        // The stop comes after what is in flight: 1 MiB of it here.
        &[
            "migrate",
            "--from",
            &from,
            "--to",
            &to,
            "--max-mib-in-flight",
            "1",
            "--no-progress",
        ],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(130), "{t}");
    assert!(
        t.contains("stopped at Test Limited's documented daily upload limit (1 MB a day); what was copied stays, and a sync continues after "),
        "{t}"
    );
    let first = copied(&out);
    eprintln!("{first} of 40 copied before the stop");
    // At least the limit, at most the limit plus what was in flight: not everything.
    assert!((10..40).contains(&first), "{first} copied: {t}");
    let id = migration_id(&out);
    let landed = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_eq!(landed["INBOX"].len() as u64, first, "{t}");

    // The same day, a sync stops before copying anything.
    let out = with_presets(state.path(), &presets, &["sync", &id, "--no-progress"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(130), "{t}");
    assert!(t.contains("daily upload limit"), "{t}");
    assert_eq!(copied(&out), 0, "{t}");

    // Told to go past it, a sync copies the rest, each message once.
    let out = with_presets(
        state.path(),
        &presets,
        &["sync", &id, "--ignore-daily-limits", "--no-progress"],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert_eq!(copied(&out), 40 - first, "{t}");
    let after = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(
        after.get("INBOX"),
        before.get("INBOX"),
        "INBOX after the limit",
    );
}
