//! Purge and verify stopped half-way, against a real Dovecot and a real Radicale: they report
//! their progress as events, stop soon after their token is cancelled, and leave the item map
//! true — what was deleted is recorded as deleted, and a second purge deletes the rest only.

use passeur_dav::{DavClient, DavConfig, PutCondition};
use passeur_engine::{
    AccountSpec, Control, DavSpec, Event, EventStream, MailOptions, MigrationSpec, Outcome,
    PurgeOutcome, RunOptions, Runner, Secrets, VerifyOutcome,
};
use passeur_store::Store;
use passeur_testkit::{Dovecot, DovecotOptions, Radicale, RadicaleOptions};
use passeur_types::{ContentKind, MigrationId};
use tokio_util::sync::CancellationToken;

/// Folders of the source mailbox, and messages in each.
const FOLDERS: usize = 12;
const PER_FOLDER: usize = 3;

fn message(folder: usize, n: usize) -> Vec<u8> {
    format!(
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: message {n} of folder {folder}\r\n\
Message-ID: <f{folder}-m{n}@example.org>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nBody {folder}/{n}\r\n"
    )
    .into_bytes()
}

fn dovecot() -> Dovecot {
    if let Err(e) = passeur_testkit::ensure_dovecot() {
        panic!("{e}");
    }
    let dc = Dovecot::start(DovecotOptions {
        users: 2,
        ..DovecotOptions::default()
    })
    .expect("start a private Dovecot");
    let mut c = dc.login(1).unwrap();
    for f in 0..FOLDERS {
        let name = format!("Folder{f:02}");
        c.run(&format!("CREATE {name}")).unwrap();
        for n in 0..PER_FOLDER {
            c.append(&name, &[], None, &message(f, n)).unwrap();
        }
    }
    c.logout();
    // Mail that was on the destination before: never touched by a purge.
    let mut c = dc.login(2).unwrap();
    for n in 0..2 {
        c.append("INBOX", &["\\Seen"], None, &message(99, n))
            .unwrap();
    }
    c.logout();
    dc
}

fn passwords() -> Secrets {
    Secrets {
        source: Some("pass1".to_owned().into()),
        destination: Some("pass2".to_owned().into()),
    }
}

/// Messages in user2's mailbox, all folders.
fn destination_messages(dc: &Dovecot) -> usize {
    passeur_testkit::verify::snapshot(&dc.imap_addr(), "user2", "pass2")
        .unwrap()
        .messages()
}

/// A migration of user1's mail into user2's, copied once.
async fn migrated(dc: &Dovecot, dir: &std::path::Path) -> (Runner, MigrationId) {
    let runner = Runner::new(Store::open(&dir.join("state.db")).await.unwrap());
    let spec = MigrationSpec::Accounts(AccountSpec {
        mail: MailOptions::default(),
        from_admin: None,
        to_admin: None,
        with_mail: true,
        dav: None,
        pop3_folder: None,
    });
    let src = format!("imap://user1@{}:{}", dc.host, dc.imap_port);
    let dst = format!("imap://user2@{}:{}", dc.host, dc.imap_port);
    let (id, _) = runner.create(&src, &dst, &spec, true).await.unwrap();
    let o = runner
        .run_pass(id, &passwords(), &RunOptions::default(), Control::default())
        .await
        .unwrap();
    assert_eq!(o.outcome, Outcome::Done, "{o:?}");
    assert_eq!(o.counters.copied, (FOLDERS * PER_FOLDER) as u64);
    (runner, id)
}

/// Reads `events` to the end; cancels `cancel` at the first event `stop_at` picks. Returns
/// every event seen.
async fn follow(
    mut events: EventStream,
    cancel: CancellationToken,
    stop_at: fn(&Event) -> bool,
) -> Vec<Event> {
    let mut seen = Vec::new();
    while let Some(e) = events.recv().await {
        if stop_at(&e) {
            cancel.cancel();
        }
        seen.push(e);
    }
    seen
}

/// Runs `purge` with its events followed (and cancelled at the first `stop_at`).
async fn purge(
    runner: &Runner,
    id: MigrationId,
    password: &str,
    stop_at: fn(&Event) -> bool,
) -> (PurgeOutcome, Vec<Event>) {
    let (events, stream) = passeur_engine::events::channel();
    let cancel = CancellationToken::new();
    let follower = tokio::spawn(follow(stream, cancel.clone(), stop_at));
    let r = runner
        .purge(
            id,
            1,
            false,
            password.to_owned().into(),
            &RunOptions::default(),
            Control { events, cancel },
        )
        .await
        .unwrap();
    (r, follower.await.unwrap())
}

