//! Content lines (RFC 5545 §3.1, RFC 6350 §3.2, vCard 2.1): unfolding from a byte
//! stream, parsing into name / parameters / value, and folding back.
//!
//! The reader works on bytes, so a vCard 2.1 value in Shift_JIS or Latin-1 reaches
//! the converter untouched; names and parameters are ASCII in practice and are
//! decoded leniently.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read};

/// Longest line accepted, physical (between line ends) or logical (unfolded). A content line
/// is a property; nothing legitimate comes near this, and a longer one would be held whole.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// One unfolded content line and the physical line number (1-based) it starts on.
#[derive(Debug, Clone)]
pub(crate) struct Logical {
    pub bytes: Vec<u8>,
    pub line: usize,
}

/// Turns a byte stream into logical (unfolded) lines.
///
/// With `vcard21` set it also joins two vCard 2.1 habits: quoted-printable soft line
/// breaks (a value ending in `=` continues on the next line, unindented) and base64
/// data whose continuation lines are not indented (ended by a blank line).
pub(crate) struct Unfolder<R> {
    reader: Input<R>,
    max_line: usize,
    next_no: usize,
    queue: VecDeque<(Vec<u8>, usize)>,
    peeked: Option<(Vec<u8>, usize)>,
    vcard21: bool,
    eof: bool,
    first: bool,
}

/// The bytes under the unfolder: as they are, or UTF-16 transcoded to UTF-8 as they are read.
enum Input<R> {
    Plain(R),
    Utf16(Box<Utf16<R>>),
    /// Only while switching to UTF-16.
    Gone,
}

impl<R: BufRead> Read for Input<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Input<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            Input::Plain(r) => r.fill_buf(),
            Input::Utf16(u) => u.fill_buf(),
            Input::Gone => Ok(&[]),
        }
    }

    fn consume(&mut self, n: usize) {
        match self {
            Input::Plain(r) => r.consume(n),
            Input::Utf16(u) => u.pos += n,
            Input::Gone => {}
        }
    }
}

/// A UTF-16 byte stream read as UTF-8, one chunk at a time.
struct Utf16<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    out: Vec<u8>,
    pos: usize,
    finished: bool,
}

impl<R: BufRead> Utf16<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.out.len() && !self.finished {
            self.out.clear();
            self.pos = 0;
            let input = self.inner.fill_buf()?;
            let last = input.is_empty();
            let room = self
                .decoder
                .max_utf8_buffer_length(input.len())
                .unwrap_or(input.len() * 3 + 16);
            self.out.resize(room, 0);
            let (_, read, written, _) = self.decoder.decode_to_utf8(input, &mut self.out, last);
            self.out.truncate(written);
            self.inner.consume(read);
            self.finished = last;
        }
        Ok(&self.out[self.pos.min(self.out.len())..])
    }
}

/// Reads up to and including the next `\n` into `buf`, refusing a line longer than `max`
/// (the error names line `no`) instead of holding it. Returns the bytes read; 0 at the end.
fn read_line_capped(
    r: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
    no: usize,
) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return Ok(total);
        }
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if buf.len() + take > max.saturating_add(2) {
            return Err(line_too_long(no, max));
        }
        buf.extend_from_slice(&avail[..take]);
        r.consume(take);
        total += take;
        if done {
            return Ok(total);
        }
    }
}

fn line_too_long(no: usize, max: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        if max >= 1024 * 1024 {
            format!(
                "line {no} is longer than {} MiB; it is not read",
                max / (1024 * 1024)
            )
        } else {
            format!("line {no} is longer than {max} bytes; it is not read")
        },
    )
}

impl<R: BufRead> Unfolder<R> {
    pub fn new(reader: R, vcard21: bool) -> Self {
        Unfolder {
            reader: Input::Plain(reader),
            max_line: MAX_LINE_BYTES,
            next_no: 1,
            queue: VecDeque::new(),
            peeked: None,
            vcard21,
            eof: false,
            first: true,
        }
    }

    /// Sets the longest line accepted (default [`MAX_LINE_BYTES`]).
    #[cfg(test)]
    pub fn with_max_line(mut self, max: usize) -> Self {
        self.max_line = max;
        self
    }

