//! The sans-I/O part: status lines, CAPA, listings and the byte-exact multi-line decoder.
//! Nothing here owns a socket; everything is tested with byte strings and fuzzed.

use crate::Error;

/// Longest status or listing line accepted (RFC 2449 allows 512 octets; servers stay far
/// below this cap).
pub const MAX_LINE: usize = 8 * 1024;

/// Longest unique-id (RFC 1939: 1 to 70 characters 0x21..0x7E).
pub const MAX_UID: usize = 70;

/// The first line of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `+OK text`.
    Ok(String),
    /// `-ERR text`.
    Err(String),
    /// `+ data`: a SASL challenge (RFC 5034).
    Continue(String),
}

/// The length (terminator included) of the first complete line of `buf`, `None` when it has
/// none yet; an error when no line end comes within `max` bytes.
pub fn line_len(buf: &[u8], max: usize) -> Result<Option<usize>, Error> {
    match buf.iter().take(max).position(|&b| b == b'\n') {
        Some(i) => Ok(Some(i + 1)),
        None if buf.len() >= max => Err(Error::protocol(
            format!("a line longer than {max} bytes"),
            buf,
        )),
        None => Ok(None),
    }
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Parses a status line (with or without its line end).
pub fn parse_status(line: &[u8]) -> Result<Status, Error> {
    let l = strip_eol(line);
    let text = |rest: &[u8]| -> Result<String, Error> {
        let rest = match rest.first() {
            None => rest,
            Some(b' ') => &rest[1..],
            Some(_) => return Err(Error::protocol("a status word glued to its text", line)),
        };
        Ok(String::from_utf8_lossy(rest).into_owned())
    };
    if l.len() >= 3 && l[..3].eq_ignore_ascii_case(b"+OK") {
        return Ok(Status::Ok(text(&l[3..])?));
    }
    if l.len() >= 4 && l[..4].eq_ignore_ascii_case(b"-ERR") {
        return Ok(Status::Err(text(&l[4..])?));
    }
    if l.first() == Some(&b'+') {
        return Ok(Status::Continue(text(&l[1..])?));
    }
    Err(Error::protocol("neither +OK nor -ERR", line))
}

/// What a server announced in its CAPA reply (RFC 2449).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// `TOP`: the headers of a message without its body.
    pub top: bool,
    /// `UIDL`: unique ids, which exactly-once copying needs.
    pub uidl: bool,
    /// `USER`: USER/PASS login.
    pub user: bool,
    /// `PIPELINING`: several commands may be sent before their answers.
    pub pipelining: bool,
    /// `STLS`: the connection can be upgraded to TLS.
    pub stls: bool,
    /// `RESP-CODES`: `-ERR [CODE]` answers.
    pub resp_codes: bool,
    /// SASL mechanisms, upper-case.
    pub sasl: Vec<String>,
    /// `IMPLEMENTATION`: the server software, as it names itself.
    pub implementation: Option<String>,
    /// Every line as sent.
    pub lines: Vec<String>,
}

impl Capabilities {
    /// Parses the body of a CAPA reply (dot-unstuffed, one capability a line).
    pub fn parse(body: &[u8]) -> Capabilities {
        let mut c = Capabilities::default();
        for line in body.split(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(strip_eol(line)).into_owned();
            let mut words = line.split_ascii_whitespace();
            let Some(name) = words.next() else { continue };
            match name.to_ascii_uppercase().as_str() {
                "TOP" => c.top = true,
                "UIDL" => c.uidl = true,
                "USER" => c.user = true,
                "PIPELINING" => c.pipelining = true,
                "STLS" => c.stls = true,
                "RESP-CODES" => c.resp_codes = true,
                "SASL" => c.sasl = words.map(str::to_ascii_uppercase).collect(),
                "IMPLEMENTATION" => {
                    c.implementation = Some(line[name.len()..].trim().to_owned());
                }
                _ => {}
            }
            c.lines.push(line);
        }
        c
    }

    /// Whether SASL mechanism `mech` is offered (any case).
    pub fn has_sasl(&self, mech: &str) -> bool {
        self.sasl.iter().any(|m| m.eq_ignore_ascii_case(mech))
    }
}

fn number<T: std::str::FromStr>(word: Option<&[u8]>, what: &str, line: &[u8]) -> Result<T, Error> {
    word.filter(|w| !w.is_empty() && w.iter().all(u8::is_ascii_digit))
        .and_then(|w| std::str::from_utf8(w).ok()?.parse().ok())
        .ok_or_else(|| Error::protocol(format!("a bad {what}"), line))
}

fn words(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    strip_eol(line)
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty())
}

