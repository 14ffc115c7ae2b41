//! Hostile servers on loopback (written here with tokio): what they announce must not make the
//! client reserve memory, and a response larger than the client's cap is refused, not held.

use std::time::Duration;

use passeur_imap::{Client, ConnectConfig, Error, Security};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// A server that greets, waits for one command and answers it with `reply(tag)`, then
/// trickles `trickle` bytes one small piece at a time, then closes.
async fn serve_once(reply: fn(&str) -> Vec<u8>, trickle: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        run(sock, reply, trickle).await;
    });
    port
}

async fn run(sock: TcpStream, reply: fn(&str) -> Vec<u8>, trickle: usize) {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"* OK [CAPABILITY IMAP4rev1] hostile\r\n")
        .await
        .unwrap();
    let mut line = String::new();
    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
        return;
    }
    let tag = line.split_whitespace().next().unwrap_or("*").to_owned();
    if w.write_all(&reply(&tag)).await.is_err() {
        return;
    }
    let mut sent = 0;
    while sent < trickle {
        if w.write_all(&[b'x'; 64]).await.is_err() {
            return;
        }
        sent += 64;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn connect(port: u16) -> Client {
    let mut cfg = ConnectConfig::new("127.0.0.1", port, Security::Plain);
    cfg.io_timeout = Duration::from_secs(10);
    Client::connect(&cfg).await.unwrap()
}

#[tokio::test]
async fn an_announced_half_gigabyte_literal_then_a_trickle_reserves_nothing_like_it() {
    let port = serve_once(
        |_| b"* 1 FETCH (UID 1 BODY[] {536870911}\r\n".to_vec(),
        32 * 1024,
    )
    .await;
    let mut c = connect(port).await;
    // The address space is what a reservation takes, touched or not (the measured failure
    // was an abort under `ulimit -v`).
    let before = status_kb("VmSize:");
    c.start_fetch_bodies(&[1]).await.unwrap();
    let e = c.next_body().await.unwrap_err();
    let peak = status_kb("VmPeak:");
    assert!(matches!(e, Error::Closed { .. }), "{e}");
    assert!(
        peak.saturating_sub(before) < 64 * 1024,
        "the address space grew by {} MiB for a literal that never came",
        peak.saturating_sub(before) / 1024
    );
}

#[tokio::test]
async fn a_response_larger_than_the_cap_is_refused_before_it_is_read() {
    // One literal above the cap.
    let port = serve_once(|_| b"* 1 FETCH (UID 1 BODY[] {2000000}\r\n".to_vec(), 0).await;
    let mut c = connect(port).await;
    c.set_max_response_literals(1 << 20);
    c.start_fetch_bodies(&[1]).await.unwrap();
    let e = c.next_body().await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::ResponseTooLarge {
                size: 2_000_000,
                limit: 1_048_576
            }
        ),
        "{e}"
    );
    assert!(!e.is_retryable());

    // Two literals, each under the cap, together above it.
    fn two(tag: &str) -> Vec<u8> {
        let mut r = b"* 1 FETCH (UID 1 BODY[HEADER] {700000}\r\n".to_vec();
        r.extend(std::iter::repeat_n(b'h', 700_000));
        r.extend_from_slice(b" BODY[] {700000}\r\n");
        r.extend(std::iter::repeat_n(b'b', 700_000));
        r.extend_from_slice(format!(")\r\n{tag} OK done\r\n").as_bytes());
        r
    }
    let port = serve_once(two, 0).await;
    let mut c = connect(port).await;
    c.set_max_response_literals(1 << 20);
    c.start_fetch_bodies(&[1]).await.unwrap();
    let e = c.next_body().await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::ResponseTooLarge {
                size: 1_400_000,
                ..
            }
        ),
        "{e}"
    );

    // The same response under a cap that allows it is read whole.
    let port = serve_once(two, 0).await;
    let mut c = connect(port).await;
    c.set_max_response_literals(2 << 20);
    c.start_fetch_bodies(&[1]).await.unwrap();
    let body = c.next_body().await.unwrap().unwrap();
    assert_eq!(body.body.len(), 700_000);
    assert!(c.next_body().await.unwrap().is_none());
}
