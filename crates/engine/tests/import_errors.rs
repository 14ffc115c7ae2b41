//! A file import's errors keep their type: a destination that does not answer is worth a retry
//! (the job queue tries again), a bad file is not, and a file that cannot be read is the file's
//! fault, not the destination's.

use std::io::Write;
use std::time::Duration;

use passeur_dav::{DavClient, DavConfig};
use passeur_engine::{EngineError, ImportError, ImportOptions, RunContext, Side, run_file_import};
use passeur_store::Store;
use passeur_testkit::{Radicale, RadicaleOptions};
use passeur_types::MigrationId;

async fn context(dir: &std::path::Path) -> RunContext {
    let store = Store::open(&dir.join("state.db")).await.unwrap();
    RunContext::quiet(store, MigrationId::random(), 1)
}

fn ics(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:e1\r\n\
DTSTAMP:20240101T000000Z\r\nDTSTART:20240301T100000Z\r\nSUMMARY:One\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .unwrap();
    p
}

/// A DAV server that accepts connections and never answers (a hung destination): the import
/// ends with a time-out, which the job queue retries.
#[tokio::test]
async fn a_dav_time_out_inside_an_import_is_worth_a_retry() {
    let tmp = tempfile::tempdir().unwrap();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    // Hold the accepted connections open without a byte in answer.
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in silent.incoming().take(4) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(30));
        drop(conns);
    });
    let mut cfg = DavConfig::new(
        format!("http://127.0.0.1:{port}/").parse().unwrap(),
        "user1",
        "pass1",
    );
    cfg.timeout = Duration::from_secs(2);
    let dav = DavClient::new(cfg).unwrap();
    let rc = context(tmp.path()).await;
    let file = ics(tmp.path(), "agenda.ics");
    let e = run_file_import(&rc, &file, &dav, "Imported", &ImportOptions::default())
        .await
        .expect_err("nothing answers");
    assert!(
        matches!(
            &e,
            EngineError::Dav {
                side: Side::Destination,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_retryable(), "a time-out is worth a retry: {e}");
    assert_eq!(e.code(), "unreachable", "{e}");
    drop(held);
}

/// A file that is neither iCalendar nor vCard, and one whose line is beyond the reader's cap:
/// both are the file's fault (code `file`), neither is retried, and the second does not blame
/// the destination, which answered every request.
#[tokio::test]
async fn a_bad_file_is_not_retried_and_is_not_the_destinations_fault() {
    let r = Radicale::start(RadicaleOptions::default()).expect("radicale");
    let (u, p) = r.user(1);
    let dav = DavClient::new(DavConfig::new(
        format!("{}/", r.url()).parse().unwrap(),
        u,
        p,
    ))
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let rc = context(tmp.path()).await;

    let notes = tmp.path().join("notes.txt");
    std::fs::write(&notes, "not a calendar\n").unwrap();
    let e = run_file_import(&rc, &notes, &dav, "Imported", &ImportOptions::default())
        .await
        .expect_err("not a calendar");
    assert!(
        matches!(
            &e,
            EngineError::Import(ImportError::NotCalendarOrContacts { path }) if path == &notes
        ),
        "{e:?}"
    );
    assert!(!e.is_retryable(), "{e}");
    assert_eq!(e.code(), "file");
    assert_eq!(
        e.to_string(),
        format!(
            "cannot import {}: not an iCalendar or vCard file",
            notes.display()
        )
    );

    // One line of 17 MiB, beyond the reader's 16 MiB cap.
    let long = tmp.path().join("long.ics");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&long).unwrap());
        f.write_all(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:long\r\nDESCRIPTION:")
            .unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..17 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").unwrap();
    }
    let e = run_file_import(&rc, &long, &dav, "Imported", &ImportOptions::default())
        .await
        .expect_err("the line is beyond the cap");
    assert!(
        matches!(&e, EngineError::Import(ImportError::Read { path, .. }) if path == &long),
        "{e:?}"
    );
    assert!(!e.is_retryable(), "{e}");
    assert_eq!(e.code(), "file");
    let text = e.to_string();
    assert!(
        text.contains("is longer than 16 MiB") && !text.contains("destination"),
        "{text}"
    );
    // The cause is still there for a program to look at.
    let source = std::error::Error::source(&e).expect("a source");
    assert!(
        source
            .downcast_ref::<passeur_formats::FormatError>()
            .is_some_and(|f| f.is_fatal()),
        "{source:?}"
    );
}
