//! Typed server responses, parsed from one complete frame.

use bytes::Bytes;

use super::value::{Reader, SyntaxError, Value};

/// A parsed server response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `+ text`: the server waits for a literal or a SASL step.
    Continue(String),
    /// The completion of a command (`A1 OK ...`).
    Tagged(Tagged),
    /// Data or a status the server sends on its own (`* ...`).
    Untagged(Untagged),
}

/// The completion result of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    /// The tag of the command it completes.
    pub tag: String,
    /// OK, NO or BAD.
    pub status: Status,
    /// The bracketed response code, if any.
    pub code: Option<Code>,
    /// The server's human-readable text.
    pub text: String,
}

/// The status word of a status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The command succeeded.
    Ok,
    /// The command failed (the server says why).
    No,
    /// The command was not understood.
    Bad,
    /// The server is closing the connection.
    Bye,
    /// The connection starts authenticated (greeting only).
    Preauth,
}

/// A response code such as `[APPENDUID 38505 3955]`: name in upper case,
/// arguments as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// The code's name, in upper case.
    pub name: String,
    /// Its arguments, as sent.
    pub args: String,
}

/// Untagged (`*`) responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untagged {
    /// `* OK/NO/BAD/BYE/PREAUTH`: a status (a greeting, a warning, a response code).
    Status {
        /// The status word.
        status: Status,
        /// The bracketed response code, if any.
        code: Option<Code>,
        /// The server's human-readable text.
        text: String,
    },
    /// `* CAPABILITY`: the capabilities, as sent.
    Capability(Vec<String>),
    /// `* n EXISTS`: the folder holds `n` messages.
    Exists(u32),
    /// `* n RECENT`: `n` messages are new to this session.
    Recent(u32),
    /// `* n EXPUNGE`: message number `n` was removed.
    Expunge(u32),
    /// `* n FETCH (...)`: data about message number `n`.
    Fetch {
        /// The message sequence number.
        seq: u32,
        /// Item names in upper case, with their values.
        items: Vec<(String, Value)>,
    },
    /// `* LIST` or `* LSUB`: one mailbox.
    List {
        /// True for an LSUB response.
        lsub: bool,
        /// The mailbox attributes, as sent.
        attributes: Vec<String>,
        /// The hierarchy separator, None for NIL.
        delimiter: Option<char>,
        /// The mailbox name, wire (modified UTF-7) form.
        name: String,
    },
    /// `* STATUS mailbox (...)`: counters of a mailbox.
    MailboxStatus {
        /// The mailbox name, wire form.
        name: String,
        /// Item names in upper case, with their values.
        items: Vec<(String, u64)>,
    },
    /// `* SEARCH`: the numbers or UIDs found.
    Search(Vec<u32>),
    /// `* FLAGS`: the flags the folder knows.
    Flags(Vec<String>),
    /// Personal namespaces: (prefix, delimiter).
    Namespace(Vec<(String, Option<char>)>),
    /// `* ENABLED`: the extensions ENABLE turned on.
    Enabled(Vec<String>),
    /// Anything else, by name (e.g. `VANISHED`, `ESEARCH`, `ID`).
    Other(String),
}

