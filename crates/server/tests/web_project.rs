//! The project pages in a real headless Chromium (fantoccini + chromedriver) against private
//! Dovecot servers: create a project, log in (a wrong password first), bulk-create from a CSV
//! with a bad row (preview, then create), follow the table to the end, pause and resume, and
//! log out; the session cookie stays out of the page's reach. Both languages render.

use std::sync::Arc;
use std::time::Duration;

use fantoccini::Locator;
use passeur_engine::Runner;
use passeur_server::vault::Vault;
use passeur_server::{Service, Settings};
use passeur_store::Store;
use passeur_testkit::imapwire::Client as Imap;
use passeur_testkit::{Dovecot, DovecotOptions};

const PASSWORD: &str = "Br0wser-Project!";

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

mod browser;
mod common;
use browser::*;
use common::{count as inbox_count, fill};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_project_create_login_bulk_pause_and_logout() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    fill(&src, "user1", "pj", 0..14);
    fill(&src, "user2", "pj", 0..9);
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let base = format!("http://{}", serve(&svc).await);
    let d = start_driver(&driver);
    let c = open_browser(&chromium, &d).await;

    // The home page leads to projects.
    c.goto(&format!("{base}/?lang=en")).await.unwrap();
    click(&c, "a[href='/project/new']").await;

    // Create: a weak password is refused next to its field, then the project is made.
    wait_until(&c, "return document.body.dataset.page", "project_new", 10).await;
    set(&c, "#pj-name", "Acme move").await;
    set(&c, "#pj-password", "weakpass").await;
    set(&c, "#pj-notify", "it@acme.example").await;
    set(&c, "#pj-simultaneous", "1").await;
    click(&c, "#pj-create").await;
    wait_until(
        &c,
        "return document.getElementById('err-pj-password').textContent.length > 0",
        "true",
        5,
    )
    .await;
    set(&c, "#pj-password", PASSWORD).await;
    click(&c, "#pj-create").await;
    wait_until(
        &c,
        "return document.getElementById('result').hidden",
        "false",
        10,
    )
    .await;
    let id = text(&c, "#pj-id").await;
    assert_eq!(id.len(), 32, "{id}");
    assert_eq!(
        c.execute(
            "return document.getElementById('pj-password').value",
            vec![]
        )
        .await
        .unwrap(),
        "",
        "the password is cleared once sent"
    );
    screenshot(&c, "project-created-en").await;

    // Log in: a wrong password is said so, then the dashboard.
    click(&c, "#pj-open").await;
    wait_until(&c, "return document.body.dataset.page", "project_login", 10).await;
    assert_eq!(
        c.execute("return document.getElementById('pj-id-in').value", vec![])
            .await
            .unwrap(),
        id.as_str()
    );
    set(&c, "#pj-password", "Wrong-password-1").await;
    click(&c, "#pj-login").await;
    wait_until(
        &c,
        "return document.getElementById('err-form').textContent",
        "Wrong project ID or password.",
        10,
    )
    .await;
    screenshot(&c, "project-login-en").await;
    set(&c, "#pj-password", PASSWORD).await;
    click(&c, "#pj-login").await;
    wait_until(&c, "return document.body.dataset.page", "project", 10).await;
    // The session cookie is HttpOnly: the page cannot read it, and nothing is stored.
    let seen = c
        .execute(
            "return document.cookie + '|' + localStorage.length + '|' + sessionStorage.length",
            vec![],
        )
        .await
        .unwrap();
    let seen = seen.as_str().unwrap();
    assert!(!seen.contains("passeur_project"), "{seen}");
    assert!(seen.ends_with("|0|0"), "{seen}");

    // Pause first, so that the bulk-created migrations wait.
    click(&c, "#pj-pause").await;
    wait_until(
        &c,
        "return document.getElementById('pj-state').dataset.status",
        "paused",
        10,
    )
    .await;

    // Bulk: two good rows and a bad one; the preview names the bad row, creation skips it.
    let csv = format!(
        "Source Type(IMAP/Exchange/POP);Source Server url;Source Login/Mail;Source Password;Destination Type;Destination Url(can be leaved empty if hosted by OVH);Destination Mail;Destination Password;Source admin mail (delegation);Destination Admin Mail (delegation)\n\
         IMAP;imap://127.0.0.1:{s};user1;pass1;IMAP;imap://127.0.0.1:{d};user1;pass1;;\n\
         IMAP;imap://127.0.0.1:{s};user2;pass2;IMAP;imap://127.0.0.1:{d};user2;pass2;;\n\
         Exchange;https://owa.example;user3;pass3;IMAP;imap://127.0.0.1:{d};user3;pass3;;\n",
        s = src.imap_port,
        d = dst.imap_port
    );
    let file = dir.path().join("accounts.csv");
    std::fs::write(&file, csv).unwrap();
    c.find(Locator::Css("#pj-file"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    click(&c, "#pj-preview").await;
    wait_until(
        &c,
        "return document.getElementById('pj-bulk-result').textContent",
        "2 of 3 rows are valid.",
        10,
    )
    .await;
    let errors = text(&c, "#pj-bulk-errors").await;
    // An Exchange row is IMAP (never EWS): a web address is not its server.
    assert!(errors.contains("Row 4, Source Server url"), "{errors}");
    assert!(errors.contains("is a web address"), "{errors}");
    click(&c, "#pj-bulk-create").await;
    wait_until(
        &c,
        "return document.getElementById('pj-bulk-result').textContent",
        "2 migrations created.",
        20,
    )
    .await;
    wait_until(
        &c,
        "return Array.from(document.querySelectorAll('#pj-rows tr[data-status]')).map(r => r.dataset.status).join(',')",
        "paused,paused",
        10,
    )
    .await;
    screenshot(&c, "project-dashboard-paused-en").await;
    assert_eq!(inbox_count(&dst, "user1") + inbox_count(&dst, "user2"), 0);

    // Resume: both run to the end, one at a time.
    click(&c, "#pj-resume").await;
    wait_until(
        &c,
        "return Array.from(document.querySelectorAll('#pj-rows tr[data-status]')).map(r => r.dataset.status).join(',')",
        "done,done",
        90,
    )
    .await;
    screenshot(&c, "project-dashboard-done-en").await;
    assert_eq!(inbox_count(&dst, "user1"), 14);
    assert_eq!(inbox_count(&dst, "user2"), 9);

    // A row's Synchronise copies what is new for that account only.
    let mut imap = Imap::login(&src.imap_addr(), "user2", "pass2").unwrap();
    imap.append(
        "INBOX",
        &[],
        None,
        b"Subject: late\r\nMessage-ID: <late@x>\r\n\r\nlate\r\n",
    )
    .unwrap();
    imap.logout();
    c.execute(
        "document.querySelector('#pj-rows tr:nth-child(2) button[data-action=sync]').click()",
        vec![],
    )
    .await
    .unwrap();
    wait_until(
        &c,
        "return Array.from(document.querySelectorAll('#pj-rows tr[data-status] td.num:nth-child(5)')).map(td => td.textContent).join(',')",
        "14,10",
        60,
    )
    .await;
    assert_eq!(inbox_count(&dst, "user2"), 10);

    // Options: the limit is shown and can be changed.
    assert_eq!(
        c.execute(
            "return document.getElementById('pj-simultaneous').value",
            vec![]
        )
        .await
        .unwrap(),
        "1"
    );
    set(&c, "#pj-simultaneous", "3").await;
    click(&c, "#pj-options-save").await;
    wait_until(
        &c,
        "return document.getElementById('pj-options-result').textContent",
        "Options saved.",
        10,
    )
    .await;

    // Log out: back to the login page, and the dashboard is closed.
    click(&c, "#pj-logout").await;
    wait_until(&c, "return document.body.dataset.page", "project_login", 10).await;
    c.goto(&format!("{base}/project/{id}")).await.unwrap();
    wait_until(&c, "return document.body.dataset.page", "project_login", 10).await;

    // French.
    c.goto(&format!("{base}/project/new?lang=fr"))
        .await
        .unwrap();
    assert_eq!(text(&c, "h1").await, "Créer un projet");
    screenshot(&c, "project-new-fr").await;
    c.goto(&format!("{base}/project/login?lang=fr&id={id}"))
        .await
        .unwrap();
    set(&c, "#pj-password", PASSWORD).await;
    click(&c, "#pj-login").await;
    wait_until(&c, "return document.body.dataset.page", "project", 10).await;
    wait_until(
        &c,
        "return document.getElementById('pj-summary').textContent",
        "2 migrations terminées sur 2.",
        10,
    )
    .await;
    screenshot(&c, "project-dashboard-fr").await;
    // On a phone-sized screen the page does not scroll sideways (the table does, alone).
    c.set_window_size(390, 844).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fits = c
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth",
            vec![],
        )
        .await
        .unwrap();
    screenshot(&c, "project-dashboard-phone").await;
    assert_eq!(fits, true, "the dashboard is wider than a phone");
    c.close().await.unwrap();
}

