//! Field comparison against readpst (pst-utils): for a sample of corpus files,
//! run `readpst -e -D -8`, parse both its .eml files and our MIME with mail-parser,
//! and compare subjects, senders, dates and attachment names and sizes.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::{mime_of, pst_path, walk};
use mail_parser::{MessageParser, MimeHeaders};

#[derive(Debug, Clone, PartialEq)]
struct Rec {
    subject: String,
    from: Option<String>,
    date: Option<i64>,
    /// (name, size) of non-message attachments, sorted.
    atts: Vec<(String, usize)>,
}

fn rec(bytes: &[u8]) -> Option<Rec> {
    let m = MessageParser::default().parse(bytes)?;
    let from = m
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .filter(|a| a.contains('@'))
        .map(str::to_ascii_lowercase);
    // Unnamed attachments get made-up names (readpst: ATTnnnnn, ours: attachment-N).
    let unnamed = |n: &str| {
        (n.starts_with("ATT") && n[3..].bytes().all(|b| b.is_ascii_digit()))
            || n.starts_with("attachment-")
    };
    let mut atts: Vec<(String, usize)> = m
        .attachments()
        .filter(|p| !p.is_message())
        .filter_map(|p| {
            let n = p.attachment_name()?;
            let n = if unnamed(n) { "*" } else { n };
            Some((n.to_string(), p.contents().len()))
        })
        .collect();
    atts.sort();
    Some(Rec {
        subject: m.subject().unwrap_or("").trim().to_string(),
        from,
        date: m.date().map(|d| d.to_timestamp()),
        atts,
    })
}

fn readpst_records(file: &Path) -> Vec<Rec> {
    let out = tempfile::tempdir().expect("tempdir");
    let status = Command::new("readpst")
        .args(["-e", "-D", "-8", "-q", "-o"])
        .arg(out.path())
        .arg(file)
        .status()
        .expect("readpst is installed (pst-utils)");
    assert!(status.success(), "readpst failed on {}", file.display());
    let mut recs = Vec::new();
    let mut stack = vec![out.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("readdir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "eml") {
                let bytes = std::fs::read(&p).expect("read eml");
                if let Some(mut r) = rec(&bytes) {
                    // readpst's own additions: the RTF body and a generated .ics for meetings.
                    r.atts.retain(|(n, _)| {
                        n != "rtf-body.rtf"
                            && !(n.starts_with('i')
                                && n.ends_with(".ics")
                                && n[1..n.len() - 4].bytes().all(|b| b.is_ascii_digit()))
                    });
                    // readpst writes empty MAILER-DAEMON stubs for non-mail items.
                    if r.subject.is_empty() && r.date.is_none() {
                        continue;
                    }
                    recs.push(r);
                }
            }
        }
    }
    recs
}

/// Every attachment readpst wrote is among ours (we may extract more, e.g. unnamed OLE objects).
fn contains_all(ours: &[(String, usize)], theirs: &[(String, usize)]) -> bool {
    let mut left = ours.to_vec();
    theirs
        .iter()
        .all(|t| match left.iter().position(|o| o == t) {
            Some(i) => {
                left.swap_remove(i);
                true
            }
            None => false,
        })
}

/// Compares one file; returns (readpst messages, matched by subject, field mismatches).
fn compare(name: &str) -> (usize, usize, Vec<String>) {
    let path = pst_path(name);
    let theirs = readpst_records(&path);
    let w = walk(&path, true).expect("walk");
    let mut ours: HashMap<String, Vec<Rec>> = HashMap::new();
    for (_, item) in &w.items {
        if let Some(m) = mime_of(item) {
            let r = rec(m).expect("our MIME parses");
            ours.entry(r.subject.clone()).or_default().push(r);
        }
    }
    let mut matched = 0;
    let mut problems = Vec::new();
    for t in &theirs {
        let Some(cands) = ours.get(&t.subject) else {
            problems.push(format!("{name}: subject {:?} not found", t.subject));
            continue;
        };
        matched += 1;
        // Among same-subject messages, one must agree on every field readpst has.
        let agree = |o: &Rec| {
            (t.date.is_none() || o.date.is_none_or(|d| (d - t.date.unwrap_or(d)).abs() <= 1))
                && (t.from.is_none() || o.from == t.from)
                && contains_all(&o.atts, &t.atts)
        };
        if !cands.iter().any(agree) {
            problems.push(format!(
                "{name}: {:?}: readpst {t:?} vs ours {cands:?}",
                t.subject
            ));
        }
    }
    (theirs.len(), matched, problems)
}

#[test]
fn subjects_senders_dates_and_attachments_match_readpst() {
    let files = [
        "tika__testPST.pst",
        "PstReader__simiden_pst2john_97_outlook_pass12345.pst",
        "PstReader__simiden_pst2john_2003_compressable-encryption_quickbrownfox.pst",
        "PstReader__simiden_pst2john_2003_high-encryption_quickquick.pst",
        "PstReader__DFRWS_2009_Rodeo_DFRWS2009-Outlook-Email.pst",
        "Aspose.Email-for-.NET__Outlook_Outlook.pst",
        "Aspose.Email-for-.NET__Outlook_SampleOstFile.ost",
        "ruby-msg__attachAndInline.pst",
        "ruby-msg__msgInMsg.pst",
        "pst-exp__sample1.pst",
        "PstReader__aranetic_process-pst_flags_jane_doe.pst",
    ];
    let mut all = Vec::new();
    let (mut total, mut matched) = (0, 0);
    for f in files {
        let (n, m, p) = compare(f);
        eprintln!("{f}: readpst {n}, matched {m}, problems {}", p.len());
        total += n;
        matched += m;
        all.extend(p);
    }
    assert!(total > 400, "the sample covers {total} messages");
    assert!(
        all.is_empty(),
        "{} of {total} differ:\n{}",
        all.len(),
        all.join("\n")
    );
    assert_eq!(matched, total);
}
