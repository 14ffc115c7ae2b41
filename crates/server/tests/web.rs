//! The web pages: over plain HTTP (every page, both languages, the headers), and in a real
//! headless Chromium driven over WebDriver (fantoccini + chromedriver) against private Dovecot
//! servers: fill in the form, start, follow the tracking page to the end, delete the migrated
//! items; a wrong password, a bad host and the French pages.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fantoccini::{Client, Locator};
use http_body_util::BodyExt as _;
use passeur_engine::Runner;
use passeur_server::vault::Vault;
use passeur_server::{Service, Settings, router};
use passeur_store::Store;
use passeur_testkit::imapwire::Client as Imap;
use passeur_testkit::{Dovecot, DovecotOptions};
use tower::ServiceExt as _;

async fn service(dir: &std::path::Path) -> Arc<Service> {
    let store = Store::open(&dir.join("passeur.db")).await.unwrap();
    let vault = Vault::open_or_create(&dir.join("secret.key")).unwrap();
    let settings = Settings {
        allow_private_addresses: true,
        ..Default::default()
    };
    let svc = Service::new(Runner::new(store), vault, settings, None);
    let workers = Arc::clone(&svc);
    tokio::spawn(async move { workers.run_workers().await });
    svc
}

struct Page {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn get(svc: &Arc<Service>, uri: &str, headers: &[(&str, &str)]) -> Page {
    let mut req = Request::builder().uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = router(Arc::clone(svc))
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Page {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

const PAGES: [&str; 5] = ["/", "/migrate", "/file", "/track", "/track/01abc"];

#[tokio::test]
async fn every_page_answers_in_the_language_asked() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    for path in PAGES {
        // No preference: English.
        let p = get(&svc, path, &[]).await;
        assert_eq!(p.status, StatusCode::OK, "{path}");
        assert!(p.body.contains("<html lang=\"en\">"), "{path}");
        assert!(p.body.contains("Track a migration"), "{path}");
        assert!(!p.body.contains("[missing message]"), "{path}");
        assert!(
            p.headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("script-src 'self'"),
            "{path}"
        );
        // Accept-Language.
        let p = get(
            &svc,
            path,
            &[("accept-language", "fr-FR,fr;q=0.9,en;q=0.5")],
        )
        .await;
        assert!(p.body.contains("<html lang=\"fr\">"), "{path}");
        assert!(p.body.contains("Suivre une migration"), "{path}");
        assert!(!p.body.contains("Track a migration"), "{path}");
        assert!(p.headers.get(header::SET_COOKIE).is_none());
        // ?lang= wins over Accept-Language, and is kept in a cookie.
        let q = if path.contains('?') { "&" } else { "?" };
        let p = get(
            &svc,
            &format!("{path}{q}lang=fr"),
            &[("accept-language", "en")],
        )
        .await;
        assert!(p.body.contains("<html lang=\"fr\">"), "{path}");
        let cookie = p.headers[header::SET_COOKIE].to_str().unwrap();
        assert!(cookie.starts_with("lang=fr;"), "{cookie}");
        // The cookie wins over Accept-Language; ?lang= over the cookie.
        let p = get(
            &svc,
            path,
            &[("cookie", "a=b; lang=fr"), ("accept-language", "en")],
        )
        .await;
        assert!(p.body.contains("<html lang=\"fr\">"), "{path}");
        let p = get(&svc, &format!("{path}{q}lang=en"), &[("cookie", "lang=fr")]).await;
        assert!(p.body.contains("<html lang=\"en\">"), "{path}");
        // The switch to the other language.
        assert!(p.body.contains("href=\"?lang=fr\""), "{path}");
    }
    // The one-account form has its fields in French.
    let p = get(&svc, "/migrate?lang=fr", &[]).await;
    for s in [
        "Adresse du serveur",
        "Mot de passe",
        "Lancer la migration",
        "Compte administrateur avec délégation",
    ] {
        assert!(p.body.contains(s), "{s}");
    }
    // A tracking page never echoes markup from its URL.
    let p = get(&svc, "/track/ab%3Cscript%3E", &[]).await;
    assert!(!p.body.contains("<script>"));
    // The assets, embedded.
    let css = get(&svc, "/static/app.css", &[]).await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let js = get(&svc, "/static/app.js", &[]).await;
    assert!(
        js.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let migrate = get(&svc, "/migrate", &[]).await;
    println!(
        "page weight: /migrate {} B + app.css {} B + app.js {} B",
        migrate.body.len(),
        css.body.len(),
        js.body.len()
    );
}

mod browser;
mod common;
use browser::*;
use common::{count as inbox_count, fill};

/// Fills one side of the one-account form for a plain-IMAP Dovecot account.
async fn fill_side(c: &Client, p: &str, dc: &Dovecot, user: &str, password: &str, host: &str) {
    c.find(Locator::Css(&format!("#{p}-type")))
        .await
        .unwrap()
        .select_by_value("imap")
        .await
        .unwrap();
    assert_eq!(
        c.find(Locator::Css(&format!("#{p}-port")))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("143"),
        "the port follows the server type"
    );
    set(c, &format!("#{p}-host"), host).await;
    set(c, &format!("#{p}-port"), &dc.imap_port.to_string()).await;
    set(c, &format!("#{p}-login"), user).await;
    set(c, &format!("#{p}-password"), password).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_migrate_track_and_purge() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let t0 = Instant::now();
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    fill(&src, "user1", "web", 0..12);
    fill(&src, "user2", "web", 0..3);
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let base = format!("http://{}", serve(&svc).await);
    let d = start_driver(&driver);
    let c = open_browser(&chromium, &d).await;

    // Home, both languages.
    c.goto(&format!("{base}/?lang=en")).await.unwrap();
    assert_eq!(
        text(&c, "h1").await,
        "Move your e-mail, contacts and calendars"
    );
    screenshot(&c, "home-en").await;
    c.goto(&format!("{base}/?lang=fr")).await.unwrap();
    assert_eq!(
        text(&c, "h1").await,
        "Déménagez vos e-mails, contacts et agendas"
    );
    screenshot(&c, "home-fr").await;

    // 1. One account, in English: fill in, start, see the ID.
    c.goto(&format!("{base}/migrate?lang=en")).await.unwrap();
    // A known provider fills in its server.
    c.find(Locator::Css("#src-type option[data-preset=gmail]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(
        &c,
        "return document.querySelector('#src-host').value + ':' + document.querySelector('#src-port').value",
        "imap.gmail.com:993",
        10,
    )
    .await;
    fill_side(&c, "src", &src, "user1", "pass1", "127.0.0.1").await;
    fill_side(&c, "dst", &dst, "user1", "pass1", "127.0.0.1").await;
    set(&c, "#notify", "alice@example.org").await;
    // "Test the connection" says per side what is wrong: a wrong source password first.
    set(&c, "#src-password", "not-it").await;
    click(&c, "#test-conn").await;
    wait_for(&c, "#src-test[data-result]", 20).await;
    assert_eq!(attr(&c, "#src-test", "data-result").await, "auth");
    wait_for(&c, "#dst-test[data-result]", 20).await;
    assert_eq!(attr(&c, "#dst-test", "data-result").await, "ok");
    assert!(
        text(&c, "#src-test")
            .await
            .contains("refused this login or password")
    );
    set(&c, "#src-password", "pass1").await;
    click(&c, "#test-conn").await;
    wait_until(
        &c,
        "return document.querySelector('#src-test').dataset.result || ''",
        "ok",
        20,
    )
    .await;
    // Delegation reveals the admin login; unticked again it is not sent.
    let deleg = c.find(Locator::Css("#src-deleg")).await.unwrap();
    deleg.click().await.unwrap();
    assert!(
        c.find(Locator::Css("#src-admin"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );
    deleg.click().await.unwrap();
    screenshot(&c, "migrate-en").await;
    c.find(Locator::Css("#submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let id = wait_for(&c, "#new-id", 20).await.text().await.unwrap();
    assert!(id.len() >= 26, "{id}");
    assert!(text(&c, "#mailed").await.contains("alice@example.org"));
    screenshot(&c, "created-en").await;
    // No password left in the page.
    let pw: Vec<String> = c
        .execute(
            "return Array.from(document.querySelectorAll('input[type=password]')).map(i => i.value)",
            vec![],
        )
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    assert!(pw.iter().all(String::is_empty), "{pw:?}");

    // Tracking: status reaches done, the count is the source's.
    c.find(Locator::Css("#track-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&c, "#status[data-status=done]", 60).await;
    let count = c
        .find(Locator::Css(".count[data-kind=mail]"))
        .await
        .unwrap()
        .attr("data-count")
        .await
        .unwrap();
    assert_eq!(count.as_deref(), Some("12"));
    assert_eq!(inbox_count(&dst, "user1"), 12);
    assert_eq!(text(&c, "#status").await, "Done");
    let rows = c.find_all(Locator::Css("#passes tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].text().await.unwrap().contains("12"));
    assert!(
        !c.current_url().await.unwrap().as_str().contains("user1"),
        "the account in the URL"
    );
    screenshot(&c, "tracking-done-en").await;

    // New mail, then Synchronise: sync point 2 copies only it.
    fill(&src, "user1", "web", 100..103);
    click(&c, "#sync").await;
    wait_until(
        &c,
        "return document.querySelector('#status').dataset.status + ' ' + document.querySelectorAll('#passes tbody tr').length",
        "done 2",
        60,
    )
    .await;
    // "Synchronisation started." is gone once the pass has ended (it stayed under the buttons).
    wait_until(
        &c,
        "return document.getElementById('action-msg').textContent",
        "",
        10,
    )
    .await;
    let rows = c.find_all(Locator::Css("#passes tbody tr")).await.unwrap();
    let row2 = rows[1].text().await.unwrap();
    assert!(row2.starts_with("2 Done"), "{row2}");
    assert_eq!(attr(&c, ".count[data-kind=mail]", "data-count").await, "15");
    assert_eq!(inbox_count(&dst, "user1"), 15);

    // Delete migrated items from sync point 2: a wrong password deletes nothing and says so
    // next to the field; the right one first counts, then deletes on confirmation.
    c.find(Locator::Css("#purge-from"))
        .await
        .unwrap()
        .select_by_value("2")
        .await
        .unwrap();
    set(&c, "#purge-password", "wrong").await;
    click(&c, "#purge-check").await;
    let err = wait_for(&c, "#err-purge-password:not(:empty)", 20)
        .await
        .text()
        .await
        .unwrap();
    // Said in the page's words first (the error's code), the server's own after.
    assert!(
        err.starts_with("Destination server — The server refused this login or password. ("),
        "{err}"
    );
    assert_eq!(inbox_count(&dst, "user1"), 15);
    set(&c, "#purge-password", "pass1").await;
    click(&c, "#purge-check").await;
    wait_for(&c, "#purge-count[data-count]", 20).await;
    assert_eq!(attr(&c, "#purge-count", "data-count").await, "3");
    let confirm = text(&c, "#purge-count").await;
    assert!(confirm.contains("3 item(s) will be deleted"), "{confirm}");
    assert_eq!(inbox_count(&dst, "user1"), 15, "the count deleted nothing");
    screenshot(&c, "purge-confirm-en").await;
    click(&c, "#purge-yes").await;
    wait_for(&c, "#purge-result[data-deleted]", 30).await;
    assert_eq!(attr(&c, "#purge-result", "data-deleted").await, "3");
    assert_eq!(inbox_count(&dst, "user1"), 12);
    wait_until(
        &c,
        "return document.querySelector('.count[data-kind=mail]').dataset.count",
        "12",
        10,
    )
    .await;

    // The track form: without the account in this tab, the page asks for it.
    c.execute("sessionStorage.clear()", vec![]).await.unwrap();
    c.goto(&format!("{base}/track/{id}")).await.unwrap();
    wait_for(&c, "#ask:not([hidden])", 10).await;
    set(&c, "#track-account", "user1").await;
    c.find(Locator::Css("#ask button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&c, "#status[data-status=done]", 20).await;
    // A wrong account sees nothing.
    c.execute("sessionStorage.clear()", vec![]).await.unwrap();
    c.goto(&format!("{base}/track?lang=en")).await.unwrap();
    set(&c, "#track-id", &id).await;
    set(&c, "#track-account", "user2").await;
    c.find(Locator::Css("form[data-track-form] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let e = wait_for(&c, "#err-view:not(:empty)", 20)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(e, "No migration with this ID for this account.");
    // ...and no empty tracking view (a blank status, Stop, Synchronise, the deletion form).
    assert!(
        !c.find(Locator::Css("#view"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );
    assert!(
        c.find(Locator::Css("#ask"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );

    // 2. In French: a bad host is refused next to its field, in French.
    c.goto(&format!("{base}/migrate?lang=fr")).await.unwrap();
    assert_eq!(text(&c, "h1").await, "Migrer un compte");
    assert_eq!(text(&c, "#submit").await, "Lancer la migration");
    assert_eq!(
        c.find(Locator::Css("html"))
            .await
            .unwrap()
            .attr("lang")
            .await
            .unwrap()
            .as_deref(),
        Some("fr")
    );
    fill_side(&c, "src", &src, "user2", "pass2", "bad host!").await;
    fill_side(&c, "dst", &dst, "user2", "wrong", "127.0.0.1").await;
    c.find(Locator::Css("#submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let e = wait_for(&c, "#err-src-host:not(:empty)", 10)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(e, "Cette adresse de serveur n'est pas valide.");
    assert_eq!(
        c.find(Locator::Css("#src-host"))
            .await
            .unwrap()
            .attr("aria-invalid")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    assert!(
        !c.find(Locator::Css("#result"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );
    screenshot(&c, "bad-host-fr").await;

    // 3. A wrong destination password: created, then failed, naming the destination.
    set(&c, "#src-host", "127.0.0.1").await;
    c.find(Locator::Css("#submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&c, "#new-id", 20).await;
    c.find(Locator::Css("#track-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&c, "#status[data-status=failed]", 60).await;
    assert_eq!(text(&c, "#status").await, "Échec");
    let why = text(&c, "#status-error").await;
    assert!(why.starts_with("Serveur de destination — "), "{why}");
    assert_eq!(inbox_count(&dst, "user2"), 0);
    screenshot(&c, "tracking-failed-fr").await;

    // A phone-sized screen: the form fits its width.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{base}/migrate?lang=fr")).await.unwrap();
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        overflow.as_i64(),
        Some(0),
        "horizontal scrolling on a phone"
    );
    screenshot(&c, "migrate-phone-fr").await;

    c.close().await.unwrap();
    svc.shut_down();
    println!("browser test: {:.1} s", t0.elapsed().as_secs_f64());
}

/// What the pages rely on in the API: a bad host is refused on `source.url` (shown next to the
/// host field), and the purge's `dry_run` is documented in the OpenAPI document.
#[tokio::test]
async fn the_api_refuses_a_bad_host_and_documents_purge_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let body = serde_json::json!({
        "source": {"url": "imap://alice%40example.org@bad host!:143", "password": "x"},
        "destination": {"url": "imaps://alice%40example.org@imap.example.net", "password": "y"},
    });
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/migrations")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let res = router(Arc::clone(&svc)).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["field"], "source.url", "{v}");
    assert!(v["error"].as_str().unwrap().contains("host"), "{v}");

    let p = get(&svc, "/api/v1/openapi.json", &[]).await;
    let doc: serde_json::Value = serde_json::from_str(&p.body).unwrap();
    let dry = &doc["components"]["schemas"]["PurgeRequest"]["properties"]["dry_run"];
    assert_eq!(dry["type"], "boolean", "{dry}");
}

async fn post_form(svc: &Arc<Service>, uri: &str, form: &[(&str, &str)], lang: &str) -> Page {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let req = Request::builder()
        .method("POST")
        .uri(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept-language", lang)
        .body(Body::from(body))
        .unwrap();
    let res = router(Arc::clone(svc)).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Page {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// The one-account form also works without JavaScript: errors next to their fields in the
/// page's language (the values kept, never the passwords), and a valid form creates the
/// migration, which then runs to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_works_without_javascript() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    fill(&src, "user3", "web", 0..5);
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let sp = src.imap_port.to_string();
    let dp = dst.imap_port.to_string();
    let form = |host: &'static str, src_pw: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("src_type", "imap".into()),
            ("src_host", host.into()),
            ("src_port", sp.clone()),
            ("src_login", "user3".into()),
            ("src_password", src_pw.into()),
            ("dst_type", "imap".into()),
            ("dst_host", "127.0.0.1".into()),
            ("dst_port", dp.clone()),
            ("dst_login", "user3".into()),
            ("dst_password", "pass3".into()),
            ("content", "mail".into()),
            ("notify", "bob@example.org".into()),
            ("when", "now".into()),
        ]
    };
    let send = |v: Vec<(&'static str, String)>, lang: &'static str| {
        let svc = Arc::clone(&svc);
        async move {
            let pairs: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(&svc, "/migrate", &pairs, lang).await
        }
    };

    // A bad host, in French: next to the host field, the login kept, the password not.
    let p = send(form("bad host!", "pass3"), "fr").await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("<html lang=\"fr\">"));
    assert!(
        p.body
            .contains("id=\"err-src-host\">Cette adresse de serveur n&#39;est pas valide.</p>")
            || p.body.contains(
                "id=\"err-src-host\">Cette adresse de serveur n&#x27;est pas valide.</p>"
            ),
        "{}",
        p.body
    );
    assert!(p.body.contains("value=\"bad host!\" aria-invalid=\"true\""));
    assert!(p.body.contains("Certains champs sont à corriger."));
    assert!(!p.body.contains("pass3"), "a password echoed");
    // A missing password, in English.
    let p = send(form("127.0.0.1", ""), "en").await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p.body
            .contains("id=\"err-src-password\">This field is required.</p>"),
        "{}",
        p.body
    );
    // Valid: created, and the migration runs to the end.
    let p = send(form("127.0.0.1", "pass3"), "en").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(
        p.body
            .contains("The ID is also sent by e-mail to bob@example.org.")
    );
    let id = p
        .body
        .split("id=\"new-id\" class=\"big\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_string();
    assert!(p.body.contains(&format!("href=\"/track/{id}\"")));
    let start = Instant::now();
    loop {
        let m = get(
            &svc,
            &format!("/api/v1/migrations/{id}"),
            &[("x-passeur-account", "user3")],
        )
        .await;
        let v: serde_json::Value = serde_json::from_str(&m.body).unwrap();
        if v["status"] == "done" {
            assert_eq!(v["items"], 5, "{v}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(inbox_count(&dst, "user3"), 5);
    svc.shut_down();
}

/// One tus request through the router.
async fn tus_call(
    svc: &Arc<Service>,
    method: &str,
    uri: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> axum::http::Response<Body> {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("tus-resumable", "1.0.0");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    router(Arc::clone(svc))
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap()
}

/// The file page: an upload begun earlier (half of a PST, its URL in localStorage as the page
/// keeps it) goes on from the server's offset after a reload, then the import runs to its end
/// and the tracking page follows it, with Synchronise disabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_file_upload_resumes_after_a_reload_and_imports() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let base = format!("http://{}", serve(&svc).await);
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/pst/PstReader__simiden_pst2john_97_outlook_pass12345.pst")
        .canonicalize()
        .unwrap();
    let data = std::fs::read(&file).unwrap();
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    let mtime_ms = std::fs::metadata(&file)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    // Half of it sent before "the reload".
    use base64::Engine as _;
    let meta = format!(
        "filename {}",
        base64::engine::general_purpose::STANDARD.encode(&name)
    );
    let r = tus_call(
        &svc,
        "POST",
        "/api/v1/uploads",
        &[
            ("upload-length", data.len().to_string()),
            ("upload-metadata", meta),
        ],
        vec![],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let half = data.len() / 2;
    let r = tus_call(
        &svc,
        "PATCH",
        &loc,
        &[
            ("content-type", "application/offset+octet-stream".into()),
            ("upload-offset", "0".into()),
        ],
        data[..half].to_vec(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    let d = start_driver(&driver);
    let c = open_browser(&chromium, &d).await;
    c.goto(&format!("{base}/?lang=en")).await.unwrap();
    click(&c, "a[href='/file']").await;
    wait_for(&c, "#upload-form", 10).await;
    c.execute(
        "localStorage.setItem(arguments[0], arguments[1])",
        vec![
            serde_json::json!(format!("passeur.upload.{name}:{}:{mtime_ms}", data.len())),
            serde_json::json!(loc),
        ],
    )
    .await
    .unwrap();
    c.refresh().await.unwrap();
    c.find(Locator::Css("#file"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    click(&c, "#upload").await;
    wait_until(
        &c,
        "return String(document.getElementById('import-form').hidden)",
        "false",
        60,
    )
    .await;
    assert_eq!(text(&c, "#up-status").await, "The file is sent.");
    screenshot(&c, "file-uploaded-en").await;
    // The upload begun before the reload is the one completed: nothing sent twice.
    let id = loc.rsplit('/').next().unwrap();
    let u = svc.store().upload(id).await.unwrap().unwrap();
    assert_eq!(u.received, data.len() as u64);
    assert_eq!(std::fs::read(&u.path).unwrap(), data);

    c.find(Locator::Css("#dst-type"))
        .await
        .unwrap()
        .select_by_value("imap")
        .await
        .unwrap();
    set(&c, "#dst-host", "127.0.0.1").await;
    set(&c, "#dst-port", &dst.imap_port.to_string()).await;
    set(&c, "#dst-login", "user1").await;
    set(&c, "#dst-password", "pass1").await;
    click(&c, "#start").await;
    let mid = wait_for(&c, "#new-id", 20).await.text().await.unwrap();
    assert!(mid.len() >= 26, "{mid}");
    // The upload is the import's, and no longer the page's to resume.
    let stored = c
        .execute("return localStorage.length", vec![])
        .await
        .unwrap();
    assert_eq!(stored, serde_json::json!(0));
    click(&c, "#track-link").await;
    wait_for(&c, "#status[data-status=done]", 90).await;
    assert_eq!(attr(&c, "#sync", "disabled").await, "true");
    screenshot(&c, "file-tracking-en").await;
    // What the PST holds is in the account.
    let mut m = Imap::login(&dst.imap_addr(), "user1", "pass1").unwrap();
    let mut n = 0;
    for f in m.list().unwrap() {
        if f.selectable() {
            n += m.select(&f.name, true).unwrap();
        }
    }
    m.logout();
    let pst = passeur_pst::PstFile::open(&file).unwrap();
    let mut want = 0;
    for f in pst.folders().unwrap() {
        if f.in_ipm_subtree && f.kind() == passeur_pst::FolderKind::Mail {
            want += pst
                .items(&f)
                .flatten()
                .filter(|i| matches!(i.content, passeur_pst::ItemContent::Mail { .. }))
                .count() as u32;
        }
    }
    assert!(want > 0);
    assert_eq!(n, want);
}

/// The file page refuses a file of another type before sending it, saying why in the page's
/// language: a name no import reads at once, content that cannot be that type at the first
/// chunk (the whole file used to go up, and the import refused it after).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_a_file_of_another_type_is_refused_before_it_is_sent() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let base = format!("http://{}", serve(&svc).await);
    let files = tempfile::tempdir().unwrap();
    let txt = files.path().join("notes.txt");
    std::fs::write(&txt, "BEGIN:VCALENDAR\r\n").unwrap();
    let fake = files.path().join("photo.pst");
    std::fs::write(&fake, [0x89u8, b'P', b'N', b'G', 0, 0, 0, 0].repeat(100)).unwrap();
    let d = start_driver(&driver);
    let c = open_browser(&chromium, &d).await;
    for (lang, file, key) in [
        ("fr", &txt, "js.up.type"),
        ("en", &txt, "js.up.type"),
        ("fr", &fake, "js.up.content"),
        ("en", &fake, "js.up.content"),
    ] {
        c.goto(&format!("{base}/file?lang={lang}")).await.unwrap();
        wait_for(&c, "#upload-form", 10).await;
        c.find(Locator::Css("#file"))
            .await
            .unwrap()
            .send_keys(file.to_str().unwrap())
            .await
            .unwrap();
        click(&c, "#upload").await;
        let want = passeur_server::web::i18n::Tr(
            passeur_server::web::i18n::Lang::from_code(lang).unwrap(),
        )
        .t(key);
        wait_until(
            &c,
            "return document.getElementById('err-file').textContent",
            want,
            20,
        )
        .await;
        assert_eq!(
            attr(&c, "#import-form", "hidden").await,
            "true",
            "{lang} {file:?}"
        );
    }
    // Nothing of either file was kept.
    let uploads = svc
        .store()
        .expired_uploads(&passeur_jobs::this_node(), i64::MAX)
        .await
        .unwrap();
    assert_eq!(uploads.len(), 2, "the two with a PST's name: {uploads:?}");
    let total: u64 = uploads.iter().map(|u| u.received).sum();
    assert_eq!(total, 0);
}

/// Notes about items that arrived changed (here: a calendar file cut short before its
/// END:VCALENDAR, whose events all arrive) are in the API's view of the migration and on its
/// tracking page, in both languages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_notes_are_in_the_api_and_on_the_tracking_page() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let rad =
        passeur_testkit::Radicale::start(passeur_testkit::RadicaleOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let base = format!("http://{}", serve(&svc).await);
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//passeur test//EN\r\n\
        BEGIN:VEVENT\r\nUID:note-1@passeur.test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\nDTEND:20260105T100000Z\r\nSUMMARY:one\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:note-2@passeur.test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260106T090000Z\r\nDTEND:20260106T100000Z\r\nSUMMARY:two\r\nEND:VEVENT\r\n";
    use base64::Engine as _;
    let r = tus_call(
        &svc,
        "POST",
        "/api/v1/uploads",
        &[
            ("upload-length", ics.len().to_string()),
            (
                "upload-metadata",
                format!(
                    "filename {}",
                    base64::engine::general_purpose::STANDARD.encode("agenda.ics")
                ),
            ),
        ],
        vec![],
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let r = tus_call(
        &svc,
        "PATCH",
        &loc,
        &[
            ("content-type", "application/offset+octet-stream".into()),
            ("upload-offset", "0".into()),
        ],
        ics.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (st, v) = common::call_json(
        &svc,
        "POST",
        "/api/v1/imports",
        None,
        Some(serde_json::json!({"upload": loc, "destination": {
            "url": "imap://user1@127.0.0.1:1", "password": "pass1", "dav": format!("{}/", rad.url())}})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let start = Instant::now();
    let v = loop {
        let (st, v) = common::call_json(
            &svc,
            "GET",
            &format!("/api/v1/migrations/{id}"),
            Some("user1"),
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        if v["status"] == "done" || v["status"] == "failed" {
            break v;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Both events arrived; the file's note is in the view.
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["passes"][0]["copied"], 2, "{v}");
    assert_eq!(v["failures"], serde_json::json!([]), "{v}");
    let notes = v["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "{v}");
    let n = &notes[0];
    assert_eq!(n["kind"], "calendars", "{n}");
    assert_eq!(n["folder"], "agenda.ics", "{n}");
    assert_eq!(n["item"], "line:1", "{n}");
    assert_eq!(n["repaired"], false, "{n}");
    assert_eq!(n["note"], "the input ended before END:VCALENDAR", "{n}");
    // Its kind and values, for a page to say it in its own language.
    assert_eq!(n["code"], "input_ended", "{n}");
    assert_eq!(n["params"], serde_json::json!({"comp": "VCALENDAR"}), "{n}");

    // A note of a kind the pages do not know (a later engine's words): shown as it is.
    svc.store()
        .record_notes(
            id.parse().unwrap(),
            &[passeur_store::ItemNote {
                pass: 1,
                kind: passeur_types::ContentKind::Calendars,
                folder: "agenda.ics".into(),
                src_key: "note-2@passeur.test".into(),
                repaired: true,
                note: "a sentence no page knows yet".into(),
            }],
        )
        .await
        .unwrap();

    let d = start_driver(&driver);
    let c = open_browser(&chromium, &d).await;
    for (lang, line, other) in [
        (
            "en",
            "[Calendars] agenda.ics line 1 — note: the input ended before END:VCALENDAR",
            "[Calendars] agenda.ics note-2@passeur.test — repaired: a sentence no page knows yet",
        ),
        (
            "fr",
            "[Agendas] agenda.ics ligne 1 — remarque : le fichier s'arrête avant END:VCALENDAR",
            "[Agendas] agenda.ics note-2@passeur.test — réparé : a sentence no page knows yet",
        ),
    ] {
        c.goto(&format!("{base}/track/{id}?lang={lang}"))
            .await
            .unwrap();
        c.execute(
            "sessionStorage.setItem('passeur.account.' + arguments[0], 'user1')",
            vec![serde_json::json!(id)],
        )
        .await
        .unwrap();
        c.refresh().await.unwrap();
        wait_for(&c, "#status[data-status=done]", 30).await;
        wait_until(
            &c,
            "return String(document.getElementById('notes-section').hidden)",
            "false",
            10,
        )
        .await;
        assert_eq!(text(&c, "#notes li[data-code=input_ended]").await, line);
        assert_eq!(text(&c, "#notes li[data-code=other]").await, other);
        c.execute(
            "document.getElementById('notes-section').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
        screenshot(&c, &format!("tracking-notes-{lang}")).await;
    }
    c.close().await.unwrap();
    svc.shut_down();
}

/// Waits until migration `id` (tracked with `account`) is in `status`; its view then.
async fn wait_status(
    svc: &Arc<Service>,
    id: &str,
    account: &str,
    status: &str,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let m = get(
            svc,
            &format!("/api/v1/migrations/{id}"),
            &[("x-passeur-account", account)],
        )
        .await;
        let v: serde_json::Value = serde_json::from_str(&m.body).unwrap();
        if v["status"] == status && v["passes"].as_array().is_some_and(|p| !p.is_empty()) {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not {status}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The one-account form offers POP3 for the source (never the destination), as the API and the
/// project pages do: a POP3 mailbox chosen in the French page goes into the destination's
/// INBOX, and the notifications are in the page's language even though the browser asks for
/// English (the script used to leave the language to `Accept-Language`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_pop3_source_in_the_french_form() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let src = Dovecot::start(DovecotOptions {
        pop3: true,
        ..Default::default()
    })
    .unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    fill(&src, "user2", "pop", 0..4);
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let base = format!("http://{}", serve(&svc).await);
    let d = start_driver(&driver);
    // Chromium asks for English (--lang=en-US); the page is French by choice.
    let c = open_browser(&chromium, &d).await;
    c.goto(&format!("{base}/migrate?lang=fr")).await.unwrap();
    assert!(
        c.find_all(Locator::Css("#dst-type option[value^=pop3]"))
            .await
            .unwrap()
            .is_empty(),
        "POP3 offered as a destination"
    );
    assert!(
        !c.find(Locator::Css("#src-type-hint"))
            .await
            .unwrap()
            .is_displayed()
            .await
            .unwrap()
    );
    c.find(Locator::Css("#src-type"))
        .await
        .unwrap()
        .select_by_value("pop3")
        .await
        .unwrap();
    wait_until(
        &c,
        "return document.querySelector('#src-port').value",
        "110",
        5,
    )
    .await;
    assert!(
        text(&c, "#src-type-hint")
            .await
            .starts_with("POP3 : la boîte de réception seulement")
    );
    set(&c, "#src-host", "127.0.0.1").await;
    set(&c, "#src-port", &src.pop3_port.unwrap().to_string()).await;
    set(&c, "#src-login", "user2").await;
    set(&c, "#src-password", "pass2").await;
    fill_side(&c, "dst", &dst, "user2", "pass2", "127.0.0.1").await;
    set(&c, "#notify", "claire@example.org").await;
    screenshot(&c, "migrate-pop3-fr").await;
    click(&c, "#submit").await;
    let id = wait_for(&c, "#new-id", 20).await.text().await.unwrap();
    // Two "identifiants" (the migration's and the login) are told apart.
    assert!(
        text(&c, "#result")
            .await
            .contains("avec l'identifiant de connexion du compte source, il permet")
    );
    let v = wait_status(&svc, &id, "user2", "done").await;
    assert!(
        v["source"]
            .as_str()
            .unwrap()
            .starts_with("pop3://user2@127.0.0.1:"),
        "{v}"
    );
    assert_eq!(v["items"], 4, "{v}");
    assert_eq!(inbox_count(&dst, "user2"), 4);
    let store = Store::open(&dir.path().join("passeur.db")).await.unwrap();
    let meta = store.service_meta(id.parse().unwrap()).await.unwrap();
    assert_eq!(meta.lang, "fr", "the notifications' language");
    c.close().await.unwrap();
    svc.shut_down();
}

/// The same form without JavaScript takes a POP3 source too (and never a POP3 destination).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_without_javascript_takes_a_pop3_source() {
    let src = Dovecot::start(DovecotOptions {
        pop3: true,
        ..Default::default()
    })
    .unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    fill(&src, "user3", "pop", 0..3);
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let page = get(&svc, "/migrate?lang=en", &[]).await;
    assert!(page.body.contains("POP3 without encryption (port 110)"));
    let sp = src.pop3_port.unwrap().to_string();
    let dp = dst.imap_port.to_string();
    let form = [
        ("src_type", "pop3"),
        ("src_host", "127.0.0.1"),
        ("src_port", sp.as_str()),
        ("src_login", "user3"),
        ("src_password", "pass3"),
        ("dst_type", "imap"),
        ("dst_host", "127.0.0.1"),
        ("dst_port", dp.as_str()),
        ("dst_login", "user3"),
        ("dst_password", "pass3"),
        ("content", "mail"),
        ("when", "now"),
    ];
    let p = post_form(&svc, "/migrate", &form, "en").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let id = p
        .body
        .split("id=\"new-id\" class=\"big\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_string();
    let v = wait_status(&svc, &id, "user3", "done").await;
    assert!(
        v["source"]
            .as_str()
            .unwrap()
            .starts_with("pop3://user3@127.0.0.1:"),
        "{v}"
    );
    assert_eq!(inbox_count(&dst, "user3"), 3);
    svc.shut_down();
}

/// A migration that is not running shows how far it got: failed on a full destination, its
/// bar and count say N of the total the pass found (they were an empty bar and "N item(s)"),
/// and Synchronise is offered as Resume, which is what it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_a_failed_migration_shows_how_far_it_got() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    // Room for about a third of the mail.
    let dst = Dovecot::start(DovecotOptions {
        quota_bytes: Some(1_000_000),
        ..Default::default()
    })
    .unwrap();
    let mut i = Imap::login(&src.imap_addr(), "user1", "pass1").unwrap();
    let line = "a line of a large message, long enough to weigh something.......\r\n";
    for n in 0..40 {
        let body = format!(
            "Subject: big {n}\r\nMessage-ID: <big{n}@x>\r\n\r\n{}",
            line.repeat(1_200)
        );
        i.append("INBOX", &[], None, body.as_bytes()).unwrap();
    }
    i.logout();
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let body = serde_json::json!({
        "source": {"url": common::imap_url(&src, "user1"), "password": "pass1"},
        "destination": {"url": common::imap_url(&dst, "user1"), "password": "pass1"},
    });
    let (st, v) = common::call_json(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let m = wait_status(&svc, &id, "user1", "failed").await;
    let copied = m["items"].as_u64().unwrap();
    assert!((1..40).contains(&copied), "{m}");
    let share = (copied * 100 / 40).to_string();

    let base = format!("http://{}", serve(&svc).await);
    let d = start_driver(&driver);
    let c = open_browser(&chromium, &d).await;
    c.goto(&format!("{base}/track?lang=en")).await.unwrap();
    set(&c, "#track-id", &id).await;
    set(&c, "#track-account", "user1").await;
    click(&c, ".track-form button[type=submit]").await;
    wait_for(&c, "#status[data-status=failed]", 20).await;
    let bar = "return document.getElementById('bar-mail').value + ' ' + document.querySelector('.count[data-kind=mail]').textContent + ' ' + document.getElementById('sync').textContent";
    wait_until(
        &c,
        bar,
        &format!("{share} {copied} of 40 item(s) Resume"),
        10,
    )
    .await;
    assert!(
        text(&c, "#sync-hint")
            .await
            .starts_with("Goes on where the last pass ended")
    );
    screenshot(&c, "tracking-failed-partial-en").await;
    // The French page says the same.
    c.goto(&format!("{base}/track/{id}?lang=fr")).await.unwrap();
    wait_for(&c, "#status[data-status=failed]", 20).await;
    wait_until(
        &c,
        bar,
        &format!("{share} {copied} élément(s) sur 40 Reprendre"),
        10,
    )
    .await;
    c.close().await.unwrap();
    svc.shut_down();
}

/// A wrong destination password is corrected on the tracking page: a password the server
/// refuses is said next to its field (in the page's language) and not kept; the right one is
/// checked and kept, and Synchronise then copies. The page had no way to change it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_a_wrong_password_is_corrected_on_the_tracking_page() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    fill(&src, "user1", "pw", 0..4);
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let body = serde_json::json!({
        "source": {"url": common::imap_url(&src, "user1"), "password": "pass1"},
        "destination": {"url": common::imap_url(&dst, "user1"), "password": "typo"},
    });
    let (st, v) = common::call_json(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    wait_status(&svc, &id, "user1", "failed").await;

    let base = format!("http://{}", serve(&svc).await);
    let d = start_driver(&driver);
    let c = open_browser(&chromium, &d).await;
    c.goto(&format!("{base}/track?lang=fr")).await.unwrap();
    set(&c, "#track-id", &id).await;
    set(&c, "#track-account", "user1").await;
    click(&c, ".track-form button[type=submit]").await;
    wait_for(&c, "#status[data-status=failed]", 20).await;
    let t = passeur_server::web::i18n::Tr(passeur_server::web::i18n::Lang::Fr);
    set(&c, "#creds-dst", "still-a-typo").await;
    click(&c, "#creds-save").await;
    wait_until(
        &c,
        "return document.getElementById('err-creds-dst').textContent",
        t.t("js.creds.refused"),
        30,
    )
    .await;
    set(&c, "#creds-dst", "pass1").await;
    click(&c, "#creds-save").await;
    wait_until(
        &c,
        "return document.getElementById('creds-result').textContent",
        t.t("js.creds.saved"),
        30,
    )
    .await;
    // Not left in the page.
    wait_until(
        &c,
        "return document.getElementById('creds-dst').value",
        "",
        5,
    )
    .await;
    click(&c, "#sync").await;
    wait_for(&c, "#status[data-status=done]", 60).await;
    assert_eq!(inbox_count(&dst, "user1"), 4);
    c.close().await.unwrap();
    svc.shut_down();
}
