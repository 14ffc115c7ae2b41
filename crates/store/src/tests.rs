//! The store's tests, each run on both backends (SQLite in a temporary directory, PostgreSQL
//! in a fresh database on 127.0.0.1:5432 per test: unreachable PostgreSQL fails the test).

use std::time::Duration;

use passeur_testkit::PgTestDb;
use passeur_types::{ContentKind, MigrationId};

use crate::*;

/// Where a test's store lives; dropping it removes the database.
pub(crate) enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(PgTestDb),
}

impl Db {
    pub(crate) fn sqlite() -> Db {
        Db::Sqlite(tempfile::tempdir().unwrap())
    }

    pub(crate) fn postgres() -> Db {
        Db::Postgres(PgTestDb::create().expect(
            "PostgreSQL must be reachable on 127.0.0.1:5432 for the store's tests (scripts/test.sh starts it)",
        ))
    }

    fn url(&self) -> String {
        match self {
            Db::Sqlite(dir) => format!("sqlite://{}", dir.path().join("s.db").display()),
            Db::Postgres(db) => db.url(),
        }
    }

    /// A new handle with its own connections, as another process would have.
    pub(crate) async fn open(&self) -> Store {
        let s = Store::connect(&self.url()).await.unwrap();
        let want = match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        };
        assert_eq!(s.backend_name(), want);
        s
    }
}

/// Defines `mod $name { fn sqlite(); fn postgres(); }` running the same body on each backend.
macro_rules! on_both {
    ($name:ident, |$db:ident| $body:block) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $db = Db::sqlite();
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let $db = Db::postgres();
                $body
            }
        }
    };
}

pub(crate) fn mail(folder: &str, uid: u32, pass: u32) -> Item {
    Item {
        kind: ContentKind::Mail,
        src_folder: folder.into(),
        src_key: Item::mail_key(7, uid),
        src_uidvalidity: Some(7),
        src_uid: Some(uid),
        fingerprint: format!("fp{uid}"),
        dst_folder: folder.into(),
        dst_uidvalidity: None,
        dst_uid: None,
        dst_key: None,
        pass,
        size: 100,
        flags: "\\Seen".into(),
        etag: None,
        pending: true,
    }
}

fn done(uid_key: &str, dst_uid: u32) -> Completion<'_> {
    Completion {
        kind: ContentKind::Mail,
        src_folder: "INBOX",
        src_key: uid_key,
        dst_uidvalidity: Some(9),
        dst_uid: Some(dst_uid),
        dst_key: None,
    }
}

pub(crate) async fn new_migration(store: &Store) -> MigrationId {
    let id = MigrationId::random();
    store
        .create_migration(id, "imap://a@x:143", "imap://b@y:143", "{}")
        .await
        .unwrap();
    id
}

