//! A second form of a calendar object that a destination refused, keeping its meaning.
//!
//! Servers refuse valid objects they cannot handle (Radicale answers 400 to `RDATE;VALUE=PERIOD`,
//! to a component without DTSTART in some recurrence cases, to a broken VTIMEZONE, to inline
//! binary attachments). [`repair_ics`] rewrites what such servers trip over and says, change by
//! change, what it did; nothing is dropped without a note, and what had to move out of the
//! way is kept in an `X-PASSEUR-…` property of the same component so that no data is lost.
//! The DAV copier calls it once, after a refusal, and records the notes with the item.

use crate::line::{Param, Prop, Unfolder, fold_into, lossy};
use crate::tz;

/// The repaired object and what changed, one note per change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// The repaired object, ready to send again.
    pub text: String,
    /// What changed, one note per change.
    pub changes: Vec<String>,
}

#[derive(Debug, Clone)]
struct Line {
    prop: Prop,
    text: String,
}

impl Line {
    fn new(prop: Prop) -> Line {
        let text = prop.to_unfolded();
        Line { prop, text }
    }
}

#[derive(Debug, Clone, Default)]
struct Node {
    name: String,
    props: Vec<Line>,
    children: Vec<Node>,
}

impl Node {
    fn write(&self, out: &mut String) {
        fold_into(out, &format!("BEGIN:{}", self.name));
        for l in &self.props {
            fold_into(out, &l.text);
        }
        for c in &self.children {
            c.write(out);
        }
        fold_into(out, &format!("END:{}", self.name));
    }

    fn get(&self, name: &str) -> Option<&Line> {
        self.props.iter().find(|l| l.prop.name == name)
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// The object as a tree. A line that cannot be read as a property is not dropped: in a vCard
/// (`empty_values`), a bare property name (`FN` without `:`) becomes that property with an
/// empty value (vCard TEXT may be empty; FN must be there); anything else is kept aside in
/// `X-PASSEUR-UNPARSED`. Each with a note in `changes`.
fn parse(text: &str, empty_values: bool, changes: &mut Vec<String>) -> Option<Node> {
    let mut u = Unfolder::new(text.as_bytes(), false);
    let mut stack: Vec<Node> = Vec::new();
    let mut root = None;
    while let Ok(Some(l)) = u.next_logical() {
        let p = match Prop::parse(&l) {
            Ok(p) => p,
            Err(_) => {
                let raw = lossy(&l.bytes);
                let raw = raw.trim();
                let node = stack.last_mut()?;
                if raw.is_empty() {
                    continue;
                }
                if empty_values && is_name(raw) {
                    changes.push(format!(
                        "line {}: {raw} had no ':' and no value: written as {raw} with an empty value",
                        l.line
                    ));
                    node.props.push(Line::new(Prop {
                        group: None,
                        name: raw.to_ascii_uppercase(),
                        params: Vec::new(),
                        value: Vec::new(),
                        line: l.line,
                    }));
                } else {
                    changes.push(format!(
                        "line {} could not be read as a property: kept in X-PASSEUR-UNPARSED",
                        l.line
                    ));
                    node.props.push(x_prop("UNPARSED", raw, l.line));
                }
                continue;
            }
        };
        match p.name.as_str() {
            "BEGIN" => stack.push(Node {
                name: p.value_str().trim().to_ascii_uppercase(),
                ..Node::default()
            }),
            "END" => {
                let n = stack.pop()?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(n),
                    None => root = Some(n),
                }
            }
            _ => {
                let text = lossy(&l.bytes);
                stack.last_mut()?.props.push(Line { prop: p, text });
            }
        }
    }
    root
}

/// `PT-2H` → `-PT2H`: a duration whose sign was written after the `P` (or after the `T`);
/// `None` when the value is not such a duration.
fn sign_in_front(v: &str) -> Option<String> {
    let v = v.trim();
    let (lead, body) = match v.as_bytes().first()? {
        b'+' | b'-' => (&v[..1], &v[1..]),
        _ => ("", v),
    };
    let rest = body.strip_prefix('P')?;
    if !rest.contains(['-', '+']) {
        return None;
    }
    let negative = rest.contains('-') != (lead == "-");
    let clean: String = rest.chars().filter(|c| !matches!(c, '-' | '+')).collect();
    let shape = !clean.is_empty()
        && clean
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, 'W' | 'D' | 'T' | 'H' | 'M' | 'S'));
    shape.then(|| format!("{}P{clean}", if negative { "-" } else { "" }))
}

/// A property name alone on its line (letters, digits and dashes, optionally `group.`).
fn is_name(raw: &str) -> bool {
    raw.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && raw.starts_with(|c: char| c.is_ascii_alphabetic())
}

/// A `VALUE=DATE` property.
fn date_prop(name: &str, day: &str, line: usize) -> Prop {
    Prop {
        group: None,
        name: name.to_string(),
        params: vec![Param {
            name: "VALUE".into(),
            values: vec!["DATE".into()],
            bare: false,
        }],
        value: day.as_bytes().to_vec(),
        line,
    }
}

fn x_prop(name: &str, value: &str, line: usize) -> Line {
    // Kept as TEXT: escaped so that a server reads it back unchanged.
    let v = value
        .replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace(';', "\\;");
    Line::new(Prop {
        group: None,
        name: format!("X-PASSEUR-{name}"),
        params: Vec::new(),
        value: v.into_bytes(),
        line,
    })
}

const MAIN: &[&str] = &["VEVENT", "VTODO", "VJOURNAL"];

