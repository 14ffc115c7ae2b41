//! Every corpus PST/OST opens, walks and converts without panic, and yields at
//! least as many items of each kind as pffexport (the oracle, pst_oracle.json).
//! Exact achieved counts are pinned too, so a regression fails.

mod common;

use std::collections::BTreeMap;

use common::{corpus_dir, corpus_files, pst_path, walk};
use passeur_pst::{Encryption, FolderKind, ItemContent, PstError, PstFile, SpecialRole};

/// (file, folders, [mail, contact, distlist, event, task, journal, other]) as achieved.
const ACHIEVED: &[(&str, usize, [usize; 7])] = &[
    (
        "Aspose.Email-for-.NET__CSharp_Outlook_Data_Chunks-Split_Outlook_part0.pst",
        14,
        [2, 0, 0, 0, 0, 0, 0],
    ),
    (
        "Aspose.Email-for-.NET__Outlook_AddingBulkMessagesWithImprovedPerformance.pst",
        3,
        [0, 0, 0, 0, 0, 0, 0],
    ),
    (
        "Aspose.Email-for-.NET__Outlook_Chunks_Test_part1.pst",
        16,
        [31, 21, 0, 9, 0, 0, 0],
    ),
    (
        "Aspose.Email-for-.NET__Outlook_MergePST_SampleContacts.pst",
        3,
        [0, 6, 0, 0, 0, 0, 0],
    ),
    (
        "Aspose.Email-for-.NET__Outlook_Outlook.pst",
        19,
        [14, 1, 0, 1, 0, 0, 1],
    ),
    (
        "Aspose.Email-for-.NET__Outlook_PersonalStorageFile.pst",
        4,
        [0, 18, 0, 0, 0, 0, 0],
    ),
    (
        "Aspose.Email-for-.NET__Outlook_PersonalStorageFile2.pst",
        4,
        [0, 24, 0, 0, 0, 0, 0],
    ),
    (
        "Aspose.Email-for-.NET__Outlook_PersonalStorage_New.pst",
        3,
        [0, 0, 0, 0, 0, 0, 0],
    ),
    (
        "Aspose.Email-for-.NET__Outlook_SampleOstFile.ost",
        35,
        [87, 0, 0, 5, 0, 0, 0],
    ),
    (
        "Aspose.Email-for-.NET__Outlook_passwordprotectedPST.pst",
        4,
        [18, 0, 0, 0, 0, 0, 0],
    ),
    (
        "Aspose.Email-for-.NET__Outlook_pathToPst_Personal_folders_part0.pst",
        3,
        [0, 0, 0, 0, 0, 0, 0],
    ),
    (
        "Aspose.Email-for-.NET__Outlook_source.pst",
        17,
        [14, 1, 0, 1, 0, 0, 1],
    ),
    (
        "PstReader__DFRWS_2009_Rodeo_DFRWS2009-Outlook-Email.pst",
        14,
        [13, 0, 0, 0, 0, 0, 0],
    ),
    (
        "PstReader__aranetic_process-pst_flags_jane_doe.pst",
        6,
        [8, 0, 0, 0, 0, 0, 0],
    ),
    (
        "PstReader__aranetic_process-pst_four_nesting_levels.pst",
        6,
        [1, 0, 0, 0, 0, 0, 0],
    ),
    (
        "PstReader__aranetic_process-pst_unsent_email.pst",
        20,
        [1, 2, 0, 0, 0, 0, 1],
    ),
    (
        "PstReader__aspose-email_Aspose_Email-for-Java_SampleContacts.pst",
        3,
        [0, 6, 0, 0, 0, 0, 0],
    ),
    (
        "PstReader__aspose-email_Aspose_Email-for-Java_aspose_sample.pst",
        6,
        [1, 0, 0, 0, 0, 0, 0],
    ),
    (
        "PstReader__hughbe_Outlook2007Backup.pst",
        2,
        [0, 0, 0, 0, 0, 0, 0],
    ),
    (
        "PstReader__hughbe_Personal_Folders.pst",
        3,
        [0, 0, 0, 0, 0, 0, 0],
    ),
    ("PstReader__hughbe_archive1.pst", 13, [0, 0, 0, 0, 0, 0, 0]),
    (
        "PstReader__hughbe_backup_with_rules.pst",
        36,
        [9, 2, 0, 0, 0, 0, 0],
    ),
    (
        "PstReader__hughbe_hughbe_Outlook.pst",
        16,
        [1, 1, 1, 1, 1, 1, 1],
    ),
    (
        "PstReader__simiden_pst2john_2003_compressable-encryption_quickbrownfox.pst",
        2,
        [68, 0, 0, 0, 0, 0, 0],
    ),
    (
        "PstReader__simiden_pst2john_2003_high-encryption_quickquick.pst",
        2,
        [36, 0, 0, 0, 0, 0, 0],
    ),
    (
        "PstReader__simiden_pst2john_2003_no-encryption_quickquick.pst",
        2,
        [20, 0, 0, 0, 0, 0, 0],
    ),
    (
        "PstReader__simiden_pst2john_2003_outlook-high-encryption_cheechNchong.pst",
        3,
        [39, 0, 0, 0, 0, 0, 0],
    ),
    (
        "PstReader__simiden_pst2john_97_outlook_pass12345.pst",
        12,
        [294, 0, 0, 0, 0, 0, 0],
    ),
    (
        "PstReader__simiden_pst2john_Outlook_enc.pst",
        14,
        [1, 0, 0, 0, 0, 0, 0],
    ),
    (
        "PstReader__simiden_pst2john_password.pst",
        20,
        [0, 0, 0, 0, 0, 0, 1],
    ),
    ("go-pst__32-bit.pst", 3, [0, 0, 0, 1, 0, 0, 0]),
    ("java-libpst__dist-list.pst", 16, [0, 1, 1, 1, 0, 0, 1]),
    ("outlook-pst-rs__Empty.pst", 3, [0, 0, 0, 0, 0, 0, 0]),
    ("pst-exp__sample1.pst", 3, [1, 0, 0, 0, 0, 0, 0]),
    ("pst-exp__submessage.pst", 3, [1, 0, 0, 0, 0, 0, 0]),
    ("pst-exp__test_ansi.pst", 3, [1, 0, 0, 0, 0, 0, 0]),
    ("pst-exp__test_unicode.pst", 4, [2, 0, 0, 0, 0, 0, 0]),
    ("ruby-msg__200_recipients.pst", 3, [1, 0, 0, 0, 0, 0, 0]),
    ("ruby-msg__attachAndInline.pst", 3, [1, 0, 0, 0, 0, 0, 0]),
    ("ruby-msg__msgInMsg.pst", 3, [1, 0, 0, 0, 0, 0, 0]),
    ("tika__testPST.pst", 4, [7, 0, 0, 0, 0, 0, 0]),
];

