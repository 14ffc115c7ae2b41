//! Project mode end to end through the router: creation, login (bearer and cookie + CSRF),
//! bulk creation from a CSV and an XLSX made here, the project's limit of simultaneous
//! migrations as the job rows show it, pause and resume, bad rows, throttled logins, log out;
//! the migrations run by the service's workers against private Dovecot servers.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt as _;
use passeur_engine::Runner;
use passeur_notify::{Notifier, SmtpConfig};
use passeur_server::projects::{BulkOut, ProjectOut};
use passeur_server::vault::Vault;
use passeur_server::{Service, Settings, router};
use passeur_store::{JobState, Store};
use passeur_testkit::imapwire::Client;
use passeur_testkit::{
    Dovecot, DovecotOptions, Radicale, RadicaleOptions, SmtpOptions, SmtpReceiver,
};
use passeur_types::MigrationId;
use serde_json::{Value, json};
use tower::ServiceExt as _;

const WAIT: Duration = Duration::from_secs(120);
const PASSWORD: &str = "Tr0ub4dor&3-horse";

async fn service(dir: &std::path::Path) -> (Arc<Service>, Store) {
    service_with(dir, None).await
}

async fn service_with(dir: &std::path::Path, smtp: Option<&SmtpReceiver>) -> (Arc<Service>, Store) {
    service_tuned(dir, smtp, |_| {}).await
}

async fn service_tuned(
    dir: &std::path::Path,
    smtp: Option<&SmtpReceiver>,
    tune: impl FnOnce(&mut Settings),
) -> (Arc<Service>, Store) {
    let store = Store::open(&dir.join("passeur.db")).await.unwrap();
    let vault = Vault::open_or_create(&dir.join("secret.key")).unwrap();
    let notifier = smtp.map(|rx| {
        let mut c = SmtpConfig::from_url(&rx.url(), "passeur <noreply@passeur.test>").unwrap();
        c.ca_file = rx.ca_file();
        c.timeout = Duration::from_secs(10);
        Notifier::new(c).unwrap()
    });
    let mut settings = Settings {
        allow_private_addresses: true,
        public_url: "https://passeur.test".into(),
        workers: 3,
        ..Default::default()
    };
    tune(&mut settings);
    let svc = Service::new(Runner::new(store.clone()), vault, settings, notifier);
    let workers = Arc::clone(&svc);
    tokio::spawn(async move { workers.run_workers().await });
    (svc, store)
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn send(
    svc: &Arc<Service>,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    from: Option<IpAddr>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::from(body)).unwrap();
    if let Some(ip) = from {
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 40000)));
    }
    let res = router(Arc::clone(svc)).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn json_call(
    svc: &Arc<Service>,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut h: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        h.push(("authorization", a));
    }
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    send(svc, method, uri, &h, body, None).await
}

async fn upload(svc: &Arc<Service>, id: &str, token: &str, query: &str, file: Vec<u8>) -> BulkOut {
    let auth = format!("Bearer {token}");
    let a = send(
        svc,
        "POST",
        &format!("/api/v1/projects/{id}/migrations/bulk{query}"),
        &[("authorization", &auth), ("content-type", "text/csv")],
        file,
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json());
    serde_json::from_value(a.json()).unwrap()
}

