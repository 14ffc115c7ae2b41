//! Appointments, tasks and journal entries to iCalendar ([MS-OXOCAL], [MS-OXOTASK]),
//! with recurrence from the recurrence blob and time zones from the item's rules.

use crate::contact::{escape, fold_line};
use crate::message::{Ctx, Message};
use crate::props::{
    self, PS_PUBLIC_STRINGS, PSETID_APPOINTMENT, PSETID_COMMON, PSETID_MEETING, PSETID_TASK,
};
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
    if tz.is_none() && (recur.is_some() || all_day) {
        // Recurring times need a zone; UTC keeps them exact where we know none.
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
    c.out.push_str("END:VEVENT\r\n");
    c.out
}

#[derive(Debug, Default)]
struct Exception {
    start: u32,
    end: u32,
    original_start: u32,
    subject: Option<String>,
    location: Option<String>,
}

#[derive(Debug, Default)]
struct Recurrence {
    frequency: u16,
    pattern: u16,
    period: u32,
    day_mask: u32,
    day_of_month: u32,
    nth: u32,
    end_type: u32,
    count: u32,
    first_dow: u32,
    deleted: Vec<u32>,
    modified: Vec<u32>,
    end_date: u32,
    start_offset: u32,
    exceptions: Vec<Exception>,
}

struct Rd<'a> {
    b: &'a [u8],
    at: usize,
}