async fn verify(
    runner: &Runner,
    id: MigrationId,
    stop_at: fn(&Event) -> bool,
) -> (VerifyOutcome, Vec<Event>) {
    let (events, stream) = passeur_engine::events::channel();
    let cancel = CancellationToken::new();
    let follower = tokio::spawn(follow(stream, cancel.clone(), stop_at));
    let r = runner
        .verify(
            id,
            &passwords(),
            &RunOptions::default(),
            None,
            Control { events, cancel },
        )
        .await
        .unwrap();
    (r, follower.await.unwrap())
}

fn purged(events: &[Event]) -> (u64, u64) {
    let mut planned = 0;
    let mut done = 0;
    for e in events {
        match e {
            Event::Purging { items } => planned += items,
            Event::Purged { items, .. } => done += items,
            _ => {}
        }
    }
    (planned, done)
}

#[tokio::test]
async fn a_mail_purge_stopped_half_way_records_what_it_deleted_and_a_rerun_deletes_the_rest() {
    let dc = dovecot();
    let tmp = tempfile::tempdir().unwrap();
    let (runner, id) = migrated(&dc, tmp.path()).await;
    let total = (FOLDERS * PER_FOLDER) as u64;
    assert_eq!(destination_messages(&dc), FOLDERS * PER_FOLDER + 2);

    // Stopped at the first folder purged.
    let (r, events) = purge(&runner, id, "pass2", |e| matches!(e, Event::Purged { .. })).await;
    assert!(r.stopped(), "{r:?}");
    let first = r.deleted();
    assert!(first >= PER_FOLDER as u64 && first < total, "{r:?}");
    // Its events: what it set out to delete, then what it deleted, folder by folder.
    assert_eq!(purged(&events), (total, first), "{events:?}");
    // The item map holds exactly what is still on the destination.
    let (left, _) = runner.store().count_items(id).await.unwrap();
    assert_eq!(left, total - first);
    assert_eq!(destination_messages(&dc), (total - first) as usize + 2);

    // A second purge deletes the rest, and only the rest.
    let (r, events) = purge(&runner, id, "pass2", |_| false).await;
    assert!(!r.stopped(), "{r:?}");
    assert_eq!((r.deleted(), r.skipped()), (total - first, 0), "{r:?}");
    assert_eq!(purged(&events), (total - first, total - first));
    assert_eq!(runner.store().count_items(id).await.unwrap().0, 0);
    // The two messages that were there before are all that is left.
    assert_eq!(destination_messages(&dc), 2);
}

#[tokio::test]
async fn a_verify_stopped_half_way_says_so_and_is_not_ok() {
    let dc = dovecot();
    let tmp = tempfile::tempdir().unwrap();
    let (runner, id) = migrated(&dc, tmp.path()).await;

    // The whole verification: one event per folder compared.
    let (r, events) = verify(&runner, id, |_| false).await;
    assert!(r.ok() && !r.stopped(), "{r:?}");
    let folders = r.mail.as_ref().unwrap().folders.len();
    assert!(folders > FOLDERS, "{folders} folders");
    let planned: usize = events
        .iter()
        .map(|e| match e {
            Event::Verifying { folders } => *folders,
            _ => 0,
        })
        .sum();
    let verified = events
        .iter()
        .filter(|e| matches!(e, Event::Verified { ok: true, .. }))
        .count();
    assert_eq!((planned, verified), (folders, folders), "{events:?}");

    // Stopped at the first folder compared: fewer folders, and not OK.
    let (r, events) = verify(&runner, id, |e| matches!(e, Event::Verified { .. })).await;
    assert!(r.stopped() && !r.ok(), "{r:?}");
    let checked = r.mail.as_ref().unwrap().folders.len();
    assert!((1..folders).contains(&checked), "{checked} of {folders}");
    let verified = events
        .iter()
        .filter(|e| matches!(e, Event::Verified { .. }))
        .count();
    assert_eq!(verified, checked);
}

/// Events in user1's calendar.
const EVENTS: usize = 30;

fn event(n: usize) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:ev-{n}\r\n\
DTSTAMP:20240101T000000Z\r\nDTSTART:20240301T100000Z\r\nDTEND:20240301T110000Z\r\n\
SUMMARY:Event {n}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn dav_client(r: &Radicale, n: u32) -> DavClient {
    let (u, p) = r.user(n);
    DavClient::new(DavConfig::new(
        format!("{}/", r.url()).parse().unwrap(),
        u,
        p,
    ))
    .unwrap()
}

