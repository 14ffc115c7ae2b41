//! Response framing: finds where one complete server response ends in a byte
//! buffer, following literals (`{n}`, `{n+}`, `~{n}`) across lines.
//!
//! The framer is incremental: it remembers how far it scanned, so feeding a
//! 30 MB literal in 64 KiB reads costs O(n), not O(n²). It never looks at
//! bytes before the current frame's start and never panics on input.

/// Largest literal accepted from the server. Beyond this the response is
/// treated as garbage rather than trusted with an allocation.
pub const MAX_LITERAL: usize = 512 * 1024 * 1024;

/// Longest line (between literals) accepted from the server.
pub const MAX_LINE: usize = 64 * 1024 * 1024;

/// Default cap on the total of the literals of one response: a response is held whole in
/// memory, so this bounds what one response can make the client hold. Large messages are meant
/// to be streamed (`Client::open_body`), which does not frame the message's literal.
pub const MAX_RESPONSE_LITERALS: usize = MAX_LITERAL;

/// What the framer found in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameStatus {
    /// A complete response occupies `buf[..len]`.
    Complete(usize),
    /// More bytes are needed; if known, at least this many more.
    NeedMore(Option<usize>),
}

/// Why the bytes cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// A literal announced larger than the framer accepts (its announced size).
    LiteralTooLarge(u64),
    /// A line longer than the framer accepts.
    LineTooLong,
    /// The literals of one response add up to more than the framer's cap (the total so far,
    /// counting the literal just announced).
    ResponseTooLarge(u64),
}

/// Incremental framer state; positions are relative to the start of the
/// buffer, which must hold the current frame from its first byte.
#[derive(Debug, Clone)]
pub struct Framer {
    /// Start of the line being scanned (after the previous literal, if any).
    line_start: usize,
    /// Where to resume looking for the end of the line.
    scan: usize,
    /// End of a literal we are waiting for.
    literal_end: Option<usize>,
    /// Whether this frame may carry literals (false for status responses
    /// and continuation requests, whose free text could end in `{5}`).
    literals_allowed: Option<bool>,
    /// Literal bytes announced so far in this frame.
    literal_total: u64,
    /// Cap on `literal_total`.
    max_total: u64,
}

impl Default for Framer {
    fn default() -> Self {
        Framer {
            line_start: 0,
            scan: 0,
            literal_end: None,
            literals_allowed: None,
            literal_total: 0,
            max_total: MAX_RESPONSE_LITERALS as u64,
        }
    }
}

impl Framer {
    /// A framer at the start of a frame, with the default cap on literals.
    pub fn new() -> Self {
        Self::default()
    }

    /// Caps the total of the literals of one response (at most [`MAX_LITERAL`] per literal
    /// still applies). Takes effect from the next literal announced.
    pub fn set_max_response_literals(&mut self, bytes: usize) {
        self.max_total = bytes as u64;
    }

    /// The cap on the total of the literals of one response.
    pub fn max_response_literals(&self) -> usize {
        self.max_total as usize
    }