on_both!(passes_items_and_pending_round_trip, |db| {
    let store = db.open().await;
    let id = new_migration(&store).await;
    assert_eq!(
        store
            .find_migration("imap://a@x:143", "imap://b@y:143")
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );
    assert_eq!(store.begin_pass(id).await.unwrap(), 1);
    store
        .insert_pending(id, &[mail("INBOX", 1, 1), mail("INBOX", 2, 1)])
        .await
        .unwrap();
    store.complete(id, &[done("7/1", 41)]).await.unwrap();
    let items = store
        .items_in_folder(id, ContentKind::Mail, "INBOX")
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
    assert!(!items[0].pending && items[0].dst_uid == Some(41));
    assert!(items[1].pending);
    assert_eq!(store.count_items(id).await.unwrap(), (1, 100));

    // A crashed pass is closed when the next one begins.
    assert_eq!(store.begin_pass(id).await.unwrap(), 2);
    store
        .insert_pending(id, &[mail("Sent", 5, 2)])
        .await
        .unwrap();
    let passes = store.passes(id).await.unwrap();
    assert_eq!(passes[0].status, PassStatus::Interrupted);
    assert_eq!(passes[1].status, PassStatus::Running);
    store
        .update_pass(
            id,
            2,
            PassCounters {
                copied: 3,
                bytes: 300,
                flags_updated: 1,
                failed: 0,
            },
            Some((PassStatus::Incomplete, Some("1 not copied"))),
        )
        .await
        .unwrap();
    let p2 = &store.passes(id).await.unwrap()[1];
    assert_eq!(p2.status, PassStatus::Incomplete);
    assert_eq!(p2.counters.bytes, 300);
    assert_eq!(p2.error.as_deref(), Some("1 not copied"));
    assert!(p2.finished_at.is_some());

    assert_eq!(store.items_from_pass(id, 2).await.unwrap().len(), 1);
    assert_eq!(store.items_from_pass(id, 1).await.unwrap().len(), 3);
    store.delete_items(id, &[items[1].key()]).await.unwrap();
    assert_eq!(store.items_from_pass(id, 1).await.unwrap().len(), 2);

    // Rekey, flags, purge.
    store
        .rekey_items(
            id,
            &[Rekey {
                key: items[0].key(),
                new_uidvalidity: 8,
                new_uid: 3,
            }],
        )
        .await
        .unwrap();
    store
        .set_flags(
            id,
            &[(
                ItemKey {
                    kind: ContentKind::Mail,
                    src_folder: "INBOX",
                    src_key: "8/3",
                },
                "\\Seen \\Flagged".into(),
            )],
        )
        .await
        .unwrap();
    let inbox = store
        .items_in_folder(id, ContentKind::Mail, "INBOX")
        .await
        .unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        (
            inbox[0].src_key.as_str(),
            inbox[0].src_uid,
            inbox[0].flags.as_str()
        ),
        ("8/3", Some(3), "\\Seen \\Flagged")
    );
    store.purge_items(id, &[&inbox[0]]).await.unwrap();
    assert!(
        store
            .items_in_folder(id, ContentKind::Mail, "INBOX")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .purged_keys(id, ContentKind::Mail, "INBOX")
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["8/3".to_string()]
    );

    // Folder states.
    let f = FolderState {
        src_name: "INBOX".into(),
        dst_name: "INBOX".into(),
        src_uidvalidity: Some(8),
        src_uidnext: Some(4),
        src_messages: Some(1),
        src_highestmodseq: Some(1 << 40),
        dst_uidvalidity: Some(9),
        complete: true,
    };
    store.put_folder_state(id, &f).await.unwrap();
    assert_eq!(store.folder_states(id).await.unwrap(), vec![f]);

    // Statuses and options.
    store
        .set_status(id, passeur_types::Status::Done, None)
        .await
        .unwrap();
    store.set_options(id, "{\"a\":1}").await.unwrap();
    let m = store.migration(id).await.unwrap();
    assert_eq!(m.status, passeur_types::Status::Done);
    assert_eq!(m.options, "{\"a\":1}");
    assert!(matches!(
        store.migration(MigrationId::random()).await,
        Err(StoreError::NotFound(_))
    ));
});

on_both!(dav_collections_and_etags_round_trip_and_persist, |db| {
    let store = db.open().await;
    let id = new_migration(&store).await;
    let mut c = DavCollectionState {
        src_href: "/a/cal/".into(),
        kind: ContentKind::Calendars,
        dst_href: "/b/cal/".into(),
        sync_token: Some("t1".into()),
    };
    store.put_dav_collection(id, &c).await.unwrap();
    c.sync_token = None;
    store.put_dav_collection(id, &c).await.unwrap();
    assert_eq!(store.dav_collections(id).await.unwrap(), vec![c]);
    let ev = Item {
        kind: ContentKind::Calendars,
        src_folder: "/a/cal/".into(),
        src_key: "/a/cal/1.ics".into(),
        src_uidvalidity: None,
        src_uid: None,
        fingerprint: "\"src-e1\"".into(),
        dst_folder: "/b/cal/".into(),
        dst_uidvalidity: None,
        dst_uid: None,
        dst_key: Some("/b/cal/1.ics".into()),
        pass: 1,
        size: 321,
        flags: String::new(),
        etag: Some("\"dst-e1\"".into()),
        pending: false,
    };
    store
        .insert_pending(id, std::slice::from_ref(&ev))
        .await
        .unwrap();
    // An update in place keeps the row and takes the new ETags.
    let updated = Item {
        fingerprint: "\"src-e2\"".into(),
        etag: Some("\"dst-e2\"".into()),
        ..ev.clone()
    };
    store
        .record_copied(id, std::slice::from_ref(&updated))
        .await
        .unwrap();

    // Another process (or a later run) sees the same rows.
    store.close().await;
    let store = db.open().await;
    assert_eq!(store.dav_collections(id).await.unwrap().len(), 1);
    assert_eq!(
        store
            .items_in_folder(id, ContentKind::Calendars, "/a/cal/")
            .await
            .unwrap(),
        vec![updated]
    );
    assert_eq!(store.count_items(id).await.unwrap(), (1, 321));
});