/// The values of the Options tab as the page shows them: simultaneous, connections, the
/// checked content kinds, the two DAV servers.
const OPTIONS_SHOWN: &str = "return [document.getElementById('pj-simultaneous').value, \
     document.getElementById('pj-connections').value, \
     Array.from(document.querySelectorAll('input[name=pj-content]:checked')).map(c => c.value).join('+'), \
     document.getElementById('pj-src-dav').value, \
     document.getElementById('pj-dst-dav').value].join(' | ')";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_project_options_show_the_saved_values_and_keep_the_new_ones() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let base = format!("http://{}", serve(&svc).await);
    // A project saved with contacts and both DAV servers.
    let (st, v) = common::call_json(
        &svc,
        "POST",
        "/api/v1/projects",
        None,
        Some(serde_json::json!({
            "name": "Options", "password": PASSWORD, "lang": "en",
            "options": {"simultaneous": 4, "connections": 3, "content": ["mail", "contacts"],
                        "source_dav": "https://dav.old.example/", "destination_dav": "https://dav.new.example/dav/"}
        })),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let d = start_driver(&driver);
    let c = open_browser(&chromium, &d).await;

    for (lang, saved_msg) in [("en", "Options saved."), ("fr", "Options enregistrées.")] {
        c.goto(&format!("{base}/project/login?lang={lang}&id={id}"))
            .await
            .unwrap();
        set(&c, "#pj-password", PASSWORD).await;
        click(&c, "#pj-login").await;
        wait_until(&c, "return document.body.dataset.page", "project", 10).await;
        let (before, after) = if lang == "en" {
            (
                "4 | 3 | mail+contacts | https://dav.old.example/ | https://dav.new.example/dav/",
                "6 | 2 | contacts+calendars+tasks | https://caldav.old.example/ | ",
            )
        } else {
            (
                "6 | 2 | contacts+calendars+tasks | https://caldav.old.example/ | ",
                "5 | 2 | mail+calendars | https://dav.old.example/ | https://dav.new.example/",
            )
        };
        // The saved values are shown.
        wait_until(&c, OPTIONS_SHOWN, before, 10).await;
        c.execute(
            "document.getElementById('tab-options').scrollIntoView()",
            vec![],
        )
        .await
        .unwrap();
        screenshot(&c, &format!("project-options-{lang}")).await;
        // Changed and saved.
        let parts: Vec<&str> = after.split(" | ").collect();
        set(&c, "#pj-simultaneous", parts[0]).await;
        set(&c, "#pj-connections", parts[1]).await;
        let kinds: Vec<&str> = parts[2].split('+').collect();
        for kind in ["mail", "contacts", "calendars", "tasks"] {
            let css = format!("input[name=pj-content][value={kind}]");
            let checked = c
                .execute(
                    &format!("return document.querySelector('{css}').checked"),
                    vec![],
                )
                .await
                .unwrap();
            if checked != kinds.contains(&kind) {
                click(&c, &css).await;
            }
        }
        set(&c, "#pj-src-dav", parts[3]).await;
        // An emptied field is cleared with the keyboard, as a person would.
        let dst = c
            .find(fantoccini::Locator::Css("#pj-dst-dav"))
            .await
            .unwrap();
        dst.clear().await.unwrap();
        if !parts[4].is_empty() {
            dst.send_keys(parts[4]).await.unwrap();
        }
        click(&c, "#pj-options-save").await;
        wait_until(
            &c,
            "return document.getElementById('pj-options-result').textContent",
            saved_msg,
            10,
        )
        .await;
        screenshot(&c, &format!("project-options-saved-{lang}")).await;
        // A reload shows the new values, read back from the server.
        c.refresh().await.unwrap();
        wait_until(&c, "return document.body.dataset.page", "project", 10).await;
        wait_until(&c, OPTIONS_SHOWN, after, 10).await;
        // And the API holds them.
        let p = svc.store().project(&id).await.unwrap().unwrap();
        let o: serde_json::Value = serde_json::from_str(&p.options).unwrap();
        assert_eq!(o["simultaneous"].to_string(), parts[0], "{o}");
        assert_eq!(o["source_dav"], parts[3], "{o}");
        if parts[4].is_empty() {
            assert!(o.get("destination_dav").is_none(), "{o}");
        } else {
            assert_eq!(o["destination_dav"], parts[4], "{o}");
        }
        click(&c, "#pj-logout").await;
        wait_until(&c, "return document.body.dataset.page", "project_login", 10).await;
    }
    c.close().await.unwrap();
}