const KINDS: [&str; 7] = [
    "mail", "contact", "distlist", "event", "task", "journal", "other",
];

fn oracle() -> serde_json::Value {
    let text = std::fs::read_to_string(corpus_dir().join("pst_oracle.json")).expect("oracle");
    serde_json::from_str(&text).expect("oracle json")
}

#[test]
fn every_corpus_file_converts_and_meets_pffexport_counts() {
    let oracle = oracle();
    let files = corpus_files();
    assert_eq!(files.len(), 41, "corpus has 41 PST/OST files");
    let mut report = Vec::new();
    let mut meets = 0;
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let w = walk(path, false).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(w.errors.is_empty(), "{name}: item errors {:?}", w.errors);
        let got: Vec<usize> = KINDS
            .iter()
            .map(|k| w.kinds.get(k).copied().unwrap_or(0))
            .collect();
        let (_, folders, expected) = ACHIEVED
            .iter()
            .find(|(n, ..)| *n == name)
            .unwrap_or_else(|| panic!("{name}: not in ACHIEVED"));
        assert_eq!(got, expected.to_vec(), "{name}: achieved counts changed");
        assert_eq!(w.folders, *folders, "{name}: folder count changed");

        // The oracle: pffexport's item directories by type.
        let pff: BTreeMap<String, usize> = oracle[name]["pff_items"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0) as usize))
                    .collect()
            })
            .unwrap_or_default();
        let p = |k: &str| pff.get(k).copied().unwrap_or(0);
        let want = [
            ("mail", p("Message") + p("Meeting") + p("Note"), got[0]),
            ("contact", p("Contact"), got[1]),
            ("distlist", p("DistributionList"), got[2]),
            ("event", p("Appointment"), got[3]),
            ("task", p("Task"), got[4]),
            ("journal", p("Activity"), got[5]),
        ];
        let mut ok = true;
        for (kind, oracle_n, ours) in want {
            if ours < oracle_n {
                ok = false;
                report.push(format!("{name}: {kind} {ours} < pffexport {oracle_n}"));
            }
        }
        if ok {
            meets += 1;
        }
    }
    eprintln!(
        "{meets}/{} files meet or exceed pffexport counts",
        files.len()
    );
    assert!(
        report.is_empty(),
        "below the oracle:\n{}",
        report.join("\n")
    );
}

#[test]
fn file_kinds_and_flags_are_reported() {
    let ansi = PstFile::open(&pst_path("go-pst__32-bit.pst")).expect("open");
    assert!(!ansi.info().unicode);
    let ansi = PstFile::open(&pst_path("pst-exp__test_ansi.pst")).expect("open");
    assert!(!ansi.info().unicode);
    assert!(ansi.info().password_protected);
    let high = PstFile::open(&pst_path(
        "PstReader__simiden_pst2john_2003_high-encryption_quickquick.pst",
    ))
    .expect("open");
    assert_eq!(high.info().encryption, Encryption::High);
    assert!(high.info().unicode);
    let none = PstFile::open(&pst_path(
        "PstReader__simiden_pst2john_2003_no-encryption_quickquick.pst",
    ))
    .expect("open");
    assert_eq!(none.info().encryption, Encryption::None);
    let pw = PstFile::open(&pst_path(
        "Aspose.Email-for-.NET__Outlook_passwordprotectedPST.pst",
    ))
    .expect("open");
    assert!(pw.info().password_protected);
    assert_eq!(pw.info().encryption, Encryption::Compressible);
    let plain = PstFile::open(&pst_path("tika__testPST.pst")).expect("open");
    assert!(!plain.info().password_protected);
    let ost = PstFile::open(&pst_path(
        "Aspose.Email-for-.NET__Outlook_SampleOstFile.ost",
    ))
    .expect("open");
    assert!(ost.info().ost);
}

