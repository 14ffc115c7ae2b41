//! The runner's record of a pass whose parts end differently, against a real Dovecot.

use passeur_engine::{
    AccountSpec, Control, DavSpec, MailOptions, MigrationSpec, RunOptions, Runner, Secrets,
};
use passeur_store::{PassStatus, Store};
use passeur_testkit::{Dovecot, DovecotOptions};
use passeur_types::ContentKind;

/// When the mail part of a pass copies its messages and the DAV part then fails, the pass is
/// recorded as failed with the mail it copied counted (it was recorded as zeros).
#[tokio::test]
async fn a_pass_whose_dav_part_fails_keeps_the_mail_counters() {
    let dc = Dovecot::start(DovecotOptions::default()).expect("start a private Dovecot");
    let mut c = dc.login(1).unwrap();
    for n in 0..5 {
        let m = format!(
            "From: a@example.org\r\nSubject: message {n}\r\nMessage-ID: <m{n}@example.org>\r\n\
Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nBody {n}\r\n"
        );
        c.append("INBOX", &[], None, m.as_bytes()).unwrap();
    }
    c.logout();
    // Nothing listens there: the DAV part fails to connect once the mail part is done.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!(
        "http://user1@127.0.0.1:{}/",
        closed.local_addr().unwrap().port()
    );
    drop(closed);

    let tmp = tempfile::tempdir().unwrap();
    let runner = Runner::new(Store::open(&tmp.path().join("state.db")).await.unwrap());
    let spec = MigrationSpec::Accounts(AccountSpec {
        mail: MailOptions::default(),
        from_admin: None,
        to_admin: None,
        with_mail: true,
        dav: Some(DavSpec {
            from: dead.clone(),
            to: dead.replace("user1", "user2"),
            kinds: vec![ContentKind::Contacts],
            overwrite_conflicts: false,
        }),
        pop3_folder: None,
    });
    let src = format!("imap://user1@{}:{}", dc.host, dc.imap_port);
    let dst = format!("imap://user2@{}:{}", dc.host, dc.imap_port);
    let (id, _) = runner.create(&src, &dst, &spec, true).await.unwrap();
    let secrets = Secrets {
        source: Some("pass1".to_owned().into()),
        destination: Some("pass2".to_owned().into()),
    };
    let r = runner
        .run_pass(id, &secrets, &RunOptions::default(), Control::default())
        .await;
    assert!(r.is_err(), "the DAV part cannot have succeeded: {r:?}");

    let view = runner.view(id).await.unwrap();
    let pass = view.passes.last().expect("the pass is recorded");
    assert_eq!(pass.status, PassStatus::Failed, "{pass:?}");
    assert_eq!(pass.counters.copied, 5, "{pass:?}");
    assert!(pass.counters.bytes > 0, "{pass:?}");
    assert_eq!(view.items, 5);
}
