//! The recurrence blobs of appointments and tasks ([MS-OXOCAL] 2.2.1.44
//! RecurrencePattern / AppointmentRecurrencePattern) and their RRULE.

use crate::time::{self, TzRule};

#[derive(Debug, Default)]
pub(crate) struct Exception {
    pub start: u32,
    pub end: u32,
    pub original_start: u32,
    pub subject: Option<String>,
    pub location: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Recurrence {
    pub frequency: u16,
    pub pattern: u16,
    pub period: u32,
    pub day_mask: u32,
    pub day_of_month: u32,
    pub nth: u32,
    pub end_type: u32,
    pub count: u32,
    pub first_dow: u32,
    pub deleted: Vec<u32>,
    pub modified: Vec<u32>,
    pub end_date: u32,
    pub start_offset: u32,
    pub exceptions: Vec<Exception>,
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
    pub fn parse(b: &[u8], appointment: bool) -> Option<Recurrence> {
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

    pub fn rrule(&self, local_start: i64, all_day: bool, tz: Option<&TzRule>) -> String {
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
