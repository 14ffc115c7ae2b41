//! Item notes ("changed on the way") as kinds the pages can say in their language.
//!
//! The engine records a note as an English sentence (`crates/formats`, `crates/dav`). Each
//! sentence it writes has a pattern in the pages' messages (`js.notek.KIND`, whose English
//! is the pattern itself, `{name}` standing for what varies): a note that matches one gets
//! that kind and the values of its `{names}`, which the French message places where French
//! puts them. A note that matches none is of kind `other` and shown in its own words.

use std::collections::BTreeMap;

use crate::web::i18n::MESSAGES;

/// The kind of a note that matches no pattern: the page shows its English words.
pub const OTHER: &str = "other";

const PREFIX: &str = "js.notek.";

/// The kind of `note` and the values it carries (`{"prop": "DTSTART", ...}`).
pub fn classify(note: &str) -> (String, BTreeMap<String, String>) {
    for (key, en, _) in MESSAGES {
        if let Some(kind) = key.strip_prefix(PREFIX)
            && let Some(params) = matches(en, note)
        {
            return (kind.to_owned(), params);
        }
    }
    (OTHER.to_owned(), BTreeMap::new())
}

/// The pieces of `pattern`: literal text and `{name}`s, in order.
fn pieces(pattern: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(i) = rest.find('{') {
        let Some(j) = rest[i..].find('}') else { break };
        if i > 0 {
            out.push((false, &rest[..i]));
        }
        out.push((true, &rest[i + 1..i + j]));
        rest = &rest[i + j + 1..];
    }
    if !rest.is_empty() {
        out.push((false, rest));
    }
    out
}