/// `count size` of a STAT reply's text.
pub fn parse_stat(text: &str) -> Result<(u32, u64), Error> {
    let mut w = words(text.as_bytes());
    let n = number(w.next(), "message count", text.as_bytes())?;
    let s = number(w.next(), "mailbox size", text.as_bytes())?;
    Ok((n, s))
}

/// One `msg size` line of a LIST reply.
pub fn parse_list_line(line: &[u8]) -> Result<(u32, u64), Error> {
    let mut w = words(line);
    let n = number(w.next(), "message number", line)?;
    let s = number(w.next(), "message size", line)?;
    Ok((n, s))
}

/// One `msg unique-id` line of a UIDL reply.
pub fn parse_uidl_line(line: &[u8]) -> Result<(u32, String), Error> {
    let mut w = words(line);
    let n = number(w.next(), "message number", line)?;
    let uid = w
        .next()
        .ok_or_else(|| Error::protocol("a UIDL line without its unique-id", line))?;
    if uid.len() > MAX_UID || !uid.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(Error::protocol("a malformed unique-id", line));
    }
    Ok((n, String::from_utf8_lossy(uid).into_owned()))
}

/// Parses every line of a listing body with `f`.
pub fn parse_listing<T>(
    body: &[u8],
    f: impl Fn(&[u8]) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    body.split_inclusive(|&b| b == b'\n')
        .filter(|l| !strip_eol(l).is_empty())
        .map(f)
        .collect()
}

/// A command line, refused when an argument could smuggle in a second command.
pub fn command(name: &str, args: &[&str]) -> Result<Vec<u8>, Error> {
    let mut out =
        Vec::with_capacity(name.len() + 2 + args.iter().map(|a| a.len() + 1).sum::<usize>());
    out.extend_from_slice(name.as_bytes());
    for a in args {
        if a.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(Error::State(format!(
                "send {name}: an argument holds a line break"
            )));
        }
        out.push(b' ');
        out.extend_from_slice(a.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DotState {
    /// At the start of a line.
    LineStart,
    /// A line began with `.`, held back.
    Dot,
    /// A line began with `.\r`, held back.
    DotCr,
    /// Inside a line.
    Mid,
    /// The terminating `.\r\n` was seen.
    Done,
}

/// Decodes the body of a multi-line response (RFC 1939 section 3) byte-exactly: every line is
/// given back with its own line end, a leading `.` of a stuffed line removed, and the final
/// `.CRLF` consumed. The CRLF before it belongs to the last line, so a message ends with CRLF as
/// stored. Input may be fed in pieces of any size; held-back bytes make the output independent
/// of how it was split. Lines may be of any length (nothing is buffered but up to 2 bytes).
#[derive(Debug, Clone)]
pub struct DotDecoder {
    state: DotState,
}

impl Default for DotDecoder {
    fn default() -> Self {
        DotDecoder::new()
    }
}

impl DotDecoder {
    /// A decoder at the start of a message.
    pub fn new() -> DotDecoder {
        DotDecoder {
            state: DotState::LineStart,
        }
    }

    /// True once the terminating line was read.
    pub fn is_done(&self) -> bool {
        self.state == DotState::Done
    }

    /// Decodes from `input` into `out`; returns how many bytes of `input` were used (fewer than
    /// all only when the end was reached: the rest belongs to the next response).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                DotState::Done => return i,
                DotState::Mid => {
                    match input[i..].iter().position(|&c| c == b'\n') {
                        Some(p) => {
                            out.extend_from_slice(&input[i..=i + p]);
                            i += p + 1;
                            self.state = DotState::LineStart;
                        }
                        None => {
                            out.extend_from_slice(&input[i..]);
                            i = input.len();
                        }
                    }
                    continue;
                }
                DotState::LineStart => {
                    if b == b'.' {
                        self.state = DotState::Dot;
                    } else {
                        out.push(b);
                        self.state = if b == b'\n' {
                            DotState::LineStart
                        } else {
                            DotState::Mid
                        };
                    }
                }
                DotState::Dot => {
                    if b == b'\r' {
                        self.state = DotState::DotCr;
                    } else {
                        // A stuffed line: the leading dot goes.
                        out.push(b);
                        self.state = if b == b'\n' {
                            DotState::LineStart
                        } else {
                            DotState::Mid
                        };
                    }
                }
                DotState::DotCr => {
                    if b == b'\n' {
                        self.state = DotState::Done;
                    } else {
                        out.push(b'\r');
                        self.state = DotState::Mid;
                        // `b` is read again as part of the line.
                        continue;
                    }
                }
            }
            i += 1;
        }
        if self.state == DotState::Done {
            i
        } else {
            input.len()
        }
    }
}