on_both!(insert_pending_never_overwrites_a_confirmed_row, |db| {
    let store = db.open().await;
    let id = new_migration(&store).await;
    store.begin_pass(id).await.unwrap();
    store
        .insert_pending(id, &[mail("INBOX", 1, 1), mail("INBOX", 2, 1)])
        .await
        .unwrap();
    store.complete(id, &[done("7/1", 41)]).await.unwrap();

    // The same keys again, as a later pass (or a file imported twice) would write them.
    let mut again1 = mail("INBOX", 1, 2);
    again1.fingerprint = "other".into();
    let mut again2 = mail("INBOX", 2, 2);
    again2.fingerprint = "retried".into();
    let mut confirmed_again = mail("INBOX", 1, 3);
    confirmed_again.pending = false;
    store.insert_pending(id, &[again1, again2]).await.unwrap();
    store.insert_pending(id, &[confirmed_again]).await.unwrap();

    let items = store
        .items_in_folder(id, ContentKind::Mail, "INBOX")
        .await
        .unwrap();
    // The confirmed row is untouched: still confirmed, same destination UID, pass and print.
    assert!(!items[0].pending);
    assert_eq!(items[0].dst_uid, Some(41));
    assert_eq!(items[0].pass, 1);
    assert_eq!(items[0].fingerprint, "fp1");
    // The pending row was replaced (a retried item).
    assert!(items[1].pending);
    assert_eq!(items[1].fingerprint, "retried");
    assert_eq!(items[1].pass, 2);
});

on_both!(failures_keep_a_bounded_excerpt, |db| {
    let store = db.open().await;
    let id = new_migration(&store).await;
    // A 2 MB one-line file, as a hostile .ics would give, named by a long key.
    let huge_reason = format!("cannot parse line: {}", "BEGIN:VEVENT;é".repeat(140_000));
    let long_key = "k".repeat(5000);
    store
        .record_failures(
            id,
            &[
                Failure {
                    pass: 1,
                    kind: ContentKind::Calendars,
                    folder: "big.ics".into(),
                    src_key: long_key.clone(),
                    size: Some(2_000_000),
                    reason: huge_reason.clone(),
                },
                Failure {
                    pass: 2,
                    kind: ContentKind::Mail,
                    folder: "INBOX".into(),
                    src_key: "7/1".into(),
                    size: None,
                    reason: "refused".into(),
                },
            ],
        )
        .await
        .unwrap();
    let all = store.failures(id, None).await.unwrap();
    assert_eq!(all.len(), 2);
    let big = &all[0];
    assert!(big.reason.len() <= FAILURE_TEXT_MAX, "{}", big.reason.len());
    assert!(big.reason.starts_with("cannot parse line: BEGIN:VEVENT;é"));
    assert!(
        big.reason
            .ends_with(&format!("[… cut, {} bytes in all]", huge_reason.len())),
        "{}",
        &big.reason[big.reason.len() - 60..]
    );
    assert!(big.src_key.len() <= FAILURE_TEXT_MAX);
    assert!(big.src_key.starts_with("kkkk") && big.src_key.contains("cut, 5000 bytes"));
    assert_eq!(big.size, Some(2_000_000));
    // Short texts are kept whole; a pass filter works.
    let p2 = store.failures(id, Some(2)).await.unwrap();
    assert_eq!(p2.len(), 1);
    assert_eq!(
        (p2[0].src_key.as_str(), p2[0].reason.as_str()),
        ("7/1", "refused")
    );
});

