//! What the engine needs to know of a message without parsing it: its Message-ID, a fingerprint
//! that survives a change of UID, normalised flags and internal dates.

use sha2::{Digest, Sha256};

/// A message's fingerprint: a hash of its Message-ID, internal date (as a UTC instant) and size.
/// It recognises the same message on another server, or under another UIDVALIDITY, without
/// reading its body again.
pub fn fingerprint(message_id: Option<&[u8]>, internal_date: Option<&str>, size: u64) -> String {
    let mut h = Sha256::new();
    h.update(message_id.map(trim_ascii).unwrap_or_default());
    h.update([0]);
    let instant = internal_date.and_then(parse_internal_date);
    h.update(instant.unwrap_or(i64::MIN).to_be_bytes());
    h.update(size.to_be_bytes());
    hex::encode(&h.finalize()[..16])
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// The value of the first `Message-ID` header of a message (or of a header block), unfolded.
pub fn message_id(raw: &[u8]) -> Option<Vec<u8>> {
    let mut lines = raw.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return None;
        }
        const NAME: &[u8] = b"message-id:";
        if line.len() >= NAME.len() && line[..NAME.len()].eq_ignore_ascii_case(NAME) {
            let mut value = line[NAME.len()..].to_vec();
            while let Some(next) = lines.peek() {
                if next.first().is_some_and(|&b| b == b' ' || b == b'\t') {
                    let next = next.strip_suffix(b"\r").unwrap_or(next);
                    value.extend_from_slice(next);
                    lines.next();
                } else {
                    break;
                }
            }
            let v = value.trim_ascii();
            return (!v.is_empty()).then(|| v.to_vec());
        }
    }
    None
}

/// Flags as they should be compared and stored: without `\Recent` (which no client may set),
/// de-duplicated and sorted, system flags case-normalised.
pub fn normalise_flags(flags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent") && !f.is_empty() && f.as_str() != "\\*")
        .map(|f| {
            if f.starts_with('\\') {
                let lower = f.to_ascii_lowercase();
                let mut c = lower.chars();
                match (c.next(), c.next()) {
                    (Some('\\'), Some(first)) => {
                        format!("\\{}{}", first.to_ascii_uppercase(), c.as_str())
                    }
                    _ => f.clone(),
                }
            } else {
                f.clone()
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

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
    fn message_id_is_found_unfolded_and_only_in_the_header() {
        let m = b"From: a\r\nMessage-Id:\r\n <x@y>\r\nSubject: s\r\n\r\nMessage-ID: <body@z>\r\n";
        assert_eq!(message_id(m).unwrap(), b"<x@y>");
        assert_eq!(message_id(b"From: a\n\nMessage-ID: <b>\n"), None);
        assert_eq!(message_id(b"MESSAGE-ID: <q>\n"), Some(b"<q>".to_vec()));
    }

    #[test]
    fn internal_dates_compare_as_instants() {
        assert_eq!(parse_internal_date("01-Jan-1970 00:00:00 +0000"), Some(0));
        assert_eq!(
            parse_internal_date("17-Jul-1996 02:44:25 -0700"),
            parse_internal_date("17-Jul-1996 09:44:25 +0000")
        );
        assert_eq!(
            parse_internal_date(" 2-Feb-2024 10:00:00 +0100"),
            Some(1_706_864_400)
        );
        assert_eq!(parse_internal_date("garbage"), None);
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
        assert!(fingerprint(None, Some("01-Jan-2000 00:00:00 +0\u{e9}0"), 1).len() == 32);
        assert_eq!(
            fingerprint(Some(b" <a@b> "), Some("17-Jul-1996 02:44:25 -0700"), 10),
            fingerprint(Some(b"<a@b>"), Some("17-Jul-1996 09:44:25 +0000"), 10)
        );
        assert_ne!(
            fingerprint(Some(b"<a@b>"), None, 10),
            fingerprint(Some(b"<a@b>"), None, 11)
        );
    }

    #[test]
    fn flags_are_normalised() {
        let f = normalise_flags(&[
            "\\seen".into(),
            "\\Recent".into(),
            "$Label1".into(),
            "\\SEEN".into(),
            "\\Flagged".into(),
        ]);
        assert_eq!(f, vec!["$Label1", "\\Flagged", "\\Seen"]);
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