/// Items of user2's calendars.
async fn calendar_items(c: &DavClient) -> usize {
    let homes = c.discover().await.unwrap();
    let mut n = 0;
    for coll in c
        .list_collections(&homes.calendar_home.unwrap())
        .await
        .unwrap()
    {
        if coll.kind.is_calendar() {
            n += c.fetch_all(&coll).await.unwrap().len();
        }
    }
    n
}

#[tokio::test]
async fn a_dav_purge_stopped_half_way_records_what_it_deleted_and_a_rerun_deletes_the_rest() {
    if let Err(e) = passeur_testkit::ensure_radicale() {
        panic!("{e}");
    }
    let r = Radicale::start(RadicaleOptions::default()).expect("start a private Radicale");
    let src = dav_client(&r, 1);
    for n in 0..EVENTS {
        let href = format!("/user1/calendar/ev-{n}.ics");
        src.put(
            &href,
            &event(n),
            "text/calendar; charset=utf-8",
            PutCondition::IfNoneMatch,
        )
        .await
        .unwrap();
    }
    let tmp = tempfile::tempdir().unwrap();
    let runner = Runner::new(Store::open(&tmp.path().join("state.db")).await.unwrap());
    let from = format!("http://user1@{}:{}/", r.host, r.port);
    let to = format!("http://user2@{}:{}/", r.host, r.port);
    let spec = MigrationSpec::Accounts(AccountSpec {
        mail: MailOptions::default(),
        from_admin: None,
        to_admin: None,
        with_mail: false,
        dav: Some(DavSpec {
            from: from.clone(),
            to: to.clone(),
            kinds: vec![ContentKind::Calendars],
            overwrite_conflicts: false,
        }),
        pop3_folder: None,
    });
    let (id, _) = runner.create(&from, &to, &spec, true).await.unwrap();
    let o = runner
        .run_pass(id, &passwords(), &RunOptions::default(), Control::default())
        .await
        .unwrap();
    assert_eq!(o.outcome, Outcome::Done, "{o:?}");
    let dst = dav_client(&r, 2);
    assert_eq!(calendar_items(&dst).await, EVENTS);
    let total = EVENTS as u64;

    let (p, events) = purge(&runner, id, "pass2", |e| matches!(e, Event::Purged { .. })).await;
    assert!(p.stopped(), "{p:?}");
    let first = p.deleted();
    assert!((1..total).contains(&first), "{p:?}");
    assert_eq!(purged(&events), (total, first), "{events:?}");
    let (left, _) = runner.store().count_items(id).await.unwrap();
    assert_eq!(left, total - first);
    assert_eq!(calendar_items(&dst).await as u64, total - first);

    let (p, events) = purge(&runner, id, "pass2", |_| false).await;
    let d = p.dav.as_ref().unwrap();
    // Nothing it deleted before is deleted (or found gone) again.
    assert_eq!(
        (d.deleted, d.gone, d.skipped),
        (total - first, 0, 0),
        "{p:?}"
    );
    assert_eq!(purged(&events), (total - first, total - first));
    assert_eq!(runner.store().count_items(id).await.unwrap().0, 0);
    assert_eq!(calendar_items(&dst).await, 0);
}

/// A PST file from the shared corpus (97 mail items over several folders).
fn pst_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/pst/PstReader__simiden_pst2john_97_outlook_pass12345.pst")
}

