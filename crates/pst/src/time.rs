//! Dates: FILETIME conversions, RFC 5322 / IMAP / iCalendar formatting, and
//! Outlook time zone rules (TZREG / TZDEFINITION) as VTIMEZONE.

const FILETIME_UNIX_DIFF: i64 = 11_644_473_600;
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// FILETIME (100 ns since 1601) to Unix seconds; None for the "no date" values.
pub(crate) fn filetime_to_unix(ft: i64) -> Option<i64> {
    if ft <= 0 || ft >= 0x7fff_0000_0000_0000 {
        return None;
    }
    let s = ft / 10_000_000 - FILETIME_UNIX_DIFF;
    // Outlook writes 4501-01-01 for "none".
    if s > 32_503_680_000 {
        return None;
    }
    Some(s)
}

/// Minutes since 1601 (recurrence blobs) to Unix seconds.
pub(crate) fn minutes_to_unix(m: u32) -> i64 {
    i64::from(m) * 60 - FILETIME_UNIX_DIFF
}

pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Broken-down time: (year, month, day, hour, minute, second, weekday 0=Sunday).
pub(crate) fn split(unix: i64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let wd = (days + 4).rem_euclid(7) as u32;
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        ((secs / 60) % 60) as u32,
        (secs % 60) as u32,
        wd,
    )
}

/// "Tue, 24 Nov 2026 05:47:48 +0000"
pub(crate) fn rfc5322(unix: i64) -> String {
    let (y, m, d, hh, mm, ss, _) = split(unix);
    let wd = WDAYS[unix.div_euclid(86_400).rem_euclid(7) as usize];
    format!(
        "{wd}, {d:02} {} {y:04} {hh:02}:{mm:02}:{ss:02} +0000",
        MONTHS[(m - 1) as usize]
    )
}

/// IMAP INTERNALDATE: "24-Nov-2026 05:47:48 +0000"
pub(crate) fn imap_date(unix: i64) -> String {
    let (y, m, d, hh, mm, ss, _) = split(unix);
    format!(
        "{d:02}-{}-{y:04} {hh:02}:{mm:02}:{ss:02} +0000",
        MONTHS[(m - 1) as usize]
    )
}

/// iCalendar UTC date-time: 20261124T054748Z
pub(crate) fn ical_utc(unix: i64) -> String {
    let (y, m, d, hh, mm, ss, _) = split(unix);
    format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z")
}

/// iCalendar floating/local date-time: 20261124T054748
pub(crate) fn ical_local(unix_local: i64) -> String {
    let (y, m, d, hh, mm, ss, _) = split(unix_local);
    format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}")
}

/// iCalendar DATE: 20261124
pub(crate) fn ical_date(unix: i64) -> String {
    let (y, m, d, ..) = split(unix);
    format!("{y:04}{m:02}{d:02}")
}

/// A SYSTEMTIME used as a yearly transition rule.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Transition {
    pub month: u16,
    pub dow: u16,
    /// 1..=4, 5 = last
    pub week: u16,
    pub hour: u16,
    pub minute: u16,
}

/// A time zone rule: UTC = local + bias (minutes).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TzRule {
    pub name: String,
    pub bias: i32,
    pub std_bias: i32,
    pub dst_bias: i32,
    pub std: Transition,
    pub dst: Transition,
}

fn systime(b: &[u8]) -> Transition {
    let w = |i: usize| u16::from_le_bytes([b[2 * i], b[2 * i + 1]]);
    Transition {
        month: w(1),
        dow: w(2),
        week: w(3),
        hour: w(4),
        minute: w(5),
    }
}

impl TzRule {
    /// PidLidTimeZoneStruct (TZSTRUCT, 48 bytes).
    pub fn from_struct(b: &[u8], name: &str) -> Option<TzRule> {
        if b.len() < 48 {
            return None;
        }
        let i = |at: usize| i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        Some(TzRule {
            name: name.to_string(),
            bias: i(0),
            std_bias: i(4),
            dst_bias: i(8),
            std: systime(&b[14..30]),
            dst: systime(&b[32..48]),
        })
    }

