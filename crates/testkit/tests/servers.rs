//! The harness itself, against the real servers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use passeur_testkit::{CutProxy, Dovecot, DovecotOptions, Radicale, RadicaleOptions, Xandikos};

/// A throw-away line client: sends `cmds` (tag `aN` each) and returns the whole transcript
/// up to the tagged reply of the last one.
fn imap_session(port: u16, cmds: &[&str]) -> String {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut out = String::new();
    r.read_line(&mut out).unwrap();
    for (i, c) in cmds.iter().enumerate() {
        let tag = format!("a{i}");
        write!(w, "{tag} {c}\r\n").unwrap();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap() == 0 {
                return out;
            }
            out.push_str(&line);
            if line.starts_with(&format!("{tag} ")) {
                break;
            }
        }
    }
    out
}

#[test]
fn dovecot_login_list_and_master_user() {
    let mut dc = Dovecot::start(DovecotOptions::default()).unwrap();
    let t = imap_session(
        dc.imap_port,
        &["LOGIN user1 pass1", "LIST \"\" \"*\"", "LOGOUT"],
    );
    assert!(t.contains("a0 OK"), "{t}");
    assert!(t.contains("\"/\" Sent"), "{t}");
    let t = imap_session(
        dc.imap_port,
        &["LOGIN user1 pass1", "CREATE Archive", "LIST \"\" Archive"],
    );
    assert!(
        t.contains("(\\HasNoChildren \\Archive) \"/\" Archive"),
        "{t}"
    );
    let t = imap_session(dc.imap_port, &["LOGIN user1 wrong"]);
    assert!(t.contains("a0 NO"), "{t}");
    let t = imap_session(
        dc.imap_port,
        &["LOGIN user2*admin masterpass", "CAPABILITY"],
    );
    assert!(t.contains("a0 OK"), "{t}");
    assert!(t.contains("COMPRESS=DEFLATE"), "{t}");
    let t = imap_session(dc.imap_port, &["CAPABILITY"]);
    assert!(t.contains("STARTTLS"), "{t}");
    assert_eq!(dc.user(3), ("user3".to_string(), "pass3".to_string()));
    assert!(dc.cert_pem().exists());
    let out = dc.doveadm(&["mailbox", "list", "-u", "user1"]).unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Trash"));
    let pid = dc.pid().unwrap();
    dc.stop();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(TcpStream::connect(("127.0.0.1", dc.imap_port)).is_err());
}

