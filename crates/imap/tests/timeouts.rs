//! Peers that go silent or say goodbye: the client gives up in time, with
//! errors that say a retry may help. (A bare TCP listener stands in for a
//! stuck server; no IMAP is simulated beyond one greeting line.)

use std::time::{Duration, Instant};

use passeur_imap::{Client, ConnectConfig, Error, Security};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

async fn listener() -> (TcpListener, ConnectConfig) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = ConnectConfig::new("127.0.0.1", l.local_addr().unwrap().port(), Security::Plain);
    cfg.connect_timeout = Duration::from_millis(300);
    cfg.io_timeout = Duration::from_millis(300);
    (l, cfg)
}

#[tokio::test]
async fn silent_server_times_out_at_greeting() {
    let (l, cfg) = listener().await;
    let hold = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(s);
    });
    let t = Instant::now();
    let err = Client::connect(&cfg).await.unwrap_err();
    // Nothing at all arrived on a plain connection: said as a missing greeting (with the hint
    // that the port may expect TLS), still worth a retry.
    assert!(matches!(err, Error::NoGreeting { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(t.elapsed() < Duration::from_secs(2));
    hold.abort();
}

#[tokio::test]
async fn server_that_stops_answering_times_out() {
    let (l, cfg) = listener().await;
    let hold = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(s);
    });
    let mut c = Client::connect(&cfg).await.unwrap();
    let err = c.noop().await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable());
    hold.abort();
}

#[tokio::test]
async fn bye_greeting_is_a_closed_connection() {
    let (l, cfg) = listener().await;
    let hold = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(b"* BYE too many connections\r\n")
            .await
            .unwrap();
    });
    let err = Client::connect(&cfg).await.unwrap_err();
    match &err {
        Error::Closed { reason } => assert_eq!(reason.as_deref(), Some("too many connections")),
        other => panic!("{other:?}"),
    }
    assert!(err.is_retryable());
    hold.await.unwrap();
}

/// A hostile server answering a body fetch with a line that never ends: the client stops at
/// the line limit with a protocol error instead of buffering without bound.
#[tokio::test]
async fn an_endless_fetch_line_is_refused_not_buffered() {
    let (l, mut cfg) = listener().await;
    cfg.io_timeout = Duration::from_secs(10);
    let hold = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        s.write_all(b"* OK [CAPABILITY IMAP4rev1] hi\r\n")
            .await
            .unwrap();
        s.write_all(b"* 1 FETCH (UID 1 X ").await.unwrap();
        let junk = vec![b'x'; 1 << 20];
        for _ in 0..80 {
            if s.write_all(&junk).await.is_err() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let mut c = Client::connect(&cfg).await.unwrap();
    let err = c.open_body(1).await.unwrap_err();
    assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
    hold.abort();
}
