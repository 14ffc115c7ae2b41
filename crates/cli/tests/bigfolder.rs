//! A big folder copied in parts by several connection pairs at once (issue 12 §5), against
//! private Dovecots, with the split threshold lowered through `PASSEUR_SPLIT_FROM`: exact
//! copies through kill -9 and resume, re-runs that copy nothing, a delta split again, flag
//! changes brought over by the parts, and a UID map that `verify` finds right.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use passeur_testkit::{Dovecot, DovecotOptions};
use support::*;

/// Folders with at least this many messages to copy are split (a part: 100 messages).
const SPLIT_FROM: &str = "200";

fn passeur_split(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passeur"))
        .arg("--state")
        .arg(state)
        .args(args)
        .env("PASSEUR_FROM_PASSWORD", "pass1")
        .env("PASSEUR_TO_PASSWORD", "pass1")
        .env("PASSEUR_SPLIT_FROM", SPLIT_FROM)
        .env("PASSEUR_SPLIT_PARALLEL", "1")
        .env_remove("PASSEUR_STATE")
        .output()
        .expect("run passeur")
}

/// Runs passeur (split threshold lowered) and kills it with SIGKILL once `done()` holds.
fn kill_split_when(state: &Path, args: &[&str], mut done: impl FnMut() -> bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_passeur"))
        .arg("--state")
        .arg(state)
        .args(args)
        .env("PASSEUR_FROM_PASSWORD", "pass1")
        .env("PASSEUR_TO_PASSWORD", "pass1")
        .env("PASSEUR_SPLIT_FROM", SPLIT_FROM)
        .env("PASSEUR_SPLIT_PARALLEL", "1")
        .env_remove("PASSEUR_STATE")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run passeur");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() && Instant::now() < deadline && child.try_wait().expect("wait").is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn folders_json(o: &Output) -> BTreeMap<String, serde_json::Value> {
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

const DATES: &[&str] = &[
    "01-Jan-2024 00:00:00 +0000",
    "15-Mar-2021 08:30:00 +0200",
    "29-Feb-2020 23:59:59 -0500",
    "03-Oct-2019 12:00:00 +0000",
];
const FLAGS: &[&[&str]] = &[
    &["\\Seen"],
    &[],
    &["\\Seen", "\\Flagged"],
    &["\\Answered", "$Label1"],
    &["\\Seen", "NonJunk"],
];

fn message(tag: &str, i: usize, folder: &'static str) -> Msg {
    let mut body = simple(i, Some(&format!("<{tag}{i}@split>")));
    // 3-7 KB each, so a run takes long enough to be killed in the middle.
    body.extend(std::iter::repeat_n(b'q', 3000 + (i * 37) % 4000));
    body.extend_from_slice(b"\r\n");
    msg(folder, body, FLAGS[i % FLAGS.len()], DATES[i % DATES.len()])
}

#[test]
fn a_big_folder_split_across_connections_is_exact_through_kill_and_resume() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    let mut msgs: Vec<Msg> = (0..1200).map(|i| message("b", i, "INBOX")).collect();
    msgs.extend((0..40).map(|i| message("a", i, "Archive")));
    rt.block_on(async { fill(&mut login(&src, "user1").await, &msgs).await });
    let state = tempfile::tempdir().unwrap();
    let from = url(&src, "user1");
    let to = url(&dst, "user1");
    let migrate = [
        "migrate",
        "--from",
        &from,
        "--to",
        &to,
        "--no-progress",
        "--connections",
        "4",
    ];
    let dst_inbox = || -> u32 {
        rt.block_on(async {
            let mut d = login(&dst, "user1").await;
            d.status("INBOX").await.map(|s| s.exists).unwrap_or(0)
        })
    };

    // Killed twice while its parts are appending side by side.
    for target in [250, 650] {
        kill_split_when(state.path(), &migrate, || dst_inbox() >= target);
        let n = dst_inbox();
        assert!(
            n >= target && n < 1200,
            "the kill was meant to land in the middle of INBOX: it holds {n}"
        );
    }
    let mut args = migrate.to_vec();
    args.push("--json");
    let out = passeur_split(state.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    let resumed = folders_json(&out);
    assert!(
        resumed["INBOX"]["parts"].as_u64().unwrap() >= 2,
        "INBOX was not split: {}",
        text(&out)
    );
    assert_eq!(
        resumed["Archive"]["parts"], 0,
        "a small folder is not split"
    );
    let src_snap = rt.block_on(async { snapshot(&mut login(&src, "user1").await).await });
    let dst_snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(
        dst_snap.get("INBOX"),
        src_snap.get("INBOX"),
        "INBOX after two kills and a resume",
    );
    assert_same(dst_snap.get("Archive"), src_snap.get("Archive"), "Archive");
    let id = migration_id(&out);

    // A re-run copies nothing, listed in full too (the parts find every message in the map).
    let out = passeur_split(state.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(folders_json(&out)["INBOX"]["copied"], 0, "{}", text(&out));
    args.push("--full");
    let out = passeur_split(state.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    let full = folders_json(&out);
    assert_eq!(full["INBOX"]["copied"], 0, "{}", text(&out));
    assert!(full["INBOX"]["parts"].as_u64().unwrap() >= 2);
    args.pop();

    // The UID map points at the right destination messages.
    let out = passeur(state.path(), &["verify", &id], "pass1", "pass1");
    assert!(out.status.success(), "{}", text(&out));

    // New mail above the threshold is split again in a delta pass; flag changes on old
    // messages are brought over (by the folder scan in a delta, by the parts in --full).
    let more: Vec<Msg> = (1200..1500).map(|i| message("b", i, "INBOX")).collect();
    rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(&mut c, &more).await;
        c.select("INBOX").await.unwrap();
        c.uid_store("1:150", "+FLAGS.SILENT", &["$Important".to_string()])
            .await
            .unwrap();
    });
    let out = passeur_split(state.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    let delta = folders_json(&out);
    assert_eq!(delta["INBOX"]["delta"], true, "{}", text(&out));
    assert_eq!(delta["INBOX"]["copied"], 300);
    assert_eq!(delta["INBOX"]["flags_updated"], 150);
    assert!(delta["INBOX"]["parts"].as_u64().unwrap() >= 2);
    rt.block_on(async {
        let mut c = login(&src, "user1").await;
        c.select("INBOX").await.unwrap();
        c.uid_store("1000:1100", "+FLAGS.SILENT", &["\\Deleted".to_string()])
            .await
            .unwrap();
    });
    args.push("--full");
    let out = passeur_split(state.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    let full = folders_json(&out);
    assert_eq!(full["INBOX"]["copied"], 0);
    assert_eq!(full["INBOX"]["flags_updated"], 101);
    let src_snap = rt.block_on(async { snapshot(&mut login(&src, "user1").await).await });
    let dst_snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(
        dst_snap.get("INBOX"),
        src_snap.get("INBOX"),
        "INBOX at the end",
    );
    let out = passeur(state.path(), &["verify", &id], "pass1", "pass1");
    assert!(out.status.success(), "{}", text(&out));
}