/// Properties a component may hold once (RFC 5545 §3.6.1, §3.6.2).
const SINGLE: &[&str] = &[
    "UID",
    "DTSTAMP",
    "DTSTART",
    "DTEND",
    "DUE",
    "DURATION",
    "SUMMARY",
    "DESCRIPTION",
    "LOCATION",
    "CLASS",
    "STATUS",
    "SEQUENCE",
    "PRIORITY",
    "TRANSP",
    "URL",
    "ORGANIZER",
    "GEO",
    "CREATED",
    "LAST-MODIFIED",
    "RECURRENCE-ID",
    "COMPLETED",
    "PERCENT-COMPLETE",
];

/// Rewrites what servers refuse in a calendar object (see the module docs); `None` when
/// nothing was found to change (the refusal has another cause) or the text is not one
/// VCALENDAR.
pub fn repair_ics(text: &str) -> Option<Repaired> {
    let mut changes = Vec::new();
    let mut cal = parse(text, false, &mut changes).filter(|r| r.name == "VCALENDAR")?;
    fix_timezones(&mut cal, &mut changes);
    let has_master = cal
        .children
        .iter()
        .any(|c| MAIN.contains(&c.name.as_str()) && !c.has("RECURRENCE-ID"));
    let mut promoted = has_master;
    for c in cal
        .children
        .iter_mut()
        .filter(|c| MAIN.contains(&c.name.as_str()))
    {
        if !promoted && let Some(i) = c.props.iter().position(|l| l.prop.name == "RECURRENCE-ID") {
            let l = c.props.remove(i);
            changes.push(format!(
                "the object had only overrides: the one for {} became the main {} (RECURRENCE-ID kept in X-PASSEUR-RECURRENCE-ID)",
                l.prop.value_str().trim(),
                c.name
            ));
            c.props.push(x_prop("RECURRENCE-ID", &l.text, l.prop.line));
            promoted = true;
        }
        fix_component(c, &mut changes);
    }
    if changes.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 256);
    cal.write(&mut out);
    Some(Repaired { text: out, changes })
}

/// Properties a vCard may hold once (RFC 6350 §6, cardinality 1 or *1), which servers such as
/// Radicale refuse to see twice.
const VCARD_SINGLE: &[&str] = &[
    "N",
    "BDAY",
    "ANNIVERSARY",
    "GENDER",
    "KIND",
    "PRODID",
    "REV",
    "UID",
];

/// Rewrites what servers refuse in a vCard:
/// - a property it may hold once given twice keeps the first, the others in `X-PASSEUR-…`;
/// - `PROFILE:VCARD` (RFC 2426's MIME-directory header, which vobject, Radicale's parser,
///   takes for a second component start) is kept in `X-PASSEUR-PROFILE`;
/// - bare commas in ORG (one organisation name, which vobject splits into a list it cannot
///   write back) are escaped;
/// - a line without `:` becomes a property with an empty value when it is a bare name (`FN`),
///   and is kept in `X-PASSEUR-UNPARSED` otherwise.
///
/// `None` when nothing was found to change or the text is not one VCARD.
pub fn repair_vcf(text: &str) -> Option<Repaired> {
    let mut changes = Vec::new();
    let mut card = parse(text, true, &mut changes).filter(|r| r.name == "VCARD")?;
    keep_first(&mut card, VCARD_SINGLE, &mut changes);
    fix_vcard_props(&mut card, &mut changes);
    if changes.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 64);
    card.write(&mut out);
    Some(Repaired { text: out, changes })
}

/// PROFILE set aside and bare commas in ORG escaped (see [`repair_vcf`]).
fn fix_vcard_props(card: &mut Node, changes: &mut Vec<String>) {
    for l in &mut card.props {
        match l.prop.name.as_str() {
            "PROFILE" => {
                changes.push(format!(
                    "PROFILE:{} (a directory header the server cannot read) is kept in X-PASSEUR-PROFILE",
                    l.prop.value_str().trim()
                ));
                *l = x_prop("PROFILE", l.prop.value_str().trim(), l.prop.line);
            }
            "ORG" => {
                // Semicolons separate the organisation's units; a comma is part of a name.
                let v = l.prop.value_str();
                let mut out = String::with_capacity(v.len() + 2);
                let mut it = v.chars();
                while let Some(c) = it.next() {
                    match c {
                        '\\' => {
                            out.push(c);
                            out.extend(it.next());
                        }
                        ',' => out.push_str("\\,"),
                        _ => out.push(c),
                    }
                }
                if out != v {
                    changes.push(format!(
                        "ORG {:?} had bare commas: escaped, as part of the name",
                        v.trim()
                    ));
                    l.prop.value = out.into_bytes();
                    *l = Line::new(l.prop.clone());
                }
            }
            _ => {}
        }
    }
}

/// Repeated single properties: the first stays, the others are kept aside.
fn keep_first(c: &mut Node, single: &[&str], changes: &mut Vec<String>) {
    let kind = c.name.clone();
    let mut seen: Vec<String> = Vec::new();
    let mut moved = Vec::new();
    c.props.retain(|l| {
        let n = &l.prop.name;
        if single.contains(&n.as_str()) {
            if seen.contains(n) {
                moved.push(l.clone());
                return false;
            }
            seen.push(n.clone());
        }
        true
    });
    for l in moved {
        changes.push(format!(
            "{kind} had {} more than once: kept the first, the other is in X-PASSEUR-{}",
            l.prop.name, l.prop.name
        ));
        c.props.push(x_prop(&l.prop.name, &l.text, l.prop.line));
    }
}

