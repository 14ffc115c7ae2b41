//! "Sign in with …" end to end in a real headless Chromium (fantoccini + chromedriver): the
//! one-account form, the testkit's token server as the provider (its `/authorize` signs the
//! user in at once, or declines), the service's callback, and a migration between private
//! Dovecot accounts whose `oauth2` passdb checks every token at that token server over HTTP.
//! The result is compared byte for byte. No token ever reaches the URL, the page, its
//! storage or its script-readable cookies.
//!
//! The service is registered with the token server under the name of the Microsoft preset, so
//! that the pages offer it as they offer a provider: on choosing "Outlook.com / Microsoft
//! 365" as the server type (whose host and port the test then points at the private Dovecot's
//! TLS port), and never on a plain IMAP server.

use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, Locator};
use passeur_engine::Runner;
use passeur_server::vault::Vault;
use passeur_server::{Service, Settings};
use passeur_store::Store;
use passeur_testkit::{Dovecot, DovecotOptions, OAUTH_CLIENT_ID, TokenServer};

mod browser;
mod common;
use browser::*;
use common::{count as inbox_count, fill};

/// The service on a real socket whose public URL is its own address (the redirect URI).
async fn service_for(dir: &std::path::Path, ts: &TokenServer) -> (Arc<Service>, String) {
    service_with_presets(dir, ts, passeur_net::discover::Presets::built_in()).await
}

/// [`service_for`] with these provider presets.
async fn service_with_presets(
    dir: &std::path::Path,
    ts: &TokenServer,
    presets: passeur_net::discover::Presets,
) -> (Arc<Service>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store = Store::open(&dir.join("passeur.db")).await.unwrap();
    let vault = Vault::open_or_create(&dir.join("secret.key")).unwrap();
    let mut p = passeur_oauth::Provider::new(PROVIDER, &ts.token_url(), OAUTH_CLIENT_ID).unwrap();
    p.authorization_endpoint = Some(format!("{}/authorize", ts.url()).parse().unwrap());
    p.scopes = vec!["mail".into()];
    let settings = Settings {
        allow_private_addresses: true,
        insecure_tls: true,
        public_url: base.clone(),
        oauth_providers: vec![p],
        presets,
        ..Default::default()
    };
    let svc = Service::new(Runner::new(store), vault, settings, None);
    tokio::spawn(passeur_server::serve(
        listener,
        Arc::clone(&svc),
        std::future::pending(),
        Duration::from_secs(2),
    ));
    (svc, base)
}

/// The preset the token server stands for, and what the pages call it.
const PROVIDER: &str = "microsoft";
const LABEL: &str = "Outlook.com / Microsoft 365";