impl Untagged {
    /// For a FETCH: the value of one item.
    pub fn fetch_item(&self, name: &str) -> Option<&Value> {
        match self {
            Untagged::Fetch { items, .. } => items.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parses one frame (as delimited by [`super::frame::Framer`]).
pub fn parse(frame: &Bytes) -> Result<Response, SyntaxError> {
    let mut r = Reader::new(frame);
    match r.peek() {
        Some(b'+') => {
            r.expect(b'+')?;
            r.skip_sp();
            Ok(Response::Continue(r.rest_of_line()))
        }
        Some(b'*') => {
            r.expect(b'*')?;
            r.skip_sp();
            untagged(&mut r).map(Response::Untagged)
        }
        _ => {
            let tag = r.atom()?;
            r.skip_sp();
            let word = r.atom()?;
            let status = match status_word(&word) {
                Some(s @ (Status::Ok | Status::No | Status::Bad)) => s,
                _ => {
                    return Err(SyntaxError {
                        reason: "tagged response without OK/NO/BAD",
                        pos: r.pos(),
                    });
                }
            };
            let (code, text) = resp_text(&mut r);
            Ok(Response::Tagged(Tagged {
                tag,
                status,
                code,
                text,
            }))
        }
    }
}

fn status_word(w: &str) -> Option<Status> {
    Some(match w.to_ascii_uppercase().as_str() {
        "OK" => Status::Ok,
        "NO" => Status::No,
        "BAD" => Status::Bad,
        "BYE" => Status::Bye,
        "PREAUTH" => Status::Preauth,
        _ => return None,
    })
}

/// `[CODE args] text`: never fails, since servers send all sorts of text.
fn resp_text(r: &mut Reader<'_>) -> (Option<Code>, String) {
    r.skip_sp();
    let line = r.rest_of_line();
    if let Some(rest) = line.strip_prefix('[')
        && let Some(close) = rest.find(']')
    {
        {
            let inner = &rest[..close];
            let text = rest[close + 1..].trim_start().to_owned();
            let (name, args) = match inner.split_once(' ') {
                Some((n, a)) => (n, a.to_owned()),
                None => (inner, String::new()),
            };
            let code = Code {
                name: name.to_ascii_uppercase(),
                args,
            };
            return (Some(code), text);
        }
    }
    (None, line)
}

fn syntax(reason: &'static str, r: &Reader<'_>) -> SyntaxError {
    SyntaxError {
        reason,
        pos: r.pos(),
    }
}

fn untagged(r: &mut Reader<'_>) -> Result<Untagged, SyntaxError> {
    let first = r.atom()?;
    if let Ok(n) = first.parse::<u32>() {
        r.skip_sp();
        let what = r.atom()?.to_ascii_uppercase();
        return Ok(match what.as_str() {
            "EXISTS" => Untagged::Exists(n),
            "RECENT" => Untagged::Recent(n),
            "EXPUNGE" => Untagged::Expunge(n),
            "FETCH" => {
                r.skip_sp();
                let v = r.value()?;
                let list = v
                    .as_list()
                    .ok_or_else(|| syntax("FETCH without a list", r))?;
                let mut items = Vec::with_capacity(list.len() / 2);
                let mut it = list.iter();
                while let Some(k) = it.next() {
                    let key = match k {
                        Value::Atom(a) => a.to_ascii_uppercase(),
                        _ => return Err(syntax("FETCH item name is not an atom", r)),
                    };
                    let val = it
                        .next()
                        .cloned()
                        .ok_or_else(|| syntax("FETCH item without a value", r))?;
                    items.push((key, val));
                }
                Untagged::Fetch { seq: n, items }
            }
            _ => Untagged::Other(what),
        });
    }
    let name = first.to_ascii_uppercase();
    if let Some(status) = status_word(&name) {
        let (code, text) = resp_text(r);
        return Ok(Untagged::Status { status, code, text });
    }
    Ok(match name.as_str() {
        "CAPABILITY" => Untagged::Capability(words(r)),
        "ENABLED" => Untagged::Enabled(words(r)),
        "LIST" | "LSUB" => {
            let name_is_lsub = first.eq_ignore_ascii_case("LSUB");
            r.skip_sp();
            let attrs = r.value()?;
            let attributes = attrs
                .as_list()
                .ok_or_else(|| syntax("LIST without attributes", r))?
                .iter()
                .filter_map(Value::as_text)
                .collect();
            r.skip_sp();
            let delimiter = match r.value()? {
                Value::Nil => None,
                v => v.as_text().and_then(|s| s.chars().next()),
            };
            r.skip_sp();
            let name = r
                .value()?
                .as_text()
                .ok_or_else(|| syntax("LIST without a mailbox name", r))?;
            Untagged::List {
                lsub: name_is_lsub,
                attributes,
                delimiter,
                name,
            }
        }
        "STATUS" => {
            r.skip_sp();
            let name = r
                .value()?
                .as_text()
                .ok_or_else(|| syntax("STATUS without a mailbox name", r))?;
            r.skip_sp();
            let v = r.value()?;
            let list = v
                .as_list()
                .ok_or_else(|| syntax("STATUS without a list", r))?;
            let items = list
                .chunks(2)
                .filter_map(|kv| match kv {
                    [k, v] => Some((k.as_text()?.to_ascii_uppercase(), v.as_u64()?)),
                    _ => None,
                })
                .collect();
            Untagged::MailboxStatus { name, items }
        }
        "SEARCH" => {
            let mut uids = Vec::new();
            loop {
                r.skip_sp();
                if r.at_eol() {
                    break;
                }
                match r.value()? {
                    // `(MODSEQ n)` from CONDSTORE ends the list.
                    Value::List(_) => break,
                    v => uids.push(
                        v.as_u32()
                            .ok_or_else(|| syntax("SEARCH result is not a number", r))?,
                    ),
                }
            }
            Untagged::Search(uids)
        }
        "FLAGS" => {
            r.skip_sp();
            let v = r.value()?;
            Untagged::Flags(
                v.as_list()
                    .ok_or_else(|| syntax("FLAGS without a list", r))?
                    .iter()
                    .filter_map(Value::as_text)
                    .collect(),
            )
        }
        "NAMESPACE" => {
            r.skip_sp();
            let personal = match r.value()? {
                Value::List(l) => l
                    .iter()
                    .filter_map(|ns| {
                        let ns = ns.as_list()?;
                        let prefix = ns.first()?.as_text()?;
                        let delim = ns
                            .get(1)
                            .and_then(Value::as_text)
                            .and_then(|d| d.chars().next());
                        Some((prefix, delim))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Untagged::Namespace(personal)
        }
        _ => Untagged::Other(name),
    })
}

fn words(r: &mut Reader<'_>) -> Vec<String> {
    r.rest_of_line()
        .split_ascii_whitespace()
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &'static [u8]) -> Response {
        parse(&Bytes::from_static(s)).unwrap()
    }

    #[test]
    fn tagged_with_appenduid() {
        let Response::Tagged(t) = p(b"A3 OK [APPENDUID 38505 3955:3957] Append completed.\r\n")
        else {
            panic!()
        };
        assert_eq!(t.tag, "A3");
        assert_eq!(t.status, Status::Ok);
        let c = t.code.unwrap();
        assert_eq!(
            (c.name.as_str(), c.args.as_str()),
            ("APPENDUID", "38505 3955:3957")
        );
        assert_eq!(t.text, "Append completed.");
    }

    #[test]
    fn untagged_status_codes() {
        let r = p(b"* OK [PERMANENTFLAGS (\\Answered \\*)] Flags permitted.\r\n");
        let Response::Untagged(Untagged::Status { code: Some(c), .. }) = r else {
            panic!()
        };
        assert_eq!(c.name, "PERMANENTFLAGS");
        assert_eq!(c.args, "(\\Answered \\*)");
        assert!(matches!(
            p(b"* BYE bye\r\n"),
            Response::Untagged(Untagged::Status {
                status: Status::Bye,
                ..
            })
        ));
    }

    #[test]
    fn fetch_with_body_literal() {
        let r = p(b"* 12 FETCH (UID 44 FLAGS (\\Seen) INTERNALDATE \" 7-Jul-2020 02:44:25 -0700\" RFC822.SIZE 5 BODY[] {5}\r\nhello MODSEQ (9))\r\n");
        let Response::Untagged(u) = r else { panic!() };
        assert_eq!(u.fetch_item("UID"), Some(&Value::Number(44)));
        assert_eq!(
            u.fetch_item("BODY[]"),
            Some(&Value::Str(Bytes::from_static(b"hello")))
        );
        assert_eq!(
            u.fetch_item("INTERNALDATE")
                .and_then(Value::as_text)
                .as_deref(),
            Some(" 7-Jul-2020 02:44:25 -0700")
        );
        assert_eq!(
            u.fetch_item("MODSEQ"),
            Some(&Value::List(vec![Value::Number(9)]))
        );
    }

    #[test]
    fn list_lsub_status_search_namespace() {
        let Response::Untagged(Untagged::List {
            attributes,
            delimiter,
            name,
            lsub,
        }) = p(b"* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n")
        else {
            panic!()
        };
        assert_eq!(attributes, vec!["\\HasNoChildren", "\\Sent"]);
        assert_eq!(delimiter, Some('/'));
        assert_eq!(name, "Sent Items");
        assert!(!lsub);
        let Response::Untagged(Untagged::List {
            name,
            lsub,
            delimiter,
            ..
        }) = p(b"* LSUB () NIL {4}\r\nEt\xc3\xa9\r\n")
        else {
            panic!()
        };
        assert_eq!((name.as_str(), lsub, delimiter), ("Eté", true, None));
        assert_eq!(
            p(b"* STATUS INBOX (MESSAGES 3 UIDNEXT 7 HIGHESTMODSEQ 12345678901)\r\n"),
            Response::Untagged(Untagged::MailboxStatus {
                name: "INBOX".into(),
                items: vec![
                    ("MESSAGES".into(), 3),
                    ("UIDNEXT".into(), 7),
                    ("HIGHESTMODSEQ".into(), 12345678901)
                ]
            })
        );
        assert_eq!(
            p(b"* SEARCH 2 5 9 (MODSEQ 4)\r\n"),
            Response::Untagged(Untagged::Search(vec![2, 5, 9]))
        );
        assert_eq!(
            p(b"* SEARCH\r\n"),
            Response::Untagged(Untagged::Search(vec![]))
        );
        assert_eq!(
            p(b"* NAMESPACE ((\"INBOX.\" \".\")) NIL NIL\r\n"),
            Response::Untagged(Untagged::Namespace(vec![("INBOX.".into(), Some('.'))]))
        );
    }

    #[test]
    fn garbage_is_an_error() {
        for g in [
            &b"A1 MAYBE\r\n"[..],
            b"* 3 FETCH UID\r\n",
            b"* 3 FETCH (UID)\r\n",
            b"* LIST\r\n",
            b"\r\n",
        ] {
            assert!(
                parse(&Bytes::copy_from_slice(g)).is_err(),
                "{:?}",
                String::from_utf8_lossy(g)
            );
        }
    }
}