async fn create_project(svc: &Arc<Service>, options: Value) -> String {
    let a = json_call(
        svc,
        "POST",
        "/api/v1/projects",
        None,
        Some(
            json!({"name": "Acme move", "password": PASSWORD, "notify": "it@acme.example",
                    "lang": "en", "options": options}),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
    a.json()["id"].as_str().unwrap().to_string()
}

async fn login(svc: &Arc<Service>, id: &str) -> String {
    let a = json_call(
        svc,
        "POST",
        &format!("/api/v1/projects/{id}/session"),
        None,
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json());
    a.json()["token"].as_str().unwrap().to_string()
}

async fn project(svc: &Arc<Service>, id: &str, token: &str) -> ProjectOut {
    let a = json_call(
        svc,
        "GET",
        &format!("/api/v1/projects/{id}"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json());
    serde_json::from_value(a.json()).unwrap()
}

fn fill(dc: &Dovecot, user: &str, n: u32) {
    let pw = format!("pass{}", user.trim_start_matches("user"));
    let mut c = Client::login(&dc.imap_addr(), user, &pw).unwrap();
    for i in 0..n {
        let body = format!(
            "From: a@example.org\r\nTo: {user}@example.org\r\nSubject: {user} {i}\r\nMessage-ID: <p{i}.{user}@x>\r\n\r\nbody {i}\r\n"
        );
        c.append("INBOX", &["\\Seen"], None, body.as_bytes())
            .unwrap();
    }
    c.logout();
}

fn count(dc: &Dovecot, user: &str) -> u32 {
    let pw = format!("pass{}", user.trim_start_matches("user"));
    let mut c = Client::login(&dc.imap_addr(), user, &pw).unwrap();
    let n = c.select("INBOX", true).unwrap();
    c.logout();
    n
}

fn server(dc: &Dovecot) -> String {
    format!("imap://127.0.0.1:{}", dc.imap_port)
}

/// The ten cells of an account row for user `n`.
fn row(src: &Dovecot, dst: &Dovecot, n: u32) -> Vec<String> {
    vec![
        "IMAP".into(),
        server(src),
        format!("user{n}"),
        format!("pass{n}"),
        "IMAP".into(),
        server(dst),
        format!("user{n}"),
        format!("pass{n}"),
        String::new(),
        String::new(),
    ]
}

const HEADER: &str = "Source Type (IMAP/Exchange/POP);Source Server url;Source Login/Mail;Source Password;Destination Type;Destination Url (can be left empty if detected);Destination Mail;Destination Password;Source admin mail (delegation);Destination Admin Mail (delegation)";

fn csv(rows: &[Vec<String>]) -> Vec<u8> {
    let mut s = format!("{HEADER}\r\n");
    for r in rows {
        s.push_str(&r.join(";"));
        s.push_str("\r\n");
    }
    s.into_bytes()
}

fn xlsx(rows: &[Vec<String>]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (i, h) in HEADER.split(';').enumerate() {
        ws.write_string(0, i as u16, h).unwrap();
    }
    for (r, cells) in rows.iter().enumerate() {
        for (c, v) in cells.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string(r as u32 + 1, c as u16, v).unwrap();
            }
        }
    }
    wb.save_to_buffer().unwrap()
}

/// How many pass jobs of `ids` are running now.
async fn running(store: &Store, ids: &[MigrationId]) -> usize {
    let mut n = 0;
    for id in ids {
        n += store
            .jobs_of(*id)
            .await
            .unwrap()
            .iter()
            .filter(|j| j.kind == "pass" && j.state == JobState::Running)
            .count();
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulk_csv_and_xlsx_run_exact_one_at_a_time_with_pause_and_resume() {
    let opts = DovecotOptions {
        users: 9,
        ..Default::default()
    };
    let src = Dovecot::start(opts.clone()).unwrap();
    let dst = Dovecot::start(opts).unwrap();
    for n in 1..=9 {
        fill(&src, &format!("user{n}"), 20 + n);
    }
    let dir = tempfile::tempdir().unwrap();
    let (svc, store) = service(dir.path()).await;

    let id = create_project(&svc, json!({"simultaneous": 1, "connections": 2})).await;
    assert_eq!(id.len(), 32);

    // A wrong password, no session, a made-up token: 401 and nothing listed.
    let a = json_call(
        &svc,
        "POST",
        &format!("/api/v1/projects/{id}/session"),
        None,
        Some(json!({"password": "Tr0ub4dor&3-hors"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.json().get("token").is_none());
    for token in [None, Some("0123456789abcdef")] {
        for path in ["", "/migrations"] {
            let a = json_call(
                &svc,
                "GET",
                &format!("/api/v1/projects/{id}{path}"),
                token,
                None,
            )
            .await;
            assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
            assert!(a.json().get("migrations").is_none());
        }
    }
    let token = login(&svc, &id).await;
    // Another project's session does not open this one.
    let other = create_project(&svc, json!({})).await;
    let other_token = login(&svc, &other).await;
    let a = json_call(
        &svc,
        "GET",
        &format!("/api/v1/projects/{id}"),
        Some(&other_token),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    // Paused before anything is created: everything created waits.
    let a = json_call(
        &svc,
        "POST",
        &format!("/api/v1/projects/{id}/pause"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json());

    // 5 accounts from a CSV, 3 from an XLSX.
    let rows: Vec<Vec<String>> = (1..=5).map(|n| row(&src, &dst, n)).collect();
    let out = upload(&svc, &id, &token, "", csv(&rows)).await;
    assert_eq!((out.rows, out.created.len()), (5, 5), "{out:?}");
    assert!(out.errors.is_empty(), "{out:?}");
    assert_eq!(
        out.created.iter().map(|c| c.row).collect::<Vec<_>>(),
        vec![2, 3, 4, 5, 6]
    );
    let rows: Vec<Vec<String>> = (6..=8).map(|n| row(&src, &dst, n)).collect();
    let out = upload(&svc, &id, &token, "", xlsx(&rows)).await;
    assert_eq!((out.rows, out.created.len()), (3, 3), "{out:?}");

    // A file with a bad row: atomic and dry-run create nothing and name row and column; by
    // default the good row is created and the bad one reported.
    let mut bad = row(&src, &dst, 99);
    bad[3] = String::new();
    bad[4] = "POP".into();
    let mixed = csv(&[row(&src, &dst, 9), bad]);
    for q in ["?atomic=true", "?dry_run=true"] {
        let out = upload(&svc, &id, &token, q, mixed.clone()).await;
        assert!(out.created.is_empty(), "{q}: {out:?}");
        assert_eq!(out.valid, vec![2], "{q}");
        let cols: Vec<(usize, &str)> = out
            .errors
            .iter()
            .map(|e| (e.row, e.column.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            cols,
            vec![(3, "Source Password"), (3, "Destination Type")],
            "{q}: {out:?}"
        );
        assert!(
            out.errors[1]
                .message
                .contains("POP cannot be a destination"),
            "{out:?}"
        );
    }
    assert_eq!(project(&svc, &id, &token).await.migrations.len(), 8);
    let out = upload(&svc, &id, &token, "", mixed).await;
    assert_eq!(out.created.len(), 1);
    assert_eq!(out.created[0].row, 2);
    assert_eq!(out.errors.len(), 2);

    let p = project(&svc, &id, &token).await;
    assert_eq!(p.migrations.len(), 9);
    assert!(p.paused);
    let ids: Vec<MigrationId> = p.migrations.iter().map(|m| m.id.parse().unwrap()).collect();
    // Held: nothing runs while paused.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let p = project(&svc, &id, &token).await;
    assert!(
        p.migrations.iter().all(|m| m.status == "paused"),
        "{:?}",
        p.migrations
    );
    assert_eq!(
        (1..=9)
            .map(|n| count(&dst, &format!("user{n}")))
            .sum::<u32>(),
        0
    );

    // Resume: they run, never two at once (the job rows say so).
    let a = json_call(
        &svc,
        "POST",
        &format!("/api/v1/projects/{id}/resume"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.json()["jobs"].as_u64()),
        (StatusCode::OK, Some(9))
    );
    let mut max_running = 0;
    let mut paused_again = false;
    let start = Instant::now();
    loop {
        max_running = max_running.max(running(&store, &ids).await);
        let p = project(&svc, &id, &token).await;
        let done = p.migrations.iter().filter(|m| m.status == "done").count();
        if done == 9 {
            break;
        }
        if done >= 3 && !paused_again {
            // Pause mid-run: the running one ends its pass, the others wait.
            paused_again = true;
            let a = json_call(
                &svc,
                "POST",
                &format!("/api/v1/projects/{id}/pause"),
                Some(&token),
                None,
            )
            .await;
            assert_eq!(a.status, StatusCode::OK);
            let t = Instant::now();
            while running(&store, &ids).await > 0 {
                assert!(t.elapsed() < WAIT, "the running pass never ended");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let held = project(&svc, &id, &token).await;
            let done_then = held
                .migrations
                .iter()
                .filter(|m| m.status == "done")
                .count();
            assert!(done_then < 9, "{:?}", held.migrations);
            tokio::time::sleep(Duration::from_millis(1500)).await;
            assert_eq!(
                running(&store, &ids).await,
                0,
                "a paused project started a pass"
            );
            let held = project(&svc, &id, &token).await;
            assert_eq!(
                held.migrations
                    .iter()
                    .filter(|m| m.status == "done")
                    .count(),
                done_then
            );
            assert!(held.migrations.iter().any(|m| m.status == "paused"));
            let a = json_call(
                &svc,
                "POST",
                &format!("/api/v1/projects/{id}/resume"),
                Some(&token),
                None,
            )
            .await;
            assert_eq!(a.status, StatusCode::OK);
        }
        assert!(start.elapsed() < WAIT, "not all done: {:?}", p.migrations);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(paused_again);
    assert_eq!(max_running, 1, "the project's limit is 1");
    let p = project(&svc, &id, &token).await;
    for m in &p.migrations {
        assert_eq!(m.status, "done", "{m:?}");
        assert_eq!(m.percent, Some(100.0), "{m:?}");
        let n: u32 = m.source.trim_start_matches("user").parse().unwrap();
        assert_eq!(m.items, u64::from(20 + n), "{m:?}");
        assert_eq!(count(&dst, &m.destination), 20 + n, "{m:?}");
    }
    assert_eq!(p.totals.get("done"), Some(&9));

    // Log out: the token no longer opens anything.
    let a = json_call(
        &svc,
        "DELETE",
        &format!("/api/v1/projects/{id}/session"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    let a = json_call(
        &svc,
        "GET",
        &format!("/api/v1/projects/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_then_options_then_the_limit_follows() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    for n in 1..=4 {
        fill(&src, &format!("user{n}"), 15);
    }
    let dir = tempfile::tempdir().unwrap();
    let (svc, store) = service(dir.path()).await;
    let id = create_project(&svc, json!({"simultaneous": 1, "connections": 1})).await;
    let token = login(&svc, &id).await;
    let a = json_call(
        &svc,
        "POST",
        &format!("/api/v1/projects/{id}/pause"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let server = |d: &Dovecot| json!({"type": "imap", "host": "127.0.0.1", "port": d.imap_port});
    // The first account names its servers; the next ones take them as defaults.
    let a = json_call(
        &svc,
        "POST",
        &format!("/api/v1/projects/{id}/migrations"),
        Some(&token),
        Some(json!({"source_login": "user1", "source_password": "pass1", "source_server": server(&src),
                    "destination_login": "user1", "destination_password": "pass1", "destination_server": server(&dst)})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
    for n in 2..=4 {
        let a = json_call(
            &svc,
            "POST",
            &format!("/api/v1/projects/{id}/accounts"),
            Some(&token),
            Some(json!({"source_login": format!("user{n}"), "source_password": format!("pass{n}"),
                        "destination_login": format!("user{n}"), "destination_password": format!("pass{n}")})),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
    }
    // A missing field is named.
    let a = json_call(
        &svc,
        "POST",
        &format!("/api/v1/projects/{id}/migrations"),
        Some(&token),
        Some(json!({"source_login": "user1", "source_password": "",
                    "destination_login": "user1", "destination_password": "pass1"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.json()["field"], "source_password");

    // Two at once from now on.
    let a = json_call(
        &svc,
        "PUT",
        &format!("/api/v1/projects/{id}/options"),
        Some(&token),
        Some(json!({"concurrency": 2, "connections": 1})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json());
    let p = project(&svc, &id, &token).await;
    assert_eq!(p.options.simultaneous, 2);
    assert!(p.options.source.is_none(), "options replaced whole");
    let a = json_call(
        &svc,
        "PUT",
        &format!("/api/v1/projects/{id}/options"),
        Some(&token),
        Some(json!({"simultaneous": 51})),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.json()["field"], "options.simultaneous");

    let ids: Vec<MigrationId> = p.migrations.iter().map(|m| m.id.parse().unwrap()).collect();
    assert_eq!(ids.len(), 4);
    json_call(
        &svc,
        "POST",
        &format!("/api/v1/projects/{id}/resume"),
        Some(&token),
        None,
    )
    .await;
    let mut max_running = 0;
    let start = Instant::now();
    loop {
        max_running = max_running.max(running(&store, &ids).await);
        let p = project(&svc, &id, &token).await;
        if p.migrations.iter().all(|m| m.status == "done") {
            break;
        }
        assert!(start.elapsed() < WAIT, "{:?}", p.migrations);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Three workers, four waiting migrations: two run at once, never three.
    assert_eq!(max_running, 2, "limit 2");
    for n in 1..=4 {
        assert_eq!(count(&dst, &format!("user{n}")), 15);
    }

    // Row actions: a sync copies only the new mail; a delete forgets the migration; another
    // project's migration is not reachable.
    let p = project(&svc, &id, &token).await;
    let m1 = p
        .migrations
        .iter()
        .find(|m| m.source == "user1")
        .unwrap()
        .id
        .clone();
    let m4 = p
        .migrations
        .iter()
        .find(|m| m.source == "user4")
        .unwrap()
        .id
        .clone();
    let mut c = Client::login(&src.imap_addr(), "user1", "pass1").unwrap();
    for i in 100..103 {
        let body = format!("Subject: new {i}\r\nMessage-ID: <new{i}@x>\r\n\r\nnew\r\n");
        c.append("INBOX", &[], None, body.as_bytes()).unwrap();
    }
    c.logout();
    let a = json_call(
        &svc,
        "POST",
        &format!("/api/v1/projects/{id}/migrations/{m1}/sync"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.json());
    let start = Instant::now();
    loop {
        let p = project(&svc, &id, &token).await;
        let m = p.migrations.iter().find(|m| m.id == m1).unwrap();
        if m.status == "done" && m.items == 18 {
            assert_eq!(m.copied, 3, "{m:?}");
            break;
        }
        assert!(start.elapsed() < WAIT, "{m:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(&dst, "user1"), 18);
    let a = json_call(
        &svc,
        "DELETE",
        &format!("/api/v1/projects/{id}/migrations/{m4}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(project(&svc, &id, &token).await.migrations.len(), 3);
    assert!(store.migration(m4.parse().unwrap()).await.is_err());
    let other = create_project(&svc, json!({})).await;
    let other_token = login(&svc, &other).await;
    for (method, action) in [("POST", "/sync"), ("POST", "/stop"), ("DELETE", "")] {
        let a = json_call(
            &svc,
            method,
            &format!("/api/v1/projects/{other}/migrations/{m1}{action}"),
            Some(&other_token),
            None,
        )
        .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{method} {action}");
    }
    assert_eq!(project(&svc, &id, &token).await.migrations.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_csrf_throttling_validation_and_templates() {
    let dir = tempfile::tempdir().unwrap();
    let rx = SmtpReceiver::start(SmtpOptions::default()).expect("aiosmtpd");
    let (svc, store) = service_with(dir.path(), Some(&rx)).await;

    // Weak passwords and bad fields are named.
    for (body, field) in [
        (json!({"name": "x", "password": "short"}), "password"),
        (
            json!({"name": "x", "password": "alllowercase-123"}),
            "password",
        ),
        (json!({"name": "", "password": PASSWORD}), "name"),
        (
            json!({"name": "x", "password": PASSWORD, "notify": "nope"}),
            "notify",
        ),
        (
            json!({"name": "x", "password": PASSWORD, "options": {"simultaneous": 0}}),
            "options.simultaneous",
        ),
        (
            json!({"name": "x", "password": PASSWORD, "options": {"content": ["mail", "faxes"]}}),
            "options.content[1]",
        ),
    ] {
        let a = json_call(&svc, "POST", "/api/v1/projects", None, Some(body.clone())).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(a.json()["field"], field, "{body}");
    }
    let id = create_project(&svc, json!({})).await;
    // The contact address gets the project's ID and link.
    let msgs = rx.wait_for(1, Duration::from_secs(60)).unwrap();
    let m = mail_parser::MessageParser::default()
        .parse(&msgs[0].raw)
        .unwrap();
    let mail = format!(
        "{}\n{}",
        m.subject().unwrap_or_default(),
        m.body_text(0).unwrap_or_default()
    );
    assert!(mail.contains(&id), "{mail}");
    assert!(
        mail.contains(&format!("https://passeur.test/project/{id}")),
        "{mail}"
    );
    assert!(!mail.contains(PASSWORD));

    // The pages' login: an HttpOnly, SameSite=Strict, Secure cookie; no token in the body.
    let a = send(
        &svc,
        "POST",
        &format!("/api/v1/projects/{id}/session"),
        &[
            ("content-type", "application/json"),
            ("x-passeur-cookie", "1"),
        ],
        json!({"password": PASSWORD}).to_string().into_bytes(),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let cookie = a.headers["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(a.json().get("token").is_none(), "{}", a.json());
    let csrf = a.json()["csrf"].as_str().unwrap().to_string();
    let pair = cookie.split(';').next().unwrap().to_string();
    // GET with the cookie alone; a change needs the CSRF token too.
    let a = send(
        &svc,
        "GET",
        &format!("/api/v1/projects/{id}"),
        &[("cookie", &pair)],
        vec![],
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    for bad in [None, Some("0000")] {
        let mut h = vec![("cookie", pair.as_str())];
        if let Some(b) = bad {
            h.push(("x-csrf-token", b));
        }
        let a = send(
            &svc,
            "POST",
            &format!("/api/v1/projects/{id}/pause"),
            &h,
            vec![],
            None,
        )
        .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{bad:?}");
    }
    assert!(!store.project(&id).await.unwrap().unwrap().paused);
    let h = [("cookie", pair.as_str()), ("x-csrf-token", csrf.as_str())];
    let a = send(
        &svc,
        "POST",
        &format!("/api/v1/projects/{id}/pause"),
        &h,
        vec![],
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(store.project(&id).await.unwrap().unwrap().paused);
    // Log out with the cookie: it is cleared and the session is gone.
    let a = send(
        &svc,
        "DELETE",
        &format!("/api/v1/projects/{id}/session"),
        &h,
        vec![],
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert!(
        a.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let a = send(
        &svc,
        "GET",
        &format!("/api/v1/projects/{id}"),
        &[("cookie", &pair)],
        vec![],
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    // Failed logins are throttled per address: the 11th attempt is refused even with the
    // right password; another address is not affected.
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    let try_login = |pw: &'static str, ip: IpAddr| {
        let svc = Arc::clone(&svc);
        let id = id.clone();
        async move {
            send(
                &svc,
                "POST",
                &format!("/api/v1/projects/{id}/session"),
                &[("content-type", "application/json")],
                json!({ "password": pw }).to_string().into_bytes(),
                Some(ip),
            )
            .await
        }
    };
    for _ in 0..10 {
        assert_eq!(
            try_login("wrong-Password-1", ip).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let a = try_login(PASSWORD, ip).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(a.headers.contains_key("retry-after"));
    let a = try_login(PASSWORD, "192.0.2.8".parse().unwrap()).await;
    assert_eq!(a.status, StatusCode::OK);

    // Bad rows: each names its row and column, and nothing is created.
    let token = login(&svc, &id).await;
    let file = "Source Type(IMAP/Exchange/POP);Source Server url;Source Login/Mail;Source Password;Destination Type;Destination Url(can be leaved empty if hosted by OVH);Destination Mail;Destination Password\n\
                IMAP;imap.a.example;a@a.example;pw;IMAP;;b@b.example;pw\n\
                POP;https://webmail.a.example;c@a.example;pw;IMAP;imap.b.example:99999;d@b.example;pw\n\
                IMAP;imap.a.example;e@a.example;pw;IMAP;imap.b.example;;pw\n";
    let out = upload(&svc, &id, &token, "", file.as_bytes().to_vec()).await;
    assert!(out.created.is_empty());
    assert!(out.valid.is_empty());
    let got: Vec<(usize, String)> = out
        .errors
        .iter()
        .map(|e| (e.row, e.column.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "Destination Url (can be left empty if detected)".into()),
            (3, "Source Server url".into()),
            (3, "Destination Url (can be left empty if detected)".into()),
            (4, "Destination Mail".into()),
        ],
        "{out:?}"
    );
    assert!(project(&svc, &id, &token).await.migrations.is_empty());
    // A file that is not one.
    let auth = format!("Bearer {token}");
    let a = send(
        &svc,
        "POST",
        &format!("/api/v1/projects/{id}/migrations/bulk"),
        &[("authorization", &auth)],
        b"PK\x03\x04 not a zip".to_vec(),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.json()["error"].as_str().unwrap().contains("spreadsheet"));
    // Too large.
    let a = send(
        &svc,
        "POST",
        &format!("/api/v1/projects/{id}/migrations/bulk"),
        &[("authorization", &auth)],
        vec![b'a'; 5 << 20],
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);

    // The templates read back as one example row each.
    for ext in ["csv", "xlsx"] {
        let a = send(
            &svc,
            "GET",
            &format!("/api/v1/projects/template.{ext}"),
            &[],
            vec![],
            None,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
        let rows = passeur_server::bulk::parse(&a.body).unwrap();
        assert_eq!(rows.len(), 1, "{ext}");
        assert_eq!(rows[0].cells[2], "alice@example.org");
    }

    // The OpenAPI document lists the project routes.
    let a = send(&svc, "GET", "/api/v1/openapi.json", &[], vec![], None).await;
    let doc = a.json();
    for path in [
        "/api/v1/projects",
        "/api/v1/projects/{id}",
        "/api/v1/projects/{id}/session",
        "/api/v1/projects/{id}/migrations/bulk",
        "/api/v1/projects/{id}/pause",
        "/api/v1/projects/{id}/options",
        "/api/v1/projects/template.xlsx",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
}

/// One HTTP/1.1 request over a fresh connection to a served address: the status code.
async fn raw_status(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    forwarded: Option<&str>,
) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let xff = forwarded
        .map(|f| format!("X-Forwarded-For: {f}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{xff}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let head = String::from_utf8_lossy(&out);
    head.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_service_throttles_failed_logins_by_address() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service(dir.path()).await;
    let id = create_project(&svc, json!({})).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(passeur_server::serve(
        listener,
        Arc::clone(&svc),
        std::future::pending(),
        Duration::from_secs(1),
    ));
    let path = format!("/api/v1/projects/{id}/session");
    let wrong = json!({"password": "Wrong-password-1"}).to_string();
    let right = json!({ "password": PASSWORD }).to_string();
    // Behind a reverse proxy on this machine: the client is the address the proxy added.
    let client = Some("10.9.8.7, 198.51.100.9");
    assert_eq!(raw_status(addr, "POST", &path, &right, client).await, 200);
    for _ in 0..10 {
        assert_eq!(raw_status(addr, "POST", &path, &wrong, client).await, 401);
    }
    // The 11th attempt from that client is refused, even with the right password...
    assert_eq!(raw_status(addr, "POST", &path, &right, client).await, 429);
    let spoofed_first = Some("198.51.100.10, 198.51.100.9");
    assert_eq!(
        raw_status(addr, "POST", &path, &right, spoofed_first).await,
        429
    );
    // ... but not another client, nor a local script (loopback, no proxy header).
    let other = Some("198.51.100.10");
    assert_eq!(raw_status(addr, "POST", &path, &right, other).await, 200);
    for _ in 0..11 {
        assert_eq!(raw_status(addr, "POST", &path, &wrong, None).await, 401);
    }
    assert_eq!(raw_status(addr, "POST", &path, &right, None).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contact_is_told_a_week_before_an_idle_project_expires() {
    let dir = tempfile::tempdir().unwrap();
    let rx = SmtpReceiver::start(SmtpOptions::default()).expect("aiosmtpd");
    // Idle for 2 s is "deleted within a week" here; nothing is deleted during the test.
    let (svc, store) = service_tuned(dir.path(), Some(&rx), |s| {
        s.expire_after = Duration::from_secs(7 * 86_400 + 2);
        s.sweep_every = Duration::from_millis(300);
    })
    .await;
    let id = create_project(&svc, json!({})).await;
    let text = |m: &passeur_testkit::ReceivedMessage| {
        let p = mail_parser::MessageParser::default().parse(&m.raw).unwrap();
        format!(
            "{}\n{}",
            p.subject().unwrap_or_default(),
            p.body_text(0).unwrap_or_default()
        )
    };
    let msgs = rx.wait_for(2, WAIT).unwrap();
    let warning = text(&msgs[1]);
    assert!(warning.contains(&id), "{warning}");
    assert!(
        warning.contains(&format!("https://passeur.test/project/{id}")),
        "{warning}"
    );
    assert!(warning.contains('7'), "the days left are said: {warning}");
    // Once per idle spell: later sweeps say nothing more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rx.messages().unwrap().len(), 2);
    assert!(store.project(&id).await.unwrap().is_some(), "not deleted");
    // A login starts the count again; the next idle spell is told again.
    login(&svc, &id).await;
    let msgs = rx.wait_for(3, WAIT).unwrap();
    assert!(text(&msgs[2]).contains(&id));
}

/// A DAV client for Radicale's `user`.
fn dav(rad: &Radicale, n: u32) -> passeur_dav::DavClient {
    let (user, pass) = rad.user(n);
    passeur_dav::DavClient::new(passeur_dav::DavConfig::new(
        url::Url::parse(&rad.url()).unwrap(),
        user,
        pass,
    ))
    .unwrap()
}

/// Every item of every collection of `c`'s account: (collection name, body).
async fn dav_items(c: &passeur_dav::DavClient) -> Vec<(String, String)> {
    let homes = c.discover().await.unwrap();
    let mut out = Vec::new();
    let mut homes: Vec<url::Url> = [homes.calendar_home, homes.addressbook_home]
        .into_iter()
        .flatten()
        .collect();
    // Radicale keeps both kinds under one home.
    homes.dedup();
    for home in homes {
        for coll in c.list_collections(&home).await.unwrap() {
            for item in c.list_items(&coll).await.unwrap() {
                let (body, _) = c.get(&item.href).await.unwrap().unwrap();
                let name = coll
                    .href
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string();
                out.push((name, body));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_moves_contacts_and_calendars_with_the_mail() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rad_src = Radicale::start(RadicaleOptions::default()).unwrap();
    let rad_dst = Radicale::start(RadicaleOptions::default()).unwrap();
    fill(&src, "user1", 5);
    let c = dav(&rad_src, 1);
    let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-1@passeur.test\r\nFN:Ada Lovelace\r\nN:Lovelace;Ada;;;\r\nEMAIL:ada@example.org\r\nEND:VCARD\r\n";
    let event = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//passeur test//EN\r\nBEGIN:VEVENT\r\nUID:ev-1@passeur.test\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\nDTEND:20260105T100000Z\r\nSUMMARY:kick-off\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    c.put(
        &format!("{}card-1.vcf", rad_src.contacts_url(1)),
        card,
        "text/vcard",
        passeur_dav::PutCondition::IfNoneMatch,
    )
    .await
    .unwrap();
    c.put(
        &format!("{}ev-1.ics", rad_src.calendar_url(1)),
        event,
        "text/calendar",
        passeur_dav::PutCondition::IfNoneMatch,
    )
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service(dir.path()).await;
    let id = create_project(&svc, json!({})).await;
    let token = login(&svc, &id).await;
    // A DAV address that is not one is named.
    let a = json_call(
        &svc,
        "PUT",
        &format!("/api/v1/projects/{id}/options"),
        Some(&token),
        Some(json!({"content": ["mail", "contacts"], "source_dav": "ftp://dav.example"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.json());
    assert_eq!(a.json()["field"], "options.source_dav");
    let a = json_call(
        &svc,
        "PUT",
        &format!("/api/v1/projects/{id}/options"),
        Some(&token),
        Some(json!({"content": ["mail", "contacts", "calendars"],
                    "source_dav": rad_src.url(), "destination_dav": rad_dst.url()})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json());
    let server = |d: &Dovecot| json!({"type": "imap", "host": "127.0.0.1", "port": d.imap_port});
    let a = json_call(
        &svc,
        "POST",
        &format!("/api/v1/projects/{id}/migrations"),
        Some(&token),
        Some(json!({"source_login": "user1", "source_password": "pass1", "source_server": server(&src),
                    "destination_login": "user1", "destination_password": "pass1", "destination_server": server(&dst)})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
    let start = Instant::now();
    loop {
        let p = project(&svc, &id, &token).await;
        if p.migrations
            .iter()
            .all(|m| m.status == "done" || m.status == "failed")
        {
            assert!(
                p.migrations.iter().all(|m| m.status == "done"),
                "{:?}",
                p.migrations
            );
            break;
        }
        assert!(start.elapsed() < WAIT, "{:?}", p.migrations);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(&dst, "user1"), 5);
    let got = dav_items(&dav(&rad_dst, 1)).await;
    let bodies: Vec<&str> = got.iter().map(|(_, b)| b.as_str()).collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("UID:card-1@passeur.test") && b.contains("FN:Ada Lovelace")),
        "{got:?}"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("UID:ev-1@passeur.test") && b.contains("SUMMARY:kick-off")),
        "{got:?}"
    );
}

/// The same source and destination cannot be added twice to a project (a CSV sent again, a
/// row repeated, an account added by hand after the file): a second migration of the pair has
/// an item map of its own and copied every message again, duplicating the whole mailbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_already_in_the_project_is_refused_not_copied_twice() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    fill(&src, "user1", 6);
    fill(&src, "user2", 3);
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service(dir.path()).await;
    let id = create_project(&svc, json!({})).await;
    let token = login(&svc, &id).await;
    let file = csv(&[row(&src, &dst, 1)]);
    let out = upload(&svc, &id, &token, "", file.clone()).await;
    assert_eq!(out.created.len(), 1, "{out:?}");
    let first = out.created[0].id.clone();
    // The same file again: refused by row, in the preview too, naming the migration.
    for q in ["?dry_run=true", ""] {
        let out = upload(&svc, &id, &token, q, file.clone()).await;
        assert!(
            out.created.is_empty() && out.valid.is_empty(),
            "{q}: {out:?}"
        );
        assert_eq!(out.errors.len(), 1, "{q}: {out:?}");
        assert_eq!(
            (out.errors[0].row, out.errors[0].column.as_deref()),
            (2, None)
        );
        assert!(out.errors[0].message.contains(&first), "{out:?}");
    }
    // A row repeated in one file: the first is created, the second refused.
    let out = upload(
        &svc,
        &id,
        &token,
        "",
        csv(&[row(&src, &dst, 2), row(&src, &dst, 2)]),
    )
    .await;
    assert_eq!(out.created.len(), 1, "{out:?}");
    assert_eq!(out.errors.len(), 1, "{out:?}");
    assert!(out.errors[0].message.contains("row 2"), "{out:?}");
    // By hand: 409.
    let a = json_call(
        &svc,
        "POST",
        &format!("/api/v1/projects/{id}/migrations"),
        Some(&token),
        Some(json!({
            "source_login": "user1", "source_password": "pass1",
            "source_server": {"type": "imap", "host": "127.0.0.1", "port": src.imap_port},
            "destination_login": "user1", "destination_password": "pass1",
            "destination_server": {"type": "imap", "host": "127.0.0.1", "port": dst.imap_port},
        })),
    )
    .await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.json());
    assert_eq!(a.json()["code"], "conflict");
    // Each mailbox once.
    let start = std::time::Instant::now();
    while project(&svc, &id, &token)
        .await
        .migrations
        .iter()
        .any(|m| m.status != "done")
    {
        assert!(start.elapsed() < Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(project(&svc, &id, &token).await.migrations.len(), 2);
    assert_eq!((count(&dst, "user1"), count(&dst, "user2")), (6, 3));
    svc.shut_down();
}