    fn physical(&mut self) -> std::io::Result<Option<(Vec<u8>, usize)>> {
        if let Some(p) = self.peeked.take() {
            return Ok(Some(p));
        }
        loop {
            if let Some(p) = self.queue.pop_front() {
                return Ok(Some(p));
            }
            if self.eof {
                return Ok(None);
            }
            if self.first {
                self.detect_utf16()?;
            }
            let mut buf = Vec::new();
            let n = read_line_capped(&mut self.reader, &mut buf, self.max_line, self.next_no)?;
            if n == 0 {
                self.eof = true;
                continue;
            }
            if buf.last() == Some(&b'\n') {
                buf.pop();
            }
            // "\r\r\n" (seen in iOS exports) is one line end too.
            while buf.last() == Some(&b'\r') {
                buf.pop();
            }
            if self.first {
                self.first = false;
                if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
                    buf.drain(..3);
                }
            }
            let no = self.next_no;
            self.next_no += 1;
            // A lone CR inside a line is a line break in files written with old Mac
            // conventions; nothing valid can contain one.
            if buf.contains(&b'\r') {
                for part in buf.split(|b| *b == b'\r') {
                    self.queue.push_back((part.to_vec(), no));
                }
            } else {
                self.queue.push_back((buf, no));
            }
        }
    }

    /// UTF-16 files (some Windows exports) are transcoded to UTF-8 as they are read.
    fn detect_utf16(&mut self) -> std::io::Result<()> {
        let head = self.reader.fill_buf()?;
        let enc = match head {
            [0xFF, 0xFE, ..] => encoding_rs::UTF_16LE,
            [0xFE, 0xFF, ..] => encoding_rs::UTF_16BE,
            _ => return Ok(()),
        };
        if let Input::Plain(r) = std::mem::replace(&mut self.reader, Input::Gone) {
            self.reader = Input::Utf16(Box::new(Utf16 {
                inner: r,
                decoder: enc.new_decoder_with_bom_removal(),
                out: Vec::new(),
                pos: 0,
                finished: false,
            }));
        }
        Ok(())
    }

    /// The next logical line, skipping blank lines; `None` at the end of input.
    pub fn next_logical(&mut self) -> std::io::Result<Option<Logical>> {
        let (mut bytes, line) = loop {
            match self.physical()? {
                None => return Ok(None),
                Some((b, n)) => {
                    if b.iter().all(|c| c.is_ascii_whitespace()) {
                        continue;
                    }
                    break (b, n);
                }
            }
        };
        while let Some((next, no)) = self.physical()? {
            if bytes.len().saturating_add(next.len()) > self.max_line {
                return Err(line_too_long(line, self.max_line));
            }
            if matches!(next.first(), Some(b' ') | Some(b'\t')) {
                bytes.extend_from_slice(&next[1..]);
                continue;
            }
            if self.vcard21 && qp_soft_break(&bytes) {
                bytes.pop();
                bytes.extend_from_slice(&next);
                continue;
            }
            if self.vcard21
                && is_base64_prop(&bytes)
                && !next.is_empty()
                && next
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"+/= ".contains(c))
            {
                bytes.extend(next.iter().filter(|c| **c != b' '));
                continue;
            }
            self.peeked = Some((next, no));
            break;
        }
        Ok(Some(Logical { bytes, line }))
    }
}

/// The part of a content line before the value separator (the first `:` outside quotes).
pub(crate) fn head_len(bytes: &[u8]) -> Option<usize> {
    let mut quoted = false;
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b':' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn qp_soft_break(bytes: &[u8]) -> bool {
    if bytes.last() != Some(&b'=') {
        return false;
    }
    match head_len(bytes) {
        Some(h) => contains_ci(&bytes[..h], b"QUOTED-PRINTABLE"),
        None => false,
    }
}

fn is_base64_prop(bytes: &[u8]) -> bool {
    match head_len(bytes) {
        Some(h) => {
            let head = &bytes[..h];
            contains_ci(head, b"BASE64") || contains_ci(head, b"ENCODING=B")
        }
        None => false,
    }
}

pub(crate) fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Bytes to text: UTF-8 when valid, else Windows-1252 (a superset of Latin-1 for text).
pub(crate) fn lossy(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
    }
}

/// One parameter. `bare` marks a vCard 2.1 parameter written without a name
/// (`TEL;HOME;VOICE:`), which means `TYPE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param {
    pub name: String,
    pub values: Vec<String>,
    pub bare: bool,
}

/// A parsed content line.
#[derive(Debug, Clone)]
pub(crate) struct Prop {
    pub group: Option<String>,
    /// Upper-cased.
    pub name: String,
    pub params: Vec<Param>,
    pub value: Vec<u8>,
    pub line: usize,
}

