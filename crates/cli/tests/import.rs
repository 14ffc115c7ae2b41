//! End-to-end tests of `passeur import`: real PST files from the corpus into a private Dovecot
//! (mail) and Radicale (contacts, events), .ics/.vcf files into Radicale.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use passeur_dav::{DavClient, DavConfig};
use passeur_pst::{FolderKind, ItemContent, PstFile};
use passeur_testkit::{Dovecot, DovecotOptions, Radicale, RadicaleOptions};
use sha2::{Digest, Sha256};
use support::*;

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus")
        .join(rel)
}

/// What passeur-pst yields for a file, per PST folder path: mail (sha256, sorted flags) and
/// the distinct UIDs of contacts and of events.
#[derive(Default, Debug)]
struct Expected {
    mail: BTreeMap<String, Vec<(String, Vec<String>)>>,
    contacts: BTreeSet<String>,
    events: BTreeSet<String>,
}

fn expected(path: &Path) -> Expected {
    let pst = PstFile::open(path).unwrap();
    let mut e = Expected::default();
    for f in pst.folders().unwrap() {
        if !f.in_ipm_subtree || matches!(f.kind(), FolderKind::Other) {
            continue;
        }
        for item in pst.items(&f).flatten() {
            match item.content {
                ItemContent::Mail { mime, flags, .. } if f.kind() == FolderKind::Mail => {
                    let mut flags: Vec<String> = flags;
                    flags.sort();
                    flags.dedup();
                    e.mail
                        .entry(f.path.join("/"))
                        .or_default()
                        .push((hex::encode(Sha256::digest(&mime)), flags));
                }
                ItemContent::Contact { uid, .. } | ItemContent::DistList { uid, .. } => {
                    e.contacts.insert(uid);
                }
                ItemContent::Event { uid, .. } => {
                    e.events.insert(uid);
                }
                _ => {}
            }
        }
    }
    e
}

fn run(state: &Path, args: &[&str]) -> std::process::Output {
    passeur(state, args, "", "pass1")
}

