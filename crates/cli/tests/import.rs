//! End-to-end tests of `passeur import`: real PST files from the corpus into a private Dovecot
//! (mail) and Radicale (contacts, events), .ics/.vcf files into Radicale.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use passeur_dav::{DavClient, DavConfig};
use passeur_pst::{FolderKind, ItemContent, PstFile};
use passeur_testkit::{Dovecot, DovecotOptions, Radicale, RadicaleOptions, Xandikos};
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
    let mut id = None;
    for round in 1..=2 {
        let printed = kill_when(&args, "", "pass1", || count() >= total * round / 3);
        id = id.or_else(|| {
            printed
                .lines()
                .find_map(|l| l.strip_prefix("migration "))
                .map(|s| s.trim().to_owned())
        });
    }
    assert!(count() < total, "the import finished before it was killed");
    // verify of the unfinished import: what is not imported yet is counted (and named).
    let id = id.expect("no migration ID printed");
    let v = passeur(state.path(), &["verify", &id, "--json"], "", "pass1");
    assert_eq!(v.status.code(), Some(2), "{}", text(&v));
    let r = report(&v);
    let left: u64 = r["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["not_imported"].as_u64().unwrap())
        .sum();
    // A batch sent but not yet confirmed when the process died (3 messages at most) is not
    // counted as imported until a run reconciles it.
    let not_there = total - count();
    assert!(
        (not_there..=not_there + 3).contains(&(left as usize)),
        "{left} vs {not_there}: {r:#}"
    );
    let out = passeur(state.path(), &args[2..], "", "pass1");
    assert!(out.status.success(), "{}", text(&out));
    let v = passeur(state.path(), &["verify", &id], "", "pass1");
    assert!(v.status.success(), "{}", text(&v));
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
        // verify: every UID at its href; then one deleted on the destination is named.
        let id = migration_id(&out);
        let v = run(state.path(), &["verify", &id, "--json"]);
        assert!(v.status.success(), "{}", text(&v));
        assert_eq!(
            report(&v)["folders"][0]["found"].as_u64(),
            Some(uids.len() as u64)
        );
        let gone = rt().block_on(async {
            let c = DavClient::new(DavConfig::new(
                url::Url::parse(&format!("{}/", rad.url())).unwrap(),
                "user1",
                "pass1",
            ))
            .unwrap();
            let homes = c.discover().await.unwrap();
            for home in [homes.calendar_home.clone(), homes.addressbook_home.clone()]
                .into_iter()
                .flatten()
            {
                for coll_ in c.list_collections(&home).await.unwrap() {
                    if coll_.displayname.as_deref() == Some(coll) {
                        let first = c.list_items(&coll_).await.unwrap().remove(0);
                        assert!(c.delete(&first.href, None).await.unwrap());
                        return first.href;
                    }
                }
            }
            panic!("no collection {coll}");
        });
        let v = run(state.path(), &["verify", &id]);
        assert_eq!(v.status.code(), Some(2), "{}", text(&v));
        let named = String::from_utf8_lossy(&v.stdout)
            .lines()
            .filter_map(|l| l.trim().strip_prefix("missing: "))
            .map(|m| m.split(" (UID ").next().unwrap().to_owned())
            .collect::<Vec<_>>();
        assert_eq!(named.len(), 1, "{}", text(&v));
        assert_eq!(
            passeur_dav::normalize_href(&named[0]),
            passeur_dav::normalize_href(&gone),
            "{}",
            text(&v)
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

/// `verify` of a PST import: OK right after it (also with the file moved, through --file);
/// then, after one message is deleted on the destination, another one's flags changed, one
/// contact deleted and one event's UID changed, it fails and names exactly those.
#[test]
fn pst_verify_names_what_changed_on_the_destination() {
    let dc = Dovecot::start(DovecotOptions::default()).unwrap();
    let rad = Radicale::start(RadicaleOptions::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let file = corpus("pst/Aspose.Email-for-.NET__Outlook_Chunks_Test_part1.pst");
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

    let v = run(state.path(), &["verify", &id]);
    let vt = text(&v);
    assert!(v.status.success(), "{vt}");
    assert!(vt.contains("verify: OK"), "{vt}");
    // The file moved: --file names where it is now; another file is refused.
    let moved = tempfile::tempdir().unwrap();
    let copy = moved.path().join("moved.pst");
    std::fs::copy(&file, &copy).unwrap();
    let v = run(
        state.path(),
        &["verify", &id, "--file", copy.to_str().unwrap()],
    );
    assert!(v.status.success(), "{}", text(&v));
    let other = corpus("pst/ruby-msg__msgInMsg.pst");
    let v = run(
        state.path(),
        &["verify", &id, "--file", other.to_str().unwrap()],
    );
    assert!(!v.status.success(), "{}", text(&v));
    assert!(text(&v).contains("not the file imported"), "{}", text(&v));

    // One imported message deleted, another one's flags changed.
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
    // An empty folder the import created, deleted.
    let empty_dst = rep["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["kind"] == "mail"
                && f["items"] == 0
                && !["INBOX", "Sent", "Drafts", "Trash", "Junk"]
                    .contains(&f["dst"].as_str().unwrap())
        })
        .and_then(|f| f["dst"].as_str())
        .unwrap_or_else(|| panic!("no empty mail folder: {rep:#}"))
        .to_owned();
    {
        use passeur_testkit::imapwire;
        let mut c = imapwire::Client::login(&dc.imap_addr(), "user1", "pass1").unwrap();
        c.run(&format!("DELETE {}", imapwire::quote(&empty_dst)))
            .unwrap();
        c.logout();
    }
    // One contact deleted, one event replaced by another one (another UID) at its href.
    let dav = DavClient::new(DavConfig::new(
        url::Url::parse(&format!("{}/", rad.url())).unwrap(),
        "user1",
        "pass1",
    ))
    .unwrap();
    let (contact, event) = rt().block_on(async {
        let homes = dav.discover().await.unwrap();
        let mut contact = None;
        let mut event = None;
        for home in [homes.addressbook_home.clone(), homes.calendar_home.clone()]
            .into_iter()
            .flatten()
        {
            for coll in dav.list_collections(&home).await.unwrap() {
                let items = dav.list_items(&coll).await.unwrap();
                let Some(first) = items.first() else { continue };
                if !coll.kind.is_calendar() && contact.is_none() {
                    assert!(dav.delete(&first.href, None).await.unwrap());
                    contact = Some(first.href.clone());
                } else if coll.kind.is_calendar() && event.is_none() {
                    let (body, _) = dav.get(&first.href).await.unwrap().unwrap();
                    let changed: String = body
                        .split("\r\n")
                        .map(|l| {
                            if l.starts_with("UID:") {
                                "UID:changed-on-the-destination".to_owned()
                            } else {
                                l.to_owned()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("\r\n");
                    assert_ne!(changed, body);
                    // Radicale refuses a new UID over an existing resource: replace it.
                    assert!(dav.delete(&first.href, None).await.unwrap());
                    let put = dav
                        .put(
                            &first.href,
                            &changed,
                            "text/calendar",
                            passeur_dav::PutCondition::None,
                        )
                        .await
                        .unwrap();
                    assert!(
                        matches!(put, passeur_dav::PutOutcome::Created { .. }),
                        "{put:?}"
                    );
                    event = Some(first.href.clone());
                }
            }
        }
        (contact.expect("no contact"), event.expect("no event"))
    });

    let t = std::time::Instant::now();
    let v = run(state.path(), &["verify", &id, "--json"]);
    println!("verify after the changes: {:?}", t.elapsed());
    assert_eq!(v.status.code(), Some(2), "{}", text(&v));
    let r = report(&v);
    let all = |field: &str| -> Vec<String> {
        r["folders"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f[field].as_array().unwrap().iter())
            .map(|x| x.as_str().unwrap().to_owned())
            .collect()
    };
    let (missing, altered, flags) = (all("missing"), all("altered"), all("flags_differ"));
    assert!(
        all("dates_differ").is_empty() && all("left_out").is_empty(),
        "{r:#}"
    );
    assert_eq!(missing.len(), 3, "{r:#}");
    assert!(
        missing.contains(&format!("folder {empty_dst}")),
        "{missing:?} ({empty_dst})"
    );
    assert!(
        missing.iter().any(|m| m.contains(&format!("UID {gone},"))),
        "{missing:?} ({gone})"
    );
    assert!(
        missing.iter().any(|m| m.starts_with(contact.as_str())),
        "{missing:?} ({contact})"
    );
    assert_eq!(flags.len(), 1, "{r:#}");
    assert!(
        flags[0].contains(&format!("UID {flagged},")) && flags[0].contains("$Changed"),
        "{flags:?} ({flagged})"
    );
    assert_eq!(altered.len(), 1, "{r:#}");
    assert!(
        altered[0].starts_with(event.as_str()) && altered[0].contains("changed-on-the-destination"),
        "{altered:?} ({event})"
    );
    // The text report names them too.
    let v = run(state.path(), &["verify", &id]);
    let vt = text(&v);
    assert_eq!(v.status.code(), Some(2), "{vt}");
    assert!(vt.contains("verify: DIFFERENCES FOUND"), "{vt}");
    for name in [&contact, &event] {
        assert!(vt.contains(name.as_str()), "{name}: {vt}");
    }
    assert!(vt.contains(&format!("UID {gone},")), "{vt}");
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

#[test]
fn vcf_import_verify_then_purge_leaves_a_card_changed_since() {
    let rad = Radicale::start(RadicaleOptions::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let dav = format!("http://user1@{}:{}/", rad.host, rad.port);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.vcf");
    let card = |i: u32| {
        format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:purge-{i}\r\nFN:Person {i}\r\nN:{i};Person;;;\r\n\
             EMAIL:p{i}@example.org\r\nEND:VCARD\r\n"
        )
    };
    std::fs::write(&file, (0..4).map(card).collect::<String>()).unwrap();
    let args = [
        "import",
        file.to_str().unwrap(),
        "--to-dav",
        &dav,
        "--collection",
        "People",
    ];
    let out = run(state.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    let id = migration_id(&out);
    let v = run(state.path(), &["verify", &id]);
    assert!(v.status.success(), "{}", text(&v));

    // Someone edits one of the imported cards on the destination.
    let c = DavClient::new(DavConfig::new(
        url::Url::parse(&format!("{}/", rad.url())).unwrap(),
        "user1",
        "pass1",
    ))
    .unwrap();
    let edited = rt().block_on(async {
        let homes = c.discover().await.unwrap();
        let home = homes.addressbook_home.unwrap();
        let coll = c
            .list_collections(&home)
            .await
            .unwrap()
            .into_iter()
            .find(|k| k.displayname.as_deref() == Some("People"))
            .unwrap();
        let items = c.list_items(&coll).await.unwrap();
        assert_eq!(items.len(), 4);
        let href = items[0].href.clone();
        let (body, _) = c.get(&href).await.unwrap().unwrap();
        let changed = body.replace("EMAIL:", "NOTE:edited by hand\r\nEMAIL:");
        c.put(
            &href,
            &changed,
            "text/vcard; charset=utf-8",
            passeur_dav::PutCondition::None,
        )
        .await
        .unwrap();
        (coll, href)
    });
    let p = run(state.path(), &["purge", &id]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    assert!(
        text(&p).contains("changed on the destination"),
        "{}",
        text(&p)
    );
    let left = rt().block_on(c.list_items(&edited.0)).unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(
        passeur_dav::normalize_href(&left[0].href),
        passeur_dav::normalize_href(&edited.1)
    );
}

#[test]
fn an_admin_imports_into_a_users_address_book() {
    let rad = Radicale::start(RadicaleOptions {
        admin: true,
        ..Default::default()
    })
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("team.vcf");
    std::fs::write(
        &file,
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:adm-1\r\nFN:Ada\r\nN:;Ada;;;\r\nEND:VCARD\r\n\
         BEGIN:VCARD\r\nVERSION:3.0\r\nUID:adm-2\r\nFN:Bo\r\nN:;Bo;;;\r\nEND:VCARD\r\n",
    )
    .unwrap();
    let dav = format!("http://user1@{}:{}/", rad.host, rad.port);
    let args = [
        "import",
        file.to_str().unwrap(),
        "--to-dav",
        &dav,
        "--to-admin",
        "admin",
        "--collection",
        "Team",
    ];
    let out = passeur(state.path(), &args, "", "adminpass");
    assert!(out.status.success(), "{}", text(&out));
    // In user1's home, seen by user1 with their own password.
    let contents = rt().block_on(dav_contents(&rad));
    assert_eq!(contents.get("Team").copied(), Some(2), "{contents:?}");
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

/// Every PST/OST of the corpus that opens: imported (mail, contacts, events, tasks) into its
/// own account, then `verify` finds every item in place. A file the reader refuses is refused
/// by the import as well, and left out.
#[test]
fn every_corpus_pst_imports_and_verifies() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus("pst"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let n = files.len() as u32;
    let dc = Dovecot::start(DovecotOptions {
        users: n,
        fsync_never: true,
        ..Default::default()
    })
    .unwrap();
    let rad = Radicale::start(RadicaleOptions {
        users: n,
        create_collections: true,
        ..Default::default()
    })
    .unwrap();
    let mut verified = 0;
    for (i, file) in files.iter().enumerate() {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let user = format!("user{}", i + 1);
        let pw = format!("pass{}", i + 1);
        let state = tempfile::tempdir().unwrap();
        let opens = PstFile::open(file).and_then(|p| p.folders()).is_ok();
        let out = passeur(
            state.path(),
            &[
                "import",
                file.to_str().unwrap(),
                "--to",
                &url(&dc, &user),
                "--to-dav",
                &format!("http://{user}@{}:{}/", rad.host, rad.port),
            ],
            "",
            &pw,
        );
        if !opens {
            assert!(!out.status.success(), "{name}: {}", text(&out));
            continue;
        }
        assert!(out.status.success(), "{name}: {}", text(&out));
        let t = std::time::Instant::now();
        let v = passeur(state.path(), &["verify", &migration_id(&out)], "", &pw);
        println!("{name}: verify {:?}", t.elapsed());
        assert!(
            v.status.success(),
            "{name}: {}\nimport: {}",
            text(&v),
            String::from_utf8_lossy(&out.stdout)
        );
        verified += 1;
    }
    assert!(verified >= 35, "{verified}");
}

/// The container class (PR_CONTAINER_CLASS, 0x3613) in a folder's ItemValues.txt written by
/// `pffexport -d`, decoded from its hex dump.
fn pff_container_class(values: &str) -> Option<String> {
    let mut lines = values.lines();
    while let Some(l) = lines.next() {
        if !(l.starts_with("Entry type:") && l.trim_end().ends_with("0x00003613")) {
            continue;
        }
        let wide = lines.next()?.trim_end().ends_with("0x0000001f");
        let mut bytes = Vec::new();
        for l in lines.by_ref() {
            if l.trim().is_empty() {
                break;
            }
            let Some(hex) = l.strip_prefix("0x").and_then(|r| r.split_once(": ")) else {
                continue;
            };
            // Up to 16 bytes in two groups of 8, then the text column.
            for b in hex.1.get(..49).unwrap_or(hex.1).split_whitespace() {
                bytes.push(u8::from_str_radix(b, 16).unwrap());
            }
        }
        return Some(if wide {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        });
    }
    None
}

/// The mail folders of a PST as pffexport shows them: `/`-joined paths under the top of the
/// IPM subtree, with no container class or a mail one (IPF.Note, IPF.Imap, IPF.Post, IPF).
fn pffexport_mail_folders(file: &Path) -> BTreeSet<String> {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("x");
    let st = std::process::Command::new("pffexport")
        .args(["-d", "-q", "-m", "items", "-f", "text", "-t"])
        .arg(&target)
        .arg(file)
        .output()
        .expect("run pffexport");
    assert!(st.status.success(), "pffexport: {st:?}");
    let export = out.path().join("x.export");
    let top = [
        "Root - Mailbox/IPM_SUBTREE",
        "Top of Personal Folders",
        "Top of Outlook data file",
    ]
    .iter()
    .map(|t| export.join(t))
    .find(|p| p.is_dir())
    .expect("no IPM subtree in the export");
    let mut found = BTreeSet::new();
    let mut stack = vec![top.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let Ok(values) = std::fs::read_to_string(p.join("ItemValues.txt")) else {
                continue;
            };
            // Items are directories too (Message00001...): a folder has a display name
            // (0x3001) and a content count (0x3602).
            if !values.contains("0x00003602") {
                continue;
            }
            let class = pff_container_class(&values).unwrap_or_default();
            let c = class.to_ascii_lowercase();
            let is = |k: &str| c == k || c.starts_with(&format!("{k}."));
            if c.is_empty() || is("ipf.note") || is("ipf.imap") || is("ipf.post") || c == "ipf" {
                let rel = p.strip_prefix(&top).unwrap();
                found.insert(
                    rel.components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/"),
                );
            }
            stack.push(p);
        }
    }
    found
}

/// Every mail folder pffexport shows, empty or not, is a folder on the destination, subscribed,
/// special folders on the destination's special-use ones; no other folder is created.
#[test]
fn pst_mail_folders_empty_ones_too_are_created_as_pffexport_shows() {
    let files = [
        "Aspose.Email-for-.NET__Outlook_SampleOstFile.ost",
        "PstReader__hughbe_backup_with_rules.pst",
        "Aspose.Email-for-.NET__Outlook_Outlook.pst",
    ];
    let dc = Dovecot::start(DovecotOptions {
        users: files.len() as u32,
        ..Default::default()
    })
    .unwrap();
    for (i, name) in files.iter().enumerate() {
        let file = corpus(&format!("pst/{name}"));
        let oracle = pffexport_mail_folders(&file);
        let user = format!("user{}", i + 1);
        let pw = format!("pass{}", i + 1);
        let before: BTreeSet<String> = rt().block_on(async {
            let mut c = login(&dc, &user).await;
            c.list()
                .await
                .unwrap()
                .into_iter()
                .map(|l| l.name)
                .collect()
        });
        let state = tempfile::tempdir().unwrap();
        let out = passeur(
            state.path(),
            &[
                "import",
                file.to_str().unwrap(),
                "--to",
                &url(&dc, &user),
                "--json",
            ],
            "",
            &pw,
        );
        assert!(out.status.success(), "{name}: {}", text(&out));
        let rep = report(&out);
        let mail: BTreeMap<String, String> = rep["folders"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "mail")
            .map(|f| {
                (
                    f["folder"].as_str().unwrap().to_owned(),
                    f["dst"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let empty = mail
            .keys()
            .filter(|k| {
                rep["folders"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["folder"] == k.as_str() && f["items"] == 0)
            })
            .count();
        assert!(empty >= 2, "{name}: {empty} empty mail folder(s)");
        assert_eq!(
            mail.keys().cloned().collect::<BTreeSet<_>>(),
            oracle,
            "{name}: the mail folders imported are not the ones pffexport shows"
        );
        let (listed, subscribed): (BTreeSet<String>, BTreeSet<String>) = rt().block_on(async {
            let mut c = login(&dc, &user).await;
            let l = c.list().await.unwrap();
            (
                l.iter().map(|l| l.name.clone()).collect(),
                l.iter()
                    .filter(|l| l.subscribed)
                    .map(|l| l.name.clone())
                    .collect(),
            )
        });
        for (src, dst) in &mail {
            assert!(
                subscribed.contains(dst),
                "{name}: {src} -> {dst} not there/subscribed: {listed:?}"
            );
        }
        // Nothing else was created.
        let created: BTreeSet<String> = listed.difference(&before).cloned().collect();
        let want: BTreeSet<String> = mail
            .values()
            .filter(|d| !before.contains(*d))
            .cloned()
            .collect();
        assert_eq!(created, want, "{name}");
        // Special folders go to the destination's special-use folders.
        for (src, dst) in [
            ("Inbox", "INBOX"),
            ("Sent Items", "Sent"),
            ("Deleted Items", "Trash"),
            ("Drafts", "Drafts"),
        ] {
            if let Some(d) = mail.get(src) {
                assert_eq!(d, dst, "{name}: {src}");
            }
        }
    }
}

/// One calendar file with what other tools accept and servers trip over: an event Radicale
/// refuses as written (`RDATE;VALUE=PERIOD`), a line without `:`, an unbalanced `END:`, an
/// unknown component, a loosely written date, and three iTIP versions of one meeting (with an
/// override) in separate VCALENDARs.
const TRICKY_ICS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:PUBLISH\r\n\
BEGIN:VEVENT\r\nUID:periods\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240105T180000Z\r\nDTEND:20240105T190000Z\r\n\
RDATE;VALUE=PERIOD:20240110T180000Z/20240110T200000Z,20240112T180000Z/PT3H\r\nSUMMARY:Periods\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:broken-line\r\nDTSTAMP:2024-01-01T00:00:00Z\r\nDTSTART:20240106T100000Z\r\nSUMMARY:Broken line\r\n\
this line has no colon\r\nEND:VALARM\r\nEND:VEVENT\r\n\
BEGIN:X-VENDOR-THING\r\nX-FOO:bar\r\nEND:X-VENDOR-THING\r\n\
END:VCALENDAR\r\n\
BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:REQUEST\r\n\
BEGIN:VEVENT\r\nUID:meeting\r\nSEQUENCE:0\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240201T090000Z\r\nDTEND:20240201T100000Z\r\n\
RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Meeting v0\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n\
BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:REQUEST\r\n\
BEGIN:VEVENT\r\nUID:meeting\r\nSEQUENCE:2\r\nDTSTAMP:20240103T000000Z\r\nDTSTART:20240201T093000Z\r\nDTEND:20240201T103000Z\r\n\
RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Meeting v2\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:meeting\r\nSEQUENCE:2\r\nDTSTAMP:20240103T000000Z\r\nRECURRENCE-ID:20240208T093000Z\r\nDTSTART:20240208T140000Z\r\n\
DTEND:20240208T150000Z\r\nSUMMARY:Meeting v2 moved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n\
BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:REQUEST\r\n\
BEGIN:VEVENT\r\nUID:meeting\r\nSEQUENCE:1\r\nDTSTAMP:20240102T000000Z\r\nDTSTART:20240201T091500Z\r\nDTEND:20240201T101500Z\r\n\
RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Meeting v1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

/// The bodies of collection `name` of user1 (Radicale's or Xandikos's), by UID.
async fn bodies(url: &str, name: &str) -> BTreeMap<String, String> {
    let c = DavClient::new(DavConfig::new(
        url::Url::parse(url).unwrap(),
        "user1",
        "pass1",
    ))
    .unwrap();
    let homes = c.discover().await.unwrap();
    let home = homes.calendar_home.clone().unwrap();
    let coll = c
        .list_collections(&home)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.displayname.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no collection {name}"));
    c.fetch_all(&coll)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, b)| (passeur_formats::ics::inspect(&b).uid.unwrap(), b))
        .collect()
}

#[test]
fn tricky_ics_arrives_whole_repaired_where_refused_and_says_so() {
    let rad = Radicale::start(RadicaleOptions::default()).unwrap();
    let xan = Xandikos::start("user1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tricky.ics");
    std::fs::write(&file, TRICKY_ICS).unwrap();
    for (server, url) in [("radicale", rad.url()), ("xandikos", xan.url())] {
        let state = tempfile::tempdir().unwrap();
        let dav = url.replace("http://", "http://user1@") + "/";
        let args = [
            "import",
            file.to_str().unwrap(),
            "--to-dav",
            &dav,
            "--collection",
            "Tricky",
            "--json",
        ];
        let out = run(state.path(), &args);
        assert!(out.status.success(), "{server}: {}", text(&out));
        let rep = report(&out);
        let f = &rep["folders"][0];
        // Three items (the iTIP versions are one), all copied; nothing failed.
        assert_eq!(f["items"].as_u64(), Some(3), "{server}: {rep}");
        assert_eq!(f["copied"].as_u64(), Some(3), "{server}: {rep}");
        assert_eq!(f["failed"].as_u64(), Some(0), "{server}: {rep}");
        let got = rt().block_on(bodies(&format!("{url}/"), "Tricky"));
        assert_eq!(
            got.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["broken-line", "meeting", "periods"],
            "{server}"
        );
        // The latest version of the meeting, with its override, once.
        let m = &got["meeting"];
        assert!(m.contains("SUMMARY:Meeting v2\r\n"), "{server}: {m}");
        assert!(m.contains("Meeting v2 moved"), "{server}: {m}");
        assert!(
            !m.contains("Meeting v0") && !m.contains("Meeting v1"),
            "{m}"
        );
        assert_eq!(m.matches("BEGIN:VEVENT").count(), 2, "{server}: {m}");
        assert!(!got["broken-line"].contains("no colon"));
        // Radicale refuses RDATE periods: the item went in repaired, its periods kept aside.
        let p = &got["periods"];
        let repaired = f["repaired"].as_u64();
        if server == "radicale" {
            assert_eq!(repaired, Some(1), "{rep}");
            assert!(p.contains("X-PASSEUR-RDATE-PERIODS:"), "{p}");
            assert!(!p.contains("VALUE=PERIOD"), "{p}");
        } else {
            assert_eq!(repaired, Some(0), "{server}: {rep}");
        }
        // status names the repair and the skipped lines, with their line numbers.
        let id = migration_id(&out);
        let st = run(state.path(), &["status", &id]);
        let st = String::from_utf8_lossy(&st.stdout).into_owned();
        if server == "radicale" {
            assert!(
                st.contains("repaired    1 items (refused as they were)"),
                "{st}"
            );
            assert!(
                st.contains(
                    "repaired: pass 1 tricky.ics periods: the destination refused it: HTTP 400"
                ),
                "{st}"
            );
            assert!(
                st.contains(
                    "repaired: pass 1 tricky.ics periods: RDATE periods became their start times"
                ),
                "{st}"
            );
        }
        for w in [
            "warning: pass 1 tricky.ics broken-line: skipped line 18: no ':' between name and value",
            "warning: pass 1 tricky.ics broken-line: skipped line 19: END:VALARM without its BEGIN",
            "warning: pass 1 tricky.ics broken-line: read DTSTAMP \"2024-01-01T00:00:00Z\" on line 15 as 20240101T000000Z",
            "warning: pass 1 tricky.ics line:21: skipped the unknown component X-VENDOR-THING (lines 21-23)",
            "warning: pass 1 tricky.ics meeting: kept the version of the event on line 43 (SEQUENCE 2) over the one on line 29 (SEQUENCE 0)",
        ] {
            assert!(st.contains(w), "{server}: {w}\n{st}");
        }
        // A re-run copies nothing, repairs nothing again and adds no note.
        let notes_before = st
            .lines()
            .filter(|l| l.starts_with("warning: ") || l.starts_with("repaired: "))
            .count();
        let out2 = run(state.path(), &args);
        assert!(out2.status.success(), "{}", text(&out2));
        assert_eq!(copied_of(&report(&out2)), 0, "{server}: {}", text(&out2));
        assert_eq!(report(&out2)["folders"][0]["repaired"].as_u64(), Some(0));
        assert_eq!(rt().block_on(bodies(&format!("{url}/"), "Tricky")).len(), 3);
        let st2 = run(state.path(), &["status", &id]);
        let st2 = String::from_utf8_lossy(&st2.stdout).into_owned();
        assert_eq!(
            st2.lines()
                .filter(|l| l.starts_with("warning: ") || l.starts_with("repaired: "))
                .count(),
            notes_before,
            "{st2}"
        );
    }
}

/// Events whose times servers refuse to compare (khal's mixed-awareness case, a local UNTIL
/// under a zoned start, an all-day start with a timed end) and an event with no date at all.
const TIMES_ICS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//passeur//test//EN\r\n\
BEGIN:VEVENT\r\nUID:mixed\r\nDTSTAMP:20150526T182050Z\r\nDTSTART:20150530T120000\r\nDTEND;TZID=Europe/Berlin:20150530T160000Z\r\nSUMMARY:mixed awareness\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:until\r\nDTSTAMP:20240101T000000Z\r\nDTSTART;TZID=Europe/Paris:20240301T090000\r\nDTEND;TZID=Europe/Paris:20240301T100000\r\nRRULE:FREQ=WEEKLY;UNTIL=20240329T090000\r\nSUMMARY:weekly\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:allday\r\nDTSTAMP:20240101T000000Z\r\nDTSTART;VALUE=DATE:20240301\r\nDTEND:20240302T100000\r\nSUMMARY:all day\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:undated\r\nSUMMARY:no date at all\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

#[test]
fn events_with_mixed_or_missing_times_arrive_repaired_and_say_so() {
    let rad = Radicale::start(RadicaleOptions::default()).unwrap();
    let xan = Xandikos::start("user1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("times.ics");
    std::fs::write(&file, TIMES_ICS).unwrap();
    for (server, url) in [("radicale", rad.url()), ("xandikos", xan.url())] {
        let state = tempfile::tempdir().unwrap();
        let dav = url.replace("http://", "http://user1@") + "/";
        let args = [
            "import",
            file.to_str().unwrap(),
            "--to-dav",
            &dav,
            "--collection",
            "Times",
            "--json",
        ];
        let out = run(state.path(), &args);
        assert!(out.status.success(), "{server}: {}", text(&out));
        let rep = report(&out);
        let f = &rep["folders"][0];
        // Every event arrives; none is listed as not migrated.
        assert_eq!(f["copied"].as_u64(), Some(4), "{server}: {rep}");
        assert_eq!(f["failed"].as_u64(), Some(0), "{server}: {rep}");
        let got = rt().block_on(bodies(&format!("{url}/"), "Times"));
        assert_eq!(
            got.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["allday", "mixed", "undated", "until"],
            "{server}"
        );
        for (uid, b) in &got {
            assert!(b.contains("SUMMARY:"), "{server} {uid}: {b}");
        }
        let id = migration_id(&out);
        let st = run(state.path(), &["status", &id]);
        let st = String::from_utf8_lossy(&st.stdout).into_owned();
        let repaired = f["repaired"].as_u64().unwrap_or(0);
        // Whatever the server refused went in repaired, and status says what changed.
        if got["undated"].contains("X-PASSEUR-UNDATED") {
            assert!(
                st.contains(
                    "repaired: pass 1 times.ics undated: VEVENT had no date at all: placed on"
                ),
                "{server}: {st}"
            );
        }
        if server == "radicale" {
            // Radicale refuses the mixed forms and the undated event as they are.
            assert!(repaired >= 3, "{server}: {rep}");
            assert!(
                got["undated"].contains("X-PASSEUR-UNDATED:TRUE"),
                "{}",
                got["undated"]
            );
            assert!(
                got["mixed"].contains("DTSTART:20150530T120000Z"),
                "{}",
                got["mixed"]
            );
            assert!(
                got["allday"].contains("DTEND;VALUE=DATE:20240303"),
                "{}",
                got["allday"]
            );
            assert!(
                st.contains("repaired: pass 1 times.ics mixed: VEVENT's DTSTART 20150530T120000 had no time zone while its other times are in UTC: it is now in UTC too"),
                "{st}"
            );
        }
        // A re-run copies nothing and repairs nothing again.
        let out2 = run(state.path(), &args);
        assert!(out2.status.success(), "{}", text(&out2));
        assert_eq!(copied_of(&report(&out2)), 0, "{server}: {}", text(&out2));
        assert_eq!(report(&out2)["folders"][0]["repaired"].as_u64(), Some(0));
    }
}

/// Two real cards Radicale refused as they are: kcontacts' `vcard4.vcf` (an `FN` line without
/// `:`, which the reader skips with a warning, and a comma in ORG) and ez-vcard's Lotus Notes
/// export (`PROFILE:VCard`). Both arrive, repaired, with what changed in `status`; a re-run
/// copies and repairs nothing.
#[test]
fn refused_vcards_arrive_repaired_and_say_so() {
    let rad = Radicale::start(RadicaleOptions::default()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let dav = format!("http://user1@{}:{}/", rad.host, rad.port);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("refused.vcf");
    let mut all = Vec::new();
    for f in [
        "kcontacts__vcard4.vcf",
        "ez-vcard__John_Doe_LOTUS_NOTES.vcf",
    ] {
        all.extend(std::fs::read(corpus("vcf").join(f)).unwrap());
    }
    std::fs::write(&file, all).unwrap();
    let args = [
        "import",
        file.to_str().unwrap(),
        "--to-dav",
        &dav,
        "--collection",
        "Refused",
        "--json",
    ];
    let out = run(state.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    let rep = report(&out);
    let f = &rep["folders"][0];
    assert_eq!(f["copied"].as_u64(), Some(2), "{rep}");
    assert_eq!(f["failed"].as_u64(), Some(0), "{rep}");
    assert_eq!(f["repaired"].as_u64(), Some(2), "{rep}");
    let id = migration_id(&out);
    let st = run(state.path(), &["status", &id]);
    let st = String::from_utf8_lossy(&st.stdout).into_owned();
    for note in [
        "warning: pass 1 refused.vcf pas-id-3E136F9B00000000: skipped line 3: no ':' between name and value",
        "ORG \"Ximian, Inc.\" had bare commas: escaped, as part of the name",
        "PROFILE:VCard (a directory header the server cannot read) is kept in X-PASSEUR-PROFILE",
    ] {
        assert!(st.contains(note), "{note}: {st}");
    }
    let out2 = run(state.path(), &args);
    assert!(out2.status.success(), "{}", text(&out2));
    assert_eq!(copied_of(&report(&out2)), 0, "{}", text(&out2));
    assert_eq!(report(&out2)["folders"][0]["repaired"].as_u64(), Some(0));
}

/// Puts the contacts, events and tasks of import `id` back in the state a run killed between
/// their writes and their record leaves them: pending, with no destination href known yet.
/// Returns how many rows it rewound.
fn rewind_to_pending(state: &Path, id: &str) -> usize {
    rt().block_on(async {
        let store = passeur_store::Store::open(&state.join("passeur.db"))
            .await
            .unwrap();
        let id: passeur_types::MigrationId = id.parse().unwrap();
        let rows: Vec<passeur_store::Item> = store
            .items_from_pass(id, 0)
            .await
            .unwrap()
            .into_iter()
            .filter(|i| i.kind != passeur_types::ContentKind::Mail)
            .map(|i| passeur_store::Item {
                dst_key: None,
                etag: None,
                size: 0,
                pending: true,
                ..i
            })
            .collect();
        store.record_copied(id, &rows).await.unwrap();
        rows.len()
    })
}

/// The contacts, events and tasks of import `id` in the item map: (confirmed with a
/// destination href, pending).
fn dav_rows(state: &Path, id: &str) -> (usize, usize) {
    rt().block_on(async {
        let store = passeur_store::Store::open(&state.join("passeur.db"))
            .await
            .unwrap();
        let rows = store.items_from_pass(id.parse().unwrap(), 0).await.unwrap();
        let dav = rows
            .iter()
            .filter(|i| i.kind != passeur_types::ContentKind::Mail);
        let done = dav
            .clone()
            .filter(|i| !i.pending && i.dst_key.is_some())
            .count();
        (done, dav.filter(|i| i.pending).count())
    })
}

/// A run stopped after its contacts and events reached Radicale but before their record was
/// confirmed (the rows left pending) is resumed with nothing written twice and every row
/// confirmed, the same way for an .ics file and for a PST's contacts and calendars: both go
/// through the DAV sink's one ledger (pending, write, confirm).
#[test]
fn dav_writes_not_yet_recorded_resume_once_for_ics_and_pst() {
    let dc = Dovecot::start(DovecotOptions::default()).unwrap();
    let rad = Radicale::start(RadicaleOptions::default()).unwrap();
    let dav = format!("http://user1@{}:{}/", rad.host, rad.port);
    let ics = corpus("ics/Aspose.Email-for-.NET__Email_US-Holidays.ics");
    let pst = corpus("pst/Aspose.Email-for-.NET__Outlook_Chunks_Test_part1.pst");
    let to = url(&dc, "user1");
    let ics_args = [
        "import",
        ics.to_str().unwrap(),
        "--to-dav",
        &dav,
        "--collection",
        "Holidays",
        "--json",
    ];
    let pst_args = [
        "import",
        pst.to_str().unwrap(),
        "--to",
        &to,
        "--to-dav",
        &dav,
        "--json",
    ];
    for (what, args) in [("ics", &ics_args[..]), ("pst", &pst_args[..])] {
        let state = tempfile::tempdir().unwrap();
        let out = run(state.path(), args);
        assert!(out.status.success(), "{what}: {}", text(&out));
        let id = migration_id(&out);
        let on_dav = rt().block_on(dav_contents(&rad));
        let (n, _) = dav_rows(state.path(), &id);
        assert!(n > 5, "{what}: {n} contacts/events recorded");
        assert_eq!(rewind_to_pending(state.path(), &id), n, "{what}");

        let out = run(state.path(), args);
        assert!(out.status.success(), "{what}: {}", text(&out));
        // Nothing new on Radicale: each item found at its href, not written again elsewhere.
        assert_eq!(rt().block_on(dav_contents(&rad)), on_dav, "{what}");
        // Each found item counts as imported by this run (the mail was imported before), and
        // is confirmed in the map.
        let rep = report(&out);
        assert_eq!(copied_of(&rep) as usize, n, "{what}: {rep:#}");
        assert_eq!(dav_rows(state.path(), &id), (n, 0), "{what}");
        // And the run after copies nothing.
        let out = run(state.path(), args);
        assert!(out.status.success(), "{what}: {}", text(&out));
        assert_eq!(copied_of(&report(&out)), 0, "{what}");
        assert_eq!(rt().block_on(dav_contents(&rad)), on_dav, "{what}");
    }
}

/// Resources (not dot files) in every collection of Radicale's user1.
fn radicale_files(rad: &Radicale) -> usize {
    let home = rad.dir.join("collections/collection-root/user1");
    std::fs::read_dir(home)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|c| c.path().is_dir())
        .flat_map(|c| std::fs::read_dir(c.path()).into_iter().flatten().flatten())
        .filter(|f| !f.file_name().to_string_lossy().starts_with('.'))
        .count()
}

/// An .ics of several chunks (450 events, the UID `dup` given twice, 240 events apart) is
/// imported through a proxy that counts what the destination sends: the import does not read
/// back what it wrote (it did before: the destination's collection was read whole before each
/// chunk of 100, about three times the file here); each UID arrives once and is recorded once
/// (a second import copies nothing). The same import stopped with SIGKILL half-way, then run
/// again, leaves each UID once too.
#[test]
fn a_large_ics_import_reads_nothing_back_and_resumes_once() {
    let rad = Radicale::start(RadicaleOptions {
        users: 1,
        create_collections: false,
        admin: false,
    })
    .unwrap();
    let proxy = passeur_testkit::CutProxy::start(&format!("{}:{}", rad.host, rad.port)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ics = dir.path().join("big.ics");
    let mut cal = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n");
    for i in 0..450 {
        let uid = if i == 10 || i == 250 {
            "dup".to_string()
        } else {
            format!("ev-{i}")
        };
        cal.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240{}01T100000Z\r\nSUMMARY:Event {i}\r\nDESCRIPTION:{}\r\nEND:VEVENT\r\n",
            1 + i % 9,
            "Something to discuss. ".repeat(50)
        ));
    }
    cal.push_str("END:VCALENDAR\r\n");
    std::fs::write(&ics, &cal).unwrap();
    let state = tempfile::tempdir().unwrap();
    let via_proxy = format!("http://user1@127.0.0.1:{}/", proxy.port());
    let args = |coll: &'static str, url: &str| -> Vec<String> {
        [
            "import",
            ics.to_str().unwrap(),
            "--to-dav",
            url,
            "--collection",
            coll,
            "--json",
        ]
        .map(str::to_string)
        .to_vec()
    };
    let a = args("Big", &via_proxy);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let out = run(state.path(), &a);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(copied_of(&report(&out)), 449, "{}", text(&out));
    let down = proxy.bytes_down();
    assert!(
        down < cal.len() as u64 / 2,
        "the destination sent {down} bytes for a file of {}: the import read back what it wrote",
        cal.len()
    );
    assert_eq!(radicale_files(&rad), 449);
    let again = run(state.path(), &a);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(copied_of(&report(&again)), 0, "{}", text(&again));

    // Stopped half-way (SIGKILL), then run again: each UID once.
    let direct = format!("http://user1@{}:{}/", rad.host, rad.port);
    let b = args("Big2", &direct);
    let mut killed: Vec<&str> = vec!["--state", state.path().to_str().unwrap()];
    killed.extend(b.iter().map(String::as_str));
    kill_when(&killed, "", "pass1", || radicale_files(&rad) >= 449 + 150);
    let half = radicale_files(&rad) - 449;
    assert!(
        half < 449,
        "the import ended before it was stopped ({half})"
    );
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    let out = run(state.path(), &b);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(radicale_files(&rad), 2 * 449, "{}", text(&out));
    let again = run(state.path(), &b);
    assert_eq!(copied_of(&report(&again)), 0, "{}", text(&again));
}
