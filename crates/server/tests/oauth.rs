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
    let start = Instant::now();
    loop {
        let (_, v) = call(
            svc,
            "GET",
            &format!("/api/v1/migrations/{id}"),
            Some("user1"),
            None,
        )
        .await;
        let m: MigrationOut = serde_json::from_value(v).unwrap();
        if m.passes.len() >= passes && matches!(m.status.as_str(), "done" | "failed" | "stopped") {
            return m;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{m:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