    /// TZDEFINITION (PidLidAppointmentTimeZoneDefinition*): the effective rule
    /// (flag TZRULE_FLAG_EFFECTIVE_TZREG), else the last one.
    pub fn from_definition(b: &[u8]) -> Option<TzRule> {
        if b.len() < 8 || b[0] != 2 {
            return None;
        }
        let cb_header = usize::from(u16::from_le_bytes([b[2], b[3]]));
        let cch = usize::from(u16::from_le_bytes([b[6], b[7]]));
        let name = crate::ltp::utf16(b.get(8..8 + 2 * cch)?);
        // cbHeader counts wReserved, cchKeyName, KeyName and cRules.
        let at = (4 + cb_header).checked_sub(2)?;
        let n = usize::from(u16::from_le_bytes([*b.get(at)?, *b.get(at + 1)?]));
        let mut chosen = None;
        for k in 0..n.min(1024) {
            let r = b.get(at + 2 + 66 * k..at + 2 + 66 * (k + 1))?;
            let flags = u16::from_le_bytes([r[4], r[5]]);
            let i = |o: usize| i32::from_le_bytes([r[o], r[o + 1], r[o + 2], r[o + 3]]);
            let rule = TzRule {
                name: name.clone(),
                bias: i(22),
                std_bias: i(26),
                dst_bias: i(30),
                std: systime(&r[34..50]),
                dst: systime(&r[50..66]),
            };
            let effective = flags & 0x2 != 0;
            chosen = Some(rule);
            if effective {
                break;
            }
        }
        chosen
    }

    pub fn has_dst(&self) -> bool {
        self.std.month != 0 && self.dst.month != 0 && self.dst_bias != self.std_bias
    }

    fn std_offset(&self) -> i32 {
        -(self.bias + self.std_bias)
    }
    fn dst_offset(&self) -> i32 {
        -(self.bias + self.dst_bias)
    }

    /// The local wall time (as Unix-like seconds) of the transition in `year`.
    fn transition_local(t: &Transition, year: i64) -> i64 {
        let month = u32::from(t.month.clamp(1, 12));
        let first = days_from_civil(year, month, 1);
        let first_wd = (first + 4).rem_euclid(7);
        let mut day = (i64::from(t.dow % 7) - first_wd).rem_euclid(7);
        let week = i64::from(t.week.clamp(1, 5));
        day += 7 * (week - 1);
        let next = if month == 12 {
            days_from_civil(year + 1, 1, 1)
        } else {
            days_from_civil(year, month + 1, 1)
        };
        while first + day >= next {
            day -= 7;
        }
        (first + day) * 86_400 + i64::from(t.hour) * 3600 + i64::from(t.minute) * 60
    }

    /// Offset east of UTC, in minutes, at a UTC instant.
    pub fn offset_at(&self, unix: i64) -> i32 {
        if !self.has_dst() {
            return self.std_offset();
        }
        let year = split(unix + i64::from(self.std_offset()) * 60).0;
        // DST starts at local standard time, ends at local daylight time.
        let start = Self::transition_local(&self.dst, year) - i64::from(self.std_offset()) * 60;
        let end = Self::transition_local(&self.std, year) - i64::from(self.dst_offset()) * 60;
        let in_dst = if start < end {
            unix >= start && unix < end
        } else {
            unix >= start || unix < end
        };
        if in_dst {
            self.dst_offset()
        } else {
            self.std_offset()
        }
    }

    pub fn to_local(&self, unix: i64) -> i64 {
        unix + i64::from(self.offset_at(unix)) * 60
    }

