//! A whole account copied with this client (the engine's copy loop in
//! miniature) must verify exact: folders, flags, keywords, dates, bodies.
//! The realistic seeded corpus comes from passeur-testkit.

mod common;

use std::time::Instant;

use common::Dovecot;
use passeur_imap::{AppendMessage, Client, uid_set};
use passeur_testkit::corpus::{CorpusSpec, Profile};
use passeur_testkit::verify;

/// Copies every selectable folder of `src` into `dst`: metadata in one
/// UID FETCH, bodies streamed 100 at a time, MULTIAPPEND per 100.
async fn copy_account(src: &mut Client, dst: &mut Client) -> usize {
    let mut copied = 0;
    for entry in src.list().await.unwrap() {
        if !entry.is_selectable() {
            continue;
        }
        dst.create(&entry.name).await.unwrap();
        if entry.subscribed {
            dst.subscribe(&entry.name).await.unwrap();
        }
        let st = src.examine(&entry.name).await.unwrap();
        if st.exists == 0 {
            continue;
        }
        let meta = src.uid_fetch_meta("1:*", None).await.unwrap();
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
            assert_eq!(
                batch.len(),
                chunk.len(),
                "{} {}",
                entry.name,
                uid_set(&uids)
            );
            let out = dst.append_batch(&entry.name, &batch).await.unwrap();
            for r in &out.results {
                assert!(matches!(r, Ok(Some(_))), "{r:?}");
            }
            copied += batch.len();
        }
    }
    copied
}

/// This process's user+system CPU seconds (Linux /proc, 100 Hz ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| f.get(i)?.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

async fn run(count: usize, profile: Profile) {
    let dc = Dovecot::start(2);
    let spec = CorpusSpec {
        seed: 42,
        count,
        profile,
        ..CorpusSpec::default()
    };
    let summary = dc.server.write_corpus("user1", &spec).unwrap();
    let mut src = dc.login(1).await;
    let mut dst = dc.login(2).await;
    let t = Instant::now();
    let cpu0 = cpu_seconds();
    let copied = copy_account(&mut src, &mut dst).await;
    let secs = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    assert_eq!(copied, summary.messages);
    println!(
        "copied {copied} messages, {:.1} MB in {secs:.2} s: {:.0} msgs/s, {:.1} MB/s, client CPU {cpu:.2} s (one connection each side, sequential)",
        summary.imap_bytes as f64 / 1e6,
        copied as f64 / secs,
        summary.imap_bytes as f64 / 1e6 / secs
    );
    src.logout().await.unwrap();
    dst.logout().await.unwrap();

    let addr = dc.server.imap_addr();
    let (u1, p1) = dc.server.user(1);
    let (u2, p2) = dc.server.user(2);
    let a = verify::snapshot(&addr, &u1, &p1).unwrap();
    let b = verify::snapshot(&addr, &u2, &p2).unwrap();
    let cmp = verify::compare(&a, &b);
    assert!(cmp.is_exact(), "{}", cmp.summary());
}

#[tokio::test]
async fn seeded_corpus_copies_exactly() {
    run(400, Profile::Realistic).await;
}

/// The testbed's c5000 corpus; run with
/// `cargo test -p passeur-imap --release --test copy -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "benchmark"]
async fn c5000_copy_benchmark() {
    run(5000, Profile::Realistic).await;
}