on_both!(a_held_lease_refuses_a_second_runner, |db| {
    let a = db.open().await;
    let b = db.open().await;
    let id = new_migration(&a).await;
    let ttl = Duration::from_secs(60);
    let la = a.acquire_lease(id, "host-a:1", ttl).await.unwrap();
    match b.acquire_lease(id, "host-b:2", ttl).await {
        Err(StoreError::Busy { holder, until }) => {
            assert_eq!(holder, "host-a:1");
            assert!(until > std::time::SystemTime::now() + Duration::from_secs(30));
        }
        other => panic!("second acquire: {other:?}"),
    }
    // The same holder name does not get it twice either.
    assert!(matches!(
        a.acquire_lease(id, "host-a:1", ttl).await,
        Err(StoreError::Busy { .. })
    ));
    // Renewing keeps it; releasing frees it for the next, with a larger token.
    a.renew_lease(&la).await.unwrap();
    a.release_lease(&la).await.unwrap();
    let lb = b.acquire_lease(id, "host-b:2", ttl).await.unwrap();
    assert!(lb.token() > la.token());
    assert_eq!(lb.holder(), "host-b:2");
    assert_eq!(lb.migration(), id);
    // The old lease cannot be renewed, and releasing it does not free the new one.
    assert!(matches!(
        a.renew_lease(&la).await,
        Err(StoreError::LeaseLost)
    ));
    a.release_lease(&la).await.unwrap();
    assert!(matches!(
        a.acquire_lease(id, "host-a:1", ttl).await,
        Err(StoreError::Busy { .. })
    ));
    // Leases are per migration.
    let other = new_migration(&a).await;
    a.acquire_lease(other, "host-a:1", ttl).await.unwrap();
    // The lease outlives the handle (a new process sees it held).
    b.close().await;
    let c = db.open().await;
    assert!(matches!(
        c.acquire_lease(id, "host-c:3", ttl).await,
        Err(StoreError::Busy { .. })
    ));
});