#[test]
fn folder_tree_and_special_roles() {
    let pst = PstFile::open(&pst_path(
        "Aspose.Email-for-.NET__Outlook_SampleOstFile.ost",
    ))
    .expect("open");
    let folders = pst.folders().expect("folders");
    let find = |p: &[&str]| {
        folders
            .iter()
            .find(|f| f.path.iter().map(String::as_str).eq(p.iter().copied()))
            .unwrap_or_else(|| panic!("folder {p:?} missing"))
    };
    assert_eq!(find(&["Inbox"]).role, Some(SpecialRole::Inbox));
    assert_eq!(find(&["Inbox", "sub1"]).item_count, 25);
    assert_eq!(find(&["Inbox", "sub2"]).item_count, 29);
    assert_eq!(find(&["Sent Items"]).role, Some(SpecialRole::Sent));
    assert_eq!(find(&["Deleted Items"]).role, Some(SpecialRole::Trash));
    assert_eq!(find(&["Drafts"]).role, Some(SpecialRole::Drafts));
    assert_eq!(find(&["Junk E-Mail"]).role, Some(SpecialRole::Junk));
    assert_eq!(
        find(&["Calendar"]).container_class.as_deref(),
        Some("IPF.Appointment")
    );
    assert_eq!(find(&["Calendar"]).kind(), FolderKind::Calendar);
    assert_eq!(find(&["Contacts"]).kind(), FolderKind::Contacts);
    assert_eq!(find(&["Tasks"]).kind(), FolderKind::Tasks);
    assert_eq!(find(&["Inbox", "sub1"]).kind(), FolderKind::Mail);
    assert_eq!(find(&["Quick Step Settings"]).kind(), FolderKind::Other);

    // "four nesting levels": a message inside a message inside a message.
    let nested = walk(
        &pst_path("PstReader__aranetic_process-pst_four_nesting_levels.pst"),
        true,
    )
    .expect("walk");
    let mime = common::mime_of(&nested.items[0].1).expect("mail");
    let levels = mime.windows(14).filter(|w| w == b"message/rfc822").count();
    assert_eq!(levels, 2, "two embedded levels, as readpst writes them");
}

#[test]
fn refuses_what_it_cannot_read_with_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_pst = dir.path().join("x.pst");
    std::fs::write(
        &not_pst,
        b"From: someone\r\n\r\nthis is not a PST file at all",
    )
    .expect("write");
    assert!(matches!(PstFile::open(&not_pst), Err(PstError::NotPst)));

    // An Outlook 2013+ OST header (version 36).
    let mut head = std::fs::read(pst_path("Aspose.Email-for-.NET__Outlook_SampleOstFile.ost"))
        .expect("read")[..4096]
        .to_vec();
    head[10] = 36;
    head[11] = 0;
    let ost = dir.path().join("new.ost");
    std::fs::write(&ost, &head).expect("write");
    let err = PstFile::open(&ost).err().expect("refused");
    assert!(matches!(err, PstError::UnsupportedOst2013), "{err}");
    assert!(err.to_string().contains("Outlook 2013"));

    let tiny = dir.path().join("tiny.pst");
    std::fs::write(&tiny, b"!BDN\0\0").expect("write");
    assert!(matches!(
        PstFile::open(&tiny),
        Err(PstError::Truncated { .. })
    ));
}

#[test]
fn items_are_stable_and_addressable_by_node_id() {
    let path = pst_path("tika__testPST.pst");
    let a = walk(&path, true).expect("walk");
    let b = walk(&path, true).expect("walk");
    let ids_a: Vec<u32> = a.items.iter().map(|(_, i)| i.node_id).collect();
    let ids_b: Vec<u32> = b.items.iter().map(|(_, i)| i.node_id).collect();
    assert_eq!(ids_a, ids_b);
    let pst = PstFile::open(&path).expect("open");
    let (_, first) = &a.items[0];
    let again = pst.item(first.folder_node_id, first.node_id).expect("item");
    assert_eq!(&again, first, "same node id, same conversion");
    if let ItemContent::Mail { internal_date, .. } = &again.content {
        assert!(internal_date.is_some());
    } else {
        panic!("tika items are mail");
    }
}

#[test]
fn pst_file_can_move_to_a_blocking_thread() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PstFile>();
    let path = pst_path("tika__testPST.pst");
    let n = std::thread::spawn(move || {
        let pst = PstFile::open(&path).expect("open");
        let folders = pst.folders().expect("folders");
        folders.iter().map(|f| pst.items(f).count()).sum::<usize>()
    })
    .join()
    .expect("thread");
    assert_eq!(n, 7);
}
