//! The JSON API, called through the router (no socket), against private Dovecot servers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use passeur_server::api::MigrationOut;
use passeur_server::{Service, router};
use passeur_store::Store;
use passeur_testkit::{Dovecot, DovecotOptions};
use serde_json::{Value, json};
use tower::ServiceExt as _;

mod common;
use common::call_json as call;
use common::*;

async fn service(dir: &std::path::Path) -> (Arc<Service>, Store) {
    service_with(dir, test_settings(), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_track_sync_purge_over_the_api() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    fill(&src, "user1", "api", 0..20);
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service(dir.path()).await;

    let body = json!({
        "source": {"url": imap_url(&src, "user1"), "password": "pass1"},
        "destination": {"url": imap_url(&dst, "user1"), "password": "pass1"},
        "content": ["mail"],
    });
    let (st, v) = call(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    assert!(id.len() >= 26, "an ID of 128 random bits: {id}");

    let m = wait_finished(&svc, &id, "user1", 1).await;
    assert_eq!(m.status, "done", "{m:?}");
    assert_eq!(m.passes[0].copied, 20);
    assert_eq!(m.items, 20);
    assert_eq!(count(&dst, "user1"), 20);

    // Tracking needs the source account: a wrong one and an unknown ID look the same.
    let (st, wrong) = call(
        &svc,
        "GET",
        &format!("/api/v1/migrations/{id}"),
        Some("user2"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, unknown) = call(
        &svc,
        "GET",
        "/api/v1/migrations/aaaaaaaaaaaaaaaaaaaaaaaaaa",
        Some("user1"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(wrong, unknown);
    let (st, _) = call(&svc, "GET", &format!("/api/v1/migrations/{id}"), None, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // New mail, then a sync copies only it, as pass 2.
    fill(&src, "user1", "api", 100..103);
    let (st, v) = call(
        &svc,
        "POST",
        &format!("/api/v1/migrations/{id}/sync"),
        Some("user1"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let m = wait_finished(&svc, &id, "user1", 2).await;
    assert_eq!(m.passes.len(), 2, "{m:?}");
    assert_eq!(m.passes[1].copied, 3, "{m:?}");
    assert_eq!(count(&dst, "user1"), 23);

    // Purge from sync point 2: the destination password is asked again; a wrong one deletes nothing.
    let (st, v) = call(
        &svc,
        "POST",
        &format!("/api/v1/migrations/{id}/purge"),
        Some("user1"),
        Some(json!({"from_pass": 2, "destination_password": "wrong"})),
    )
    .await;
    assert!(st.is_client_error() || st.is_server_error(), "{st} {v}");
    assert!(v["error"].as_str().unwrap().contains("destination"), "{v}");
    assert_eq!(v["code"], "auth", "{v}");
    assert_eq!(count(&dst, "user1"), 23);
    let (st, v) = call(
        &svc,
        "POST",
        &format!("/api/v1/migrations/{id}/purge"),
        Some("user1"),
        Some(json!({"from_pass": 2, "destination_password": "pass1"})),
    )
    .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let start = Instant::now();
    let purge = loop {
        let (_, v) = call(
            &svc,
            "GET",
            &format!("/api/v1/migrations/{id}"),
            Some("user1"),
            None,
        )
        .await;
        let m: MigrationOut = serde_json::from_value(v).unwrap();
        match m.purge {
            Some(p) if p.state == "done" || p.state == "failed" => break p,
            _ => {}
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "purge never ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (purge.state.as_str(), purge.deleted),
        ("done", 3),
        "{purge:?}"
    );
    assert_eq!(count(&dst, "user1"), 20);

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
async fn a_pop3_source_is_accepted_and_copied_into_the_inbox() {
    let src = Dovecot::start(DovecotOptions {
        pop3: true,
        ..DovecotOptions::default()
    })
    .unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    fill(&src, "user1", "api", 0..7);
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service(dir.path()).await;
    let pop = format!("pop3://user1@127.0.0.1:{}", src.pop3_port.unwrap());
    let body = json!({
        "source": {"url": pop, "password": "pass1"},
        "destination": {"url": imap_url(&dst, "user1"), "password": "pass1"},
    });
    let (st, v) = call(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let m = wait_finished(&svc, &id, "user1", 1).await;
    assert_eq!(m.status, "done", "{m:?}");
    assert_eq!(m.passes[0].copied, 7);
    assert_eq!(count(&dst, "user1"), 7);
    assert_eq!(count(&src, "user1"), 7, "the POP3 source is untouched");
    // The connection test logs in over POP3 too.
    for (pw, want) in [("pass1", json!(true)), ("wrong", json!(false))] {
        let body = json!({
            "source": {"url": pop.clone(), "password": pw},
            "destination": {"url": imap_url(&dst, "user1"), "password": "pass1"},
        });
        let (st, v) = call(&svc, "POST", "/api/v1/connection-tests", None, Some(body)).await;
        assert_eq!((st, &v["source"]["ok"]), (StatusCode::OK, &want), "{v}");
        if pw == "wrong" {
            assert_eq!(v["source"]["reason"], "auth", "{v}");
        }
    }
    svc.shut_down();
}

#[tokio::test]
async fn bad_requests_name_the_field_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, store) = service(dir.path()).await;
    let ok_side =
        |user: &str| json!({"url": format!("imap://{user}@127.0.0.1:1"), "password": "x"});
    let cases: Vec<(Value, StatusCode, Option<&str>, &str)> = vec![
        (
            json!("not an object"),
            StatusCode::BAD_REQUEST,
            None,
            "does not match",
        ),
        (
            json!({"source": ok_side("a")}),
            StatusCode::BAD_REQUEST,
            None,
            "destination",
        ),
        (
            json!({"source": {"url": "imap://a:secret@h", "password": "x"}, "destination": ok_side("b")}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("source.url"),
            "password in the URL is refused",
        ),
        (
            json!({"source": {"url": "ftp://a@h", "password": "x"}, "destination": ok_side("b")}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("source.url"),
            "unknown scheme",
        ),
        (
            json!({"source": ok_side("a"), "destination": {"url": "pop3s://b@h", "password": "x"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("destination.url"),
            "POP3 can only be a source",
        ),
        (
            json!({"source": {"url": "imap://a@h", "password": ""}, "destination": ok_side("b")}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("source.password"),
            "required",
        ),
        (
            json!({"source": ok_side("a"), "destination": ok_side("b"), "content": ["mail", "faxes"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("content[1]"),
            "unknown content kind",
        ),
        (
            json!({"source": ok_side("a"), "destination": ok_side("b"), "content": ["contacts"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("source.dav"),
            "required",
        ),
        (
            json!({"source": ok_side("a"), "destination": ok_side("b"), "notify": "nobody"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("notify"),
            "e-mail address",
        ),
        (
            json!({"source": ok_side("a"), "destination": ok_side("b"), "start_at": "tomorrow"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("start_at"),
            "RFC 3339",
        ),
        (
            json!({"source": ok_side("a"), "destination": ok_side("b"), "lang": "de"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("lang"),
            "fr or en",
        ),
        (
            json!({"source": ok_side("a"), "destination": ok_side("b"), "colour": "blue"}),
            StatusCode::BAD_REQUEST,
            None,
            "unknown field",
        ),
    ];
    for (body, want, field, text) in cases {
        let (st, v) = call(&svc, "POST", "/api/v1/migrations", None, Some(body.clone())).await;
        assert_eq!(st, want, "{body} -> {v}");
        assert_eq!(v["field"].as_str(), field, "{body} -> {v}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(text), "{body} -> {msg}");
        assert!(!msg.contains("secret"), "a password echoed: {msg}");
    }
    // Not JSON, and too large.
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/migrations")
        .header("content-type", "application/json")
        .body(Body::from("{nope"))
        .unwrap();
    let res = router(Arc::clone(&svc)).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let big = json!({"source": {"url": "imap://a@h", "password": "x".repeat(100_000)}, "destination": ok_side("b")});
    let (st, v) = call(&svc, "POST", "/api/v1/migrations", None, Some(big)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("larger than"), "{v}");

    // Nothing was stored.
    for (s, d) in [("a", "b")] {
        let found = store
            .find_migration(
                &format!("imap://{s}@127.0.0.1:1"),
                &format!("imap://{d}@127.0.0.1:1"),
            )
            .await
            .unwrap();
        assert!(found.is_none());
    }
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(9).any(|w| w == b"imap://a@"),
            "a request was stored"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service(dir.path()).await;
    let (st, v) = call(&svc, "GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(st, StatusCode::OK);
    let paths = v["paths"].as_object().unwrap();
    for p in [
        "/api/v1/migrations",
        "/api/v1/migrations/{id}",
        "/api/v1/migrations/{id}/stop",
        "/api/v1/migrations/{id}/sync",
        "/api/v1/migrations/{id}/purge",
        "/api/v1/migrations/{id}/events",
        "/api/v1/migrations/{id}/report.csv",
        "/api/v1/connection-tests",
    ] {
        assert!(paths.contains_key(p), "{p} missing from {:?}", paths.keys());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_source_is_created_with_the_server_detection_finds() {
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service(dir.path()).await;
    // A provider preset: found without any network lookup.
    let body = json!({
        "source": {"url": "auto://alice@gmail.com", "password": "x"},
        "destination": {"url": imap_url(&dst, "user1"), "password": "pass1"},
    });
    let (st, v) = call(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap();
    let (st, m) = call(
        &svc,
        "GET",
        &format!("/api/v1/migrations/{id}"),
        Some("alice@gmail.com"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{m}");
    assert_eq!(
        m["source"], "imaps://alice%40gmail.com@imap.gmail.com:993",
        "{m}"
    );
    // Gmail documents 15 connections per account: the default 4 stays within it.
    assert_eq!(m["connections"]["provider_limit"], 15, "{m}");
    assert_eq!(
        m["connections"]["provider"], "Gmail / Google Workspace",
        "{m}"
    );
    // Not an address: the field is named.
    let body = json!({
        "source": {"url": "auto://not-an-address", "password": "x"},
        "destination": {"url": imap_url(&dst, "user1"), "password": "pass1"},
    });
    let (st, v) = call(&svc, "POST", "/api/v1/migrations", None, Some(body)).await;
    assert_eq!(
        (st, v["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("source.url")),
        "{v}"
    );
    svc.shut_down();
}

/// A destination at a provider with a preset (a private Dovecot at `localhost` plays it, with
/// no SPECIAL-USE): passes stay within its documented connection limit, the API shows both,
/// and the source's Sent folder lands in the folder the preset names. A second service in the
/// same process, given only the built-in presets, knows nothing of that provider: its
/// migration to the same server keeps `Sent` and its connections uncapped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_preset_caps_connections_and_names_its_sent_folder() {
    let presets = passeur_net::discover::Presets::with_json(
        r#"[{"id": "test-provider", "name": "Test Provider", "domains": [],
             "imap": {"host": "localhost", "port": 993, "security": "tls"},
             "folders": {"sent": "Sent Items"}, "limits": {"connections": 2}}]"#,
    )
    .unwrap();
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions {
        special_folders: Some(Vec::new()),
        ..DovecotOptions::default()
    })
    .unwrap();
    fill(&src, "user1", "in", 0..3);
    let mut c =
        passeur_testkit::imapwire::Client::login(&src.imap_addr(), "user1", "pass1").unwrap();
    for i in 0..2 {
        let body = format!("Subject: sent {i}\r\nMessage-ID: <sent{i}@x>\r\n\r\nbody {i}\r\n");
        c.append("Sent", &["\\Seen"], None, body.as_bytes())
            .unwrap();
    }
    c.logout();
    // Both services run at once in this process, each with its own presets.
    let (dir, plain_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let settings = passeur_server::Settings {
        presets,
        ..test_settings()
    };
    let (svc, _) = service_with(dir.path(), settings, None).await;
    let (plain, _) = service(plain_dir.path()).await;
    let mut ids = Vec::new();
    for (s, user, pw) in [(&svc, "user1", "pass1"), (&plain, "user2", "pass2")] {
        let body = json!({
            "source": {"url": imap_url(&src, "user1"), "password": "pass1"},
            "destination": {"url": format!("imap://{user}@localhost:{}", dst.imap_port), "password": pw},
        });
        let (st, v) = call(s, "POST", "/api/v1/migrations", None, Some(body)).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    for (s, id) in [&svc, &plain].into_iter().zip(&ids) {
        let m = wait_finished(s, id, "user1", 1).await;
        assert_eq!(m.status, "done", "{m:?}");
        assert_eq!(m.passes[0].copied, 5, "{m:?}");
        let (_, m) = call(
            s,
            "GET",
            &format!("/api/v1/migrations/{id}"),
            Some("user1"),
            None,
        )
        .await;
        seen.push(m["connections"].clone());
    }
    assert_eq!(
        seen[0],
        json!({"used": 2, "provider_limit": 2, "provider": "Test Provider"}),
        "{seen:?}"
    );
    assert_eq!(seen[1]["provider"], Value::Null, "{seen:?}");
    assert!(seen[1]["used"].as_u64().unwrap() > 2, "{seen:?}");
    let mut d =
        passeur_testkit::imapwire::Client::login(&dst.imap_addr(), "user1", "pass1").unwrap();
    assert_eq!(d.select("Sent Items", true).unwrap(), 2);
    let names: Vec<String> = d.list().unwrap().into_iter().map(|f| f.name).collect();
    assert!(!names.iter().any(|n| n == "Sent"), "{names:?}");
    d.logout();
    let mut d =
        passeur_testkit::imapwire::Client::login(&dst.imap_addr(), "user2", "pass2").unwrap();
    assert_eq!(d.select("Sent", true).unwrap(), 2);
    let names: Vec<String> = d.list().unwrap().into_iter().map(|f| f.name).collect();
    assert!(!names.iter().any(|n| n == "Sent Items"), "{names:?}");
    d.logout();
    svc.shut_down();
    plain.shut_down();
}

/// A Gmail source created through the API with `gmail_archive_folder`: its message with no
/// label lands in that folder, the labelled one in its label's; a bad folder name is refused
/// on its field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gmail_source_takes_its_archive_folder_from_the_api() {
    let backend = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let gmail =
        passeur_testkit::GmailServer::start(&backend.imap_addr(), "user1", "pass1", "INBOX")
            .unwrap();
    let date = "02-Mar-2024 08:30:00 +0000";
    gmail
        .add_message(
            b"Subject: labelled\r\nMessage-ID: <l@x>\r\n\r\nl\r\n",
            &[],
            date,
            &["Work"],
        )
        .unwrap();
    gmail
        .add_message(
            b"Subject: bare\r\nMessage-ID: <b@x>\r\n\r\nb\r\n",
            &["\\Seen"],
            date,
            &[],
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (svc, _) = service(dir.path()).await;
    let body = |folder: &str| {
        json!({
            "source": {"url": gmail.url(), "password": "pass1"},
            "destination": {"url": imap_url(&dst, "user1"), "password": "pass1"},
            "gmail_archive_folder": folder,
        })
    };
    let (st, v) = call(
        &svc,
        "POST",
        "/api/v1/migrations",
        None,
        Some(body("No\u{7}label")),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["field"], "gmail_archive_folder", "{v}");
    let (st, v) = call(
        &svc,
        "POST",
        "/api/v1/migrations",
        None,
        Some(body("Unlabelled")),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let m = wait_finished(&svc, &id, "user1", 1).await;
    assert_eq!(m.status, "done", "{m:?}");
    let mut c =
        passeur_testkit::imapwire::Client::login(&dst.imap_addr(), "user1", "pass1").unwrap();
    let subjects = |c: &mut passeur_testkit::imapwire::Client, folder: &str| -> Vec<String> {
        if c.select(folder, true).unwrap() == 0 {
            return Vec::new();
        }
        c.fetch("FETCH 1:* (BODY.PEEK[])")
            .unwrap()
            .into_iter()
            .map(|i| {
                String::from_utf8_lossy(&i.body.unwrap())
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(subjects(&mut c, "Unlabelled"), ["Subject: bare"]);
    assert_eq!(subjects(&mut c, "Work"), ["Subject: labelled"]);
    let names: Vec<String> = c.list().unwrap().into_iter().map(|f| f.name).collect();
    assert!(!names.iter().any(|n| n == "Archive"), "{names:?}");
    c.logout();
}
