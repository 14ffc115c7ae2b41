//! A minimal blocking IMAP client for tests and the benchmark verifier.
//!
//! Deliberately independent from passeur's own IMAP stack, so that checks made with it
//! do not share that stack's bugs. Plain TCP only; enough of IMAP4rev1 to log in, list,
//! select, fetch (streamed), append and store.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One parsed IMAP value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An atom or a number, as sent.
    Atom(String),
    /// Quoted string or literal.
    Bytes(Vec<u8>),
    /// A parenthesised list.
    List(Vec<Value>),
    /// `NIL`.
    Nil,
}

impl Value {
    /// The value as text (atoms and strings); None for lists and NIL.
    pub fn as_str(&self) -> Option<String> {
        match self {
            Value::Atom(a) => Some(a.clone()),
            Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

/// One untagged response (`* ...`), tokenized; the `*` is not included.
#[derive(Debug, Clone)]
pub struct Untagged(pub Vec<Value>);

/// An entry of `LIST`.
#[derive(Debug, Clone)]
pub struct ListEntry {
    /// The attributes, as sent.
    pub attributes: Vec<String>,
    /// The hierarchy separator, None for NIL.
    pub delimiter: Option<char>,
    /// The raw (modified UTF-7) name.
    pub name: String,
}

impl ListEntry {
    /// False for `\Noselect` and `\NonExistent`.
    pub fn selectable(&self) -> bool {
        !self.attributes.iter().any(|a| {
            a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
        })
    }
}

/// The usual items of one `FETCH` response.
#[derive(Debug, Clone, Default)]
pub struct FetchItem {
    /// The message sequence number.
    pub seq: u32,
    /// UID, if fetched.
    pub uid: Option<u32>,
    /// FLAGS, if fetched.
    pub flags: Option<Vec<String>>,
    /// INTERNALDATE as sent, if fetched.
    pub internal_date: Option<String>,
    /// RFC822.SIZE, if fetched.
    pub size: Option<u64>,
    /// `BODY[]` / `BODY[...]` / `RFC822` content, if fetched.
    pub body: Option<Vec<u8>>,
}

/// A blocking IMAP client for tests: one command at a time, untagged responses collected.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_tag: u32,
    /// The greeting line.
    pub greeting: String,
}

/// The server answered a command with `NO` or `BAD` (the connection is still usable).
#[derive(Debug)]
pub struct Refused {
    /// The command as sent (without its tag).
    pub command: String,
    /// `NO ...` or `BAD ...`.
    pub response: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot run {}: {}", self.command, self.response)
    }
}

impl std::error::Error for Refused {}

/// Whether `e` is a [`Refused`] (tagged `NO`/`BAD`) rather than an I/O failure.
pub fn is_refused(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Refused>())
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Quotes a string for a command (`"..."` with `\` escapes).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl Client {
    /// Connects to `host:port` and reads the greeting.
    pub fn connect(addr: &str) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        stream.set_nodelay(true)?;
        let writer = stream.try_clone()?;
        let mut c = Client {
            reader: BufReader::with_capacity(256 * 1024, stream),
            writer,
            next_tag: 1,
            greeting: String::new(),
        };
        let raw = c.read_response()?;
        c.greeting = String::from_utf8_lossy(&raw).trim_end().to_string();
        if !c.greeting.starts_with("* OK") && !c.greeting.starts_with("* PREAUTH") {
            return Err(bad(format!("cannot use server: greeting {}", c.greeting)));
        }
        Ok(c)
    }

    /// `connect` + `LOGIN`.
    pub fn login(addr: &str, user: &str, password: &str) -> io::Result<Client> {
        let mut c = Client::connect(addr)?;
        c.run(&format!("LOGIN {} {}", quote(user), quote(password)))?;
        Ok(c)
    }

    /// Reads one response line, with its literals inline (`{n}\r\n<bytes>`).
    fn read_response(&mut self) -> io::Result<Vec<u8>> {
        let mut raw = Vec::new();
        loop {
            let start = raw.len();
            let n = self.reader.read_until(b'\n', &mut raw)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "cannot read response: connection closed",
                ));
            }
            let line = &raw[start..];
            let trimmed = line.strip_suffix(b"\r\n").unwrap_or(line);
            let Some(lit) = literal_len(trimmed) else {
                return Ok(raw);
            };
            let pos = raw.len();
            raw.resize(pos + lit, 0);
            self.reader.read_exact(&mut raw[pos..])?;
        }
    }

    fn tag(&mut self) -> String {
        let t = format!("t{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    /// Sends `cmd` (may embed `{n+}` literals) and calls `on_untagged` for every untagged
    /// response until the tagged one. Fails on `NO`/`BAD`.
    pub fn run_with(
        &mut self,
        cmd: &[u8],
        mut on_untagged: impl FnMut(Untagged) -> io::Result<()>,
    ) -> io::Result<String> {
        let tag = self.tag();
        let mut line = Vec::with_capacity(cmd.len() + 16);
        line.extend_from_slice(tag.as_bytes());
        line.push(b' ');
        line.extend_from_slice(cmd);
        line.extend_from_slice(b"\r\n");
        self.writer.write_all(&line)?;
        loop {
            let raw = self.read_response()?;
            if raw.starts_with(b"* ") {
                on_untagged(Untagged(parse_values(&raw[2..])))?;
            } else if raw.starts_with(b"+") {
                // Synchronizing literal or continuation: the commands here use LITERAL+.
                continue;
            } else if raw.starts_with(tag.as_bytes()) {
                let text = String::from_utf8_lossy(&raw[tag.len()..])
                    .trim()
                    .to_string();
                if text.starts_with("OK") {
                    return Ok(text);
                }
                let shown = cmd
                    .iter()
                    .position(|&b| b == b'\r')
                    .unwrap_or(cmd.len())
                    .min(80);
                return Err(io::Error::other(Refused {
                    command: String::from_utf8_lossy(&cmd[..shown]).into_owned(),
                    response: text,
                }));
            }
        }
    }

    /// Runs a command and returns its untagged responses.
    pub fn run(&mut self, cmd: &str) -> io::Result<Vec<Untagged>> {
        let mut all = Vec::new();
        self.run_with(cmd.as_bytes(), |u| {
            all.push(u);
            Ok(())
        })?;
        Ok(all)
    }

    /// `LIST "" "*"`.
    pub fn list(&mut self) -> io::Result<Vec<ListEntry>> {
        let mut out = Vec::new();
        for Untagged(v) in self.run("LIST \"\" \"*\"")? {
            if !matches!(v.first(), Some(Value::Atom(a)) if a.eq_ignore_ascii_case("LIST")) {
                continue;
            }
            let attributes = match v.get(1) {
                Some(Value::List(l)) => l.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let delimiter = v
                .get(2)
                .and_then(Value::as_str)
                .and_then(|s| s.chars().next());
            let Some(name) = v.get(3).and_then(Value::as_str) else {
                continue;
            };
            out.push(ListEntry {
                attributes,
                delimiter,
                name,
            });
        }
        Ok(out)
    }

    /// `SELECT` (or `EXAMINE` if `read_only`); returns EXISTS.
    pub fn select(&mut self, mailbox: &str, read_only: bool) -> io::Result<u32> {
        let verb = if read_only { "EXAMINE" } else { "SELECT" };
        let mut exists = 0;
        for Untagged(v) in self.run(&format!("{verb} {}", quote(mailbox)))? {
            if let (Some(Value::Atom(n)), Some(Value::Atom(w))) = (v.first(), v.get(1))
                && w.eq_ignore_ascii_case("EXISTS")
            {
                exists = n.parse().unwrap_or(0);
            }
        }
        Ok(exists)
    }

    /// Runs a FETCH-type command and calls `each` per FETCH response, streaming.
    pub fn fetch_each(
        &mut self,
        cmd: &str,
        mut each: impl FnMut(FetchItem) -> io::Result<()>,
    ) -> io::Result<()> {
        self.run_with(cmd.as_bytes(), |Untagged(v)| {
            if let Some(item) = fetch_item(v) {
                each(item)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Collects the FETCH responses of `cmd`.
    pub fn fetch(&mut self, cmd: &str) -> io::Result<Vec<FetchItem>> {
        let mut out = Vec::new();
        self.fetch_each(cmd, |i| {
            out.push(i);
            Ok(())
        })?;
        Ok(out)
    }

    /// `APPEND mailbox (flags) "date" {n+}` with LITERAL+.
    pub fn append(
        &mut self,
        mailbox: &str,
        flags: &[&str],
        internal_date: Option<&str>,
        message: &[u8],
    ) -> io::Result<String> {
        let mut cmd = format!("APPEND {} ({})", quote(mailbox), flags.join(" "));
        if let Some(d) = internal_date {
            cmd.push(' ');
            cmd.push_str(&quote(d));
        }
        cmd.push_str(&format!(" {{{}+}}\r\n", message.len()));
        let mut bytes = cmd.into_bytes();
        bytes.extend_from_slice(message);
        self.run_with(&bytes, |_| Ok(()))
    }

    /// `LOGOUT`, ignoring errors.
    pub fn logout(mut self) {
        let _ = self.run("LOGOUT");
    }
}

fn fetch_item(v: Vec<Value>) -> Option<FetchItem> {
    let mut it = v.into_iter();
    let seq = match it.next()? {
        Value::Atom(n) => n.parse().ok()?,
        _ => return None,
    };
    match it.next()? {
        Value::Atom(a) if a.eq_ignore_ascii_case("FETCH") => {}
        _ => return None,
    }
    let Value::List(pairs) = it.next()? else {
        return None;
    };
    let mut item = FetchItem {
        seq,
        ..FetchItem::default()
    };
    let mut p = pairs.into_iter();
    while let (Some(k), Some(v)) = (p.next(), p.next()) {
        let Value::Atom(key) = k else { continue };
        let key = key.to_ascii_uppercase();
        match (key.as_str(), v) {
            ("UID", Value::Atom(n)) => item.uid = n.parse().ok(),
            ("RFC822.SIZE", Value::Atom(n)) => item.size = n.parse().ok(),
            ("FLAGS", Value::List(l)) => {
                item.flags = Some(l.iter().filter_map(Value::as_str).collect());
            }
            ("INTERNALDATE", v) => item.internal_date = v.as_str(),
            (k, Value::Bytes(b)) if k.starts_with("BODY[") || k == "RFC822" => {
                item.body = Some(b);
            }
            (k, Value::Nil) if k.starts_with("BODY[") => item.body = Some(Vec::new()),
            _ => {}
        }
    }
    Some(item)
}

/// `{123}` or `{123+}` at the end of a line.
fn literal_len(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Tokenizes the rest of a response line (literals inline). Never panics; stops at junk.
pub fn parse_values(raw: &[u8]) -> Vec<Value> {
    let mut pos = 0;
    let mut out = Vec::new();
    while let Some(v) = parse_value(raw, &mut pos) {
        out.push(v);
    }
    out
}

fn parse_value(raw: &[u8], pos: &mut usize) -> Option<Value> {
    while *pos < raw.len() && raw[*pos] == b' ' {
        *pos += 1;
    }
    let &c = raw.get(*pos)?;
    match c {
        b'\r' | b'\n' | b')' => None,
        b'(' => {
            *pos += 1;
            let mut items = Vec::new();
            while let Some(v) = parse_value(raw, pos) {
                items.push(v);
            }
            if raw.get(*pos) == Some(&b')') {
                *pos += 1;
            }
            Some(Value::List(items))
        }
        b'"' => {
            *pos += 1;
            let mut s = Vec::new();
            while let Some(&b) = raw.get(*pos) {
                *pos += 1;
                match b {
                    b'\\' => {
                        if let Some(&n) = raw.get(*pos) {
                            s.push(n);
                            *pos += 1;
                        }
                    }
                    b'"' => break,
                    _ => s.push(b),
                }
            }
            Some(Value::Bytes(s))
        }
        b'{' => {
            let close = raw[*pos..].iter().position(|&b| b == b'}')? + *pos;
            let digits = &raw[*pos + 1..close];
            let digits = digits.strip_suffix(b"+").unwrap_or(digits);
            let n: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
            let start = close + 3; // "}\r\n"
            let end = start.checked_add(n)?;
            let data = raw.get(start..end)?.to_vec();
            *pos = end;
            Some(Value::Bytes(data))
        }
        _ => {
            let start = *pos;
            let mut depth = 0usize;
            while let Some(&b) = raw.get(*pos) {
                match b {
                    b'[' => depth += 1,
                    b']' => depth = depth.saturating_sub(1),
                    b' ' | b'(' | b')' | b'\r' | b'\n' | b'{' | b'"' if depth == 0 => break,
                    _ => {}
                }
                *pos += 1;
            }
            let atom = String::from_utf8_lossy(&raw[start..*pos]).into_owned();
            if atom.eq_ignore_ascii_case("NIL") {
                Some(Value::Nil)
            } else {
                Some(Value::Atom(atom))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fetch_with_literal_and_section() {
        let raw = b"12 FETCH (UID 7 FLAGS (\\Seen $Forwarded) INTERNALDATE \"04-Jan-2019 10:00:00 +0000\" RFC822.SIZE 5 BODY[HEADER.FIELDS (X-A)] {5}\r\nab\r\nc BODY[] {3}\r\nxyz)\r\n";
        let v = parse_values(raw);
        let item = fetch_item(v).unwrap();
        assert_eq!(item.seq, 12);
        assert_eq!(item.uid, Some(7));
        assert_eq!(item.flags.unwrap(), vec!["\\Seen", "$Forwarded"]);
        assert_eq!(item.size, Some(5));
        assert_eq!(item.body.unwrap(), b"xyz");
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {42}"), Some(42));
        assert_eq!(literal_len(b"* OK {x}"), None);
        // Truncated or junk input never panics.
        for cut in 0..raw.len() {
            let _ = parse_values(&raw[..cut]);
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        // A cheap stand-in for a fuzz target: IMAP-flavoured noise.
        let alphabet = b"(){}[]\"\\ \r\n0123456789+*NILFETCHBODY";
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..2000usize {
            let buf: Vec<u8> = (0..len % 97)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % alphabet.len() as u64) as usize]
                })
                .collect();
            let v = parse_values(&buf);
            let _ = fetch_item(v);
            let _ = literal_len(&buf);
            let _ = crate::corpus::encode::mutf7_decode(&String::from_utf8_lossy(&buf));
            let _ = crate::corpus::encode::parse_imap_date(&String::from_utf8_lossy(&buf));
        }
    }
}