/// The JSON report printed after the `migration ID` line.
fn report(o: &std::process::Output) -> serde_json::Value {
    let out = String::from_utf8_lossy(&o.stdout);
    let start = out
        .find('{')
        .unwrap_or_else(|| panic!("no JSON in {}", text(o)));
    serde_json::from_str(&out[start..]).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn copied_of(v: &serde_json::Value) -> u64 {
    v["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["copied"].as_u64().unwrap())
        .sum()
}

/// Every resource of every collection of user1, by collection display name.
async fn dav_contents(rad: &Radicale) -> BTreeMap<String, usize> {
    let c = DavClient::new(DavConfig::new(
        url::Url::parse(&format!("{}/", rad.url())).unwrap(),
        "user1",
        "pass1",
    ))
    .unwrap();
    let homes = c.discover().await.unwrap();
    let mut out = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for home in [homes.calendar_home.clone(), homes.addressbook_home.clone()]
        .into_iter()
        .flatten()
    {
        for coll in c.list_collections(&home).await.unwrap() {
            if !seen.insert(coll.href.clone()) {
                continue;
            }
            let n = c.list_items(&coll).await.unwrap().len();
            let name = coll.displayname.clone().unwrap_or(coll.href.clone());
            *out.entry(name).or_default() += n;
        }
    }
    out
}

/// Mail of the destination by wire folder: (sha256, flags) sorted.
fn dst_mail(dc: &Dovecot) -> BTreeMap<String, Vec<(String, Vec<String>)>> {
    rt().block_on(async {
        snapshot(&mut login(dc, "user1").await)
            .await
            .into_iter()
            .map(|(k, v)| {
                let mut v: Vec<(String, Vec<String>)> =
                    v.into_iter().map(|s| (s.sha256, s.flags)).collect();
                v.sort();
                (k, v)
            })
            .filter(|(_, v)| !v.is_empty())
            .collect()
    })
}

/// The expected destination content, by destination folder, from the report's folder map.
fn expected_by_dst(
    e: &Expected,
    rep: &serde_json::Value,
) -> BTreeMap<String, Vec<(String, Vec<String>)>> {
    let mut out: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
    for f in rep["folders"].as_array().unwrap() {
        if f["kind"] != "mail" {
            continue;
        }
        let folder = f["folder"].as_str().unwrap();
        let dst = f["dst"].as_str().unwrap().to_string();
        if let Some(m) = e.mail.get(folder) {
            out.entry(dst).or_default().extend(m.iter().cloned());
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out.retain(|_, v| !v.is_empty());
    out
}

#[test]
fn pst_mail_contacts_events_exact_idempotent_and_purgeable() {
    let dc = Dovecot::start(DovecotOptions::default()).unwrap();
    let rad = Radicale::start(RadicaleOptions::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let file = corpus("pst/Aspose.Email-for-.NET__Outlook_Chunks_Test_part1.pst");
    let e = expected(&file);
    let mail_total: usize = e.mail.values().map(Vec::len).sum();
    assert!(mail_total > 10 && e.contacts.len() > 5 && !e.events.is_empty());
    let to = url(&dc, "user1");
    let dav = format!("{}/", rad.url());
    let args = [
        "import",
        file.to_str().unwrap(),
        "--to",
        &to,
        "--to-dav",
        &dav,
        "--json",
    ];
    let before = rt().block_on(dav_contents(&rad));
    // Mail that was there before the import, which purge must leave alone.
    rt().block_on(async {
        let mut c = login(&dc, "user1").await;
        fill(
            &mut c,
            &[msg(
                "INBOX",
                simple(1, Some("<mine@x>")),
                &["\\Seen"],
                "01-Jan-2024 00:00:00 +0000",
            )],
        )
        .await;
    });
    let mine = dst_mail(&dc);

    let out = run(state.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    let rep = report(&out);
    assert_eq!(
        copied_of(&rep) as usize,
        mail_total + e.contacts.len() + e.events.len(),
        "{rep:#}"
    );
    // Mail: the bytes passeur-pst produced, with its flags, in the mapped folders.
    let mut want = expected_by_dst(&e, &rep);
    for (f, v) in &mine {
        want.entry(f.clone()).or_default().extend(v.iter().cloned());
        want.get_mut(f).unwrap().sort();
    }
    let got = dst_mail(&dc);
    assert_eq!(got, want);
    // Contacts and events: one resource per UID, in collections named after the folders.
    let after = rt().block_on(dav_contents(&rad));
    let added: usize = after.values().sum::<usize>() - before.values().sum::<usize>();
    assert_eq!(added, e.contacts.len() + e.events.len(), "{after:?}");
    // Named after the PST folders ("Contacts", "Calendar"): Radicale's pre-created
    // collections of those names (slugs) are reused.
    let named = |n: &str| after.keys().any(|k| k.to_lowercase().contains(n));
    assert!(named("contacts") && named("calendar"), "{after:?}");
    let id = migration_id(&out);

    // The same file again: the same migration, nothing copied.
    let out2 = run(state.path(), &args);
    assert!(out2.status.success(), "{}", text(&out2));
    assert_eq!(migration_id(&out2), id);
    assert_eq!(copied_of(&report(&out2)), 0);
    assert_eq!(dst_mail(&dc), want);
    assert_eq!(rt().block_on(dav_contents(&rad)), after);

    // Status works; purge removes exactly what was imported.
    let st = run(state.path(), &["status", &id]);
    assert!(st.status.success(), "{}", text(&st));
    let p = run(state.path(), &["purge", &id]);
    assert!(p.status.success(), "{}", text(&p));
    assert_eq!(dst_mail(&dc), mine);
    let purged = rt().block_on(dav_contents(&rad));
    assert_eq!(
        purged.values().sum::<usize>(),
        before.values().sum::<usize>()
    );
}

#[test]
fn pst_without_dav_skips_contacts_with_a_note_and_maps_special_folders() {
    let dc = Dovecot::start(DovecotOptions {
        inbox_prefix: true,
        ..Default::default()
    })
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    for name in [
        "PstReader__aranetic_process-pst_flags_jane_doe.pst",
        "ruby-msg__attachAndInline.pst",
    ] {
        let file = corpus(&format!("pst/{name}"));
        let e = expected(&file);
        let out = run(
            state.path(),
            &[
                "import",
                file.to_str().unwrap(),
                "--to",
                &url(&dc, "user1"),
                "--json",
            ],
        );
        assert!(out.status.success(), "{name}: {}", text(&out));
        let rep = report(&out);
        let want = expected_by_dst(&e, &rep);
        let got = dst_mail(&dc);
        for (folder, msgs) in &want {
            assert!(
                folder == "INBOX" || folder.starts_with("INBOX."),
                "{folder}"
            );
            let have = got.get(folder).cloned().unwrap_or_default();
            for m in msgs {
                assert!(have.contains(m), "{name}: {folder} lacks {m:?}");
            }
        }
    }
    // Flags came over: jane doe's PST has read and unread mail.
    let got = dst_mail(&dc);
    let all: Vec<&(String, Vec<String>)> = got.values().flatten().collect();
    assert!(all.iter().any(|(_, f)| f.iter().any(|f| f == "\\Seen")));
    assert!(all.iter().any(|(_, f)| !f.iter().any(|f| f == "\\Seen")));
}

#[test]
fn pst_kill_9_then_resume_leaves_no_duplicate() {
    let dc = Dovecot::start(DovecotOptions::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let file = corpus("pst/PstReader__simiden_pst2john_97_outlook_pass12345.pst");
    let e = expected(&file);
    let total: usize = e.mail.values().map(Vec::len).sum();
    assert!(total > 100, "{total}");
    let to = url(&dc, "user1");
    let args = [
        "--state",
        state.path().to_str().unwrap(),
        "import",
        file.to_str().unwrap(),
        "--to",
        &to,
        "--no-progress",
        "--batch-messages",
        "3",
    ];
    let count = || -> usize { dst_mail(&dc).values().map(Vec::len).sum() };
    for round in 1..=2 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_passeur"))
            .args(args)
            .env("PASSEUR_TO_PASSWORD", "pass1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if count() >= total * round / 3
                || std::time::Instant::now() > deadline
                || child.try_wait().unwrap().is_some()
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(count() < total, "the import finished before it was killed");
    let out = passeur(state.path(), &args[2..], "", "pass1");
    assert!(out.status.success(), "{}", text(&out));
    let got = dst_mail(&dc);
    let mut want: Vec<(String, Vec<String>)> = e.mail.values().flatten().cloned().collect();
    want.sort();
    let mut have: Vec<(String, Vec<String>)> = got.values().flatten().cloned().collect();
    have.sort();
    assert_eq!(have.len(), want.len(), "duplicates or missing after resume");
    assert_eq!(have, want);
}

#[test]
fn ics_and_vcf_into_radicale_by_uid_once() {
    let rad = Radicale::start(RadicaleOptions::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let dav = format!("http://user1@{}:{}/", rad.host, rad.port);
    let ics = corpus("ics/Aspose.Email-for-.NET__Email_US-Holidays.ics");
    let vcf_dir = corpus("vcf");
    let vcf = std::fs::read_dir(&vcf_dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "vcf"))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .unwrap();
    for (file, coll) in [(&ics, "Holidays"), (&vcf, "Imported contacts")] {
        let uids: BTreeSet<String> = if file == &ics {
            passeur_formats::ics::split(std::io::BufReader::new(std::fs::File::open(file).unwrap()))
                .flatten()
                .map(|o| o.uid)
                .collect()
        } else {
            passeur_formats::vcf::split(std::io::BufReader::new(std::fs::File::open(file).unwrap()))
                .flatten()
                .map(|o| o.uid)
                .collect()
        };
        assert!(!uids.is_empty());
        let args = [
            "import",
            file.to_str().unwrap(),
            "--to-dav",
            &dav,
            "--collection",
            coll,
            "--json",
        ];
        let out = run(state.path(), &args);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(
            copied_of(&report(&out)) as usize,
            uids.len(),
            "{}",
            text(&out)
        );
        let contents = rt().block_on(dav_contents(&rad));
        assert_eq!(
            contents.get(coll).copied(),
            Some(uids.len()),
            "{contents:?}"
        );
        let out2 = run(state.path(), &args);
        assert!(out2.status.success(), "{}", text(&out2));
        assert_eq!(copied_of(&report(&out2)), 0);
        assert_eq!(
            rt().block_on(dav_contents(&rad)).get(coll).copied(),
            Some(uids.len())
        );
    }
}

#[test]
fn ost_and_ansi_pst_mail_counts_match_the_reader() {
    let dc = Dovecot::start(DovecotOptions::default()).unwrap();
    let rad = Radicale::start(RadicaleOptions::default()).unwrap();
    let dav = format!("{}/", rad.url());
    for name in [
        "Aspose.Email-for-.NET__Outlook_SampleOstFile.ost",
        "PstReader__simiden_pst2john_97_outlook_pass12345.pst",
    ] {
        let state = tempfile::tempdir().unwrap();
        let file = corpus(&format!("pst/{name}"));
        let e = expected(&file);
        let t = std::time::Instant::now();
        let out = run(
            state.path(),
            &[
                "import",
                file.to_str().unwrap(),
                "--to",
                &url(&dc, "user1"),
                "--to-dav",
                &dav,
            ],
        );
        let elapsed = t.elapsed();
        assert!(out.status.success(), "{name}: {}", text(&out));
        println!(
            "{name}: {elapsed:?}\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let want = e.mail.values().map(Vec::len).sum::<usize>() + e.contacts.len() + e.events.len();
        assert_eq!(copied(&out) as usize, want, "{name}: {}", text(&out));
    }
}

#[test]
fn pst_empty_folders_are_created_and_verify_finds_what_changed() {
    let dc = Dovecot::start(DovecotOptions::default()).unwrap();
    let rad = Radicale::start(RadicaleOptions::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let file = corpus("pst/Aspose.Email-for-.NET__Outlook_Chunks_Test_part1.pst");
    let pst = PstFile::open(&file).unwrap();
    let empty: Vec<String> = pst
        .folders()
        .unwrap()
        .into_iter()
        .filter(|f| f.in_ipm_subtree && f.kind() == FolderKind::Mail && !f.path.is_empty())
        .filter(|f| pst.item_ids(f.node_id).is_empty())
        .map(|f| f.path.join("/"))
        .collect();
    assert!(!empty.is_empty(), "the file has no empty mail folder");
    let out = run(
        state.path(),
        &[
            "import",
            file.to_str().unwrap(),
            "--to",
            &url(&dc, "user1"),
            "--to-dav",
            &format!("{}/", rad.url()),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let rep = report(&out);
    let id = migration_id(&out);
    let listed: BTreeSet<String> = rt().block_on(async {
        let mut c = login(&dc, "user1").await;
        c.list()
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect()
    });
    for folder in &empty {
        let dst = rep["folders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["folder"] == folder.as_str())
            .and_then(|f| f["dst"].as_str())
            .unwrap_or_else(|| panic!("{folder} not in the report: {rep:#}"));
        assert!(
            listed.contains(dst),
            "{folder} -> {dst} not created: {listed:?}"
        );
    }

    let v = run(state.path(), &["verify", &id]);
    let vt = text(&v);
    assert!(v.status.success(), "{vt}");
    assert!(vt.contains("verify: OK"), "{vt}");

    // One imported message deleted, another one's flags changed: verify names both.
    let target = rep["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "mail" && f["copied"].as_u64().unwrap() >= 2)
        .and_then(|f| f["dst"].as_str())
        .unwrap_or_else(|| panic!("no folder with 2 messages: {rep:#}"))
        .to_owned();
    let (gone, flagged) = rt().block_on(async {
        let mut c = login(&dc, "user1").await;
        c.select(&target).await.unwrap();
        let metas = c.uid_fetch_meta("1:*", None).await.unwrap();
        assert!(metas.len() >= 2, "{metas:?}");
        let (a, b) = (metas[0].uid, metas[1].uid);
        c.uid_store(&a.to_string(), "+FLAGS.SILENT", &["\\Deleted".to_string()])
            .await
            .unwrap();
        c.uid_expunge(&a.to_string()).await.unwrap();
        c.uid_store(&b.to_string(), "+FLAGS.SILENT", &["$Changed".to_string()])
            .await
            .unwrap();
        (a, b)
    });
    let v = run(state.path(), &["verify", &id, "--json"]);
    assert_eq!(v.status.code(), Some(2), "{}", text(&v));
    let r = report(&v);
    let inbox = r["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["dst"] == target.as_str())
        .unwrap_or_else(|| panic!("no check of {target}: {r:#}"));
    assert_eq!(
        inbox["missing"].as_array().unwrap().len(),
        1,
        "{r:#} ({gone})"
    );
    assert_eq!(
        inbox["flags_differ"].as_array().unwrap().len(),
        1,
        "{r:#} ({flagged})"
    );
}

#[test]
fn pst_import_goes_on_through_a_dropped_connection_without_duplicates() {
    let dc = Dovecot::start(DovecotOptions::default()).unwrap();
    let proxy = passeur_testkit::CutProxy::start(&dc.imap_addr()).unwrap();
    proxy.cut_after_bytes(4_000_000);
    let state = tempfile::tempdir().unwrap();
    let file = corpus("pst/PstReader__simiden_pst2john_97_outlook_pass12345.pst");
    let e = expected(&file);
    let out = run(
        state.path(),
        &[
            "import",
            file.to_str().unwrap(),
            "--to",
            &format!("imap://user1@127.0.0.1:{}", proxy.port()),
            "--json",
            "--batch-messages",
            "10",
        ],
    );
    assert!(proxy.cuts() >= 1, "the proxy never cut");
    assert!(out.status.success(), "{}", text(&out));
    let rep = report(&out);
    let total: usize = e.mail.values().map(Vec::len).sum();
    assert_eq!(copied_of(&rep) as usize, total, "{rep:#}");
    same_mail(&dst_mail(&dc), &expected_by_dst(&e, &rep));
    let v = run(state.path(), &["verify", &migration_id(&out)]);
    assert!(v.status.success(), "{}", text(&v));
}

/// Replies lost with the connection, twice: first the one to a CREATE (the folder exists, the
/// import does not know), later the one to a batch of mail the server took; each time the first
/// attempts to connect again are refused. The import waits, reconnects, takes the folder as
/// created and finds the batch on the server (settle + rematch) instead of sending it twice,
/// and goes on in the same run.
#[test]
fn pst_import_goes_on_after_lost_replies_without_duplicates() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;
    let dc = Dovecot::start(DovecotOptions::default()).unwrap();
    let proxy = passeur_testkit::CutProxy::start(&dc.imap_addr()).unwrap();
    proxy.cut_on_reply(b"Create completed", 1);
    let state = tempfile::tempdir().unwrap();
    let file = corpus("pst/PstReader__simiden_pst2john_97_outlook_pass12345.pst");
    let e = expected(&file);
    let done = AtomicBool::new(false);
    let out = std::thread::scope(|s| {
        s.spawn(|| {
            for cuts in 1..=2 {
                while proxy.cuts() < cuts {
                    if done.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                // Connections refused for a while right after the cut.
                proxy.refuse(true);
                std::thread::sleep(Duration::from_millis(1200));
                proxy.refuse(false);
                if cuts == 1 {
                    proxy.cut_on_reply(b"APPENDUID", 3);
                }
            }
        });
        let out = run(
            state.path(),
            &[
                "import",
                file.to_str().unwrap(),
                "--to",
                &format!("imap://user1@127.0.0.1:{}", proxy.port()),
                "--json",
                "--batch-messages",
                "10",
            ],
        );
        done.store(true, Ordering::SeqCst);
        out
    });
    assert_eq!(proxy.cuts(), 2, "{}", text(&out));
    // The first connection, a refused one after each cut, and the ones that went on.
    assert!(proxy.connections() >= 5, "{}", proxy.connections());
    assert!(out.status.success(), "{}", text(&out));
    let rep = report(&out);
    let total: usize = e.mail.values().map(Vec::len).sum();
    assert_eq!(copied_of(&rep) as usize, total, "{rep:#}");
    // Exactly the expected messages, bytes and flags, each once.
    same_mail(&dst_mail(&dc), &expected_by_dst(&e, &rep));
    // Every mail folder is there and subscribed.
    let subscribed = subscribed_folders(&dc);
    for f in rep["folders"].as_array().unwrap() {
        if f["kind"] == "mail" {
            let dst = f["dst"].as_str().unwrap();
            assert!(
                subscribed.contains(dst),
                "{dst} not subscribed: {subscribed:?}"
            );
        }
    }
    let v = run(state.path(), &["verify", &migration_id(&out)]);
    assert!(v.status.success(), "{}", text(&v));
}

/// Folder names the destination lists as subscribed.
fn subscribed_folders(dc: &Dovecot) -> BTreeSet<String> {
    rt().block_on(async {
        let mut c = login(dc, "user1").await;
        c.list()
            .await
            .unwrap()
            .into_iter()
            .filter(|l| l.subscribed)
            .map(|l| l.name)
            .collect()
    })
}

/// Asserts two destination contents are the same, naming what is missing or extra per folder
/// (a duplicate shows as extra) instead of printing both whole.
fn same_mail(
    got: &BTreeMap<String, Vec<(String, Vec<String>)>>,
    want: &BTreeMap<String, Vec<(String, Vec<String>)>>,
) {
    let mut diffs = Vec::new();
    for folder in got.keys().chain(want.keys()).collect::<BTreeSet<_>>() {
        let empty = Vec::new();
        let (g, w) = (
            got.get(folder).unwrap_or(&empty),
            want.get(folder).unwrap_or(&empty),
        );
        let mut extra = g.clone();
        let mut missing = Vec::new();
        for m in w {
            match extra.iter().position(|x| x == m) {
                Some(i) => {
                    extra.remove(i);
                }
                None => missing.push(m.clone()),
            }
        }
        if !extra.is_empty() || !missing.is_empty() {
            diffs.push(format!(
                "{folder}: {} on the destination, {} expected; extra {extra:?}; missing {missing:?}",
                g.len(),
                w.len()
            ));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
