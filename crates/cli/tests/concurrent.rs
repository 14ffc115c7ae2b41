//! One migration, two runners at once: the lease lets one of them run; the other is refused
//! (or waits with --wait), and the destination ends exact, with no duplicate. On the embedded
//! SQLite store and on PostgreSQL (`--database`).

mod support;

use std::process::{Command, Output, Stdio};

use passeur_testkit::{Dovecot, DovecotOptions, PgTestDb};
use support::*;

fn run(store: &[String], args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_passeur"))
        .args(store)
        .args(args)
        .env("PASSEUR_FROM_PASSWORD", "pass1")
        .env("PASSEUR_TO_PASSWORD", "pass1")
        .env_remove("PASSEUR_STATE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run passeur")
}

fn wait(c: std::process::Child) -> Output {
    c.wait_with_output().expect("wait")
}

fn new_mail(dc: &Dovecot, range: std::ops::Range<usize>) {
    let msgs: Vec<Msg> = range
        .map(|i| {
            msg(
                "INBOX",
                simple(i, Some(&format!("<c{i}@x>"))),
                &["\\Seen"],
                "17-Jul-2019 02:44:25 -0700",
            )
        })
        .collect();
    rt().block_on(async { fill(&mut login(dc, "user1").await, &msgs).await });
}

fn inbox_count(dc: &Dovecot) -> usize {
    rt().block_on(async { snapshot(&mut login(dc, "user1").await).await })
        .get("INBOX")
        .map_or(0, Vec::len)
}

fn two_syncs_at_once(store: Vec<String>) {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    new_mail(&src, 0..10);
    let (from, to) = (url(&src, "user1"), url(&dst, "user1"));
    let out = wait(run(
        &store,
        &["migrate", "--from", &from, "--to", &to, "--no-progress"],
    ));
    assert!(out.status.success(), "{}", text(&out));
    let id = migration_id(&out);
    new_mail(&src, 100..600);

    // Two syncs started together: one runs, the other is refused with a clear message.
    let a = run(&store, &["sync", &id, "--no-progress"]);
    let b = run(&store, &["sync", &id, "--no-progress"]);
    let (a, b) = (wait(a), wait(b));
    let refused: Vec<&Output> = [&a, &b]
        .into_iter()
        .filter(|o| !o.status.success())
        .collect();
    assert!(
        refused.len() <= 1,
        "both refused:\n{}\n{}",
        text(&a),
        text(&b)
    );
    for o in &refused {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("is being run by another process"),
            "{}",
            text(o)
        );
    }
    assert_eq!(inbox_count(&dst), 510, "no duplicate, nothing missing");

    // With --wait, the second waits for the first, then copies nothing twice.
    new_mail(&src, 1000..1200);
    let a = run(&store, &["sync", &id, "--no-progress", "--wait", "120"]);
    let b = run(&store, &["sync", &id, "--no-progress", "--wait", "120"]);
    let (a, b) = (wait(a), wait(b));
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.status.success(), "{}", text(&b));
    assert_eq!(copied(&a) + copied(&b), 200, "{}\n{}", text(&a), text(&b));
    assert_eq!(inbox_count(&dst), 710);
    let out = wait(run(&store, &["verify", &id]));
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn two_syncs_at_once_on_sqlite_copy_nothing_twice() {
    let state = tempfile::tempdir().unwrap();
    two_syncs_at_once(vec!["--state".into(), state.path().display().to_string()]);
}

#[test]
fn two_syncs_at_once_on_postgres_copy_nothing_twice() {
    let db = PgTestDb::create().expect("PostgreSQL on 127.0.0.1:5432 (scripts/test.sh starts it)");
    let state = tempfile::tempdir().unwrap();
    two_syncs_at_once(vec![
        "--state".into(),
        state.path().display().to_string(),
        "--database".into(),
        db.url(),
    ]);
}
