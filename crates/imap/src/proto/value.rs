//! A small reader over one complete response frame: atoms, numbers, quoted
//! strings, literals and parenthesised lists. Strings and literals are
//! zero-copy slices of the frame.

use bytes::Bytes;

/// One element of a server response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `NIL`.
    Nil,
    /// A number.
    Number(u64),
    /// An atom as sent, e.g. `\Seen`, `BODY[]`, `INBOX`.
    Atom(String),
    /// A quoted string (unescaped) or a literal.
    Str(Bytes),
    /// A parenthesised list.
    List(Vec<Value>),
}

impl Value {
    /// The value as a number: a number, or an atom or string of digits.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => Some(*n),
            Value::Atom(a) => a.parse().ok(),
            Value::Str(s) => std::str::from_utf8(s).ok()?.parse().ok(),
            _ => None,
        }
    }

    /// [`Value::as_u64`], when it fits in 32 bits.
    pub fn as_u32(&self) -> Option<u32> {
        self.as_u64().and_then(|n| u32::try_from(n).ok())
    }

    /// The value as text: atoms, strings and numbers; None for NIL and lists.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Atom(a) => Some(a.clone()),
            Value::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The elements of a list; None for anything else.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
}

/// Why a frame cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// What was expected.
    pub reason: &'static str,
    /// The byte offset in the frame where reading stopped.
    pub pos: usize,
}

const MAX_DEPTH: usize = 64;

