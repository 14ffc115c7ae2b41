//! The small encoders the corpus needs: base64, quoted-printable, RFC 2047, modified UTF-7,
//! and RFC 5322 dates. Written for generation only (well-formed input, no decoding).

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Base64 without line breaks, with padding.
pub fn base64(data: &[u8]) -> String {
    base64_with(data, B64, true)
}

fn base64_with(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let n = chunk.len() + 1;
        for i in 0..4 {
            if i < n {
                out.push(alphabet[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Base64 body lines of 76 characters, LF-terminated.
pub fn base64_lines(data: &[u8], out: &mut Vec<u8>) {
    for chunk in data.chunks(57) {
        out.extend_from_slice(base64(chunk).as_bytes());
        out.push(b'\n');
    }
}

/// Quoted-printable body (RFC 2045), LF line ends, soft breaks before 76 columns.
pub fn quoted_printable(text: &str, out: &mut Vec<u8>) {
    for line in text.split('\n') {
        let bytes = line.as_bytes();
        let mut col = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let literal =
                (b == b' ' || b == b'\t') && !last || (33..=126).contains(&b) && b != b'=';
            let width = if literal { 1 } else { 3 };
            if col + width > 75 {
                out.extend_from_slice(b"=\n");
                col = 0;
            }
            if literal {
                out.push(b);
            } else {
                out.extend_from_slice(format!("={b:02X}").as_bytes());
            }
            col += width;
        }
        out.push(b'\n');
    }
    // split() yields a final empty piece after a trailing LF: drop the extra LF.
    if text.ends_with('\n') {
        out.pop();
    }
}

/// RFC 2047 `B` encoding in UTF-8, split into encoded-words of at most 75 characters.
pub fn rfc2047_b(text: &str) -> String {
    let mut words = Vec::new();
    let mut cur = String::new();
    for ch in text.chars() {
        let mut next = cur.clone();
        next.push(ch);
        // "=?UTF-8?B?" + base64 + "?=" must stay within 75 characters.
        if 12 + next.len().div_ceil(3) * 4 > 75 && !cur.is_empty() {
            words.push(format!("=?UTF-8?B?{}?=", base64(cur.as_bytes())));
            cur.clear();
        }
        cur.push(ch);
    }
    if !cur.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", base64(cur.as_bytes())));
    }
    words.join("\n ")
}

/// RFC 2047 `Q` encoding of `text` in `charset` (`UTF-8` or `ISO-8859-1`; for the latter
/// every char must be Latin-1).
pub fn rfc2047_q(text: &str, charset: &str) -> String {
    let bytes: Vec<u8> = if charset.eq_ignore_ascii_case("ISO-8859-1") {
        text.chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect()
    } else {
        text.as_bytes().to_vec()
    };
    let prefix = format!("=?{charset}?Q?");
    let mut words = Vec::new();
    let mut cur = String::new();
    for b in bytes {
        let piece = match b {
            b' ' => "_".to_string(),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'!' | b'*' | b'+' | b'-' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("={b:02X}"),
        };
        // Keep multi-byte UTF-8 sequences in one word: only break before a lead byte.
        let continuation = (0x80..0xC0).contains(&b) && !charset.eq_ignore_ascii_case("ISO-8859-1");
        if prefix.len() + cur.len() + piece.len() + 2 > 75 && !continuation && !cur.is_empty() {
            words.push(format!("{prefix}{cur}?="));
            cur.clear();
        }
        cur.push_str(&piece);
    }
    words.push(format!("{prefix}{cur}?="));
    words.join("\n ")
}

/// RFC 2231 extended parameter value (`UTF-8''...` percent-encoded).
pub fn rfc2231(text: &str) -> String {
    let mut out = String::from("UTF-8''");
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const MUTF7: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// IMAP modified UTF-7 (RFC 3501 §5.1.3) of one mailbox name.
pub fn mutf7_encode(name: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&base64_with(&bytes, MUTF7, false));
        out.push('-');
        pending.clear();
    };
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut pending, &mut out);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes IMAP modified UTF-7; `None` if malformed.
pub fn mutf7_decode(name: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = name;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let end = after.find('-')?;
        let enc = &after[..end];
        if enc.is_empty() {
            out.push('&');
        } else {
            let mut bits: u32 = 0;
            let mut nbits = 0;
            let mut bytes = Vec::new();
            for c in enc.bytes() {
                let v = MUTF7.iter().position(|&a| a == c)? as u32;
                bits = (bits << 6) | v;
                nbits += 6;
                if nbits >= 8 {
                    nbits -= 8;
                    bytes.push((bits >> nbits) as u8);
                    bits &= (1 << nbits) - 1;
                }
            }
            let units: Vec<u16> = bytes
                .chunks(2)
                .filter(|c| c.len() == 2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            out.push_str(&String::from_utf16(&units).ok()?);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) to days since 1970-01-01.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// RFC 5322 date of the instant `unix` shown in the zone `offset_min` minutes east of UTC.
pub fn rfc5322_date(unix: i64, offset_min: i32) -> String {
    let local = unix + i64::from(offset_min) * 60;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let sign = if offset_min < 0 { '-' } else { '+' };
    let off = offset_min.unsigned_abs();
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} {}{:02}{:02}",
        WEEKDAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        sign,
        off / 60,
        off % 60
    )
}

/// The IMAP INTERNALDATE form (`24-Nov-2026 05:47:00 +0000`) of a UTC instant.
pub fn imap_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:02}-{}-{} {:02}:{:02}:{:02} +0000",
        d,
        MONTHS[(m - 1) as usize],
        y,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Parses an IMAP INTERNALDATE (`d-Mon-yyyy hh:mm:ss +zzzz`) into a UTC instant.
pub fn parse_imap_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = s.split_once(' ')?;
    let (time, zone) = rest.trim().split_once(' ')?;
    let mut dp = date.trim().split('-');
    let d: u32 = dp.next()?.trim().parse().ok()?;
    let mon = dp.next()?;
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(mon))? as u32 + 1;
    let y: i64 = dp.next()?.parse().ok()?;
    let mut tp = time.split(':');
    let hh: i64 = tp.next()?.parse().ok()?;
    let mm: i64 = tp.next()?.parse().ok()?;
    let ss: i64 = tp.next()?.parse().ok()?;
    let zb = zone.as_bytes();
    if zb.len() != 5 {
        return None;
    }
    let zh: i64 = zone.get(1..3)?.parse().ok()?;
    let zm: i64 = zone.get(3..5)?.parse().ok()?;
    let off = (zh * 60 + zm) * if zb[0] == b'-' { -1 } else { 1 };
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss - off * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutf7_round_trips_the_corpus_names() {
        assert_eq!(mutf7_encode("Persönlich"), "Pers&APY-nlich");
        assert_eq!(
            mutf7_encode("Entwürfe & Notizen"),
            "Entw&APw-rfe &- Notizen"
        );
        assert_eq!(mutf7_encode("Été 2023"), "&AMk-t&AOk- 2023");
        for n in ["請求書", "Reçus", "a&b", "😀 emoji", "plain"] {
            assert_eq!(mutf7_decode(&mutf7_encode(n)).as_deref(), Some(n));
        }
        assert_eq!(mutf7_decode("&Ti1lhw-"), Some("中文".to_string()));
        assert_eq!(mutf7_decode("bad&AB"), None);
    }

    #[test]
    fn dates_and_base64() {
        assert_eq!(base64(b"hello!?"), "aGVsbG8hPw==");
        assert_eq!(rfc5322_date(0, 60), "Thu, 1 Jan 1970 01:00:00 +0100");
        assert_eq!(imap_date(1_700_000_000), "14-Nov-2023 22:13:20 +0000");
        assert_eq!(
            parse_imap_date("14-Nov-2023 23:13:20 +0100"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_imap_date(" 4-Jan-2019 00:00:00 +0000"),
            Some(1_546_560_000)
        );
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn qp_and_rfc2047() {
        let mut out = Vec::new();
        quoted_printable("Grüße = ok \nnext", &mut out);
        assert_eq!(out, b"Gr=C3=BC=C3=9Fe =3D ok=20\nnext\n");
        assert_eq!(
            rfc2047_q("Café au lait", "ISO-8859-1"),
            "=?ISO-8859-1?Q?Caf=E9_au_lait?="
        );
        assert_eq!(rfc2047_b("é"), "=?UTF-8?B?w6k=?=");
        let long = rfc2047_b(&"ü".repeat(60));
        assert!(long.lines().all(|l| l.trim().len() <= 75), "{long}");
    }
}
