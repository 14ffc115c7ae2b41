//! The engine's DAV sink (copy, import, verify) against real servers: Radicale 3 (and Xandikos
//! where noted), started privately on random loopback ports.

mod support;

use std::collections::{HashMap, HashSet};

use passeur_dav::{
    Collection, CollectionKind, ComponentKind, DavClient, DavError, NewCollection, PutCondition,
    PutOutcome,
};
use passeur_engine::dav_sink::{
    CopyOptions, CopyReport, ImportTargets, ItemEvent, KnownItem, OnConflict, copy_collection,
    import_objects, verify_collection, verify_objects,
};
use passeur_formats::{ics, vcf};
use support::Server;

const TZ_PARIS: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

fn event(uid: &str, summary: &str, extra: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{TZ_PARIS}BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n\
DTSTART;TZID=Europe/Paris:20240301T100000\r\nDTEND;TZID=Europe/Paris:20240301T110000\r\nSUMMARY:{summary}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn recurring(uid: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{TZ_PARIS}BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n\
DTSTART;TZID=Europe/Paris:20240304T090000\r\nDURATION:PT30M\r\nRRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10\r\nSUMMARY:Weekly standup\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Paris:20240311T090000\r\n\
DTSTART;TZID=Europe/Paris:20240311T100000\r\nDURATION:PT30M\r\nSUMMARY:Weekly standup (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn todo(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:{summary}\r\nDUE:20240401T120000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    )
}

fn card(uid: &str, name: &str, email: &str, tel: &str, photo: bool) -> String {
    let photo = if photo {
        "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/\r\n"
    } else {
        ""
    };
    let (given, family) = name.split_once(' ').unwrap_or((name, ""));
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{family};{given};;;\r\nEMAIL;TYPE=INTERNET:{email}\r\nTEL;TYPE=CELL:{tel}\r\n{photo}END:VCARD\r\n"
    )
}

async fn put_new(c: &DavClient, href: &str, body: &str, ctype: &str) {
    let r = c
        .put(href, body, ctype, PutCondition::IfNoneMatch)
        .await
        .expect("put");
    assert!(matches!(r, PutOutcome::Created { .. }), "{href}: {r:?}");
}

const ICS: &str = "text/calendar; charset=utf-8";
const VCF: &str = "text/vcard; charset=utf-8";

/// user1's calendars / tasks / contacts: 4 events (one recurring with an override,
/// one with a UID that is not a safe file name), 2 tasks, 3 contacts (one photo).
async fn seed(c: &DavClient) -> (Collection, Collection, Collection) {
    let homes = c.discover().await.expect("discover");
    let home = homes.calendar_home.expect("calendar home");
    let cal = c
        .create_collection(
            &home,
            "work",
            &NewCollection {
                kind: CollectionKind::Calendar {
                    components: vec![ComponentKind::Event],
                },
                displayname: Some("Work Calendar".into()),
                color: Some("#FF5733FF".into()),
                description: Some("Meetings".into()),
            },
        )
        .await
        .expect("mkcalendar");
    let tasks = c
        .create_collection(
            &home,
            "tasks",
            &NewCollection {
                kind: CollectionKind::Calendar {
                    components: vec![ComponentKind::Todo],
                },
                displayname: Some("Tâches".into()),
                color: Some("#00AA00FF".into()),
                description: None,
            },
        )
        .await
        .expect("mkcalendar tasks");
    let book = c
        .create_collection(
            &homes.addressbook_home.expect("addressbook home"),
            "friends",
            &NewCollection {
                kind: CollectionKind::AddressBook,
                displayname: Some("Friends & Family".into()),
                color: None,
                description: Some("people".into()),
            },
        )
        .await
        .expect("mkcol");
    put_new(
        c,
        &format!("{}e1.ics", cal.href),
        &event("ev-1", "Budget review", ""),
        ICS,
    )
    .await;
    put_new(
        c,
        &format!("{}e2.ics", cal.href),
        &event("ev-2", "Lunch\\, with Ana", "LOCATION:Café\r\n"),
        ICS,
    )
    .await;
    put_new(
        c,
        &format!("{}rec.ics", cal.href),
        &recurring("ev-recurring"),
        ICS,
    )
    .await;
    put_new(
        c,
        &format!("{}odd.ics", cal.href),
        &event("odd uid/with:chars@x", "Odd UID", ""),
        ICS,
    )
    .await;
    put_new(
        c,
        &format!("{}t1.ics", tasks.href),
        &todo("todo-1", "Buy milk"),
        ICS,
    )
    .await;
    put_new(
        c,
        &format!("{}t2.ics", tasks.href),
        &todo("todo-2", "File taxes"),
        ICS,
    )
    .await;
    put_new(
        c,
        &format!("{}c1.vcf", book.href),
        &card(
            "card-1",
            "Ana Lima",
            "ana@example.org",
            "+33 6 12 34 56 78",
            true,
        ),
        VCF,
    )
    .await;
    put_new(
        c,
        &format!("{}c2.vcf", book.href),
        &card("card-2", "Bo Chen", "bo@example.org", "+1 555 0100", false),
        VCF,
    )
    .await;
    put_new(
        c,
        &format!("{}c3.vcf", book.href),
        &card(
            "card-3",
            "Zoë Åberg",
            "zoe@example.org",
            "+46 70 123 45 67",
            false,
        ),
        VCF,
    )
    .await;
    (cal, tasks, book)
}

fn record(known: &mut HashMap<String, KnownItem>, ev: &ItemEvent) {
    match ev {
        ItemEvent::Copied {
            src_href,
            src_etag,
            dst_href,
            dst_etag,
            ..
        }
        | ItemEvent::Updated {
            src_href,
            src_etag,
            dst_href,
            dst_etag,
            ..
        }
        | ItemEvent::Overwritten {
            src_href,
            src_etag,
            dst_href,
            dst_etag,
            ..
        }
        | ItemEvent::AlreadyThere {
            src_href,
            src_etag,
            dst_href,
            dst_etag,
            ..
        } => {
            known.insert(
                src_href.clone(),
                KnownItem {
                    src_etag: src_etag.clone(),
                    dst_href: dst_href.clone(),
                    dst_etag: dst_etag.clone(),
                },
            );
        }
        _ => {}
    }
}

async fn copy(
    src: &DavClient,
    sc: &Collection,
    dst: &DavClient,
    dc: &Collection,
    known: &mut HashMap<String, KnownItem>,
    opts: &CopyOptions,
) -> (CopyReport, Vec<ItemEvent>) {
    let mut evs = Vec::new();
    let r = copy_collection(src, sc, dst, dc, known, opts, |e| evs.push(e))
        .await
        .expect("copy");
    for e in &evs {
        record(known, e);
    }
    (r, evs)
}

#[tokio::test]
async fn copy_account_to_account_incremental_resume_and_conflicts() {
    let rad = Server::radicale(3);
    let src = rad.client("user1", "pass1");
    let dst = rad.client("user2", "pass2");
    let (cal, tasks, book) = seed(&src).await;
    let dh = dst.discover().await.expect("discover dst");
    let dhome = dh.calendar_home.clone().expect("home");

    let mut known_by_coll: HashMap<String, HashMap<String, KnownItem>> = HashMap::new();
    let mut tokens: HashMap<String, Option<String>> = HashMap::new();
    let mut dst_colls = HashMap::new();
    for (sc, n) in [(&cal, 4usize), (&tasks, 2), (&book, 3)] {
        let (dc, created) = dst.ensure_collection(&dhome, sc).await.expect("ensure");
        assert!(created);
        assert_eq!(dc.displayname, sc.displayname);
        assert_eq!(dc.color, sc.color);
        assert_eq!(dc.kind, sc.kind);
        let known = known_by_coll.entry(sc.href.clone()).or_default();
        let (r, evs) = copy(&src, sc, &dst, &dc, known, &CopyOptions::default()).await;
        assert_eq!(r.copied, n, "{evs:?}");
        assert_eq!(r.failed + r.conflicts + r.already_there, 0, "{evs:?}");
        assert!(r.new_sync_token.is_some());
        tokens.insert(sc.href.clone(), r.new_sync_token.clone());
        let v = verify_collection(&src, sc, &dst, &dc, &[], &Default::default())
            .await
            .expect("verify");
        assert!(v.is_complete(), "{v:?}");
        assert_eq!((v.src_count, v.dst_count), (n, n));
        // ensure_collection finds it the second time.
        let (again, created) = dst
            .ensure_collection(&dhome, sc)
            .await
            .expect("ensure again");
        assert!(!created);
        assert_eq!(again.href, dc.href);
        dst_colls.insert(sc.href.clone(), dc);
    }

    // Key properties after the round trip, read from the destination.
    let dcal = &dst_colls[&cal.href];
    let bodies = dst.fetch_all(dcal).await.expect("fetch");
    let infos: HashMap<String, ics::IcsInfo> = bodies
        .iter()
        .map(|(_, b)| {
            let i = ics::inspect(b);
            (i.uid.clone().unwrap(), i)
        })
        .collect();
    let rec = &infos["ev-recurring"];
    assert_eq!(rec.components, 2, "master and override in one resource");
    assert_eq!(rec.rrule.as_deref(), Some("FREQ=WEEKLY;BYDAY=MO;COUNT=10"));
    assert_eq!(
        rec.dtstart.as_deref(),
        Some("TZID=Europe/Paris:20240304T090000")
    );
    assert_eq!(infos["ev-2"].summary.as_deref(), Some("Lunch, with Ana"));
    assert!(infos.contains_key("odd uid/with:chars@x"));
    let odd_href = bodies
        .iter()
        .find(|(_, b)| b.contains("Odd UID"))
        .map(|(r, _)| r.href.clone())
        .unwrap();
    assert!(
        odd_href.ends_with(".ics") && !odd_href.contains("odd"),
        "{odd_href}"
    );
    let cards = dst.fetch_all(&dst_colls[&book.href]).await.expect("cards");
    let ana = cards
        .iter()
        .map(|(_, b)| vcf::inspect(b))
        .find(|i| i.uid.as_deref() == Some("card-1"))
        .unwrap();
    assert_eq!(ana.fn_.as_deref(), Some("Ana Lima"));
    assert_eq!(ana.emails, vec!["ana@example.org"]);
    assert_eq!(ana.tels, vec!["+33612345678"]);
    assert!(ana.has_photo);

    // Second pass, with the sync token: nothing to do.
    let known = known_by_coll.get_mut(&cal.href).unwrap();
    let opts = CopyOptions {
        sync_token: tokens[&cal.href].clone(),
        ..CopyOptions::default()
    };
    let (r, evs) = copy(&src, &cal, &dst, dcal, known, &opts).await;
    assert_eq!((r.listed, r.copied, r.updated), (0, 0, 0), "{evs:?}");
    // Second pass by ETags (no token): all unchanged.
    let (r, evs) = copy(&src, &cal, &dst, dcal, known, &CopyOptions::default()).await;
    assert_eq!((r.unchanged, r.copied, r.updated), (4, 0, 0), "{evs:?}");

    // A token the server no longer knows: an error of its own kind, and the copy
    // falls back to comparing ETags.
    let stale = Some("http://radicale.org/ns/sync/0000000000000000".to_string());
    match src.sync_collection(&cal, stale.as_deref()).await {
        Err(DavError::SyncTokenInvalid { .. }) => {}
        other => panic!("expected SyncTokenInvalid, got {other:?}"),
    }
    let stale_opts = CopyOptions {
        sync_token: stale,
        ..CopyOptions::default()
    };
    let (r, evs) = copy(&src, &cal, &dst, dcal, known, &stale_opts).await;
    assert_eq!((r.unchanged, r.copied, r.updated), (4, 0, 0), "{evs:?}");

    // A change on the source is carried over by the next pass.
    let items = src.list_items(&cal).await.unwrap();
    let e1 = items.iter().find(|i| i.href.ends_with("/e1.ics")).unwrap();
    let r = src
        .put(
            &e1.href,
            &event("ev-1", "Budget review (moved)", ""),
            ICS,
            PutCondition::IfMatch(e1.etag.clone()),
        )
        .await
        .unwrap();
    assert!(matches!(r, PutOutcome::Updated { .. }), "{r:?}");
    let (r, evs) = copy(&src, &cal, &dst, dcal, known, &opts).await;
    assert_eq!((r.listed, r.updated, r.copied), (1, 1, 0), "{evs:?}");
    let v = verify_collection(&src, &cal, &dst, dcal, &[], &Default::default())
        .await
        .unwrap();
    assert!(v.is_complete(), "{v:?}");
    let dst_e1 = dst
        .fetch_all(dcal)
        .await
        .unwrap()
        .into_iter()
        .find(|(_, b)| b.contains("UID:ev-1"))
        .unwrap();
    assert!(dst_e1.1.contains("SUMMARY:Budget review (moved)"));

    // Crash between the PUT and its record: the item map lacks one item that is
    // on the destination. The next pass finds it there and writes nothing.
    let forgotten = known
        .keys()
        .find(|k| k.ends_with("/rec.ics"))
        .cloned()
        .unwrap();
    known.remove(&forgotten);
    let before = dst.list_items(dcal).await.unwrap().len();
    let (r, evs) = copy(&src, &cal, &dst, dcal, known, &CopyOptions::default()).await;
    assert_eq!((r.already_there, r.copied), (1, 0), "{evs:?}");
    assert!(matches!(&evs[0], ItemEvent::AlreadyThere { uid, .. } if uid == "ev-recurring"));
    assert_eq!(dst.list_items(dcal).await.unwrap().len(), before);
    assert!(
        known.contains_key(&forgotten),
        "AlreadyThere is recorded like a copy"
    );

    // A UID that exists on the destination from elsewhere is reported, not
    // duplicated or overwritten...
    put_new(
        &dst,
        &format!("{}theirs.ics", dcal.href),
        &event("shared-uid", "Theirs", ""),
        ICS,
    )
    .await;
    put_new(
        &src,
        &format!("{}mine.ics", cal.href),
        &event("shared-uid", "Mine", ""),
        ICS,
    )
    .await;
    let (r, evs) = copy(&src, &cal, &dst, dcal, known, &CopyOptions::default()).await;
    assert_eq!((r.conflicts, r.copied), (1, 0), "{evs:?}");
    match &evs[0] {
        ItemEvent::Conflict { uid, dst_href, .. } => {
            assert_eq!(uid, "shared-uid");
            assert!(dst_href.ends_with("/theirs.ics"));
        }
        e => panic!("{e:?}"),
    }
    let theirs = dst
        .get(&format!("{}theirs.ics", dcal.href))
        .await
        .unwrap()
        .unwrap();
    assert!(theirs.0.contains("SUMMARY:Theirs"));
    assert_eq!(dst.list_items(dcal).await.unwrap().len(), before + 1);
    // ...unless the option says overwrite.
    let ow = CopyOptions {
        on_conflict: OnConflict::Overwrite,
        ..CopyOptions::default()
    };
    let (r, evs) = copy(&src, &cal, &dst, dcal, known, &ow).await;
    assert_eq!(r.overwritten, 1, "{evs:?}");
    let theirs = dst
        .get(&format!("{}theirs.ics", dcal.href))
        .await
        .unwrap()
        .unwrap();
    assert!(theirs.0.contains("SUMMARY:Mine"));
    assert_eq!(dst.list_items(dcal).await.unwrap().len(), before + 1);

    // Deleted on the source: reported, the destination keeps its copy.
    let t1 = src
        .list_items(&tasks)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.href.ends_with("/t1.ics"))
        .unwrap();
    assert!(src.delete(&t1.href, Some(&t1.etag)).await.unwrap());
    let tk = known_by_coll.get_mut(&tasks.href).unwrap();
    let topts = CopyOptions {
        sync_token: tokens[&tasks.href].clone(),
        ..CopyOptions::default()
    };
    let (r, _) = copy(&src, &tasks, &dst, &dst_colls[&tasks.href], tk, &topts).await;
    assert_eq!(r.deleted_on_source, vec![t1.href.clone()]);
    assert_eq!(
        dst.list_items(&dst_colls[&tasks.href]).await.unwrap().len(),
        2
    );
}