/// A cursor over one frame.
pub struct Reader<'a> {
    frame: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `frame`.
    pub fn new(frame: &'a Bytes) -> Self {
        Reader { frame, pos: 0 }
    }

    /// The byte offset of the next byte to read.
    pub fn pos(&self) -> usize {
        self.pos
    }

    fn err<T>(&self, reason: &'static str) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            reason,
            pos: self.pos,
        })
    }

    /// The next byte, without consuming it; None at the end of the frame.
    pub fn peek(&self) -> Option<u8> {
        self.frame.get(self.pos).copied()
    }

    /// True at the end of the line (or of the frame).
    pub fn at_eol(&self) -> bool {
        matches!(self.peek(), None | Some(b'\r') | Some(b'\n'))
    }

    /// Skips spaces (servers sometimes send two).
    pub fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// Consumes the byte `c`, or fails where it is not next.
    pub fn expect(&mut self, c: u8) -> Result<(), SyntaxError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.err("unexpected character")
        }
    }

    /// Reads a bare word up to a space, parenthesis or end of line; brackets
    /// are kept whole (`BODY[HEADER.FIELDS (DATE)]<0>`).
    pub fn atom(&mut self) -> Result<String, SyntaxError> {
        let start = self.pos;
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                b'[' => depth += 1,
                b']' => depth = depth.saturating_sub(1),
                b'\r' | b'\n' => break,
                b' ' | b'(' | b')' | b'"' | b'{' if depth == 0 => break,
                _ => {}
            }
            self.pos += 1;
        }
        if self.pos == start {
            return self.err("expected an atom");
        }
        Ok(String::from_utf8_lossy(&self.frame[start..self.pos]).into_owned())
    }

    /// The rest of the current line, without the line ending.
    pub fn rest_of_line(&mut self) -> String {
        let start = self.pos.min(self.frame.len());
        let tail = &self.frame[start..];
        let end = tail.iter().position(|&c| c == b'\n').unwrap_or(tail.len());
        self.pos = start + end;
        let line = &tail[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        String::from_utf8_lossy(line).into_owned()
    }

    /// Reads one value (nested lists included, up to a fixed depth).
    pub fn value(&mut self) -> Result<Value, SyntaxError> {
        self.value_at(0)
    }

    fn value_at(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        if depth > MAX_DEPTH {
            return self.err("lists nested too deeply");
        }
        match self.peek() {
            None | Some(b'\r') | Some(b'\n') => self.err("unexpected end of line"),
            Some(b'(') => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_sp();
                    match self.peek() {
                        Some(b')') => {
                            self.pos += 1;
                            return Ok(Value::List(items));
                        }
                        None | Some(b'\r') | Some(b'\n') => return self.err("unclosed list"),
                        _ => items.push(self.value_at(depth + 1)?),
                    }
                }
            }
            Some(b'"') => self.quoted().map(Value::Str),
            Some(b'{') => self.literal().map(Value::Str),
            Some(b'~') if self.frame.get(self.pos + 1) == Some(&b'{') => {
                self.pos += 1;
                self.literal().map(Value::Str)
            }
            Some(_) => {
                let a = self.atom()?;
                if a.eq_ignore_ascii_case("NIL") {
                    Ok(Value::Nil)
                } else if a.bytes().all(|c| c.is_ascii_digit()) {
                    Ok(a.parse().map(Value::Number).unwrap_or(Value::Atom(a)))
                } else {
                    Ok(Value::Atom(a))
                }
            }
        }
    }

    fn quoted(&mut self) -> Result<Bytes, SyntaxError> {
        self.expect(b'"')?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') => return self.err("unterminated quoted string"),
                Some(b'\\') => {
                    escaped = true;
                    self.pos += 2;
                }
                Some(b'"') => break,
                Some(_) => self.pos += 1,
            }
        }
        let end = self.pos.min(self.frame.len());
        self.pos += 1;
        let raw = self.frame.slice(start.min(end)..end);
        if !escaped {
            return Ok(raw);
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut it = raw.iter();
        while let Some(&c) = it.next() {
            if c == b'\\' {
                if let Some(&n) = it.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        Ok(Bytes::from(out))
    }

    fn literal(&mut self) -> Result<Bytes, SyntaxError> {
        self.expect(b'{')?;
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = &self.frame[start..self.pos];
        let n: usize = match std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse().ok())
        {
            Some(n) => n,
            None => return self.err("bad literal length"),
        };
        if matches!(self.peek(), Some(b'+') | Some(b'-')) {
            self.pos += 1;
        }
        self.expect(b'}')?;
        if self.peek() == Some(b'\r') {
            self.pos += 1;
        }
        self.expect(b'\n')?;
        let end = match self.pos.checked_add(n) {
            Some(e) if e <= self.frame.len() => e,
            _ => return self.err("literal longer than the response"),
        };
        let out = self.frame.slice(self.pos..end);
        self.pos = end;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &'static [u8]) -> Result<Value, SyntaxError> {
        let b = Bytes::from_static(s);
        Reader::new(&b).value()
    }

    #[test]
    fn reads_nested_lists_strings_and_literals() {
        let v =
            read(b"(UID 5 FLAGS (\\Seen $Label1) X \"a\\\"b\" Y {3}\r\nabc Z NIL)\r\n").unwrap();
        let l = v.as_list().unwrap();
        assert_eq!(l[1], Value::Number(5));
        assert_eq!(
            l[3],
            Value::List(vec![
                Value::Atom("\\Seen".into()),
                Value::Atom("$Label1".into())
            ])
        );
        assert_eq!(l[5], Value::Str(Bytes::from_static(b"a\"b")));
        assert_eq!(l[7], Value::Str(Bytes::from_static(b"abc")));
        assert_eq!(l[9], Value::Nil);
    }

    #[test]
    fn keeps_bracketed_section_names_whole() {
        let v = read(b"(BODY[HEADER.FIELDS (DATE)]<0> {0}\r\n)").unwrap();
        let l = v.as_list().unwrap();
        assert_eq!(l[0], Value::Atom("BODY[HEADER.FIELDS (DATE)]<0>".into()));
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        assert!(read(b"(A {10}\r\nabc)").is_err());
        assert!(read(b"(A \"abc").is_err());
        assert!(read(b"(((").is_err());
        assert!(read(b"\"\\").is_err());
        assert!(read(b"{").is_err());
    }
}
