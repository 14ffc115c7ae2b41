//! The client against a real, private Dovecot.

mod common;

use std::collections::HashMap;

use bytes::Bytes;
use common::Dovecot;
use passeur_imap::{AppendMessage, Client, Error, Quirks, Security, mutf7, uid_set};
use sha2::{Digest, Sha256};

/// A deterministic message of about `size` bytes with CRLF lines.
fn message(n: u32, size: usize) -> Bytes {
    let mut s = format!(
        "From: Sender {n} <s{n}@example.org>\r\nTo: r@example.org\r\nSubject: message {n}\r\n\
         Message-ID: <msg{n}@example.org>\r\nDate: Mon, 1 Mar 2021 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBody of {n}: été\r\n"
    )
    .into_bytes();
    let mut x: u64 = u64::from(n)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1);
    while s.len() < size {
        for _ in 0..76 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s.push(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [(x >> 58) as usize],
            );
        }
        s.extend_from_slice(b"\r\n");
    }
    Bytes::from(s)
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since the epoch of an IMAP date-time (`17-Jul-1996 02:44:25 -0700`).
fn epoch(d: &str) -> i64 {
    let d = d.trim();
    let (date, rest) = d.split_once(' ').expect("date");
    let (time, zone) = rest.split_once(' ').expect("zone");
    let mut it = date.split('-');
    let day: i64 = it.next().unwrap().parse().unwrap();
    let mon_name = it.next().unwrap();
    let mon = MONTHS.iter().position(|m| *m == mon_name).unwrap() as i64 + 1;
    let year: i64 = it.next().unwrap().parse().unwrap();
    let t: Vec<i64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mon <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mon + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let zh: i64 = zone[1..3].parse().unwrap();
    let zm: i64 = zone[3..5].parse().unwrap();
    days * 86400 + t[0] * 3600 + t[1] * 60 + t[2] - sign * (zh * 3600 + zm * 60)
}

fn batch(count: u32, big: Option<(u32, usize)>) -> Vec<AppendMessage> {
    (1..=count)
        .map(|n| {
            let size = match big {
                Some((which, size)) if which == n => size,
                _ => 500 + (n as usize * 997) % 30_000,
            };
            let mut flags = vec![];
            if n % 2 == 0 {
                flags.push("\\Seen".to_string());
            }
            if n % 3 == 0 {
                flags.push("\\Flagged".to_string());
            }
            if n % 5 == 0 {
                flags.push("$Forwarded".to_string());
                flags.push("$Label1".to_string());
            }
            if n % 7 == 0 {
                flags.push("\\Recent".to_string());
            }
            AppendMessage {
                flags,
                internal_date: Some(format!(
                    "{:02}-{}-20{:02} {:02}:{:02}:{:02} {}",
                    1 + n % 28,
                    MONTHS[(n % 12) as usize],
                    18 + n % 7,
                    n % 24,
                    n % 60,
                    (n * 7) % 60,
                    if n % 2 == 0 { "+0200" } else { "-0700" }
                )),
                body: message(n, size),
            }
        })
        .collect()
}

fn sorted_flags(f: &[String]) -> Vec<String> {
    let mut v: Vec<String> = f
        .iter()
        .filter(|x| !x.eq_ignore_ascii_case("\\Recent"))
        .map(|x| x.to_ascii_lowercase())
        .collect();
    v.sort();
    v
}