/// Imports the corpus files `pick` selects (by kind and index in the sorted
/// listing) into a fresh Radicale, one collection per file.
async fn import_corpus(
    pick: impl Fn(&str, usize, &str) -> bool,
) -> (Server, DavClient, Stats, HashMap<String, Collection>) {
    let rad = Server::radicale(1);
    let c = rad.client("user1", "pass1");
    let home = c.discover().await.unwrap().calendar_home.unwrap();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    let mut stats = Stats::default();
    let mut colls: HashMap<String, Collection> = HashMap::new();
    for kind in ["ics", "vcf"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(kind))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for (n, p) in files.iter().enumerate() {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if !pick(kind, n, &name) {
                continue;
            }
            let calendar = kind == "ics";
            let spec = NewCollection {
                kind: if calendar {
                    CollectionKind::Calendar {
                        components: vec![
                            ComponentKind::Event,
                            ComponentKind::Todo,
                            ComponentKind::Journal,
                        ],
                    }
                } else {
                    CollectionKind::AddressBook
                },
                displayname: Some(name.clone()),
                color: None,
                description: None,
            };
            let coll = c
                .create_collection(&home, &format!("{kind}{n}"), &spec)
                .await
                .expect("create");
            let f = std::io::BufReader::new(std::fs::File::open(p).unwrap());
            let mut evs = Vec::new();
            let targets = ImportTargets::single(&coll);
            let r = if calendar {
                import_objects(
                    &c,
                    &targets,
                    ics::split(f),
                    &HashSet::new(),
                    &CopyOptions::default(),
                    |e| evs.push(e),
                )
                .await
            } else {
                import_objects(
                    &c,
                    &targets,
                    vcf::split(f),
                    &HashSet::new(),
                    &CopyOptions::default(),
                    |e| evs.push(e),
                )
                .await
            }
            .expect("import");
            stats.add(kind, &name, &r, &evs);
            // Every stored object read back: same UIDs and key properties.
            let f = std::io::BufReader::new(std::fs::File::open(p).unwrap());
            let v = if calendar {
                verify_objects(&c, &targets, ics::split(f)).await
            } else {
                verify_objects(&c, &targets, vcf::split(f)).await
            }
            .expect("verify");
            stats.missing += v.missing.len();
            // A repaired item differs from what the file says, by design (its notes say how).
            let repaired: HashSet<&str> = evs
                .iter()
                .filter_map(|e| match e {
                    ItemEvent::Copied { uid, repaired, .. } if !repaired.is_empty() => {
                        Some(uid.as_str())
                    }
                    _ => None,
                })
                .collect();
            for d in v.differing {
                if !repaired.contains(d.uid.as_str()) {
                    stats.differing.push(format!("{name}: {d:?}"));
                }
            }
            colls.insert(name, coll);
        }
    }
    stats.print();
    for l in rad.log().lines().filter(|l| l.contains("Bad PUT")) {
        println!("radicale: {}", l.chars().take(300).collect::<String>());
    }
    (rad, c, stats, colls)
}

