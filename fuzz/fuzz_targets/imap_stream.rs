//! The client's streaming scanner (`open_body`, `read_body_chunk`, `finish_body`) against a
//! server on loopback that answers with arbitrary bytes: it must never panic, never hand out
//! more bytes than the literal it announced, and end (the server closes after its bytes).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use passeur_imap::{Client, ConnectConfig, Security, fuzzing::body_literal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    // The first-line scanner alone, on every line of the input.
    for line in data.split(|&b| b == b'\n') {
        let _ = body_literal(line.strip_suffix(b"\r").unwrap_or(line));
    }
    let data = data.to_vec();
    rt().block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let _ = sock
                .write_all(b"* OK [CAPABILITY IMAP4rev1] fuzz\r\n")
                .await;
            let mut cmd = [0u8; 256];
            let _ = sock.read(&mut cmd).await;
            let _ = sock.write_all(&data).await;
            let _ = sock.shutdown().await;
        });
        let mut cfg = ConnectConfig::new("127.0.0.1", port, Security::Plain);
        cfg.io_timeout = Duration::from_secs(5);
        let mut c = Client::connect(&cfg).await.unwrap();
        if let Ok(Some(n)) = c.open_body(1).await {
            let mut got = 0u64;
            while let Ok(Some(chunk)) = c.read_body_chunk(64 * 1024).await {
                got += chunk.len() as u64;
                assert!(got <= n, "more bytes than the literal announced");
            }
            let _ = c.finish_body().await;
        }
        let _ = server.await;
    });
});
