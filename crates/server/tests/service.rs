//! The service end to end through its router and its workers, against private Dovecot servers
//! and a real SMTP receiver (aiosmtpd): notifications, tracking, sync, purge, the failure
//! report, deletion, scheduled starts, the address guard, connection tests and live events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use passeur_notify::{Notifier, SmtpConfig};
use passeur_server::{Service, Settings, router};
use passeur_store::Store;
use passeur_testkit::{
    Dovecot, DovecotOptions, Radicale, RadicaleOptions, SmtpOptions, SmtpReceiver,
};
use serde_json::json;
use tower::ServiceExt as _;

mod common;
use common::*;

fn url(dc: &Dovecot, user: &str) -> String {
    imap_url(dc, user)
}

async fn service(
    dir: &std::path::Path,
    smtp: Option<&SmtpReceiver>,
    allow_private: bool,
) -> (Arc<Service>, Store) {
    let notifier = smtp.map(|rx| {
        let mut c = SmtpConfig::from_url(&rx.url(), "passeur <noreply@passeur.test>").unwrap();
        c.ca_file = rx.ca_file();
        c.timeout = Duration::from_secs(10);
        Notifier::new(c).unwrap()
    });
    let settings = Settings {
        allow_private_addresses: allow_private,
        public_url: "https://passeur.test".into(),
        ..Default::default()
    };
    service_with(dir, settings, notifier).await
}

/// A service that notifies through `rx` and makes `attempts` attempts per pass, 200-400 ms
/// apart.
async fn retrying_service(dir: &std::path::Path, rx: &SmtpReceiver, attempts: u32) -> Arc<Service> {
    let mut c = SmtpConfig::from_url(&rx.url(), "passeur <noreply@passeur.test>").unwrap();
    c.timeout = Duration::from_secs(10);
    let mut settings = Settings {
        allow_private_addresses: true,
        public_url: "https://passeur.test".into(),
        pass_attempts: attempts,
        ..Default::default()
    };
    settings.queue.retry_base = Duration::from_millis(200);
    settings.queue.retry_cap = Duration::from_millis(400);
    service_with(dir, settings, Some(Notifier::new(c).unwrap()))
        .await
        .0
}

