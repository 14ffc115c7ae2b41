//! Destination folder names the mapping cannot use as they are: two source folders that map to
//! the same name, and names the destination refuses. Neither stops the migration.

mod support;

use passeur_testkit::{Dovecot, DovecotOptions};
use support::*;

#[test]
fn colliding_names_get_a_distinct_name_that_later_passes_keep() {
    let src = Dovecot::start(DovecotOptions {
        users: 1,
        ..Default::default()
    })
    .expect("start source");
    let dst = Dovecot::start(DovecotOptions {
        users: 1,
        inbox_prefix: true,
        ..Default::default()
    })
    .expect("start destination");
    let rt = rt();
    let msgs = vec![
        msg(
            "INBOX",
            simple(1, Some("<i1@x>")),
            &["\\Seen"],
            "01-Jan-2020 10:00:00 +0000",
        ),
        msg(
            "Newsletters",
            simple(2, Some("<n1@x>")),
            &[],
            "02-Jan-2020 10:00:00 +0000",
        ),
        msg(
            "Newsletters",
            simple(3, Some("<n2@x>")),
            &["\\Flagged"],
            "03-Jan-2020 10:00:00 +0000",
        ),
        msg(
            "INBOX/Newsletters",
            simple(4, Some("<n3@x>")),
            &["\\Seen"],
            "04-Jan-2020 10:00:00 +0000",
        ),
    ];
    let want = rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(&mut c, &msgs).await;
        snapshot(&mut c).await
    });
    let state = tempfile::tempdir().unwrap();
    let args = [
        "migrate",
        "--from",
        &url(&src, "user1"),
        "--to",
        &url(&dst, "user1"),
    ];
    let o = passeur(state.path(), &args, "pass1", "pass1");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let notes: Vec<&str> = out.lines().filter(|l| l.starts_with("note: ")).collect();
    // Whichever of the two the source lists second gets the new name.
    let (renamed, kept) = if notes
        == [
            "note: folder Newsletters goes to \"INBOX.Newsletters (2)\": another source folder already maps to \"INBOX.Newsletters\"",
        ] {
        ("Newsletters", "INBOX/Newsletters")
    } else {
        assert_eq!(
            notes,
            [
                "note: folder INBOX/Newsletters goes to \"INBOX.Newsletters (2)\": another source folder already maps to \"INBOX.Newsletters\""
            ],
            "{}",
            text(&o)
        );
        ("INBOX/Newsletters", "Newsletters")
    };
    let got = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(
        got.get("INBOX.Newsletters (2)"),
        want.get(renamed),
        "renamed folder",
    );
    assert_same(got.get("INBOX.Newsletters"), want.get(kept), "kept folder");
    assert_same(got.get("INBOX"), want.get("INBOX"), "INBOX");

    // A new message in the renamed folder goes to the same destination folder; nothing else moves.
    rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(
            &mut c,
            &[msg(
                if renamed == "Newsletters" {
                    "Newsletters"
                } else {
                    "INBOX/Newsletters"
                },
                simple(5, Some("<n4@x>")),
                &[],
                "05-Jan-2020 10:00:00 +0000",
            )],
        )
        .await;
    });
    let o = passeur(state.path(), &args, "pass1", "pass1");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(copied(&o), 1, "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("note: "),
        "{}",
        text(&o)
    );
    let want = rt.block_on(async { snapshot(&mut login(&src, "user1").await).await });
    let got = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(
        got.get("INBOX.Newsletters (2)"),
        want.get(renamed),
        "renamed folder, pass 2",
    );
    assert_same(
        got.get("INBOX.Newsletters"),
        want.get(kept),
        "kept folder, pass 2",
    );
    assert_eq!(
        got.keys().filter(|k| k.contains("Newsletters")).count(),
        2,
        "{got:?}"
    );
}

/// The destination (Maildir++) cannot hold a `.` inside a name, nor a name longer than a file
/// name; the source (one directory per level) can. The first is created sanitised and
/// reported; the second is reported with its messages as not migrated; the rest is copied.
#[test]
fn refused_names_are_sanitised_or_reported_and_the_rest_is_copied() {
    let src = Dovecot::start(DovecotOptions {
        users: 1,
        extra_config: vec!["mail_location = maildir:~/Maildir:LAYOUT=fs".into()],
        ..Default::default()
    })
    .expect("start source");
    let dst = Dovecot::start(DovecotOptions {
        users: 1,
        ..Default::default()
    })
    .expect("start destination");
    let long: &'static str =
        Box::leak(format!("{}/{}", "L".repeat(200), "M".repeat(100)).into_boxed_str());
    let rt = rt();
    let msgs = vec![
        msg(
            "INBOX",
            simple(1, Some("<i1@x>")),
            &["\\Seen"],
            "01-Jan-2020 10:00:00 +0000",
        ),
        msg(
            "Release v1.2",
            simple(2, Some("<r1@x>")),
            &["\\Flagged"],
            "02-Jan-2020 10:00:00 +0000",
        ),
        msg(
            long,
            simple(3, Some("<l1@x>")),
            &[],
            "03-Jan-2020 10:00:00 +0000",
        ),
        msg(
            long,
            simple(4, Some("<l2@x>")),
            &[],
            "04-Jan-2020 10:00:00 +0000",
        ),
    ];
    let want = rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(&mut c, &msgs).await;
        snapshot(&mut c).await
    });
    let state = tempfile::tempdir().unwrap();
    let args = [
        "migrate",
        "--from",
        &url(&src, "user1"),
        "--to",
        &url(&dst, "user1"),
    ];
    let o = passeur(state.path(), &args, "pass1", "pass1");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    // Not everything arrived: exit 2, and the folder is named.
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        out.contains("note: folder Release v1.2 goes to \"Release v1_2\": the destination refused the name \"Release v1.2\""),
        "{}",
        text(&o)
    );
    let error_line = out
        .lines()
        .find(|l| l.starts_with(&long[..20]) && l.contains("ERROR"))
        .unwrap_or_else(|| panic!("no error line for the long folder in {}", text(&o)));
    assert!(
        error_line.contains(&format!("ERROR: cannot create folder \"{long}\" on the destination: cannot CREATE: the server said NO")),
        "{error_line}"
    );
    let got = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(got.get("INBOX"), want.get("INBOX"), "INBOX");
    assert_same(
        got.get("Release v1_2"),
        want.get("Release v1.2"),
        "sanitised folder",
    );
    assert!(!got.keys().any(|k| k.starts_with("LLL")), "{got:?}");

    // The two messages are recorded as not migrated, with the reason.
    let id = migration_id(&o);
    let st = passeur(state.path(), &["status", &id, "--json"], "", "");
    let status = String::from_utf8_lossy(&st.stdout).into_owned();
    assert_eq!(
        status.matches("cannot create folder").count(),
        2,
        "{}",
        text(&st)
    );

    // The next pass keeps the sanitised name and copies nothing new there.
    let o = passeur(state.path(), &args, "pass1", "pass1");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(copied(&o), 0, "{}", text(&o));
    let got = rt.block_on(async { snapshot(&mut login(&dst, "user1").await).await });
    assert_same(
        got.get("Release v1_2"),
        want.get("Release v1.2"),
        "sanitised folder, pass 2",
    );
}
