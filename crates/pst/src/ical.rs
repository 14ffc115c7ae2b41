//! Appointments, tasks and journal entries to iCalendar ([MS-OXOCAL], [MS-OXOTASK]),
//! with recurrence from the recurrence blob and time zones from the item's rules.

use crate::contact::{escape, fold_line};
use crate::message::{Ctx, Message};
use crate::props::{
    self, PS_PUBLIC_STRINGS, PSETID_APPOINTMENT, PSETID_COMMON, PSETID_MEETING, PSETID_TASK,
};
use crate::recur::{Exception, Recurrence};
use crate::time::{self, TzRule};

/// One content line: NAME;PARAMS:value (value already escaped), folded, CRLF.
pub(crate) fn prop_line(name: &str, params: &[(&str, String)], value: &str) -> String {
    let mut l = name.to_string();
    for (k, v) in params {
        l.push(';');
        l.push_str(k);
        l.push('=');
        if v.contains([':', ';', ',']) {
            l.push('"');
            l.push_str(&v.replace('"', ""));
            l.push('"');
        } else {
            l.push_str(v);
        }
    }
    l.push(':');
    l.push_str(value);
    fold_line(&l)
}

struct Cal {
    out: String,
}

impl Cal {
    fn line(&mut self, name: &str, value: &str) {
        self.out.push_str(&prop_line(name, &[], value));
    }
    fn text(&mut self, name: &str, value: Option<String>) {
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            self.line(name, &escape(v.trim_end()));
        }
    }
}

