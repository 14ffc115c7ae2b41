//! A big message is held once: appending it adds no copy, fetching it
//! allocates about its size, not a multiple. Alone in its binary so that
//! the peak RSS is this test's own.

mod common;

use bytes::Bytes;
use common::Dovecot;
use passeur_imap::AppendMessage;

const SIZE: usize = 30 * 1024 * 1024;

fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Resets the peak RSS (Linux: clear_refs 5) and returns the current RSS in bytes.
fn reset_peak() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    status_kb("VmRSS:") * 1024
}

fn peak() -> u64 {
    status_kb("VmHWM:") * 1024
}

#[tokio::test]
async fn a_30mb_message_is_held_once() {
    let dc = Dovecot::start(1);
    let mut c = dc.login(1).await;
    let mut body = Vec::with_capacity(SIZE);
    let mut i = 0u64;
    while body.len() < SIZE {
        body.extend_from_slice(format!("{i:076}\r\n").as_bytes());
        i += 1;
    }
    let msg = AppendMessage {
        body: Bytes::from(body),
        ..Default::default()
    };
    let base = reset_peak();
    let out = c
        .append_batch("INBOX", std::slice::from_ref(&msg))
        .await
        .unwrap();
    assert!(matches!(out.results[..], [Ok(Some(1))]));
    let grew = peak().saturating_sub(base);
    assert!(
        grew < 8 << 20,
        "appending 30 MB grew the peak RSS by {grew} bytes"
    );
    let expected = msg.body.clone();
    drop(msg);

    c.select("INBOX").await.unwrap();
    let base = reset_peak();
    c.start_fetch_bodies(&[1]).await.unwrap();
    let got = c.next_body().await.unwrap().unwrap();
    assert!(c.next_body().await.unwrap().is_none());
    let grew = peak().saturating_sub(base);
    assert_eq!(got.body, expected);
    assert!(
        grew < (SIZE + SIZE / 2) as u64,
        "fetching 30 MB grew the peak RSS by {grew} bytes"
    );
    println!("fetch of {SIZE} bytes: peak RSS +{grew} bytes");
}

#[tokio::test]
async fn a_30mb_message_streams_in_bounded_memory() {
    let dc = Dovecot::start(2);
    let mut src = dc.login(1).await;
    let mut dst = dc.login(2).await;
    let mut body = Vec::with_capacity(SIZE);
    let mut i = 0u64;
    while body.len() < SIZE {
        body.extend_from_slice(format!("{i:076}\r\n").as_bytes());
        i += 1;
    }
    let len = body.len() as u64;
    let msg = AppendMessage {
        body: Bytes::from(body),
        ..Default::default()
    };
    src.append_batch("INBOX", std::slice::from_ref(&msg))
        .await
        .unwrap();
    drop(msg);
    src.examine("INBOX").await.unwrap();
    dst.select("INBOX").await.unwrap();
    let base = reset_peak();
    let size = src.open_body(1).await.unwrap().unwrap();
    assert_eq!(size, len);
    let out = dst
        .append_from("INBOX", &AppendMessage::default(), size, &mut src)
        .await
        .unwrap();
    assert!(matches!(out.results[..], [Ok(Some(1))]), "{out:?}");
    let grew = peak().saturating_sub(base);
    println!("streaming {len} bytes: peak RSS +{grew} bytes");
    assert!(
        grew < 4 << 20,
        "streaming 30 MB grew the peak RSS by {grew} bytes"
    );
    let meta = dst.uid_fetch_meta("1", None).await.unwrap();
    assert_eq!(meta[0].size, Some(len));
}
