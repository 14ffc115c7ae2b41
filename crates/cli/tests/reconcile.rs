//! Reconciliation in bounded pieces (issue 12 §5): after an interrupted run and after a
//! UIDVALIDITY change on either side, the item map is matched against the folder one range of
//! UIDs at a time (`PASSEUR_RECONCILE_CHUNK`, lowered to 7 here so that a folder of a few dozen
//! messages spans several ranges). Every message must end up on the destination exactly once.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use passeur_testkit::{Dovecot, DovecotOptions};
use support::*;

/// UIDs matched at a time: a folder of 40-60 messages spans several ranges.
const CHUNK: &str = "7";

fn run(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passeur"))
        .arg("--state")
        .arg(state)
        .args(args)
        .env("PASSEUR_FROM_PASSWORD", "pass1")
        .env("PASSEUR_TO_PASSWORD", "pass1")
        .env("PASSEUR_RECONCILE_CHUNK", CHUNK)
        // Folders this big are copied in parts: the parts read the map after a reconciliation.
        .env("PASSEUR_SPLIT_FROM", "20")
        .env_remove("PASSEUR_STATE")
        .output()
        .expect("run passeur")
}

fn messages(folder: &'static str, n: usize) -> Vec<Msg> {
    (0..n)
        .map(|i| {
            let body = simple(i, Some(&format!("<r{i}.{folder}@reconcile>")));
            msg(folder, body, &["\\Seen"], "01-Jan-2024 00:00:00 +0000")
        })
        .collect()
}

/// Runs SQL statements on the migration's state file.
fn sql(state: &Path, statements: &[&str]) {
    rt().block_on(async {
        let url = format!("sqlite://{}", state.join("passeur.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.expect("open state");
        for s in statements {
            sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{s}: {e}"));
        }
        pool.close().await;
    });
}

/// The destination UIDs of a folder's confirmed items, ascending.
fn dst_uids(state: &Path, folder: &str) -> Vec<u32> {
    rt().block_on(async {
        let url = format!("sqlite://{}", state.join("passeur.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.expect("open state");
        let uids: Vec<i64> = sqlx::query_scalar(
            "SELECT dst_uid FROM items WHERE src_folder = $1 AND NOT pending ORDER BY dst_uid",
        )
        .bind(folder)
        .fetch_all(&pool)
        .await
        .expect("read items");
        pool.close().await;
        uids.into_iter().map(|u| u as u32).collect()
    })
}

fn uid_list(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn pending_rows_spread_over_several_chunks_are_reconciled_exactly_once() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    let msgs = messages("INBOX", 60);
    let src_snap = rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(&mut c, &msgs).await;
        snapshot(&mut c).await
    });
    let state = tempfile::tempdir().unwrap();
    let (from, to) = (url(&src, "user1"), url(&dst, "user1"));
    let migrate = ["migrate", "--from", &from, "--to", &to, "--no-progress"];
    let out = run(state.path(), &migrate);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(copied(&out), 60, "{}", text(&out));

    // A crash as the map would show it, spread over every range of 7 UIDs: every fourth item
    // and the last one pending (their copies' UIDs unknown); half of them never landed.
    let uids = dst_uids(state.path(), "INBOX");
    assert_eq!(uids.len(), 60);
    let last = *uids.last().unwrap();
    let pending: Vec<u32> = uids
        .iter()
        .copied()
        .filter(|u| u % 4 == 0 || *u == last)
        .collect();
    let lost: Vec<u32> = pending.iter().copied().filter(|u| u % 8 == 0).collect();
    assert!(!lost.contains(&last) && lost.len() >= 5, "{lost:?}");
    dst.doveadm_ok(&[
        "expunge",
        "-u",
        "user1",
        "mailbox",
        "INBOX",
        "uid",
        &uid_list(&lost),
    ])
    .unwrap();
    sql(
        state.path(),
        &[
            &format!(
                "UPDATE items SET pending = 1, dst_uid = NULL, dst_uidvalidity = NULL
                 WHERE src_folder = 'INBOX' AND dst_uid IN ({})",
                uid_list(&pending)
            ),
            // An interrupted pass never marks the folder complete.
            "UPDATE folders SET complete = 0 WHERE src_name = 'INBOX'",
        ],
    );

    let out = run(state.path(), &migrate);
    assert!(out.status.success(), "{}", text(&out));
    // Only what never landed is copied again; what landed is recognised, not duplicated.
    assert_eq!(copied(&out), lost.len() as u64, "{}", text(&out));
    let dst_snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(
        dst_snap.get("INBOX"),
        src_snap.get("INBOX"),
        "INBOX after a reconciliation over several ranges",
    );
    // And the map is whole: a resync copies nothing.
    let out = run(state.path(), &migrate);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(copied(&out), 0, "{}", text(&out));
}

/// Gives `folder` of `user1` a new UIDVALIDITY with the same messages (renamed away, created
/// again, the messages copied back, the old one deleted): their UIDs change as well.
fn recreate(dc: &Dovecot, folder: &str) {
    let old = format!("{folder}-old");
    for args in [
        vec!["mailbox", "rename", "-u", "user1", folder, &old],
        vec!["mailbox", "create", "-u", "user1", folder],
        vec!["copy", "-u", "user1", folder, "mailbox", &old, "ALL"],
        vec!["mailbox", "delete", "-u", "user1", &old],
    ] {
        dc.doveadm_ok(&args).unwrap();
    }
}

#[test]
fn a_uidvalidity_change_on_either_side_over_several_chunks_copies_nothing_twice() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    let msgs = messages("Archive", 50);
    let src_snap = rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(&mut c, &msgs).await;
        snapshot(&mut c).await
    });
    let state = tempfile::tempdir().unwrap();
    let (from, to) = (url(&src, "user1"), url(&dst, "user1"));
    let migrate = ["migrate", "--from", &from, "--to", &to, "--no-progress"];
    let out = run(state.path(), &migrate);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(copied(&out), 50, "{}", text(&out));
    let validity = |dc: &Dovecot| -> u32 {
        rt.block_on(async {
            login(dc, "user1")
                .await
                .status("Archive")
                .await
                .unwrap()
                .uidvalidity
        })
    };

    // The destination's folder rebuilt with a new UIDVALIDITY, three copies lost on the way
    // (the first, one in the middle, the last): only those three are copied again.
    dst.doveadm_ok(&[
        "expunge", "-u", "user1", "mailbox", "Archive", "uid", "1,25,50",
    ])
    .unwrap();
    let before = validity(&dst);
    recreate(&dst, "Archive");
    assert_ne!(
        validity(&dst),
        before,
        "the destination's UIDVALIDITY did not change"
    );
    // The source did not change, but a plain resync (no --full) notices the destination's
    // new UIDVALIDITY and copies what is missing.
    let out = run(state.path(), &migrate);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(copied(&out), 3, "{}", text(&out));
    let dst_snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(
        dst_snap.get("Archive"),
        src_snap.get("Archive"),
        "Archive after the destination's UIDVALIDITY changed",
    );

    // The destination folder deleted outright: a plain resync creates it again and copies
    // the whole folder, once.
    dst.doveadm_ok(&["mailbox", "delete", "-u", "user1", "Archive"])
        .unwrap();
    let out = run(state.path(), &migrate);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(copied(&out), 50, "{}", text(&out));
    let dst_snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(
        dst_snap.get("Archive"),
        src_snap.get("Archive"),
        "Archive after the destination folder was deleted",
    );
    let out = run(state.path(), &migrate);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(copied(&out), 0, "{}", text(&out));

    // The source's folder rebuilt with a new UIDVALIDITY: every message is recognised.
    let before = validity(&src);
    recreate(&src, "Archive");
    assert_ne!(
        validity(&src),
        before,
        "the source's UIDVALIDITY did not change"
    );
    let out = run(state.path(), &migrate);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(copied(&out), 0, "{}", text(&out));
    let dst_snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(
        dst_snap.get("Archive"),
        src_snap.get("Archive"),
        "Archive after the source's UIDVALIDITY changed",
    );
    // The map follows the new UIDs: a resync lists and copies nothing.
    let out = run(state.path(), &migrate);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(copied(&out), 0, "{}", text(&out));
}

