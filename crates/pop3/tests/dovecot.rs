//! The client against a real private Dovecot POP3 (and two tiny hostile peers).

use std::collections::BTreeSet;

use std::time::Duration;

use passeur_pop3::{Client, ConnectConfig, Error, Security};
use passeur_testkit::{Dovecot, DovecotOptions};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn start() -> Dovecot {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    if let Err(e) = passeur_testkit::ensure_dovecot() {
        panic!("{e}");
    }
    Dovecot::start(DovecotOptions {
        users: 2,
        tls: true,
        pop3: true,
        ..DovecotOptions::default()
    })
    .expect("start a private Dovecot with POP3")
}

fn config(dc: &Dovecot, security: Security) -> ConnectConfig {
    let port = match security {
        Security::Tls => dc.pop3s_port.expect("POP3S listener"),
        _ => dc.pop3_port.expect("POP3 listener"),
    };
    let mut c = ConnectConfig::new(dc.host.clone(), port, security);
    c.insecure_tls = true;
    c.connect_timeout = Duration::from_secs(10);
    c.io_timeout = Duration::from_secs(60);
    c
}

async fn login(dc: &Dovecot, user: u32) -> Client {
    let mut c = Client::connect(&config(dc, Security::Plain))
        .await
        .expect("connect");
    let (u, p) = dc.user(user);
    c.login(&u, &p).await.expect("log in");
    c
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Writes raw messages into `user`'s INBOX (Maildir `cur/`) and makes Dovecot see them.
fn put(dc: &Dovecot, user: &str, msgs: &[Vec<u8>]) {
    let md = dc.maildir(user);
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    let base = std::fs::read_dir(md.join("cur")).unwrap().count();
    for (i, m) in msgs.iter().enumerate() {
        let name = format!(
            "{}.M{}P1.passeur-test:2,S",
            1_700_000_000 + base + i,
            base + i
        );
        std::fs::write(md.join("cur").join(name), m).unwrap();
    }
    dc.resync(user).unwrap();
}

/// Messages that stress the dot-stuffing and line ends, and what POP3 serves for each
/// (Dovecot serves a bare LF as CRLF; a missing final line end gains a CRLF).
fn tricky() -> Vec<(Vec<u8>, Vec<u8>)> {
    let crlf = |s: &str| s.as_bytes().to_vec();
    let plain = crlf(
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: plain\r\nMessage-ID: <p1@x>\r\n\r\nHello.\r\n",
    );
    let dots = crlf(
        "From: a@example.org\r\nSubject: dots\r\nMessage-ID: <d1@x>\r\n\r\n.\r\n..\r\n.leading dot\r\n...three\r\n. \r\nend\r\n",
    );
    let lf = b"From: a@example.org\nSubject: bare lf\nMessage-ID: <l1@x>\n\n.x\nbody\n".to_vec();
    let lf_served =
        b"From: a@example.org\r\nSubject: bare lf\r\nMessage-ID: <l1@x>\r\n\r\n.x\r\nbody\r\n"
            .to_vec();
    let no_end = crlf(
        "From: a@example.org\r\nSubject: no final crlf\r\nMessage-ID: <n1@x>\r\n\r\nlast line",
    );
    let mut no_end_served = no_end.clone();
    no_end_served.extend_from_slice(b"\r\n");
    vec![
        (plain.clone(), plain),
        (dots.clone(), dots),
        (lf, lf_served),
        (no_end, no_end_served),
    ]
}

#[tokio::test]
async fn login_ok_and_wrong_password_is_fatal() {
    let dc = start();
    let mut c = login(&dc, 1).await;
    assert_eq!(c.stat().await.unwrap(), (0, 0));
    c.quit().await.unwrap();

    let mut c = Client::connect(&config(&dc, Security::Plain))
        .await
        .unwrap();
    let e = c.login("user1", "wrong").await.unwrap_err();
    assert!(matches!(e, Error::Auth { .. }), "{e:?}");
    assert!(!e.is_retryable(), "a wrong password must not be retried");
    assert!(!e.to_string().contains("wrong"), "the password leaked: {e}");

    let mut c = Client::connect(&config(&dc, Security::Plain))
        .await
        .unwrap();
    let e = c
        .authenticate_plain(None, "user1", "wrong")
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Auth { .. }) && !e.is_retryable(),
        "{e:?}"
    );
}