#[test]
fn dovecot_inbox_prefix_tls_pop3_quota() {
    let dc = Dovecot::start(DovecotOptions {
        inbox_prefix: true,
        tls: true,
        pop3: true,
        compress: false,
        quota_bytes: Some(2000),
        users: 2,
        ..DovecotOptions::default()
    })
    .unwrap();
    let t = imap_session(
        dc.imap_port,
        &["LOGIN user1 pass1", "LIST \"\" \"*\"", "CAPABILITY"],
    );
    assert!(t.contains("\".\" INBOX.Sent"), "{t}");
    assert!(!t.contains("COMPRESS"), "{t}");
    assert!(t.contains("QUOTA"), "{t}");
    // Over quota: a 3000-byte APPEND must fail with [OVERQUOTA].
    let body = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(3000));
    let t = imap_session(
        dc.imap_port,
        &[
            "LOGIN user1 pass1",
            &format!("APPEND INBOX {{{}+}}\r\n{body}", body.len()),
        ],
    );
    assert!(t.contains("[OVERQUOTA]"), "{t}");

    let pop3 = dc.pop3_port.unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", pop3)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"USER user2\r\nPASS pass2\r\nSTAT\r\nQUIT\r\n")
        .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    assert!(all.contains("+OK 0 0"), "{all}");

    // IMAPS: the TLS handshake completes with the self-signed cert.
    let mut child = std::process::Command::new("openssl")
        .args(["s_client", "-connect"])
        .arg(format!("127.0.0.1:{}", dc.imaps_port.unwrap()))
        .arg("-CAfile")
        .arg(dc.cert_pem())
        .args([
            "-verify_return_error",
            "-quiet",
            "-crlf",
            "-verify_ip",
            "127.0.0.1",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a LOGOUT\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("* OK"),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn several_dovecots_side_by_side() {
    let a = Dovecot::start(DovecotOptions::default()).unwrap();
    let b = Dovecot::start(DovecotOptions {
        separator: '.',
        fsync_never: true,
        ..DovecotOptions::default()
    })
    .unwrap();
    assert_ne!(a.imap_port, b.imap_port);
    let t = imap_session(b.imap_port, &["LOGIN user4 pass4", "LIST \"\" \"*\""]);
    assert!(t.contains("\".\" Sent"), "{t}");
    let t = imap_session(
        a.imap_port,
        &["LOGIN user4 pass4", "CREATE Foo/Bar", "LIST \"\" \"*\""],
    );
    assert!(t.contains("\"/\" Foo/Bar"), "{t}");
    assert!(a.maildir("user4").join(".Foo.Bar").is_dir());
}

#[test]
fn cut_proxy_forwards_counts_and_cuts() {
    let dc = Dovecot::start(DovecotOptions::default()).unwrap();
    let proxy = CutProxy::start(&dc.imap_addr()).unwrap();
    let t = imap_session(proxy.port(), &["LOGIN user1 pass1", "NOOP", "LOGOUT"]);
    assert!(t.contains("a1 OK"), "{t}");
    assert!(proxy.bytes_forwarded() > 100);
    assert_eq!(proxy.connections(), 1);

    // Armed cut: the server's reply is truncated after exactly 50 more bytes.
    let s = TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut greeting = String::new();
    r.read_line(&mut greeting).unwrap();
    let down_before = proxy.bytes_down();
    proxy.cut_after_bytes(50 + 12);
    let mut w = s;
    w.write_all(b"a CAPABILITY\r\n").unwrap(); // 14 bytes up
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    assert_eq!(rest.len(), 48, "{}", String::from_utf8_lossy(&rest));
    assert_eq!(proxy.bytes_down() - down_before, 48);
    assert_eq!(proxy.cuts(), 1);

    // Manual cut of an idle session; a new connection still works.
    let s = TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    proxy.cut_now();
    line.clear();
    assert_eq!(r.read_line(&mut line).unwrap_or(0), 0);
    let t = imap_session(proxy.port(), &["LOGIN user1 pass1"]);
    assert!(t.contains("a0 OK"), "{t}");
}

#[test]
fn cut_proxy_drops_a_reply_after_the_server_acted() {
    let dc = Dovecot::start(DovecotOptions::default()).unwrap();
    let proxy = CutProxy::start(&dc.imap_addr()).unwrap();
    proxy.cut_on_reply(b"APPENDUID", 1);
    let msg = "Subject: x\r\n\r\nbody\r\n";
    let t = imap_session(
        proxy.port(),
        &[
            "LOGIN user1 pass1",
            &format!("APPEND INBOX {{{}+}}\r\n{msg}", msg.len()),
        ],
    );
    assert!(t.contains("a0 OK"), "{t}");
    assert!(!t.contains("a1 "), "the reply went through: {t}");
    assert_eq!(proxy.cuts(), 1);
    // The message is there all the same; the cut was one-shot.
    let t = imap_session(
        proxy.port(),
        &["LOGIN user1 pass1", "STATUS INBOX (MESSAGES)"],
    );
    assert!(t.contains("MESSAGES 1"), "{t}");
    assert_eq!(proxy.cuts(), 1);
}

fn http(port: u16, req: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn radicale_serves_precreated_collections_with_auth() {
    let rad = Radicale::start(RadicaleOptions::default()).unwrap();
    // base64("user1:pass1") = dXNlcjE6cGFzczE=
    let ok = http(
        rad.port,
        "PROPFIND /user1/ HTTP/1.1\r\nHost: x\r\nDepth: 1\r\nAuthorization: Basic dXNlcjE6cGFzczE=\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(
        ok.starts_with("HTTP/1.0 207") || ok.starts_with("HTTP/1.1 207"),
        "{ok}\n{}",
        rad.log()
    );
    assert!(
        ok.contains("/user1/calendar/") && ok.contains("/user1/contacts/"),
        "{ok}"
    );
    // base64("user1:nope") = dXNlcjE6bm9wZQ==
    let bad = http(
        rad.port,
        "PROPFIND /user1/ HTTP/1.1\r\nHost: x\r\nDepth: 1\r\nAuthorization: Basic dXNlcjE6bm9wZQ==\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(bad.contains(" 401 "), "{bad}");
    assert_eq!(
        rad.calendar_url(2),
        format!("{}/user2/calendar/", rad.url())
    );
}

#[test]
fn xandikos_serves_default_collections() {
    let x = Xandikos::start("user1").unwrap();
    let path = x.calendar_url().replace(&x.url(), "");
    let resp = http(
        x.port,
        &format!(
            "PROPFIND {path} HTTP/1.1\r\nHost: x\r\nDepth: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(resp.contains(" 207 "), "{resp}\n{}", x.log());
    assert!(resp.contains("calendar"), "{resp}");
    let path = x.contacts_url().replace(&x.url(), "");
    let resp = http(
        x.port,
        &format!(
            "PROPFIND {path} HTTP/1.1\r\nHost: x\r\nDepth: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(resp.contains(" 207 "), "{resp}");
}

#[test]
fn login_helper_gives_a_working_client() {
    let dc = Dovecot::start(DovecotOptions::default()).unwrap();
    let mut c = dc.login(2).unwrap();
    assert_eq!(c.select("INBOX", true).unwrap(), 0);
    c.append(
        "INBOX",
        &["\\Flagged"],
        None,
        b"Subject: hi\r\n\r\nbody\r\n",
    )
    .unwrap();
    let items = c.fetch("FETCH 1 (FLAGS RFC822.SIZE)").unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].size, Some(21));
    assert!(
        items[0]
            .flags
            .as_ref()
            .unwrap()
            .iter()
            .any(|f| f == "\\Flagged")
    );
}
