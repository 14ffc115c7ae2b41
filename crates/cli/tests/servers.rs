//! Servers other than Dovecot, in both directions: Dovecot → Cyrus, Cyrus → Dovecot,
//! Dovecot → Courier, Courier → Dovecot, with a small seeded corpus. Each checks what a user
//! would: every message arrives byte-exact with its flags, keywords and date (the testkit's
//! independent verifier), special-use folders land on the destination's folder of the same role,
//! a name collision or a name the server refuses does not stop the run, and a second run
//! copies nothing.
//!
//! Cyrus 3.6 has LITERAL+, MULTIAPPEND and CREATE-SPECIAL-USE and refuses `"` and `\` in names;
//! Courier-IMAP 5.0 has the `INBOX.` prefix with separator `.`, no LITERAL+ and no MULTIAPPEND.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use passeur_imap::{AppendMessage, Client, mutf7};
use passeur_testkit::corpus::{self, CorpusSpec, Profile, encode};
use passeur_testkit::imapwire::{self, Value};
use passeur_testkit::verify::{self, AccountSnapshot};
use passeur_testkit::{Courier, Cyrus, Dovecot, DovecotOptions};
use support::*;

fn spec() -> CorpusSpec {
    CorpusSpec {
        seed: 12,
        count: 60,
        profile: Profile::Small,
        ..CorpusSpec::default()
    }
}

/// Appends the corpus over IMAP (folders named by `wire` from their `/`-separated names),
/// creating the folders the server does not have yet. Returns the number of messages.
async fn fill_corpus(c: &mut Client, wire: impl Fn(&str) -> String) -> usize {
    let mut by_folder: BTreeMap<String, Vec<AppendMessage>> = BTreeMap::new();
    for (name, _) in corpus::FOLDERS {
        by_folder.entry((*name).to_owned()).or_default();
    }
    let mut n = 0;
    for g in corpus::generate(&spec()) {
        let flags = g
            .item
            .flags
            .iter()
            .chain(&g.item.keywords)
            .cloned()
            .collect();
        by_folder
            .entry(g.item.folder.clone())
            .or_default()
            .push(AppendMessage {
                flags,
                internal_date: Some(encode::imap_date(g.item.internal_date)),
                body: Bytes::from(corpus::to_crlf(&g.raw)),
            });
        n += 1;
    }
    let existing: BTreeSet<String> = c
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|f| f.name)
        .collect();
    for (folder, msgs) in by_folder {
        let name = wire(&folder);
        if !existing.contains(&name) && name != "INBOX" {
            c.create(&name).await.expect("create");
        }
        for chunk in msgs.chunks(50) {
            let out = c.append_batch(&name, chunk).await.expect("append");
            assert!(
                out.results.iter().all(Result::is_ok),
                "append refused in {name}"
            );
        }
    }
    n
}

/// The snapshot with its folders renamed by `f` (names decoded, `/`-separated).
fn renamed(snap: AccountSnapshot, f: impl Fn(&str) -> String) -> AccountSnapshot {
    AccountSnapshot {
        folders: snap
            .folders
            .into_iter()
            .map(|(name, msgs)| (f(&name), msgs))
            .collect(),
        ..snap
    }
}

/// Asserts that `dst` holds exactly `src`'s messages (extra empty folders allowed).
fn assert_exact(src: &AccountSnapshot, dst: &AccountSnapshot, expect_messages: usize) {
    assert_eq!(
        src.messages(),
        expect_messages,
        "source: {:?}",
        src.folders.keys()
    );
    let cmp = verify::compare(src, dst);
    assert!(
        cmp.is_exact(),
        "{}\nsource folders: {:?}\ndestination folders: {:?}",
        cmp.summary(),
        src.folders.keys().collect::<Vec<_>>(),
        dst.folders.keys().collect::<Vec<_>>()
    );
    let extra: Vec<&String> = cmp
        .extra_folders
        .iter()
        .filter(|f| dst.folders.get(*f).is_some_and(|m| !m.is_empty()))
        .collect();
    assert!(
        extra.is_empty(),
        "messages in unexpected folders: {extra:?}"
    );
}