impl Prop {
    pub fn parse(l: &Logical) -> Result<Prop, String> {
        let bytes = &l.bytes;
        let head = head_len(bytes).ok_or_else(|| "no ':' between name and value".to_string())?;
        let value = bytes[head + 1..].to_vec();
        let head = &bytes[..head];
        let mut parts = split_unquoted(head, b';').into_iter();
        let full_name = parts.next().unwrap_or_default();
        let full_name = lossy(&full_name);
        let (group, name) = match full_name.rsplit_once('.') {
            Some((g, n)) => (Some(g.to_string()), n.to_string()),
            None => (None, full_name.clone()),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!("invalid property name {full_name:?}"));
        }
        let mut params = Vec::new();
        for p in parts {
            let p = lossy(&p);
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            match p.split_once('=') {
                Some((n, v)) => params.push(Param {
                    name: n.trim().to_ascii_uppercase(),
                    values: split_param_values(v),
                    bare: false,
                }),
                None => params.push(Param {
                    name: "TYPE".to_string(),
                    values: vec![p.to_string()],
                    bare: true,
                }),
            }
        }
        Ok(Prop {
            group,
            name: name.to_ascii_uppercase(),
            params,
            value,
            line: l.line,
        })
    }

    /// The first value of parameter `name` (upper-case).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.values.first())
            .map(String::as_str)
    }

    pub fn value_str(&self) -> String {
        lossy(&self.value)
    }

    /// Serialises the property (unfolded, without line break).
    pub fn to_unfolded(&self) -> String {
        let mut s = String::new();
        if let Some(g) = &self.group {
            s.push_str(g);
            s.push('.');
        }
        s.push_str(&self.name);
        for p in &self.params {
            s.push(';');
            if !p.bare {
                s.push_str(&p.name);
                s.push('=');
            }
            for (i, v) in p.values.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                if v.contains([':', ';', ',']) {
                    s.push('"');
                    s.push_str(&v.replace('"', "'"));
                    s.push('"');
                } else {
                    s.push_str(v);
                }
            }
        }
        s.push(':');
        s.push_str(&self.value_str());
        s
    }
}

fn split_unquoted(bytes: &[u8], sep: u8) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut quoted = false;
    for &b in bytes {
        if b == b'"' {
            quoted = !quoted;
            cur.push(b);
        } else if b == sep && !quoted {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(b);
        }
    }
    out.push(cur);
    out
}

fn split_param_values(v: &str) -> Vec<String> {
    split_unquoted(v.as_bytes(), b',')
        .into_iter()
        .map(|b| {
            let s = lossy(&b);
            let s = s.trim();
            s.strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .unwrap_or(s)
                .to_string()
        })
        .collect()
}