/// Measured: 1,326 and 2,517 calendar objects stored.
const FLOOR_A: usize = 1280;
const FLOOR_B: usize = 2450;

// The calendar corpus in two halves (each on its own Radicale, so that neither
// test runs for minutes), then the vCards, then named files read back.
// Measured on Radicale 3.1.8 over the whole corpus: 3,843 calendar objects and 82
// cards stored; 83 objects and 2 cards refused by Radicale (VEVENTs without
// DTSTART, RDATE periods, duplicate properties, overrides without master, ...);
// 1,665 repeated UIDs within a file (1,499 in libical's large.ics of iTIP messages),
// reported as item errors. The floors leave room for corpus changes but catch a
// regression in parsing, conversion or the client.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_ics_first_half_imports_into_radicale() {
    let (_rad, _c, stats, _) = import_corpus(|k, n, _| k == "ics" && n % 2 == 0).await;
    assert!(stats.ics_ok >= FLOOR_A, "{}", stats.ics_ok);
    assert_eq!(
        stats.missing, stats.ics_rejected,
        "every UID not refused is on the server"
    );
    assert!(stats.differing.is_empty(), "{:?}", stats.differing);
    assert!(stats.ics_rejected <= 60, "{}", stats.ics_rejected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_ics_second_half_imports_into_radicale() {
    let (_rad, _c, stats, _) = import_corpus(|k, n, _| k == "ics" && n % 2 == 1).await;
    assert!(stats.ics_ok >= FLOOR_B, "{}", stats.ics_ok);
    assert_eq!(
        stats.missing, stats.ics_rejected,
        "every UID not refused is on the server"
    );
    assert!(stats.differing.is_empty(), "{:?}", stats.differing);
    assert!(stats.ics_rejected <= 60, "{}", stats.ics_rejected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_vcf_imports_into_radicale() {
    let (_rad, _c, stats, _) = import_corpus(|k, _, _| k == "vcf").await;
    assert!(stats.vcf_ok >= 80, "{}", stats.vcf_ok);
    assert_eq!(
        stats.missing, stats.vcf_rejected,
        "every UID not refused is on the server"
    );
    assert!(stats.differing.is_empty(), "{:?}", stats.differing);
    assert!(stats.vcf_rejected <= 3, "{}", stats.vcf_rejected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_named_files_round_trip_through_radicale() {
    const NAMED: &[&str] = &[
        "Radicale__event_daily_rrule_overridden.ics",
        "khal__tz_windows_format.ics",
        "Radicale__todo1.ics",
        "ez-vcard__John_Doe_MS_OUTLOOK.vcf",
        "ingest-file__multiline_quoted_printable.vcf",
        "android_frameworks_opt_vcard__v21_japanese_1.vcf",
        "Radicale__contact_photo_with_data_uri_v4.vcf",
    ];
    let (_rad, c, _stats, colls) = import_corpus(|_, _, name| NAMED.contains(&name)).await;
    assert_eq!(colls.len(), NAMED.len());
    // Round trips of named files, read back from the server.
    let get = |name: &str| colls[name].clone();
    let rec = c
        .fetch_all(&get("Radicale__event_daily_rrule_overridden.ics"))
        .await
        .unwrap();
    assert_eq!(rec.len(), 1, "master and override are one resource");
    let i = ics::inspect(&rec[0].1);
    assert_eq!(i.uid.as_deref(), Some("event_daily_rrule_overridden"));
    assert_eq!(i.rrule.as_deref(), Some("FREQ=DAILY;COUNT=5"));
    assert_eq!(
        i.dtstart.as_deref(),
        Some("TZID=US/Eastern:20060102T120000")
    );
    assert_eq!(i.summary.as_deref(), Some("Event #2"));
    assert_eq!(i.components, 2);

    let win = c
        .fetch_all(&get("khal__tz_windows_format.ics"))
        .await
        .unwrap();
    assert_eq!(win.len(), 1);
    let i = ics::inspect(&win[0].1);
    assert_eq!(
        i.dtstart.as_deref(),
        Some("TZID=Pacific/Auckland:20191120T130000")
    );
    assert!(win[0].1.contains("TZID:Pacific/Auckland"));
    assert_eq!(i.summary.as_deref(), Some("Event with Windows TZ name"));

    let todo = c.fetch_all(&get("Radicale__todo1.ics")).await.unwrap();
    assert_eq!(todo.len(), 1);
    assert_eq!(ics::inspect(&todo[0].1).kind, Some(ComponentKind::Todo));

    let outlook = c
        .fetch_all(&get("ez-vcard__John_Doe_MS_OUTLOOK.vcf"))
        .await
        .unwrap();
    assert_eq!(outlook.len(), 1);
    let i = vcf::inspect(&outlook[0].1);
    assert_eq!(i.version, Some(passeur_formats::VcfVersion::V30));
    assert_eq!(i.fn_.as_deref(), Some("Mr. John Richter James Doe Sr."));
    assert_eq!(i.emails, vec!["john.doe@ibm.cm"]);
    assert_eq!(i.tels, vec!["9055551234", "9056661234"]);
    assert!(i.has_photo, "the photo is kept");

    let qp = c
        .fetch_all(&get("ingest-file__multiline_quoted_printable.vcf"))
        .await
        .unwrap();
    let i = vcf::inspect(&qp[0].1);
    assert_eq!(i.fn_.as_deref(), Some("Max Müüüüüller"));
    assert_eq!(i.emails, vec!["max.mueller@example.org"]);

    let jp = c
        .fetch_all(&get("android_frameworks_opt_vcard__v21_japanese_1.vcf"))
        .await
        .unwrap();
    assert!(jp[0].1.contains("安藤ロイド"), "{}", jp[0].1);

    let v4 = c
        .fetch_all(&get("Radicale__contact_photo_with_data_uri_v4.vcf"))
        .await
        .unwrap();
    let i = vcf::inspect(&v4[0].1);
    assert_eq!(
        i.version,
        Some(passeur_formats::VcfVersion::V40),
        "4.0 kept where the server takes it"
    );
    assert!(i.has_photo);
}

#[derive(Default)]
struct Stats {
    ics_ok: usize,
    ics_parse_errors: usize,
    ics_rejected: usize,
    vcf_ok: usize,
    vcf_parse_errors: usize,
    vcf_rejected: usize,
    conflicts: usize,
    already_there: usize,
    repeated: usize,
    missing: usize,
    differing: Vec<String>,
    reasons: Vec<String>,
}

impl Stats {
    fn add(&mut self, kind: &str, file: &str, r: &CopyReport, evs: &[ItemEvent]) {
        let ics = kind == "ics";
        let ok = r.copied;
        let mut rejected = 0;
        let mut parse = 0;
        for e in evs {
            if let ItemEvent::Failed { error, uid, .. } = e {
                if error.contains("same UID") {
                    self.repeated += 1;
                } else if error.contains("destination refused") {
                    rejected += 1;
                    self.reasons.push(format!(
                        "REJECTED {file} {uid:?}: {}",
                        error.chars().take(160).collect::<String>()
                    ));
                } else {
                    parse += 1;
                }
            }
        }
        self.conflicts += r.conflicts;
        self.already_there += r.already_there;
        if ics {
            self.ics_ok += ok;
            self.ics_rejected += rejected;
            self.ics_parse_errors += parse;
        } else {
            self.vcf_ok += ok;
            self.vcf_rejected += rejected;
            self.vcf_parse_errors += parse;
        }
    }

    fn print(&self) {
        for d in &self.differing {
            println!("DIFFERS {d}");
        }
        println!(
            "verified: {} source UIDs not on the server, {} differing key properties",
            self.missing,
            self.differing.len()
        );
        for r in &self.reasons {
            println!("{r}");
        }
        println!(
            "corpus import: ics {} stored, {} rejected by Radicale, {} parse errors; vcf {} stored, {} rejected, {} parse errors; {} UID conflicts, {} already there, {} repeated UIDs in a file",
            self.ics_ok,
            self.ics_rejected,
            self.ics_parse_errors,
            self.vcf_ok,
            self.vcf_rejected,
            self.vcf_parse_errors,
            self.conflicts,
            self.already_there,
            self.repeated
        );
    }
}

/// Radicale -> Xandikos: another server's discovery layout (separate calendar and
/// address-book homes) and its own collection handling.
#[tokio::test]
async fn copy_radicale_to_xandikos() {
    let rad = Server::radicale(1);
    let xan = Server::xandikos();
    let src = rad.client("user1", "pass1");
    let dst = xan.client("user1", "x");
    let (cal, _tasks, book) = seed(&src).await;
    let homes = dst.discover().await.expect("discover xandikos");
    let ch = homes.calendar_home.clone().expect("calendar home");
    let ah = homes.addressbook_home.clone().expect("addressbook home");
    assert_ne!(ch, ah, "{homes:?}");
    for (sc, home, n) in [(&cal, &ch, 4usize), (&book, &ah, 3)] {
        let (dc, created) = dst.ensure_collection(home, sc).await.expect("ensure");
        assert!(created);
        assert_eq!(dc.displayname, sc.displayname);
        assert_eq!(dc.color, sc.color, "{dc:?}");
        let mut known = HashMap::new();
        let (r, evs) = copy(&src, sc, &dst, &dc, &mut known, &CopyOptions::default()).await;
        assert_eq!(r.copied, n, "{evs:?}\n{}", xan.log());
        let v = verify_collection(&src, sc, &dst, &dc, &[], &Default::default())
            .await
            .expect("verify");
        assert!(v.is_complete(), "{v:?}");
        let (r, _) = copy(&src, sc, &dst, &dc, &mut known, &CopyOptions::default()).await;
        assert_eq!((r.copied, r.unchanged), (0, n));
    }
}

/// Files: events and tasks of one `.ics` go to a calendar and a task list chosen
/// by name; a second import writes nothing; a UID already on the destination from
/// elsewhere is reported; a crash before the item map was written is resumed
/// without duplicates.
#[tokio::test]
async fn import_ics_and_vcf_files_by_name() {
    let rad = Server::radicale(1);
    let c = rad.client("user1", "pass1");
    let home = c.discover().await.unwrap().calendar_home.unwrap();
    let all = CollectionKind::Calendar {
        components: vec![ComponentKind::Event],
    };
    let (events, created) = c
        .ensure_named_collection(&home, "Holidays 2024", all)
        .await
        .unwrap();
    assert!(created);
    assert_eq!(events.displayname.as_deref(), Some("Holidays 2024"));
    let (again, created) = c
        .ensure_named_collection(
            &home,
            "Holidays 2024",
            CollectionKind::Calendar {
                components: vec![ComponentKind::Event],
            },
        )
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again.href, events.href);
    let (tasks, _) = c
        .ensure_named_collection(
            &home,
            "Tasks",
            CollectionKind::Calendar {
                components: vec![ComponentKind::Todo],
            },
        )
        .await
        .unwrap();
    let (book, _) = c
        .ensure_named_collection(&home, "Contacts", CollectionKind::AddressBook)
        .await
        .unwrap();

    // Someone else already put "ev-b" in the calendar.
    put_new(
        &c,
        &format!("{}foreign.ics", events.href),
        &event("ev-b", "Foreign", ""),
        ICS,
    )
    .await;

    let file = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nMETHOD:PUBLISH\r\n\
BEGIN:VEVENT\r\nUID:ev-a\r\nDTSTAMP:20240101T000000Z\r\nDTSTART;TZID=W. Europe Standard Time:20240501T090000\r\nSUMMARY:Labour day\r\nEND:VEVENT\r\n\
BEGIN:VTODO\r\nUID:td-a\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:Pack\r\nEND:VTODO\r\n\
BEGIN:VEVENT\r\nUID:ev-b\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240508\r\nSUMMARY:Mine\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:ev-bad\r\nDTSTART:next tuesday\r\nSUMMARY:Bad date\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n".to_string();
    let targets = ImportTargets {
        events: Some(&events),
        todos: Some(&tasks),
        ..ImportTargets::default()
    };
    let mut evs = Vec::new();
    let r = import_objects(
        &c,
        &targets,
        ics::split(file.as_bytes()),
        &HashSet::new(),
        &CopyOptions::default(),
        |e| evs.push(e),
    )
    .await
    .unwrap();
    assert_eq!((r.copied, r.conflicts, r.failed), (2, 1, 1), "{evs:?}");
    assert!(evs.iter().any(|e| matches!(e, ItemEvent::Conflict { uid, dst_href, .. } if uid == "ev-b" && dst_href.ends_with("/foreign.ics"))));
    let bad = evs.iter().find_map(|e| match e {
        ItemEvent::Failed {
            src_href,
            error,
            uid,
        } => Some((src_href.clone(), error.clone(), uid.clone())),
        _ => None,
    });
    let (href, error, uid) = bad.unwrap();
    assert_eq!(href, "line:24");
    assert_eq!(uid.as_deref(), Some("ev-bad"));
    assert!(
        error.contains("next tuesday") && error.contains("line 24"),
        "{error}"
    );
    let stored = c.fetch_all(&events).await.unwrap();
    let a = stored.iter().find(|(_, b)| b.contains("UID:ev-a")).unwrap();
    assert!(
        a.1.contains("DTSTART;TZID=Europe/Berlin:20240501T090000"),
        "{}",
        a.1
    );
    assert!(a.1.contains("BEGIN:VTIMEZONE"));
    assert!(!a.1.contains("METHOD"));
    assert_eq!(c.fetch_all(&tasks).await.unwrap().len(), 1);

    // Same file again, the item map lost everything (crash before recording):
    // nothing is written twice.
    let mut evs = Vec::new();
    let r = import_objects(
        &c,
        &targets,
        ics::split(file.as_bytes()),
        &HashSet::new(),
        &CopyOptions::default(),
        |e| evs.push(e),
    )
    .await
    .unwrap();
    assert_eq!(
        (r.copied, r.already_there, r.conflicts),
        (0, 2, 1),
        "{evs:?}"
    );
    // With the item map: skipped without a request.
    let known: HashSet<String> = ["ev-a".to_string(), "td-a".to_string()].into();
    let r = import_objects(
        &c,
        &targets,
        ics::split(file.as_bytes()),
        &known,
        &CopyOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!((r.unchanged, r.copied), (2, 0));
    assert_eq!(c.list_items(&events).await.unwrap().len(), 2);

    // A vCard 2.1 file (Outlook style) ends up as vCard 3.0 with its photo.
    let vcf_file = b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:M=FCller;J=F6rg\r\n\
FN;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:J=F6rg M=FCller\r\nTEL;WORK;VOICE:+49 89 1234\r\nEMAIL;PREF;INTERNET:jorg@example.de\r\n\
PHOTO;TYPE=JPEG;ENCODING=BASE64:\r\n /9j/4AAQSkZJRgABAQAAAQABAAD\r\n\r\nEND:VCARD\r\n";
    let mut evs = Vec::new();
    let r = import_objects(
        &c,
        &ImportTargets::single(&book),
        vcf::split(&vcf_file[..]),
        &HashSet::new(),
        &CopyOptions::default(),
        |e| evs.push(e),
    )
    .await
    .unwrap();
    assert_eq!(r.copied, 1, "{evs:?} {}", rad.log());
    let cards = c.fetch_all(&book).await.unwrap();
    let i = vcf::inspect(&cards[0].1);
    assert_eq!(i.version, Some(passeur_formats::VcfVersion::V30));
    assert_eq!(i.fn_.as_deref(), Some("Jörg Müller"));
    assert_eq!(i.tels, vec!["+49891234"]);
    assert_eq!(i.emails, vec!["jorg@example.de"]);
    assert!(i.has_photo);
    assert!(i.uid.unwrap().starts_with("passeur-"), "a UID was made up");
}

/// Xandikos answers a PUT of an object it cannot read with 207 and a 412 inside: that is a
/// refusal, listed with Xandikos's reason, never a copy (it was counted copied and lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xandikos_refusal_in_a_207_is_a_failure_with_its_reason() {
    let xan = Server::xandikos();
    let c = xan.client("user1", "x");
    let home = c.discover().await.unwrap().calendar_home.unwrap();
    let spec = NewCollection {
        kind: CollectionKind::Calendar {
            components: vec![ComponentKind::Event],
        },
        displayname: Some("Odd".into()),
        color: None,
        description: None,
    };
    let coll = c.create_collection(&home, "odd", &spec).await.unwrap();
    let file = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n\
BEGIN:VTIMEZONE\r\nTZID:Odd/Zone\r\nBEGIN:STANDARD\r\nDTSTART:18930401T000000\r\nTZOFFSETFROM:+5328\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n\
BEGIN:VEVENT\r\nUID:odd-offset\r\nDTSTAMP:20240101T000000Z\r\nDTSTART;TZID=Odd/Zone:20240105T100000\r\nSUMMARY:Odd\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:fine\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240106T100000Z\r\nSUMMARY:Fine\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";
    let mut evs = Vec::new();
    let r = import_objects(
        &c,
        &ImportTargets::single(&coll),
        ics::split(file.as_bytes()),
        &HashSet::new(),
        &CopyOptions::default(),
        |e| evs.push(e),
    )
    .await
    .unwrap();
    assert_eq!((r.copied, r.failed), (1, 1), "{evs:?}");
    let error = evs
        .iter()
        .find_map(|e| match e {
            ItemEvent::Failed { uid, error, .. } if uid.as_deref() == Some("odd-offset") => {
                Some(error.clone())
            }
            _ => None,
        })
        .unwrap();
    assert!(
        error.contains("HTTP 412") && error.contains("Offset must be less than 24 hours"),
        "{error}"
    );
    let stored = c.fetch_all(&coll).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].1.contains("UID:fine"));
    // Xandikos fails with 500 on this corpus file's one event (and on its repaired form): the
    // item is listed with both answers, and the import goes on instead of stopping.
    let f = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/ics/libical__1.ics");
    let f = std::io::BufReader::new(std::fs::File::open(f).unwrap());
    let mut evs = Vec::new();
    let r = import_objects(
        &c,
        &ImportTargets::single(&coll),
        ics::split(f),
        &HashSet::new(),
        &CopyOptions::default(),
        |e| evs.push(e),
    )
    .await
    .expect("a 500 on one item does not stop the import");
    assert_eq!((r.copied, r.failed), (0, 1), "{evs:?}");
    assert!(
        evs.iter()
            .any(|e| matches!(e, ItemEvent::Failed { error, .. }
            if error.starts_with("the destination refused it: HTTP 500")
                && error.contains("it refused the repaired form too"))),
        "{evs:?}"
    );
}

/// A copy that fails says which side failed: a source collection that cannot be listed is the
/// source's fault, a destination collection that cannot be indexed the destination's (both
/// were reported as "destination").
#[tokio::test]
async fn a_failed_copy_names_the_side_that_failed() {
    use passeur_engine::Side;
    let rad = Server::radicale(2);
    let src = rad.client("user1", "pass1");
    let dst = rad.client("user2", "pass2");
    let (cal, _, _) = seed(&src).await;
    let dh = dst.discover().await.expect("discover dst");
    let dcal = dst
        .ensure_collection(dh.calendar_home.as_ref().unwrap(), &cal)
        .await
        .expect("destination calendar")
        .0;
    let gone = |c: &Collection| Collection {
        href: format!("{}missing/", c.href),
        sync_token: None,
        ..c.clone()
    };
    let opts = CopyOptions::default();
    let known = HashMap::new();

    let e = copy_collection(&src, &gone(&cal), &dst, &dcal, &known, &opts, |_| {})
        .await
        .expect_err("the source collection does not exist");
    assert_eq!(e.side, Side::Source, "{e}");
    assert!(e.to_string().starts_with("source: "), "{e}");

    let e = copy_collection(&src, &cal, &dst, &gone(&dcal), &known, &opts, |_| {})
        .await
        .expect_err("the destination collection does not exist");
    assert_eq!(e.side, Side::Destination, "{e}");
    // Nothing was written anywhere by either attempt.
    assert!(dst.list_items(&dcal).await.unwrap().is_empty());
}
