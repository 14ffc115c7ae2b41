//! OAuth 2.0 through the service: tokens given to the API instead of passwords, sealed into the
//! store, renewed at the operator's provider during passes and sealed again renewed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use passeur_server::Service;
use passeur_server::api::MigrationOut;
use passeur_testkit::{Dovecot, DovecotOptions, OAUTH_CLIENT_ID, TokenServer};
use serde_json::{Value, json};

mod common;
use common::call_json as call;
use common::*;

async fn wait_passes(svc: &Arc<Service>, id: &str, passes: usize) -> MigrationOut {
    wait_finished(svc, id, "user1", passes).await
}

fn oauth_of(j: &Value, expires_at: u64) -> Value {
    json!({
        "access_token": j["access_token"],
        "refresh_token": j["refresh_token"],
        "expires_at": expires_at,
        "provider": "test",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_sealed_renewed_and_sealed_again() {
    let ts = TokenServer::start().unwrap();
    let dc = Dovecot::start(DovecotOptions {
        users: 2,
        oauth2_introspection: Some(ts.introspection_url()),
        ..DovecotOptions::default()
    })
    .unwrap();
    fill(&dc, "user1", "oauth", 0..12);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings();
    let mut p = passeur_oauth::Provider::new("test", &ts.token_url(), OAUTH_CLIENT_ID).unwrap();
    p.scopes = vec!["mail".into()];
    settings.oauth_providers = vec![p];
    let (svc, store) = service_with(dir.path(), settings, None).await;

    // A provider the service is not registered with is refused: tokens never go to an
    // endpoint a user names.
    let (src_tok, dst_tok) = (ts.issue("user1"), ts.issue("user2"));
    let mut bad = oauth_of(&src_tok, 1);
    bad["provider"] = json!("elsewhere");
    let (st, v) = call(
        &svc,
        "POST",
        "/api/v1/migrations",
        None,
        Some(json!({
            "source": {"url": imap_url(&dc, "user1"), "oauth": bad},
            "destination": {"url": imap_url(&dc, "user2"), "oauth": oauth_of(&dst_tok, 1)},
        })),
    )
    .await;
    assert_eq!(st.as_u16(), 422, "{v}");
    assert_eq!(v["field"], "source.oauth.provider");
    assert_eq!(v["error"], "is not one of this service's providers (test)");

    // Both tokens already expired: the first pass renews them before logging in.
    let (st, v) = call(
        &svc,
        "POST",
        "/api/v1/migrations",
        None,
        Some(json!({
            "source": {"url": imap_url(&dc, "user1"), "oauth": oauth_of(&src_tok, 1)},
            "destination": {"url": imap_url(&dc, "user2"), "oauth": oauth_of(&dst_tok, 1)},
        })),
    )
    .await;
    assert_eq!(st.as_u16(), 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let m = wait_passes(&svc, &id, 1).await;
    assert_eq!(m.status, "done", "{m:?}");
    assert_eq!(m.passes[0].copied, 12);
    assert_eq!(count(&dc, "user2"), 12);
    assert_eq!(ts.refresh_grants(), 2);

    // Sealed: no token in the store in clear.
    let mid: passeur_types::MigrationId = id.parse().unwrap();
    let sealed = store.credentials(mid).await.unwrap().unwrap();
    assert!(sealed.contains("source_oauth"), "{sealed}");
    assert!(!sealed.contains("at-"), "a token in clear: {sealed}");
    assert!(!sealed.contains("rt-"), "a token in clear: {sealed}");

    // The refresh tokens rotated: the next pass works only if the renewed ones were sealed.
    ts.expire_access_tokens();
    fill(&dc, "user1", "oauth", 100..103);
    let (st, v) = call(
        &svc,
        "POST",
        &format!("/api/v1/migrations/{id}/sync"),
        Some("user1"),
        None,
    )
    .await;
    assert_eq!(st.as_u16(), 202, "{v}");
    let m = wait_passes(&svc, &id, 2).await;
    assert_eq!(m.status, "done", "{m:?}");
    assert_eq!(m.passes[1].copied, 3);
    assert_eq!(count(&dc, "user2"), 15);
    assert_eq!(ts.refresh_grants(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_test_with_a_token() {
    let ts = TokenServer::start().unwrap();
    let dc = Dovecot::start(DovecotOptions {
        users: 2,
        oauth2_introspection: Some(ts.introspection_url()),
        ..DovecotOptions::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service_with(dir.path(), test_settings(), None).await;
    let good = ts.issue("user1");
    let (st, v) = call(
        &svc,
        "POST",
        "/api/v1/connection-tests",
        None,
        Some(json!({
            "source": {"url": imap_url(&dc, "user1"), "oauth": {"access_token": good["access_token"]}},
            "destination": {"url": imap_url(&dc, "user2"), "oauth": {"access_token": "revoked-or-made-up"}},
        })),
    )
    .await;
    assert_eq!(st.as_u16(), 200, "{v}");
    assert_eq!(v["source"]["ok"], true, "{v}");
    assert_eq!(v["destination"]["ok"], false, "{v}");
    assert_eq!(v["destination"]["reason"], "auth", "{v}");
    assert_eq!(
        v["destination"]["error"],
        "destination: the OAuth 2.0 token was refused and cannot be renewed (no refresh token): sign in again (on the command line: passeur oauth login)"
    );
}

// ---- "Sign in with …" (authorization code + PKCE) ------------------------------------------

/// One request through the router with a cookie: status, `Location`, `Set-Cookie`, body.
async fn browse(
    svc: &Arc<Service>,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
    body: Option<(&str, String)>,
) -> (u16, String, String, String) {
    browse_as(svc, method, uri, cookie, None, body).await
}

async fn browse_as(
    svc: &Arc<Service>,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
    account: Option<&str>,
    body: Option<(&str, String)>,
) -> (u16, String, String, String) {
    use axum::body::Body;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("accept-language", "en");
    if let Some(c) = cookie {
        req = req.header("cookie", format!("passeur_signin={c}"));
    }
    if let Some(a) = account {
        req = req.header("x-passeur-account", a);
    }
    let req = match body {
        Some((ct, b)) => req.header("content-type", ct).body(Body::from(b)),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let res = passeur_server::router(Arc::clone(svc))
        .oneshot(req)
        .await
        .unwrap();
    let h = |k: &str| {
        res.headers()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (status, location, set_cookie) = (res.status().as_u16(), h("location"), h("set-cookie"));
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        location,
        set_cookie,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// Whether `s` holds a token of the test token server (`at-N-hex`, `rt-N-hex`).
fn has_token(s: &str) -> bool {
    ["at-", "rt-"].iter().any(|p| {
        s.match_indices(p).any(|(i, _)| {
            s[i + p.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
    })
}

/// A GET to the token server's authorization endpoint, as the browser follows it: its
/// `Location` (the callback with a code, or an error).
fn authorize(url: &str) -> String {
    use std::io::{Read as _, Write as _};
    let u = url::Url::parse(url).unwrap();
    let mut s = std::net::TcpStream::connect((u.host_str().unwrap(), u.port().unwrap())).unwrap();
    write!(
        s,
        "GET {}?{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        u.path(),
        u.query().unwrap_or_default()
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r.lines()
        .find_map(|l| l.strip_prefix("Location: "))
        .unwrap_or_else(|| panic!("no redirect: {r}"))
        .trim()
        .to_string()
}

/// Presses "Sign in with test" for side `side` of the one-account form: the cookie (new or
/// kept) and where the browser is sent (the provider's authorization URL).
async fn press_signin(
    svc: &Arc<Service>,
    cookie: Option<&str>,
    side: &str,
    form: &str,
) -> (String, String) {
    press_signin_on(svc, "migrate", cookie, side, form).await
}

async fn press_signin_on(
    svc: &Arc<Service>,
    page: &str,
    cookie: Option<&str>,
    side: &str,
    form: &str,
) -> (String, String) {
    let body = format!("{form}&oauth={side}%3Atest");
    let (st, _, set, html) = browse(
        svc,
        "POST",
        &format!("/oauth/start?page={page}"),
        cookie,
        Some(("application/x-www-form-urlencoded", body)),
    )
    .await;
    assert_eq!(st, 200, "{html}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let cookie = set
        .strip_prefix("passeur_signin=")
        .and_then(|s| s.split(';').next())
        .unwrap()
        .to_string();
    let start = html.find("url=").unwrap() + 4;
    let url = html[start..html[start..].find('"').unwrap() + start]
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(url.contains("code_challenge="), "{url}");
    (cookie, url)
}

fn signin_settings(ts: &TokenServer) -> passeur_server::Settings {
    let mut settings = test_settings();
    settings.public_url = "http://passeur.example".into();
    let mut p = passeur_oauth::Provider::new("test", &ts.token_url(), OAUTH_CLIENT_ID).unwrap();
    p.authorization_endpoint = Some(format!("{}/authorize", ts.url()).parse().unwrap());
    p.scopes = vec!["mail".into()];
    settings.oauth_providers = vec![p];
    settings
}

/// The callback's path and query, as the router gets them.
fn local(callback: &str) -> String {
    let u = url::Url::parse(callback).unwrap();
    assert_eq!(u.host_str(), Some("passeur.example"), "the public URL");
    format!("{}?{}", u.path(), u.query().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signin_states_are_single_use_bound_to_the_browser_and_short_lived() {
    let ts = TokenServer::start().unwrap();
    ts.set_signing_in(Some("user1"));
    let dir = tempfile::tempdir().unwrap();
    let (svc, store) = service_with(dir.path(), signin_settings(&ts), None).await;
    let form =
        "src_type=imap&src_host=127.0.0.1&src_port=143&src_login=user1&src_password=typed-secret";

    // The form comes back as it was (never its password), the side signed in.
    let (cookie, url) = press_signin(&svc, None, "src", form).await;
    let callback = authorize(&url);
    let (st, to, _, _) = browse(&svc, "GET", &local(&callback), Some(&cookie), None).await;
    assert_eq!((st, to.as_str()), (303, "/migrate?lang=en"));
    assert_eq!(ts.code_grants(), 1);
    let (_, _, _, page) = browse(&svc, "GET", "/migrate", Some(&cookie), None).await;
    assert!(page.contains("Signed in with test."), "{page}");
    assert!(page.contains("value=\"user1\""));
    assert!(!page.contains("typed-secret"));
    assert!(!has_token(&page), "a token in the page");
    let sealed = std::fs::read(dir.path().join("passeur.db-wal")).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&sealed).contains("typed-secret"));

    // Replayed: the state was used.
    let (_, to, _, _) = browse(&svc, "GET", &local(&callback), Some(&cookie), None).await;
    assert_eq!(to, "/migrate?lang=en&oauth_error=state");
    let (_, _, _, page) = browse(&svc, "GET", &to, Some(&cookie), None).await;
    assert!(
        page.contains("already used, or started in another browser"),
        "{page}"
    );

    // Another browser's state (login CSRF): refused, and nothing signed in there.
    let (_, url) = press_signin(&svc, Some(&cookie), "dst", form).await;
    let callback = authorize(&url);
    let other = "b".repeat(43);
    let (_, to, _, _) = browse(&svc, "GET", &local(&callback), Some(&other), None).await;
    assert_eq!(to, "/migrate?lang=en&oauth_error=state");
    let (_, to, _, _) = browse(&svc, "GET", &local(&callback), None, None).await;
    assert_eq!(to, "/migrate?lang=en&oauth_error=state");

    // Another site's form cannot start a sign-in in this browser.
    for (k, v) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let (st, _, _, _) = {
            use http_body_util::BodyExt as _;
            use tower::ServiceExt as _;
            let req = axum::http::Request::builder()
                .method("POST")
                .uri("/oauth/start?page=migrate")
                .header(k, v)
                .header("host", "passeur.example")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(
                    "oauth=src%3Atest&dst_host=evil.example",
                ))
                .unwrap();
            let res = passeur_server::router(Arc::clone(&svc))
                .oneshot(req)
                .await
                .unwrap();
            let st = res.status().as_u16();
            let _ = res.into_body().collect().await;
            (st, (), (), ())
        };
        assert_eq!(st, 403, "{k}: {v}");
    }

    // A wrong state.
    let (_, to, _, _) = browse(
        &svc,
        "GET",
        "/oauth/callback?code=x&state=made-up",
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(to, "/migrate?lang=en&oauth_error=state");

    // Expired: the request outlived its time (its row aged by hand).
    let (_, url) = press_signin(&svc, Some(&cookie), "dst", form).await;
    let callback = authorize(&url);
    let state = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let key = format!("state:{state}");
    let row = store.oauth_signin(&key, &cookie).await.unwrap().unwrap();
    store
        .put_oauth_signin(&key, &cookie, &row.data, 1)
        .await
        .unwrap();
    let (_, to, _, _) = browse(&svc, "GET", &local(&callback), Some(&cookie), None).await;
    assert_eq!(to, "/migrate?lang=en&oauth_error=expired");
    assert_eq!(ts.code_grants(), 1, "an expired request exchanges nothing");

    // Declined at the provider, said in French.
    ts.set_signing_in(None);
    let (_, url) = press_signin(&svc, Some(&cookie), "dst", form).await;
    let callback = authorize(&url);
    assert!(callback.contains("error=access_denied"));
    let (_, to, _, _) = browse(&svc, "GET", &local(&callback), Some(&cookie), None).await;
    assert_eq!(to, "/migrate?lang=en&oauth_error=denied");
    let (_, _, _, page) = browse(
        &svc,
        "GET",
        "/migrate?lang=fr&oauth_error=denied",
        Some(&cookie),
        None,
    )
    .await;
    assert!(
        page.contains("La connexion a été refusée chez le fournisseur"),
        "{page}"
    );

    // The token endpoint refuses the code (tampered with).
    ts.set_signing_in(Some("user2"));
    let (_, url) = press_signin(&svc, Some(&cookie), "dst", form).await;
    let callback = authorize(&url).replace("code=code-", "code=forged-");
    let (_, to, _, _) = browse(&svc, "GET", &local(&callback), Some(&cookie), None).await;
    assert_eq!(to, "/migrate?lang=en&oauth_error=token");
    let (_, _, _, page) = browse(&svc, "GET", &to, Some(&cookie), None).await;
    assert!(page.contains("The provider gave no token"), "{page}");
    assert!(
        page.contains("id=\"src-signed\""),
        "the source stays signed in"
    );
    assert!(
        !page.contains("id=\"dst-signed\""),
        "the destination did not sign in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_side_makes_one_migration() {
    let ts = TokenServer::start().unwrap();
    ts.set_signing_in(Some("user1"));
    let dc = Dovecot::start(DovecotOptions {
        users: 2,
        oauth2_introspection: Some(ts.introspection_url()),
        ..DovecotOptions::default()
    })
    .unwrap();
    fill(&dc, "user1", "signin", 0..7);
    let dir = tempfile::tempdir().unwrap();
    let (svc, store) = service_with(dir.path(), signin_settings(&ts), None).await;
    let (cookie, url) = press_signin(&svc, None, "src", "src_login=user1").await;
    let (_, to, _, _) = browse(&svc, "GET", &local(&authorize(&url)), Some(&cookie), None).await;
    assert_eq!(to, "/migrate?lang=en");
    let body = json!({
        "source": {"url": imap_url(&dc, "user1"), "signed_in": true},
        "destination": {"url": imap_url(&dc, "user2"), "password": "pass2"},
    });
    // Without the browser's cookie, there is no sign-in to use.
    let (st, _, _, v) = browse(
        &svc,
        "POST",
        "/api/v1/migrations",
        None,
        Some(("application/json", body.to_string())),
    )
    .await;
    assert_eq!(st, 422, "{v}");
    assert!(v.contains("source.signed_in"), "{v}");
    let (st, _, _, v) = browse(
        &svc,
        "POST",
        "/api/v1/migrations",
        Some(&cookie),
        Some(("application/json", body.to_string())),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let id = serde_json::from_str::<Value>(&v).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let m = wait_passes(&svc, &id, 1).await;
    assert_eq!(m.status, "done", "{m:?}");
    assert_eq!(m.passes[0].copied, 7);
    assert_eq!(count(&dc, "user2"), 7);
    assert!(
        ts.introspections() >= 1,
        "the source logged in with the token"
    );
    let sealed = store
        .credentials(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(sealed.contains("source_oauth") && !has_token(&sealed));
    // Taken: a second migration needs a new sign-in.
    let (st, _, _, v) = browse(
        &svc,
        "POST",
        "/api/v1/migrations",
        Some(&cookie),
        Some(("application/json", body.to_string())),
    )
    .await;
    assert_eq!(st, 422, "{v}");
    assert!(v.contains("sign in again"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_of_an_oauth_destination_needs_a_fresh_sign_in() {
    let ts = TokenServer::start().unwrap();
    let dc = Dovecot::start(DovecotOptions {
        users: 2,
        oauth2_introspection: Some(ts.introspection_url()),
        ..DovecotOptions::default()
    })
    .unwrap();
    fill(&dc, "user1", "purge", 0..5);
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service_with(dir.path(), signin_settings(&ts), None).await;
    let dst_tok = ts.issue("user2");
    let (st, v) = call(
        &svc,
        "POST",
        "/api/v1/migrations",
        None,
        Some(json!({
            "source": {"url": imap_url(&dc, "user1"), "password": "pass1"},
            "destination": {"url": imap_url(&dc, "user2"), "oauth": oauth_of(&dst_tok, passeur_oauth::now() + 3600)},
        })),
    )
    .await;
    assert_eq!(st.as_u16(), 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let m = wait_passes(&svc, &id, 1).await;
    assert_eq!(m.status, "done", "{m:?}");
    assert_eq!(count(&dc, "user2"), 5);
    let purge = format!("/api/v1/migrations/{id}/purge");

    // The token kept for the passes is not enough: who asks must prove it now.
    let (st, v) = call(&svc, "POST", &purge, Some("user1"), Some(json!({}))).await;
    assert_eq!(st.as_u16(), 422, "{v}");
    assert_eq!(v["field"], "destination_password");
    // A fresh token of another account cannot delete here: the server refuses its login.
    let other = ts.issue("user1");
    let (st, v) = call(
        &svc,
        "POST",
        &purge,
        Some("user1"),
        Some(
            json!({"destination_oauth": {"access_token": other["access_token"]}, "dry_run": true}),
        ),
    )
    .await;
    assert_eq!(st.as_u16(), 502, "{v}");
    // A fresh token of the destination account counts what would go.
    let fresh = ts.issue("user2");
    let (st, v) = call(
        &svc,
        "POST",
        &purge,
        Some("user1"),
        Some(
            json!({"destination_oauth": {"access_token": fresh["access_token"]}, "dry_run": true}),
        ),
    )
    .await;
    assert_eq!(st.as_u16(), 200, "{v}");
    assert_eq!(v["deleted"], 5);
    assert_eq!(count(&dc, "user2"), 5);

    // The tracking page's "Sign in with …": the browser signs in again as the destination.
    ts.set_signing_in(Some("user2"));
    let page = format!("track/{id}");
    let (cookie, url) = press_signin_on(&svc, &page, None, "purge", "x=1").await;
    let (_, to, _, _) = browse(&svc, "GET", &local(&authorize(&url)), Some(&cookie), None).await;
    assert_eq!(to, format!("/track/{id}?lang=en"));
    let body = json!({"destination_signed_in": true}).to_string();
    // Not from another browser.
    let (st, _, _, v) = browse_as(
        &svc,
        "POST",
        &purge,
        Some(&"c".repeat(43)),
        Some("user1"),
        Some(("application/json", body.clone())),
    )
    .await;
    assert_eq!(st, 422, "{v}");
    let (st, _, _, v) = browse_as(
        &svc,
        "POST",
        &purge,
        Some(&cookie),
        Some("user1"),
        Some(("application/json", body.clone())),
    )
    .await;
    assert_eq!(st, 202, "{v}");
    let start = Instant::now();
    while count(&dc, "user2") > 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "not purged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Once: the sign-in was used.
    let (st, _, _, v) = browse_as(
        &svc,
        "POST",
        &purge,
        Some(&cookie),
        Some("user1"),
        Some(("application/json", body)),
    )
    .await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(count(&dc, "user1"), 5, "the source is never touched");
}

/// One request through the router with any headers: status, `Location`, body.
async fn raw(
    svc: &Arc<Service>,
    method: &str,
    uri: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (u16, String, String) {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let mut req = axum::http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let res = passeur_server::router(Arc::clone(svc))
        .oneshot(req.body(axum::body::Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        location,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_import_signs_in_its_destination() {
    use base64::Engine as _;
    let ts = TokenServer::start().unwrap();
    ts.set_signing_in(Some("user1"));
    let dc = Dovecot::start(DovecotOptions {
        users: 2,
        oauth2_introspection: Some(ts.introspection_url()),
        ..DovecotOptions::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = signin_settings(&ts);
    settings.data_dir = dir.path().join("data");
    let (svc, _) = service_with(dir.path(), settings, None).await;

    // The file, sent over tus.
    let pst = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus/pst/ruby-msg__attachAndInline.pst"),
    )
    .unwrap();
    let name = base64::engine::general_purpose::STANDARD.encode("mail.pst");
    let (st, loc, body) = raw(
        &svc,
        "POST",
        "/api/v1/uploads",
        &[
            ("tus-resumable", "1.0.0".into()),
            ("upload-length", pst.len().to_string()),
            ("upload-metadata", format!("filename {name}")),
        ],
        Vec::new(),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let (st, _, body) = raw(
        &svc,
        "PATCH",
        &loc,
        &[
            ("tus-resumable", "1.0.0".into()),
            ("upload-offset", "0".into()),
            ("content-type", "application/offset+octet-stream".into()),
        ],
        pst,
    )
    .await;
    assert_eq!(st, 204, "{body}");

    // "Sign in with test" on the file page: the upload and the login come back with it.
    let form = format!(
        "dst_type=imap&dst_login=user1&upload={}",
        url::form_urlencoded::byte_serialize(loc.as_bytes()).collect::<String>()
    );
    let (cookie, url) = press_signin_on(&svc, "file", None, "dst", &form).await;
    let (_, to, _, _) = browse(&svc, "GET", &local(&authorize(&url)), Some(&cookie), None).await;
    assert_eq!(to, "/file?lang=en");
    let (_, _, _, page) = browse(&svc, "GET", &to, Some(&cookie), None).await;
    assert!(page.contains("Signed in with test."), "{page}");
    assert!(
        page.contains(&format!("value=\"{loc}\"")),
        "the upload comes back"
    );
    assert!(!has_token(&page));

    let body = json!({
        "upload": loc,
        "destination": {"url": imap_url(&dc, "user1"), "signed_in": true},
    })
    .to_string();
    let (st, _, _, v) = browse(
        &svc,
        "POST",
        "/api/v1/imports",
        Some(&cookie),
        Some(("application/json", body.clone())),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let id = serde_json::from_str::<Value>(&v).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let start = Instant::now();
    let m = loop {
        let (_, v) = call(
            &svc,
            "GET",
            &format!("/api/v1/migrations/{id}"),
            Some("user1"),
            None,
        )
        .await;
        let m: MigrationOut = serde_json::from_value(v).unwrap();
        if matches!(m.status.as_str(), "done" | "failed") {
            break m;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{m:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(m.status, "done", "{m:?}");
    let snap = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user1", "pass1").unwrap();
    assert!(m.items > 0);
    assert_eq!(
        snap.messages() as u64,
        m.items,
        "every imported message is there"
    );
    assert!(
        ts.introspections() >= 1,
        "the import logged in with the token"
    );
    // Taken by that import.
    let (st, _, _, v) = browse(
        &svc,
        "POST",
        "/api/v1/imports",
        Some(&cookie),
        Some(("application/json", body)),
    )
    .await;
    assert_eq!(st, 422, "{v}");
}

/// Presses "Sign in with test" from the client at `from`, in French: the status and the page.
async fn start_from(svc: &Arc<Service>, from: &str) -> (u16, String) {
    use axum::body::Body;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let mut req = axum::http::Request::builder()
        .method("POST")
        .uri("/oauth/start?page=migrate&lang=fr")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("src_login=user1&oauth=src%3Atest"))
        .unwrap();
    let peer: std::net::SocketAddr = format!("{from}:40000").parse().unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    let res = passeur_server::router(Arc::clone(svc))
        .oneshot(req)
        .await
        .unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signin_starts_are_limited_per_client_address() {
    let ts = TokenServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service_with(dir.path(), signin_settings(&ts), None).await;
    let limit = passeur_server::oauth_pages::STARTS_PER_WINDOW;
    for i in 0..limit {
        let (st, page) = start_from(&svc, "203.0.113.7").await;
        assert_eq!(st, 200, "start {i}: {page}");
        assert!(page.contains("Continuer vers test"), "{page}");
    }
    // One more from that address: a clear page in its language, nothing sent to the provider.
    let (st, page) = start_from(&svc, "203.0.113.7").await;
    assert_eq!(st, 429, "{page}");
    assert!(
        page.contains("Trop de connexions ont été commencées depuis votre adresse"),
        "{page}"
    );
    assert!(page.contains("href=\"/migrate?lang=fr\""), "{page}");
    assert!(!page.contains("/authorize"), "{page}");
    // Another client is not held back.
    let (st, _) = start_from(&svc, "198.51.100.9").await;
    assert_eq!(st, 200);
    // A second process over the same store counts the same starts.
    let store = passeur_store::Store::open(&dir.path().join("passeur.db"))
        .await
        .unwrap();
    let vault =
        passeur_server::vault::Vault::open_or_create(&dir.path().join("secret.key")).unwrap();
    let mut settings = signin_settings(&ts);
    settings.workers = 0;
    let other = Service::new(passeur_engine::Runner::new(store), vault, settings, None);
    let (st, _) = start_from(&other, "203.0.113.7").await;
    assert_eq!(st, 429);
}

/// A bearer-token gateway in front of a real Radicale (which takes Basic credentials only):
/// each request's `Authorization: Bearer` token is checked at the token server, and an active
/// one goes on to Radicale as `user`'s Basic login; anything else gets 401. Counts the
/// requests it let through.
fn bearer_gateway(
    ts: Arc<TokenServer>,
    radicale: std::net::SocketAddr,
    user: (String, String),
) -> (String, Arc<std::sync::atomic::AtomicU32>) {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    use std::sync::atomic::Ordering;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let passed = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let p = passed.clone();
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", user.0, user.1))
    };
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let (ts, p, basic) = (ts.clone(), p.clone(), basic.clone());
            std::thread::spawn(move || {
                let mut rd = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                let mut line = String::new();
                if rd.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let (mut head, mut token, mut len) = (line, None, 0usize);
                loop {
                    let mut h = String::new();
                    if rd.read_line(&mut h).unwrap_or(0) == 0 {
                        return;
                    }
                    if h.trim_end().is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                    if k.eq_ignore_ascii_case("authorization") {
                        token = v.trim().strip_prefix("Bearer ").map(str::to_owned);
                    } else if k.eq_ignore_ascii_case("connection") {
                    } else {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        head.push_str(&h);
                    }
                }
                let mut body = vec![0; len];
                if rd.read_exact(&mut body).is_err() {
                    return;
                }
                if !token.as_deref().is_some_and(|t| ts.is_active(t)) {
                    let _ = w.write_all(
                        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                }
                p.fetch_add(1, Ordering::Relaxed);
                head.push_str(&format!(
                    "Authorization: Basic {basic}\r\nConnection: close\r\n\r\n"
                ));
                let mut up = std::net::TcpStream::connect(radicale).unwrap();
                up.write_all(head.as_bytes()).unwrap();
                up.write_all(&body).unwrap();
                let mut answer = Vec::new();
                let _ = up.read_to_end(&mut answer);
                // Radicale's answer, told to close (each request has its own connection).
                let split = answer
                    .windows(4)
                    .position(|x| x == b"\r\n\r\n")
                    .map_or(answer.len(), |i| i + 2);
                let mut out = Vec::new();
                for h in String::from_utf8_lossy(&answer[..split]).split_inclusive("\r\n") {
                    if !h.to_ascii_lowercase().starts_with("connection:") {
                        out.extend_from_slice(h.as_bytes());
                    }
                }
                out.extend_from_slice(b"Connection: close\r\n");
                out.extend_from_slice(&answer[split..]);
                let _ = w.write_all(&out);
            });
        }
    });
    (format!("http://{addr}/"), passed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_test_sends_the_token_to_the_dav_server() {
    use passeur_testkit::{Radicale, RadicaleOptions};
    let ts = Arc::new(TokenServer::start().unwrap());
    let dc = Dovecot::start(DovecotOptions {
        users: 2,
        oauth2_introspection: Some(ts.introspection_url()),
        ..DovecotOptions::default()
    })
    .unwrap();
    let rad = Radicale::start(RadicaleOptions::default()).unwrap();
    let rad_addr: std::net::SocketAddr = format!("{}:{}", rad.host, rad.port).parse().unwrap();
    let (dav, passed) = bearer_gateway(ts.clone(), rad_addr, rad.user(1));
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service_with(dir.path(), test_settings(), None).await;
    let test = |token: Value| {
        let svc = Arc::clone(&svc);
        let body = json!({
            "source": {"url": imap_url(&dc, "user1"), "oauth": {"access_token": token}, "dav": dav},
            "destination": {"url": imap_url(&dc, "user2"), "password": "pass2"},
        });
        async move { call(&svc, "POST", "/api/v1/connection-tests", None, Some(body)).await }
    };
    let good = ts.issue("user1");
    let (st, v) = test(good["access_token"].clone()).await;
    assert_eq!(st.as_u16(), 200, "{v}");
    assert_eq!(v["source"]["ok"], true, "{v}");
    assert_eq!(v["source"]["dav"]["ok"], true, "{v}");
    assert!(
        passed.load(std::sync::atomic::Ordering::Relaxed) >= 1,
        "the DAV server was reached with the token"
    );
    // A token the provider does not know: refused by both servers, said as a login failure.
    let (st, v) = test(json!("made-up")).await;
    assert_eq!(st.as_u16(), 200, "{v}");
    assert_eq!(v["source"]["ok"], false, "{v}");
    assert_eq!(v["source"]["dav"]["ok"], false, "{v}");
    assert_eq!(v["source"]["dav"]["reason"], "auth", "{v}");
}

/// A request of a project's owner (its session token) through the router: status and JSON.
async fn project_call(
    svc: &Arc<Service>,
    method: &str,
    uri: &str,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    use axum::body::Body;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = passeur_server::router(Arc::clone(svc))
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A project's CSV rows of type Exchange, at a provider that takes no password (Microsoft 365,
/// played by a preset for `localhost` whose server, a private Dovecot, checks tokens at the
/// testkit's token server): the rows are accepted without a password (a password given is not
/// kept), their migrations wait for their owners' sign-in without running, and a sign-in starts
/// each: one on its tracking page, one with a token handed to the API. The mail arrives exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_rows_wait_for_their_owners_sign_in_then_run() {
    let presets = passeur_net::discover::Presets::with_json(
        r#"[{"id": "test", "name": "Test 365", "domains": [],
             "imap": {"host": "localhost", "port": 993, "security": "tls"}, "auth": ["oauth2"]}]"#,
    )
    .unwrap();
    let ts = TokenServer::start().unwrap();
    ts.set_signing_in(Some("user1"));
    let dc = Dovecot::start(DovecotOptions {
        users: 4,
        oauth2_introspection: Some(ts.introspection_url()),
        ..DovecotOptions::default()
    })
    .unwrap();
    fill(&dc, "user1", "m365", 0..6);
    fill(&dc, "user3", "api365", 0..4);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = signin_settings(&ts);
    settings.presets = presets;
    let (svc, store) = service_with(dir.path(), settings, None).await;
    let (st, v) = project_call(
        &svc,
        "POST",
        "/api/v1/projects",
        None,
        "application/json",
        json!({"name": "M365 move", "password": "Tr0ub4dor&3-horse", "lang": "en"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let pid = v["id"].as_str().unwrap().to_string();
    let (st, v) = project_call(
        &svc,
        "POST",
        &format!("/api/v1/projects/{pid}/session"),
        None,
        "application/json",
        json!({"password": "Tr0ub4dor&3-horse"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let m365 = format!("imap://localhost:{}", dc.imap_port);
    let plain = format!("imap://127.0.0.1:{}", dc.imap_port);
    let csv = format!(
        "Source Type;Source Server url;Source Login;Source Password;Destination Type;Destination Url;Destination Mail;Destination Password;Source admin;Destination admin\r\n\
         Exchange;{m365};user1;;IMAP;{plain};user2;pass2;;\r\n\
         Exchange;{m365};user3;pass3;IMAP;{plain};user4;pass4;;\r\n\
         IMAP;{plain};user1;;IMAP;{plain};user2;pass2;;\r\n"
    );
    let (st, v) = project_call(
        &svc,
        "POST",
        &format!("/api/v1/projects/{pid}/migrations/bulk"),
        Some(&token),
        "text/csv",
        csv.into_bytes(),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    // The third row is at no provider that signs in: its password is needed.
    assert_eq!(v["created"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["errors"][0]["row"], 4, "{v}");
    assert_eq!(v["errors"][0]["message"], "is required", "{v}");
    assert!(
        v["errors"][0]["column"]
            .as_str()
            .unwrap()
            .contains("Source Password"),
        "{v}"
    );
    let id1 = v["created"][0]["id"].as_str().unwrap().to_string();
    let id3 = v["created"][1]["id"].as_str().unwrap().to_string();

    // Both wait, and nothing runs: no job, no pass, a sync is refused.
    for (id, account) in [(&id1, "user1"), (&id3, "user3")] {
        let (_, m) = call(
            &svc,
            "GET",
            &format!("/api/v1/migrations/{id}"),
            Some(account),
            None,
        )
        .await;
        assert_eq!(m["status"], "sign_in", "{m}");
        assert_eq!(
            m["sign_in"],
            json!([{"side": "source", "provider": "test"}]),
            "{m}"
        );
        assert!(store.jobs_of(id.parse().unwrap()).await.unwrap().is_empty());
        let (st, v) = call(
            &svc,
            "POST",
            &format!("/api/v1/migrations/{id}/sync"),
            Some(account),
            None,
        )
        .await;
        assert_eq!(st, 409, "{v:?}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&dc, "user2"), 0);
    let (_, p) = project_call(
        &svc,
        "GET",
        &format!("/api/v1/projects/{pid}"),
        Some(&token),
        "application/json",
        Vec::new(),
    )
    .await;
    assert_eq!(p["totals"]["sign_in"], 2, "{p}");

    // The owner signs in on the tracking page, and starts it.
    let page = format!("track/{id1}");
    let (cookie, url) = press_signin_on(&svc, &page, None, "src", "").await;
    let (_, to, _, _) = browse(&svc, "GET", &local(&authorize(&url)), Some(&cookie), None).await;
    assert_eq!(to, format!("/track/{id1}?lang=en"));
    let (_, _, _, html) = browse(&svc, "GET", &format!("/{page}"), Some(&cookie), None).await;
    assert!(html.contains("id=\"signin-src-done\""), "{html}");
    let body = json!({"source_signed_in": true}).to_string();
    let uri = format!("/api/v1/migrations/{id1}/sign-in");
    // Another browser has no sign-in to give.
    let (st, _, _, v) = browse_as(
        &svc,
        "POST",
        &uri,
        None,
        Some("user1"),
        Some(("application/json", body.clone())),
    )
    .await;
    assert_eq!(st, 422, "{v}");
    // A side that logs in with its password takes no token.
    let (st, _, _, v) = browse_as(
        &svc,
        "POST",
        &uri,
        Some(&cookie),
        Some("user1"),
        Some((
            "application/json",
            json!({"destination_oauth": oauth_of(&ts.issue("user2"), 4_000_000_000)}).to_string(),
        )),
    )
    .await;
    assert_eq!(st, 409, "{v}");
    assert!(v.contains("logs in with a password"), "{v}");
    let (st, _, _, v) = browse_as(
        &svc,
        "POST",
        &uri,
        Some(&cookie),
        Some("user1"),
        Some(("application/json", body)),
    )
    .await;
    assert_eq!(st, 202, "{v}");
    let m = wait_finished(&svc, &id1, "user1", 1).await;
    assert_eq!(m.status, "done", "{m:?}");
    assert_eq!(m.passes[0].copied, 6, "{m:?}");
    assert!(m.sign_in.is_empty());
    let src = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user1", "pass1").unwrap();
    let dst = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user2", "pass2").unwrap();
    let cmp = passeur_testkit::verify::compare(&src, &dst);
    assert!(cmp.is_exact(), "{}", cmp.summary());
    assert!(
        ts.introspections() >= 1,
        "the source logged in with the token"
    );

    // The other row's token comes through the API (no browser).
    let (st, v) = call(
        &svc,
        "POST",
        &format!("/api/v1/migrations/{id3}/sign-in"),
        Some("user3"),
        Some(json!({"source_oauth": oauth_of(&ts.issue("user3"), 4_000_000_000)})),
    )
    .await;
    assert_eq!(st, 202, "{v:?}");
    let m = wait_finished(&svc, &id3, "user3", 1).await;
    assert_eq!(m.status, "done", "{m:?}");
    assert_eq!(m.passes[0].copied, 4, "{m:?}");
    let sealed = store
        .credentials(id3.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(sealed.contains("source_oauth") && !has_token(&sealed));
    svc.shut_down();
}

/// A migration created through the API with a source that signs in later: no pass runs, its
/// notification says where to sign in (not "started"), and the token handed in later starts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_that_signs_in_later_is_told_and_waits() {
    let presets = passeur_net::discover::Presets::with_json(
        r#"[{"id": "test", "name": "Test 365", "domains": [],
             "imap": {"host": "localhost", "port": 993, "security": "tls"}, "auth": ["oauth2"]}]"#,
    )
    .unwrap();
    let ts = TokenServer::start().unwrap();
    let dc = Dovecot::start(DovecotOptions {
        users: 2,
        oauth2_introspection: Some(ts.introspection_url()),
        ..DovecotOptions::default()
    })
    .unwrap();
    fill(&dc, "user1", "later", 0..3);
    let rx = passeur_testkit::SmtpReceiver::start(passeur_testkit::SmtpOptions::default()).unwrap();
    let config =
        passeur_notify::SmtpConfig::from_url(&rx.url(), "passeur <noreply@passeur.test>").unwrap();
    let notifier = passeur_notify::Notifier::new(config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = signin_settings(&ts);
    settings.presets = presets;
    let (svc, _) = service_with(dir.path(), settings, Some(notifier)).await;
    let body = json!({
        "source": {"url": format!("imap://user1@localhost:{}", dc.imap_port), "sign_in_later": true},
        "destination": {"url": imap_url(&dc, "user2"), "password": "pass2"},
        "notify": "owner@example.org",
        "lang": "en",
    });
    // Not at a provider of this service: refused, saying so.
    let mut elsewhere = body.clone();
    elsewhere["source"]["url"] = json!(imap_url(&dc, "user1"));
    let (st, v) = call(&svc, "POST", "/api/v1/migrations", None, Some(elsewhere)).await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["field"], "source.sign_in_later", "{v}");
    // With a password as well: refused.
    let mut both = body.clone();
    both["source"]["password"] = json!("pass1");
    let (st, v) = call(&svc, "POST", "/api/v1/migrations", None, Some(both)).await;
    assert_eq!(st, 422, "{v}");

    let (st, v) = call(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let got = rx.wait_for(1, Duration::from_secs(30)).unwrap();
    let text = String::from_utf8_lossy(&got[0].raw).into_owned();
    assert!(
        text.contains(&format!(
            "Subject: Your migration {id} waits for your sign-in"
        )),
        "{text}"
    );
    assert!(text.contains("Sign in with Test 365"), "{text}");
    assert!(text.contains(&format!("/track/{id}")), "{text}");
    let (_, m) = call(
        &svc,
        "GET",
        &format!("/api/v1/migrations/{id}"),
        Some("user1"),
        None,
    )
    .await;
    assert_eq!(m["status"], "sign_in", "{m}");
    assert_eq!(count(&dc, "user2"), 0);
    let (st, v) = call(
        &svc,
        "POST",
        &format!("/api/v1/migrations/{id}/sign-in"),
        Some("user1"),
        Some(json!({"source_oauth": oauth_of(&ts.issue("user1"), 4_000_000_000)})),
    )
    .await;
    assert_eq!(st, 202, "{v}");
    let m = wait_passes(&svc, &id, 1).await;
    assert_eq!(m.status, "done", "{m:?}");
    assert_eq!(count(&dc, "user2"), 3);
    // Signed in: nothing waits any more, and a second sign-in starts nothing new.
    let (st, v) = call(
        &svc,
        "POST",
        &format!("/api/v1/migrations/{id}/sign-in"),
        Some("user1"),
        Some(json!({"source_oauth": oauth_of(&ts.issue("user1"), 4_000_000_000)})),
    )
    .await;
    assert_eq!(st, 202, "a new token for a side that logs in with one: {v}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let m = wait_passes(&svc, &id, 1).await;
    assert_eq!(m.passes.len(), 1, "{m:?}");
    svc.shut_down();
}