fn fix_component(c: &mut Node, changes: &mut Vec<String>) {
    let kind = c.name.clone();
    keep_first(c, SINGLE, changes);
    if c.has("DTEND")
        && let Some(i) = c.props.iter().position(|l| l.prop.name == "DURATION")
    {
        let l = c.props.remove(i);
        changes.push(format!(
            "{kind} had both DTEND and DURATION: kept DTEND, DURATION {} is in X-PASSEUR-DURATION",
            l.prop.value_str().trim()
        ));
        c.props.push(x_prop("DURATION", &l.text, l.prop.line));
    }
    // A missing start, taken from the nearest date the component has.
    if !c.has("DTSTART") && kind != "VJOURNAL" {
        let from = [
            "DUE",
            "DTEND",
            "RECURRENCE-ID",
            "DTSTAMP",
            "CREATED",
            "LAST-MODIFIED",
        ]
        .iter()
        .find_map(|n| c.get(n))
        .cloned();
        if from.is_none() && kind == "VEVENT" {
            // An event with no date at all cannot be placed in a calendar: it goes on the
            // day it is imported, and says so.
            let today = chrono::Utc::now().format("%Y%m%d").to_string();
            changes.push(format!(
                "{kind} had no date at all: placed on {today}, the day it was imported (marked X-PASSEUR-UNDATED)"
            ));
            c.props.insert(
                0,
                Line::new(date_prop(
                    "DTSTART",
                    &today,
                    c.props.first().map_or(0, |l| l.prop.line),
                )),
            );
            c.props.push(x_prop("UNDATED", "TRUE", 0));
        }
        if let Some(src) = from {
            let mut p = src.prop.clone();
            let source = p.name.clone();
            p.name = "DTSTART".into();
            let v = p.value_str().trim().to_string();
            changes.push(format!(
                "{kind} had no DTSTART: added DTSTART {v} taken from {source}"
            ));
            c.props.insert(0, Line::new(p));
        }
    }
    // RDATE periods: their starts stay, the periods are kept aside.
    let mut extra = Vec::new();
    for l in &mut c.props {
        if l.prop.name != "RDATE" {
            continue;
        }
        let v = l.prop.value_str();
        let period = l
            .prop
            .param("VALUE")
            .is_some_and(|x| x.eq_ignore_ascii_case("PERIOD"))
            || v.contains('/');
        if period {
            let starts: Vec<&str> = v
                .split(',')
                .map(|p| p.split('/').next().unwrap_or("").trim())
                .collect();
            let date_only = starts.iter().all(|s| s.len() == 8);
            changes.push(format!(
                "RDATE periods became their start times (the ends or durations are in X-PASSEUR-RDATE-PERIODS: {})",
                v.trim()
            ));
            extra.push(x_prop("RDATE-PERIODS", v.trim(), l.prop.line));
            l.prop.params.retain(|q| q.name != "VALUE");
            if date_only {
                l.prop.params.push(Param {
                    name: "VALUE".into(),
                    values: vec!["DATE".into()],
                    bare: false,
                });
            }
            l.prop.value = starts.join(",").into_bytes();
            l.text = l.prop.to_unfolded();
        } else if l.prop.param("VALUE").is_none() && v.split(',').all(|d| d.trim().len() == 8) {
            l.prop.params.push(Param {
                name: "VALUE".into(),
                values: vec!["DATE".into()],
                bare: false,
            });
            l.text = l.prop.to_unfolded();
            changes.push("RDATE holds dates: marked it VALUE=DATE".to_string());
        }
    }
    c.props.extend(extra);
    // Inline binary data (ATTACH, IMAGE), which some servers cannot store, is kept as text.
    let mut kept = Vec::new();
    c.props.retain(|l| {
        let binary = !l.prop.name.starts_with("X-")
            && (l
                .prop
                .param("VALUE")
                .is_some_and(|x| x.eq_ignore_ascii_case("BINARY"))
                || l.prop.param("ENCODING").is_some());
        if binary {
            kept.push(l.clone());
        }
        !binary
    });
    for l in kept {
        let n = &l.prop.name;
        changes.push(format!(
            "the inline {n} ({} bytes of base64) is in X-PASSEUR-{n}",
            l.prop.value.len()
        ));
        c.props.push(x_prop(n, &l.text, l.prop.line));
    }
    // Recurrence rules: spaces inside are read away; a rule in another calendar scale or with
    // an unknown frequency, which the server cannot expand, is kept aside.
    let mut aside = Vec::new();
    c.props.retain_mut(|l| {
        if l.prop.name != "RRULE" {
            return true;
        }
        let v = l.prop.value_str();
        if v.chars().any(char::is_whitespace) {
            let t: String = v.chars().filter(|c| !c.is_whitespace()).collect();
            changes.push(format!("removed the spaces in the RRULE: {t}"));
            l.prop.value = t.into_bytes();
            l.text = l.prop.to_unfolded();
        }
        let v = l.prop.value_str().to_ascii_uppercase();
        let freq_ok = v.split(';').any(|p| {
            p.strip_prefix("FREQ=").is_some_and(|f| {
                matches!(
                    f,
                    "SECONDLY" | "MINUTELY" | "HOURLY" | "DAILY" | "WEEKLY" | "MONTHLY" | "YEARLY"
                )
            })
        });
        if v.contains("RSCALE=") || !freq_ok {
            changes.push(format!(
                "the RRULE {} cannot be expanded by the destination: it is in X-PASSEUR-RRULE and only the first occurrence shows",
                l.prop.value_str()
            ));
            aside.push(x_prop("RRULE", &l.text, l.prop.line));
            return false;
        }
        true
    });
    c.props.extend(aside);
    // A duration with its sign inside (`PT-2H`, written by some exporters) is read as no
    // duration at all; the sign goes in front (`-PT2H`), as RFC 5545 §3.3.6 writes it.
    let kind_here = kind.clone();
    let signs = |n: &mut Node, changes: &mut Vec<String>| {
        for l in &mut n.props {
            if !matches!(l.prop.name.as_str(), "TRIGGER" | "DURATION") {
                continue;
            }
            if let Some(v) = sign_in_front(&l.prop.value_str()) {
                changes.push(format!(
                    "{} {}'s {} {} had its sign inside: written {v}",
                    kind_here,
                    n.name,
                    l.prop.name,
                    l.prop.value_str().trim()
                ));
                l.prop.value = v.into_bytes();
                l.text = l.prop.to_unfolded();
            }
        }
    };
    for a in c.children.iter_mut().filter(|a| a.name == "VALARM") {
        signs(a, changes);
    }
    // An alarm whose trigger is neither a duration nor a date-time cannot ring.
    let mut dropped = Vec::new();
    c.children.retain(|a| {
        if a.name != "VALARM" {
            return true;
        }
        let ok = a.get("TRIGGER").is_some_and(|t| {
            let v = t.prop.value_str();
            let v = v.trim();
            let v = v.trim_start_matches(['+', '-']);
            v.starts_with('P') || crate::ics::valid_date(v)
        });
        if !ok {
            dropped.push(a.clone());
        }
        ok
    });
    for a in dropped {
        let t = a
            .get("TRIGGER")
            .map(|t| t.prop.value_str())
            .unwrap_or_default();
        changes.push(format!(
            "left out a VALARM whose TRIGGER {:?} is neither a duration nor a date-time (kept in X-PASSEUR-VALARM)",
            t.trim()
        ));
        let mut s = String::new();
        a.write(&mut s);
        c.props.push(x_prop("VALARM", s.trim_end(), 0));
    }
    fix_times(c, changes);
}