/// The text of the `n`th message the receiver got, waiting for it.
fn mail_text(rx: &SmtpReceiver, n: usize) -> String {
    let msgs = rx.wait_for(n, WAIT).unwrap();
    let m = mail_parser::MessageParser::default()
        .parse(&msgs[n - 1].raw)
        .unwrap();
    format!(
        "{}\n{}",
        m.subject().unwrap_or_default(),
        m.body_text(0).unwrap_or_default()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notified_tracked_synced_purged_reported_and_forgotten() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    fill(&src, "user1", "svc", 0..30);
    let rx = SmtpReceiver::start(SmtpOptions::default()).expect("aiosmtpd");
    let dir = tempfile::tempdir().unwrap();
    let (svc, store) = service(dir.path(), Some(&rx), true).await;

    let body = json!({
        "source": {"url": url(&src, "user1"), "password": "pass1"},
        "destination": {"url": url(&dst, "user1"), "password": "pass1"},
        "notify": "owner@example.org",
        "lang": "en",
    });
    let (st, v) = call_json(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();

    // The "started" notification carries the ID and the tracking link.
    let started = mail_text(&rx, 1);
    assert!(started.contains(&id), "{started}");
    assert!(
        started.contains(&format!("https://passeur.test/track/{id}")),
        "{started}"
    );

    let m = wait_until(&svc, &id, "user1", "done", finished(1)).await;
    assert_eq!(m.status, "done", "{m:?}");
    assert_eq!((m.passes[0].copied, m.items), (30, 30));
    assert_eq!(count(&dst, "user1"), 30);
    let p = &m.progress[0];
    assert_eq!(
        (p.kind.as_str(), p.total, p.done, p.percent),
        ("mail", Some(30), 30, Some(100.0))
    );
    let done = mail_text(&rx, 2);
    assert!(done.contains(&id) && done.contains("30"), "{done}");

    // New mail: a sync copies only it.
    fill(&src, "user1", "svc", 100..104);
    let (st, v) = call_json(
        &svc,
        "POST",
        &format!("/api/v1/migrations/{id}/sync"),
        Some("user1"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let m = wait_until(&svc, &id, "user1", "synced", finished(2)).await;
    assert_eq!(m.passes[1].copied, 4, "{m:?}");
    assert_eq!(count(&dst, "user1"), 34);

    // Purge from sync point 2 removes exactly that pass's mail.
    let (st, v) = call_json(
        &svc,
        "POST",
        &format!("/api/v1/migrations/{id}/purge"),
        Some("user1"),
        Some(json!({"from_pass": 2, "destination_password": "pass1"})),
    )
    .await;
    // It runs as a job: queued at once, its result shown with the migration.
    assert_eq!(
        (st, v["state"].as_str()),
        (StatusCode::ACCEPTED, Some("queued")),
        "{v}"
    );
    let m = wait_until(&svc, &id, "user1", "purged", |m| {
        m.purge.as_ref().is_some_and(|p| p.state == "done")
    })
    .await;
    let p = m.purge.unwrap();
    assert_eq!((p.from_pass, p.deleted, p.skipped), (2, 4, 0), "{p:?}");
    assert_eq!(count(&dst, "user1"), 30);
    assert_eq!(m.items, 30, "the item map no longer holds what was deleted");
    // The password typed for the deletion is not kept once the job has used it.
    let sealed = svc
        .store()
        .credentials(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!sealed.contains("\"purge\""), "{sealed}");

    // The report of items not migrated is a CSV (empty here but for its header).
    let (st, csv) = call(
        &svc,
        "GET",
        &format!("/api/v1/migrations/{id}/report.csv"),
        Some("user1"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        "pass,kind,folder,item,size,reason\r\n"
    );

    // Metrics count the jobs and what was copied.
    let (st, metrics) = call(&svc, "GET", "/metrics", None, None).await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert_eq!(st, StatusCode::OK);
    assert!(
        metrics.contains("passeur_items_copied_total 34"),
        "{metrics}"
    );
    assert!(
        metrics.contains("passeur_jobs{state=\"completed\"}"),
        "{metrics}"
    );

    // DELETE forgets everything of it.
    let (st, _) = call(
        &svc,
        "DELETE",
        &format!("/api/v1/migrations/{id}"),
        Some("user2"),
        None,
    )
    .await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "another account cannot delete it"
    );
    let (st, _) = call(
        &svc,
        "DELETE",
        &format!("/api/v1/migrations/{id}"),
        Some("user1"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = call(
        &svc,
        "GET",
        &format!("/api/v1/migrations/{id}"),
        Some("user1"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let mid = id.parse().unwrap();
    assert!(store.credentials(mid).await.unwrap().is_none());
    assert!(store.jobs_of(mid).await.unwrap().is_empty());
    assert_eq!(store.count_items(mid).await.unwrap().0, 0);
    assert_eq!(count(&dst, "user1"), 30, "what was copied stays");

    // The passwords are nowhere in the store's files.
    svc.shut_down();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(5).any(|w| w == b"pass1"),
            "a password in the store's files"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_naming_the_side_in_the_api_and_the_notification() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    fill(&src, "user1", "svc", 0..3);
    let rx = SmtpReceiver::start(SmtpOptions::default()).expect("aiosmtpd");
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service(dir.path(), Some(&rx), true).await;
    let body = json!({
        "source": {"url": url(&src, "user1"), "password": "pass1"},
        "destination": {"url": url(&dst, "user1"), "password": "not-the-password"},
        "notify": "owner@example.org",
        "lang": "fr",
    });
    let (st, v) = call_json(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let m = wait_until(&svc, &id, "user1", "failed", |m| m.status == "failed").await;
    let err = m.error.clone().unwrap_or_default();
    assert!(err.starts_with("destination"), "{m:?}");
    assert!(!err.contains("not-the-password"));
    // The kind of failure as a word a page can say in its own language.
    assert_eq!(m.error_code.as_deref(), Some("auth"), "{m:?}");
    let _started = mail_text(&rx, 1);
    let failed = mail_text(&rx, 2);
    assert!(failed.contains(&id), "{failed}");
    assert!(
        failed.to_lowercase().contains("destination"),
        "the side is named: {failed}"
    );
    assert_eq!(count(&dst, "user1"), 0);
}

/// A wrong password can be corrected: its owner gives the new one (checked by a login before
/// it is kept), then Synchronise copies with it. Before, credentials could not be changed and
/// Synchronise failed again with the same password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_corrected_then_synchronise_copies() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    fill(&src, "user1", "fix", 0..3);
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service(dir.path(), None, true).await;
    let body = json!({
        "source": {"url": url(&src, "user1"), "password": "pass1"},
        "destination": {"url": url(&dst, "user1"), "password": "not-the-password"},
    });
    let (st, v) = call_json(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let m = wait_until(&svc, &id, "user1", "failed", |m| m.status == "failed").await;
    assert_eq!(m.error_code.as_deref(), Some("auth"), "{m:?}");
    let path = format!("/api/v1/migrations/{id}/credentials");
    // Only the owner (ID + source login).
    let (st, _) = call(
        &svc,
        "POST",
        &path,
        Some("user2"),
        Some(json!({"destination_password": "pass1"})),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Nothing given; a password the server refuses is not kept, and not echoed.
    let (st, v) = call_json(&svc, "POST", &path, Some("user1"), Some(json!({}))).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (st, body) = call(
        &svc,
        "POST",
        &path,
        Some("user1"),
        Some(json!({"destination_password": "still-wrong-42"})),
    )
    .await;
    let said = String::from_utf8_lossy(&body).to_string();
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{said}");
    assert!(said.contains("destination_password"), "{said}");
    assert!(!said.contains("still-wrong-42"), "{said}");
    // The right one is checked and kept; Synchronise then copies with it.
    let (st, body) = call(
        &svc,
        "POST",
        &path,
        Some("user1"),
        Some(json!({"destination_password": "pass1"})),
    )
    .await;
    assert_eq!(
        st,
        StatusCode::NO_CONTENT,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (st, v) = call_json(
        &svc,
        "POST",
        &format!("/api/v1/migrations/{id}/sync"),
        Some("user1"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let m = wait_until(&svc, &id, "user1", "done", |m| {
        m.passes.len() >= 2 && m.status != "running" && m.status != "queued"
    })
    .await;
    assert_eq!(m.status, "done", "{m:?}");
    assert_eq!(count(&dst, "user1"), 3);
    // The source's password too (checked against the source server).
    let (st, v) = call_json(
        &svc,
        "POST",
        &path,
        Some("user1"),
        Some(json!({"source_password": "nope"})),
    )
    .await;
    assert_eq!(
        (st, v["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("source_password")),
        "{v}"
    );
    svc.shut_down();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_migration_does_not_start_early() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    fill(&src, "user1", "svc", 0..5);
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service(dir.path(), None, true).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = now + 4;
    let body = json!({
        "source": {"url": url(&src, "user1"), "password": "pass1"},
        "destination": {"url": url(&dst, "user1"), "password": "pass1"},
        "start_at": format_rfc3339(at),
    });
    let (st, v) = call_json(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let m = get(&svc, &id, "user1").await;
    assert_eq!(
        (m.status.as_str(), m.scheduled_at),
        ("scheduled", Some(at)),
        "{m:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let m = get(&svc, &id, "user1").await;
    assert!(
        m.passes.is_empty() && m.status == "scheduled",
        "started early: {m:?}"
    );
    assert_eq!(count(&dst, "user1"), 0);
    let m = wait_until(&svc, &id, "user1", "done", finished(1)).await;
    assert_eq!(m.status, "done");
    assert!(
        m.passes[0].started_at >= at,
        "started at {} before {at}",
        m.passes[0].started_at
    );
    assert_eq!(count(&dst, "user1"), 5);
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds.
fn format_rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil from days (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_unless_the_operator_allows_them() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (svc, store) = service(dir.path(), None, false).await;
    let body = json!({
        "source": {"url": url(&src, "user1"), "password": "pass1"},
        "destination": {"url": "imaps://user1@10.1.2.3:993", "password": "pass1"},
    });
    let (st, v) = call_json(&svc, "POST", "/api/v1/migrations", None, Some(body.clone())).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["field"], "source.url", "{v}");
    assert!(v["error"].as_str().unwrap().contains("127.0.0.1"), "{v}");
    assert!(
        store
            .find_migration(&url(&src, "user1"), "imaps://user1@10.1.2.3:993")
            .await
            .unwrap()
            .is_none()
    );
    // The connection test is guarded too.
    let (st, v) = call_json(&svc, "POST", "/api/v1/connection-tests", None, Some(body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["source"]["reason"], "refused", "{v}");
    assert_eq!(v["destination"]["reason"], "refused", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_tests_say_per_side_what_is_wrong() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service(dir.path(), None, true).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = closed.local_addr().unwrap().port();
    drop(closed);
    let body = json!({
        "source": {"url": url(&src, "user1"), "password": "pass1"},
        "destination": {"url": format!("imap://user1@127.0.0.1:{dead_port}"), "password": "x"},
    });
    let (st, v) = call_json(&svc, "POST", "/api/v1/connection-tests", None, Some(body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["source"]["ok"], true, "{v}");
    assert_eq!(v["destination"]["reason"], "unreachable", "{v}");
    let body = json!({
        "source": {"url": url(&src, "user1"), "password": "wrong"},
        "destination": {"url": url(&src, "user2"), "password": "pass2"},
    });
    let (_, v) = call_json(&svc, "POST", "/api/v1/connection-tests", None, Some(body)).await;
    assert_eq!(
        (
            v["source"]["reason"].as_str(),
            v["destination"]["ok"].as_bool()
        ),
        (Some("auth"), Some(true)),
        "{v}"
    );
    assert!(
        !v.to_string().contains("wrong\""),
        "no password echoed: {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_tests_try_the_dav_server_a_side_names() {
    let mail = Dovecot::start(DovecotOptions::default()).unwrap();
    // Radicale knows user1 and user2; Dovecot knows user3 too.
    let rad = Radicale::start(RadicaleOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service(dir.path(), None, true).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://127.0.0.1:{}/", closed.local_addr().unwrap().port());
    drop(closed);
    let body = json!({
        "source": {"url": url(&mail, "user1"), "password": "pass1", "dav": rad.url()},
        "destination": {"url": url(&mail, "user3"), "password": "pass3", "dav": rad.url()},
    });
    let (st, v) = call_json(&svc, "POST", "/api/v1/connection-tests", None, Some(body)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["source"]["ok"].as_bool(),
            v["source"]["dav"]["ok"].as_bool(),
            v["destination"]["ok"].as_bool(),
            v["destination"]["dav"]["reason"].as_str(),
        ),
        (Some(true), Some(true), Some(true), Some("auth")),
        "{v}"
    );
    let body = json!({
        "source": {"url": url(&mail, "user1"), "password": "pass1", "dav": dead},
        "destination": {"url": url(&mail, "user2"), "password": "pass2"},
    });
    let (_, v) = call_json(&svc, "POST", "/api/v1/connection-tests", None, Some(body)).await;
    assert_eq!(v["source"]["dav"]["reason"], "unreachable", "{v}");
    assert!(
        v["destination"].get("dav").is_none(),
        "no DAV server named: {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_the_migration_as_it_changes() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    fill(&src, "user1", "svc", 0..10);
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service(dir.path(), None, true).await;
    let body = json!({
        "source": {"url": url(&src, "user1"), "password": "pass1"},
        "destination": {"url": url(&dst, "user1"), "password": "pass1"},
    });
    let (_, v) = call_json(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    let id = v["id"].as_str().unwrap().to_string();
    // A wrong account gets the same 404 as over GET.
    let req = Request::get(format!("/api/v1/migrations/{id}/events?account=user2"))
        .body(Body::empty())
        .unwrap();
    let res = router(Arc::clone(&svc)).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let req = Request::get(format!("/api/v1/migrations/{id}/events?account=user1"))
        .body(Body::empty())
        .unwrap();
    let res = router(Arc::clone(&svc)).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    let mut seen = String::new();
    let start = Instant::now();
    while !seen.contains("\"status\":\"done\"") {
        assert!(start.elapsed() < WAIT, "no done event: {seen}");
        let frame = tokio::time::timeout(WAIT, body.frame())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert!(seen.contains("event: migration"), "{seen}");
    assert!(seen.contains("\"copied\":10"), "{seen}");
}

/// A pass that keeps failing for a passing reason (the source refuses connections) is tried
/// again, and when its attempts run out its owner gets the "failed" message, naming the side
/// and the reason: the queue used to fail the last attempt silently, after "started" only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_out_of_retries_sends_the_failed_notification() {
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rx = SmtpReceiver::start(SmtpOptions::default()).expect("aiosmtpd");
    let dir = tempfile::tempdir().unwrap();
    let svc = retrying_service(dir.path(), &rx, 2).await;
    let body = json!({
        "source": {"url": format!("imap://user1@127.0.0.1:{closed}"), "password": "pass1"},
        "destination": {"url": url(&dst, "user1"), "password": "pass1"},
        "notify": "owner@example.org",
        "lang": "en",
    });
    let (st, v) = call_json(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let m = wait_until(&svc, &id, "user1", "failed", |m| {
        m.status == "failed" && m.passes.len() == 2
    })
    .await;
    assert_eq!(m.error_code.as_deref(), Some("unreachable"), "{m:?}");
    let failed = mail_text(&rx, 2);
    assert!(failed.contains("has stopped on an error"), "{failed}");
    // The side is said once ("reported: source: cannot connect" before).
    assert!(
        failed.contains("The source server reported: cannot connect"),
        "{failed}"
    );
    svc.shut_down();
}

/// A server name that does not exist fails the pass at once, with the "failed" message: it was
/// retried like a passing failure (5 attempts over ~7.5 minutes, "scheduled" meanwhile) while
/// the connection test said at once that the server could not be reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_name_that_does_not_exist_fails_at_once() {
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let rx = SmtpReceiver::start(SmtpOptions::default()).expect("aiosmtpd");
    let dir = tempfile::tempdir().unwrap();
    let svc = retrying_service(dir.path(), &rx, 3).await;
    // RFC 6761: names under .invalid never resolve.
    let body = json!({
        "source": {"url": "imaps://user1@no-such-server.invalid", "password": "pass1"},
        "destination": {"url": url(&dst, "user1"), "password": "pass1"},
        "notify": "owner@example.org",
        "lang": "en",
    });
    let (st, v) = call_json(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let m = wait_until(&svc, &id, "user1", "failed", |m| m.status == "failed").await;
    assert_eq!(m.passes.len(), 1, "tried once, not again: {m:?}");
    assert_eq!(m.error_code.as_deref(), Some("unreachable"), "{m:?}");
    let failed = mail_text(&rx, 2);
    assert!(failed.contains("has stopped on an error"), "{failed}");
    assert!(
        failed.contains("no-such-server.invalid") && failed.contains("no such name"),
        "{failed}"
    );
    svc.shut_down();
}

/// The "complete" message counts each DAV kind apart: 2 events and 1 contact copied were
/// told as 3 contacts, 3 events and 3 tasks (every kind got the pass's whole count).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_complete_message_counts_each_dav_kind_apart() {
    let mail = Dovecot::start(DovecotOptions::default()).unwrap();
    let src = Radicale::start(RadicaleOptions::default()).unwrap();
    let dst = Radicale::start(RadicaleOptions::default()).unwrap();
    let put = |url: String, ctype: &str, body: String| {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-u",
                "user1:pass1",
            ])
            .args(["-X", "PUT", "-H", &format!("content-type: {ctype}")])
            .args(["--data-binary", &body, &url])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "201", "{url}");
    };
    for n in 0..2 {
        put(
            format!("{}ev{n}.ics", src.calendar_url(1)),
            "text/calendar",
            format!(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:ev{n}@t\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:2026010{}T100000Z\r\nSUMMARY:ev {n}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                n + 1
            ),
        );
    }
    put(
        format!("{}c0.vcf", src.contacts_url(1)),
        "text/vcard",
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c0@t\r\nFN:Ann Example\r\nN:Example;Ann;;;\r\nEND:VCARD\r\n".into(),
    );
    let rx = SmtpReceiver::start(SmtpOptions::default()).expect("aiosmtpd");
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service(dir.path(), Some(&rx), true).await;
    let body = json!({
        "source": {"url": url(&mail, "user1"), "password": "pass1", "dav": format!("{}/user1/", src.url())},
        "destination": {"url": url(&mail, "user1"), "password": "pass1", "dav": format!("{}/user1/", dst.url())},
        "content": ["contacts", "calendars", "tasks"],
        "notify": "owner@example.org",
        "lang": "en",
    });
    let (st, v) = call_json(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let m = wait_until(&svc, &id, "user1", "done", finished(1)).await;
    assert_eq!((m.status.as_str(), m.items), ("done", 3), "{m:?}");
    let done = mail_text(&rx, 2);
    assert!(done.contains("is complete"), "{done}");
    for line in [
        "Contacts: 1 copied",
        "Events:   2 copied",
        "Tasks:    0 copied",
    ] {
        assert!(done.contains(line), "{line:?} in {done}");
    }
    svc.shut_down();
}

/// A shutdown (SIGTERM) ends the server within its grace period even while a browser follows a
/// migration over Server-Sent Events: the graceful end waited for every open request, and
/// that stream never ends by itself, so `passeur serve` did not exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_while_a_tracking_page_streams() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    fill(&src, "user1", "sse", 0..3);
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service(dir.path(), None, true).await;
    let body = json!({
        "source": {"url": url(&src, "user1"), "password": "pass1"},
        "destination": {"url": url(&dst, "user1"), "password": "pass1"},
    });
    let (_, v) = call_json(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    let id = v["id"].as_str().unwrap().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(passeur_server::serve(
        listener,
        Arc::clone(&svc),
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    sock.write_all(
        format!(
            "GET /api/v1/migrations/{id}/events?account=user1 HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("\"status\":\"done\"") {
        let n = tokio::time::timeout(WAIT, sock.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(
            n > 0,
            "the stream ended: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    // The page stays open; the operator stops the service.
    stop.send(()).unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(
        ended.is_ok(),
        "serve still running 10 s after the shutdown, with a 1 s grace"
    );
    ended.unwrap().unwrap().unwrap();
    drop(sock);
}
