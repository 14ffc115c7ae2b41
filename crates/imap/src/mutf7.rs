//! Modified UTF-7 (RFC 3501 §5.1.3), the wire form of mailbox names.
//!
//! Printable ASCII stands for itself except `&`, written `&-`; any other run
//! of characters is UTF-16, base64-encoded with `,` instead of `/`, without
//! padding, between `&` and `-`.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn is_direct(c: char) -> bool {
    ('\u{20}'..='\u{7e}').contains(&c)
}

/// Encodes a Unicode mailbox name to its wire form.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run: Vec<u16> = Vec::new();
    let flush = |run: &mut Vec<u16>, out: &mut String| {
        if run.is_empty() {
            return;
        }
        out.push('&');
        let bytes: Vec<u8> = run.iter().flat_map(|u| u.to_be_bytes()).collect();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let chars = chunk.len() + 1;
            for i in 0..chars {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out.push('-');
        run.clear();
    };
    for c in s.chars() {
        if is_direct(c) {
            flush(&mut run, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Decodes a wire-form mailbox name; None if it is not valid modified UTF-7.
pub fn decode(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.char_indices();
    while let Some((i, c)) = it.next() {
        if c != '&' {
            if !is_direct(c) {
                return None;
            }
            out.push(c);
            continue;
        }
        let rest = &s[i + 1..];
        let end = rest.find('-')?;
        let enc = &rest[..end];
        // Skip the encoded run and its '-'.
        for _ in 0..=enc.chars().count() {
            it.next();
        }
        if enc.is_empty() {
            out.push('&');
            continue;
        }
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut bytes = Vec::with_capacity(enc.len());
        for b in enc.bytes() {
            let v = B64.iter().position(|&x| x == b)? as u32;
            bits = (bits << 6) | v;
            nbits += 6;
            if nbits >= 8 {
                nbits -= 8;
                bytes.push((bits >> nbits) as u8);
                bits &= (1 << nbits) - 1;
            }
        }
        // Leftover bits must be zero padding, and whole UTF-16 units.
        if bits != 0 || bytes.is_empty() || bytes.len() % 2 != 0 {
            return None;
        }
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
            .collect();
        let decoded = String::from_utf16(&units).ok()?;
        // An encoded run must not hold characters that have a direct form.
        if decoded.chars().any(is_direct) {
            return None;
        }
        out.push_str(&decoded);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (plain, wire) in [
            ("Entwürfe & Notizen", "Entw&APw-rfe &- Notizen"),
            ("請求書", "&istsQmb4-"),
            ("Reçus/Été 2023", "Re&AOc-us/&AMk-t&AOk- 2023"),
            ("INBOX", "INBOX"),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("😀", "&2D3eAA-"),
            ("", ""),
        ] {
            assert_eq!(encode(plain), wire, "{plain}");
            assert_eq!(decode(wire).as_deref(), Some(plain), "{wire}");
        }
    }

    #[test]
    fn rejects_invalid_input() {
        for bad in ["&", "&AOc", "&A-", "&AGE-", "é", "&Jjo!-"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }

    /// Random names from the characters modified UTF-7 is made of (and some that break it):
    /// decode returns, never panics, and what it accepts encodes back to a name it decodes
    /// the same.
    #[test]
    fn decode_survives_random_input() {
        const ALPHABET: &[&str] = &[
            "&", "-", "&-", "A", "Z", "a", "+", ",", "/", "0", "9", "&AOk-", "&2D3cAA-", "\u{e9}",
            " ", "~", "\u{7f}", "\0",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..100_000 {
            let len = (next() % 16) as usize;
            let s: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            if let Some(d) = decode(&s) {
                assert_eq!(decode(&encode(&d)).as_deref(), Some(d.as_str()), "{s:?}");
            }
        }
    }
}
