//! Contacts, distribution lists, appointments, tasks and mail structure: every
//! vCard and iCalendar object parses cleanly (calcard), and fields agree with
//! readpst's .vcf/.ics output or with what the corpus files are known to hold.

mod common;

use std::collections::HashMap;
use std::process::Command;

use calcard::{Entry, Parser};
use common::{corpus_files, mime_of, pst_path, walk};
use mail_parser::{MessageParser, MimeHeaders};
use passeur_pst::ItemContent;

fn parses_cleanly(text: &str) -> Result<(), String> {
    let mut p = Parser::new(text);
    let mut objects = 0;
    loop {
        match p.entry() {
            Entry::VCard(_) | Entry::ICalendar(_) => objects += 1,
            Entry::Eof => break,
            other => return Err(format!("{other:?}")),
        }
    }
    if objects == 1 {
        Ok(())
    } else {
        Err(format!("{objects} objects"))
    }
}

fn lines_are_folded(text: &str) -> bool {
    text.split("\r\n").all(|l| l.len() <= 75) && !text.replace("\r\n", "").contains('\n')
}

#[test]
fn every_vcard_and_icalendar_in_the_corpus_parses() {
    let mut n = 0;
    for path in corpus_files() {
        let w = walk(&path, true).expect("walk");
        for (_, item) in &w.items {
            let text = match &item.content {
                ItemContent::Contact { vcard, .. } | ItemContent::DistList { vcard, .. } => vcard,
                ItemContent::Event { ics, .. }
                | ItemContent::Task { ics, .. }
                | ItemContent::Journal { ics, .. } => ics,
                _ => continue,
            };
            n += 1;
            if let Err(e) = parses_cleanly(text) {
                panic!("{} item {:#x}: {e}\n{text}", path.display(), item.node_id);
            }
            assert!(
                lines_are_folded(text),
                "{}: unfolded lines\n{text}",
                path.display()
            );
            assert!(text.contains("\r\nUID:"), "UID present");
        }
    }
    assert_eq!(n, 106, "vCard/iCalendar objects in the corpus");
}

fn unfold(s: &str) -> String {
    s.replace("\r\n ", "").replace("\n ", "")
}

/// (N, sorted TEL values) of each card.
fn card_keys(text: &str) -> Vec<(String, Vec<String>)> {
    let text = unfold(text);
    let mut out = Vec::new();
    for card in text.split("BEGIN:VCARD").skip(1) {
        let mut n = String::new();
        let mut tels = Vec::new();
        for l in card.lines() {
            if let Some(v) = l.strip_prefix("N:") {
                n = v.trim().to_string();
            } else if l.starts_with("TEL")
                && let Some((_, v)) = l.split_once(':')
            {
                tels.push(v.trim().to_string());
            }
        }
        tels.sort();
        out.push((n, tels));
    }
    out
}

#[test]
fn contacts_agree_with_readpst() {
    for name in [
        "Aspose.Email-for-.NET__Outlook_Chunks_Test_part1.pst",
        "Aspose.Email-for-.NET__Outlook_PersonalStorageFile.pst",
        "Aspose.Email-for-.NET__Outlook_PersonalStorageFile2.pst",
        "PstReader__aspose-email_Aspose_Email-for-Java_SampleContacts.pst",
        "PstReader__hughbe_backup_with_rules.pst",
    ] {
        let out = tempfile::tempdir().expect("tempdir");
        let ok = Command::new("readpst")
            .args(["-e", "-D", "-8", "-q", "-o"])
            .arg(out.path())
            .arg(pst_path(name))
            .status()
            .expect("readpst")
            .success();
        assert!(ok);
        let mut theirs = Vec::new();
        let mut stack = vec![out.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "vcf") {
                    theirs.extend(card_keys(&std::fs::read_to_string(&p).expect("vcf")));
                }
            }
        }
        let w = walk(&pst_path(name), true).expect("walk");
        let mut ours: HashMap<String, Vec<Vec<String>>> = HashMap::new();
        for (_, item) in &w.items {
            if let ItemContent::Contact { vcard, .. } = &item.content {
                for (n, tels) in card_keys(vcard) {
                    ours.entry(n).or_default().push(tels);
                }
            }
        }
        assert!(!theirs.is_empty(), "{name}: readpst wrote contacts");
        for (n, tels) in &theirs {
            let cands = ours
                .get(n)
                .unwrap_or_else(|| panic!("{name}: contact N:{n} missing"));
            assert!(
                cands.iter().any(|t| tels.iter().all(|x| t.contains(x))),
                "{name}: N:{n} phones {tels:?} vs {cands:?}"
            );
        }
    }
}