fn wrap(components: &str, tz: Option<&TzRule>) -> String {
    let mut s =
        String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//passeur//PST import//EN\r\n");
    if let Some(tz) = tz {
        s.push_str(&tz.vtimezone());
    }
    s.push_str(components);
    s.push_str("END:VCALENDAR\r\n");
    s
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

fn common(c: &mut Cal, ctx: &Ctx<'_>, msg: &Message<'_>) {
    let pc = &msg.pc;
    let n = msg.named(ctx);
    let stamp = pc
        .time(props::LAST_MODIFICATION_TIME)
        .or_else(|| pc.time(props::CREATION_TIME))
        .and_then(time::filetime_to_unix)
        .unwrap_or(0);
    c.line("DTSTAMP", &time::ical_utc(stamp));
    if let Some(t) = pc
        .time(props::CREATION_TIME)
        .and_then(time::filetime_to_unix)
    {
        c.line("CREATED", &time::ical_utc(t));
    }
    if let Some(t) = pc
        .time(props::LAST_MODIFICATION_TIME)
        .and_then(time::filetime_to_unix)
    {
        c.line("LAST-MODIFIED", &time::ical_utc(t));
    }
    c.text("SUMMARY", msg.subject());
    c.text("DESCRIPTION", pc.string(props::BODY));
    match pc.int(props::SENSITIVITY) {
        Some(2) => c.line("CLASS", "PRIVATE"),
        Some(3) => c.line("CLASS", "CONFIDENTIAL"),
        _ => {
            if n.bool(PSETID_COMMON, 0x8506) == Some(true) {
                c.line("CLASS", "PRIVATE");
            }
        }
    }
    let cats = n.strings_by_name(PS_PUBLIC_STRINGS, "Keywords");
    if !cats.is_empty() {
        c.line(
            "CATEGORIES",
            &cats.iter().map(|s| escape(s)).collect::<Vec<_>>().join(","),
        );
    }
}

fn alarm(c: &mut Cal, ctx: &Ctx<'_>, msg: &Message<'_>) {
    let n = msg.named(ctx);
    if n.bool(PSETID_COMMON, 0x8503) == Some(true) {
        let delta = n.int(PSETID_COMMON, 0x8501).unwrap_or(15).clamp(0, 525_600);
        c.out.push_str("BEGIN:VALARM\r\nACTION:DISPLAY\r\n");
        c.line(
            "DESCRIPTION",
            &escape(&msg.subject().unwrap_or_else(|| "Reminder".into())),
        );
        c.line("TRIGGER;RELATED=START", &format!("-PT{delta}M"));
        c.out.push_str("END:VALARM\r\n");
    }
}

fn event_uid(ctx: &Ctx<'_>, msg: &Message<'_>) -> String {
    let n = msg.named(ctx);
    n.bin(PSETID_MEETING, 0x0023)
        .or_else(|| n.bin(PSETID_MEETING, 0x0003))
        .filter(|b| b.len() >= 16 && b.iter().any(|x| *x != 0))
        .map(|b| hex(&b))
        .unwrap_or_else(|| ctx.uid_for(msg.nid))
}

/// The appointment's time zone: the start-display definition, else the legacy struct.
fn zone(ctx: &Ctx<'_>, msg: &Message<'_>) -> Option<TzRule> {
    let n = msg.named(ctx);
    n.bin(PSETID_APPOINTMENT, 0x825E)
        .and_then(|b| TzRule::from_definition(&b))
        .or_else(|| {
            n.bin(PSETID_APPOINTMENT, 0x8260)
                .and_then(|b| TzRule::from_definition(&b))
        })
        .or_else(|| {
            let name = n.string(PSETID_APPOINTMENT, 0x8234).unwrap_or_default();
            n.bin(PSETID_APPOINTMENT, 0x8233)
                .and_then(|b| TzRule::from_struct(&b, &name))
        })
}

fn dt(name: &str, unix: i64, tz: Option<&TzRule>, all_day: bool) -> String {
    if all_day {
        let local = match tz {
            Some(t) => t.to_local(unix),
            // No zone: round to the nearest midnight.
            None => unix + 43_200,
        };
        return prop_line(name, &[("VALUE", "DATE".into())], &time::ical_date(local));
    }
    match tz {
        Some(t) => prop_line(
            name,
            &[("TZID", t.tzid())],
            &time::ical_local(t.to_local(unix)),
        ),
        None => prop_line(name, &[], &time::ical_utc(unix)),
    }
}

pub(crate) fn event(ctx: &Ctx<'_>, msg: &Message<'_>) -> (String, String) {
    let pc = &msg.pc;
    let n = msg.named(ctx);
    let uid = event_uid(ctx, msg);
    let all_day = n.bool(PSETID_APPOINTMENT, 0x8215).unwrap_or(false);
    let start = n
        .time(PSETID_APPOINTMENT, 0x820D)
        .or_else(|| n.time(PSETID_COMMON, 0x8516))
        .and_then(time::filetime_to_unix);
    let end = n
        .time(PSETID_APPOINTMENT, 0x820E)
        .or_else(|| n.time(PSETID_COMMON, 0x8517))
        .and_then(time::filetime_to_unix);
    let recur = n
        .bin(PSETID_APPOINTMENT, 0x8216)
        .and_then(|b| Recurrence::parse(&b, true));
    let mut tz = zone(ctx, msg);
    if tz.is_none() && recur.is_some() && !all_day {
        // Recurring times need a zone; UTC keeps them exact where we know none.
        // (All-day dates need none: without a zone they round to the nearest midnight.)
        tz = Some(TzRule {
            name: "UTC".into(),
            bias: 0,
            std_bias: 0,
            dst_bias: 0,
            std: Default::default(),
            dst: Default::default(),
        });
    }
    let mut c = Cal {
        out: "BEGIN:VEVENT\r\n".into(),
    };
    c.line("UID", &escape(&uid));
    common(&mut c, ctx, msg);
    if let Some(s) = start {
        c.out.push_str(&dt("DTSTART", s, tz.as_ref(), all_day));
        let e = end
            .filter(|e| *e >= s)
            .unwrap_or(s + if all_day { 86_400 } else { 0 });
        c.out.push_str(&dt("DTEND", e, tz.as_ref(), all_day));
    }
    c.text("LOCATION", n.string(PSETID_APPOINTMENT, 0x8208));
    match n.int(PSETID_APPOINTMENT, 0x8205) {
        Some(0) => c.line("TRANSP", "TRANSPARENT"),
        Some(_) => c.line("TRANSP", "OPAQUE"),
        None => {}
    }
    if let Some(p) = match pc.int(props::IMPORTANCE) {
        Some(2) => Some("1"),
        Some(0) => Some("9"),
        _ => None,
    } {
        c.line("PRIORITY", p);
    }
    // Meeting: organizer and attendees.
    let state = n.int(PSETID_APPOINTMENT, 0x8217).unwrap_or(0);
    let recips = msg.recipients();
    if state & 1 != 0 || !recips.is_empty() {
        let organizer_row = recips.iter().find(|r| r.flags & 0x2 != 0);
        let org_name = pc
            .string(props::SENT_REPRESENTING_NAME)
            .or_else(|| pc.string(props::SENDER_NAME))
            .or_else(|| {
                organizer_row
                    .map(|r| r.name.clone())
                    .filter(|n| !n.is_empty())
            });
        let mut org_email = crate::message::pick_email(
            pc.string(props::SENT_REPRESENTING_SMTP)
                .or_else(|| pc.string(props::SENDER_SMTP)),
            &pc.string(props::SENT_REPRESENTING_ADDRTYPE)
                .unwrap_or_default(),
            pc.string(props::SENT_REPRESENTING_EMAIL)
                .or_else(|| pc.string(props::SENDER_EMAIL))
                .unwrap_or_default(),
        );
        if org_email.is_empty()
            && let Some(r) = organizer_row
        {
            org_email = r.email.clone();
        }
        if !org_email.is_empty() {
            let mut params = Vec::new();
            if let Some(nm) = org_name {
                params.push(("CN", nm.replace(['"', '\r', '\n'], "")));
            }
            c.out.push_str(&prop_line(
                "ORGANIZER",
                &params,
                &format!("mailto:{org_email}"),
            ));
        }
        for r in recips.iter().filter(|r| r.flags & 0x2 == 0) {
            if r.email.is_empty() {
                continue;
            }
            let role = match r.kind & 0xf {
                2 => "OPT-PARTICIPANT",
                3 => "NON-PARTICIPANT",
                _ => "REQ-PARTICIPANT",
            };
            let partstat = match r.track {
                2 => "TENTATIVE",
                3 => "ACCEPTED",
                4 => "DECLINED",
                _ => "NEEDS-ACTION",
            };
            let mut params = vec![
                ("ROLE", role.to_string()),
                ("PARTSTAT", partstat.to_string()),
            ];
            if r.kind & 0xf == 3 {
                params.push(("CUTYPE", "RESOURCE".into()));
            }
            if !r.name.is_empty() {
                params.push(("CN", r.name.replace(['"', '\r', '\n'], "")));
            }
            c.out.push_str(&prop_line(
                "ATTENDEE",
                &params,
                &format!("mailto:{}", r.email),
            ));
        }
    }
    let mut extra = String::new();
    if let (Some(rec), Some(s)) = (&recur, start) {
        let tzr = tz.as_ref();
        let local_start = tzr.map_or(s, |t| t.to_local(s));
        c.line("RRULE", &rec.rrule(local_start, all_day, tzr));
        let modified: std::collections::HashSet<u32> =
            rec.modified.iter().map(|m| m / 1440).collect();
        for &d in &rec.deleted {
            if modified.contains(&(d / 1440)) {
                continue;
            }
            let local = time::minutes_to_unix(d / 1440 * 1440 + rec.start_offset);
            c.out.push_str(&exdate(local, tzr, all_day));
        }
        for ex in &rec.exceptions {
            extra.push_str(&exception_event(&uid, ex, rec, tzr, all_day, &c));
        }
    }
    alarm(&mut c, ctx, msg);
    c.out.push_str("END:VEVENT\r\n");
    c.out.push_str(&extra);
    (wrap(&c.out, tz.as_ref()), uid)
}

fn exdate(local: i64, tz: Option<&TzRule>, all_day: bool) -> String {
    if all_day {
        return prop_line(
            "EXDATE",
            &[("VALUE", "DATE".into())],
            &time::ical_date(local),
        );
    }
    match tz {
        Some(t) => prop_line("EXDATE", &[("TZID", t.tzid())], &time::ical_local(local)),
        None => prop_line("EXDATE", &[], &time::ical_utc(local)),
    }
}

fn local_prop(name: &str, local: i64, tz: Option<&TzRule>, all_day: bool) -> String {
    if all_day {
        return prop_line(name, &[("VALUE", "DATE".into())], &time::ical_date(local));
    }
    match tz {
        Some(t) => prop_line(name, &[("TZID", t.tzid())], &time::ical_local(local)),
        None => prop_line(name, &[], &time::ical_utc(local)),
    }
}

fn exception_event(
    uid: &str,
    ex: &Exception,
    rec: &Recurrence,
    tz: Option<&TzRule>,
    all_day: bool,
    master: &Cal,
) -> String {
    let mut c = Cal {
        out: "BEGIN:VEVENT\r\n".into(),
    };
    c.line("UID", &escape(uid));
    // DTSTAMP is copied from the master.
    if let Some(l) = master.out.lines().find(|l| l.starts_with("DTSTAMP:")) {
        c.out.push_str(l);
        c.out.push_str("\r\n");
    }
    let orig = time::minutes_to_unix(ex.original_start / 1440 * 1440 + rec.start_offset);
    c.out
        .push_str(&local_prop("RECURRENCE-ID", orig, tz, all_day));
    c.out.push_str(&local_prop(
        "DTSTART",
        time::minutes_to_unix(ex.start),
        tz,
        all_day,
    ));
    c.out.push_str(&local_prop(
        "DTEND",
        time::minutes_to_unix(ex.end.max(ex.start)),
        tz,
        all_day,
    ));
    let subject = ex.subject.clone().or_else(|| {
        master
            .out
            .lines()
            .find(|l| l.starts_with("SUMMARY:"))
            .map(|l| l["SUMMARY:".len()..].to_string())
    });
    if let Some(s) = subject {
        if ex.subject.is_some() {
            c.line("SUMMARY", &escape(&s));
        } else {
            c.line("SUMMARY", &s);
        }
    }
    if let Some(l) = &ex.location {
        c.line("LOCATION", &escape(l));
    }
    // An override is a whole instance (RFC 5545 3.8.4.4): what the exception does not change
    // (description, organizer, attendees, class, categories...) is the master's.
    c.out
        .push_str(&inherited(&master.out, ex.location.is_none()));
    c.out.push_str("END:VEVENT\r\n");
    c.out
}

/// The master's properties an exception keeps: every content line (folded lines whole) but
/// those that place or name the instance, which the exception sets itself (its location
/// too when it has its own), and alarms.
fn inherited(master: &str, with_location: bool) -> String {
    const OWN: [&str; 12] = [
        "BEGIN",
        "END",
        "UID",
        "DTSTAMP",
        "DTSTART",
        "DTEND",
        "DURATION",
        "RRULE",
        "RDATE",
        "EXDATE",
        "RECURRENCE-ID",
        "SUMMARY",
    ];
    let mut out = String::new();
    let mut keep = false;
    let mut depth = 0usize;
    for line in master.split("\r\n").filter(|l| !l.is_empty()) {
        if line.starts_with(' ') || line.starts_with('\t') {
            if keep {
                out.push_str(line);
                out.push_str("\r\n");
            }
            continue;
        }
        let name_end = line.find([':', ';']).unwrap_or(line.len());
        let name = line[..name_end].to_ascii_uppercase();
        match name.as_str() {
            "BEGIN" => depth += 1,
            "END" => depth = depth.saturating_sub(1),
            _ => {}
        }
        // Only the VEVENT's own properties (depth 1), never a nested component's.
        keep = depth == 1 && !OWN.contains(&name.as_str()) && (with_location || name != "LOCATION");
        if keep {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out
}

pub(crate) fn task(ctx: &Ctx<'_>, msg: &Message<'_>) -> (String, String) {
    let pc = &msg.pc;
    let n = msg.named(ctx);
    let uid = ctx.uid_for(msg.nid);
    let mut c = Cal {
        out: "BEGIN:VTODO\r\n".into(),
    };
    c.line("UID", &uid);
    common(&mut c, ctx, msg);
    // Task dates are local midnights stored as if UTC: keep the date part.
    let date = |lid: u32| n.time(PSETID_TASK, lid).and_then(time::filetime_to_unix);
    let start = date(0x8104);
    if let Some(s) = start {
        c.out.push_str(&prop_line(
            "DTSTART",
            &[("VALUE", "DATE".into())],
            &time::ical_date(s),
        ));
    }
    if let Some(d) = date(0x8105) {
        let d = start.map_or(d, |s| d.max(s));
        c.out.push_str(&prop_line(
            "DUE",
            &[("VALUE", "DATE".into())],
            &time::ical_date(d),
        ));
    }
    let status = n.int(PSETID_TASK, 0x8101).unwrap_or(0);
    let complete = n.bool(PSETID_TASK, 0x811C).unwrap_or(false) || status == 2;
    c.line(
        "STATUS",
        match status {
            _ if complete => "COMPLETED",
            1 => "IN-PROCESS",
            4 => "CANCELLED",
            _ => "NEEDS-ACTION",
        },
    );
    if complete && let Some(d) = date(0x810F) {
        c.line("COMPLETED", &time::ical_utc(d));
    }
    let pct = n
        .float(PSETID_TASK, 0x8102)
        .unwrap_or(if complete { 1.0 } else { 0.0 });
    let pct = (pct * 100.0).round().clamp(0.0, 100.0) as i64;
    c.line("PERCENT-COMPLETE", &pct.to_string());
    c.line(
        "PRIORITY",
        match pc.int(props::IMPORTANCE) {
            Some(2) => "1",
            Some(0) => "9",
            _ => "5",
        },
    );
    if n.bool(PSETID_TASK, 0x8126) == Some(true)
        && let Some(rec) = n
            .bin(PSETID_TASK, 0x8116)
            .and_then(|b| Recurrence::parse(&b, false))
        && let Some(s) = start.or_else(|| date(0x8105))
    {
        c.line("RRULE", &rec.rrule(s, true, None));
    }
    alarm(&mut c, ctx, msg);
    c.out.push_str("END:VTODO\r\n");
    (wrap(&c.out, None), uid)
}

pub(crate) fn journal(ctx: &Ctx<'_>, msg: &Message<'_>) -> (String, String) {
    let uid = ctx.uid_for(msg.nid);
    let n = msg.named(ctx);
    let mut c = Cal {
        out: "BEGIN:VJOURNAL\r\n".into(),
    };
    c.line("UID", &uid);
    common(&mut c, ctx, msg);
    // PSETID_Log: journal start (0x8706); fall back to the common start.
    const PSETID_LOG: crate::props::Guid = [
        0x0A, 0x20, 0x06, 0x00, 0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0x46,
    ];
    if let Some(s) = n
        .time(PSETID_LOG, 0x8706)
        .or_else(|| n.time(PSETID_COMMON, 0x8516))
        .and_then(time::filetime_to_unix)
    {
        c.line("DTSTART", &time::ical_utc(s));
    }
    c.text("X-MS-JOURNAL-TYPE", n.string(PSETID_LOG, 0x8700));
    c.out.push_str("END:VJOURNAL\r\n");
    (wrap(&c.out, None), uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Transition;

    fn pacific() -> TzRule {
        TzRule {
            name: "Pacific Standard Time".into(),
            bias: 480,
            std_bias: 0,
            dst_bias: -60,
            std: Transition {
                month: 11,
                dow: 0,
                week: 1,
                hour: 2,
                minute: 0,
            },
            dst: Transition {
                month: 3,
                dow: 0,
                week: 2,
                hour: 2,
                minute: 0,
            },
        }
    }

    #[test]
    fn all_day_dates_are_local_dates() {
        // 2016-08-02 00:00 PDT = 07:00Z.
        let t = time::days_from_civil(2016, 8, 2) * 86_400 + 7 * 3600;
        assert_eq!(
            dt("DTSTART", t, Some(&pacific()), true),
            "DTSTART;VALUE=DATE:20160802\r\n"
        );
        // No zone known: the nearest midnight, east (UTC+10 = previous day 14:00Z) or west.
        let east = time::days_from_civil(2016, 8, 1) * 86_400 + 14 * 3600;
        assert_eq!(
            dt("DTSTART", east, None, true),
            "DTSTART;VALUE=DATE:20160802\r\n"
        );
        assert_eq!(
            dt("DTSTART", t, None, true),
            "DTSTART;VALUE=DATE:20160802\r\n"
        );
    }

    #[test]
    fn timed_values_use_the_zone() {
        let t = time::days_from_civil(2016, 8, 2) * 86_400 + 15 * 3600;
        assert_eq!(
            dt("DTSTART", t, Some(&pacific()), false),
            "DTSTART;TZID=Pacific Standard Time:20160802T080000\r\n"
        );
        let winter = time::days_from_civil(2016, 12, 2) * 86_400 + 16 * 3600;
        assert_eq!(
            dt("DTSTART", winter, Some(&pacific()), false),
            "DTSTART;TZID=Pacific Standard Time:20161202T080000\r\n"
        );
        assert_eq!(
            dt("DTSTART", t, None, false),
            "DTSTART:20160802T150000Z\r\n"
        );
    }

    #[test]
    fn parameter_values_with_separators_are_quoted() {
        let l = prop_line("ATTENDEE", &[("CN", "Doe, Jane".into())], "mailto:j@x.org");
        assert_eq!(l, "ATTENDEE;CN=\"Doe, Jane\":mailto:j@x.org\r\n");
    }
}