/// Special-use attribute (lower case) → decoded folder name, from `LIST ... RETURN (SPECIAL-USE)`.
fn special_use(addr: &str, user: &str, password: &str) -> BTreeMap<String, String> {
    let mut c = imapwire::Client::login(addr, user, password).expect("login");
    let mut out = BTreeMap::new();
    for imapwire::Untagged(v) in c.run("LIST \"\" \"*\" RETURN (SPECIAL-USE)").expect("list") {
        let (Some(Value::List(attrs)), Some(name)) = (v.get(1), v.get(3).and_then(Value::as_str))
        else {
            continue;
        };
        for a in attrs.iter().filter_map(Value::as_str) {
            let a = a.to_ascii_lowercase();
            if ["\\sent", "\\drafts", "\\trash", "\\junk", "\\archive"].contains(&a.as_str()) {
                out.insert(a, encode::mutf7_decode(&name).unwrap_or(name.clone()));
            }
        }
    }
    c.logout();
    out
}

fn run_twice(src_url: &str, dst_url: &str, src_pw: &str, dst_pw: &str) -> String {
    let state = tempfile::tempdir().unwrap();
    let args = ["migrate", "--from", src_url, "--to", dst_url];
    let o = passeur(state.path(), &args, src_pw, dst_pw);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let first = String::from_utf8_lossy(&o.stdout).into_owned();
    let again = passeur(state.path(), &args, src_pw, dst_pw);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(copied(&again), 0, "second run: {}", text(&again));
    first
}

fn notes(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("note: ")).collect()
}

fn source_dovecot() -> Dovecot {
    let src = Dovecot::start(DovecotOptions {
        users: 1,
        ..Default::default()
    })
    .expect("start source Dovecot");
    src.write_corpus("user1", &spec()).expect("corpus");
    src
}

#[test]
fn dovecot_to_cyrus() {
    let src = source_dovecot();
    let rt = rt();
    // Cyrus refuses `"` and `\` in names.
    rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(
            &mut c,
            &[
                msg(
                    "Say \"hi\"",
                    simple(1, Some("<q1@x>")),
                    &["\\Seen"],
                    "01-Jan-2021 10:00:00 +0000",
                ),
                msg(
                    "Say \"hi\"",
                    simple(2, Some("<q2@x>")),
                    &["$Label1"],
                    "02-Jan-2021 10:00:00 +0000",
                ),
            ],
        )
        .await;
    });
    let dst = Cyrus::start(1).expect("start Cyrus");
    let out = run_twice(
        &url(&src, "user1"),
        &url_at(dst.imap_port, "user1"),
        "pass1",
        "pass1",
    );
    assert_eq!(
        notes(&out),
        [
            "note: folder Say \"hi\" goes to \"Say _hi_\": the destination refused the name \"Say \\\"hi\\\"\""
        ],
        "{out}"
    );
    let want = verify::snapshot(&src.imap_addr(), "user1", "pass1").expect("source");
    let got = verify::snapshot(&dst.imap_addr(), "user1", "pass1").expect("destination");
    let got = renamed(got, |n| {
        if n == "Say _hi_" {
            "Say \"hi\"".into()
        } else {
            n.into()
        }
    });
    assert_exact(&want, &got, spec().count + 2);
    // Archive did not exist on Cyrus: created with its role (CREATE-SPECIAL-USE).
    let roles = special_use(&dst.imap_addr(), "user1", "pass1");
    assert_eq!(
        roles.get("\\archive").map(String::as_str),
        Some("Archive"),
        "{roles:?}"
    );
    assert_eq!(
        roles.get("\\sent").map(String::as_str),
        Some("Sent"),
        "{roles:?}"
    );
}

#[test]
fn cyrus_to_dovecot() {
    let src = Cyrus::start(1).expect("start Cyrus");
    let rt = rt();
    let n = rt.block_on(async {
        let mut c = login_at(src.imap_port, "user1", "pass1").await;
        fill_corpus(&mut c, mutf7::encode).await
    });
    // The destination's special-use folders have other names: mapped by role, not by name.
    let dst = Dovecot::start(DovecotOptions {
        users: 1,
        special_folders: Some(vec![
            ("Sent Messages".into(), "\\Sent".into()),
            ("Deleted Messages".into(), "\\Trash".into()),
            ("Drafts".into(), "\\Drafts".into()),
            ("Junk".into(), "\\Junk".into()),
        ]),
        ..Default::default()
    })
    .expect("start destination Dovecot");
    let out = run_twice(
        &url_at(src.imap_port, "user1"),
        &url(&dst, "user1"),
        "pass1",
        "pass1",
    );
    assert!(notes(&out).is_empty(), "{out}");
    let want = verify::snapshot(&src.imap_addr(), "user1", "pass1").expect("source");
    let got = verify::snapshot(&dst.imap_addr(), "user1", "pass1").expect("destination");
    let got = renamed(got, |n| match n {
        "Sent Messages" => "Sent".into(),
        "Deleted Messages" => "Trash".into(),
        other => other.into(),
    });
    assert_exact(&want, &got, n);
}