fn items_of(name: &str) -> Vec<ItemContent> {
    walk(&pst_path(name), true)
        .expect("walk")
        .items
        .into_iter()
        .map(|(_, i)| i.content)
        .collect()
}

#[test]
fn recurring_appointment_with_exceptions_and_deleted_occurrences() {
    let items = items_of("java-libpst__dist-list.pst");
    let ics = items
        .iter()
        .find_map(|c| match c {
            ItemContent::Event { ics, .. } => Some(unfold(ics)),
            _ => None,
        })
        .expect("an event");
    // Weekly on Tuesday, 08:00 Pacific; 9 Aug deleted; 23 and 30 Aug moved.
    assert!(
        ics.contains("BEGIN:VTIMEZONE\r\nTZID:Pacific Standard Time\r\n"),
        "{ics}"
    );
    assert!(
        ics.contains("RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=TU"),
        "{ics}"
    );
    assert!(
        ics.contains("DTSTART;TZID=Pacific Standard Time:20160802T080000"),
        "{ics}"
    );
    assert!(
        ics.contains("EXDATE;TZID=Pacific Standard Time:20160809T080000"),
        "{ics}"
    );
    assert!(ics.contains("RECURRENCE-ID;TZID=Pacific Standard Time:20160823T080000"));
    assert!(ics.contains("DTSTART;TZID=Pacific Standard Time:20160823T090000"));
    assert!(ics.contains("RECURRENCE-ID;TZID=Pacific Standard Time:20160830T080000"));
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 3);
    // Each moved occurrence is a whole instance: it keeps what the master has and it does
    // not change (here the description and the transparency), once each.
    for key in ["DESCRIPTION:This is a complete test", "TRANSP:OPAQUE"] {
        let n = ics.lines().filter(|l| l.starts_with(key)).count();
        assert_eq!(n, 3, "{key} in master and both overrides: {ics}");
    }
    assert!(ics.contains("TRIGGER;RELATED=START:-PT15M"), "reminder");
    assert!(ics.contains("TZOFFSETTO:-0700") && ics.contains("TZOFFSETTO:-0800"));
}

#[test]
fn distribution_list_contact_task_and_journal() {
    let items = items_of("PstReader__hughbe_hughbe_Outlook.pst");
    let mut member_uid = None;
    let mut contact_uid = None;
    for c in &items {
        match c {
            ItemContent::DistList { vcard, .. } => {
                assert!(vcard.contains("X-ADDRESSBOOKSERVER-KIND:group"));
                member_uid = vcard
                    .lines()
                    .find_map(|l| l.strip_prefix("X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:"))
                    .map(str::to_string);
            }
            ItemContent::Contact { vcard, uid } => {
                assert!(
                    vcard.contains("EMAIL;TYPE=INTERNET,PREF:email@gmail.com"),
                    "{vcard}"
                );
                assert!(vcard.contains("N:Member;Distribution;List;;"), "{vcard}");
                contact_uid = Some(uid.clone());
            }
            ItemContent::Task { ics, .. } => {
                assert!(ics.contains("BEGIN:VTODO"));
                assert!(ics.contains("STATUS:COMPLETED"));
                assert!(ics.contains("PERCENT-COMPLETE:100"));
            }
            ItemContent::Journal { ics, .. } => {
                assert!(ics.contains("BEGIN:VJOURNAL"));
                assert!(ics.contains("SUMMARY:Journal Entry"));
            }
            _ => {}
        }
    }
    assert!(member_uid.is_some(), "the list names its member");
    assert_eq!(member_uid, contact_uid, "the member is the contact, by UID");
}

#[test]
fn java_libpst_distribution_list_has_members() {
    let items = items_of("java-libpst__dist-list.pst");
    let vcard = items
        .iter()
        .find_map(|c| match c {
            ItemContent::DistList { vcard, .. } => Some(vcard.clone()),
            _ => None,
        })
        .expect("a distribution list");
    assert!(
        vcard.matches("X-ADDRESSBOOKSERVER-MEMBER:").count() >= 1,
        "{vcard}"
    );
}

