//! `passeur detect` and `migrate --from auto://ADDRESS`: presets, RFC 6186 SRV records from a
//! private dnsmasq, MX records pointing to a known hoster, and autoconfig files (the ISPDB
//! form) from a local HTTP server.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use passeur_testkit::{Dnsmasq, Srv};
use passeur_testkit::{Dovecot, DovecotOptions};
use support::*;

fn srv(name: &str, target: &str, port: u16) -> Srv {
    Srv {
        name: name.into(),
        target: target.into(),
        port,
        priority: 10,
        weight: 10,
    }
}

/// `passeur ARGS` with the private DNS server.
fn run(dns: Option<&Dnsmasq>, state: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_passeur"));
    c.arg("--state").arg(state).args(args);
    c.env_remove("PASSEUR_STATE")
        .env("PASSEUR_FROM_PASSWORD", "pass1")
        .env("PASSEUR_TO_PASSWORD", "pass1");
    match dns {
        Some(d) => c.env("PASSEUR_DNS", d.addr()),
        None => c.env_remove("PASSEUR_DNS"),
    };
    c.output().expect("run passeur")
}

/// A local HTTP server (Python's) serving the files of `dir`.
struct Http {
    child: Child,
    port: u16,
}

impl Http {
    fn start(dir: &Path) -> Http {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let t = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(t.elapsed() < Duration::from_secs(10), "no HTTP server");
            std::thread::sleep(Duration::from_millis(50));
        }
        Http { child, port }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn autoconfig(servers: &[(&str, &str, u16, &str, &str)]) -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\"?>\n<clientConfig version=\"1.1\"><emailProvider id=\"t\">\
         <displayName>Test ISP</displayName>",
    );
    for (kind, host, port, socket, user) in servers {
        let tag = if *kind == "smtp" {
            "outgoingServer"
        } else {
            "incomingServer"
        };
        x.push_str(&format!(
            "<{tag} type=\"{kind}\"><hostname>{host}</hostname><port>{port}</port>\
             <socketType>{socket}</socketType><username>{user}</username></{tag}>"
        ));
    }
    x.push_str("</emailProvider></clientConfig>\n");
    x
}

