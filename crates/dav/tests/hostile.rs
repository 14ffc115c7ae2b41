//! The DAV client against hostile servers on loopback: tiny HTTP peers written here that
//! redirect, point hrefs at another host (127.0.0.2), send enormous or absurdly deep answers.
//! Each test asserts what the hostile peer received (never the credentials) or that the
//! client stopped reading.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use passeur_dav::{DavClient, DavConfig, DavError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

const USER: &str = "victim";
const PASS: &str = "s3cr3t-hunter2";

/// What the peer answers.
enum Reply {
    /// A whole HTTP response (head and body).
    Raw(String),
    /// A `200`/`207` head without length, then `chunk` repeated until the client hangs up.
    Endless { status: u16, chunk: Vec<u8> },
}

type Handler = Arc<dyn Fn(&str, &str) -> Reply + Send + Sync>;

/// A hostile HTTP/1.1 peer: one request per connection, every request head kept.
struct Peer {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
    /// Body bytes written by `Reply::Endless` before the client hung up.
    written: Arc<AtomicU64>,
}

impl Peer {
    async fn start(
        ip: &str,
        handler: impl Fn(&str, &str) -> Reply + Send + Sync + 'static,
    ) -> Peer {
        let l = TcpListener::bind((ip, 0)).await.expect("bind");
        let addr = l.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let written = Arc::new(AtomicU64::new(0));
        let handler: Handler = Arc::new(handler);
        let (h2, w2) = (heads.clone(), written.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                let (heads, written, handler) = (h2.clone(), w2.clone(), handler.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut b = [0u8; 4096];
                    let head = loop {
                        let Ok(n) = s.read(&mut b).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&b[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break String::from_utf8_lossy(&buf[..i]).into_owned();
                        }
                    };
                    heads.lock().unwrap().push(head.clone());
                    let mut first = head.lines().next().unwrap_or("").split(' ');
                    let (m, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
                    match handler(m, path) {
                        Reply::Raw(r) => {
                            let _ = s.write_all(r.as_bytes()).await;
                        }
                        Reply::Endless { status, chunk } => {
                            let h = format!(
                                "HTTP/1.1 {status} OK\r\nContent-Type: application/xml\r\nConnection: close\r\n\r\n"
                            );
                            if s.write_all(h.as_bytes()).await.is_err() {
                                return;
                            }
                            // At most 4 GiB: the client must hang up long before.
                            for _ in 0..(4u64 << 30) / chunk.len() as u64 {
                                if s.write_all(&chunk).await.is_err() {
                                    return;
                                }
                                written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                            }
                        }
                    }
                    let _ = s.shutdown().await;
                });
            }
        });
        Peer {
            addr,
            heads,
            written,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    fn auth_seen(&self) -> bool {
        self.heads()
            .iter()
            .any(|h| h.to_ascii_lowercase().contains("\nauthorization:"))
    }
}

