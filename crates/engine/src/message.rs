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
pub fn parse_internal_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = s.split_once(' ')?;
    let mut d = date.split('-');
    let day: i64 = d.next()?.trim().parse().ok()?;
    let mon = d.next()?;
    let year: i64 = d.next()?.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as i64 + 1;
    let rest = rest.trim_start();
    let (time, zone) = rest.split_once(' ')?;
    let mut t = time.split(':');
    let (hh, mm, ss): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    let zone = zone.trim();
    if zone.len() != 5 {
        return None;
    }
    let sign = match &zone[..1] {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    let zh: i64 = zone[1..3].parse().ok()?;
    let zm: i64 = zone[3..5].parse().ok()?;
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
}
