//! The POP3 → IMAP pass against a real Dovecot: user1's mailbox over POP3 into user2's INBOX
//! over IMAP, exactly once by UIDL.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use passeur_engine::{
    Control, MailAccount, POP3_FOLDER, Pop3Options, RunContext, fingerprint, purge_mail,
    run_pop3_pass,
};
use passeur_store::{Item, Store};
use passeur_testkit::{Dovecot, DovecotOptions};
use passeur_types::{ContentKind, Endpoint, MigrationId};
use sha2::{Digest, Sha256};

fn start() -> Dovecot {
    if let Err(e) = passeur_testkit::ensure_dovecot() {
        panic!("{e}");
    }
    Dovecot::start(DovecotOptions {
        users: 2,
        pop3: true,
        ..DovecotOptions::default()
    })
    .expect("start a private Dovecot with POP3")
}

fn accounts(dc: &Dovecot) -> (MailAccount, MailAccount) {
    let pop = Endpoint::parse(&format!(
        "pop3://user1@{}:{}",
        dc.host,
        dc.pop3_port.unwrap()
    ))
    .unwrap();
    let imap = Endpoint::parse(&format!("imap://user2@{}:{}", dc.host, dc.imap_port)).unwrap();
    let mut src = MailAccount::new(pop, "pass1".into());
    src.io_timeout = Duration::from_secs(60);
    let dst = MailAccount::new(imap, "pass2".into());
    (src, dst)
}

const DATE: &str = "Tue, 1 Jul 2003 10:52:37 +0200";
const INTERNAL: &str = "01-Jul-2003 10:52:37 +0200";

fn message(i: usize) -> Vec<u8> {
    format!(
        "From: a@example.org\r\nDate: {DATE}\r\nSubject: m{i}\r\nMessage-ID: <m{i}@example.org>\r\n\r\n.\r\n..dot {i}\r\n{}\r\n",
        "body ".repeat(i * 13)
    )
    .into_bytes()
}