/// Appends, then checks every UID, flag, date and body byte.
async fn append_and_verify(client: &mut Client, mailbox: &str, msgs: &[AppendMessage]) {
    client.create(mailbox).await.unwrap();
    let before = client.select(mailbox).await.unwrap();
    let out = client.append_batch(mailbox, msgs).await.unwrap();
    assert_eq!(out.results.len(), msgs.len());
    assert_eq!(out.uidvalidity, Some(before.uidvalidity));
    let uids: Vec<u32> = out
        .results
        .iter()
        .map(|r| r.clone().unwrap().expect("APPENDUID"))
        .collect();
    let first = before.uidnext.unwrap();
    assert_eq!(uids, (first..first + msgs.len() as u32).collect::<Vec<_>>());

    let after = client.select(mailbox).await.unwrap();
    assert_eq!(after.exists, before.exists + msgs.len() as u32);
    let meta = client.uid_fetch_meta(&uid_set(&uids), None).await.unwrap();
    assert_eq!(meta.len(), msgs.len());
    for (m, sent) in meta.iter().zip(msgs) {
        assert_eq!(
            sorted_flags(&m.flags),
            sorted_flags(&sent.flags),
            "uid {}",
            m.uid
        );
        assert_eq!(
            epoch(m.internal_date.as_deref().unwrap()),
            epoch(sent.internal_date.as_deref().unwrap())
        );
        assert_eq!(m.size, Some(sent.body.len() as u64));
        assert!(m.modseq.is_some(), "CONDSTORE gives MODSEQ");
    }

    let want: HashMap<u32, String> = uids
        .iter()
        .zip(msgs)
        .map(|(u, m)| (*u, sha(&m.body)))
        .collect();
    client.start_fetch_bodies(&uids).await.unwrap();
    let mut seen = 0;
    while let Some(b) = client.next_body().await.unwrap() {
        assert_eq!(
            want.get(&b.uid),
            Some(&sha(&b.body)),
            "body of uid {}",
            b.uid
        );
        seen += 1;
    }
    assert_eq!(seen, msgs.len());
    // The connection is usable again afterwards.
    client.noop().await.unwrap();
}

#[tokio::test]
async fn login_master_user_and_wrong_password() {
    let dc = Dovecot::start(3);
    let mut c = Client::connect(&dc.config(Security::Plain, false))
        .await
        .unwrap();
    assert!(c.capabilities().has("imap4rev1"));
    c.authenticate(None, "user1", "pass1").await.unwrap();
    // Capabilities after login are the post-login set.
    assert!(c.capabilities().multiappend());
    c.logout().await.unwrap();

    // The admin appends into user2's INBOX on their behalf.
    let mut admin = Client::connect(&dc.config(Security::Plain, false))
        .await
        .unwrap();
    admin
        .authenticate(Some("user2"), "admin", "masterpass")
        .await
        .unwrap();
    admin.select("INBOX").await.unwrap();
    let out = admin
        .append_batch(
            "INBOX",
            &[AppendMessage {
                body: message(1, 100),
                ..Default::default()
            }],
        )
        .await
        .unwrap();
    assert!(matches!(out.results[..], [Ok(Some(_))]));
    admin.logout().await.unwrap();
    let mut u2 = dc.login(2).await;
    assert_eq!(u2.status("INBOX").await.unwrap().exists, 1);
    let mut u1 = dc.login(1).await;
    assert_eq!(u1.status("INBOX").await.unwrap().exists, 0);

    let mut c = Client::connect(&dc.config(Security::Plain, false))
        .await
        .unwrap();
    let err = c.authenticate(None, "user1", "wrong").await.unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    assert!(!err.is_retryable());
    // Wrong master password too.
    let mut c = Client::connect(&dc.config(Security::Plain, false))
        .await
        .unwrap();
    let err = c
        .authenticate(Some("user1"), "admin", "nope")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
}

#[tokio::test]
async fn tls_self_signed_needs_insecure_switch() {
    let dc = Dovecot::start(1);
    for security in [Security::StartTls, Security::Tls] {
        let err = Client::connect(&dc.config(security, false))
            .await
            .unwrap_err();
        match &err {
            Error::Tls { reason, .. } => {
                println!("{security:?}: {err}");
                assert!(reason.contains("not trusted"), "{reason}");
                assert!(reason.contains("--insecure-tls"), "{reason}");
            }
            other => panic!("{security:?}: expected a TLS error, got {other:?}"),
        }
        assert!(!err.is_retryable());
        let mut c = Client::connect(&dc.config(security, true)).await.unwrap();
        assert!(c.is_tls());
        // STARTTLS must not be offered again after the upgrade.
        assert!(!c.capabilities().starttls());
        c.authenticate(None, "user1", "pass1").await.unwrap();
        assert!(!c.list().await.unwrap().is_empty());
        c.logout().await.unwrap();
    }
}