    /// Looks for the end of the response that starts at `buf[0]`.
    pub fn poll(&mut self, buf: &[u8]) -> Result<FrameStatus, FrameError> {
        loop {
            if let Some(end) = self.literal_end {
                if buf.len() < end {
                    return Ok(FrameStatus::NeedMore(Some(end - buf.len())));
                }
                self.literal_end = None;
                self.line_start = end;
                self.scan = end;
            }
            let from = self.scan.min(buf.len());
            let Some(rel) = memchr_nl(&buf[from..]) else {
                self.scan = buf.len();
                if buf.len() - self.line_start.min(buf.len()) > MAX_LINE {
                    return Err(FrameError::LineTooLong);
                }
                return Ok(FrameStatus::NeedMore(None));
            };
            let nl = from + rel;
            let line = &buf[self.line_start.min(nl)..nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let allowed = match self.literals_allowed {
                Some(a) => a,
                None => {
                    let a = may_carry_literals(line);
                    self.literals_allowed = Some(a);
                    a
                }
            };
            if allowed && let Some(n) = trailing_literal(line) {
                if n > MAX_LITERAL as u64 {
                    return Err(FrameError::LiteralTooLarge(n));
                }
                let total = self.literal_total.saturating_add(n);
                if total > self.max_total {
                    return Err(FrameError::ResponseTooLarge(total));
                }
                self.literal_total = total;
                // n <= MAX_LITERAL, so this fits in usize.
                self.literal_end = Some(nl + 1 + n as usize);
                continue;
            }
            *self = Framer {
                max_total: self.max_total,
                ..Framer::default()
            };
            return Ok(FrameStatus::Complete(nl + 1));
        }
    }
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// Status responses (`* OK`, `tag NO`, `+ ...`) carry free text, never literals.
fn may_carry_literals(first_line: &[u8]) -> bool {
    if first_line.first() == Some(&b'+') {
        return false;
    }
    let mut words = first_line.splitn(3, |&c| c == b' ');
    let _tag = words.next();
    let Some(second) = words.next() else {
        return true;
    };
    let upper: Vec<u8> = second.to_ascii_uppercase();
    !matches!(
        upper.as_slice(),
        b"OK" | b"NO" | b"BAD" | b"BYE" | b"PREAUTH"
    )
}

/// If the line ends with `{n}`, `{n+}` or `{n-}` (optionally `~{n}`), returns n.
pub fn trailing_literal(line: &[u8]) -> Option<u64> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&c| c == b'{')?;
    let mut digits = &inner[open + 1..];
    if let Some(d) = digits
        .strip_suffix(b"+")
        .or_else(|| digits.strip_suffix(b"-"))
    {
        digits = d;
    }
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = input.to_vec();
        let mut f = Framer::new();
        while let Ok(FrameStatus::Complete(n)) = f.poll(&buf) {
            out.push(buf.drain(..n).collect());
        }
        out
    }

    #[test]
    fn splits_simple_lines() {
        let got = frames(b"* OK hi\r\na1 OK done\r\n+ go\r\n");
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], b"a1 OK done\r\n");
    }

    #[test]
    fn follows_literals_including_ones_that_contain_newlines() {
        let input = b"* 1 FETCH (BODY[] {5}\r\na\r\nb\r UID 3)\r\n* 2 EXISTS\r\n";
        let got = frames(input);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], &b"* 1 FETCH (BODY[] {5}\r\na\r\nb\r UID 3)\r\n"[..]);
    }

    #[test]
    fn status_text_ending_in_braces_is_not_a_literal() {
        let got = frames(b"a1 NO weird {3}\r\n* 1 EXISTS\r\n");
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn literal_plus_and_binary_forms() {
        assert_eq!(trailing_literal(b"x {12+}"), Some(12));
        assert_eq!(trailing_literal(b"x ~{7}"), Some(7));
        assert_eq!(trailing_literal(b"x {}"), None);
        assert_eq!(trailing_literal(b"x {a}"), None);
        assert_eq!(trailing_literal(b"x {99999999999999999999}"), None);
    }

    #[test]
    fn reports_how_much_of_a_literal_is_missing() {
        let mut f = Framer::new();
        let buf = b"* 1 FETCH (BODY[] {100}\r\nabc";
        assert_eq!(f.poll(buf), Ok(FrameStatus::NeedMore(Some(97))));
    }

    #[test]
    fn rejects_absurd_literals() {
        let mut f = Framer::new();
        assert!(matches!(
            f.poll(b"* 1 FETCH (BODY[] {999999999999}\r\n"),
            Err(FrameError::LiteralTooLarge(_))
        ));
    }

    #[test]
    fn byte_by_byte_feeding_finds_the_same_frames() {
        let input: &[u8] =
            b"* 1 FETCH (UID 7 BODY[] {4}\r\n{2}\n) x)\r\n* 3 FETCH (X {0}\r\n)\r\na OK y\r\n";
        let whole = frames(input);
        let mut f = Framer::new();
        let mut buf = Vec::new();
        let mut got = Vec::new();
        for &b in input {
            buf.push(b);
            while let Ok(FrameStatus::Complete(n)) = f.poll(&buf) {
                got.push(buf.drain(..n).collect::<Vec<u8>>());
            }
        }
        assert_eq!(got, whole);
        assert_eq!(got.len(), 3);
    }
}
