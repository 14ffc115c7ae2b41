//! APPEND into a server without LITERAL+ (Courier-IMAP): each literal waits for the server's
//! `+`, and the next APPEND's command line must not be sent before the previous APPEND has
//! completed. Sent right behind a body, it made the server answer with two small writes in a
//! row (the tagged OK, then the next `+`): Nagle held the second until our delayed ACK, about
//! 40 ms per message. The server here is written with tokio and notes any byte that arrives
//! while it holds back an APPEND's completion.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use passeur_imap::{AppendMessage, Client, ConnectConfig, Security};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Serves one connection: no LITERAL+, no MULTIAPPEND; after each APPEND's body it waits
/// 100 ms before the tagged OK and counts in `early` the APPENDs during which the client
/// already sent more.
async fn strict_server(early: Arc<AtomicUsize>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (r, mut w) = sock.into_split();
        let mut r = BufReader::new(r);
        w.write_all(b"* OK [CAPABILITY IMAP4rev1 UIDPLUS] strict\r\n")
            .await
            .unwrap();
        let mut uid = 0;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let tag = line.split_whitespace().next().unwrap_or("*").to_owned();
            let Some(len) = line
                .trim_end()
                .strip_suffix('}')
                .and_then(|l| l.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok())
            else {
                w.write_all(format!("{tag} OK done\r\n").as_bytes())
                    .await
                    .unwrap();
                continue;
            };
            w.write_all(b"+ go ahead\r\n").await.unwrap();
            let mut body = vec![0u8; len + 2];
            r.read_exact(&mut body).await.unwrap();
            assert!(
                body.ends_with(b"\r\n"),
                "the command did not end after its literal"
            );
            let more = tokio::time::timeout(Duration::from_millis(100), r.fill_buf()).await;
            if matches!(more, Ok(Ok(b)) if !b.is_empty()) {
                early.fetch_add(1, Ordering::SeqCst);
            }
            uid += 1;
            w.write_all(format!("{tag} OK [APPENDUID 7 {uid}] done\r\n").as_bytes())
                .await
                .unwrap();
        }
    });
    port
}

#[tokio::test]
async fn without_literal_plus_each_append_completes_before_the_next_is_sent() {
    let early = Arc::new(AtomicUsize::new(0));
    let port = strict_server(early.clone()).await;
    let mut cfg = ConnectConfig::new("127.0.0.1", port, Security::Plain);
    cfg.io_timeout = Duration::from_secs(10);
    let mut c = Client::connect(&cfg).await.unwrap();
    let msgs: Vec<AppendMessage> = (1..=4)
        .map(|i| AppendMessage {
            flags: vec!["\\Seen".into()],
            internal_date: Some("01-Jan-2024 10:00:00 +0000".into()),
            body: Bytes::from(format!("Subject: {i}\r\n\r\nbody {i}\r\n")),
        })
        .collect();
    let out = c.append_batch("INBOX", &msgs).await.unwrap();
    assert_eq!(out.uidvalidity, Some(7));
    let uids: Vec<Option<u32>> = out.results.into_iter().map(Result::unwrap).collect();
    assert_eq!(uids, [Some(1), Some(2), Some(3), Some(4)]);
    assert_eq!(
        early.load(Ordering::SeqCst),
        0,
        "an APPEND command line was sent before the previous APPEND completed"
    );
}