/// Writes raw messages into `user`'s INBOX and makes Dovecot see them.
fn put(dc: &Dovecot, user: &str, msgs: &[Vec<u8>]) {
    let md = dc.maildir(user);
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    let base = std::fs::read_dir(md.join("cur")).unwrap().count();
    for (i, m) in msgs.iter().enumerate() {
        let name = format!(
            "{}.M{}P1.passeur-test:2,",
            1_700_000_000 + base + i,
            base + i
        );
        std::fs::write(md.join("cur").join(name), m).unwrap();
    }
    dc.resync(user).unwrap();
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// sha256 → count of the destination INBOX's messages.
fn destination(dc: &Dovecot) -> BTreeMap<String, usize> {
    let snap = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user2", "pass2").unwrap();
    let mut out = BTreeMap::new();
    for m in snap.folders.get("INBOX").cloned().unwrap_or_default() {
        *out.entry(m.sha256).or_default() += 1;
    }
    out
}

fn expected(msgs: &[Vec<u8>]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in msgs {
        *out.entry(sha(m)).or_default() += 1;
    }
    out
}

async fn store(dir: &Path) -> (Store, MigrationId) {
    let store = Store::open(&dir.join("state.db")).await.unwrap();
    let id = MigrationId::random();
    store
        .create_migration(id, "pop3://user1@h", "imap://user2@h", "{}")
        .await
        .unwrap();
    (store, id)
}

async fn pass(
    store: &Store,
    id: MigrationId,
    src: &MailAccount,
    dst: &MailAccount,
) -> passeur_engine::Pop3Report {
    let n = store.begin_pass(id).await.unwrap();
    let opts = Pop3Options {
        batch_messages: 4,
        ..Pop3Options::default()
    };
    run_pop3_pass(&RunContext::quiet(store.clone(), id, n), src, dst, &opts)
        .await
        .unwrap()
}

#[tokio::test]
async fn copies_exactly_once_and_again_only_what_is_new() {
    let dc = start();
    let tmp = tempfile::tempdir().unwrap();
    let (store, id) = store(tmp.path()).await;
    let (src, dst) = accounts(&dc);
    let mut msgs: Vec<Vec<u8>> = (0..10).map(message).collect();
    put(&dc, "user1", &msgs);

    let r = pass(&store, id, &src, &dst).await;
    assert_eq!(
        (r.source_messages, r.to_copy, r.copied, r.failed),
        (10, 10, 10, 0)
    );
    assert!(r.complete());
    assert_eq!(destination(&dc), expected(&msgs), "byte-exact copies");
    // INTERNALDATE comes from the Date header.
    let snap = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user2", "pass2").unwrap();
    for m in &snap.folders["INBOX"] {
        assert_eq!(m.internal_date, Some(1_057_049_557), "{m:?}");
    }
    let items = store
        .items_in_folder(id, ContentKind::Mail, POP3_FOLDER)
        .await
        .unwrap();
    assert_eq!(items.len(), 10);
    assert!(items.iter().all(|i| !i.pending && i.dst_uid.is_some()));

    let r = pass(&store, id, &src, &dst).await;
    assert_eq!(
        (r.known, r.to_copy, r.copied),
        (10, 0, 0),
        "a re-run copies nothing"
    );

    msgs.push(message(10));
    put(&dc, "user1", &msgs[10..]);
    let r = pass(&store, id, &src, &dst).await;
    assert_eq!((r.known, r.copied), (10, 1));
    assert_eq!(destination(&dc), expected(&msgs));

    // The source is untouched.
    let (pop, _) = accounts(&dc);
    let mut c = passeur_pop3::Client::connect(&passeur_pop3::ConnectConfig::new(
        pop.endpoint.host.clone(),
        pop.endpoint.port,
        pop.endpoint.security,
    ))
    .await
    .unwrap();
    c.login("user1", "pass1").await.unwrap();
    assert_eq!(c.stat().await.unwrap().0, 11);

    // A purge from pass 3 removes what it copied, and a later pass leaves it away.
    let p = purge_mail(&store, id, &dst, 3, false, true, &Control::default())
        .await
        .unwrap();
    drop(p);
    msgs.pop();
    assert_eq!(destination(&dc), expected(&msgs));
    let r = pass(&store, id, &src, &dst).await;
    assert_eq!(r.copied, 0, "a purged message stays purged");
}

#[tokio::test]
async fn pending_rows_of_an_interrupted_run_are_reconciled_without_duplicates() {
    let dc = start();
    let tmp = tempfile::tempdir().unwrap();
    let (store, id) = store(tmp.path()).await;
    let (src, dst) = accounts(&dc);
    let msgs: Vec<Vec<u8>> = (0..3).map(message).collect();
    put(&dc, "user1", &msgs);

    // A run killed between APPEND and its confirmation (message 0: it landed) and one killed
    // before its APPEND (message 1: it did not): both are pending in the map.
    let mut c = passeur_pop3::Client::connect(&passeur_pop3::ConnectConfig::new(
        src.endpoint.host.clone(),
        src.endpoint.port,
        src.endpoint.security,
    ))
    .await
    .unwrap();
    c.login("user1", "pass1").await.unwrap();
    let uidl = c.uidl().await.unwrap();
    let mut by_body = BTreeMap::new();
    for (n, uid) in &uidl {
        by_body.insert(c.retr_bytes(*n, 1 << 20).await.unwrap(), uid.clone());
    }
    c.quit().await.unwrap();
    let first = store.begin_pass(id).await.unwrap();
    let pending: Vec<Item> = msgs[..2]
        .iter()
        .enumerate()
        .map(|(i, m)| Item {
            kind: ContentKind::Mail,
            src_folder: POP3_FOLDER.into(),
            src_key: by_body[m].clone(),
            src_uidvalidity: None,
            src_uid: None,
            fingerprint: fingerprint(
                Some(format!("<m{i}@example.org>").as_bytes()),
                Some(INTERNAL),
                m.len() as u64,
            ),
            dst_folder: "INBOX".into(),
            dst_uidvalidity: None,
            dst_uid: None,
            etag: None,
            dst_key: None,
            pass: first,
            size: m.len() as u64,
            flags: String::new(),
            pending: true,
        })
        .collect();
    store.insert_pending(id, &pending).await.unwrap();
    let mut imap = dc.login(2).unwrap();
    imap.append("INBOX", &[], Some(INTERNAL), &msgs[0]).unwrap();
    imap.logout();

    let r = pass(&store, id, &src, &dst).await;
    assert_eq!(
        r.copied, 2,
        "messages 1 and 2 are sent, message 0 is recognised"
    );
    assert_eq!(destination(&dc), expected(&msgs), "no duplicate");
    let items = store
        .items_in_folder(id, ContentKind::Mail, POP3_FOLDER)
        .await
        .unwrap();
    assert_eq!(items.len(), 3);
    assert!(items.iter().all(|i| !i.pending));
}

#[tokio::test]
async fn a_pop3_server_without_uidl_is_refused_clearly() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let (r, mut w) = s.into_split();
        let mut lines = BufReader::new(r).lines();
        w.write_all(b"+OK old server\r\n").await.unwrap();
        while let Ok(Some(line)) = lines.next_line().await {
            let reply: &[u8] = match line.split(' ').next().unwrap_or("") {
                "CAPA" => b"+OK\r\nUSER\r\n.\r\n",
                "USER" | "PASS" | "LIST" => b"+OK\r\n.\r\n",
                "QUIT" => b"+OK\r\n",
                _ => b"-ERR unknown command\r\n",
            };
            // LIST is multi-line; USER/PASS are not: send only the status line for them.
            let reply = if line.starts_with("USER") || line.starts_with("PASS") {
                &reply[..5]
            } else {
                reply
            };
            w.write_all(reply).await.unwrap();
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let (store, id) = store(tmp.path()).await;
    let src = MailAccount::new(
        Endpoint::parse(&format!("pop3://u@127.0.0.1:{port}")).unwrap(),
        "p".into(),
    );
    // Never reached: the source is refused first.
    let dst = MailAccount::new(Endpoint::parse("imap://u@127.0.0.1:1").unwrap(), "p".into());
    let n = store.begin_pass(id).await.unwrap();
    let e = run_pop3_pass(
        &RunContext::quiet(store.clone(), id, n),
        &src,
        &dst,
        &Pop3Options::default(),
    )
    .await
    .unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert!(e.to_string().contains("does not support UIDL"), "{e}");
}

#[tokio::test]
async fn cut_connections_are_retried_without_loss_or_duplicates() {
    let dc = start();
    let tmp = tempfile::tempdir().unwrap();
    let (store, id) = store(tmp.path()).await;
    let (mut src, mut dst) = accounts(&dc);
    let msgs: Vec<Vec<u8>> = (0..12).map(message).collect();
    put(&dc, "user1", &msgs);

    // The source drops in the middle of the RETRs; the destination's answer to the first
    // APPEND is lost after the messages were stored.
    let pop =
        passeur_testkit::CutProxy::start(&format!("127.0.0.1:{}", dc.pop3_port.unwrap())).unwrap();
    let imap = passeur_testkit::CutProxy::start(&format!("127.0.0.1:{}", dc.imap_port)).unwrap();
    src.endpoint.port = pop.port();
    dst.endpoint.port = imap.port();
    pop.cut_after_bytes(6_000);
    imap.cut_on_reply(b"[APPENDUID", 1);

    let (events, mut rx) = passeur_engine::events::channel();
    let n = store.begin_pass(id).await.unwrap();
    let opts = Pop3Options {
        batch_messages: 4,
        ..Pop3Options::default()
    };
    let rc = RunContext {
        events,
        ..RunContext::quiet(store.clone(), id, n)
    };
    let r = run_pop3_pass(&rc, &src, &dst, &opts).await.unwrap();
    let mut retries = 0;
    while let Some(e) = rx.try_recv() {
        if matches!(e, passeur_engine::Event::Retrying { .. }) {
            retries += 1;
        }
    }
    // RETR and APPEND overlap: both cuts may fall in the same attempt.
    assert_eq!((pop.cuts(), imap.cuts()), (1, 1), "both cuts happened");
    assert!((1..=2).contains(&retries), "and were retried: {retries}");
    assert!(r.complete(), "{r:?}");
    assert_eq!(
        destination(&dc),
        expected(&msgs),
        "nothing lost, nothing twice"
    );
    let items = store
        .items_in_folder(id, ContentKind::Mail, POP3_FOLDER)
        .await
        .unwrap();
    assert_eq!(items.len(), 12);
    assert!(items.iter().all(|i| !i.pending));
}

#[tokio::test]
async fn the_runner_takes_the_pop3_path_for_a_pop3_source_with_verify_and_purge() {
    use passeur_engine::{
        AccountSpec, Control, MailOptions, MigrationSpec, Outcome, RunOptions, Runner, Secrets,
    };
    let dc = start();
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("state.db")).await.unwrap();
    let runner = Runner::new(store);
    let (src, dst) = accounts(&dc);
    let msgs: Vec<Vec<u8>> = (0..5).map(message).collect();
    put(&dc, "user1", &msgs);
    let spec = MigrationSpec::Accounts(AccountSpec {
        mail: MailOptions::default(),
        from_admin: None,
        to_admin: None,
        with_mail: true,
        dav: None,
        pop3_folder: Some("FromPop".into()),
    });
    let (id, _) = runner
        .create(&src.endpoint.to_url(), &dst.endpoint.to_url(), &spec, true)
        .await
        .unwrap();
    let secrets = || Secrets {
        source: Some("pass1".to_owned().into()),
        destination: Some("pass2".to_owned().into()),
    };
    let o = runner
        .run_pass(id, &secrets(), &RunOptions::default(), Control::default())
        .await
        .unwrap();
    assert_eq!(o.outcome, Outcome::Done);
    assert_eq!(o.counters.copied, 5);
    let f = &o.mail.as_ref().unwrap().folders[0];
    assert_eq!(
        (f.folder.as_str(), f.dst.as_str()),
        (POP3_FOLDER, "FromPop")
    );
    let snap = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user2", "pass2").unwrap();
    let mut got = BTreeMap::new();
    for m in &snap.folders["FromPop"] {
        *got.entry(m.sha256.clone()).or_insert(0usize) += 1;
    }
    assert_eq!(got, expected(&msgs), "byte-exact, in the chosen folder");

    let v = runner
        .verify(
            id,
            &secrets(),
            &RunOptions::default(),
            None,
            Control::default(),
        )
        .await
        .unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.mail.as_ref().unwrap().folders[0].source_messages, 5);

    // A message removed on the destination is found missing.
    let mut imap = dc.login(2).unwrap();
    imap.select("FromPop", false).unwrap();
    imap.run("STORE 1 +FLAGS.SILENT (\\Deleted)").unwrap();
    imap.run("EXPUNGE").unwrap();
    imap.logout();
    let v = runner
        .verify(
            id,
            &secrets(),
            &RunOptions::default(),
            None,
            Control::default(),
        )
        .await
        .unwrap();
    assert!(!v.ok());
    assert_eq!(v.mail.as_ref().unwrap().folders[0].missing, 1);

    // Purge deletes on the destination only; the POP3 mailbox keeps all five.
    let p = runner
        .purge(
            id,
            1,
            false,
            "pass2".to_owned().into(),
            &RunOptions::default(),
            Control::default(),
        )
        .await
        .unwrap();
    assert_eq!(p.skipped(), 0);
    let snap = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user2", "pass2").unwrap();
    assert!(snap.folders["FromPop"].is_empty());
    let mut c = passeur_pop3::Client::connect(&passeur_pop3::ConnectConfig::new(
        src.endpoint.host.clone(),
        src.endpoint.port,
        src.endpoint.security,
    ))
    .await
    .unwrap();
    c.login("user1", "pass1").await.unwrap();
    assert_eq!(c.stat().await.unwrap().0, 5);
}
