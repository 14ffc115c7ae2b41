//! What a person reads when a migration cannot start: each cause once, no raw log line
//! before the error, and a hint when the URL's scheme does not match what the port speaks.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use passeur_testkit::{Dovecot, DovecotOptions};
use support::*;

/// Runs `migrate` from `from` to an unused port and returns its stderr; the source fails first.
fn migrate_from(from: &str, extra: &[&str]) -> (String, std::process::Output) {
    let state = tempfile::tempdir().unwrap();
    let mut args = vec!["migrate", "--from", from, "--to"];
    let to = format!("imap://nobody@127.0.0.1:{}", free_port());
    args.push(&to);
    args.extend_from_slice(extra);
    let o = passeur(state.path(), &args, "wrong-or-right", "x");
    (String::from_utf8_lossy(&o.stderr).into_owned(), o)
}

/// A loopback port nothing listens on.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn tls_dovecot() -> Dovecot {
    Dovecot::start(DovecotOptions {
        users: 1,
        tls: true,
        ..Default::default()
    })
    .expect("start dovecot")
}

#[test]
fn connection_refused_says_its_cause_once() {
    let port = free_port();
    let (err, o) = migrate_from(&format!("imap://user1@127.0.0.1:{port}"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        err,
        format!(
            "error: source: cannot connect to 127.0.0.1:{port}: Connection refused (os error 111)\n"
        )
    );
}

#[test]
fn wrong_password_says_its_cause_once() {
    let dc = Dovecot::start(DovecotOptions {
        users: 1,
        ..Default::default()
    })
    .expect("start dovecot");
    let (err, o) = migrate_from(&url(&dc, "user1"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        err,
        "error: source: cannot log in: the server said \"Authentication failed.\"\n"
    );
}

#[test]
fn self_signed_certificate_is_one_readable_line() {
    let dc = tls_dovecot();
    let port = dc.imaps_port.expect("imaps port");
    let (err, o) = migrate_from(&format!("imaps://user1@127.0.0.1:{port}"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        err,
        "error: source: cannot connect: cannot establish TLS with 127.0.0.1: certificate not trusted \
         (self-signed, use --insecure-tls to accept a self-signed certificate)\n"
    );
}

#[test]
fn plain_imap_on_a_tls_port_hints_at_imaps() {
    let dc = tls_dovecot();
    let port = dc.imaps_port.expect("imaps port");
    let started = Instant::now();
    let (err, o) = migrate_from(&format!("imap://user1@127.0.0.1:{port}"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        err,
        format!(
            "error: source: cannot connect: cannot read the server's greeting on 127.0.0.1:{port}: \
             nothing arrived in 5 s; the port may expect TLS from the start (use imaps://)\n"
        )
    );
    // Said after the short greeting wait, not after the 20 s connection time-out.
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn tls_on_a_plain_port_hints_at_imap() {
    let dc = tls_dovecot();
    let (err, o) = migrate_from(
        &format!("imaps://user1@127.0.0.1:{}", dc.imap_port),
        &["--insecure-tls"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        err,
        "error: source: cannot connect: cannot establish TLS with 127.0.0.1: the port seems to speak \
         plain IMAP, not TLS (use imap:// or imap+starttls://)\n"
    );
}

#[test]
fn a_clear_text_login_off_loopback_needs_allow_plaintext() {
    // 0.0.0.0 is not a loopback address, yet a connection to it reaches this machine at once.
    let port = free_port();
    let from = format!("imap://user1@0.0.0.0:{port}");
    let (err, o) = migrate_from(&from, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        err,
        "error: source: cannot send the password in clear text to 0.0.0.0: use imaps:// or imap+starttls://, or allow it with --allow-plaintext\n"
    );
    // Allowed, it goes on to connect (and finds nobody listening).
    let (err, _) = migrate_from(&from, &["--allow-plaintext"]);
    assert!(err.contains("Connection refused"), "{err}");
}

#[test]
fn a_new_state_directory_is_for_its_user_only() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("new-state");
    let o = passeur(&state, &["status", "aaaaaaaaaaaaaaaaaaaaaaaaaa"], "x", "x");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "state directory mode {mode:o}");
}
