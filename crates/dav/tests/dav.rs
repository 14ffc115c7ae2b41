//! passeur-dav against real servers: discovery, collections and items on a private Radicale 3
//! on a random loopback port. The migration logic built on this client (copy, import, verify)
//! is the engine's DAV sink, tested in `crates/engine/tests/dav_sink.rs`.

use std::collections::HashMap;

use passeur_dav::{
    Collection, CollectionKind, ComponentKind, DavClient, DavConfig, DavError, NewCollection,
    PutCondition, PutOutcome,
};
use passeur_testkit::{Radicale, RadicaleOptions};
use url::Url;

/// A private Radicale with `users` accounts (user1/pass1 ...) and no collections yet.
struct Server {
    _radicale: Radicale,
    url: Url,
}

impl Server {
    fn radicale(users: u32) -> Server {
        let r = Radicale::start(RadicaleOptions {
            users,
            create_collections: false,
            ..Default::default()
        })
        .expect("start radicale");
        Server {
            url: Url::parse(&format!("{}/", r.url().trim_end_matches('/'))).expect("url"),
            _radicale: r,
        }
    }

    fn client(&self, user: &str, pass: &str) -> DavClient {
        DavClient::new(DavConfig::new(self.url.clone(), user, pass)).expect("client")
    }
}

fn event(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n\
DTSTART:20240301T100000Z\r\nDTEND:20240301T110000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// user1's calendar "work" (4 events), task list "tasks" and address book "friends".
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
    for (name, uid, summary) in [
        ("e1", "ev-1", "Budget review"),
        ("e2", "ev-2", "Lunch\\, with Ana"),
        ("rec", "ev-recurring", "Weekly standup"),
        ("odd", "odd uid/with:chars@x", "Odd UID"),
    ] {
        let href = format!("{}{name}.ics", cal.href);
        let r = c
            .put(
                &href,
                &event(uid, summary),
                "text/calendar; charset=utf-8",
                PutCondition::IfNoneMatch,
            )
            .await
            .expect("put");
        assert!(matches!(r, PutOutcome::Created { .. }), "{href}: {r:?}");
    }
    (cal, tasks, book)
}

#[tokio::test]
async fn discovery_and_collection_creation() {
    let rad = Server::radicale(2);
    let c = rad.client("user1", "pass1");
    let homes = c.discover().await.expect("discover");
    assert_eq!(homes.principal.path(), "/user1/");
    assert_eq!(
        homes.calendar_home.as_ref().map(|u| u.path()),
        Some("/user1/")
    );
    assert_eq!(
        homes.addressbook_home.as_ref().map(|u| u.path()),
        Some("/user1/")
    );

    let (cal, tasks, book) = seed(&c).await;
    let colls = c
        .list_collections(homes.calendar_home.as_ref().unwrap())
        .await
        .expect("list");
    assert_eq!(colls.len(), 3, "{colls:?}");
    let work = colls
        .iter()
        .find(|x| x.href == cal.href)
        .expect("work calendar");
    assert_eq!(work.displayname.as_deref(), Some("Work Calendar"));
    assert_eq!(work.color.as_deref(), Some("#FF5733FF"));
    assert_eq!(work.description.as_deref(), Some("Meetings"));
    assert_eq!(
        work.kind,
        CollectionKind::Calendar {
            components: vec![ComponentKind::Event]
        }
    );
    assert!(
        work.sync_token.is_some(),
        "Radicale supports sync-collection"
    );
    let t = colls.iter().find(|x| x.href == tasks.href).expect("tasks");
    assert_eq!(t.displayname.as_deref(), Some("Tâches"));
    assert!(t.kind.accepts(ComponentKind::Todo) && !t.kind.accepts(ComponentKind::Event));
    let b = colls.iter().find(|x| x.href == book.href).expect("book");
    assert_eq!(b.kind, CollectionKind::AddressBook);
    assert_eq!(b.displayname.as_deref(), Some("Friends & Family"));

    let items = c.list_items(&cal).await.expect("items");
    assert_eq!(items.len(), 4);
    assert!(items.iter().all(|i| !i.etag.is_empty()));

    // A wrong password is an authentication error, not retryable.
    let bad = rad.client("user1", "nope");
    match bad.discover().await {
        Err(e @ DavError::Auth { .. }) => assert!(!e.is_retryable()),
        other => panic!("expected an auth error, got {other:?}"),
    }
    // Another user's collections are not readable.
    let other = rad.client("user2", "pass2");
    assert!(other.list_items(&cal).await.is_err());
}

/// A fixed DNS zone for RFC 6764 discovery.
struct Zone(HashMap<String, (Vec<passeur_dav::srv::SrvRecord>, Vec<String>)>);

impl passeur_dav::srv::DnsLookup for Zone {
    fn srv(
        &self,
        name: &str,
    ) -> impl std::future::Future<Output = Vec<passeur_dav::srv::SrvRecord>> + Send {
        let v = self.0.get(name).map(|x| x.0.clone()).unwrap_or_default();
        async move { v }
    }
    fn txt(&self, name: &str) -> impl std::future::Future<Output = Vec<String>> + Send {
        let v = self.0.get(name).map(|x| x.1.clone()).unwrap_or_default();
        async move { v }
    }
}

#[tokio::test]
async fn rfc6764_srv_discovery() {
    use passeur_dav::srv::{Service, SrvRecord, discover_domain, rfc6764_candidates};
    let rad = Server::radicale(1);
    let port = rad.url.port().unwrap();
    let rec = |prio, port, target: &str| SrvRecord {
        priority: prio,
        weight: 0,
        port,
        target: target.into(),
    };
    let mut z = HashMap::new();
    // No TLS service ("."), plain CalDAV on two hosts, the best one being ours.
    z.insert(
        "_caldavs._tcp.example.test".to_string(),
        (vec![rec(0, 0, ".")], vec![]),
    );
    z.insert(
        "_caldav._tcp.example.test".to_string(),
        (
            vec![
                rec(20, 8008, "backup.example.test."),
                rec(10, port, "127.0.0.1"),
            ],
            vec!["path=/user1/".to_string()],
        ),
    );
    let zone = Zone(z);
    let c = rfc6764_candidates("example.test", Service::CalDav, &zone).await;
    let c: Vec<String> = c.iter().map(|u| u.to_string()).collect();
    assert_eq!(
        c,
        vec![
            format!("http://127.0.0.1:{port}/user1/"),
            "http://backup.example.test:8008/user1/".to_string(),
            "https://example.test/.well-known/caldav".to_string(),
        ]
    );
    let cfg = DavConfig::new(rad.url.clone(), "user1", "pass1");
    let (client, homes) = discover_domain(&cfg, "example.test", Service::CalDav, &zone)
        .await
        .expect("discover");
    assert_eq!(homes.principal.path(), "/user1/");
    assert_eq!(client.base_url().port(), Some(port));
}