#[tokio::test]
async fn uidl_and_retr_are_byte_exact() {
    let dc = start();
    let msgs = tricky();
    put(
        &dc,
        "user1",
        &msgs.iter().map(|m| m.0.clone()).collect::<Vec<_>>(),
    );
    let mut c = login(&dc, 1).await;
    assert!(c.capabilities().uidl && c.capabilities().top);
    let uidl = c.uidl().await.unwrap();
    assert_eq!(uidl.len(), msgs.len());
    let uids: BTreeSet<&str> = uidl.iter().map(|(_, u)| u.as_str()).collect();
    assert_eq!(uids.len(), msgs.len(), "unique-ids must be unique");

    let list = c.list().await.unwrap();
    let mut got = BTreeSet::new();
    for (n, size) in &list {
        let body = c.retr_bytes(*n, 1 << 20).await.unwrap();
        // LIST counts the stored bytes; the CRLF Dovecot adds to a message stored without a
        // final line end is not among them.
        let added = if body.ends_with(b"last line\r\n") {
            2
        } else {
            0
        };
        assert_eq!(body.len() as u64, *size + added, "LIST size of message {n}");
        got.insert(sha(&body));
    }
    let want: BTreeSet<String> = msgs.iter().map(|m| sha(&m.1)).collect();
    assert_eq!(got, want, "RETR must give the stored bytes");

    // UIDL is stable from one session to the next.
    c.quit().await.unwrap();
    let mut c = login(&dc, 1).await;
    assert_eq!(c.uidl().await.unwrap(), uidl);
    // Nothing was deleted.
    assert_eq!(c.stat().await.unwrap().0, msgs.len() as u32);
}

#[tokio::test]
async fn top_gives_the_header() {
    let dc = start();
    let msgs = tricky();
    put(&dc, "user1", &[msgs[1].0.clone()]);
    let mut c = login(&dc, 1).await;
    let head = c.top(1, 0, 1 << 20).await.unwrap();
    let served = &msgs[1].1;
    let end = served.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(head, &served[..end]);
    let two = c.top(1, 2, 1 << 20).await.unwrap();
    assert_eq!(two, [&served[..end], b".\r\n..\r\n".as_slice()].concat());
    let e = c.top(99, 0, 1 << 20).await.unwrap_err();
    assert!(matches!(e, Error::Server { .. }), "{e:?}");
    // The session goes on after a refusal.
    c.noop().await.unwrap();
}

#[tokio::test]
async fn stls_and_implicit_tls() {
    let dc = start();
    put(&dc, "user1", &[tricky()[0].0.clone()]);
    for security in [Security::StartTls, Security::Tls] {
        let mut c = Client::connect(&config(&dc, security)).await.unwrap();
        assert!(!c.capabilities().stls, "STLS is offered again after TLS");
        c.login("user1", "pass1").await.unwrap();
        let body = c.retr_bytes(1, 1 << 20).await.unwrap();
        assert_eq!(body, tricky()[0].1, "{security:?}");
    }
    // Without --insecure-tls the self-signed certificate is refused, for good.
    let mut cfg = config(&dc, Security::Tls);
    cfg.insecure_tls = false;
    let e = Client::connect(&cfg).await.unwrap_err();
    assert!(matches!(e, Error::Tls { .. }), "{e:?}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("insecure-tls"), "{e}");
}

#[tokio::test]
async fn master_user_reads_another_mailbox() {
    let dc = start();
    put(&dc, "user2", &[tricky()[1].0.clone()]);
    let mut c = Client::connect(&config(&dc, Security::Plain))
        .await
        .unwrap();
    assert!(c.capabilities().has_sasl("PLAIN"));
    c.authenticate_plain(Some("user2"), &dc.master_user, &dc.master_password)
        .await
        .unwrap();
    assert_eq!(c.retr_bytes(1, 1 << 20).await.unwrap(), tricky()[1].1);
    // A user who is not a master cannot act for another.
    let mut c = Client::connect(&config(&dc, Security::Plain))
        .await
        .unwrap();
    let e = c
        .authenticate_plain(Some("user2"), "user1", "pass1")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Auth { .. }), "{e:?}");
}

#[tokio::test]
async fn pipelined_and_one_by_one_retr_agree() {
    let dc = start();
    let msgs: Vec<Vec<u8>> = (0..150)
        .map(|i| {
            format!(
                "From: a@example.org\r\nSubject: n{i}\r\nMessage-ID: <m{i}@x>\r\n\r\n.{i}\r\n{}\r\n",
                "x".repeat(i * 37)
            )
            .into_bytes()
        })
        .collect();
    put(&dc, "user1", &msgs);
    let mut a = login(&dc, 1).await;
    assert!(a.pipelining(), "Dovecot offers PIPELINING");
    let ns: Vec<u32> = (1..=150).collect();
    let piped = a.retr_many(&ns, 1 << 20).await.unwrap();

    let mut cfg = config(&dc, Security::Plain);
    cfg.quirk_no_pipelining = true;
    let mut b = Client::connect(&cfg).await.unwrap();
    b.login("user1", "pass1").await.unwrap();
    assert!(!b.pipelining());
    let single = b.retr_many(&ns, 1 << 20).await.unwrap();
    assert_eq!(piped, single);
    let got: BTreeSet<String> = piped
        .iter()
        .map(|(_, r)| sha(r.as_ref().unwrap()))
        .collect();
    let want: BTreeSet<String> = msgs.iter().map(|m| sha(m)).collect();
    assert_eq!(got, want);
    // The session is in step after the pipeline.
    assert_eq!(a.stat().await.unwrap().0, 150);
}

