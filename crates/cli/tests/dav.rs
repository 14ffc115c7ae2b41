//! End to end: contacts, calendars and tasks from one Radicale account to another through the
//! `passeur` binary (migrate, second run, sync, purge, verify), checked with an independent
//! DAV client.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use passeur_dav::{
    CollectionKind, ComponentKind, DavClient, DavConfig, NewCollection, PutCondition, PutOutcome,
};
use passeur_formats::{ics, vcf};
use passeur_testkit::{Radicale, RadicaleOptions};
use support::{migration_id, passeur, rt, text};

const TZ: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";
const ICS: &str = "text/calendar; charset=utf-8";
const VCF: &str = "text/vcard; charset=utf-8";

fn event(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{TZ}BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n\
DTSTART;TZID=Europe/Paris:20240301T100000\r\nDTEND;TZID=Europe/Paris:20240301T110000\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn recurring(uid: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{TZ}BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n\
DTSTART;TZID=Europe/Paris:20240304T090000\r\nDURATION:PT30M\r\nRRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10\r\nSUMMARY:Standup\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Paris:20240311T090000\r\n\
DTSTART;TZID=Europe/Paris:20240311T100000\r\nDURATION:PT30M\r\nSUMMARY:Standup (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn todo(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:{summary}\r\nDUE:20240401T120000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    )
}

fn card(uid: &str, name: &str, email: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nEMAIL;TYPE=INTERNET:{email}\r\nTEL;TYPE=CELL:+33 6 12 34 56 78\r\nEND:VCARD\r\n"
    )
}

/// A vCard with non-ASCII names and an inline photo. (Radicale neither takes nor serves vCard
/// 2.1, so a 2.1 source cannot be reproduced here; 2.1 -> 3.0 is covered by passeur-dav's tests.)
const CARD_PHOTO: &str = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-21\r\nN:Dupré;René;;;\r\n\
FN:René Dupré\r\nEMAIL;TYPE=INTERNET:rene@example.fr\r\nTEL;TYPE=CELL:+33 1 23 45 67 89\r\n\
PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0a\r\n HBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/\r\nEND:VCARD\r\n";

fn client(r: &Radicale, n: u32) -> DavClient {
    let (u, p) = r.user(n);
    DavClient::new(DavConfig::new(
        format!("{}/", r.url()).parse().expect("url"),
        u,
        p,
    ))
    .expect("client")
}

async fn put(c: &DavClient, href: &str, body: &str, ctype: &str, cond: PutCondition) {
    let r = c.put(href, body, ctype, cond).await.expect("put");
    assert!(
        matches!(r, PutOutcome::Created { .. } | PutOutcome::Updated { .. }),
        "{href}: {r:?}"
    );
}

/// Display name -> UID -> key properties, read independently of passeur's verify.
type Snapshot = BTreeMap<String, BTreeMap<String, String>>;

async fn snapshot(c: &DavClient) -> Snapshot {
    let homes = c.discover().await.expect("discover");
    let home = homes.calendar_home.expect("home");
    let mut out = Snapshot::new();
    for coll in c.list_collections(&home).await.expect("list") {
        let name = coll.displayname.clone().unwrap_or_else(|| coll.slug());
        let mut items = BTreeMap::new();
        for (_, body) in c.fetch_all(&coll).await.expect("fetch") {
            if coll.kind.is_calendar() {
                let i = ics::inspect(&body);
                items.insert(
                    i.uid.clone().unwrap_or_default(),
                    format!(
                        "{:?} {:?} {:?} {:?} overrides={} tz={}",
                        i.kind,
                        i.summary,
                        i.dtstart,
                        i.rrule,
                        i.overrides,
                        body.contains("TZID:Europe/Paris")
                    ),
                );
            } else {
                let i = vcf::inspect(&body);
                items.insert(
                    i.uid.clone().unwrap_or_default(),
                    format!(
                        "{:?} {:?} {:?} photo={}",
                        i.fn_, i.emails, i.tels, i.has_photo
                    ),
                );
            }
        }
        out.insert(name, items);
    }
    out
}

async fn seed(c: &DavClient) -> (String, String) {
    let homes = c.discover().await.expect("discover");
    let home = homes.calendar_home.clone().expect("calendar home");
    let mk = |slug: &'static str, kind: CollectionKind, name: &'static str| {
        let home = home.clone();
        async move {
            c.create_collection(
                &home,
                slug,
                &NewCollection {
                    kind,
                    displayname: Some(name.into()),
                    color: Some("#FF5733FF".into()),
                    description: None,
                },
            )
            .await
            .expect("create collection")
        }
    };
    let cal = mk(
        "work",
        CollectionKind::Calendar {
            components: vec![ComponentKind::Event],
        },
        "Work Calendar",
    )
    .await;
    let tasks = mk(
        "tasks",
        CollectionKind::Calendar {
            components: vec![ComponentKind::Todo],
        },
        "Tâches",
    )
    .await;
    let book = mk("friends", CollectionKind::AddressBook, "Friends & Family").await;
    let new = PutCondition::IfNoneMatch;
    put(
        c,
        &format!("{}e1.ics", cal.href),
        &event("ev-1", "Budget review"),
        ICS,
        new.clone(),
    )
    .await;
    put(
        c,
        &format!("{}e2.ics", cal.href),
        &event("ev-2", "Lunch"),
        ICS,
        new.clone(),
    )
    .await;
    put(
        c,
        &format!("{}rec.ics", cal.href),
        &recurring("ev-rec"),
        ICS,
        new.clone(),
    )
    .await;
    put(
        c,
        &format!("{}t1.ics", tasks.href),
        &todo("todo-1", "Buy milk"),
        ICS,
        new.clone(),
    )
    .await;
    put(
        c,
        &format!("{}t2.ics", tasks.href),
        &todo("todo-2", "File taxes"),
        ICS,
        new.clone(),
    )
    .await;
    put(
        c,
        &format!("{}c1.vcf", book.href),
        &card("card-1", "Ana Lima", "ana@example.org"),
        VCF,
        new.clone(),
    )
    .await;
    put(
        c,
        &format!("{}c2.vcf", book.href),
        &card("card-2", "Bo Chen", "bo@example.org"),
        VCF,
        new.clone(),
    )
    .await;
    put(c, &format!("{}c21.vcf", book.href), CARD_PHOTO, VCF, new).await;
    (cal.href, book.href)
}

fn run(state: &Path, args: &[&str]) -> std::process::Output {
    passeur(state, args, "pass1", "pass2")
}

fn line(o: &std::process::Output, prefix: &str) -> String {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find(|l| l.starts_with(prefix))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no {prefix:?} line in {}", text(o)))
}

#[test]
fn contacts_calendars_and_tasks_move_exactly_once_and_sync_purge_verify() {
    let r = Radicale::start(RadicaleOptions {
        users: 2,
        create_collections: false,
        ..Default::default()
    })
    .expect("radicale");
    let rt = rt();
    let state = tempfile::tempdir().expect("tempdir");
    let (src, dst) = (client(&r, 1), client(&r, 2));
    let (cal_href, book_href) = rt.block_on(seed(&src));
    let before = rt.block_on(snapshot(&src));
    assert_eq!(before.len(), 3, "{before:#?}");
    assert_eq!(before["Friends & Family"].len(), 3, "{before:#?}");
    assert!(
        before["Friends & Family"]["card-21"].contains("René Dupré")
            && before["Friends & Family"]["card-21"].contains("photo=true"),
        "{before:#?}"
    );

    let from = format!("http://user1@{}:{}/", r.host, r.port);
    let to = format!("http://user2@{}:{}/", r.host, r.port);
    let args = [
        "migrate",
        "--from-dav",
        &from,
        "--to-dav",
        &to,
        "--content",
        "contacts,calendars,tasks",
        "--no-progress",
    ];
    // A dry run counts what would be copied and writes nothing.
    let mut dry = args.to_vec();
    dry.push("--dry-run");
    let o = run(state.path(), &dry);
    assert!(o.status.success(), "{}", text(&o));
    let l = line(&o, "dav total:");
    assert!(
        l.starts_with("dav total: 8 copied") && l.ends_with("(dry run)"),
        "{}",
        text(&o)
    );
    assert!(
        rt.block_on(snapshot(&dst)).is_empty(),
        "a dry run wrote to the destination"
    );

    let o = run(state.path(), &args);
    assert!(o.status.success(), "{}", text(&o));
    let id = migration_id(&o);
    assert!(
        line(&o, "dav total:").starts_with("dav total: 8 copied, 0 updated"),
        "{}",
        text(&o)
    );
    let after = rt.block_on(snapshot(&dst));
    assert_eq!(after, before, "destination differs from source");

    // A second run finds nothing to do, and thanks to the stored sync tokens the source
    // lists no item at all.
    let mut again = args.to_vec();
    again.push("--json");
    let o = run(state.path(), &again);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(migration_id(&o), id, "the same migration continues");
    let json = String::from_utf8_lossy(&o.stdout);
    let v: serde_json::Value =
        serde_json::from_str(json.split_once('\n').map_or("", |x| x.1)).expect("json report");
    let colls = v["dav"]["collections"].as_array().expect("collections");
    assert_eq!(colls.len(), 3, "{v:#}");
    for c in colls {
        assert_eq!(c["copied"], 0, "{v:#}");
        assert_eq!(c["updated"], 0, "{v:#}");
        assert_eq!(c["listed"], 0, "sync token not used: {v:#}");
        assert_eq!(c["created"], false, "{v:#}");
    }

    // One event changed and one contact added on the source: sync copies exactly those.
    rt.block_on(async {
        put(
            &src,
            &format!("{cal_href}e1.ics"),
            &event("ev-1", "Budget review (moved)"),
            ICS,
            PutCondition::None,
        )
        .await;
        put(
            &src,
            &format!("{book_href}c4.vcf"),
            &card("card-4", "Dee New", "dee@example.org"),
            VCF,
            PutCondition::IfNoneMatch,
        )
        .await;
    });
    let o = run(state.path(), &["sync", &id, "--no-progress"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        line(&o, "dav total:").starts_with("dav total: 1 copied, 1 updated"),
        "{}",
        text(&o)
    );
    let src_now = rt.block_on(snapshot(&src));
    assert_eq!(rt.block_on(snapshot(&dst)), src_now);

    let o = run(state.path(), &["verify", &id]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(line(&o, "verify:") == "verify: OK", "{}", text(&o));

    // Purge from pass 2 (pass 2 copied nothing, pass 3 was the sync): only the new contact goes; the updated event stays.
    let o = run(state.path(), &["purge", &id, "--from-pass", "2"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        line(&o, "deleted 1 contact").contains("deleted 1"),
        "{}",
        text(&o)
    );
    let d = rt.block_on(snapshot(&dst));
    assert!(!d["Friends & Family"].contains_key("card-4"), "{d:#?}");
    assert_eq!(d["Friends & Family"].len(), 3);
    assert!(d["Work Calendar"]["ev-1"].contains("Budget review (moved)"));

    // verify expects everything but what was purged; the next sync copies what is new on the
    // source, and the purged contact is not new: it stays away.
    let o = run(state.path(), &["verify", &id]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(state.path(), &["sync", &id, "--no-progress"]);
    assert!(
        line(&o, "dav total:").starts_with("dav total: 0 copied, 0 updated"),
        "{}",
        text(&o)
    );
    assert_eq!(rt.block_on(snapshot(&dst)), d);
    let o = run(state.path(), &["status", &id]);
    assert!(o.status.success(), "{}", text(&o));

    // A migration that lost its item map (here: a new one over the same accounts) finds its
    // own resources at their UID-derived hrefs and records them; nothing is duplicated.
    let resources = |c: &DavClient| {
        rt.block_on(async {
            let home = c
                .discover()
                .await
                .expect("discover")
                .calendar_home
                .expect("home");
            let mut n = 0;
            for coll in c.list_collections(&home).await.expect("list") {
                n += c.list_items(&coll).await.expect("items").len();
            }
            n
        })
    };
    // The purged contact stays away; a new migration (no memory of the purge) brings it.
    assert_eq!(resources(&dst), 8);
    let mut fresh = args.to_vec();
    fresh.push("--new");
    let o = run(state.path(), &fresh);
    assert!(o.status.success(), "{}", text(&o));
    assert_ne!(migration_id(&o), id);
    assert!(
        line(&o, "dav total:").starts_with("dav total: 9 copied, 0 updated"),
        "{}",
        text(&o)
    );
    assert_eq!(
        resources(&dst),
        9,
        "duplicates were written, or card-4 is missing"
    );
}

/// Mail and DAV in one migration: the DAV logins come from the IMAP URLs, the passwords are
/// shared, and status, verify and purge cover both.
#[test]
fn mail_and_dav_in_one_migration() {
    use passeur_testkit::{Dovecot, DovecotOptions};
    use support::{copied, fill, login, msg, simple, url};

    let dc = Dovecot::start(DovecotOptions::default()).expect("dovecot");
    let r = Radicale::start(RadicaleOptions {
        users: 2,
        create_collections: false,
        ..Default::default()
    })
    .expect("radicale");
    let rt = rt();
    let state = tempfile::tempdir().expect("tempdir");
    let (src, dst) = (client(&r, 1), client(&r, 2));
    rt.block_on(async {
        seed(&src).await;
        let mut c = login(&dc, "user1").await;
        fill(
            &mut c,
            &[
                msg(
                    "INBOX",
                    simple(1, Some("<1@x>")),
                    &["\\Seen"],
                    "01-Jan-2024 10:00:00 +0000",
                ),
                msg(
                    "INBOX",
                    simple(2, Some("<2@x>")),
                    &[],
                    "02-Jan-2024 10:00:00 +0000",
                ),
                msg(
                    "Archive",
                    simple(3, Some("<3@x>")),
                    &["\\Flagged"],
                    "03-Jan-2024 10:00:00 +0000",
                ),
            ],
        )
        .await;
    });
    let dav = format!("http://{}:{}/", r.host, r.port);
    let o = run(
        state.path(),
        &[
            "migrate",
            "--from",
            &url(&dc, "user1"),
            "--to",
            &url(&dc, "user2"),
            "--from-dav",
            &dav,
            "--to-dav",
            &dav,
            "--no-progress",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let id = migration_id(&o);
    assert_eq!(copied(&o), 3, "{}", text(&o));
    assert!(
        line(&o, "dav total:").starts_with("dav total: 8 copied, 0 updated"),
        "{}",
        text(&o)
    );
    assert_eq!(rt.block_on(snapshot(&dst)), rt.block_on(snapshot(&src)));

    let o = run(state.path(), &["status", &id, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["items"], 11, "{v:#}");
    assert_eq!(v["passes"][0]["copied"], 11, "{v:#}");

    let o = run(state.path(), &["verify", &id]);
    assert!(o.status.success(), "{}", text(&o));

    // Purge everything: the three messages and the eight DAV items, and nothing else.
    let o = run(state.path(), &["purge", &id]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        line(&o, "deleted 3 message").contains("deleted 3"),
        "{}",
        text(&o)
    );
    assert!(
        line(&o, "deleted 8 contact").contains("deleted 8"),
        "{}",
        text(&o)
    );
    let left: usize = rt
        .block_on(snapshot(&dst))
        .values()
        .map(BTreeMap::len)
        .sum();
    assert_eq!(left, 0);
    assert_eq!(
        rt.block_on(snapshot(&src))
            .values()
            .map(BTreeMap::len)
            .sum::<usize>(),
        8,
        "the source is untouched"
    );
}

/// Volume: 500 contacts and 500 events, timed (`cargo test -p passeur --test dav -- --ignored
/// --nocapture`).
#[test]
#[ignore = "timing run"]
fn volume_500_contacts_500_events() {
    let r = Radicale::start(RadicaleOptions {
        users: 3,
        create_collections: false,
        ..Default::default()
    })
    .expect("radicale");
    let rt = rt();
    let src = client(&r, 1);
    rt.block_on(async {
        let homes = src.discover().await.expect("discover");
        let home = homes.calendar_home.expect("home");
        let mk = |slug: &'static str, kind: CollectionKind| {
            let home = home.clone();
            let src = &src;
            async move {
                src.create_collection(
                    &home,
                    slug,
                    &NewCollection {
                        kind,
                        displayname: Some(slug.into()),
                        color: None,
                        description: None,
                    },
                )
                .await
                .expect("create")
            }
        };
        let cal = mk(
            "big-cal",
            CollectionKind::Calendar {
                components: vec![ComponentKind::Event],
            },
        )
        .await;
        let book = mk("big-book", CollectionKind::AddressBook).await;
        for i in 0..500 {
            put(
                &src,
                &format!("{}e{i}.ics", cal.href),
                &event(&format!("ev-{i}"), &format!("Event {i}")),
                ICS,
                PutCondition::IfNoneMatch,
            )
            .await;
            put(
                &src,
                &format!("{}c{i}.vcf", book.href),
                &card(
                    &format!("card-{i}"),
                    &format!("Person {i}"),
                    &format!("p{i}@example.org"),
                ),
                VCF,
                PutCondition::IfNoneMatch,
            )
            .await;
        }
    });
    let from = format!("http://user1@{}:{}/", r.host, r.port);
    // The same copy with one write at a time, then with the default (4 in flight), each into
    // its own account, then the no-op pass.
    let mut times = Vec::new();
    for (user, extra) in [("user2", Some("1")), ("user3", None)] {
        let to = format!("http://{user}@{}:{}/", r.host, r.port);
        let mut args = vec![
            "migrate",
            "--from-dav",
            &from,
            "--to-dav",
            &to,
            "--no-progress",
        ];
        if let Some(n) = extra {
            args.extend(["--connections", n]);
        }
        let state = tempfile::tempdir().expect("tempdir");
        let t = std::time::Instant::now();
        let pass = format!("pass{}", &user[4..]);
        let o = passeur(state.path(), &args, "pass1", &pass);
        times.push(t.elapsed());
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            line(&o, "dav total:").starts_with("dav total: 1000 copied"),
            "{}",
            text(&o)
        );
        if extra.is_none() {
            let t = std::time::Instant::now();
            let o = passeur(state.path(), &args, "pass1", &pass);
            times.push(t.elapsed());
            assert!(
                line(&o, "dav total:").starts_with("dav total: 0 copied"),
                "{}",
                text(&o)
            );
        }
    }
    println!(
        "1000 items: 1 write in flight {:?}, 4 in flight {:?}, no-op pass {:?}",
        times[0], times[1], times[2]
    );
}

/// RFC 6764: the source is given as a bare domain; its server is found through SRV and TXT
/// records served by a private dnsmasq. The TLS record comes first and points nowhere, so the
/// plain one is used.
#[test]
fn a_domain_is_resolved_through_dns_srv_records() {
    let r = Radicale::start(RadicaleOptions {
        users: 2,
        create_collections: false,
        ..Default::default()
    })
    .expect("radicale");
    let rt = rt();
    let (src, dst) = (client(&r, 1), client(&r, 2));
    rt.block_on(seed(&src));
    let before = rt.block_on(snapshot(&src));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let srv = |name: &str, port: u16, priority: u16| passeur_testkit::Srv {
        name: name.into(),
        target: "127.0.0.1".into(),
        port,
        priority,
        weight: 0,
    };
    let dns = passeur_testkit::Dnsmasq::start(
        &[
            srv("_caldavs._tcp.example.test", closed, 0),
            srv("_caldav._tcp.example.test", r.port, 10),
            srv("_carddav._tcp.example.test", r.port, 10),
        ],
        &[("_caldav._tcp.example.test".into(), "path=/".into())],
    )
    .expect("dnsmasq");
    let state = tempfile::tempdir().expect("tempdir");
    let to = format!("http://user2@{}:{}/", r.host, r.port);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_passeur"))
        .arg("--state")
        .arg(state.path())
        .args([
            "migrate",
            "--from-dav",
            "user1@example.test",
            "--to-dav",
            &to,
            "--content",
            "contacts,calendars,tasks",
            "--no-progress",
        ])
        .env("PASSEUR_FROM_PASSWORD", "pass1")
        .env("PASSEUR_TO_PASSWORD", "pass2")
        .env("PASSEUR_DNS", dns.addr())
        .output()
        .expect("run passeur");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        line(&o, "dav total:").starts_with("dav total: 8 copied"),
        "{}",
        text(&o)
    );
    assert_eq!(rt.block_on(snapshot(&dst)), before);

    // Without the records the domain cannot be resolved: a clear error naming the side.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_passeur"))
        .arg("--state")
        .arg(state.path())
        .args([
            "migrate",
            "--from-dav",
            "user1@nowhere.test",
            "--to-dav",
            &to,
            "--content",
            "contacts",
            "--no-progress",
        ])
        .env("PASSEUR_FROM_PASSWORD", "pass1")
        .env("PASSEUR_TO_PASSWORD", "pass2")
        .env("PASSEUR_DNS", dns.addr())
        .output()
        .expect("run passeur");
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("source"), "{}", text(&o));
}

/// A local IPv4 address that is not loopback: the one this machine would send from on its
/// network (no packet is sent: a UDP `connect` only picks the route).
fn non_loopback_ipv4() -> std::net::Ipv4Addr {
    for probe in ["192.0.2.1:9", "198.51.100.1:9", "10.255.255.1:9"] {
        let Ok(s) = std::net::UdpSocket::bind("0.0.0.0:0") else {
            continue;
        };
        if s.connect(probe).is_err() {
            continue;
        }
        if let Ok(std::net::SocketAddr::V4(a)) = s.local_addr()
            && !a.ip().is_loopback()
            && !a.ip().is_unspecified()
        {
            return *a.ip();
        }
    }
    panic!("this machine has no IPv4 address other than loopback: the test needs one")
}

/// A plain-HTTP DAV "server" on a non-loopback address: each connection it accepts is
/// counted, then forwarded to `to` (a plain Radicale on loopback).
struct PlainDav {
    addr: std::net::SocketAddr,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl PlainDav {
    fn start(to: u16) -> PlainDav {
        use std::sync::atomic::Ordering;
        let l = std::net::TcpListener::bind((non_loopback_ipv4(), 0)).expect("bind");
        let addr = l.local_addr().unwrap();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let n = connections.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { return };
                n.fetch_add(1, Ordering::SeqCst);
                let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                let (mut c2, mut s2) = (c.try_clone().unwrap(), s.try_clone().unwrap());
                let (mut c, mut s) = (c, s);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c, &mut s);
                    let _ = s.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s2, &mut c2);
                    let _ = c2.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        PlainDav { addr, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn dns_srv(name: &str, target: &str, port: u16, priority: u16) -> passeur_testkit::Srv {
    passeur_testkit::Srv {
        name: name.into(),
        target: target.into(),
        port,
        priority,
        weight: 0,
    }
}

fn migrate_domain(
    state: &Path,
    from: &str,
    to: &str,
    dns: &passeur_testkit::Dnsmasq,
    extra: &[&str],
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_passeur"))
        .arg("--state")
        .arg(state)
        .args([
            "migrate",
            "--from-dav",
            from,
            "--to-dav",
            to,
            "--content",
            "contacts,calendars,tasks",
            "--no-progress",
        ])
        .args(extra)
        .env("PASSEUR_FROM_PASSWORD", "pass1")
        .env("PASSEUR_TO_PASSWORD", "pass2")
        .env("PASSEUR_DNS", dns.addr())
        .env_remove("PASSEUR_STATE")
        .output()
        .expect("run passeur")
}

/// RFC 6764 with both a TLS (`_caldavs._tcp`) and a plain (`_caldav._tcp`) record, the plain
/// one to an address off loopback and of better priority: the TLS server is used, and no
/// connection at all goes to the plain one.
#[test]
fn a_domain_offering_tls_and_plain_is_reached_over_tls() {
    let tls = Radicale::start_tls(RadicaleOptions {
        users: 2,
        create_collections: false,
        ..Default::default()
    })
    .expect("radicale over TLS");
    let plain = Radicale::start(RadicaleOptions {
        users: 2,
        create_collections: false,
        ..Default::default()
    })
    .expect("radicale");
    let rt = rt();
    let src = {
        let mut cfg = DavConfig::new(format!("{}/", tls.url()).parse().unwrap(), "user1", "pass1");
        cfg.insecure_tls = true;
        DavClient::new(cfg).expect("client")
    };
    rt.block_on(seed(&src));
    let before = rt.block_on(snapshot(&src));
    // The plain candidate leads to a server holding the same user, empty: had it been used,
    // the run would copy nothing (and the password would have crossed the network).
    let trap = PlainDav::start(plain.port);
    let ip = trap.addr.ip().to_string();
    let mut records = Vec::new();
    let mut txt = Vec::new();
    for service in ["caldav", "carddav"] {
        records.push(dns_srv(
            &format!("_{service}s._tcp.example.test"),
            "127.0.0.1",
            tls.port,
            10,
        ));
        records.push(dns_srv(
            &format!("_{service}._tcp.example.test"),
            &ip,
            trap.addr.port(),
            0,
        ));
        for s in ["s", ""] {
            txt.push((
                format!("_{service}{s}._tcp.example.test"),
                "path=/".to_string(),
            ));
        }
    }
    let dns = passeur_testkit::Dnsmasq::start(&records, &txt).expect("dnsmasq");
    let state = tempfile::tempdir().expect("tempdir");
    let dst = client(&plain, 2);
    let to = format!("http://user2@{}:{}/", plain.host, plain.port);
    let o = migrate_domain(
        state.path(),
        "user1@example.test",
        &to,
        &dns,
        &["--from-insecure-tls"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        line(&o, "dav total:").starts_with("dav total: 8 copied"),
        "{}",
        text(&o)
    );
    assert_eq!(rt.block_on(snapshot(&dst)), before);
    assert_eq!(
        trap.connections(),
        0,
        "the plain candidate was contacted: {}",
        text(&o)
    );
}

/// RFC 6764 with only a plain record, to an address off loopback: refused with a message that
/// says why and how to allow it, without a connection there; `--allow-plaintext` lets it go.
#[test]
fn a_domain_offering_only_plain_off_loopback_needs_allow_plaintext() {
    let r = Radicale::start(RadicaleOptions {
        users: 2,
        create_collections: false,
        ..Default::default()
    })
    .expect("radicale");
    let rt = rt();
    let src = client(&r, 1);
    rt.block_on(seed(&src));
    let before = rt.block_on(snapshot(&src));
    let trap = PlainDav::start(r.port);
    let ip = trap.addr.ip().to_string();
    let mut records = Vec::new();
    let mut txt = Vec::new();
    for service in ["caldav", "carddav"] {
        let name = format!("_{service}._tcp.plain.test");
        records.push(dns_srv(&name, &ip, trap.addr.port(), 0));
        txt.push((name, "path=/".to_string()));
    }
    let dns = passeur_testkit::Dnsmasq::start(&records, &txt).expect("dnsmasq");
    let state = tempfile::tempdir().expect("tempdir");
    let to = format!("http://user2@{}:{}/", r.host, r.port);
    let o = migrate_domain(state.path(), "user1@plain.test", &to, &dns, &[]);
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("source")
            && err.contains(&format!("cannot log in to {ip} over clear text"))
            && err.contains("allow clear text explicitly"),
        "{}",
        text(&o)
    );
    assert_eq!(trap.connections(), 0, "{}", text(&o));

    let o = migrate_domain(
        state.path(),
        "user1@plain.test",
        &to,
        &dns,
        &["--allow-plaintext"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(trap.connections() > 0);
    assert_eq!(rt.block_on(snapshot(&client(&r, 2))), before);
}

/// A calendar holding events and tasks: `--content tasks` copies the tasks only, and verify
/// expects only them; `--content calendars` into another account copies the events only.
#[test]
fn a_mixed_calendar_gives_only_the_wanted_components() {
    let r = Radicale::start(RadicaleOptions {
        users: 3,
        create_collections: false,
        ..Default::default()
    })
    .expect("radicale");
    let rt = rt();
    let src = client(&r, 1);
    rt.block_on(async {
        let homes = src.discover().await.expect("discover");
        let home = homes.calendar_home.expect("home");
        let cal = src
            .create_collection(
                &home,
                "mixed",
                &NewCollection {
                    kind: CollectionKind::Calendar {
                        components: vec![ComponentKind::Event, ComponentKind::Todo],
                    },
                    displayname: Some("Mixed".into()),
                    color: None,
                    description: None,
                },
            )
            .await
            .expect("create");
        for i in 0..3 {
            let body = event(&format!("mx-ev-{i}"), &format!("Event {i}"));
            put(
                &src,
                &format!("{}e{i}.ics", cal.href),
                &body,
                ICS,
                PutCondition::IfNoneMatch,
            )
            .await;
        }
        for i in 0..2 {
            let body = todo(&format!("mx-todo-{i}"), &format!("Task {i}"));
            put(
                &src,
                &format!("{}t{i}.ics", cal.href),
                &body,
                ICS,
                PutCondition::IfNoneMatch,
            )
            .await;
        }
    });
    let from = format!("http://user1@{}:{}/", r.host, r.port);
    for (user, content, want) in [
        ("user2", "tasks", vec!["mx-todo-0", "mx-todo-1"]),
        ("user3", "calendars", vec!["mx-ev-0", "mx-ev-1", "mx-ev-2"]),
    ] {
        let state = tempfile::tempdir().expect("tempdir");
        let to = format!("http://{user}@{}:{}/", r.host, r.port);
        let pass = format!("pass{}", &user[4..]);
        let args = [
            "migrate",
            "--from-dav",
            &from,
            "--to-dav",
            &to,
            "--content",
            content,
            "--no-progress",
        ];
        let o = passeur(state.path(), &args, "pass1", &pass);
        assert!(o.status.success(), "{}", text(&o));
        let got = rt.block_on(snapshot(&client(&r, user[4..].parse().unwrap())));
        let uids: Vec<&str> = got
            .values()
            .flat_map(|m| m.keys())
            .map(String::as_str)
            .collect();
        assert_eq!(uids, want, "{content}: {got:#?}");
        let id = migration_id(&o);
        let v = passeur(state.path(), &["verify", &id], "pass1", &pass);
        assert!(v.status.success(), "{content}: {}", text(&v));
    }
}

/// Delegation: the source's contacts and calendars are read by an admin who may read every
/// user's collections (Radicale with a rights file), with the admin's password and the user's
/// name, as `--from-admin` does for IMAP.
#[test]
fn an_admin_reads_a_users_collections_on_their_behalf() {
    let r = Radicale::start(RadicaleOptions {
        users: 2,
        create_collections: false,
        admin: true,
    })
    .expect("radicale");
    let rt = rt();
    let (src, dst) = (client(&r, 1), client(&r, 2));
    rt.block_on(seed(&src));
    let before = rt.block_on(snapshot(&src));
    let from = format!("http://user1@{}:{}/", r.host, r.port);
    let to = format!("http://user2@{}:{}/", r.host, r.port);
    let state = tempfile::tempdir().expect("tempdir");
    let args = [
        "migrate",
        "--from-dav",
        &from,
        "--from-admin",
        "admin",
        "--to-dav",
        &to,
        "--content",
        "contacts,calendars,tasks",
        "--no-progress",
    ];
    // The user's own password is not the admin's: refused.
    let o = passeur(state.path(), &args, "pass1", "pass2");
    assert!(!o.status.success(), "{}", text(&o));
    let o = passeur(state.path(), &args, "adminpass", "pass2");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        line(&o, "dav total:").starts_with("dav total: 8 copied"),
        "{}",
        text(&o)
    );
    assert_eq!(rt.block_on(snapshot(&dst)), before);
    let id = migration_id(&o);
    let v = passeur(state.path(), &["verify", &id], "adminpass", "pass2");
    assert!(v.status.success(), "{}", text(&v));
}

/// A source whose collections can be found but not read (here: every answer that lists a
/// calendar or contact item is made unreadable on the way) fails with the source named, and
/// leaves nothing on the destination: no empty collection is created before the source is read.
#[test]
fn an_unreadable_source_collection_creates_nothing_on_the_destination() {
    use passeur_testkit::{RewriteProxy, replace_all};
    let r = Radicale::start(RadicaleOptions {
        users: 2,
        create_collections: false,
        ..Default::default()
    })
    .expect("radicale");
    let rt = rt();
    let (src, dst) = (client(&r, 1), client(&r, 2));
    rt.block_on(seed(&src));
    // Same length, so that Content-Length still holds: `<href>…/x.ics{/href>` is no XML.
    let proxy = RewriteProxy::start(&format!("{}:{}", r.host, r.port), |l| {
        replace_all(&replace_all(l, b".ics<", b".ics{"), b".vcf<", b".vcf{")
    })
    .expect("proxy");
    let state = tempfile::tempdir().expect("tempdir");
    let from = format!("http://user1@127.0.0.1:{}/", proxy.port());
    let to = format!("http://user2@{}:{}/", r.host, r.port);
    let o = run(
        state.path(),
        &[
            "migrate",
            "--from-dav",
            &from,
            "--to-dav",
            &to,
            "--content",
            "contacts,calendars,tasks",
            "--no-progress",
        ],
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("source:"), "{}", text(&o));
    assert!(
        rt.block_on(snapshot(&dst)).is_empty(),
        "a collection was created for an unreadable source: {}",
        text(&o)
    );
}

/// Resources (not dot files) in every collection of Radicale's user `n`, and their distinct
/// UIDs.
fn radicale_items(r: &Radicale, n: u32) -> (usize, usize) {
    let home = r.dir.join(format!("collections/collection-root/user{n}"));
    let mut count = 0;
    let mut uids = std::collections::BTreeSet::new();
    for c in std::fs::read_dir(home).into_iter().flatten().flatten() {
        if !c.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(c.path()).into_iter().flatten().flatten() {
            if f.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            count += 1;
            let body = std::fs::read_to_string(f.path()).unwrap_or_default();
            if let Some(u) = body.lines().find_map(|l| l.strip_prefix("UID:")) {
                uids.insert(u.trim().to_string());
            }
        }
    }
    (count, uids.len())
}

/// A copy with 8 writes in flight (ending in whatever order the server serves them) stopped
/// with SIGKILL half-way, then run again: every item arrives once (nothing twice, nothing
/// missing), `verify` says OK, and a third run copies nothing.
#[test]
fn a_copy_with_8_connections_killed_half_way_resumes_once() {
    let r = Radicale::start(RadicaleOptions {
        users: 2,
        create_collections: false,
        ..Default::default()
    })
    .expect("radicale");
    let dir = tempfile::tempdir().unwrap();
    let (ics, vcf) = (dir.path().join("e.ics"), dir.path().join("c.vcf"));
    let mut cal = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n");
    let mut book = String::new();
    for i in 0..300 {
        cal.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:ev-{i}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240{}01T100000Z\r\nSUMMARY:Event {i}\r\nEND:VEVENT\r\n",
            1 + i % 9
        ));
        if i % 5 == 0 {
            book.push_str(&card(
                &format!("card-{i}"),
                &format!("Person {i}"),
                &format!("p{i}@example.org"),
            ));
        }
    }
    cal.push_str("END:VCALENDAR\r\n");
    std::fs::write(&ics, cal).unwrap();
    std::fs::write(&vcf, book).unwrap();
    let from = format!("http://user1@{}:{}/", r.host, r.port);
    let fill = tempfile::tempdir().unwrap();
    for (f, c) in [(&ics, "Events"), (&vcf, "Contacts")] {
        let o = passeur(
            fill.path(),
            &[
                "import",
                f.to_str().unwrap(),
                "--to-dav",
                &from,
                "--collection",
                c,
            ],
            "",
            "pass1",
        );
        assert!(o.status.success(), "{}", text(&o));
    }
    assert_eq!(radicale_items(&r, 1), (360, 360));

    let to = format!("http://user2@{}:{}/", r.host, r.port);
    let state = tempfile::tempdir().unwrap();
    let args = [
        "migrate",
        "--from-dav",
        &from,
        "--to-dav",
        &to,
        "--connections",
        "8",
        "--no-progress",
    ];
    let mut killed: Vec<&str> = vec!["--state", state.path().to_str().unwrap()];
    killed.extend(args);
    support::kill_when(&killed, "pass1", "pass2", || radicale_items(&r, 2).0 >= 120);
    let (half, _) = radicale_items(&r, 2);
    assert!((120..360).contains(&half), "stopped at {half} of 360 items");
    let o = passeur(state.path(), &args, "pass1", "pass2");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(radicale_items(&r, 2), (360, 360), "{}", text(&o));
    let id = migration_id(&o);
    let v = passeur(state.path(), &["verify", &id], "pass1", "pass2");
    assert!(v.status.success(), "{}", text(&v));
    assert_eq!(line(&v, "verify:"), "verify: OK", "{}", text(&v));
    let o = passeur(state.path(), &args, "pass1", "pass2");
    assert!(
        line(&o, "dav total:").starts_with("dav total: 0 copied"),
        "{}",
        text(&o)
    );
    assert_eq!(radicale_items(&r, 2), (360, 360));
}