/// RFC 6186: `_imap._tcp` is taken as STARTTLS, never as clear text, and `_imaps._tcp` is
/// chosen over it when a domain has both (the plain record with the better priority).
#[test]
fn an_imap_srv_record_never_leads_to_clear_text() {
    let dns = Dnsmasq::start(
        &[
            srv("_imap._tcp.plainonly.test", "mail.plainonly.test", 143),
            srv("_imaps._tcp.both.test", "secure.both.test", 993),
            Srv {
                priority: 0,
                ..srv("_imap._tcp.both.test", "plain.both.test", 143)
            },
        ],
        &[],
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = run(
        Some(&dns),
        state.path(),
        &["detect", "alice@plainonly.test", "--no-ispdb", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        j["chosen"], "imap+starttls://alice%40plainonly.test@mail.plainonly.test:143",
        "{j}"
    );
    let out = run(
        Some(&dns),
        state.path(),
        &["detect", "bob@both.test", "--no-ispdb", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        j["chosen"], "imaps://bob%40both.test@secure.both.test:993",
        "{j}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("imap://"),
        "{j}"
    );
}

#[test]
fn presets_srv_records_and_mx_hosters_are_found_in_that_order() {
    let dns = Dnsmasq::start_with(
        &[
            srv("_imaps._tcp.srv.test", "imap.srv.test", 993),
            srv("_pop3s._tcp.srv.test", "pop.srv.test", 995),
            // A preset wins over DNS.
            srv("_imaps._tcp.laposte.net", "evil.test", 993),
        ],
        &[],
        &[("hosted.test".into(), "aspmx.l.google.com".into(), 10)],
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();

    let out = run(
        Some(&dns),
        state.path(),
        &["detect", "alice@srv.test", "--no-ispdb"],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("DNS SRV records (RFC 6186)"), "{t}");
    assert!(t.contains("a hint"), "{t}");
    assert!(
        t.contains("incoming    pop3s://alice%40srv.test@pop.srv.test:995"),
        "{t}"
    );
    assert!(
        t.contains("use         imaps://alice%40srv.test@imap.srv.test:993"),
        "{t}"
    );

    let out = run(
        Some(&dns),
        state.path(),
        &["detect", "bob@laposte.net", "--no-ispdb"],
    );
    let t = text(&out);
    assert!(t.contains("provider    La Poste"), "{t}");
    assert!(
        t.contains("use         imaps://bob%40laposte.net@imap.laposte.net:993"),
        "{t}"
    );
    assert!(!t.contains("evil"), "{t}");

    let out = run(
        Some(&dns),
        state.path(),
        &["detect", "carol@hosted.test", "--no-ispdb", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["found"]["kind"], "mx", "{j}");
    assert_eq!(j["found"]["id"], "gmail", "{j}");
    assert_eq!(
        j["chosen"],
        "imaps://carol%40hosted.test@imap.gmail.com:993"
    );

    let out = run(
        Some(&dns),
        state.path(),
        &["detect", "dave@nothing.test", "--no-ispdb"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("cannot find the mail servers of nothing.test"),
        "{}",
        text(&out)
    );
}

#[test]
fn autoconfig_files_are_read_and_plain_text_is_never_chosen_silently() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("isp.test"),
        autoconfig(&[
            ("imap", "mail.isp.test", 143, "plain", "%EMAILLOCALPART%"),
            ("pop3", "pop.isp.test", 995, "SSL", "%EMAILLOCALPART%"),
            ("smtp", "smtp.isp.test", 465, "SSL", "%EMAILADDRESS%"),
        ]),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("old.test"),
        autoconfig(&[("imap", "mail.old.test", 143, "plain", "%EMAILADDRESS%")]),
    )
    .unwrap();
    let http = Http::start(dir.path());
    let dns = Dnsmasq::start(&[], &[]).unwrap();
    let state = tempfile::tempdir().unwrap();

    let out = run(
        Some(&dns),
        state.path(),
        &["detect", "erin@isp.test", "--ispdb", &http.base()],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("provider    Test ISP"), "{t}");
    assert!(
        t.contains(&format!("the autoconfig file {}isp.test", http.base())),
        "{t}"
    );
    assert!(t.contains("plain HTTP"), "{t}");
    // The encrypted POP3 server wins over the plain-text IMAP one.
    assert!(
        t.contains("use         pop3s://erin@pop.isp.test:995"),
        "{t}"
    );

    let out = run(
        Some(&dns),
        state.path(),
        &["detect", "frank@old.test", "--ispdb", &http.base()],
    );
    let t = text(&out);
    assert!(t.contains("nothing chosen"), "{t}");
    assert!(t.contains("only a plain-text server"), "{t}");
    let out = run(
        Some(&dns),
        state.path(),
        &[
            "migrate",
            "--from",
            "auto://frank@old.test",
            "--to",
            "imap://u@127.0.0.1:1",
            "--ispdb",
            &http.base(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("only a plain-text server"),
        "{}",
        text(&out)
    );
}

#[test]
fn migrate_from_an_auto_address_uses_what_detection_found() {
    let src = Dovecot::start(DovecotOptions {
        tls: true,
        ..DovecotOptions::default()
    })
    .unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rt = rt();
    let msgs: Vec<Msg> = (0..5)
        .map(|i| {
            msg(
                "INBOX",
                simple(i, Some(&format!("<a{i}@x>"))),
                &["\\Seen"],
                "01-Jan-2024 00:00:00 +0000",
            )
        })
        .collect();
    rt.block_on(async { fill(&mut login(&src, "user1").await, &msgs).await });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("auto.test"),
        autoconfig(&[(
            "imap",
            "localhost",
            src.imaps_port.unwrap(),
            "SSL",
            "%EMAILLOCALPART%",
        )]),
    )
    .unwrap();
    let http = Http::start(dir.path());
    let dns = Dnsmasq::start(&[], &[]).unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = run(
        Some(&dns),
        state.path(),
        &[
            "migrate",
            "--from",
            "auto://user1@auto.test",
            "--to",
            &url(&dst, "user1"),
            "--from-insecure-tls",
            "--ispdb",
            &http.base(),
            "--no-progress",
        ],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains(&format!(
            "auto: user1@auto.test -> imaps://user1@localhost:{}",
            src.imaps_port.unwrap()
        )),
        "{t}"
    );
    assert_eq!(copied(&out), 5, "{t}");
    let id = migration_id(&out);
    let st = run(None, state.path(), &["status", &id]);
    assert!(
        text(&st).contains(&format!(
            "imaps://user1@localhost:{}",
            src.imaps_port.unwrap()
        )),
        "the migration records the URL found: {}",
        text(&st)
    );
}

/// Last, the usual host names on the usual ports: `imap.DOMAIN` on 993 (TLS), else
/// `mail.DOMAIN` on 143 (STARTTLS); what answers is a hint. The listeners are on loopback
/// addresses of their own, on the real ports (root only; skipped otherwise).
#[test]
fn the_usual_host_names_are_probed_last_and_shown_as_a_hint() {
    let bind = |addr: &str| match std::net::TcpListener::bind(addr) {
        Ok(l) => Some(l),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => None,
        Err(e) => panic!("cannot listen on {addr}: {e}"),
    };
    let (Some(_imaps), Some(_imap)) = (bind("127.0.0.77:993"), bind("127.0.0.78:143")) else {
        eprintln!("SKIPPED: ports 993 and 143 need root");
        return;
    };
    let dns = Dnsmasq::start_with_hosts(
        &[],
        &[],
        &[],
        &[
            ("imap.probe.test".into(), "127.0.0.77".parse().unwrap()),
            ("mail.other.test".into(), "127.0.0.78".parse().unwrap()),
            // A name that resolves where nothing listens: not chosen.
            ("imap.silent.test".into(), "127.0.0.79".parse().unwrap()),
        ],
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = run(
        Some(&dns),
        state.path(),
        &["detect", "alice@probe.test", "--no-ispdb", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["found"]["kind"], "probe", "{j}");
    assert_eq!(j["found"]["host"], "imap.probe.test", "{j}");
    assert_eq!(j["trusted"], false, "{j}");
    assert_eq!(
        j["chosen"],
        "imaps://alice%40probe.test@imap.probe.test:993"
    );

    let out = run(
        Some(&dns),
        state.path(),
        &["detect", "bob@other.test", "--no-ispdb"],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("a server answering at mail.other.test"), "{t}");
    assert!(t.contains("a hint"), "{t}");
    assert!(
        t.contains("use         imap+starttls://bob%40other.test@mail.other.test:143"),
        "{t}"
    );

    let out = run(
        Some(&dns),
        state.path(),
        &["detect", "carol@silent.test", "--no-ispdb"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no server at imap.silent.test or mail.silent.test"),
        "{}",
        text(&out)
    );
}