on_both!(an_expired_lease_is_taken_over, |db| {
    let a = db.open().await;
    let b = db.open().await;
    let id = new_migration(&a).await;
    let la = a
        .acquire_lease(id, "stalled", Duration::from_millis(300))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let lb = b
        .acquire_lease(id, "next", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(lb.token() > la.token());
    // The stalled runner finds out at its next heartbeat.
    assert!(matches!(
        a.renew_lease(&la).await,
        Err(StoreError::LeaseLost)
    ));
});

on_both!(a_fenced_handle_with_a_lost_lease_writes_nothing, |db| {
    let store = db.open().await;
    let id = new_migration(&store).await;
    let old = store
        // Long enough for the writes below on a loaded machine (400 ms was not, on PostgreSQL).
        .acquire_lease(id, "old", Duration::from_secs(2))
        .await
        .unwrap();
    let fo = store.fenced(&old);
    assert!(fo.is_fenced() && !store.is_fenced());
    // While held, the fenced handle writes.
    assert_eq!(fo.begin_pass(id).await.unwrap(), 1);
    fo.insert_pending(id, &[mail("INBOX", 1, 1)]).await.unwrap();
    fo.complete(id, &[done("7/1", 41)]).await.unwrap();

    // It stalls past its TTL; another runner takes over.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let new = db
        .open()
        .await
        .acquire_lease(id, "new", Duration::from_secs(60))
        .await
        .unwrap();

    let lost = |r: Result<()>| assert!(matches!(r, Err(StoreError::LeaseLost)), "{r:?}");
    lost(fo.insert_pending(id, &[mail("INBOX", 2, 1)]).await);
    lost(fo.complete(id, &[done("7/1", 99)]).await);
    lost(
        fo.set_status(id, passeur_types::Status::Failed, Some("stale"))
            .await,
    );
    lost(fo.set_options(id, "{\"stale\":true}").await);
    assert_ne!(
        store.migration(id).await.unwrap().error.as_deref(),
        Some("stale")
    );
    let inbox = store
        .items_in_folder(id, ContentKind::Mail, "INBOX")
        .await
        .unwrap();
    lost(fo.delete_items(id, &[inbox[0].key()]).await);
    lost(fo.purge_items(id, &[&inbox[0]]).await);
    lost(
        fo.rekey_items(
            id,
            &[Rekey {
                key: inbox[0].key(),
                new_uidvalidity: 8,
                new_uid: 1,
            }],
        )
        .await,
    );
    lost(
        fo.set_flags(id, &[(inbox[0].key(), "\\Deleted".into())])
            .await,
    );
    lost(
        fo.record_failures(
            id,
            &[Failure {
                pass: 1,
                kind: ContentKind::Mail,
                folder: "INBOX".into(),
                src_key: "7/2".into(),
                size: None,
                reason: "x".into(),
            }],
        )
        .await,
    );
    lost(fo.put_folder_state(id, &FolderState::default()).await);
    lost(
        fo.put_dav_collection(
            id,
            &DavCollectionState {
                src_href: "/a/".into(),
                kind: ContentKind::Contacts,
                dst_href: "/b/".into(),
                sync_token: None,
            },
        )
        .await,
    );
    lost(
        fo.update_pass(
            id,
            1,
            PassCounters::default(),
            Some((PassStatus::Done, None)),
        )
        .await,
    );
    assert!(matches!(
        fo.begin_pass(id).await,
        Err(StoreError::LeaseLost)
    ));

    // Read back: exactly what was written while the lease was held.
    let inbox = store
        .items_in_folder(id, ContentKind::Mail, "INBOX")
        .await
        .unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(
        (
            inbox[0].src_key.as_str(),
            inbox[0].dst_uid,
            inbox[0].flags.as_str()
        ),
        ("7/1", Some(41), "\\Seen")
    );
    assert!(store.failures(id, None).await.unwrap().is_empty());
    assert!(store.folder_states(id).await.unwrap().is_empty());
    assert!(store.dav_collections(id).await.unwrap().is_empty());
    assert!(
        store
            .purged_keys(id, ContentKind::Mail, "INBOX")
            .await
            .unwrap()
            .is_empty()
    );
    let passes = store.passes(id).await.unwrap();
    assert_eq!(passes.len(), 1);
    assert_eq!(passes[0].status, PassStatus::Running);

    // The new holder's fenced handle writes; it closes the dead runner's pass.
    let fnew = store.fenced(&new);
    assert_eq!(fnew.begin_pass(id).await.unwrap(), 2);
    assert_eq!(
        store.passes(id).await.unwrap()[0].status,
        PassStatus::Interrupted
    );
    fnew.insert_pending(id, &[mail("INBOX", 2, 2)])
        .await
        .unwrap();
    // A handle fenced for one migration cannot write another's rows.
    let other = new_migration(&store).await;
    lost(fnew.insert_pending(other, &[mail("INBOX", 3, 1)]).await);
    // Once released, even the last holder's handle is refused.
    store.release_lease(&new).await.unwrap();
    lost(fnew.insert_pending(id, &[mail("INBOX", 4, 2)]).await);
    assert_eq!(
        store
            .items_in_folder(id, ContentKind::Mail, "INBOX")
            .await
            .unwrap()
            .len(),
        2
    );
});

on_both!(of_two_racing_runners_exactly_one_gets_the_lease, |db| {
    let setup = db.open().await;
    for round in 0..8 {
        let id = new_migration(&setup).await;
        let a = db.open().await;
        let b = db.open().await;
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let race = |s: Store, name: &'static str| {
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                s.acquire_lease(id, name, Duration::from_secs(60)).await
            })
        };
        let ta = race(a.clone(), "a");
        let tb = race(b.clone(), "b");
        let (ra, rb) = (ta.await.unwrap(), tb.await.unwrap());
        let won = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {ra:?} / {rb:?}");
        let loser = if ra.is_ok() { &rb } else { &ra };
        assert!(matches!(loser, Err(StoreError::Busy { .. })), "{loser:?}");
        a.close().await;
        b.close().await;
    }
});