/// How a date or date-time value is anchored in time.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Anchor {
    /// A date without a time (`VALUE=DATE`).
    Date,
    /// A local time with no zone ("floating").
    Floating,
    /// UTC (`…Z`).
    Utc,
    /// A local time in a named zone (`TZID=`).
    Zoned(String),
}

fn anchor_of(prop: &Prop, value: &str) -> Option<Anchor> {
    let v = value.trim();
    if v.len() == 8 && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Anchor::Date);
    }
    if v.len() < 15 || v.as_bytes().get(8) != Some(&b'T') {
        return None;
    }
    if v.ends_with(['Z', 'z']) {
        return Some(Anchor::Utc);
    }
    match prop.param("TZID") {
        Some(z) if !z.trim().is_empty() => Some(Anchor::Zoned(z.trim().to_string())),
        _ => Some(Anchor::Floating),
    }
}

/// The zone a TZID names, for converting a local time to UTC.
fn chrono_zone(tzid: &str) -> Option<chrono_tz::Tz> {
    let name = iana_for(tzid).unwrap_or(tzid.trim());
    name.parse().ok()
}

/// `local` (`YYYYMMDDTHHMMSS`) in zone `tzid`, as a UTC date-time (`…Z`). A local time that
/// happens twice (the autumn change) takes the earlier; one that never happens (the spring
/// change) is read with the offset before the change.
fn to_utc(local: &str, tzid: &str) -> Option<String> {
    use chrono::{NaiveDateTime, TimeZone, Utc};
    let tz = chrono_zone(tzid)?;
    let naive = NaiveDateTime::parse_from_str(local.get(..15)?, "%Y%m%dT%H%M%S").ok()?;
    let at = match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t,
        chrono::LocalResult::None => {
            let before = tz
                .from_local_datetime(&(naive - chrono::Duration::hours(3)))
                .earliest()?;
            return Some(
                (before + chrono::Duration::hours(3))
                    .with_timezone(&Utc)
                    .format("%Y%m%dT%H%M%SZ")
                    .to_string(),
            );
        }
    };
    Some(at.with_timezone(&Utc).format("%Y%m%dT%H%M%SZ").to_string())
}

/// The day after `day` (`YYYYMMDD`).
fn next_day(day: &str) -> Option<String> {
    let d = chrono::NaiveDate::parse_from_str(day, "%Y%m%d").ok()?;
    Some(d.succ_opt()?.format("%Y%m%d").to_string())
}