#[tokio::test]
async fn compress_deflate_over_tls_carries_big_messages() {
    let dc = Dovecot::start(1);
    let mut c = Client::connect(&dc.config(Security::Tls, true))
        .await
        .unwrap();
    c.authenticate(None, "user1", "pass1").await.unwrap();
    assert!(c.compress().await.unwrap());
    assert!(c.is_compressed());
    let msgs = batch(30, Some((7, 3_000_000)));
    append_and_verify(&mut c, "Zipped", &msgs).await;
    c.logout().await.unwrap();
}

#[tokio::test]
async fn list_special_use_and_non_ascii_folders() {
    let dc = Dovecot::start(1);
    let mut c = dc.login(1).await;
    let ns = c.namespace().await.unwrap().unwrap();
    assert_eq!((ns.prefix.as_str(), ns.delimiter), ("", Some('/')));
    c.create("Archive").await.unwrap();
    let names = ["Entwürfe & Notizen", "請求書", "Reçus/Été 2023"];
    for n in names {
        let wire = mutf7::encode(n);
        c.create(&wire).await.unwrap();
        // Creating it again is fine.
        c.create(&wire).await.unwrap();
        c.subscribe(&wire).await.unwrap();
    }
    let list = c.list().await.unwrap();
    let find = |name: &str| list.iter().find(|e| e.name == name);
    for n in names {
        let e = find(&mutf7::encode(n)).unwrap_or_else(|| panic!("{n} in {list:?}"));
        assert!(e.subscribed, "{n}");
        assert_eq!(mutf7::decode(&e.name).as_deref(), Some(n));
        assert_eq!(e.delimiter, Some('/'));
    }
    assert_eq!(
        find("Entw&APw-rfe &- Notizen").map(|e| e.subscribed),
        Some(true)
    );
    let sent = find("Sent").unwrap();
    assert_eq!(sent.special_use(), Some("\\Sent"));
    assert!(sent.subscribed);
    assert_eq!(find("Archive").unwrap().special_use(), Some("\\Archive"));
    assert!(!find("Archive").unwrap().subscribed);
    assert!(find("INBOX").is_some());
    // The parent created implicitly by "Reçus/Été 2023".
    let parent = find("Re&AOc-us").unwrap();
    assert!(!parent.is_selectable(), "{parent:?}");
    assert!(parent.has_attribute("\\HasChildren"), "{parent:?}");
    assert!(find("INBOX").unwrap().is_selectable());
    // Plain LIST + LSUB finds the same mailboxes and subscriptions.
    c.set_quirks(Quirks::default().with_no_list_extended(true));
    let plain = c.list().await.unwrap();
    let key = |l: &[passeur_imap::ListEntry]| {
        let mut v: Vec<(String, bool, bool)> = l
            .iter()
            .map(|e| (e.name.clone(), e.subscribed, e.is_selectable()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(key(&plain), key(&list));
    c.set_quirks(Quirks::default());
    // Mail goes into the non-ASCII folder and STATUS sees it.
    let wire = mutf7::encode("請求書");
    let out = c.append_batch(&wire, &batch(3, None)).await.unwrap();
    assert_eq!(out.results.len(), 3);
    let st = c.status(&wire).await.unwrap();
    assert_eq!(st.exists, 3);
    assert_eq!(st.uidnext, Some(4));
    assert!(st.highestmodseq.is_some());
    c.logout().await.unwrap();
}

#[tokio::test]
async fn multiappend_100_messages_with_a_20mb_one() {
    let dc = Dovecot::start(1);
    let mut c = dc.login(1).await;
    assert!(c.capabilities().multiappend() && c.capabilities().literal_plus());
    assert_eq!(c.enable(&["CONDSTORE"]).await.unwrap(), vec!["CONDSTORE"]);
    assert_eq!(c.enabled(), ["CONDSTORE"]);
    let msgs = batch(100, Some((42, 20 * 1024 * 1024)));
    append_and_verify(&mut c, "Archive", &msgs).await;

    // CONDSTORE: a flag change shows up with CHANGEDSINCE, and only it.
    let st = c.select("Archive").await.unwrap();
    let modseq = st.highestmodseq.expect("HIGHESTMODSEQ");
    assert!(st.permanent_flags.iter().any(|f| f == "\\Seen"));
    c.uid_store("5", "+FLAGS.SILENT", &["$Important".to_string()])
        .await
        .unwrap();
    let changed = c.uid_fetch_meta("1:*", Some(modseq)).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].uid, 5);
    assert!(changed[0].flags.iter().any(|f| f == "$Important"));
    assert!(changed[0].modseq.unwrap() > modseq);

    // Fingerprint headers, search and expunge.
    let heads = c
        .uid_fetch_header_fields("1:3", &["MESSAGE-ID", "DATE"])
        .await
        .unwrap();
    assert_eq!(heads.len(), 3);
    let h = String::from_utf8_lossy(&heads[1].1).to_string();
    assert!(h.contains("Message-ID: <msg2@example.org>"), "{h}");
    assert!(h.contains("Date: "));
    assert!(!h.contains("Subject"));
    assert_eq!(
        c.uid_search("HEADER Message-ID <msg7@example.org>")
            .await
            .unwrap(),
        vec![7]
    );
    assert_eq!(c.uid_search("UID 99:*").await.unwrap(), vec![99, 100]);
    c.uid_store("99:100", "+FLAGS.SILENT", &["\\Deleted".to_string()])
        .await
        .unwrap();
    c.uid_expunge("100").await.unwrap();
    assert_eq!(c.uid_search("UID 99:*").await.unwrap(), vec![99]);

    // A fetch given up half-way: other commands wait until it is drained.
    c.start_fetch_bodies(&[1, 2, 3, 42]).await.unwrap();
    assert!(c.next_body().await.unwrap().is_some());
    let err = c.noop().await.unwrap_err();
    assert!(matches!(err, Error::State(_)), "{err:?}");
    c.drain_fetch().await.unwrap();
    c.noop().await.unwrap();
    c.logout().await.unwrap();
}

#[tokio::test]
async fn pipelined_append_without_multiappend_and_without_literal_plus() {
    let dc = Dovecot::start(1);
    let mut c = dc.login(1).await;
    c.set_quirks(Quirks::new(true, false));
    append_and_verify(&mut c, "Piped", &batch(40, Some((3, 2_000_000)))).await;
    // More than one pipeline window.
    append_and_verify(&mut c, "Wide", &batch(300, None)).await;
    c.set_quirks(Quirks::new(true, true));
    append_and_verify(&mut c, "Synced", &batch(15, Some((2, 1_000_000)))).await;
    // MULTIAPPEND with synchronising literals.
    c.set_quirks(Quirks::new(false, true));
    append_and_verify(&mut c, "MultiSynced", &batch(15, None)).await;
    c.logout().await.unwrap();
}

/// Regression: a 64 KiB+ literal written straight to the socket once
/// overtook the smaller commands still queued in the write buffer.
#[tokio::test]
async fn medium_messages_after_small_ones_keep_their_order() {
    let dc = Dovecot::start(1);
    let mut c = dc.login(1).await;
    let mut msgs = batch(6, None);
    for (m, size) in msgs
        .iter_mut()
        .zip([10_000, 100_000, 5_000, 70_000, 1_000, 65_536])
    {
        m.body = message(size as u32, size);
    }
    for (i, quirks) in [Quirks::new(false, false), Quirks::new(true, false)]
        .into_iter()
        .enumerate()
    {
        c.set_quirks(quirks);
        append_and_verify(&mut c, &format!("Mixed{i}"), &msgs).await;
    }
    c.logout().await.unwrap();
}

#[tokio::test]
async fn per_message_refusals_are_isolated() {
    let dc = Dovecot::with(common::options(1, Some(1024 * 1024)));
    let mut c = dc.login(1).await;
    let mut msgs = batch(3, None);
    msgs[1].body = message(99, 2_000_000);
    for quirks in [Quirks::new(false, false), Quirks::new(true, false)] {
        c.set_quirks(quirks);
        let out = c.append_batch("INBOX", &msgs).await.unwrap();
        assert!(
            out.results[0].as_ref().unwrap().is_some(),
            "{quirks:?} {out:?}"
        );
        let e = out.results[1].as_ref().unwrap_err();
        assert_eq!(e.code.as_deref(), Some("OVERQUOTA"), "{e:?}");
        assert!(!e.bad);
        assert!(out.results[2].as_ref().unwrap().is_some());
    }
    // A malformed date is a BAD for that message only.
    let mut msgs = batch(2, None);
    msgs[0].internal_date = Some("31-Foo-2020 99:00:00 +0000".into());
    let out = c.append_batch("INBOX", &msgs).await.unwrap();
    assert!(out.results[0].as_ref().unwrap_err().bad, "{out:?}");
    assert!(out.results[1].is_ok());
    assert_eq!(c.status("INBOX").await.unwrap().exists, 5);
    c.logout().await.unwrap();
}

#[tokio::test]
async fn errors_name_the_failure() {
    let dc = Dovecot::start(1);
    let mut c = dc.login(1).await;
    let err = c.select("Does/Not/Exist").await.unwrap_err();
    assert!(matches!(err, Error::No { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert!(err.to_string().starts_with("cannot SELECT"), "{err}");
    // The connection still works after a NO.
    assert_eq!(c.select("INBOX").await.unwrap().exists, 0);
    // Nothing listens on the port any more once Dovecot is gone.
    let cfg = dc.config(Security::Plain, false);
    drop(dc);
    let err = c.noop().await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    let err = Client::connect(&cfg).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
}

/// A connection cut in the middle of a body fetch or an append is a
/// retryable error, never a hang or a truncated body handed out as whole.
#[tokio::test]
async fn connection_cuts_are_retryable_errors() {
    let dc = Dovecot::start(1);
    let mut c = dc.login(1).await;
    let msgs = batch(3, Some((2, 5_000_000)));
    c.create("Cut").await.unwrap();
    let out = c.append_batch("Cut", &msgs).await.unwrap();
    assert_eq!(out.results.len(), 3);
    c.logout().await.unwrap();

    let proxy = passeur_testkit::CutProxy::start(&dc.server.imap_addr()).unwrap();
    let mut cfg = dc.config(Security::Plain, false);
    cfg.port = proxy.port();
    let mut c = Client::connect(&cfg).await.unwrap();
    c.authenticate(None, "user1", "pass1").await.unwrap();
    c.examine("Cut").await.unwrap();
    proxy.cut_after_bytes(1_000_000);
    c.start_fetch_bodies(&[1, 2, 3]).await.unwrap();
    let mut whole = 0;
    let err = loop {
        match c.next_body().await {
            Ok(Some(b)) => {
                assert_eq!(b.body, msgs[b.uid as usize - 1].body);
                whole += 1;
            }
            Ok(None) => panic!("the fetch completed despite the cut"),
            Err(e) => break e,
        }
    };
    assert!(whole < 3);
    assert!(err.is_retryable(), "{err:?}");

    let mut c = Client::connect(&cfg).await.unwrap();
    c.authenticate(None, "user1", "pass1").await.unwrap();
    proxy.cut_after_bytes(500_000);
    let err = c.append_batch("Cut", &msgs).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    // MULTIAPPEND is atomic: nothing of the cut batch was stored.
    let mut c = dc.login(1).await;
    assert_eq!(c.status("Cut").await.unwrap().exists, 3);
}

/// The LOGIN command path (forced by a quirk: Dovecot only allows LOGIN
/// when it also offers AUTH=PLAIN), and a server offering neither.
#[tokio::test]
async fn login_command_and_no_usable_mechanism() {
    let dc = Dovecot::start(1);
    let mut c = Client::connect(&dc.config(Security::Plain, false))
        .await
        .unwrap();
    c.set_quirks(Quirks::default().with_no_auth_plain(true));
    c.authenticate(None, "user1", "pass1").await.unwrap();
    assert!(c.capabilities().uidplus());
    c.logout().await.unwrap();
    // Quoting holds: a wrong password with quotes, backslashes and 8-bit
    // bytes (sent as a literal) is a plain NO, not a BAD.
    for pw in ["bad\"pass\\", "pässwörd"] {
        let mut c = Client::connect(&dc.config(Security::Plain, false))
            .await
            .unwrap();
        c.set_quirks(Quirks::default().with_no_auth_plain(true));
        let err = c.authenticate(None, "user1", pw).await.unwrap_err();
        assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    }
    drop(dc);

    let mut opts = common::options(1, None);
    opts.extra_config = vec!["auth_mechanisms = login".into()];
    let dc = Dovecot::with(opts);
    let mut c = Client::connect(&dc.config(Security::Plain, false))
        .await
        .unwrap();
    assert!(!c.capabilities().auth_plain(), "{:?}", c.capabilities());
    let err = c.authenticate(None, "user1", "pass1").await.unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    let err = c
        .authenticate(Some("user1"), "admin", "masterpass")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
}

/// Streams message `uid` of `src`'s selected mailbox into `mailbox` on `dst`.
async fn stream_one(
    src: &mut Client,
    dst: &mut Client,
    uid: u32,
    mailbox: &str,
    meta: &AppendMessage,
) -> passeur_imap::AppendOutcome {
    let size = src.open_body(uid).await.unwrap().expect("message exists");
    dst.append_from(mailbox, meta, size, src).await.unwrap()
}

#[tokio::test]
async fn a_large_message_streams_from_one_server_to_another_byte_for_byte() {
    let dc = Dovecot::start(2);
    let mut src = dc.login(1).await;
    let mut dst = dc.login(2).await;
    let msgs = batch(3, Some((2, 5_000_000)));
    src.select("INBOX").await.unwrap();
    let uids: Vec<u32> = src
        .append_batch("INBOX", &msgs)
        .await
        .unwrap()
        .results
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    src.examine("INBOX").await.unwrap();
    for (literal_plus, mailbox) in [(true, "Plus"), (false, "Synced")] {
        dst.set_quirks(Quirks::new(false, !literal_plus));
        dst.create(mailbox).await.unwrap();
        let st = dst.select(mailbox).await.unwrap();
        for (uid, m) in uids.iter().zip(&msgs) {
            let meta = AppendMessage {
                body: Bytes::new(),
                ..m.clone()
            };
            let out = stream_one(&mut src, &mut dst, *uid, mailbox, &meta).await;
            assert_eq!(out.uidvalidity, Some(st.uidvalidity));
            assert!(matches!(out.results[..], [Ok(Some(_))]), "{out:?}");
        }
        // Same bytes, flags and dates as the originals.
        let got = dst.uid_fetch_meta("1:*", None).await.unwrap();
        assert_eq!(got.len(), msgs.len());
        for (g, m) in got.iter().zip(&msgs) {
            assert_eq!(sorted_flags(&g.flags), sorted_flags(&m.flags));
            assert_eq!(
                epoch(g.internal_date.as_deref().unwrap()),
                epoch(m.internal_date.as_deref().unwrap())
            );
        }
        let all: Vec<u32> = got.iter().map(|g| g.uid).collect();
        dst.start_fetch_bodies(&all).await.unwrap();
        let mut bodies = Vec::new();
        while let Some(b) = dst.next_body().await.unwrap() {
            bodies.push(sha(&b.body));
        }
        let want: Vec<String> = msgs.iter().map(|m| sha(&m.body)).collect();
        assert_eq!(bodies, want, "{mailbox}");
    }
    // A message that is not there: nothing to stream, and both connections go on.
    assert_eq!(src.open_body(9999).await.unwrap(), None);
    src.noop().await.unwrap();
    dst.noop().await.unwrap();
}

#[tokio::test]
async fn a_refused_streamed_append_leaves_both_connections_usable() {
    let dc = Dovecot::start(2);
    let mut src = dc.login(1).await;
    let mut dst = dc.login(2).await;
    let msgs = batch(1, Some((1, 2_000_000)));
    src.append_batch("INBOX", &msgs).await.unwrap();
    src.examine("INBOX").await.unwrap();
    for literal_plus in [true, false] {
        dst.set_quirks(Quirks::new(false, !literal_plus));
        let meta = AppendMessage {
            body: Bytes::new(),
            ..msgs[0].clone()
        };
        let out = stream_one(&mut src, &mut dst, 1, "NoSuchFolder", &meta).await;
        match &out.results[..] {
            [Err(e)] => assert_eq!(e.code.as_deref(), Some("TRYCREATE"), "{e:?}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        src.noop().await.unwrap();
        dst.noop().await.unwrap();
    }
    // The source can still stream the message elsewhere.
    let meta = AppendMessage {
        body: Bytes::new(),
        ..msgs[0].clone()
    };
    let out = stream_one(&mut src, &mut dst, 1, "INBOX", &meta).await;
    assert!(matches!(out.results[..], [Ok(Some(1))]), "{out:?}");
}