/// An import whose destination drops the connection waits before it connects again (0.5 s,
/// then doubling: 23 s over its six attempts). Stopped during that wait, it returns at once as
/// stopped, without another attempt; the next run finishes the import, each message once.
#[tokio::test]
async fn an_import_stopped_while_it_waits_to_reconnect_returns_at_once_and_a_rerun_finishes() {
    use passeur_engine::{FileKind, ImportSpec, ImportTarget, file_source_id};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let dc = Dovecot::start(DovecotOptions::default()).expect("start a private Dovecot");
    let proxy = Arc::new(passeur_testkit::CutProxy::start(&dc.imap_addr()).unwrap());
    // The answer to the second APPEND batch is lost with its connection.
    proxy.cut_on_reply(b"APPENDUID", 2);
    let tmp = tempfile::tempdir().unwrap();
    let runner = Runner::new(Store::open(&tmp.path().join("state.db")).await.unwrap());
    let (canon, src_id) = file_source_id(&pst_file()).unwrap();
    let target = ImportTarget {
        file: canon.display().to_string(),
        format: FileKind::Pst,
        imap: Some(format!("imap://user1@127.0.0.1:{}", proxy.port())),
        dav: None,
        dav_user: None,
        collection: None,
    };
    let spec = MigrationSpec::Import(ImportSpec {
        import: target.clone(),
        to_admin: None,
    });
    let (id, _) = runner
        .create(&src_id, &target.destination(), &spec, true)
        .await
        .unwrap();
    let secrets = Secrets {
        source: None,
        destination: Some("pass1".to_owned().into()),
    };
    let opts = RunOptions {
        batch_messages: Some(10),
        ..RunOptions::default()
    };

    // At the first retry, connections are refused from now on (every further attempt would
    // fail and wait again) and the run is stopped.
    let (events, mut stream) = passeur_engine::events::channel();
    let cancel = CancellationToken::new();
    let follower = {
        let (proxy, cancel) = (proxy.clone(), cancel.clone());
        tokio::spawn(async move {
            let (mut retries, mut stopped_at) = (0, None);
            while let Some(e) = stream.recv().await {
                if matches!(e, Event::Retrying { .. }) {
                    retries += 1;
                    if stopped_at.is_none() {
                        proxy.refuse(true);
                        cancel.cancel();
                        stopped_at = Some(Instant::now());
                    }
                }
            }
            (retries, stopped_at)
        })
    };
    let o = runner
        .run_pass(id, &secrets, &opts, Control { events, cancel })
        .await
        .unwrap();
    let returned = Instant::now();
    let (retries, stopped_at) = follower.await.unwrap();
    let stopped_at = stopped_at.expect("the import retried after the cut");
    assert_eq!(o.outcome, Outcome::Stopped, "{o:?}");
    assert_eq!(retries, 1, "it tried again after it was stopped");
    // Back at once: without the stop it would wait 0.5 + 1 + 2 + 4 + 8 + 8 s.
    assert!(
        returned - stopped_at < Duration::from_secs(5),
        "returned {:?} after the stop",
        returned - stopped_at
    );
    let first = o.counters.copied;
    assert!(first >= 10, "the first batch landed: {o:?}");

    // The next run reconciles the batch whose answer was lost and copies the rest, once.
    proxy.refuse(false);
    let o = runner
        .run_pass(id, &secrets, &opts, Control::default())
        .await
        .unwrap();
    assert_eq!(o.outcome, Outcome::Done, "{o:?}");
    let (items, _) = runner.store().count_items(id).await.unwrap();
    let on_server = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user1", "pass1")
        .unwrap()
        .messages();
    assert_eq!(
        on_server as u64, items,
        "a message was copied twice or lost"
    );
    let v = runner
        .verify(
            id,
            &secrets,
            &RunOptions::default(),
            None,
            Control::default(),
        )
        .await
        .unwrap();
    assert!(v.ok(), "{v:?}");
}

#[tokio::test]
async fn a_mail_pass_stopped_while_planning_creates_no_folder_and_a_rerun_copies_everything() {
    let dc = dovecot();
    let tmp = tempfile::tempdir().unwrap();
    let runner = Runner::new(Store::open(&tmp.path().join("state.db")).await.unwrap());
    let spec = MigrationSpec::Accounts(AccountSpec {
        mail: MailOptions::default(),
        from_admin: None,
        to_admin: None,
        with_mail: true,
        dav: None,
        pop3_folder: None,
    });
    let src = format!("imap://user1@{}:{}", dc.host, dc.imap_port);
    let dst = format!("imap://user2@{}:{}", dc.host, dc.imap_port);
    let (id, _) = runner.create(&src, &dst, &spec, true).await.unwrap();

    // Stopped before the planning loop reads its first folder: it must not go on creating the
    // destination folders one after the other.
    let (events, _stream) = passeur_engine::events::channel();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let o = runner
        .run_pass(
            id,
            &passwords(),
            &RunOptions::default(),
            Control { events, cancel },
        )
        .await
        .unwrap();
    assert_eq!(o.outcome, Outcome::Stopped, "{o:?}");
    assert_eq!(o.counters.copied, 0);
    let snap = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user2", "pass2").unwrap();
    let created: Vec<&String> = snap
        .folders
        .keys()
        .filter(|f| f.starts_with("Folder"))
        .collect();
    assert!(
        created.is_empty(),
        "folders created after the stop: {created:?}"
    );
    assert_eq!(snap.messages(), 2);

    let o = runner
        .run_pass(id, &passwords(), &RunOptions::default(), Control::default())
        .await
        .unwrap();
    assert_eq!(o.outcome, Outcome::Done, "{o:?}");
    assert_eq!(o.counters.copied, (FOLDERS * PER_FOLDER) as u64);
    assert_eq!(destination_messages(&dc), FOLDERS * PER_FOLDER + 2);
}