/// Appends `line` folded at 75 octets (never inside a UTF-8 sequence) with CRLF.
pub(crate) fn fold_into(out: &mut String, line: &str) {
    let mut width = 0usize;
    for ch in line.chars() {
        let n = ch.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(ch);
        width += n;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], v21: bool) -> Vec<(String, usize)> {
        let mut u = Unfolder::new(input, v21);
        let mut v = Vec::new();
        while let Some(l) = u.next_logical().unwrap() {
            v.push((lossy(&l.bytes), l.line));
        }
        v
    }

    #[test]
    fn unfolds_and_numbers_lines() {
        let v = all(b"\xEF\xBB\xBFA:1\r\nB:2\r\n 3\r\n\r\nC:4\n", false);
        assert_eq!(
            v,
            vec![("A:1".into(), 1), ("B:23".into(), 2), ("C:4".into(), 5)]
        );
    }

    #[test]
    fn joins_qp_soft_breaks_and_bare_base64_in_v21() {
        let v = all(
            b"FN;ENCODING=QUOTED-PRINTABLE:a=\r\nb\r\nPHOTO;ENCODING=BASE64:QUJD\r\nREVG\r\n\r\nN:x\r\n",
            true,
        );
        assert_eq!(v[0].0, "FN;ENCODING=QUOTED-PRINTABLE:ab");
        assert_eq!(v[1].0, "PHOTO;ENCODING=BASE64:QUJDREVG");
        assert_eq!(v[2], ("N:x".into(), 6));
    }

    #[test]
    fn parses_params_groups_and_quotes() {
        let p = Prop::parse(&Logical {
            bytes: b"item1.TEL;HOME;TYPE=\"a:b\",c:+1 555".to_vec(),
            line: 3,
        })
        .unwrap();
        assert_eq!(p.group.as_deref(), Some("item1"));
        assert_eq!(p.name, "TEL");
        assert!(p.params[0].bare);
        assert_eq!(p.params[1].values, vec!["a:b", "c"]);
        assert_eq!(p.value_str(), "+1 555");
        assert!(
            Prop::parse(&Logical {
                bytes: b"no colon here".to_vec(),
                line: 1
            })
            .is_err()
        );
    }

    #[test]
    fn folds_on_char_boundaries() {
        let mut s = String::new();
        let long = "é".repeat(60);
        fold_into(&mut s, &format!("X:{long}"));
        for l in s.split("\r\n") {
            assert!(l.len() <= 76);
        }
        let unfolded: String = s.replace("\r\n ", "");
        assert_eq!(unfolded.trim_end(), format!("X:{long}"));
    }

    /// An endless stream: `head`, then `unit` repeated for ever.
    struct Endless {
        head: Vec<u8>,
        unit: Vec<u8>,
        pos: usize,
        served: usize,
    }

    impl Read for Endless {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let mut n = 0;
            while n < out.len() {
                let src = if self.served < self.head.len() {
                    &self.head
                } else {
                    &self.unit
                };
                let at = if self.served < self.head.len() {
                    self.served
                } else {
                    self.pos
                };
                let k = (src.len() - at).min(out.len() - n);
                out[n..n + k].copy_from_slice(&src[at..at + k]);
                n += k;
                if self.served < self.head.len() {
                    self.served += k;
                } else {
                    self.pos = (self.pos + k) % self.unit.len();
                }
            }
            Ok(n)
        }
    }

    fn endless(head: &[u8], unit: &[u8]) -> io::BufReader<Endless> {
        io::BufReader::new(Endless {
            head: head.to_vec(),
            unit: unit.to_vec(),
            pos: 0,
            served: 0,
        })
    }

    #[test]
    fn a_line_that_never_ends_is_refused_with_its_line_number() {
        let r = endless(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nX-BIG:", b"a");
        let mut u = Unfolder::new(r, false).with_max_line(1 << 20);
        assert_eq!(u.next_logical().unwrap().unwrap().line, 1);
        let e = loop {
            match u.next_logical() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("an endless line ended"),
                Err(e) => break e,
            }
        };
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("line 3"), "{e}");
    }

    #[test]
    fn a_logical_line_folded_for_ever_is_refused_with_its_line_number() {
        let r = endless(b"BEGIN:VCARD\r\nNOTE:x\r\n", b" folded continuation\r\n");
        let mut u = Unfolder::new(r, false).with_max_line(1 << 20);
        assert_eq!(u.next_logical().unwrap().unwrap().line, 1);
        let e = u.next_logical().unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn utf16_is_transcoded_as_it_is_read_and_capped_too() {
        let text = "BEGIN:VCARD\r\nFN:J\u{e9}r\u{f4}me\r\n folded\r\nEND:VCARD\r\n";
        let mut le = vec![0xFF, 0xFE];
        for u in text.encode_utf16() {
            le.extend_from_slice(&u.to_le_bytes());
        }
        let mut be = vec![0xFE, 0xFF];
        for u in text.encode_utf16() {
            be.extend_from_slice(&u.to_be_bytes());
        }
        for bytes in [le, be] {
            // A tiny buffer, so that code units are split across reads.
            let got: Vec<(String, usize)> = {
                let mut u = Unfolder::new(io::BufReader::with_capacity(3, &bytes[..]), false);
                let mut out = Vec::new();
                while let Some(l) = u.next_logical().unwrap() {
                    out.push((String::from_utf8(l.bytes).unwrap(), l.line));
                }
                out
            };
            assert_eq!(
                got,
                vec![
                    ("BEGIN:VCARD".to_string(), 1),
                    ("FN:J\u{e9}r\u{f4}mefolded".to_string(), 2),
                    ("END:VCARD".to_string(), 4),
                ]
            );
        }
        // An endless UTF-16 line stops at the cap.
        let r = endless(&[0xFF, 0xFE, b'A', 0, b':', 0], &[b'a', 0]);
        let mut u = Unfolder::new(r, false).with_max_line(1 << 20);
        let e = u.next_logical().unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }
}