#[tokio::test]
async fn a_50_mb_message_streams_in_bounded_pieces() {
    let dc = start();
    let mut m = b"From: a@example.org\r\nSubject: big\r\nMessage-ID: <big@x>\r\n\r\n".to_vec();
    let line = b".dotted line of a big message, 64 bytes long...................\r\n";
    while m.len() < 50 << 20 {
        m.extend_from_slice(line);
    }
    put(&dc, "user1", std::slice::from_ref(&m));
    let mut c = login(&dc, 1).await;
    let mut r = c.retr(1).await.unwrap();
    let mut h = Sha256::new();
    let (mut total, mut largest) = (0usize, 0usize);
    while let Some(chunk) = r.next_chunk().await.unwrap() {
        largest = largest.max(chunk.len());
        total += chunk.len();
        h.update(&chunk);
    }
    assert_eq!(total, m.len());
    assert_eq!(hex::encode(h.finalize()), sha(&m));
    assert!(largest <= 256 << 10, "a piece of {largest} bytes");
    // A stream dropped half-way is skipped before the next command.
    {
        let mut r = c.retr(1).await.unwrap();
        r.next_chunk().await.unwrap();
    }
    assert_eq!(c.stat().await.unwrap().0, 1);
}

/// A tiny peer that plays `script`: for each expected command prefix, the reply to send (a
/// reply of `None` closes the connection).
async fn peer(script: Vec<(&'static str, Option<&'static [u8]>)>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(b"+OK hostile ready\r\n").await.unwrap();
        let mut buf = Vec::new();
        for (expect, reply) in script {
            loop {
                if let Some(p) = buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=p).collect();
                    assert!(line.starts_with(expect.as_bytes()), "{line:?}");
                    break;
                }
                let mut b = [0u8; 512];
                let n = s.read(&mut b).await.unwrap();
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&b[..n]);
            }
            match reply {
                Some(r) => s.write_all(r).await.unwrap(),
                None => return,
            }
        }
        let _ = s.read(&mut [0u8; 64]).await;
    });
    port
}

fn local(port: u16) -> ConnectConfig {
    let mut c = ConnectConfig::new("127.0.0.1", port, Security::Plain);
    c.io_timeout = Duration::from_secs(20);
    c
}

#[tokio::test]
async fn a_server_without_uidl_is_refused() {
    let port = peer(vec![
        ("CAPA", Some(b"+OK\r\nUSER\r\nTOP\r\n.\r\n")),
        ("USER", Some(b"+OK\r\n")),
        ("PASS", Some(b"+OK logged in\r\n")),
        ("CAPA", Some(b"+OK\r\nUSER\r\nTOP\r\n.\r\n")),
        ("UIDL", Some(b"-ERR unknown command\r\n")),
    ])
    .await;
    let mut c = Client::connect(&local(port)).await.unwrap();
    c.login("u", "p").await.unwrap();
    let e = c.uidl().await.unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("UIDL"), "{e}");
}

#[tokio::test]
async fn a_connection_cut_mid_retr_is_retryable() {
    let port = peer(vec![
        ("CAPA", Some(b"-ERR no CAPA here\r\n")),
        ("USER", Some(b"+OK\r\n")),
        ("PASS", Some(b"+OK\r\n")),
        ("CAPA", Some(b"-ERR no CAPA here\r\n")),
        (
            "RETR 1",
            Some(b"+OK 5000 octets\r\nSubject: cut\r\n\r\nhalf of it"),
        ),
        ("NEVER", None),
    ])
    .await;
    let mut c = Client::connect(&local(port)).await.unwrap();
    c.login("u", "p").await.unwrap();
    let e = c.retr_bytes(1, 1 << 20).await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    // The client says so on any later call instead of reading garbage.
    let e = c.stat().await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
}

#[tokio::test]
async fn garbage_and_overlong_lines_are_clean_errors() {
    let port = peer(vec![("CAPA", Some(b"* OK this is IMAP\r\n"))]).await;
    let e = Client::connect(&local(port)).await.unwrap_err();
    assert!(matches!(e, Error::Protocol { .. }), "{e:?}");

    let long: &'static [u8] = Box::leak(vec![b'+'; 100_000].into_boxed_slice());
    let port = peer(vec![("CAPA", Some(long))]).await;
    let e = Client::connect(&local(port)).await.unwrap_err();
    assert!(matches!(e, Error::Protocol { .. }), "{e:?}");
}
