//! The per-address limit on tracking lookups (120 a minute) holds across the processes of a
//! service: two services sharing one store (an SQLite file, or a PostgreSQL database) count
//! one client's lookups together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use passeur_engine::Runner;
use passeur_server::vault::Vault;
use passeur_server::{Service, Settings, router};
use passeur_store::Store;
use tower::ServiceExt as _;

/// A service over the store at `url`, HTTP only.
async fn service(url: &str, dir: &std::path::Path) -> Arc<Service> {
    let store = Store::connect(url).await.unwrap();
    let vault = Vault::open_or_create(&dir.join("secret.key")).unwrap();
    let settings = Settings {
        workers: 0,
        ..Default::default()
    };
    Service::new(Runner::new(store), vault, settings, None)
}

/// A tracking lookup of an unknown migration from the client at `from`.
async fn lookup(svc: &Arc<Service>, from: &str) -> StatusCode {
    let mut req = Request::builder()
        .uri("/api/v1/migrations/01890000-0000-7000-8000-000000000000")
        .header("x-passeur-account", "someone@example.org")
        .body(Body::empty())
        .unwrap();
    let peer: SocketAddr = format!("{from}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    router(Arc::clone(svc)).oneshot(req).await.unwrap().status()
}

async fn two_services_share_the_lookup_limit(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let a = service(url, dir.path()).await;
    let b = service(url, dir.path()).await;
    // 60 lookups through each: within the limit of 120.
    for _ in 0..60 {
        assert_eq!(lookup(&a, "203.0.113.7").await, StatusCode::NOT_FOUND);
    }
    for _ in 0..60 {
        assert_eq!(lookup(&b, "203.0.113.7").await, StatusCode::NOT_FOUND);
    }
    // Each process tells the store at least once a second: then both refuse the 121st,
    // though each saw only 61.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        lookup(&a, "203.0.113.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        lookup(&b, "203.0.113.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client is not held back.
    assert_eq!(lookup(&b, "198.51.100.9").await, StatusCode::NOT_FOUND);
    // A third process started later knows it too.
    let c = service(url, dir.path()).await;
    assert_eq!(
        lookup(&c, "203.0.113.7").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_lookups_are_limited_across_services_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("passeur.db").display());
    two_services_share_the_lookup_limit(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_lookups_are_limited_across_services_on_postgres() {
    let db = passeur_testkit::PgTestDb::create().unwrap();
    two_services_share_the_lookup_limit(&db.url()).await;
}