/// Courier's wire name of a corpus folder: under `INBOX.`, separator `.`.
fn courier_wire(name: &str) -> String {
    let name = if name == "INBOX" {
        name.to_owned()
    } else {
        format!(
            "INBOX.{}",
            name.strip_prefix("INBOX/")
                .unwrap_or(name)
                .replace('/', ".")
        )
    };
    mutf7::encode(&name)
}

#[test]
fn dovecot_to_courier() {
    let src = source_dovecot();
    let rt = rt();
    // `Newsletters` and the corpus's `INBOX/Newsletters` both map to `INBOX.Newsletters`.
    rt.block_on(async {
        let mut c = login(&src, "user1").await;
        fill(
            &mut c,
            &[msg(
                "Newsletters",
                simple(1, Some("<n1@x>")),
                &["\\Flagged"],
                "01-Jan-2021 10:00:00 +0000",
            )],
        )
        .await;
    });
    let dst = Courier::start(1).expect("start Courier");
    let out = run_twice(
        &url(&src, "user1"),
        &url_at(dst.imap_port, "user1"),
        "pass1",
        "pass1",
    );
    let notes = notes(&out);
    assert_eq!(notes.len(), 1, "{out}");
    let moved = if notes[0]
        == "note: folder Newsletters goes to \"INBOX.Newsletters (2)\": another source folder already maps to \"INBOX.Newsletters\""
    {
        "Newsletters"
    } else {
        assert_eq!(
            notes[0],
            "note: folder INBOX/Newsletters goes to \"INBOX.Newsletters (2)\": another source folder already maps to \"INBOX.Newsletters\"",
        );
        "INBOX/Newsletters"
    };
    let kept = if moved == "Newsletters" {
        "INBOX/Newsletters"
    } else {
        "Newsletters"
    };
    let want = verify::snapshot(&src.imap_addr(), "user1", "pass1").expect("source");
    let got = verify::snapshot(&dst.imap_addr(), "user1", "pass1").expect("destination");
    let got = renamed(got, |n| match n {
        "INBOX" => n.into(),
        "INBOX/Newsletters (2)" => moved.into(),
        "INBOX/Newsletters" => kept.into(),
        other => other.strip_prefix("INBOX/").unwrap_or(other).into(),
    });
    assert_exact(&want, &got, spec().count + 1);
}

#[test]
fn courier_to_dovecot() {
    let src = Courier::start(1).expect("start Courier");
    let rt = rt();
    let n = rt.block_on(async {
        let mut c = login_at(src.imap_port, "user1", "pass1").await;
        fill_corpus(&mut c, courier_wire).await
    });
    let dst = Dovecot::start(DovecotOptions {
        users: 1,
        ..Default::default()
    })
    .expect("start destination Dovecot");
    let out = run_twice(
        &url_at(src.imap_port, "user1"),
        &url(&dst, "user1"),
        "pass1",
        "pass1",
    );
    assert!(notes(&out).is_empty(), "{out}");
    // Courier's `INBOX.Sent` is the personal folder `Sent`: it lands on Dovecot's `\Sent`
    // folder, not in `INBOX/Sent`.
    let want = verify::snapshot(&src.imap_addr(), "user1", "pass1").expect("source");
    let want = renamed(want, |n| {
        if n == "INBOX" {
            n.into()
        } else {
            n.strip_prefix("INBOX/").unwrap_or(n).into()
        }
    });
    let got = verify::snapshot(&dst.imap_addr(), "user1", "pass1").expect("destination");
    assert_exact(&want, &got, n);
    let roles = special_use(&dst.imap_addr(), "user1", "pass1");
    assert_eq!(
        roles.get("\\sent").map(String::as_str),
        Some("Sent"),
        "{roles:?}"
    );
    assert!(
        got.folders.get("Sent").is_some_and(|m| !m.is_empty()),
        "{:?}",
        got.folders.keys()
    );
}
