//! The token source against the testkit's token server over real HTTP.

use std::sync::Arc;

use passeur_oauth::{OAuthError, Provider, Token, TokenFile, TokenSource};
use passeur_testkit::{OAUTH_CLIENT_ID, TokenServer};
use passeur_types::Secret;

fn token(j: &serde_json::Value, expires_at: u64) -> Token {
    Token {
        access_token: Secret::new(j["access_token"].as_str().unwrap()),
        refresh_token: Some(Secret::new(j["refresh_token"].as_str().unwrap())),
        expires_at: Some(expires_at),
    }
}

#[tokio::test]
async fn many_connections_refused_at_once_renew_once() {
    let ts = TokenServer::start().unwrap();
    let p = Provider::new("t", &ts.token_url(), OAUTH_CLIENT_ID).unwrap();
    let t = token(&ts.issue("u"), passeur_oauth::now() + 3600);
    let old = t.access_token.clone();
    let src = Arc::new(TokenSource::new(t, Some(p)));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (src, old) = (src.clone(), old.clone());
        tasks.push(tokio::spawn(async move { src.renew(&old).await.unwrap() }));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    assert!(got.iter().all(|g| *g == got[0] && *g != old));
    assert!(ts.is_active(got[0].expose()));
    assert_eq!((src.renewals(), ts.refresh_grants()), (1, 1));
}

#[tokio::test]
async fn an_expiring_token_is_renewed_first_and_written_back() {
    let ts = TokenServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.json");
    let p = Provider::new("t", &ts.token_url(), OAUTH_CLIENT_ID).unwrap();
    let t = token(&ts.issue("u"), passeur_oauth::now() + 60);
    let meta = TokenFile {
        token: t.clone(),
        provider: Some("t".into()),
        token_endpoint: Some(ts.token_url()),
        client_id: Some(OAUTH_CLIENT_ID.into()),
    };
    meta.save(&path).unwrap();
    let src = TokenSource::new(t.clone(), Some(p)).with_file(path.clone(), meta);
    let a = src.access_token().await.unwrap();
    assert_ne!(a, t.access_token, "renewed within two minutes of expiry");
    let back = TokenFile::load(&path).unwrap();
    assert_eq!(back.token.access_token, a);
    assert_eq!(back.client_id.as_deref(), Some(OAUTH_CLIENT_ID));
    // The old refresh token was spent: a second source still holding it is refused, clearly,
    // and says so again at once without asking the provider.
    let stale = TokenSource::new(
        t,
        Some(Provider::new("t", &ts.token_url(), OAUTH_CLIENT_ID).unwrap()),
    );
    let e = stale
        .renew(&Secret::new(
            ts.issue("u")["access_token"].as_str().unwrap(),
        ))
        .await;
    assert!(e.is_ok(), "another token is current: nothing to renew");
    let old = stale.current().await.access_token;
    let e = stale.renew(&old).await.unwrap_err();
    assert!(matches!(e, OAuthError::Renew { .. }), "{e:?}");
    let grants = ts.refresh_grants();
    let again = stale.access_token().await.unwrap_err();
    assert_eq!(again.to_string(), e.to_string());
    assert_eq!(ts.refresh_grants(), grants);
}

#[tokio::test]
async fn an_unreachable_provider_before_expiry_keeps_the_current_token() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = Provider::new("t", &format!("http://127.0.0.1:{port}/token"), "c").unwrap();
    let t = Token {
        access_token: Secret::new("still-good"),
        refresh_token: Some(Secret::new("r")),
        expires_at: Some(passeur_oauth::now() + 60),
    };
    let src = TokenSource::new(t, Some(p));
    assert_eq!(src.access_token().await.unwrap().expose(), "still-good");
    // Refused by a server, it cannot go on.
    let e = src.renew(&Secret::new("still-good")).await.unwrap_err();
    assert!(matches!(e, OAuthError::Http { .. }), "{e:?}");
}

/// GETs `url` (plain HTTP) and returns its `Location` header: the browser's part of a redirect.
fn location_of(url: &url::Url) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect((
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap(),
    ))
    .unwrap();
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        url.host_str().unwrap()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 302"), "{resp}");
    resp.lines()
        .find_map(|l| l.strip_prefix("Location: "))
        .unwrap()
        .trim()
        .to_owned()
}

#[tokio::test]
async fn authorization_code_with_pkce() {
    let ts = TokenServer::start().unwrap();
    ts.set_signing_in(Some("u"));
    let p = Provider::discover(&ts.url(), OAUTH_CLIENT_ID, None, vec!["mail".into()])
        .await
        .unwrap();
    let redirect = "http://127.0.0.1:9/oauth/callback";
    let (pkce, state) = (passeur_oauth::Pkce::new(), passeur_oauth::new_state());
    let back = url::Url::parse(&location_of(
        &p.authorization_url(redirect, &state, &pkce).unwrap(),
    ))
    .unwrap();
    let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(q["state"], state);
    // Another verifier than the one whose challenge was sent is refused.
    let e = p
        .exchange_code(&q["code"], redirect, &passeur_oauth::Pkce::new())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("invalid_grant"), "{e}");
    // The code is spent by that attempt: a new sign-in, the right verifier.
    let back = url::Url::parse(&location_of(
        &p.authorization_url(redirect, &state, &pkce).unwrap(),
    ))
    .unwrap();
    let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    let t = p.exchange_code(&q["code"], redirect, &pkce).await.unwrap();
    assert!(ts.is_active(t.access_token.expose()));
    assert!(t.refresh_token.is_some());
    assert_eq!(ts.code_grants(), 1);
    // A user who declines comes back with access_denied.
    ts.set_signing_in(None);
    let back = location_of(&p.authorization_url(redirect, &state, &pkce).unwrap());
    assert!(back.contains("error=access_denied"), "{back}");
}