/// Times a component gives in different forms, which servers refuse to compare:
/// - a UTC time that also names a zone loses the zone (RFC 5545 §3.2.19: UTC wins);
/// - floating times (no zone) take the zone of the component's other times: the start's,
///   or when the start itself is floating, that of its end, due date or override;
/// - an end or due date that is a date while the start is a date-time (or the reverse)
///   takes the start's form;
/// - a recurrence rule's UNTIL takes the form §3.3.10 asks for (a date when the start is
///   a date, UTC when the start is in a zone or in UTC).
fn fix_times(c: &mut Node, changes: &mut Vec<String>) {
    const TIMES: &[&str] = &[
        "DTSTART",
        "DTEND",
        "DUE",
        "RECURRENCE-ID",
        "EXDATE",
        "RDATE",
    ];
    let kind = c.name.clone();
    for l in &mut c.props {
        if TIMES.contains(&l.prop.name.as_str())
            && l.prop.param("TZID").is_some()
            && anchor_of(&l.prop, &l.prop.value_str()) == Some(Anchor::Utc)
        {
            let z = l.prop.param("TZID").unwrap_or_default().to_string();
            l.prop.params.retain(|p| p.name != "TZID");
            l.text = l.prop.to_unfolded();
            changes.push(format!(
                "{kind}'s {} {} is in UTC and also named the zone {z}: the zone was left out",
                l.prop.name,
                l.prop.value_str().trim()
            ));
        }
    }
    let anchor_of_line = |c: &Node, name: &str| {
        c.get(name)
            .and_then(|l| anchor_of(&l.prop, &l.prop.value_str()))
    };
    let Some(start) = anchor_of_line(c, "DTSTART") else {
        return;
    };
    let reference = match &start {
        Anchor::Floating => ["DTEND", "DUE", "RECURRENCE-ID"]
            .iter()
            .filter_map(|n| anchor_of_line(c, n))
            .find(|a| matches!(a, Anchor::Utc | Anchor::Zoned(_)))
            .map(|a| (a, "its other times are")),
        a => Some((a.clone(), "DTSTART is")),
    };
    if let Some((anchor, from)) = reference {
        for l in &mut c.props {
            let n = l.prop.name.clone();
            if !TIMES.contains(&n.as_str()) {
                continue;
            }
            let v = l.prop.value_str();
            let floating = v
                .split(',')
                .all(|d| anchor_of(&l.prop, d) == Some(Anchor::Floating));
            if !floating {
                continue;
            }
            let zone = match &anchor {
                Anchor::Zoned(z) => {
                    l.prop.params.retain(|p| p.name != "TZID");
                    l.prop.params.push(Param {
                        name: "TZID".into(),
                        values: vec![z.clone()],
                        bare: false,
                    });
                    z.clone()
                }
                Anchor::Utc => {
                    let t: Vec<String> = v.split(',').map(|d| format!("{}Z", d.trim())).collect();
                    l.prop.value = t.join(",").into_bytes();
                    "UTC".to_string()
                }
                _ => continue,
            };
            l.text = l.prop.to_unfolded();
            changes.push(format!(
                "{kind}'s {n} {} had no time zone while {from} in {zone}: it is now in {zone} too",
                v.trim()
            ));
        }
    }
    // The start as it is now (it may have taken a zone above).
    let Some(anchor) = anchor_of_line(c, "DTSTART") else {
        return;
    };
    let start_zone = c
        .get("DTSTART")
        .and_then(|l| l.prop.param("TZID"))
        .map(str::to_string);
    for l in &mut c.props {
        let n = l.prop.name.clone();
        if !matches!(n.as_str(), "DTEND" | "DUE") {
            continue;
        }
        let v = l.prop.value_str().trim().to_string();
        let Some(end) = anchor_of(&l.prop, &v) else {
            continue;
        };
        let new = match (&anchor, &end) {
            (Anchor::Date, Anchor::Date) => continue,
            // The end of an all-day item is the day after its last day (exclusive).
            (Anchor::Date, _) => {
                let day = v.get(..8).unwrap_or_default();
                let midnight = v.get(9..15) == Some("000000");
                let next = if midnight {
                    Some(day.to_string())
                } else {
                    next_day(day)
                };
                let Some(d) = next else { continue };
                l.prop
                    .params
                    .retain(|p| p.name != "TZID" && p.name != "VALUE");
                l.prop.params.push(Param {
                    name: "VALUE".into(),
                    values: vec!["DATE".into()],
                    bare: false,
                });
                d
            }
            (_, Anchor::Date) => {
                l.prop
                    .params
                    .retain(|p| p.name != "VALUE" && p.name != "TZID");
                let mut t = format!("{v}T000000");
                match &anchor {
                    Anchor::Utc => t.push('Z'),
                    Anchor::Zoned(_) => {
                        if let Some(z) = &start_zone {
                            l.prop.params.push(Param {
                                name: "TZID".into(),
                                values: vec![z.clone()],
                                bare: false,
                            });
                        }
                    }
                    _ => {}
                }
                t
            }
            _ => continue,
        };
        l.prop.value = new.clone().into_bytes();
        l.text = l.prop.to_unfolded();
        let form = if anchor == Anchor::Date {
            "a date"
        } else {
            "a date-time"
        };
        changes.push(format!(
            "{kind}'s {n} {v} was not in the form of its DTSTART ({form}): it is now {new}"
        ));
    }
    for l in &mut c.props {
        if l.prop.name != "RRULE" {
            continue;
        }
        let rule = l.prop.value_str();
        let mut parts: Vec<String> = rule.trim().split(';').map(str::to_string).collect();
        let Some(i) = parts
            .iter()
            .position(|p| p.to_ascii_uppercase().starts_with("UNTIL="))
        else {
            continue;
        };
        let until = parts[i][6..].trim().to_string();
        let date_only = until.len() == 8 && until.bytes().all(|b| b.is_ascii_digit());
        let utc = until.ends_with(['Z', 'z']);
        let new = match &anchor {
            Anchor::Date if !date_only && until.len() >= 8 => Some(until[..8].to_string()),
            Anchor::Utc if date_only => Some(format!("{until}T235959Z")),
            Anchor::Utc if !utc => Some(format!("{until}Z")),
            Anchor::Zoned(z) if date_only => to_utc(&format!("{until}T235959"), z),
            Anchor::Zoned(z) if !utc => to_utc(&until, z),
            _ => None,
        };
        let Some(new) = new else { continue };
        parts[i] = format!("UNTIL={new}");
        changes.push(format!(
            "the RRULE's UNTIL {until} was not in the form its DTSTART asks for: it is now {new}"
        ));
        l.prop.value = parts.join(";").into_bytes();
        l.text = l.prop.to_unfolded();
    }
}

/// The IANA name a TZID stands for, when it is known and written otherwise: a Windows name,
/// an alias, or an IANA name with a prefix (`/mozilla.org/20050126_1/America/New_York`,
/// `/softwarestudio.org/Olson_20011030_5/America/New_York`).
fn iana_for(tzid: &str) -> Option<&'static str> {
    if let Some(w) = tz::windows_to_iana(tzid) {
        return Some(w);
    }
    if let Some(k) = tz::known_zone(tzid) {
        return Some(k);
    }
    let parts: Vec<&str> = tzid.trim().trim_matches('"').split('/').collect();
    for n in (2..=3).rev() {
        if parts.len() > n {
            let tail = parts[parts.len() - n..].join("/");
            if let Some(k) = tz::known_zone(&tail) {
                return Some(k);
            }
        }
    }
    None
}

