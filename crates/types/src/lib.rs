//! passeur's shared vocabulary, with no I/O.
//!
//! - [`MigrationId`]: the public, unguessable identifier of a migration (128 random bits).
//! - [`ContentKind`]: mail, contacts, calendars, tasks.
//! - [`Status`]: the life cycle of a migration.
//! - [`Endpoint`] / [`Security`] / [`Protocol`]: a mail server account given as a URL
//!   (`imap://`, `imap+starttls://`, `imaps://`, `pop3://`, `pop3+starttls://`, `pop3s://`).
//! - [`Secret`]: a password that never prints and is wiped on drop.
//! - [`sasl`]: the SASL messages of OAuth 2.0 logins, shared by the mail clients.

#![warn(missing_docs)]

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub mod sasl;
mod secret;
pub use secret::Secret;

/// The public identifier of a migration: 128 random bits, written as 26 lower-case
/// base32 characters (RFC 4648 alphabet, no padding).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MigrationId([u8; 16]);

const B32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

impl MigrationId {
    /// A new random ID from the operating system's generator.
    pub fn random() -> Self {
        let mut b = [0u8; 16];
        rand::fill(&mut b);
        MigrationId(b)
    }

    /// The 128 bits of the ID.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for MigrationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut acc: u32 = 0;
        let mut bits = 0;
        let mut out = String::with_capacity(26);
        for &byte in &self.0 {
            acc = (acc << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(B32[((acc >> bits) & 31) as usize] as char);
            }
        }
        if bits > 0 {
            out.push(B32[((acc << (5 - bits)) & 31) as usize] as char);
        }
        f.write_str(&out)
    }
}

impl fmt::Debug for MigrationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MigrationId({self})")
    }
}

/// Why a string is not a valid value of one of this crate's types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not 26 base32 characters.
    #[error("cannot parse migration ID {0:?}: expected 26 base32 characters")]
    MigrationId(String),
    /// Not a mail account URL (`url` with any password redacted).
    #[error("cannot parse endpoint URL {url:?}: {reason}")]
    Endpoint {
        /// The URL, its password redacted.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// None of mail, contacts, calendars, tasks.
    #[error("unknown content kind {0:?} (expected mail, contacts, calendars or tasks)")]
    ContentKind(String),
}

impl FromStr for MigrationId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let err = || ParseError::MigrationId(s.to_owned());
        if s.len() != 26 {
            return Err(err());
        }
        let mut out = [0u8; 16];
        let mut acc: u32 = 0;
        let mut bits = 0;
        let mut n = 0;
        for c in s.bytes() {
            let v = B32
                .iter()
                .position(|&b| b == c.to_ascii_lowercase())
                .ok_or_else(err)? as u32;
            acc = (acc << 5) | v;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                if n == 16 {
                    return Err(err());
                }
                out[n] = (acc >> bits) as u8;
                n += 1;
            }
        }
        // The last character carries 3 padding bits, which must be zero.
        if n != 16 || acc & ((1 << bits) - 1) != 0 {
            return Err(err());
        }
        Ok(MigrationId(out))
    }
}

impl TryFrom<String> for MigrationId {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        s.parse()
    }
}

impl From<MigrationId> for String {
    fn from(id: MigrationId) -> String {
        id.to_string()
    }
}

/// What a migration moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentKind {
    /// Messages in IMAP folders (or a POP3 mailbox).
    Mail,
    /// vCards in address books (CardDAV).
    Contacts,
    /// Events in calendars (CalDAV).
    Calendars,
    /// To-dos in task lists (CalDAV).
    Tasks,
}

impl ContentKind {
    /// Every kind, mail first.
    pub const ALL: [ContentKind; 4] = [
        ContentKind::Mail,
        ContentKind::Contacts,
        ContentKind::Calendars,
        ContentKind::Tasks,
    ];

    /// The kind's lower-case name, as stored and as the command line takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentKind::Mail => "mail",
            ContentKind::Contacts => "contacts",
            ContentKind::Calendars => "calendars",
            ContentKind::Tasks => "tasks",
        }
    }
}

