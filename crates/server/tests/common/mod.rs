//! Shared by the service's tests: a service with its workers over a fresh store, and private
//! Dovecot mailboxes filled and counted.
#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

use passeur_engine::Runner;
use passeur_notify::Notifier;
use passeur_server::vault::Vault;
use passeur_server::{Service, Settings, router};
use passeur_store::Store;
use passeur_testkit::Dovecot;
use passeur_testkit::imapwire::Client;

/// A service over a new SQLite store in `dir`, with its workers running.
pub async fn service_with(
    dir: &std::path::Path,
    settings: Settings,
    notifier: Option<Notifier>,
) -> (Arc<Service>, Store) {
    let store = Store::open(&dir.join("passeur.db")).await.unwrap();
    let vault = Vault::open_or_create(&dir.join("secret.key")).unwrap();
    let svc = Service::new(Runner::new(store.clone()), vault, settings, notifier);
    let workers = Arc::clone(&svc);
    tokio::spawn(async move { workers.run_workers().await });
    (svc, store)
}

/// Settings for tests: loopback servers allowed.
pub fn test_settings() -> Settings {
    Settings {
        allow_private_addresses: true,
        ..Default::default()
    }
}

/// `imap://USER@127.0.0.1:PORT` of a test Dovecot.
pub fn imap_url(dc: &Dovecot, user: &str) -> String {
    format!("imap://{user}@127.0.0.1:{}", dc.imap_port)
}

fn password(user: &str) -> String {
    format!("pass{}", user.trim_start_matches("user"))
}

/// Appends small seen messages `tag{i}` for each `i` of `n` to `user`'s INBOX.
pub fn fill(dc: &Dovecot, user: &str, tag: &str, n: std::ops::Range<u32>) {
    let mut c = Client::login(&dc.imap_addr(), user, &password(user)).unwrap();
    for i in n {
        let body = format!(
            "From: a@example.org\r\nTo: b@example.org\r\nSubject: {tag} {i}\r\nMessage-ID: <{tag}{i}.{user}@x>\r\n\r\nbody {i}\r\n"
        );
        c.append("INBOX", &["\\Seen"], None, body.as_bytes())
            .unwrap();
    }
    c.logout();
}

/// Messages in `user`'s INBOX.
pub fn count(dc: &Dovecot, user: &str) -> u32 {
    let mut c = Client::login(&dc.imap_addr(), user, &password(user)).unwrap();
    let n = c.select("INBOX", true).unwrap();
    c.logout();
    n
}

/// One request through the router (no socket): the status and the body's bytes.
pub async fn call(
    svc: &Arc<Service>,
    method: &str,
    uri: &str,
    account: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(a) = account {
        req = req.header("x-passeur-account", a);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let res = router(Arc::clone(svc)).oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, bytes.to_vec())
}

/// Like [`call`], with the body read as JSON (`Null` when it is not).
pub async fn call_json(
    svc: &Arc<Service>,
    method: &str,
    uri: &str,
    account: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (st, bytes) = call(svc, method, uri, account, body).await;
    (st, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// How long a test waits for a migration to reach a state.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Migration `id` as its tracker sees it (tracked with `account`).
pub async fn get(svc: &Arc<Service>, id: &str, account: &str) -> passeur_server::api::MigrationOut {
    let (st, v) = call_json(
        svc,
        "GET",
        &format!("/api/v1/migrations/{id}"),
        Some(account),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    serde_json::from_value(v).unwrap()
}

/// Waits until migration `id` (tracked with `account`) satisfies `ok`; fails the test, naming
/// `what`, after [`WAIT`].
pub async fn wait_until(
    svc: &Arc<Service>,
    id: &str,
    account: &str,
    what: &str,
    ok: impl Fn(&passeur_server::api::MigrationOut) -> bool,
) -> passeur_server::api::MigrationOut {
    let start = std::time::Instant::now();
    loop {
        let m = get(svc, id, account).await;
        if ok(&m) {
            return m;
        }
        assert!(start.elapsed() < WAIT, "never {what}: {m:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// At least `passes` passes, and the last one ended (done, failed or stopped).
pub fn finished(passes: usize) -> impl Fn(&passeur_server::api::MigrationOut) -> bool {
    move |m| m.passes.len() >= passes && matches!(m.status.as_str(), "done" | "failed" | "stopped")
}

/// Waits for `passes` passes of `id` (tracked with `account`) to end.
pub async fn wait_finished(
    svc: &Arc<Service>,
    id: &str,
    account: &str,
    passes: usize,
) -> passeur_server::api::MigrationOut {
    wait_until(svc, id, account, "finished", finished(passes)).await
}