fn response(status: &str, extra: &str, body: &str) -> Reply {
    Reply::Raw(format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Type: application/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
}

fn multistatus(inner: &str) -> Reply {
    response(
        "207 Multi-Status",
        "",
        &format!(
            r#"<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">{inner}</D:multistatus>"#
        ),
    )
}

fn principal_answer(href: &str) -> Reply {
    multistatus(&format!(
        r#"<D:response><D:href>/</D:href><D:propstat><D:prop><D:current-user-principal><D:href>{href}</D:href></D:current-user-principal></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"#
    ))
}

fn client(base: &str) -> DavClient {
    DavClient::new(DavConfig::new(Url::parse(base).unwrap(), USER, PASS)).expect("client")
}

/// The other host: 127.0.0.2 (any 127/8 address is loopback on Linux).
async fn elsewhere() -> Peer {
    Peer::start("127.0.0.2", |_, _| principal_answer("/p/")).await
}

fn assert_cross_origin(e: &DavError, from: &Peer, to: &Peer) {
    let msg = e.to_string();
    assert!(
        matches!(e, DavError::Net(passeur_net::NetError::CrossOrigin { .. })),
        "{e:?}"
    );
    assert!(msg.contains(&from.addr.to_string()), "{msg}");
    assert!(msg.contains(&to.addr.to_string()), "{msg}");
    assert!(!msg.contains(PASS), "{msg}");
}

async fn redirect_gets_no_credentials(status: &str) {
    let other = elsewhere().await;
    let target = other.url("/dav/");
    let status = status.to_owned();
    let origin = Peer::start("127.0.0.1", move |_, _| {
        response(&status, &format!("Location: {target}\r\n"), "")
    })
    .await;
    let e = client(&origin.url("/")).discover().await.unwrap_err();
    assert_cross_origin(&e, &origin, &other);
    assert!(origin.auth_seen(), "the origin itself gets the credentials");
    assert!(!other.auth_seen(), "{:?}", other.heads());
    assert!(other.heads().is_empty(), "{:?}", other.heads());
}

#[tokio::test]
async fn redirect_301_to_another_host_gets_no_credentials() {
    redirect_gets_no_credentials("301 Moved Permanently").await;
}

#[tokio::test]
async fn redirect_302_to_another_host_gets_no_credentials() {
    redirect_gets_no_credentials("302 Found").await;
}

#[tokio::test]
async fn principal_href_to_another_host_gets_no_credentials() {
    let other = elsewhere().await;
    let href = other.url("/principal/");
    let origin = Peer::start("127.0.0.1", move |_, _| principal_answer(&href)).await;
    let e = client(&origin.url("/")).discover().await.unwrap_err();
    assert_cross_origin(&e, &origin, &other);
    assert!(origin.auth_seen());
    assert!(other.heads().is_empty(), "{:?}", other.heads());
}

#[tokio::test]
async fn home_set_href_to_another_host_gets_no_credentials() {
    let other = elsewhere().await;
    let home = other.url("/calendars/victim/");
    let origin = Peer::start("127.0.0.1", move |_, path| {
        if path == "/p/" {
            multistatus(&format!(
                r#"<D:response><D:href>/p/</D:href><D:propstat><D:prop><C:calendar-home-set><D:href>{home}</D:href></C:calendar-home-set></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"#
            ))
        } else {
            principal_answer("/p/")
        }
    })
    .await;
    let c = client(&origin.url("/"));
    let e = c.discover().await.unwrap_err();
    assert_cross_origin(&e, &origin, &other);
    // An item href on the other host is refused the same way.
    let e = c.get(&other.url("/x.ics")).await.unwrap_err();
    assert_cross_origin(&e, &origin, &other);
    assert!(origin.auth_seen());
    assert!(other.heads().is_empty(), "{:?}", other.heads());
}

#[tokio::test]
async fn a_trusted_origin_gets_the_credentials() {
    let other = elsewhere().await;
    let href = other.url("/p/");
    let origin = Peer::start("127.0.0.1", move |_, _| principal_answer(&href)).await;
    let mut cfg = DavConfig::new(Url::parse(&origin.url("/")).unwrap(), USER, PASS);
    cfg.trusted_origins = vec![Url::parse(&other.url("/")).unwrap()];
    // The other host answers the principal with no home set: discovery fails there, after
    // it received the credentials the user entrusted to it.
    let e = DavClient::new(cfg).unwrap().discover().await.unwrap_err();
    assert!(matches!(e, DavError::Discovery { .. }), "{e:?}");
    assert!(other.auth_seen());
}

#[tokio::test]
async fn https_base_never_goes_down_to_http() {
    let other = elsewhere().await;
    // Nothing listens on this TLS port: the refusal comes before any connection.
    let c = client("https://127.0.0.1:9/dav/");
    let e = c.get(&other.url("/x.ics")).await.unwrap_err();
    assert!(
        matches!(e, DavError::Net(passeur_net::NetError::Downgrade { .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains("clear text"), "{e}");
    assert!(other.heads().is_empty());
}

#[tokio::test]
async fn deep_xml_answer_is_an_error_not_a_crash() {
    // 150,000 nested elements, about 1.5 MB.
    let n = 150_000;
    let body = format!(
        r#"<D:multistatus xmlns:D="DAV:">{}{}</D:multistatus>"#,
        "<D:x>".repeat(n),
        "</D:x>".repeat(n)
    );
    let origin = Peer::start("127.0.0.1", move |_, _| {
        response("207 Multi-Status", "", &body)
    })
    .await;
    let e = client(&origin.url("/")).discover().await.unwrap_err();
    assert!(matches!(e, DavError::Xml { .. }), "{e:?}");
    assert!(e.to_string().contains("deeper"), "{e}");
    // Discovery stopped at the first hard error: one request, not one per candidate URL.
    assert_eq!(origin.heads().len(), 1, "{:?}", origin.heads());
}

#[tokio::test]
async fn endless_answer_stops_at_the_cap() {
    let chunk =
        b"<D:x>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</D:x>"
            .repeat(800);
    let origin = Peer::start("127.0.0.1", move |_, _| Reply::Endless {
        status: 207,
        chunk: chunk.clone(),
    })
    .await;
    let mut cfg = DavConfig::new(Url::parse(&origin.url("/")).unwrap(), USER, PASS);
    cfg.max_response_bytes = 1 << 20;
    let e = DavClient::new(cfg).unwrap().discover().await.unwrap_err();
    assert!(
        matches!(e, DavError::TooLarge { limit, .. } if limit == 1 << 20),
        "{e:?}"
    );
    // The client hung up: the peer could not push more than the cap plus what the socket
    // buffers hold, far below its 4 GiB.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let w = origin.written.load(Ordering::Relaxed);
    assert!(w < 32 << 20, "the peer wrote {w} bytes");
    assert_eq!(
        origin.heads().len(),
        1,
        "discovery stopped at the first oversize answer"
    );
}

#[tokio::test]
async fn announced_oversize_item_is_refused() {
    let origin = Peer::start("127.0.0.1", |_, _| {
        Reply::Raw(
            "HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nContent-Length: 5000000000\r\nConnection: close\r\n\r\nBEGIN:VCALENDAR\r\n"
                .into(),
        )
    })
    .await;
    let e = client(&origin.url("/")).get("/c/x.ics").await.unwrap_err();
    assert!(matches!(e, DavError::TooLarge { .. }), "{e:?}");
}

#[tokio::test]
async fn password_in_the_url_is_refused_and_not_echoed() {
    let origin = Peer::start("127.0.0.1", |_, _| principal_answer("/p/")).await;
    let url = format!("http://{USER}:{PASS}@{}/", origin.addr);
    let e = DavClient::new(DavConfig::new(Url::parse(&url).unwrap(), USER, PASS)).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("password"), "{msg}");
    assert!(!msg.contains(PASS), "{msg}");
    assert!(!format!("{e:?}").contains(PASS));
    assert!(origin.heads().is_empty());
}

#[tokio::test]
async fn basic_over_clear_text_off_loopback_needs_opt_in() {
    // A name that is not loopback: refused before any DNS look-up or connection.
    let cfg = DavConfig::new(
        Url::parse("http://dav.example.invalid/").unwrap(),
        USER,
        PASS,
    );
    let e = DavClient::new(cfg.clone()).unwrap_err();
    assert!(
        matches!(e, DavError::Net(passeur_net::NetError::Plaintext { .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains("dav.example.invalid"), "{e}");
    // With the opt-in the client is built (the name then fails to resolve, as it should, and
    // is said to be unknown: no retry can help).
    let mut ok = cfg;
    ok.allow_plaintext = true;
    let e = DavClient::new(ok).unwrap().discover().await.unwrap_err();
    assert!(
        matches!(e, DavError::Net(passeur_net::NetError::UnknownHost { .. })),
        "{e:?}"
    );
    // Loopback over http needs no opt-in.
    let origin = Peer::start("127.0.0.1", |_, _| principal_answer("/p/")).await;
    let _ = client(&origin.url("/")).discover().await;
    assert!(origin.auth_seen());
}

#[tokio::test]
async fn address_policy_refuses_loopback_for_the_service() {
    let origin = Peer::start("127.0.0.1", |_, _| principal_answer("/p/")).await;
    for base in [
        origin.url("/"),
        format!("http://localhost:{}/", origin.addr.port()),
    ] {
        let mut cfg = DavConfig::new(Url::parse(&base).unwrap(), USER, PASS);
        cfg.address_policy = passeur_net::AddressPolicy::public_only();
        let e = match DavClient::new(cfg) {
            Err(e) => e,
            Ok(c) => c.discover().await.unwrap_err(),
        };
        assert!(
            matches!(
                e,
                DavError::Net(passeur_net::NetError::AddressRefused { .. })
            ),
            "{base}: {e:?}"
        );
    }
    assert!(origin.heads().is_empty(), "{:?}", origin.heads());
}

#[tokio::test]
async fn a_bearer_token_goes_to_the_origin_only() {
    let other = elsewhere().await;
    let href = other.url("/principal/");
    let origin = Peer::start("127.0.0.1", move |_, _| principal_answer(&href)).await;
    let mut cfg = DavConfig::new(
        Url::parse(&origin.url("/")).unwrap(),
        USER,
        "ya29.bearer-token",
    );
    cfg.bearer = true;
    let e = DavClient::new(cfg).unwrap().discover().await.unwrap_err();
    assert_cross_origin(&e, &origin, &other);
    assert!(!e.to_string().contains("ya29"), "{e}");
    let heads = origin.heads();
    assert!(
        heads
            .iter()
            .all(|h| h.contains("\r\nauthorization: Bearer ya29.bearer-token")),
        "{heads:?}"
    );
    assert!(!heads.iter().any(|h| h.contains("Basic ")), "{heads:?}");
    assert!(other.heads().is_empty(), "{:?}", other.heads());
}