    pub fn tzid(&self) -> String {
        if self.name.trim().is_empty() {
            let o = self.std_offset();
            format!(
                "UTC{}{:02}{:02}",
                if o < 0 { '-' } else { '+' },
                o.abs() / 60,
                o.abs() % 60
            )
        } else {
            self.name.trim().to_string()
        }
    }

    /// The VTIMEZONE component (CRLF lines).
    pub fn vtimezone(&self) -> String {
        fn off(m: i32) -> String {
            format!(
                "{}{:02}{:02}",
                if m < 0 { '-' } else { '+' },
                m.abs() / 60,
                m.abs() % 60
            )
        }
        fn byday(t: &Transition) -> String {
            const D: [&str; 7] = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"];
            let n = if t.week >= 5 {
                -1
            } else {
                i32::from(t.week.max(1))
            };
            format!(
                "FREQ=YEARLY;BYMONTH={};BYDAY={n}{}",
                t.month,
                D[usize::from(t.dow % 7)]
            )
        }
        let mut s = String::new();
        s.push_str("BEGIN:VTIMEZONE\r\n");
        s.push_str(&crate::ical::prop_line("TZID", &[], &self.tzid()));
        if self.has_dst() {
            let (so, dso) = (self.std_offset(), self.dst_offset());
            s.push_str("BEGIN:STANDARD\r\n");
            s.push_str(&format!(
                "DTSTART:16010101T{:02}{:02}00\r\nRRULE:{}\r\nTZOFFSETFROM:{}\r\nTZOFFSETTO:{}\r\n",
                self.std.hour,
                self.std.minute,
                byday(&self.std),
                off(dso),
                off(so)
            ));
            s.push_str("END:STANDARD\r\nBEGIN:DAYLIGHT\r\n");
            s.push_str(&format!(
                "DTSTART:16010101T{:02}{:02}00\r\nRRULE:{}\r\nTZOFFSETFROM:{}\r\nTZOFFSETTO:{}\r\n",
                self.dst.hour,
                self.dst.minute,
                byday(&self.dst),
                off(so),
                off(dso)
            ));
            s.push_str("END:DAYLIGHT\r\n");
        } else {
            let so = self.std_offset();
            s.push_str(&format!(
                "BEGIN:STANDARD\r\nDTSTART:16010101T000000\r\nTZOFFSETFROM:{}\r\nTZOFFSETTO:{}\r\nEND:STANDARD\r\n",
                off(so),
                off(so)
            ));
        }
        s.push_str("END:VTIMEZONE\r\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(rfc5322(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(imap_date(1_700_000_000), "14-Nov-2023 22:13:20 +0000");
        assert_eq!(ical_utc(1_700_000_000), "20231114T221320Z");
        assert_eq!(filetime_to_unix(116_444_736_000_000_000), Some(0));
    }

    #[test]
    fn dst_offsets_follow_the_rule() {
        // Central Europe: bias -60, DST -60; last Sunday of March 02:00, last Sunday of October 03:00.
        let r = TzRule {
            name: "W. Europe Standard Time".into(),
            bias: -60,
            std_bias: 0,
            dst_bias: -60,
            std: Transition {
                month: 10,
                dow: 0,
                week: 5,
                hour: 3,
                minute: 0,
            },
            dst: Transition {
                month: 3,
                dow: 0,
                week: 5,
                hour: 2,
                minute: 0,
            },
        };
        // 2024-07-01T12:00Z is summer: +120; 2024-01-15 is winter: +60.
        assert_eq!(
            r.offset_at(days_from_civil(2024, 7, 1) * 86_400 + 43_200),
            120
        );
        assert_eq!(r.offset_at(days_from_civil(2024, 1, 15) * 86_400), 60);
        // DST began 2024-03-31 01:00Z.
        assert_eq!(
            r.offset_at(days_from_civil(2024, 3, 31) * 86_400 + 3_599),
            60
        );
        assert_eq!(
            r.offset_at(days_from_civil(2024, 3, 31) * 86_400 + 3_600),
            120
        );
    }
}
