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

/// Parses an IMAP INTERNALDATE into seconds since the epoch (it lives with the IMAP client).
pub use passeur_imap::parse_internal_date;

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
}