impl Rd<'_> {
    fn u16(&mut self) -> Option<u16> {
        let v = self.b.get(self.at..self.at + 2)?;
        self.at += 2;
        Some(u16::from_le_bytes([v[0], v[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        let v = self.b.get(self.at..self.at + 4)?;
        self.at += 4;
        Some(u32::from_le_bytes([v[0], v[1], v[2], v[3]]))
    }
    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        let v = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(v)
    }
    fn list(&mut self) -> Option<Vec<u32>> {
        let n = self.u32()? as usize;
        if n > self.b.len() / 4 {
            return None;
        }
        (0..n).map(|_| self.u32()).collect()
    }
}

impl Recurrence {
    fn parse(b: &[u8], appointment: bool) -> Option<Recurrence> {
        let mut r = Rd { b, at: 4 };
        let mut rec = Recurrence {
            frequency: r.u16()?,
            pattern: r.u16()?,
            ..Default::default()
        };
        let _calendar = r.u16()?;
        let _first = r.u32()?;
        rec.period = r.u32()?;
        let _sliding = r.u32()?;
        match rec.pattern {
            1 => rec.day_mask = r.u32()?,
            2 | 4 | 0xA | 0xC => rec.day_of_month = r.u32()?,
            3 | 0xB => {
                rec.day_mask = r.u32()?;
                rec.nth = r.u32()?;
            }
            _ => {}
        }
        rec.end_type = r.u32()?;
        rec.count = r.u32()?;
        rec.first_dow = r.u32()?;
        rec.deleted = r.list()?;
        rec.modified = r.list()?;
        let _start_date = r.u32()?;
        rec.end_date = r.u32()?;
        if !appointment {
            return Some(rec);
        }
        let _reader2 = r.u32()?;
        let writer2 = r.u32()?;
        rec.start_offset = r.u32()?;
        let _end_offset = r.u32()?;
        let n = r.u16()? as usize;
        let mut flags_list = Vec::new();
        for _ in 0..n {
            let mut ex = Exception {
                start: r.u32()?,
                end: r.u32()?,
                original_start: r.u32()?,
                ..Default::default()
            };
            let flags = r.u16()?;
            if flags & 0x1 != 0 {
                let _len = r.u16()?;
                let len2 = r.u16()? as usize;
                ex.subject = Some(crate::ltp::decode_cp(r.bytes(len2)?, 1252));
            }
            if flags & 0x2 != 0 {
                r.u32()?;
            }
            if flags & 0x4 != 0 {
                r.u32()?;
            }
            if flags & 0x8 != 0 {
                r.u32()?;
            }
            if flags & 0x10 != 0 {
                let _len = r.u16()?;
                let len2 = r.u16()? as usize;
                ex.location = Some(crate::ltp::decode_cp(r.bytes(len2)?, 1252));
            }
            for bit in [0x20u16, 0x40, 0x80, 0x100] {
                if flags & bit != 0 {
                    r.u32()?;
                }
            }
            flags_list.push(flags);
            rec.exceptions.push(ex);
        }
        // Extended exceptions carry the Unicode subject and location.
        let parse_ext = |r: &mut Rd<'_>, rec: &mut Recurrence| -> Option<()> {
            let skip = r.u32()? as usize;
            r.bytes(skip)?;
            for (i, flags) in flags_list.iter().enumerate() {
                if writer2 >= 0x3009 {
                    let sz = r.u32()? as usize;
                    r.bytes(sz)?;
                }
                let sz = r.u32()? as usize;
                r.bytes(sz)?;
                if flags & 0x11 != 0 {
                    r.u32()?;
                    r.u32()?;
                    r.u32()?;
                    if flags & 0x1 != 0 {
                        let n = r.u16()? as usize;
                        let s = crate::ltp::utf16(r.bytes(n * 2)?);
                        rec.exceptions[i].subject = Some(s);
                    }
                    if flags & 0x10 != 0 {
                        let n = r.u16()? as usize;
                        let s = crate::ltp::utf16(r.bytes(n * 2)?);
                        rec.exceptions[i].location = Some(s);
                    }
                    let sz = r.u32()? as usize;
                    r.bytes(sz)?;
                }
            }
            Some(())
        };
        let _ = parse_ext(&mut r, &mut rec);
        Some(rec)
    }

    fn rrule(&self, local_start: i64, all_day: bool, tz: Option<&TzRule>) -> String {
        const D: [&str; 7] = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"];
        let days = |mask: u32| -> String {
            (0..7)
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| D[i])
                .collect::<Vec<_>>()
                .join(",")
        };
        let (_, month, ..) = time::split(local_start);
        let yearly = self.frequency == 0x200D;
        let mut r = match (self.pattern, self.frequency) {
            (0, _) => format!("FREQ=DAILY;INTERVAL={}", (self.period / 1440).max(1)),
            (1, 0x200A) => format!("FREQ=WEEKLY;BYDAY={}", days(self.day_mask)),
            (1, _) => format!(
                "FREQ=WEEKLY;INTERVAL={};BYDAY={}",
                self.period.max(1),
                days(self.day_mask)
            ),
            (2 | 4 | 0xA | 0xC, _) => {
                let dom = if self.pattern == 4 || self.pattern == 0xC || self.day_of_month >= 31 {
                    "-1".to_string()
                } else {
                    self.day_of_month.to_string()
                };
                if yearly {
                    format!(
                        "FREQ=YEARLY;INTERVAL={};BYMONTH={month};BYMONTHDAY={dom}",
                        (self.period / 12).max(1)
                    )
                } else {
                    format!(
                        "FREQ=MONTHLY;INTERVAL={};BYMONTHDAY={dom}",
                        self.period.max(1)
                    )
                }
            }
            (3 | 0xB, _) => {
                let pos = if self.nth >= 5 {
                    -1
                } else {
                    self.nth.max(1) as i64
                };
                if yearly {
                    format!(
                        "FREQ=YEARLY;INTERVAL={};BYMONTH={month};BYDAY={};BYSETPOS={pos}",
                        (self.period / 12).max(1),
                        days(self.day_mask)
                    )
                } else {
                    format!(
                        "FREQ=MONTHLY;INTERVAL={};BYDAY={};BYSETPOS={pos}",
                        self.period.max(1),
                        days(self.day_mask)
                    )
                }
            }
            _ => "FREQ=DAILY".to_string(),
        };
        match self.end_type {
            0x2021 => {
                // UNTIL: the end date's last possible start, in UTC (or a DATE when all-day).
                let local_end =
                    time::minutes_to_unix(self.end_date) + local_start.rem_euclid(86_400);
                if all_day {
                    r.push_str(&format!(";UNTIL={}", time::ical_date(local_end)));
                } else {
                    let off = tz.map_or(0, |t| i64::from(t.offset_at(local_end)) * 60);
                    r.push_str(&format!(";UNTIL={}", time::ical_utc(local_end - off)));
                }
            }
            0x2022 => r.push_str(&format!(";COUNT={}", self.count.max(1))),
            _ => {}
        }
        if self.pattern == 1 && self.first_dow < 7 && self.first_dow != 1 {
            r.push_str(&format!(";WKST={}", D[self.first_dow as usize]));
        }
        r
    }
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

    struct Blob(Vec<u8>);
    impl Blob {
        fn u16(mut self, v: u16) -> Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
        fn u32(mut self, v: u32) -> Self {
            self.0.extend_from_slice(&v.to_le_bytes());
            self
        }
    }

    /// Minutes since 1601 of a date at midnight.
    fn day(y: i64, m: u32, d: u32) -> u32 {
        ((time::days_from_civil(y, m, d) * 86_400 + 11_644_473_600) / 60) as u32
    }

    fn head(freq: u16, pattern: u16, period: u32) -> Blob {
        Blob(Vec::new())
            .u16(0x3004)
            .u16(0x3004)
            .u16(freq)
            .u16(pattern)
            .u16(0)
            .u32(0)
            .u32(period)
            .u32(0)
    }

    #[test]
    fn monthly_nth_weekday_with_count() {
        // Third Wednesday of every month, 10 times.
        let b = head(0x200C, 3, 1)
            .u32(0x08)
            .u32(3)
            .u32(0x2022)
            .u32(10)
            .u32(0)
            .u32(0)
            .u32(0)
            .u32(day(2024, 1, 17))
            .u32(day(2024, 10, 16));
        let r = Recurrence::parse(&b.0, false).expect("parses");
        let start = time::days_from_civil(2024, 1, 17) * 86_400 + 9 * 3600;
        assert_eq!(
            r.rrule(start, false, None),
            "FREQ=MONTHLY;INTERVAL=1;BYDAY=WE;BYSETPOS=3;COUNT=10"
        );
    }

    #[test]
    fn yearly_last_day_until_and_exception() {
        // Every year on the last Friday of the start month, until 2030-12-31;
        // one instance deleted, one moved with a new subject.
        let moved_orig = day(2025, 11, 28);
        let b = head(0x200D, 3, 12)
            .u32(0x20)
            .u32(5)
            .u32(0x2021)
            .u32(0)
            .u32(1)
            .u32(2)
            .u32(day(2026, 11, 27))
            .u32(moved_orig)
            .u32(1)
            .u32(moved_orig)
            .u32(day(2024, 11, 29))
            .u32(day(2030, 12, 31))
            .u32(0x3006)
            .u32(0x3009)
            .u32(600)
            .u32(660)
            .u16(1)
            .u32(moved_orig + 720)
            .u32(moved_orig + 780)
            .u32(moved_orig + 600)
            .u16(0x1)
            .u16(6)
            .u16(5);
        let mut blob = b.0;
        blob.extend_from_slice(b"Moved");
        // ReservedBlock1Size; the extended exception part is absent (tolerated).
        let b = Blob(blob).u32(0);
        let r = Recurrence::parse(&b.0, true).expect("parses");
        assert_eq!(r.deleted.len(), 2);
        assert_eq!(r.exceptions.len(), 1);
        assert_eq!(r.exceptions[0].subject.as_deref(), Some("Moved"));
        assert_eq!(r.start_offset, 600);
        let start = time::days_from_civil(2024, 11, 29) * 86_400 + 600 * 60;
        let rule = r.rrule(start, false, None);
        assert!(
            rule.starts_with(
                "FREQ=YEARLY;INTERVAL=1;BYMONTH=11;BYDAY=FR;BYSETPOS=-1;UNTIL=20301231T1000"
            ),
            "{rule}"
        );
    }

    #[test]
    fn hostile_blobs_do_not_panic() {
        for len in 0..64 {
            let _ = Recurrence::parse(&vec![0xff; len], true);
            let _ = Recurrence::parse(&vec![0x00; len], true);
        }
        let huge = head(0x200A, 0, 1440)
            .u32(0x2023)
            .u32(0)
            .u32(0)
            .u32(u32::MAX);
        assert!(Recurrence::parse(&huge.0, true).is_none());
    }
}
