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