impl fmt::Display for ContentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContentKind {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mail" | "mails" | "email" | "emails" => Ok(ContentKind::Mail),
            "contacts" | "contact" => Ok(ContentKind::Contacts),
            "calendars" | "calendar" | "events" => Ok(ContentKind::Calendars),
            "tasks" | "task" | "todos" => Ok(ContentKind::Tasks),
            _ => Err(ParseError::ContentKind(s.to_owned())),
        }
    }
}

/// The life cycle of a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for a worker.
    Queued,
    /// A pass is running.
    Running,
    /// Held by its owner; no pass starts until it is resumed.
    Paused,
    /// Asked to stop; the running pass ends at its next safe point.
    Stopping,
    /// Stopped before the end of a pass; what was copied stays.
    Stopped,
    /// The last pass copied everything.
    Done,
    /// The last pass failed or left items behind.
    Failed,
}

impl Status {
    /// The status's lower-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopping => "stopping",
            Status::Stopped => "stopped",
            Status::Done => "done",
            Status::Failed => "failed",
        }
    }

    /// The status named `s` (as [`Status::as_str`] writes it).
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "queued" => Status::Queued,
            "running" => Status::Running,
            "paused" => Status::Paused,
            "stopping" => Status::Stopping,
            "stopped" => Status::Stopped,
            "done" => Status::Done,
            "failed" => Status::Failed,
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the connection to a server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// No TLS at all (`imap://`).
    Plain,
    /// Plain connection upgraded with STARTTLS (`imap+starttls://`).
    StartTls,
    /// TLS from the first byte (`imaps://`).
    Tls,
}

/// `url` with the password of its user information (if any) replaced by `[redacted]`, for
/// error messages.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:[redacted]@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

/// The protocol a mail account is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// IMAP: a source or a destination.
    #[default]
    Imap,
    /// POP3: a source only (its INBOX), read and never changed.
    Pop3,
}

/// A mail account given as a URL: `imap://`, `imap+starttls://`, `imaps://`, `pop3://`,
/// `pop3+starttls://` or `pop3s://`, with the login as the URL's user part (percent-encoded
/// where it holds `@`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    /// Host name or address literal.
    pub host: String,
    /// TCP port (the scheme's default when the URL gives none).
    pub port: u16,
    /// How the connection is secured.
    pub security: Security,
    /// The login (percent-decoded).
    pub login: String,
    /// IMAP unless the scheme says POP3 (absent in endpoints saved before POP3 existed).
    #[serde(default)]
    pub protocol: Protocol,
}

impl Endpoint {
    /// The mail endpoint of a side as a migration records it: its first word (a PST import
    /// records `IMAP-URL dav:URL`); `None` for a side that is a file or a DAV account only.
    pub fn of_recorded(side: &str) -> Option<Endpoint> {
        Endpoint::parse(side.split(' ').next()?).ok()
    }

    /// Parses `scheme://login@host[:port][/]`.
    pub fn parse(url: &str) -> Result<Endpoint, ParseError> {
        let bad = |reason| ParseError::Endpoint {
            url: redact_password(url),
            reason,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected scheme://login@host"))?;
        let (protocol, security, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "imap" => (Protocol::Imap, Security::Plain, 143),
            "imap+starttls" | "imap+tls" => (Protocol::Imap, Security::StartTls, 143),
            "imaps" => (Protocol::Imap, Security::Tls, 993),
            "pop3" => (Protocol::Pop3, Security::Plain, 110),
            "pop3+starttls" | "pop3+tls" => (Protocol::Pop3, Security::StartTls, 110),
            "pop3s" => (Protocol::Pop3, Security::Tls, 995),
            _ => {
                return Err(bad(
                    "unknown scheme (use imap, imap+starttls, imaps, pop3, pop3+starttls or pop3s)",
                ));
            }
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('?') || rest.contains('#') {
            return Err(bad("a path, query or fragment is not allowed"));
        }
        let (userinfo, hostport) = rest
            .rsplit_once('@')
            .ok_or_else(|| bad("the login is missing (scheme://login@host)"))?;
        if userinfo.contains(':') {
            return Err(bad(
                "a password in the URL is refused: use a password file, the environment or the prompt",
            ));
        }
        let login = percent_decode(userinfo).ok_or_else(|| bad("bad percent-encoding in login"))?;
        if login.is_empty() {
            return Err(bad("the login is empty"));
        }
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("bad host or port"))?;
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        Ok(Endpoint {
            host,
            port: port.unwrap_or(default_port),
            security,
            login,
            protocol,
        })
    }

    /// The URL again, with the login percent-encoded.
    pub fn to_url(&self) -> String {
        let scheme = match (self.protocol, self.security) {
            (Protocol::Imap, Security::Plain) => "imap",
            (Protocol::Imap, Security::StartTls) => "imap+starttls",
            (Protocol::Imap, Security::Tls) => "imaps",
            (Protocol::Pop3, Security::Plain) => "pop3",
            (Protocol::Pop3, Security::StartTls) => "pop3+starttls",
            (Protocol::Pop3, Security::Tls) => "pop3s",
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "{scheme}://{}@{host}:{}",
            percent_encode(&self.login),
            self.port
        )
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_url())
    }
}

fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse().ok()?),
        };
        return Some((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_ascii_lowercase(), Some(p.parse().ok()?))),
        None => Some((s.to_ascii_lowercase(), None)),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_id_round_trips_and_is_random() {
        let a = MigrationId::random();
        let b = MigrationId::random();
        assert_ne!(a, b);
        let s = a.to_string();
        assert_eq!(s.len(), 26);
        assert_eq!(s.parse::<MigrationId>().unwrap(), a);
        assert_eq!(s.to_uppercase().parse::<MigrationId>().unwrap(), a);
        assert!("abc".parse::<MigrationId>().is_err());
        assert!("0000000000000000000000000a".parse::<MigrationId>().is_err());
    }

    #[test]
    fn endpoint_urls() {
        let e = Endpoint::parse("imap+starttls://alice@Old.Example.net").unwrap();
        assert_eq!(e.security, Security::StartTls);
        assert_eq!(e.port, 143);
        assert_eq!(e.host, "old.example.net");
        assert_eq!(e.login, "alice");

        let e = Endpoint::parse("imaps://alice%40example.org@new.example.org:10993/").unwrap();
        assert_eq!(e.security, Security::Tls);
        assert_eq!(e.port, 10993);
        assert_eq!(e.login, "alice@example.org");
        assert_eq!(Endpoint::parse(&e.to_url()).unwrap(), e);

        let e = Endpoint::parse("imap://bob@[::1]:1143").unwrap();
        assert_eq!(e.host, "::1");
        assert_eq!(e.port, 1143);

        assert_eq!(e.protocol, Protocol::Imap);
        assert!(Endpoint::parse("smtp://a@b").is_err());
        assert!(Endpoint::parse("imap://a:secret@b").is_err());
        assert!(Endpoint::parse("imap://b").is_err());
        assert!(Endpoint::parse("imap://a@b:99999").is_err());
    }

    #[test]
    fn a_password_typed_in_a_url_is_refused_and_never_echoed() {
        let e = Endpoint::parse("imap://alice:hunter2-secret@host").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("password in the URL is refused"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(
            redact_password("https://bob:pw@dav.example/x?y"),
            "https://bob:[redacted]@dav.example/x?y"
        );
        assert_eq!(redact_password("imap://bob@h"), "imap://bob@h");
    }

    #[test]
    fn pop3_urls() {
        for (url, security, port) in [
            ("pop3://alice@pop.example.org", Security::Plain, 110),
            (
                "POP3+STARTTLS://alice@pop.example.org",
                Security::StartTls,
                110,
            ),
            ("pop3s://alice@pop.example.org", Security::Tls, 995),
        ] {
            let e = Endpoint::parse(url).unwrap();
            assert_eq!(e.protocol, Protocol::Pop3, "{url}");
            assert_eq!((e.security, e.port), (security, port), "{url}");
            assert_eq!(Endpoint::parse(&e.to_url()).unwrap(), e);
            assert!(e.to_url().starts_with("pop3"));
        }
        assert!(Endpoint::parse("pop3://a:secret@b").is_err());
        // Endpoints saved before POP3 existed read as IMAP.
        let old = r#"{"host":"h","port":143,"security":"plain","login":"a"}"#;
        let e: Endpoint = serde_json::from_str(old).unwrap();
        assert_eq!(e.protocol, Protocol::Imap);
    }
}