#[test]
fn inline_images_attachments_and_embedded_messages() {
    let w = walk(&pst_path("ruby-msg__attachAndInline.pst"), true).expect("walk");
    let mime = mime_of(&w.items[0].1).expect("mail");
    let text = String::from_utf8_lossy(mime);
    assert!(
        text.contains("multipart/related"),
        "inline image in a related part"
    );
    assert!(text.contains("Content-ID: <image001.png@01D78380.EF6DC500>"));
    let m = MessageParser::default().parse(mime).expect("parses");
    assert_eq!(m.subject(), Some("Attach and inline"));
    assert!(m.html_body_count() >= 1);
    let names: Vec<&str> = m
        .attachments()
        .filter_map(|a| a.attachment_name())
        .collect();
    assert!(
        names.contains(&"attach.png") && names.contains(&"image001.png"),
        "{names:?}"
    );

    let w = walk(&pst_path("ruby-msg__msgInMsg.pst"), true).expect("walk");
    let mime = mime_of(&w.items[0].1).expect("mail");
    let m = MessageParser::default().parse(mime).expect("parses");
    let inner = m
        .attachments()
        .find_map(|a| a.message())
        .expect("an embedded message/rfc822");
    assert!(inner.subject().is_some_and(|s| !s.is_empty()));

    let w = walk(&pst_path("ruby-msg__200_recipients.pst"), true).expect("walk");
    let mime = mime_of(&w.items[0].1).expect("mail");
    let m = MessageParser::default().parse(mime).expect("parses");
    let count = |a: Option<&mail_parser::Address>| a.map_or(0, |a| a.iter().count());
    let total = count(m.to()) + count(m.cc()) + count(m.bcc());
    assert!(total >= 200, "{total} recipients");
}

#[test]
fn mail_flags_dates_and_crlf() {
    // Drafts are \Draft; read mail is \Seen; everything has an INTERNALDATE.
    let w = walk(&pst_path("PstReader__hughbe_hughbe_Outlook.pst"), true).expect("walk");
    let (_, draft) = w
        .items
        .iter()
        .find(|(p, _)| p == &["Drafts".to_string()])
        .expect("a draft");
    let ItemContent::Mail {
        flags,
        internal_date,
        mime,
    } = &draft.content
    else {
        panic!("mail")
    };
    assert!(flags.contains(&"\\Draft".to_string()), "{flags:?}");
    assert!(flags.contains(&"\\Seen".to_string()), "{flags:?}");
    assert_eq!(internal_date.as_deref(), Some("04-Feb-2021 10:02:21 +0000"));
    assert!(
        !mime.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
        "CRLF only"
    );

    let w = walk(
        &pst_path("PstReader__aranetic_process-pst_flags_jane_doe.pst"),
        true,
    )
    .expect("walk");
    let all_flags: Vec<String> = w
        .items
        .iter()
        .flat_map(|(_, i)| match &i.content {
            ItemContent::Mail { flags, .. } => flags.clone(),
            _ => Vec::new(),
        })
        .collect();
    for f in ["\\Seen", "\\Flagged", "\\Answered"] {
        assert!(all_flags.iter().any(|x| x == f), "{f} in {all_flags:?}");
    }
}

#[test]
fn html_from_rtf_only_messages() {
    // Messages whose only body is compressed RTF get text or HTML recovered from it.
    let mut seen_rtf_only = 0;
    for name in [
        "PstReader__simiden_pst2john_97_outlook_pass12345.pst",
        "Aspose.Email-for-.NET__Outlook_SampleOstFile.ost",
    ] {
        let w = walk(&pst_path(name), true).expect("walk");
        for (_, item) in &w.items {
            let Some(mime) = mime_of(item) else { continue };
            let m = MessageParser::default().parse(mime).expect("parses");
            assert!(
                m.text_body_count() + m.html_body_count() >= 1,
                "{name} {:#x}: a readable body",
                item.node_id
            );
            if String::from_utf8_lossy(mime).contains("Content-Type: text/rtf") {
                seen_rtf_only += 1;
                let text = m.body_text(0).unwrap_or_default();
                assert!(!text.contains("\\rtf1"), "RTF rendered as text, not raw");
            }
        }
    }
    assert!(seen_rtf_only >= 1, "the OST holds rich-text-only messages");
}

#[test]
fn html_is_recovered_from_rtf_when_that_is_all_there_is() {
    // This Outlook 2003 file stores its HTML mail only as RTF-encapsulated HTML
    // (pffexport writes Message.rtf and no Message.html for them).
    let w = walk(
        &pst_path("PstReader__simiden_pst2john_2003_compressable-encryption_quickbrownfox.pst"),
        true,
    )
    .expect("walk");
    let mut html = 0;
    for (_, item) in &w.items {
        let raw = mime_of(item).expect("mail");
        let m = MessageParser::default().parse(raw).expect("parses");
        let has_part = String::from_utf8_lossy(raw).contains("Content-Type: text/html");
        if let Some(h) = m.body_html(0).filter(|_| has_part) {
            assert!(
                !h.contains("\\htmlrtf") && !h.contains("\\*\\htmltag"),
                "{h}"
            );
            if h.to_ascii_lowercase().contains("<html") {
                html += 1;
            }
        }
    }
    assert!(html >= 50, "{html} HTML bodies recovered");
}
