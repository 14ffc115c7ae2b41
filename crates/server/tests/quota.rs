//! A provider's documented daily limit in the service: the pass stops at it, and the next
//! pass is scheduled for when the day's window frees up, with no one to press a button. The
//! day is the account's: another migration into it waits for the same reset.

mod common;

use std::time::{Duration, Instant};

use common::call_json as call;
use common::*;
use passeur_testkit::imapwire::Client;
use passeur_testkit::{Dovecot, DovecotOptions};
use serde_json::{Value, json};

/// Waits until migration `id` (tracked with `account`) has a pass and is scheduled; a pass
/// that ends otherwise fails the test with `why`.
async fn wait_scheduled(
    svc: &std::sync::Arc<passeur_server::Service>,
    id: &str,
    account: &str,
    why: &str,
) -> Value {
    let start = Instant::now();
    loop {
        let (_, m) = call(
            svc,
            "GET",
            &format!("/api/v1/migrations/{id}"),
            Some(account),
            None,
        )
        .await;
        if m["status"] == "scheduled" && m["passes"].as_array().is_some_and(|p| !p.is_empty()) {
            return m;
        }
        assert!(
            !matches!(m["status"].as_str(), Some("done" | "failed")),
            "{why}{m}"
        );
        assert!(start.elapsed() < Duration::from_secs(60), "{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_stopped_at_a_daily_limit_is_scheduled_for_the_reset() {
    // The destination, reached as `localhost`, is at a provider that takes 1 MB a day.
    let presets = passeur_net::discover::Presets::with_json(
        r#"[{"id": "test-limited", "name": "Test Limited", "domains": [],
             "imap": {"host": "localhost", "port": 993, "security": "tls"},
             "limits": {"daily_upload_mb": 1}}]"#,
    )
    .unwrap();
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let mut c = Client::login(&src.imap_addr(), "user1", "pass1").unwrap();
    let line = "a line of a large message, long enough to weigh something.......\r\n";
    for i in 0..40 {
        let body = format!(
            "Subject: big {i}\r\nMessage-ID: <big{i}@x>\r\n\r\n{}",
            line.repeat(1_200)
        );
        c.append("INBOX", &[], None, body.as_bytes()).unwrap();
    }
    c.logout();
    let dir = tempfile::tempdir().unwrap();
    let settings = passeur_server::Settings {
        presets,
        ..test_settings()
    };
    let (svc, _) = service_with(dir.path(), settings, None).await;
    let body = json!({
        "source": {"url": imap_url(&src, "user1"), "password": "pass1"},
        "destination": {"url": format!("imap://user1@localhost:{}", dst.imap_port), "password": "pass1"},
    });
    let (st, v) = call(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    assert_eq!(st.as_u16(), 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let m = wait_scheduled(&svc, &id, "user1", "").await;
    let copied = m["passes"][0]["copied"].as_u64().unwrap();
    assert!((10..40).contains(&copied), "{m}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = m["scheduled_at"].as_i64().expect("scheduled_at");
    assert!(
        (now + 86_400 - 120..=now + 86_400).contains(&at),
        "the next pass is due at {at}, now is {now}: {m}"
    );
    // It stays scheduled: the stopped job does not mark the migration stopped after.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, again) = call(
        &svc,
        "GET",
        &format!("/api/v1/migrations/{id}"),
        Some("user1"),
        None,
    )
    .await;
    assert_eq!(again["status"], "scheduled", "{again}");
    let mut d = Client::login(&dst.imap_addr(), "user1", "pass1").unwrap();
    assert_eq!(d.select("INBOX", true).unwrap() as u64, copied);
    d.logout();

    // A second migration into the same account shares its day: it copies nothing, and waits
    // for the same reset.
    let mut c = Client::login(&src.imap_addr(), "user2", "pass2").unwrap();
    for i in 0..3 {
        let body = format!("Subject: small {i}\r\nMessage-ID: <small{i}@x>\r\n\r\nsmall\r\n");
        c.append("INBOX", &[], None, body.as_bytes()).unwrap();
    }
    c.logout();
    let body = json!({
        "source": {"url": imap_url(&src, "user2"), "password": "pass2"},
        "destination": {"url": format!("imap://user1@localhost:{}", dst.imap_port), "password": "pass1"},
    });
    let (st, v) = call(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    assert_eq!(st.as_u16(), 201, "{v}");
    let id2 = v["id"].as_str().unwrap().to_string();
    let m2 = wait_scheduled(
        &svc,
        &id2,
        "user2",
        "the second migration ignored the account's used day: ",
    )
    .await;
    assert_eq!(m2["passes"][0]["copied"], 0, "{m2}");
    assert_eq!(m2["scheduled_at"], m["scheduled_at"], "{m2}");
    let mut d = Client::login(&dst.imap_addr(), "user1", "pass1").unwrap();
    assert_eq!(d.select("INBOX", true).unwrap() as u64, copied);
    d.logout();
    svc.shut_down();
}