/// A killed run's last APPEND can still be committed by the destination after the run is gone
/// (a MULTIAPPEND on a loaded server takes seconds): the resumed run waits until the folder
/// has stopped changing, finds those messages and copies them no second time. Here the late
/// commit is played by appending the pending messages two seconds after the resume starts.
#[test]
fn an_append_that_lands_after_the_crash_is_found_not_copied_again() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    let msgs = messages("INBOX", 10);
    let src_snap = rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(&mut c, &msgs).await;
        snapshot(&mut c).await
    });
    let state = tempfile::tempdir().unwrap();
    let (from, to) = (url(&src, "user1"), url(&dst, "user1"));
    let migrate = ["migrate", "--from", &from, "--to", &to, "--no-progress"];
    let out = run(state.path(), &migrate);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(copied(&out), 10, "{}", text(&out));

    // The last three were in the batch the crash cut: pending, and not on the destination yet.
    let uids = dst_uids(state.path(), "INBOX");
    let late = &uids[7..];
    dst.doveadm_ok(&[
        "expunge",
        "-u",
        "user1",
        "mailbox",
        "INBOX",
        "uid",
        &uid_list(late),
    ])
    .unwrap();
    sql(
        state.path(),
        &[
            &format!(
                "UPDATE items SET pending = 1, dst_uid = NULL, dst_uidvalidity = NULL
                 WHERE src_folder = 'INBOX' AND dst_uid IN ({})",
                uid_list(late)
            ),
            "UPDATE folders SET complete = 0 WHERE src_name = 'INBOX'",
        ],
    );
    // The dead session's commit, two seconds into the resumed run.
    let port = dst.imap_port;
    let landing = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(2));
        let tail = messages("INBOX", 10).split_off(7);
        support::rt()
            .block_on(async { fill(&mut login_at(port, "user1", "pass1").await, &tail).await });
    });
    let out = run(state.path(), &migrate);
    landing.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(copied(&out), 0, "copied again: {}", text(&out));
    let dst_snap = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(
        dst_snap.get("INBOX"),
        src_snap.get("INBOX"),
        "INBOX after an APPEND that landed late",
    );
}