/// The dashboard's "Add an account" says what is wrong in the page's language, next to the
/// field: a bad server address and an impossible port were shown in the API's English words
/// ("the host is not a server name…", "the request body does not match: …expected u16…").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_project_add_account_errors_in_french() {
    let Some((chromium, driver)) = browser() else {
        return;
    };
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    fill(&src, "user1", "add", 0..2);
    let dir = tempfile::tempdir().unwrap();
    let svc = service(dir.path()).await;
    let (st, v) = common::call_json(
        &svc,
        "POST",
        "/api/v1/projects",
        None,
        Some(serde_json::json!({"name": "Ajouts", "password": PASSWORD, "notify": "it@acme.example"})),
    )
    .await;
    assert_eq!(st.as_u16(), 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let base = format!("http://{}", serve(&svc).await);
    let d = start_driver(&driver);
    let c = open_browser(&chromium, &d).await;
    c.goto(&format!("{base}/project/login?lang=fr&id={id}"))
        .await
        .unwrap();
    set(&c, "#pj-password", PASSWORD).await;
    click(&c, "#pj-login").await;
    wait_until(&c, "return document.body.dataset.page", "project", 10).await;
    for p in ["src", "dst"] {
        c.find(Locator::Css(&format!("#{p}-type")))
            .await
            .unwrap()
            .select_by_value("imap")
            .await
            .unwrap();
        set(&c, &format!("#{p}-login"), "user1").await;
        set(&c, &format!("#{p}-password"), "pass1").await;
    }
    set(&c, "#src-host", "bad host!").await;
    set(&c, "#dst-host", "127.0.0.1").await;
    set(&c, "#src-port", &src.imap_port.to_string()).await;
    set(&c, "#dst-port", &dst.imap_port.to_string()).await;
    click(&c, "#pj-add-go").await;
    wait_until(
        &c,
        "return document.getElementById('err-src-host').textContent",
        "Cette adresse de serveur n'est pas valide.",
        10,
    )
    .await;
    assert_eq!(
        text(&c, "#err-pj-add").await,
        "Certains champs sont à corriger."
    );
    assert_eq!(attr(&c, "#src-host", "aria-invalid").await, "true");
    // An impossible port is caught before anything is sent.
    set(&c, "#src-host", "127.0.0.1").await;
    set(&c, "#src-password", "pass1").await;
    set(&c, "#dst-password", "pass1").await;
    set(&c, "#src-port", "99999").await;
    click(&c, "#pj-add-go").await;
    wait_until(
        &c,
        "return document.getElementById('err-src-port').textContent",
        "Ce port n'est pas valide (1 à 65535).",
        10,
    )
    .await;
    assert_eq!(text(&c, "#err-src-host").await, "");
    assert!(!text(&c, "#pj-add-result").await.contains("u16"));
    screenshot(&c, "project-add-errors-fr").await;
    // Put right, the account is added and migrated.
    set(&c, "#src-port", &src.imap_port.to_string()).await;
    click(&c, "#pj-add-go").await;
    wait_until(
        &c,
        "return document.querySelectorAll('#pj-rows tr[data-status=done]').length",
        "1",
        60,
    )
    .await;
    assert_eq!(text(&c, "#err-src-port").await, "");
    assert_eq!(inbox_count(&dst, "user1"), 2);
    c.close().await.unwrap();
    svc.shut_down();
}
