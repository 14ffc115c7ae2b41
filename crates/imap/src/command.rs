//! Building commands: text with quoted strings and literals.

use bytes::Bytes;

/// A piece of a command: plain text, or a literal whose `{n}` / `{n+}`
/// prefix is chosen when sending (it depends on the server's LITERAL+).
pub(crate) enum Part {
    Text(Vec<u8>),
    Literal(Bytes),
}

/// A command without its tag.
pub(crate) struct Command {
    /// The command's name for error messages ("APPEND", "SELECT").
    pub(crate) name: &'static str,
    pub(crate) parts: Vec<Part>,
    /// Text after the last literal, moved into `parts` by [`Command::end`].
    cur: Vec<u8>,
    /// Never log the arguments (they hold credentials).
    pub(crate) redact: bool,
}

impl Command {
    pub(crate) fn new(name: &'static str) -> Self {
        Command {
            name,
            parts: Vec::new(),
            cur: name.as_bytes().to_vec(),
            redact: false,
        }
    }

    fn text(&mut self) -> &mut Vec<u8> {
        &mut self.cur
    }

    fn push_literal(&mut self, b: Bytes) {
        let text = std::mem::take(&mut self.cur);
        self.parts.push(Part::Text(text));
        self.parts.push(Part::Literal(b));
    }

    /// Appends raw protocol text (no quoting).
    pub(crate) fn raw(mut self, s: &str) -> Self {
        self.text().extend_from_slice(s.as_bytes());
        self
    }

    /// Appends a space and a string argument (mailbox names, logins),
    /// quoted, or as a literal when it holds bytes a quoted string cannot.
    pub(crate) fn arg(mut self, s: &str) -> Self {
        self.text().push(b' ');
        self.string(s.as_bytes());
        self
    }

    pub(crate) fn string(&mut self, s: &[u8]) {
        if quotable(s) {
            let t = self.text();
            t.reserve(s.len() + 2);
            t.push(b'"');
            for &c in s {
                if c == b'"' || c == b'\\' {
                    t.push(b'\\');
                }
                t.push(c);
            }
            t.push(b'"');
        } else {
            self.push_literal(Bytes::copy_from_slice(s));
        }
    }

    /// Appends a literal (message bodies): no copy of the bytes.
    pub(crate) fn literal(mut self, b: Bytes) -> Self {
        self.push_literal(b);
        self
    }

    pub(crate) fn redacted(mut self) -> Self {
        self.redact = true;
        self
    }

    /// Ends the command line.
    pub(crate) fn end(mut self) -> Self {
        self.cur.extend_from_slice(b"\r\n");
        let text = std::mem::take(&mut self.cur);
        self.parts.push(Part::Text(text));
        self
    }

    /// Like [`Command::end`] without the line end: the caller writes the rest (a literal
    /// that it streams itself).
    pub(crate) fn unterminated(mut self) -> Self {
        let text = std::mem::take(&mut self.cur);
        self.parts.push(Part::Text(text));
        self
    }

    /// What may be logged: the command text with literals as sizes, or just
    /// the command name when it carries secrets.
    pub(crate) fn describe(&self) -> String {
        if self.redact {
            return format!("{} <redacted>", self.name);
        }
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(&String::from_utf8_lossy(t)),
                Part::Literal(b) => out.push_str(&format!("{{{} bytes}}", b.len())),
            }
            if out.len() > 300 {
                out.truncate(300);
                out.push('…');
                break;
            }
        }
        out.trim_end().to_owned()
    }
}

/// A quoted string may hold 7-bit text without CR, LF or NUL.
fn quotable(s: &[u8]) -> bool {
    s.len() < 1024
        && s.iter()
            .all(|&c| c != 0 && c != b'\r' && c != b'\n' && c < 0x80)
}

/// Whether `s` can be sent as an atom (flags, keywords).
pub(crate) fn is_atom(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|c| {
            c > 0x20 && c < 0x7f && !matches!(c, b'(' | b')' | b'{' | b'"' | b'%' | b'*' | b']')
        })
}

/// Quotes a string for use inside raw criteria (e.g. `uid_search`).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        if c != '\r' && c != '\n' {
            out.push(c);
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(c: &Command) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &c.parts {
            match p {
                Part::Text(t) => out.extend_from_slice(t),
                Part::Literal(b) => {
                    out.extend_from_slice(format!("{{{}}}\r\n", b.len()).as_bytes());
                    out.extend_from_slice(b);
                }
            }
        }
        out
    }

    #[test]
    fn quotes_and_escapes_or_uses_literals() {
        let c = Command::new("SELECT").arg("a \"b\" \\c").end();
        assert_eq!(flat(&c), b"SELECT \"a \\\"b\\\" \\\\c\"\r\n");
        let c = Command::new("CREATE").arg("Eté").end();
        assert_eq!(flat(&c), b"CREATE {4}\r\nEt\xc3\xa9\r\n");
        let c = Command::new("LOGIN").arg("u").arg("p").redacted().end();
        assert_eq!(c.describe(), "LOGIN <redacted>");
    }

    #[test]
    fn atoms() {
        assert!(is_atom("\\Seen") && is_atom("$Label1") && is_atom("NonJunk"));
        assert!(!is_atom("a b") && !is_atom("") && !is_atom("x(") && !is_atom("é"));
    }
}
