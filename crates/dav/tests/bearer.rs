//! OAuth 2.0 bearer tokens renewed by the DAV client, as during the DAV part of a pass.
//!
//! No DAV server here checks bearer tokens (Radicale and Xandikos take Basic credentials
//! only), so the server is a small HTTP server of this test: it serves one calendar object,
//! and checks every request's `Authorization: Bearer` token at the testkit's token server
//! (the same one Dovecot's `oauth2` passdb asks), over real HTTP on loopback. What it checks
//! is real; only the DAV side is this stand-in.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use passeur_dav::{DavClient, DavConfig, DavError};
use passeur_oauth::{Provider, Token, TokenSource};
use passeur_testkit::{OAUTH_CLIENT_ID, TokenServer};
use passeur_types::Secret;

const BODY: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";

/// Serves `GET` of any path with [`BODY`] to a bearer token the token server says is active;
/// 401 otherwise. Counts the 401s.
fn bearer_server(ts: Arc<TokenServer>) -> (String, Arc<AtomicU32>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let refused = Arc::new(AtomicU32::new(0));
    let r = refused.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let (ts, r) = (ts.clone(), r.clone());
            std::thread::spawn(move || {
                let mut rd = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                loop {
                    let mut line = String::new();
                    if rd.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut token = None;
                    loop {
                        let mut h = String::new();
                        if rd.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':')
                            && k.eq_ignore_ascii_case("authorization")
                        {
                            token = v.trim().strip_prefix("Bearer ").map(str::to_owned);
                        }
                    }
                    let ok = token.as_deref().is_some_and(|t| ts.is_active(t));
                    let answer = if ok {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nETag: \"1\"\r\nContent-Length: {}\r\n\r\n{BODY}",
                            BODY.len()
                        )
                    } else {
                        r.fetch_add(1, Ordering::Relaxed);
                        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 0\r\n\r\n"
                            .to_string()
                    };
                    if w.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}/cal/"), refused)
}

fn source(ts: &TokenServer, user: &str, expires_at: Option<u64>) -> Arc<TokenSource> {
    let t = ts.issue(user);
    let token = Token {
        access_token: Secret::new(t["access_token"].as_str().unwrap()),
        refresh_token: Some(Secret::new(t["refresh_token"].as_str().unwrap())),
        expires_at,
    };
    let p = Provider::new("test", &ts.token_url(), OAUTH_CLIENT_ID).unwrap();
    Arc::new(TokenSource::new(token, Some(p)))
}

fn client(base: &str, ts: &Arc<TokenSource>) -> DavClient {
    let mut cfg = DavConfig::new(base.parse().unwrap(), "user1", "");
    cfg.oauth = Some(ts.clone());
    DavClient::new(cfg).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_is_renewed_once_for_all_requests_then_the_request_goes_through() {
    let ts = Arc::new(TokenServer::start().unwrap());
    let (base, refused) = bearer_server(ts.clone());
    let src = source(&ts, "user1", Some(passeur_oauth::now() + 3600));
    let c = client(&base, &src);
    let got = c.get("a.ics").await.unwrap().unwrap();
    assert_eq!(got.0, BODY);
    assert_eq!(ts.refresh_grants(), 0);

    // The token stops being accepted mid-pass (its provider cut it short): eight requests at
    // once, on two clients of the same side, each refused once; one renewal serves them all.
    ts.expire_access_tokens();
    let c2 = client(&base, &src);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let c = if i % 2 == 0 { c.clone() } else { c2.clone() };
        tasks.push(tokio::spawn(
            async move { c.get(&format!("{i}.ics")).await },
        ));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().unwrap().0, BODY);
    }
    assert_eq!(ts.refresh_grants(), 1, "one renewal for the side");
    assert_eq!(src.renewals(), 1);
    assert!(refused.load(Ordering::Relaxed) >= 1);
    let current = src.current().await;
    assert!(ts.is_active(current.access_token.expose()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_about_to_expire_is_renewed_before_it_is_sent() {
    let ts = Arc::new(TokenServer::start().unwrap());
    let (base, refused) = bearer_server(ts.clone());
    // Expires within the renewal margin: renewed first, never refused.
    let src = source(&ts, "user1", Some(passeur_oauth::now() + 10));
    let c = client(&base, &src);
    assert_eq!(c.get("a.ics").await.unwrap().unwrap().0, BODY);
    assert_eq!(ts.refresh_grants(), 1);
    assert_eq!(refused.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_stops_with_a_clear_message() {
    let ts = Arc::new(TokenServer::start().unwrap());
    let (base, _) = bearer_server(ts.clone());
    let src = source(&ts, "user1", Some(passeur_oauth::now() + 3600));
    let c = client(&base, &src);
    assert!(c.get("a.ics").await.unwrap().is_some());
    ts.revoke_user("user1");
    let e = c.get("b.ics").await.unwrap_err();
    assert!(matches!(e, DavError::OAuth(_)), "{e:?}");
    assert!(e.to_string().contains("sign in again"), "{e}");
    assert!(!e.is_retryable());
    // Later requests get the same answer at once, without asking the provider again.
    let grants = ts.refresh_grants();
    assert!(c.get("c.ics").await.is_err());
    assert_eq!(ts.refresh_grants(), grants);
}
