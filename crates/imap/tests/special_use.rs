//! CREATE with a special-use attribute (RFC 6154): sent only to a server that advertises
//! CREATE-SPECIAL-USE. A scripted peer records the command lines it receives.

use std::time::Duration;

use passeur_imap::{Client, ConnectConfig, Security};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Greets with `caps`, answers every command OK, and returns the lines received.
async fn creates_seen(caps: &'static str) -> Vec<String> {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = ConnectConfig::new("127.0.0.1", l.local_addr().unwrap().port(), Security::Plain);
    cfg.connect_timeout = Duration::from_secs(5);
    cfg.io_timeout = Duration::from_secs(5);
    let server = tokio::spawn(async move {
        let (s, _) = l.accept().await.unwrap();
        let (r, mut w) = s.into_split();
        w.write_all(format!("* OK [CAPABILITY IMAP4rev1 {caps}] hi\r\n").as_bytes())
            .await
            .unwrap();
        let mut lines = BufReader::new(r).lines();
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let tag = line.split(' ').next().unwrap_or("*").to_owned();
            seen.push(line);
            w.write_all(format!("{tag} OK done\r\n").as_bytes())
                .await
                .unwrap();
        }
        seen
    });
    let mut c = Client::connect(&cfg).await.unwrap();
    c.create_with_role("Archive", Some("\\Archive"))
        .await
        .unwrap();
    c.create_with_role("Projects", None).await.unwrap();
    drop(c);
    server.await.unwrap()
}

fn without_tags(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .map(|l| l.split_once(' ').map(|(_, r)| r.to_owned()).unwrap_or(l))
        .collect()
}

#[tokio::test]
async fn role_goes_with_create_where_the_server_supports_it() {
    let seen = without_tags(creates_seen("CREATE-SPECIAL-USE SPECIAL-USE").await);
    assert_eq!(
        seen,
        [
            "CREATE \"Archive\" (USE (\\Archive))",
            "CREATE \"Projects\""
        ]
    );
}

#[tokio::test]
async fn plain_create_without_the_capability() {
    let seen = without_tags(creates_seen("SPECIAL-USE").await);
    assert_eq!(seen, ["CREATE \"Archive\"", "CREATE \"Projects\""]);
}