on_both!(waiting_for_a_lease, |db| {
    let a = db.open().await;
    let b = db.open().await;
    let id = new_migration(&a).await;
    let la = a
        .acquire_lease(id, "a", Duration::from_secs(60))
        .await
        .unwrap();
    // A short wait against a long lease gives up with Busy.
    assert!(matches!(
        b.acquire_lease_wait(id, "b", Duration::from_secs(60), Duration::from_millis(300))
            .await,
        Err(StoreError::Busy { .. })
    ));
    // A waiter gets it once the holder releases.
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move {
            b.acquire_lease_wait(id, "b", Duration::from_secs(60), Duration::from_secs(30))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.release_lease(&la).await.unwrap();
    let lb = waiter.await.unwrap().unwrap();
    assert_eq!(lb.holder(), "b");
    assert!(lb.token() > la.token());
});

#[tokio::test]
async fn an_old_sqlite_file_opens_and_moves_dav_etags_out_of_flags() {
    use sqlx::ConnectOptions as _;
    use sqlx::sqlite::SqliteConnectOptions;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let id = MigrationId::random();
    {
        // A state file as the previous version left it: steps 1–3, user_version 3.
        let mut c = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        for step in [
            include_str!("../migrations/sqlite/0001_initial.sql"),
            include_str!("../migrations/sqlite/0002_dav_collections.sql"),
            include_str!("../migrations/sqlite/0003_purged.sql"),
            "PRAGMA user_version = 3",
        ] {
            sqlx::raw_sql(step).execute(&mut c).await.unwrap();
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "INSERT INTO migrations VALUES ('{id}', 1, 's', 'd', '{{}}', 'done', NULL);
             INSERT INTO passes (migration_id, number, started_at, status) VALUES ('{id}', 1, 1, 'incomplete');
             INSERT INTO items (migration_id, kind, src_folder, src_key, fingerprint, dst_folder, pass, size, flags, pending)
               VALUES ('{id}', 'contacts', '/a/', '/a/1.vcf', 'e', '/b/', 1, 10, '\"dst-e\"', 0),
                      ('{id}', 'mail', 'INBOX', '7/1', 'fp', 'INBOX', 1, 10, '\\Seen', 0);"
        )))
        .execute(&mut c)
        .await
        .unwrap();
    }
    let store = Store::open(&path).await.unwrap();
    let card = &store
        .items_in_folder(id, ContentKind::Contacts, "/a/")
        .await
        .unwrap()[0];
    assert_eq!(
        (card.etag.as_deref(), card.flags.as_str()),
        (Some("\"dst-e\""), "")
    );
    let m = &store
        .items_in_folder(id, ContentKind::Mail, "INBOX")
        .await
        .unwrap()[0];
    assert_eq!((m.etag.as_deref(), m.flags.as_str()), (None, "\\Seen"));
    assert_eq!(
        store.passes(id).await.unwrap()[0].status,
        PassStatus::Incomplete
    );
    // And it opens again without redoing a step.
    store.close().await;
    Store::open(&path).await.unwrap();
}

#[tokio::test]
async fn connect_names_the_backend_or_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("p.db");
    let s = Store::connect(plain.to_str().unwrap()).await.unwrap();
    assert_eq!(s.backend_name(), "sqlite");
    match Store::connect("mysql://u:hunter2@h/db").await {
        Err(e @ StoreError::Url(_)) => assert!(!e.to_string().contains("hunter2"), "{e}"),
        other => panic!("{other:?}"),
    }
}

on_both!(item_notes_are_kept_once_per_item_and_note, |db| {
    let store = db.open().await;
    let id = new_migration(&store).await;
    let note = |pass: u32, key: &str, repaired: bool, text: &str| ItemNote {
        pass,
        kind: ContentKind::Calendars,
        folder: "cal.ics".into(),
        src_key: key.into(),
        repaired,
        note: text.into(),
    };
    let first = [
        note(1, "uid-1", true, "RDATE periods became their start times"),
        note(
            1,
            "line:4",
            false,
            "skipped line 4: no ':' between name and value",
        ),
    ];
    store.record_notes(id, &first).await.unwrap();
    // A second pass meeting the same file warning adds nothing; a new note is added.
    store
        .record_notes(
            id,
            &[
                note(
                    2,
                    "line:4",
                    false,
                    "skipped line 4: no ':' between name and value",
                ),
                note(2, "uid-2", false, "added a VTIMEZONE for Europe/Paris"),
            ],
        )
        .await
        .unwrap();
    let all = store.notes(id).await.unwrap();
    assert_eq!(
        all,
        vec![
            first[0].clone(),
            first[1].clone(),
            note(2, "uid-2", false, "added a VTIMEZONE for Europe/Paris"),
        ]
    );
});

