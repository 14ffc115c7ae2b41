//! Rough throughput figures against a private Dovecot (`mail_fsync = never`).
//! Ignored by default; run with
//! `cargo test -p passeur-imap --release --test throughput -- --ignored --nocapture`.

mod common;

use std::time::Instant;

use bytes::Bytes;
use common::Dovecot;
use passeur_imap::{AppendMessage, Quirks};

/// About 5,000 messages averaging ~50 KB, like the testbed's c5000 corpus.
fn corpus(count: u32) -> Vec<AppendMessage> {
    let mut x: u64 = 42;
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    (0..count)
        .map(|n| {
            let r = next() % 1000;
            let size = match r {
                0..=819 => 2_000 + (next() % 18_000) as usize,
                820..=949 => 20_000 + (next() % 80_000) as usize,
                950..=998 => 100_000 + (next() % 1_900_000) as usize,
                _ => 10_000_000,
            };
            let mut body =
                format!("Message-ID: <m{n}@example.org>\r\nSubject: {n}\r\n\r\n").into_bytes();
            while body.len() < size {
                for _ in 0..76 {
                    body.push(b'A' + (next() % 26) as u8);
                }
                body.extend_from_slice(b"\r\n");
            }
            AppendMessage {
                flags: if n % 2 == 0 {
                    vec!["\\Seen".into()]
                } else {
                    vec![]
                },
                internal_date: Some("05-Mar-2021 10:11:12 +0100".into()),
                body: Bytes::from(body),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn throughput() {
    let dc = Dovecot::start(4);
    let msgs = corpus(5000);
    let total: usize = msgs.iter().map(|m| m.body.len()).sum();
    let mb = total as f64 / 1e6;
    println!("corpus: {} messages, {mb:.1} MB", msgs.len());

    for (user, label, quirks) in [
        (1, "MULTIAPPEND x100", Quirks::default()),
        (
            2,
            "pipelined LITERAL+ APPEND x100",
            Quirks::new(true, false),
        ),
    ] {
        let mut c = dc.login(user).await;
        c.set_quirks(quirks);
        let t = Instant::now();
        for chunk in msgs.chunks(100) {
            let out = match c.append_batch("INBOX", chunk).await {
                Ok(o) => o,
                Err(e) => panic!("{e:?}\n{}", dc.log()),
            };
            assert!(out.results.iter().all(|r| matches!(r, Ok(Some(_)))));
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "append ({label}): {s:.2} s, {:.0} msgs/s, {:.1} MB/s",
            msgs.len() as f64 / s,
            mb / s
        );
    }

    // Streaming fetch of everything.
    let mut c = dc.login(1).await;
    let st = c.examine("INBOX").await.unwrap();
    let uids: Vec<u32> = (1..st.uidnext.unwrap()).collect();
    let t = Instant::now();
    let mut got = 0usize;
    for chunk in uids.chunks(500) {
        c.start_fetch_bodies(chunk).await.unwrap();
        while let Some(b) = c.next_body().await.unwrap() {
            got += b.body.len();
        }
    }
    let s = t.elapsed().as_secs_f64();
    assert_eq!(got, total);
    println!(
        "fetch: {s:.2} s, {:.0} msgs/s, {:.1} MB/s",
        uids.len() as f64 / s,
        mb / s
    );

    // Copy user1 -> user3: fetch and MULTIAPPEND concurrently, as the engine will.
    let t = Instant::now();
    let mut src = dc.login(1).await;
    let mut dst = dc.login(3).await;
    src.examine("INBOX").await.unwrap();
    let meta = src.uid_fetch_meta("1:*", None).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<AppendMessage>>(4);
    let fetcher = tokio::spawn(async move {
        for chunk in meta.chunks(100) {
            let uids: Vec<u32> = chunk.iter().map(|m| m.uid).collect();
            src.start_fetch_bodies(&uids).await.unwrap();
            let mut batch = Vec::with_capacity(chunk.len());
            while let Some(b) = src.next_body().await.unwrap() {
                let m = chunk.iter().find(|m| m.uid == b.uid).unwrap();
                batch.push(AppendMessage {
                    flags: m.flags.clone(),
                    internal_date: m.internal_date.clone(),
                    body: b.body,
                });
            }
            tx.send(batch).await.unwrap();
        }
    });
    let mut n = 0;
    while let Some(batch) = rx.recv().await {
        let out = dst.append_batch("INBOX", &batch).await.unwrap();
        n += out.results.len();
    }
    fetcher.await.unwrap();
    let s = t.elapsed().as_secs_f64();
    assert_eq!(n, msgs.len());
    println!(
        "copy (fetch + MULTIAPPEND, 2 connections): {s:.2} s, {:.0} msgs/s, {:.1} MB/s",
        n as f64 / s,
        mb / s
    );
}