/// The values of `pattern`'s `{names}` in `text`, when `text` is that pattern: each name takes
/// the shortest text up to the literal after it (the last one, the rest); a name met twice
/// must hold the same text both times.
fn matches(pattern: &str, text: &str) -> Option<BTreeMap<String, String>> {
    let ps = pieces(pattern);
    let mut params = BTreeMap::new();
    let mut rest = text;
    let mut i = 0;
    while i < ps.len() {
        let (is_name, s) = ps[i];
        if !is_name {
            rest = rest.strip_prefix(s)?;
            i += 1;
            continue;
        }
        let value = match ps.get(i + 1) {
            // The pattern's last literal ends the text.
            Some((false, lit)) if i + 2 == ps.len() => {
                let v = rest.strip_suffix(lit)?;
                rest = lit;
                v
            }
            Some((false, lit)) => {
                let at = rest.find(lit)?;
                let v = &rest[..at];
                rest = &rest[at..];
                v
            }
            // Two names side by side are not used in a pattern.
            Some((true, _)) => return None,
            None => std::mem::take(&mut rest),
        };
        if value.is_empty() {
            return None;
        }
        if let Some(seen) = params.get(s)
            && seen != value
        {
            return None;
        }
        params.insert(s.to_owned(), value.to_owned());
        i += 1;
    }
    rest.is_empty().then_some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(note: &str) -> String {
        classify(note).0
    }

    #[test]
    fn the_engines_notes_get_their_kind_and_values() {
        let (k, p) = classify("the input ended before END:VCALENDAR");
        assert_eq!(k, "input_ended");
        assert_eq!(p["comp"], "VCALENDAR");
        let (k, p) =
            classify("the input ended before END:VCARD (BEGIN on line 12); closed it there");
        assert_eq!(
            (k.as_str(), p["comp"].as_str(), p["at"].as_str()),
            ("input_ended_at", "VCARD", "12")
        );
        let (k, p) = classify(
            "VEVENT had DTSTART more than once: kept the first, the other is in X-PASSEUR-DTSTART",
        );
        assert_eq!(k, "duplicate");
        assert_eq!(
            (p["comp"].as_str(), p["prop"].as_str()),
            ("VEVENT", "DTSTART")
        );
        // A name met twice must agree.
        assert_eq!(
            kind(
                "VEVENT had DTSTART more than once: kept the first, the other is in X-PASSEUR-DTEND"
            ),
            OTHER
        );
        assert_eq!(
            kind("skipped line 4: END:VEVENT without its BEGIN"),
            "skipped_end"
        );
        assert_eq!(kind("skipped line 4: something odd"), "skipped");
        assert_eq!(
            kind("the destination refused it: HTTP 412 Precondition Failed; it took it repaired"),
            "refused_repaired"
        );
        let (k, p) = classify(
            "VEVENT's DTEND 20260105 was not in the form of its DTSTART (DATE-TIME): it is now 20260105T000000",
        );
        assert_eq!(k, "date_form");
        assert_eq!(p["form"], "DATE-TIME");
        assert_eq!(p["new"], "20260105T000000");
        assert_eq!(kind("a sentence the engine may write one day"), OTHER);
        assert_eq!(kind(""), OTHER);
    }

    #[test]
    fn every_pattern_is_said_in_french_with_the_same_values() {
        let mut n = 0;
        for (key, en, fr) in MESSAGES {
            if !key.starts_with(PREFIX) {
                continue;
            }
            n += 1;
            let names = |s: &str| {
                let mut v: Vec<String> = pieces(s)
                    .into_iter()
                    .filter(|p| p.0)
                    .map(|p| p.1.to_owned())
                    .collect();
                v.sort();
                v.dedup();
                v
            };
            assert_eq!(names(en), names(fr), "{key}");
            assert!(!pieces(en).windows(2).any(|w| w[0].0 && w[1].0), "{key}");
            // Its own English, with values in, is of its kind.
            let sample: String = pieces(en)
                .into_iter()
                .map(|(name, s)| if name { "X1".to_owned() } else { s.to_owned() })
                .collect();
            assert_eq!(kind(&sample), &key[PREFIX.len()..], "{sample}");
        }
        assert!(n > 30, "{n} note kinds");
    }

    /// The repairs' notes come from `passeur-formats` as English sentences; each must match a
    /// pattern here, or a French page would show it in English. Every repair is triggered once.
    #[test]
    fn every_repair_note_has_a_kind() {
        use passeur_formats::repair::{repair_ics, repair_vcf};
        let cal = |body: &str| {
            format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n{body}END:VCALENDAR\r\n")
        };
        let ics = [
            "BEGIN:VEVENT\r\nUID:a\r\nSUMMARY:undated\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nUID:b\r\nDUE:20260101T100000Z\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nUID:c\r\nDTSTART:20260101T100000Z\r\nDTEND:20260101T110000Z\r\nDURATION:PT1H\r\nRDATE;VALUE=PERIOD:20260102T100000Z/PT1H\r\nATTACH;VALUE=BINARY;ENCODING=BASE64:AAAA\r\nRRULE:FREQ=DAILY; COUNT=2\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:PT-2H\r\nEND:VALARM\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:soon\r\nEND:VALARM\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nUID:d\r\nDTSTART;TZID=Europe/Paris:20260101T100000Z\r\nDTEND:20260101T110000\r\nRRULE:FREQ=FORTNIGHTLY\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nUID:e\r\nDTSTART;VALUE=DATE:20260101\r\nDTEND:20260102T000000\r\nDTSTART;VALUE=DATE:20260103\r\n;;junk\r\nEND:VEVENT\r\n",
            "BEGIN:VEVENT\r\nUID:f\r\nRECURRENCE-ID:20260101T100000Z\r\nDTSTART:20260101T100000Z\r\nEND:VEVENT\r\n",
        ];
        let vcf = [
            "BEGIN:VCARD\r\nFN\r\nN:a;b;;;\r\nN:c;d;;;\r\nORG:A, B\r\nPROFILE:VCARD\r\nEND:VCARD\r\n",
        ];
        let mut notes: Vec<String> = Vec::new();
        for t in ics {
            notes.extend(repair_ics(&cal(t)).expect(t).changes);
        }
        for t in vcf {
            notes.extend(repair_vcf(t).expect(t).changes);
        }
        assert!(notes.len() >= 15, "{notes:#?}");
        for n in &notes {
            assert_ne!(kind(n), OTHER, "no pattern for the repair note {n:?}");
        }
    }
}