on_both!(a_mail_folder_is_read_by_range_by_keys_and_summed_up, |db| {
    let store = db.open().await;
    let id = new_migration(&store).await;
    store.begin_pass(id).await.unwrap();
    let mut items: Vec<Item> = (1..=10).map(|uid| mail("INBOX", uid, 1)).collect();
    // One item recorded under an older source UIDVALIDITY.
    items[9].src_uidvalidity = Some(6);
    items[9].src_key = Item::mail_key(6, 10);
    store.insert_pending(id, &items).await.unwrap();
    store
        .insert_pending(id, &[mail("Sent", 3, 1)])
        .await
        .unwrap();
    let keys: Vec<String> = (1..=8).map(|u| Item::mail_key(7, u)).collect();
    let confirmed: Vec<Completion> = keys.iter().map(|k| done(k, 100)).collect();
    store.complete(id, &confirmed).await.unwrap();

    let range = store
        .items_in_uid_range(id, "INBOX", 7, 3, 9)
        .await
        .unwrap();
    let uids: Vec<u32> = range.iter().filter_map(|i| i.src_uid).collect();
    assert_eq!(uids, vec![3, 4, 5, 6, 7, 8, 9]);
    assert!(
        store
            .items_in_uid_range(id, "INBOX", 6, 1, 9)
            .await
            .unwrap()
            .is_empty()
    );

    let wanted: Vec<String> = ["7/2", "7/9", "7/11", "6/10"].map(String::from).to_vec();
    let mut got: Vec<String> = store
        .items_by_keys(id, "INBOX", &wanted)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.src_key)
        .collect();
    got.sort();
    assert_eq!(got, vec!["6/10", "7/2", "7/9"]);

    let s = store.mail_folder_summary(id, "INBOX", 7).await.unwrap();
    assert_eq!(
        s,
        MailFolderSummary {
            items: 10,
            pending: 2,
            other_uidvalidity: 1,
            dst_uidvalidity: Some((9, 9)),
        }
    );
    let empty = store.mail_folder_summary(id, "Drafts", 7).await.unwrap();
    assert_eq!(empty, MailFolderSummary::default());
    assert_eq!(
        store
            .count_in_folders(id, &["INBOX", "Sent"])
            .await
            .unwrap(),
        11
    );
    assert_eq!(store.count_in_folders(id, &[]).await.unwrap(), 0);
});

