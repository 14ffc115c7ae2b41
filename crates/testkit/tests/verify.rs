//! The account verifier on real servers: an exact copy passes, each kind of damage is seen.

use passeur_testkit::corpus::{CorpusSpec, Profile};
use passeur_testkit::imapwire::Client;
use passeur_testkit::verify::{compare, snapshot};
use passeur_testkit::{Dovecot, DovecotOptions};

#[test]
fn verifier_passes_a_doveadm_copy_and_catches_damage() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions {
        fsync_never: true,
        ..DovecotOptions::default()
    })
    .unwrap();
    let spec = CorpusSpec {
        seed: 3,
        count: 60,
        profile: Profile::Small,
        ..CorpusSpec::default()
    };
    src.write_corpus("user1", &spec).unwrap();
    let port = format!("imapc_port={}", src.imap_port);
    dst.doveadm_ok(&[
        "-o",
        "imapc_host=127.0.0.1",
        "-o",
        &port,
        "-o",
        "imapc_user=user1",
        "-o",
        "imapc_master_user=admin",
        "-o",
        "imapc_password=masterpass",
        "-o",
        "imapc_features=rfc822.size fetch-headers",
        "backup",
        "-R",
        "-u",
        "user2",
        "imapc:",
    ])
    .unwrap();

    let source = snapshot(&src.imap_addr(), "user1", "pass1").unwrap();
    assert_eq!(source.messages(), 60);
    assert!(
        source.folders.contains_key("Reçus/Été 2023"),
        "{:?}",
        source.folders.keys()
    );
    assert!(source.noselect.contains("Projects"));
    let copy = snapshot(&dst.imap_addr(), "user2", "pass2").unwrap();
    let c = compare(&source, &copy);
    assert!(c.is_exact(), "{}", c.summary());

    // Damage the copy: a lost keyword, an expunged message, an extra one, a new date.
    let mut cl = Client::login(&dst.imap_addr(), "user2", "pass2").unwrap();
    cl.select("INBOX", false).unwrap();
    cl.run("UID STORE 1 +FLAGS.SILENT ($Label1)").unwrap();
    cl.run("UID STORE 2 +FLAGS.SILENT (\\Deleted)").unwrap();
    cl.run("EXPUNGE").unwrap();
    cl.append(
        "INBOX",
        &["\\Seen"],
        Some("01-Jan-2020 00:00:00 +0000"),
        b"Subject: extra\r\n\r\nx\r\n",
    )
    .unwrap();
    cl.select("Sent", false).unwrap();
    let first = cl.fetch("FETCH 1 (BODY.PEEK[] FLAGS)").unwrap().remove(0);
    let flags: Vec<String> = first.flags.unwrap();
    let flag_refs: Vec<&str> = flags
        .iter()
        .map(String::as_str)
        .filter(|f| *f != "\\Recent")
        .collect();
    cl.append(
        "Sent",
        &flag_refs,
        Some("02-Feb-2021 10:00:00 +0100"),
        &first.body.unwrap(),
    )
    .unwrap();
    cl.run("STORE 1 +FLAGS.SILENT (\\Deleted)").unwrap();
    cl.run("EXPUNGE").unwrap();
    cl.logout();

    let damaged = snapshot(&dst.imap_addr(), "user2", "pass2").unwrap();
    let c = compare(&source, &damaged);
    assert!(!c.is_exact());
    assert_eq!(c.missing, 1, "{}", c.summary());
    assert_eq!(c.extra, 1, "{}", c.summary());
    assert_eq!(c.date_differs, 1, "{}", c.summary());
    assert_eq!(c.flags_differ, 1, "{}", c.summary());
    assert_eq!(c.added_flags.get("$Label1"), Some(&1));
    assert_eq!(c.body_differs, 0);
}