/// Replaces each VTIMEZONE with the built-in definition of its zone where one is known (the
/// TZID renamed to the IANA name everywhere), and drops a VTIMEZONE without TZID.
fn fix_timezones(cal: &mut Node, changes: &mut Vec<String>) {
    let mut renames: Vec<(String, String)> = Vec::new();
    let mut replaced: Vec<Node> = Vec::new();
    let mut i = 0;
    while i < cal.children.len() {
        if cal.children[i].name != "VTIMEZONE" {
            i += 1;
            continue;
        }
        let Some(tzid) = cal.children[i]
            .get("TZID")
            .map(|l| l.prop.value_str().trim().to_string())
            .filter(|t| !t.is_empty())
        else {
            cal.children.remove(i);
            changes.push("left out a VTIMEZONE without TZID (nothing refers to it)".into());
            continue;
        };
        let iana = iana_for(&tzid);
        let builtin = iana.and_then(tz::builtin_vtimezone);
        match (iana, builtin) {
            (Some(z), Some(def)) => {
                if let Some(n) = parse(
                    &format!("BEGIN:VCALENDAR\r\n{def}END:VCALENDAR\r\n"),
                    false,
                    &mut Vec::new(),
                )
                .and_then(|c| c.children.into_iter().next())
                {
                    replaced.push(n);
                    cal.children.remove(i);
                    if z != tzid {
                        renames.push((tzid.clone(), z.to_string()));
                        changes.push(format!(
                            "time zone {tzid:?} became {z} with a standard definition"
                        ));
                    } else {
                        changes.push(format!(
                            "the VTIMEZONE of {z} was replaced by a standard definition"
                        ));
                    }
                    continue;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    if replaced.is_empty() {
        return;
    }
    // One definition per zone, before the components that use it.
    let mut defs: Vec<Node> = Vec::new();
    for n in replaced {
        let id = n.get("TZID").map(|l| l.prop.value_str());
        if !defs
            .iter()
            .any(|d| d.get("TZID").map(|l| l.prop.value_str()) == id)
        {
            defs.push(n);
        }
    }
    let keep: Vec<Node> = std::mem::take(&mut cal.children);
    cal.children = defs;
    cal.children.extend(keep);
    if renames.is_empty() {
        return;
    }
    fn rename(n: &mut Node, renames: &[(String, String)]) {
        for l in &mut n.props {
            let mut changed = false;
            for p in &mut l.prop.params {
                if p.name == "TZID" {
                    for v in &mut p.values {
                        if let Some((_, to)) = renames.iter().find(|(f, _)| f == v) {
                            *v = to.clone();
                            changed = true;
                        }
                    }
                }
            }
            if changed {
                l.text = l.prop.to_unfolded();
            }
        }
        for c in &mut n.children {
            rename(c, renames);
        }
    }
    rename(cal, &renames);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The logical lines of `text`.
    fn lines(text: &str) -> Vec<String> {
        let mut u = Unfolder::new(text.as_bytes(), false);
        let mut v = Vec::new();
        while let Ok(Some(l)) = u.next_logical() {
            v.push(lossy(&l.bytes));
        }
        v
    }

    fn cal(body: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n{body}END:VCALENDAR\r\n")
    }

    #[test]
    fn rdate_periods_become_start_times_with_the_periods_kept() {
        let t = cal(
            "BEGIN:VEVENT\r\nUID:p\r\nDTSTART:19970101T180000Z\r\nRDATE;VALUE=PERIOD:19970101T180000Z/19970102T070000Z,19970109T180000Z/PT5H30M\r\nEND:VEVENT\r\n",
        );
        let r = repair_ics(&t).unwrap();
        let l = lines(&r.text);
        assert!(
            l.contains(&"RDATE:19970101T180000Z,19970109T180000Z".to_string()),
            "{l:?}"
        );
        assert!(l.contains(
            &"X-PASSEUR-RDATE-PERIODS:19970101T180000Z/19970102T070000Z\\,19970109T180000Z/PT5H30M"
                .to_string()
        ));
        assert_eq!(r.changes.len(), 1);
        assert!(r.changes[0].starts_with("RDATE periods became their start times"));
    }

    #[test]
    fn a_missing_dtstart_comes_from_due_and_bad_zones_become_iana() {
        let t = cal(
            "BEGIN:VTIMEZONE\r\nTZID:/mozilla.org/20050126_1/Europe/Paris\r\nBEGIN:STANDARD\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n\
BEGIN:VTODO\r\nUID:t\r\nDUE;TZID=/mozilla.org/20050126_1/Europe/Paris:20240301T090000\r\nRRULE:FREQ=WEEKLY\r\nEND:VTODO\r\n",
        );
        let r = repair_ics(&t).unwrap();
        let l = lines(&r.text);
        assert!(
            l.contains(&"DTSTART;TZID=Europe/Paris:20240301T090000".to_string()),
            "{l:?}"
        );
        assert!(l.contains(&"DUE;TZID=Europe/Paris:20240301T090000".to_string()));
        assert!(l.contains(&"TZID:Europe/Paris".to_string()));
        assert!(!r.text.contains("mozilla"));
        assert_eq!(
            r.changes,
            vec![
                "time zone \"/mozilla.org/20050126_1/Europe/Paris\" became Europe/Paris with a standard definition".to_string(),
                "VTODO had no DTSTART: added DTSTART 20240301T090000 taken from DUE".to_string(),
            ]
        );
    }

    #[test]
    fn nothing_to_repair_is_none() {
        let t = cal("BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20240101T100000Z\r\nEND:VEVENT\r\n");
        assert!(repair_ics(&t).is_none());
        assert!(repair_ics("not a calendar").is_none());
    }

    #[test]
    fn an_until_in_local_time_becomes_utc_and_a_floating_end_takes_the_start_zone() {
        let t = cal(
            "BEGIN:VEVENT\r\nUID:u\r\nDTSTART;TZID=Europe/Paris:20240301T090000\r\nDTEND:20240301T100000\r\nEXDATE:20240308T090000,20240315T090000\r\nRRULE:FREQ=WEEKLY;UNTIL=20240329T090000;BYDAY=FR\r\nEND:VEVENT\r\n",
        );
        let r = repair_ics(&t).unwrap();
        let l = lines(&r.text);
        assert!(
            l.contains(&"RRULE:FREQ=WEEKLY;UNTIL=20240329T080000Z;BYDAY=FR".to_string()),
            "{l:?}"
        );
        assert!(l.contains(&"DTEND;TZID=Europe/Paris:20240301T100000".to_string()));
        assert!(
            l.contains(&"EXDATE;TZID=Europe/Paris:20240308T090000,20240315T090000".to_string())
        );
        assert_eq!(
            r.changes,
            vec![
                "VEVENT's DTEND 20240301T100000 had no time zone while DTSTART is in Europe/Paris: it is now in Europe/Paris too".to_string(),
                "VEVENT's EXDATE 20240308T090000,20240315T090000 had no time zone while DTSTART is in Europe/Paris: it is now in Europe/Paris too".to_string(),
                "the RRULE's UNTIL 20240329T090000 was not in the form its DTSTART asks for: it is now 20240329T080000Z".to_string(),
            ]
        );
    }

    #[test]
    fn until_follows_a_date_start_and_summer_time_and_utc_starts() {
        let t = cal(
            "BEGIN:VEVENT\r\nUID:d\r\nDTSTART;VALUE=DATE:20240301\r\nRRULE:FREQ=DAILY;UNTIL=20240310T000000Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:s\r\nDTSTART;TZID=America/New_York:20240701T090000\r\nRRULE:FREQ=DAILY;UNTIL=20240710\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:z\r\nDTSTART:20240701T090000Z\r\nRRULE:FREQ=DAILY;UNTIL=20240710T090000\r\nEND:VEVENT\r\n",
        );
        let r = repair_ics(&t).unwrap();
        let l = lines(&r.text);
        assert!(
            l.contains(&"RRULE:FREQ=DAILY;UNTIL=20240310".to_string()),
            "{l:?}"
        );
        // 23:59:59 on 10 July in New York (UTC-4 in summer) is 03:59:59 UTC on the 11th.
        assert!(
            l.contains(&"RRULE:FREQ=DAILY;UNTIL=20240711T035959Z".to_string()),
            "{l:?}"
        );
        assert!(
            l.contains(&"RRULE:FREQ=DAILY;UNTIL=20240710T090000Z".to_string()),
            "{l:?}"
        );
        assert_eq!(r.changes.len(), 3);
    }

    #[test]
    fn times_already_consistent_are_left_alone() {
        let t = cal(
            "BEGIN:VEVENT\r\nUID:ok\r\nDTSTART;TZID=Europe/Paris:20240301T090000\r\nDTEND;TZID=Europe/Paris:20240301T100000\r\nRRULE:FREQ=WEEKLY;UNTIL=20240329T080000Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:fl\r\nDTSTART:20240301T090000\r\nDTEND:20240301T100000\r\nRRULE:FREQ=WEEKLY;UNTIL=20240329T090000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:unknown-zone\r\nDTSTART;TZID=Nowhere/Land:20240301T090000\r\nRRULE:FREQ=WEEKLY;UNTIL=20240329T090000\r\nEND:VEVENT\r\n",
        );
        assert!(repair_ics(&t).is_none());
    }

    #[test]
    fn mixed_awareness_and_mixed_forms_take_the_start_form() {
        // khal's event_dt_mixed_awareness.ics: a floating start with a UTC end that also names
        // a zone, and a start in UTC naming a zone with a floating end.
        let t = cal(
            "BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20150530T120000\r\nDTEND;TZID=Europe/Berlin:20150530T160000Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:b\r\nDTSTART;VALUE=DATE:20240301\r\nDTEND:20240302T100000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:c\r\nDTSTART;TZID=Europe/Paris:20240301T090000\r\nDTEND;VALUE=DATE:20240302\r\nEND:VEVENT\r\n",
        );
        let r = repair_ics(&t).unwrap();
        let l = lines(&r.text);
        for want in [
            "DTSTART:20150530T120000Z",
            "DTEND:20150530T160000Z",
            "DTEND;VALUE=DATE:20240303",
            "DTEND;TZID=Europe/Paris:20240302T000000",
        ] {
            assert!(l.contains(&want.to_string()), "{want} not in {l:?}");
        }
        assert_eq!(
            r.changes,
            vec![
                "VEVENT's DTEND 20150530T160000Z is in UTC and also named the zone Europe/Berlin: the zone was left out".to_string(),
                "VEVENT's DTSTART 20150530T120000 had no time zone while its other times are in UTC: it is now in UTC too".to_string(),
                "VEVENT's DTEND 20240302T100000 was not in the form of its DTSTART (a date): it is now 20240303".to_string(),
                "VEVENT's DTEND 20240302 was not in the form of its DTSTART (a date-time): it is now 20240302T000000".to_string(),
            ]
        );
    }

    #[test]
    fn an_event_with_no_date_at_all_is_placed_on_the_import_day_and_marked() {
        let t = cal("BEGIN:VEVENT\r\nUID:n\r\nSUMMARY:undated\r\nEND:VEVENT\r\n");
        let r = repair_ics(&t).unwrap();
        let l = lines(&r.text);
        let today = chrono::Utc::now().format("%Y%m%d").to_string();
        assert!(l.contains(&format!("DTSTART;VALUE=DATE:{today}")), "{l:?}");
        assert!(l.contains(&"X-PASSEUR-UNDATED:TRUE".to_string()));
        assert!(l.contains(&"SUMMARY:undated".to_string()));
        assert_eq!(r.changes.len(), 1);
        assert!(r.changes[0].starts_with("VEVENT had no date at all: placed on "));
    }

    #[test]
    fn a_vcard_with_two_names_keeps_the_first_and_the_other_aside() {
        let t = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Jane Doe\r\nN:Doe;Jane;;;\r\nN:Doe;J.;;;\r\nEMAIL:jane@example.org\r\nEND:VCARD\r\n";
        let r = repair_vcf(t).unwrap();
        let l = lines(&r.text);
        assert_eq!(l.iter().filter(|x| x.starts_with("N:")).count(), 1, "{l:?}");
        assert!(l.contains(&"N:Doe;Jane;;;".to_string()));
        assert!(
            l.contains(&"X-PASSEUR-N:N:Doe\\;J.\\;\\;\\;".to_string()),
            "{l:?}"
        );
        assert!(l.contains(&"EMAIL:jane@example.org".to_string()));
        assert_eq!(
            r.changes,
            vec![
                "VCARD had N more than once: kept the first, the other is in X-PASSEUR-N"
                    .to_string()
            ]
        );
        assert!(repair_vcf("BEGIN:VCARD\r\nVERSION:3.0\r\nN:a;b;;;\r\nEND:VCARD\r\n").is_none());
        assert!(repair_ics(t).is_none());
        assert!(repair_vcf(&cal("BEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\n")).is_none());
    }

    #[test]
    fn a_vcard_profile_a_bare_name_and_commas_in_org_are_mended_with_notes() {
        // kcontacts' vcard4.vcf (an `FN` without `:`, a comma in ORG) and ez-vcard's Lotus
        // Notes card (`PROFILE:VCard`): Radicale refused both.
        let t = "BEGIN:VCARD\nFN\nN:\nORG:Ximian, Inc.;Sales\nPROFILE:VCard\nNOTE:a, b\nUID:k4\nEND:VCARD\n";
        let r = repair_vcf(t).unwrap();
        let l = lines(&r.text);
        assert!(l.contains(&"FN:".to_string()), "{l:?}");
        assert!(l.contains(&"ORG:Ximian\\, Inc.;Sales".to_string()), "{l:?}");
        assert!(l.contains(&"X-PASSEUR-PROFILE:VCard".to_string()), "{l:?}");
        assert!(!l.iter().any(|x| x.starts_with("PROFILE")), "{l:?}");
        assert!(l.contains(&"NOTE:a, b".to_string()), "{l:?}");
        assert_eq!(
            r.changes,
            vec![
                "line 2: FN had no ':' and no value: written as FN with an empty value".to_string(),
                "ORG \"Ximian, Inc.;Sales\" had bare commas: escaped, as part of the name"
                    .to_string(),
                "PROFILE:VCard (a directory header the server cannot read) is kept in X-PASSEUR-PROFILE"
                    .to_string(),
            ]
        );
        // An escaped comma is left alone.
        assert!(repair_vcf("BEGIN:VCARD\r\nFN:x\r\nORG:A\\, B\r\nEND:VCARD\r\n").is_none());
    }

    #[test]
    fn a_line_that_is_not_a_property_is_kept_aside_not_dropped() {
        let t = cal(
            "BEGIN:VEVENT\r\nUID:u\r\nDTSTART:20260101T100000\r\nDTEND;TZID=Europe/Paris:20260101T110000\r\n;;garbage\r\nEND:VEVENT\r\n",
        );
        let r = repair_ics(&t).unwrap();
        let l = lines(&r.text);
        assert!(
            l.contains(&"X-PASSEUR-UNPARSED:\\;\\;garbage".to_string()),
            "{l:?}"
        );
        assert!(
            r.changes.iter().any(|c| c.ends_with("could not be read as a property: kept in X-PASSEUR-UNPARSED")),
            "{:?}",
            r.changes
        );
    }

    #[test]
    fn a_duration_with_its_sign_inside_gets_it_in_front() {
        // khal's non_dst_error.ics: Radicale refuses `TRIGGER;RELATED=START:PT-2H`.
        assert_eq!(sign_in_front("PT-2H").as_deref(), Some("-PT2H"));
        assert_eq!(sign_in_front("P-1D").as_deref(), Some("-P1D"));
        assert_eq!(sign_in_front("PT+15M").as_deref(), Some("PT15M"));
        assert_eq!(sign_in_front("-PT15M"), None);
        assert_eq!(sign_in_front("19970101T100000Z"), None);
        let t = cal(
            "BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20230203T151500Z\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER;RELATED=START:PT-2H\r\nEND:VALARM\r\nEND:VEVENT\r\n",
        );
        let r = repair_ics(&t).unwrap();
        assert!(
            lines(&r.text).contains(&"TRIGGER;RELATED=START:-PT2H".to_string()),
            "{}",
            r.text
        );
        assert_eq!(
            r.changes,
            vec!["VEVENT VALARM's TRIGGER PT-2H had its sign inside: written -PT2H".to_string()]
        );
    }
}
