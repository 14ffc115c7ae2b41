//! MIME encodings: RFC 2047 encoded words, RFC 2231 parameters, address
//! formatting, header folding and sanitising, quoted-printable and base64.

use base64::Engine as _;

/// Bare LF and CR become CRLF; existing CRLF stay.
pub(crate) fn crlf(d: Vec<u8>) -> Vec<u8> {
    if !d.iter().enumerate().any(|(i, &b)| {
        (b == b'\n' && (i == 0 || d[i - 1] != b'\r'))
            || (b == b'\r' && d.get(i + 1) != Some(&b'\n'))
    }) {
        return d;
    }
    let mut out = Vec::with_capacity(d.len() + d.len() / 32);
    let mut i = 0;
    while i < d.len() {
        match d[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if d.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

pub(crate) fn trim_nul(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

pub(crate) fn name_param(name: &str) -> String {
    if name.is_ascii() {
        format!("\r\n name=\"{}\"", quote_escape(name))
    } else {
        format!("\r\n name=\"{}\"", encode_text(name))
    }
}

pub(crate) fn filename_param(name: &str) -> String {
    if name.is_ascii() {
        format!(";\r\n filename=\"{}\"", quote_escape(name))
    } else {
        let mut enc = String::new();
        for b in name.bytes() {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                enc.push(char::from(b));
            } else {
                enc.push_str(&format!("%{b:02X}"));
            }
        }
        format!(";\r\n filename*=utf-8''{enc}")
    }
}

pub(crate) fn quote_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The header fields of a transport header block, each unfolded-safe (CRLF inside).
pub(crate) fn header_fields(h: &str) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for line in h.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            if fields.is_empty() {
                continue;
            }
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.push_str("\r\n");
                last.push_str(line);
            }
        } else if line.contains(':') {
            fields.push(line.to_string());
        }
    }
    fields
}

/// A header value from the PST, without line breaks or other controls (no header injection).
pub(crate) fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

/// "Name" <email>, with RFC 2047 for non-ASCII names.
pub(crate) fn address(name: &str, email: &str) -> String {
    let name = clean(name);
    let name = name.as_str();
    let email: String = clean(email)
        .chars()
        .filter(|c| !matches!(c, ' ' | '<' | '>' | '"' | ',' | ';'))
        .collect();
    let email = email.as_str();
    if email.is_empty() {
        return format!(
            "{}:;",
            encode_word_phrase(if name.is_empty() { "unknown" } else { name })
        );
    }
    if name.is_empty() || name == email {
        return format!("<{email}>");
    }
    format!("{} <{email}>", encode_word_phrase(name))
}

pub(crate) fn encode_word_phrase(s: &str) -> String {
    if s.is_ascii() {
        format!("\"{}\"", quote_escape(s))
    } else {
        encode_text(s)
    }
}

/// RFC 2047 B-encoding for non-ASCII text (chunks of at most 39 bytes: lines stay under 78).
pub(crate) fn encode_text(s: &str) -> String {
    if s.is_ascii() && !s.contains("=?") {
        return s.replace(['\r', '\n'], " ");
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 39 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| {
            format!(
                "=?UTF-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(w.as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// "Name: value\r\n", folded at spaces when over 78 characters.
pub(crate) fn fold(name: &str, value: &str) -> String {
    if value.contains("\r\n") {
        // Already folded by us (encoded words, address lists).
        return format!("{name}: {value}\r\n");
    }
    let mut out = format!("{name}: ");
    let mut line_len = out.len();
    for (i, word) in value.split(' ').enumerate() {
        if i > 0 {
            if line_len + 1 + word.len() > 78 && line_len > name.len() + 2 {
                out.push_str("\r\n ");
                line_len = 1;
            } else {
                out.push(' ');
                line_len += 1;
            }
        }
        out.push_str(word);
        line_len = match word.rfind('\n') {
            Some(p) => word.len() - p,
            None => line_len + word.len(),
        };
    }
    out.push_str("\r\n");
    out
}

pub(crate) fn base64_lines(d: &[u8]) -> Vec<u8> {
    let enc = base64::engine::general_purpose::STANDARD.encode(d);
    let mut out = Vec::with_capacity(enc.len() + enc.len() / 76 * 2 + 2);
    for chunk in enc.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// "=XX" without going through the formatter (this runs once per encoded byte).
fn push_hex(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.extend_from_slice(&[b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
}

/// Quoted-printable with CRLF line ends (bare LF/CR become CRLF).
pub(crate) fn quoted_printable(d: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(d.len() + d.len() / 8);
    let mut line_len = 0;
    let mut i = 0;
    while i < d.len() {
        let b = d[i];
        if b == b'\r' || b == b'\n' {
            // Trailing space before a line break must be encoded.
            if let Some(&last) = out.last()
                && (last == b' ' || last == b'\t')
            {
                out.pop();
                push_hex(&mut out, last);
            }
            out.extend_from_slice(b"\r\n");
            line_len = 0;
            if b == b'\r' && d.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
            i += 1;
            continue;
        }
        let enc = !(b == b'\t' || (32..=126).contains(&b)) || b == b'=';
        let need = if enc { 3 } else { 1 };
        if line_len + need > 75 {
            out.extend_from_slice(b"=\r\n");
            line_len = 0;
        }
        if enc {
            push_hex(&mut out, b);
        } else {
            out.push(b);
        }
        line_len += need;
        i += 1;
    }
    if let Some(&last) = out.last()
        && (last == b' ' || last == b'\t')
    {
        out.pop();
        push_hex(&mut out, last);
    }
    out.extend_from_slice(b"\r\n");
    out
}

pub(crate) fn guess_type(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "txt" | "log" => "text/plain",
        "htm" | "html" => "text/html",
        "csv" => "text/csv",
        "rtf" => "application/rtf",
        "pdf" => "application/pdf",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "zip" => "application/zip",
        "eml" => "message/rfc822",
        "ics" => "text/calendar",
        "vcf" => "text/vcard",
        "xml" => "application/xml",
        "msg" => "application/vnd.ms-outlook",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qp_round_trips_lines() {
        let q = quoted_printable("a=b é \nnext".as_bytes());
        assert_eq!(q, b"a=3Db =C3=A9=20\r\nnext\r\n".to_vec());
    }

    #[test]
    fn addresses() {
        assert_eq!(
            address("Jane Doe", "jane@x.org"),
            "\"Jane Doe\" <jane@x.org>"
        );
        assert_eq!(address("", "jane@x.org"), "<jane@x.org>");
        assert!(address("Zoë", "z@x.org").starts_with("=?UTF-8?B?"));
        assert_eq!(address("Only Name", ""), "\"Only Name\":;");
        assert_eq!(
            address("Evil\r\nBcc: x@y", "a@b.c\r\nX: y"),
            "\"Evil  Bcc: x@y\" <a@b.cX:y>"
        );
    }

    #[test]
    fn crlf_normalisation() {
        assert_eq!(crlf(b"a\nb\r\nc\rd".to_vec()), b"a\r\nb\r\nc\r\nd".to_vec());
        assert_eq!(crlf(b"a\r\nb".to_vec()), b"a\r\nb".to_vec());
    }

    #[test]
    fn folded_values_are_not_folded_twice() {
        let long = "é".repeat(60);
        let h = fold("Subject", &encode_text(&long));
        assert!(!h.contains("\r\n\r\n"), "{h}");
        assert!(h.lines().all(|l| l.len() <= 78), "{h}");
        let ascii = "word ".repeat(40);
        let h = fold("Subject", ascii.trim());
        assert!(h.lines().all(|l| l.len() <= 78), "{h}");
    }
}
