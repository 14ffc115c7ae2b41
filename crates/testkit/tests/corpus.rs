//! The corpus as Dovecot serves it: folders, counts, bodies, flags, keywords, dates.

use std::collections::BTreeMap;

use passeur_testkit::corpus::{self, CorpusSpec, Profile, encode};
use passeur_testkit::imapwire::Client;
use passeur_testkit::{Dovecot, DovecotOptions};
use sha2::{Digest, Sha256};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Fetches every message of every selectable folder and checks it against the plan.
fn check_served(
    dc: &Dovecot,
    user: &str,
    pass: &str,
    summary: &corpus::CorpusSummary,
    sep: char,
    prefix: &str,
) {
    let mut c = Client::login(&dc.imap_addr(), user, pass).unwrap();
    let list = c.list().unwrap();
    let by_id: BTreeMap<&str, &corpus::CorpusItem> = summary
        .items
        .iter()
        .map(|i| (i.corpus_id.as_str(), i))
        .collect();
    let mut seen = 0;
    for (folder, count) in &summary.folder_counts {
        let imap_name = if folder == "INBOX" {
            "INBOX".to_string()
        } else {
            let f = if prefix.is_empty() {
                folder.as_str()
            } else {
                folder.strip_prefix("INBOX/").unwrap_or(folder)
            };
            let parts: Vec<String> = f.split('/').map(encode::mutf7_encode).collect();
            format!("{prefix}{}", parts.join(&sep.to_string()))
        };
        let entry = list
            .iter()
            .find(|e| e.name == imap_name)
            .unwrap_or_else(|| panic!("{imap_name} not in {list:?}"));
        assert!(entry.selectable(), "{entry:?}");
        let exists = c.select(&imap_name, true).unwrap();
        assert_eq!(exists as usize, *count, "{folder}");
        if *count == 0 {
            continue;
        }
        c.fetch_each(
            "UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])",
            |it| {
                let body = it.body.unwrap();
                let text = String::from_utf8_lossy(&body);
                let id = text
                    .split("X-Corpus-Id: ")
                    .nth(1)
                    .unwrap()
                    .split("\r\n")
                    .next()
                    .unwrap()
                    .to_string();
                let want = by_id[id.as_str()];
                assert_eq!(&want.folder, folder);
                assert_eq!(hex(&Sha256::digest(&body)), want.sha256, "{id}");
                assert_eq!(it.size, Some(want.size), "{id}");
                assert_eq!(
                    encode::parse_imap_date(&it.internal_date.unwrap()),
                    Some(want.internal_date),
                    "{id}"
                );
                let mut got: Vec<String> = it
                    .flags
                    .unwrap()
                    .into_iter()
                    .filter(|f| f != "\\Recent")
                    .collect();
                let mut exp: Vec<String> =
                    want.flags.iter().chain(&want.keywords).cloned().collect();
                got.sort();
                exp.sort();
                assert_eq!(got, exp, "{id}");
                seen += 1;
                Ok(())
            },
        )
        .unwrap();
    }
    assert_eq!(seen, summary.messages);
    for parent in corpus::NOSELECT_PARENTS {
        let name = format!("{prefix}{}", encode::mutf7_encode(parent));
        let e = list
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert!(!e.selectable(), "{e:?}");
    }
    c.logout();
}

#[test]
fn corpus_is_served_exactly_by_dovecot() {
    let dc = Dovecot::start(DovecotOptions::default()).unwrap();
    // Open the account first, so the write goes through the force-resync path.
    Client::login(&dc.imap_addr(), "user1", "pass1")
        .unwrap()
        .logout();
    let spec = CorpusSpec {
        seed: 5,
        count: 150,
        profile: Profile::Realistic,
        big_attachment: Some(300_000),
        ..CorpusSpec::default()
    };
    let summary = dc.write_corpus("user1", &spec).unwrap();
    assert_eq!(summary.messages, 151);
    assert_eq!(summary.folders, 21);
    assert!(summary.items.iter().any(|i| i.size > 400_000));
    check_served(&dc, "user1", "pass1", &summary, '/', "");
    // Subscriptions: the special-use folders and ours.
    let mut c = Client::login(&dc.imap_addr(), "user1", "pass1").unwrap();
    let lsub = c.run("LSUB \"\" \"*\"").unwrap();
    let names: Vec<String> = lsub
        .iter()
        .filter_map(|u| u.0.get(3).and_then(|v| v.as_str()))
        .collect();
    assert!(
        names.iter().any(|n| n == "Re&AOc-us/&AMk-t&AOk- 2023"),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n == "Entw&APw-rfe &- Notizen"),
        "{names:?}"
    );
}

#[test]
fn corpus_in_an_inbox_prefixed_namespace() {
    let dc = Dovecot::start(DovecotOptions {
        inbox_prefix: true,
        ..DovecotOptions::default()
    })
    .unwrap();
    let spec = CorpusSpec {
        seed: 9,
        count: 40,
        ..CorpusSpec::default()
    };
    let summary = dc.write_corpus("user2", &spec).unwrap();
    check_served(&dc, "user2", "pass2", &summary, '.', "INBOX.");
}