/// Side `p` of a form: the Microsoft preset, pointed at the private Dovecot's TLS port.
async fn choose_provider(c: &Client, p: &str, dc: &Dovecot, login: &str) {
    c.find(Locator::Css(&format!(
        "#{p}-type option[data-preset={PROVIDER}]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    set(c, &format!("#{p}-host"), "127.0.0.1").await;
    set(
        c,
        &format!("#{p}-port"),
        &dc.imaps_port.unwrap().to_string(),
    )
    .await;
    set(c, &format!("#{p}-login"), login).await;
}

async fn displayed(c: &Client, css: &str) -> bool {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.is_displayed().await.unwrap(),
        Err(_) => false,
    }
}

async fn choose_plain_imap(c: &Client, p: &str, dc: &Dovecot, login: &str) {
    c.find(Locator::Css(&format!("#{p}-type")))
        .await
        .unwrap()
        .select_by_value("imap")
        .await
        .unwrap();
    set(c, &format!("#{p}-host"), "127.0.0.1").await;
    set(c, &format!("#{p}-port"), &dc.imap_port.to_string()).await;
    set(c, &format!("#{p}-login"), login).await;
}

async fn value(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

/// Waits (through page loads and redirects) until `css` is on the page.
async fn arrive(c: &Client, css: &str, secs: u64) -> fantoccini::elements::Element {
    let start = std::time::Instant::now();
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            return e;
        }
        if start.elapsed() > Duration::from_secs(secs) {
            screenshot(c, "timeout").await;
            let url = c
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            panic!("{css} not seen after {secs} s at {url}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whatever the page's script can read: its HTML, URL, storage and cookies.
async fn visible_to_the_page(c: &Client) -> String {
    let v = c
        .execute(
            "return [location.href, document.documentElement.outerHTML, \
             JSON.stringify(localStorage), JSON.stringify(sessionStorage), document.cookie].join('\\n')",
            vec![],
        )
        .await
        .unwrap();
    v.as_str().unwrap_or_default().to_string()
}

/// Whether `s` holds a token of the test token server (`at-N-hex`, `rt-N-hex`) or a code.
fn has_token(s: &str) -> bool {
    ["at-", "rt-", "code-", "code="].iter().any(|p| {
        s.match_indices(p).any(|(i, _)| {
            s[i + p.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit() || p.ends_with('='))
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_signs_in_with_the_provider_and_migrates() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let ts = TokenServer::start().unwrap();
    let dc = Dovecot::start(DovecotOptions {
        users: 2,
        tls: true,
        oauth2_introspection: Some(ts.introspection_url()),
        ..DovecotOptions::default()
    })
    .unwrap();
    fill(&dc, "user1", "signin", 0..9);
    let dir = tempfile::tempdir().unwrap();
    let (_svc, base) = service_for(dir.path(), &ts).await;
    let d = start_driver(&driver);
    let c = open_browser(&chromium, &d).await;

    // In French, the user declines at the provider: the form comes back as it was, the
    // error in French.
    ts.set_signing_in(None);
    c.goto(&format!("{base}/migrate?lang=fr")).await.unwrap();
    choose_provider(&c, "src", &dc, "user1").await;
    set(&c, "#notify", "alice@example.org").await;
    click(&c, &format!("#src-oauth button[data-provider={PROVIDER}]")).await;
    // Back with the error: the page at /migrate with the code, the form as it was.
    let start = std::time::Instant::now();
    while !c
        .current_url()
        .await
        .map(|u| u.as_str().contains("oauth_error=denied"))
        .unwrap_or(false)
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no error came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    arrive(&c, "#src-login", 20).await;
    assert_eq!(
        text(&c, "#err-form").await,
        "La connexion a été refusée chez le fournisseur : rien n'a été transmis à ce service."
    );
    assert_eq!(value(&c, "#src-login").await, "user1");
    assert_eq!(value(&c, "#src-preset").await, PROVIDER);
    assert_eq!(value(&c, "#notify").await, "alice@example.org");
    assert!(c.find(Locator::Css("#src-signed")).await.is_err());
    screenshot(&c, "oauth-denied-fr").await;

    // In English, the user signs in.
    ts.set_signing_in(Some("user1"));
    c.goto(&format!("{base}/migrate?lang=en")).await.unwrap();
    // A plain IMAP server has no provider to sign in with: no button, the password asked.
    choose_plain_imap(&c, "src", &dc, "user1").await;
    assert!(
        !displayed(&c, "#src-oauth").await,
        "a sign-in offered for plain IMAP"
    );
    assert!(displayed(&c, "#src-password").await);
    screenshot(&c, "oauth-plain-imap-en").await;
    // The provider's preset: its button replaces the password.
    choose_provider(&c, "src", &dc, "user1").await;
    let button = c
        .find(Locator::Css(&format!(
            "#src-oauth button[data-provider={PROVIDER}]"
        )))
        .await
        .unwrap();
    assert!(button.is_displayed().await.unwrap());
    assert_eq!(
        button.text().await.unwrap(),
        format!("Sign in with {LABEL}")
    );
    assert!(!displayed(&c, "#src-password").await);
    choose_plain_imap(&c, "dst", &dc, "user2").await;
    assert!(!displayed(&c, "#dst-oauth").await);
    set(&c, "#dst-password", "pass2").await;
    button.click().await.unwrap();
    let signed = arrive(&c, "#src-signed-text", 20).await;
    assert_eq!(
        signed.text().await.unwrap(),
        format!("Signed in with {LABEL}.")
    );
    assert_eq!(ts.code_grants(), 1);
    // Back on the form as it was, with no password kept: the destination's is typed again.
    assert_eq!(value(&c, "#src-login").await, "user1");
    assert_eq!(value(&c, "#src-preset").await, PROVIDER);
    assert_eq!(value(&c, "#src-host").await, "127.0.0.1");
    assert_eq!(value(&c, "#dst-login").await, "user2");
    assert_eq!(value(&c, "#dst-type").await, "imap");
    assert_eq!(value(&c, "#dst-password").await, "");
    assert!(c.find(Locator::Css("#src-password")).await.is_err());
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/migrate");
    let seen = visible_to_the_page(&c).await;
    assert!(
        !has_token(&seen),
        "a token or code reachable by the page:\n{seen}"
    );
    assert!(!seen.contains("passeur_signin"), "the cookie is HttpOnly");
    screenshot(&c, "oauth-signed-en").await;

    // The destination signs in too, as user2; the source stays signed in.
    ts.set_signing_in(Some("user2"));
    choose_provider(&c, "dst", &dc, "user2").await;
    click(&c, &format!("#dst-oauth button[data-provider={PROVIDER}]")).await;
    arrive(&c, "#dst-signed-text", 20).await;
    assert!(c.find(Locator::Css("#src-signed-text")).await.is_ok());
    assert_eq!(ts.code_grants(), 2);
    // The connection test logs in with the signed-in tokens too.
    click(&c, "#test-conn").await;
    wait_until(
        &c,
        "return (document.querySelector('#src-test').dataset.result || '') + '/' + (document.querySelector('#dst-test').dataset.result || '')",
        "ok/ok",
        20,
    )
    .await;
    click(&c, "#submit").await;
    let id = wait_for(&c, "#new-id", 20).await.text().await.unwrap();
    assert!(id.len() >= 26, "{id}");
    click(&c, "#track-link").await;
    wait_for(&c, "#status[data-status=done]", 60).await;
    assert_eq!(inbox_count(&dc, "user2"), 9);
    let src = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user1", "pass1").unwrap();
    let dst = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user2", "pass2").unwrap();
    let cmp = passeur_testkit::verify::compare(&src, &dst);
    assert!(cmp.is_exact(), "{}", cmp.summary());
    assert!(
        ts.introspections() >= 2,
        "the source logged in with its token"
    );
    let seen = visible_to_the_page(&c).await;
    assert!(
        !has_token(&seen),
        "a token or code reachable by the page:\n{seen}"
    );

    // Deleting what was copied: the destination's owner confirms by signing in again at the
    // provider it logs in with, instead of typing its password.
    wait_until(
        &c,
        "return String(document.getElementById('purge-oauth').hidden)",
        "false",
        10,
    )
    .await;
    // The destination has no password here: none is asked for.
    assert!(
        !displayed(&c, "#purge-password").await,
        "a password asked of a destination that logs in through its provider"
    );
    ts.set_signing_in(Some("user2"));
    click(
        &c,
        &format!("#purge-oauth button[data-provider={PROVIDER}]"),
    )
    .await;
    let signed = arrive(&c, "#purge-signed-text", 20).await;
    assert_eq!(
        signed.text().await.unwrap(),
        format!("Signed in with {LABEL}.")
    );
    assert!(!displayed(&c, "#purge-password").await);
    assert_eq!(ts.code_grants(), 3);
    wait_for(&c, "#status[data-status=done]", 20).await;
    click(&c, "#purge-check").await;
    wait_for(&c, "#purge-confirm:not([hidden])", 20).await;
    assert_eq!(attr(&c, "#purge-count", "data-count").await, "9");
    click(&c, "#purge-yes").await;
    wait_for(&c, "#purge-result[data-state=done]", 60).await;
    assert_eq!(inbox_count(&dc, "user2"), 0);
    assert_eq!(inbox_count(&dc, "user1"), 9, "the source is never touched");
    // The sign-in served that deletion: the page says so at once (no reload), asking again
    // for a new sign-in (the destination has no password to type).
    wait_until(
        &c,
        "return String(document.getElementById('purge-signed').hidden)",
        "true",
        10,
    )
    .await;
    assert!(!displayed(&c, "#purge-password").await);
    assert!(
        displayed(
            &c,
            &format!("#purge-oauth button[data-provider={PROVIDER}]")
        )
        .await
    );
    // Nothing migrated is left: the Mail bar is empty and says 0.
    wait_until(
        &c,
        "return document.querySelector('.count[data-kind=mail]').dataset.count + ' ' + document.getElementById('bar-mail').value",
        "0 0",
        10,
    )
    .await;
    assert_eq!(
        text(&c, ".count[data-kind=mail]").await,
        "0 item(s) migrated"
    );
    // Both sides sign in with their provider: no password to change, no form for it.
    assert!(!displayed(&c, "#creds").await);
    let seen = visible_to_the_page(&c).await;
    assert!(
        !has_token(&seen),
        "a token or code reachable by the page:\n{seen}"
    );
    screenshot(&c, "oauth-purged-en").await;

    // The sign-in served that migration: the form asks again.
    c.goto(&format!("{base}/migrate?lang=en")).await.unwrap();
    assert!(c.find(Locator::Css("#src-signed")).await.is_err());
    c.close().await.unwrap();
}

/// The messages of all folders of `user`.
fn all_messages(dc: &Dovecot, user: &str, password: &str) -> u32 {
    let mut m = passeur_testkit::imapwire::Client::login(&dc.imap_addr(), user, password).unwrap();
    let mut n = 0;
    for f in m.list().unwrap() {
        if f.selectable() {
            n += m.select(&f.name, true).unwrap();
        }
    }
    m.logout();
    n
}

/// The file page (in French): a PST sent, the destination signed in with the provider instead
/// of a password (its form, the upload included, kept across the trip), and the import done
/// with that token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_file_page_signs_in_its_destination() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let ts = TokenServer::start().unwrap();
    let dc = Dovecot::start(DovecotOptions {
        users: 1,
        tls: true,
        oauth2_introspection: Some(ts.introspection_url()),
        ..DovecotOptions::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_svc, base) = service_for(dir.path(), &ts).await;
    let file = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/pst/PstReader__simiden_pst2john_97_outlook_pass12345.pst")
        .canonicalize()
        .unwrap();
    let d = start_driver(&driver);
    let c = open_browser(&chromium, &d).await;
    c.goto(&format!("{base}/file?lang=fr")).await.unwrap();
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
    // A login at the provider's domain with no server given yet: its preset, and its sign-in.
    set(&c, "#dst-login", "alice@outlook.com").await;
    click(&c, "#notify").await;
    wait_until(
        &c,
        "return document.getElementById('dst-preset').value",
        PROVIDER,
        10,
    )
    .await;
    assert_eq!(value(&c, "#dst-host").await, "outlook.office365.com");
    assert!(displayed(&c, &format!("#dst-oauth button[data-provider={PROVIDER}]")).await);
    // A plain server: the password, no sign-in.
    choose_plain_imap(&c, "dst", &dc, "user1").await;
    assert!(!displayed(&c, "#dst-oauth").await);
    assert!(displayed(&c, "#dst-password").await);
    // The provider's preset: the sign-in instead of the password; starting without it says so.
    choose_provider(&c, "dst", &dc, "user1").await;
    assert!(!displayed(&c, "#dst-password").await);
    click(&c, "#start").await;
    assert_eq!(
        text(&c, "#err-form").await,
        "Connectez-vous chez le fournisseur (le bouton ci-dessous), ou choisissez un autre type de serveur."
    );
    ts.set_signing_in(Some("user1"));
    click(&c, &format!("#dst-oauth button[data-provider={PROVIDER}]")).await;
    let signed = arrive(&c, "#dst-signed-text", 20).await;
    assert_eq!(
        signed.text().await.unwrap(),
        format!("Connecté avec {LABEL}.")
    );
    assert_eq!(ts.code_grants(), 1);
    // The form as it was: the file already sent, the server and login kept.
    wait_until(
        &c,
        "return String(document.getElementById('import-form').hidden)",
        "false",
        10,
    )
    .await;
    assert_eq!(value(&c, "#dst-preset").await, PROVIDER);
    assert_eq!(value(&c, "#dst-host").await, "127.0.0.1");
    assert_eq!(value(&c, "#dst-login").await, "user1");
    assert!(c.find(Locator::Css("#dst-password")).await.is_err());
    let seen = visible_to_the_page(&c).await;
    assert!(
        !has_token(&seen),
        "a token or code reachable by the page:\n{seen}"
    );
    screenshot(&c, "oauth-file-signed-fr").await;
    let before = ts.introspections();
    click(&c, "#start").await;
    wait_for(&c, "#new-id", 20).await;
    click(&c, "#track-link").await;
    wait_for(&c, "#status[data-status=done]", 90).await;
    assert!(
        all_messages(&dc, "user1", "pass1") > 0,
        "the PST's mail arrived"
    );
    assert!(
        ts.introspections() > before,
        "the import logged in with the token"
    );
    // A file's import into a destination that signs in has no password to change at all.
    assert!(!displayed(&c, "#creds").await);
    screenshot(&c, "oauth-file-done-fr").await;
    c.close().await.unwrap();
}

/// A project's "Add" tab: the source signed in with the provider on the dashboard (the
/// session cookie is `SameSite=Strict`: the way back from the provider lands on the
/// dashboard, not on the login page), the account added with that token and migrated.
/// The password of the projects these tests make.
const PASSWORD: &str = "Project-pass-1";

/// A new project (its pages in `lang`); its ID.
async fn new_project(svc: &Arc<Service>, lang: &str) -> String {
    let (st, v) = common::call_json(
        svc,
        "POST",
        "/api/v1/projects",
        None,
        Some(serde_json::json!({"name": "Acme", "password": PASSWORD, "lang": lang})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_project_add_tab_signs_in_a_source() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let ts = TokenServer::start().unwrap();
    let dc = Dovecot::start(DovecotOptions {
        users: 2,
        tls: true,
        oauth2_introspection: Some(ts.introspection_url()),
        ..DovecotOptions::default()
    })
    .unwrap();
    fill(&dc, "user1", "project", 0..5);
    let dir = tempfile::tempdir().unwrap();
    let (svc, base) = service_for(dir.path(), &ts).await;
    let id = new_project(&svc, "en").await;
    let d = start_driver(&driver);
    let c = open_browser(&chromium, &d).await;
    c.goto(&format!("{base}/project/login?lang=en&id={id}"))
        .await
        .unwrap();
    set(&c, "#pj-password", PASSWORD).await;
    click(&c, "#pj-login").await;
    wait_until(&c, "return document.body.dataset.page", "project", 10).await;

    // A plain server: no sign-in offered.
    choose_plain_imap(&c, "src", &dc, "user1").await;
    assert!(!displayed(&c, "#src-oauth").await);
    assert!(displayed(&c, "#src-password").await);
    choose_provider(&c, "src", &dc, "user1").await;
    assert!(!displayed(&c, "#src-password").await);
    choose_plain_imap(&c, "dst", &dc, "user2").await;
    set(&c, "#dst-password", "pass2").await;
    // Adding without signing in says what is missing.
    click(&c, "#pj-add-go").await;
    assert_eq!(
        text(&c, "#err-pj-add").await,
        "Sign in with the provider (the button below), or choose another server type."
    );
    ts.set_signing_in(Some("user1"));
    let button = c
        .find(Locator::Css(&format!(
            "#src-oauth button[data-provider={PROVIDER}]"
        )))
        .await
        .unwrap();
    assert_eq!(
        button.text().await.unwrap(),
        format!("Sign in with {LABEL}")
    );
    button.click().await.unwrap();
    // The callback's page moves on to the dashboard by itself, which draws the side again:
    // the text is read afresh each time, never through an element of a page gone since.
    wait_until(&c, "return document.body.dataset.page", "project", 20).await;
    wait_until(
        &c,
        "const e = document.querySelector('#src-signed-text'); return e ? e.textContent.trim() : ''",
        &format!("Signed in with {LABEL}."),
        20,
    )
    .await;
    assert_eq!(ts.code_grants(), 1);
    assert_eq!(value(&c, "#src-preset").await, PROVIDER);
    assert_eq!(value(&c, "#src-login").await, "user1");
    assert_eq!(value(&c, "#dst-login").await, "user2");
    assert_eq!(value(&c, "#dst-type").await, "imap");
    assert_eq!(value(&c, "#dst-password").await, "", "no password kept");
    let seen = visible_to_the_page(&c).await;
    assert!(
        !has_token(&seen),
        "a token or code reachable by the page:\n{seen}"
    );
    screenshot(&c, "oauth-project-signed-en").await;
    set(&c, "#dst-password", "pass2").await;
    click(&c, "#pj-add-go").await;
    wait_until(
        &c,
        "return document.getElementById('pj-add-result').textContent.startsWith('Account added')",
        "true",
        20,
    )
    .await;
    // The sign-in served that account: the form asks again for the next one.
    assert!(!displayed(&c, "#src-signed").await);
    assert!(displayed(&c, &format!("#src-oauth button[data-provider={PROVIDER}]")).await);
    wait_until(
        &c,
        "return Array.from(document.querySelectorAll('#pj-rows tr[data-status]')).map(r => r.dataset.status).join(',')",
        "done",
        60,
    )
    .await;
    let src = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user1", "pass1").unwrap();
    let dst = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user2", "pass2").unwrap();
    let cmp = passeur_testkit::verify::compare(&src, &dst);
    assert!(cmp.is_exact(), "{}", cmp.summary());
    screenshot(&c, "oauth-project-added-en").await;

    // Its tracking page: the destination logs in with a password on a plain server, so no
    // "Sign in with …" is offered to confirm a deletion there.
    let added = text(&c, "#pj-add-result").await;
    let mid = added.rsplit(' ').next().unwrap().to_string();
    c.goto(&format!("{base}/track/{mid}?lang=en"))
        .await
        .unwrap();
    c.execute(
        "sessionStorage.setItem('passeur.account.' + arguments[0], 'user1')",
        vec![serde_json::json!(mid)],
    )
    .await
    .unwrap();
    c.refresh().await.unwrap();
    wait_for(&c, "#status[data-status=done]", 30).await;
    assert!(displayed(&c, "#purge-password").await);
    assert!(
        !displayed(&c, "#purge-oauth").await,
        "a sign-in offered for a password destination"
    );
    c.close().await.unwrap();
}

/// A project's CSV row of type Exchange waits for its owner's sign-in. Its tracking page, in
/// French as its owner may read it, shows the wait and offers "Sign in with …" for the source
/// alone; once signed in, "Start the migration" runs it, and the mail arrives exact. The
/// Microsoft preset is played by `localhost`, in this service's presets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_tracking_page_signs_in_a_row_that_waits() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let presets = passeur_net::discover::Presets::with_json(&format!(
        r#"[{{"id": "{PROVIDER}", "name": "{LABEL}", "domains": [],
              "imap": {{"host": "localhost", "port": 993, "security": "tls"}}, "auth": ["oauth2"]}}]"#
    ))
    .unwrap();
    let ts = TokenServer::start().unwrap();
    let dc = Dovecot::start(DovecotOptions {
        users: 2,
        tls: true,
        oauth2_introspection: Some(ts.introspection_url()),
        ..DovecotOptions::default()
    })
    .unwrap();
    fill(&dc, "user1", "waits", 0..4);
    let dir = tempfile::tempdir().unwrap();
    let (svc, base) = service_with_presets(dir.path(), &ts, presets).await;
    let pid = new_project(&svc, "fr").await;
    let (st, v) = common::call_json(
        &svc,
        "POST",
        &format!("/api/v1/projects/{pid}/session"),
        None,
        Some(serde_json::json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let csv = format!(
        "Source Type;Source Server url;Source Login;Source Password;Destination Type;Destination Url;Destination Mail;Destination Password;Source admin;Destination admin\r\n\
         Exchange;imaps://localhost:{};user1;;IMAP;imap://127.0.0.1:{};user2;pass2;;\r\n",
        dc.imaps_port.unwrap(),
        dc.imap_port
    );
    let bulk = {
        use http_body_util::BodyExt as _;
        use tower::ServiceExt as _;
        let req = axum::http::Request::builder()
            .method("POST")
            .uri(format!("/api/v1/projects/{pid}/migrations/bulk"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "text/csv")
            .body(axum::body::Body::from(csv))
            .unwrap();
        let res = passeur_server::router(Arc::clone(&svc))
            .oneshot(req)
            .await
            .unwrap();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
    };
    let mid = bulk["created"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{bulk}"))
        .to_string();

    let d = start_driver(&driver);
    let c = open_browser(&chromium, &d).await;
    c.goto(&format!("{base}/track/{mid}?lang=fr"))
        .await
        .unwrap();
    c.execute(
        "sessionStorage.setItem('passeur.account.' + arguments[0], 'user1')",
        vec![serde_json::json!(mid)],
    )
    .await
    .unwrap();
    c.refresh().await.unwrap();
    wait_for(&c, "#status[data-status=sign_in]", 30).await;
    assert_eq!(text(&c, "#status").await, "En attente d'une connexion");
    assert!(displayed(&c, "#signin-section").await);
    assert!(displayed(&c, "#signin-src").await);
    assert!(
        !displayed(&c, "#signin-dst").await,
        "the destination has its password"
    );
    assert_eq!(text(&c, "#signin-src-login").await, "user1");
    assert_eq!(attr(&c, "#signin-go", "disabled").await, "true");
    assert!(
        !displayed(&c, "#purge").await,
        "a deletion offered before any copy"
    );
    assert!(
        c.find(Locator::Css("#sync"))
            .await
            .unwrap()
            .attr("disabled")
            .await
            .unwrap()
            .is_some(),
        "a sync offered before the sign-in"
    );
    let button = c
        .find(Locator::Css(&format!(
            "#signin-src button[data-provider={PROVIDER}]"
        )))
        .await
        .unwrap();
    assert!(button.is_displayed().await.unwrap());
    assert_eq!(
        button.text().await.unwrap(),
        format!("Se connecter avec {LABEL}")
    );
    // The side that waits for its sign-in has no password to change.
    assert!(!displayed(&c, "#creds-src").await);
    screenshot(&c, "track-signin-waits-fr").await;
    assert_eq!(
        inbox_count(&dc, "user2"),
        0,
        "nothing ran before the sign-in"
    );

    ts.set_signing_in(Some("user1"));
    button.click().await.unwrap();
    // The provider sends the browser back to the tracking page, which shows the side signed in.
    arrive(&c, "#signin-src-done", 20).await;
    wait_until(
        &c,
        "return String(document.getElementById('signin-go').disabled)",
        "false",
        20,
    )
    .await;
    assert_eq!(
        text(&c, "#signin-src-done").await,
        format!("Connecté avec {LABEL}.")
    );
    click(&c, "#signin-go").await;
    wait_for(&c, "#status[data-status=done]", 60).await;
    assert!(!displayed(&c, "#signin-section").await);
    let seen = visible_to_the_page(&c).await;
    assert!(
        !has_token(&seen),
        "a token or code reachable by the page:\n{seen}"
    );
    screenshot(&c, "track-signin-done-fr").await;
    let src = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user1", "pass1").unwrap();
    let dst = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user2", "pass2").unwrap();
    let cmp = passeur_testkit::verify::compare(&src, &dst);
    assert!(cmp.is_exact(), "{}", cmp.summary());
    c.close().await.unwrap();
}