/// Dot-stuffs `body` and appends the terminator: what a server sends for a message (used by
/// tests and the fuzz target to check the round trip).
pub fn dot_stuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    let mut at_start = true;
    for &b in body {
        if at_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_start = b == b'\n';
    }
    if !at_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> (Vec<u8>, usize, bool) {
        let mut d = DotDecoder::new();
        let mut out = Vec::new();
        let used = d.decode(input, &mut out);
        (out, used, d.is_done())
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status(b"+OK Dovecot ready.\r\n").unwrap(),
            Status::Ok("Dovecot ready.".into())
        );
        assert_eq!(parse_status(b"+OK\r\n").unwrap(), Status::Ok(String::new()));
        assert_eq!(
            parse_status(b"-ERR [AUTH] Authentication failed.\r\n").unwrap(),
            Status::Err("[AUTH] Authentication failed.".into())
        );
        assert_eq!(
            parse_status(b"+ \r\n").unwrap(),
            Status::Continue(String::new())
        );
        assert!(parse_status(b"* OK IMAP\r\n").is_err());
        assert!(parse_status(b"+OKAY\r\n").is_err());
        assert!(parse_status(b"").is_err());
    }

    #[test]
    fn unstuffing_is_byte_exact_and_keeps_the_final_crlf() {
        let wire = b"Subject: x\r\n\r\n..hidden dot\r\n.\r\r\n..\r\n...\r\nlast\r\n.\r\n+OK next";
        let (out, used, done) = decode_all(wire);
        assert!(done);
        assert_eq!(
            out,
            b"Subject: x\r\n\r\n.hidden dot\r\n\r\r\n.\r\n..\r\nlast\r\n".to_vec()
        );
        assert_eq!(&wire[used..], b"+OK next");
    }

    #[test]
    fn any_split_gives_the_same_bytes() {
        let wire = b"a\r\n.\r\r\n..x\r\n\n.\r\nrest";
        let (whole, used, _) = decode_all(wire);
        for cut in 0..=wire.len() {
            let mut d = DotDecoder::new();
            let mut out = Vec::new();
            let a = d.decode(&wire[..cut], &mut out);
            let b = if d.is_done() {
                0
            } else {
                d.decode(&wire[cut..], &mut out)
            };
            assert_eq!(out, whole, "cut at {cut}");
            let consumed = if a < cut { a } else { cut + b };
            assert_eq!(consumed, used, "cut at {cut}");
        }
    }

    #[test]
    fn stuffing_round_trips() {
        for body in [
            &b""[..],
            b"\r\n",
            b".\r\n",
            b"..\r\n.x\r\n",
            b"line\r\n.\r\n",
            b"\n.\n..\n",
        ] {
            let (out, _, done) = decode_all(&dot_stuff(body));
            assert!(done);
            assert_eq!(out, body);
        }
        // Without a final line end the message gains one: POP3 cannot say otherwise.
        let (out, _, _) = decode_all(&dot_stuff(b"no end"));
        assert_eq!(out, b"no end\r\n");
    }

    #[test]
    fn listings() {
        assert_eq!(parse_stat("2 320").unwrap(), (2, 320));
        assert!(parse_stat("two").is_err());
        let l = parse_listing(b"1 120\r\n2 200\r\n", parse_list_line).unwrap();
        assert_eq!(l, vec![(1, 120), (2, 200)]);
        let u =
            parse_listing(b"1 000000017d9a2b3c\r\n2 QhdPYR:00866\r\n", parse_uidl_line).unwrap();
        assert_eq!(u[1], (2, "QhdPYR:00866".to_owned()));
        assert!(parse_uidl_line(b"1\r\n").is_err());
        assert!(parse_uidl_line(b"x abc\r\n").is_err());
        assert!(parse_uidl_line(b"99999999999 abc\r\n").is_err());
        assert!(parse_uidl_line(&[b"1 ".to_vec(), vec![b'a'; 71]].concat()).is_err());
    }

    #[test]
    fn capabilities() {
        let c = Capabilities::parse(
            b"CAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nUSER\r\nSASL PLAIN login\r\nIMPLEMENTATION Dovecot\r\n",
        );
        assert!(c.top && c.uidl && c.pipelining && c.stls && c.user && c.resp_codes);
        assert!(c.has_sasl("PLAIN") && c.has_sasl("login"));
        assert_eq!(c.implementation.as_deref(), Some("Dovecot"));
    }

    #[test]
    fn long_lines_and_commands() {
        assert_eq!(line_len(b"+OK\r\nx", 10).unwrap(), Some(5));
        assert_eq!(line_len(b"+OK", 10).unwrap(), None);
        assert!(line_len(&[b'a'; 10], 10).is_err());
        assert_eq!(command("RETR", &["3"]).unwrap(), b"RETR 3\r\n");
        assert!(command("USER", &["a\r\nDELE 1"]).is_err());
    }
}