on_both!(a_folder_is_summed_up_by_key_only_queries, |db| {
    let store = db.open().await;
    let id = new_migration(&store).await;
    store.begin_pass(id).await.unwrap();
    // INBOX: 1..=6 recorded, 1..=4 confirmed (1, 2 under destination UIDVALIDITY 9, 3 under
    // 8 with a higher UID, 4 under 9), 5 and 6 pending; Sent: one confirmed, none pending.
    let items: Vec<Item> = (1..=6).map(|uid| mail("INBOX", uid, 1)).collect();
    store.insert_pending(id, &items).await.unwrap();
    store
        .complete(id, &[done("7/1", 10), done("7/2", 12), done("7/4", 11)])
        .await
        .unwrap();
    store
        .complete(
            id,
            &[Completion {
                dst_uidvalidity: Some(8),
                ..done("7/3", 500)
            }],
        )
        .await
        .unwrap();
    store
        .insert_pending(id, &[mail("Sent", 1, 1)])
        .await
        .unwrap();
    store
        .complete(
            id,
            &[Completion {
                src_folder: "Sent",
                ..done("7/1", 900)
            }],
        )
        .await
        .unwrap();
    // 4 purged: no longer an item, still done.
    let four = store
        .items_by_keys(id, "INBOX", &["7/4".to_owned()])
        .await
        .unwrap();
    store.purge_items(id, &[&four[0]]).await.unwrap();

    assert!(
        store
            .has_pending(id, ContentKind::Mail, "INBOX")
            .await
            .unwrap()
    );
    assert!(
        !store
            .has_pending(id, ContentKind::Mail, "Sent")
            .await
            .unwrap()
    );
    assert!(
        !store
            .has_pending(id, ContentKind::Contacts, "INBOX")
            .await
            .unwrap()
    );
    assert!(
        !store
            .has_pending(id, ContentKind::Mail, "Drafts")
            .await
            .unwrap()
    );

    let mut keys = store
        .confirmed_keys(id, ContentKind::Mail, "INBOX")
        .await
        .unwrap();
    keys.sort();
    assert_eq!(keys, vec!["7/1", "7/2", "7/3"]);
    assert!(
        store
            .confirmed_keys(id, ContentKind::Mail, "Drafts")
            .await
            .unwrap()
            .is_empty()
    );

    // Confirmed and purged keys are known, pending and absent ones not; more keys than one
    // query takes are looked up in pieces.
    let mut asked: Vec<String> = (0..1200).map(|n| format!("x{n}")).collect();
    asked.extend(["7/1", "7/3", "7/4", "7/5", "7/6"].map(String::from));
    let refs: Vec<&str> = asked.iter().map(String::as_str).collect();
    let known = store
        .known_among(id, ContentKind::Mail, "INBOX", &refs)
        .await
        .unwrap();
    let mut known: Vec<String> = known.into_iter().collect();
    known.sort();
    assert_eq!(known, vec!["7/1", "7/3", "7/4"]);
    assert!(
        store
            .known_among(id, ContentKind::Mail, "Sent", &["7/3"])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .known_among(id, ContentKind::Mail, "INBOX", &[])
            .await
            .unwrap()
            .is_empty()
    );

    // Paging through the items of a source-folder prefix: each once, by (folder, key).
    let gm = |folder: &str, key: &str| Item {
        src_folder: folder.into(),
        src_key: key.into(),
        ..mail(folder, 1, 1)
    };
    store
        .insert_pending(
            id,
            &[
                gm("gmail:Work", "gm:5"),
                gm("gmail:INBOX", "gm:9"),
                gm("gmail:INBOX", "gm:10"),
                gm("gmail:Archive", "gm:1"),
                gm("gmailx", "gm:2"),
            ],
        )
        .await
        .unwrap();
    let mut walked = Vec::new();
    let mut after = (String::new(), String::new());
    loop {
        let page = store
            .mail_items_page(id, "gmail:", (&after.0, &after.1), 2)
            .await
            .unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = (last.src_folder.clone(), last.src_key.clone());
        walked.extend(
            page.into_iter()
                .map(|i| format!("{} {}", i.src_folder, i.src_key)),
        );
    }
    assert_eq!(
        walked,
        vec![
            "gmail:Archive gm:1",
            "gmail:INBOX gm:10",
            "gmail:INBOX gm:9",
            "gmail:Work gm:5"
        ]
    );
});

/// Not a test: the memory the SQLite pool keeps after fingerprint lookups of every IN-list
/// length (`cargo nextest run -p passeur-store statement_memory --run-ignored only
/// --no-capture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: prints RSS"]
async fn statement_memory_of_fingerprint_lookups() {
    fn rss_mb() -> f64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let kb: f64 = s
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .unwrap()
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap();
        kb / 1024.0
    }
    let db = Db::sqlite();
    let store = db.open().await;
    let id = new_migration(&store).await;
    store.begin_pass(id).await.unwrap();
    let items: Vec<Item> = (1..=5000).map(|uid| mail("INBOX", uid, 1)).collect();
    store.insert_pending(id, &items).await.unwrap();
    let fps: Vec<String> = (0..500).map(|n| format!("fp{n}")).collect();
    let before = rss_mb();
    for round in 0..2 {
        for len in 1..=500 {
            let refs: Vec<&str> = fps[..len].iter().map(String::as_str).collect();
            let got = store
                .unmatched_by_fingerprint(id, MailScope::Folder("INBOX"), 9, false, &refs)
                .await
                .unwrap();
            assert_eq!(got.len(), len - 1);
        }
        println!(
            "round {round}: RSS {before:.1} MB before, {:.1} MB after 500 IN-list lengths",
            rss_mb()
        );
    }
}
