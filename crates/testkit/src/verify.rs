//! Compares two IMAP accounts message by message: folders, counts, bodies (SHA-256),
//! flags and keywords, INTERNALDATE. Used by the benchmark and by end-to-end tests.
//!
//! Messages are matched within a folder by their `X-Corpus-Id` header, else their
//! Message-ID, else their body hash, so a tool that rewrites a header (mbsync's
//! `X-TUID`) shows up as "body differs", not as "missing + extra".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;

use sha2::{Digest, Sha256};

use crate::corpus::{encode, hex};
use crate::imapwire::Client;

/// What one message looks like over IMAP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFact {
    /// `X-Corpus-Id`, else `Message-ID`, else `sha256:<hash>`.
    pub key: String,
    /// SHA-256 (hex) of the message's bytes.
    pub sha256: String,
    /// Flags and keywords, without `\Recent`.
    pub flags: BTreeSet<String>,
    /// INTERNALDATE as Unix seconds, when the server gave one.
    pub internal_date: Option<i64>,
    /// RFC822.SIZE.
    pub size: u64,
}

/// All selectable folders of an account with their messages; names are decoded from
/// modified UTF-7 and use `/` as separator whatever the server's delimiter.
#[derive(Debug, Clone, Default)]
pub struct AccountSnapshot {
    /// Messages by folder.
    pub folders: BTreeMap<String, Vec<MessageFact>>,
    /// Folders that exist only as names in the hierarchy.
    pub noselect: BTreeSet<String>,
    /// The server's hierarchy separator.
    pub delimiter: Option<char>,
}

impl AccountSnapshot {
    /// Messages in every folder.
    pub fn messages(&self) -> usize {
        self.folders.values().map(Vec::len).sum()
    }

    /// Bytes of every message (RFC822.SIZE).
    pub fn bytes(&self) -> u64 {
        self.folders.values().flatten().map(|m| m.size).sum()
    }
}

fn header_value(msg: &[u8], name: &str) -> Option<String> {
    let end = msg
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(msg.len());
    let head = String::from_utf8_lossy(&msg[..end]);
    let want = format!("{}:", name.to_ascii_lowercase());
    head.split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with(&want))
        .map(|l| l[want.len()..].trim().to_string())
}

fn normalize(name: &str, delimiter: Option<char>) -> String {
    let decoded = encode::mutf7_decode(name).unwrap_or_else(|| name.to_string());
    match delimiter {
        Some(d) if d != '/' => decoded.replace(d, "/"),
        _ => decoded,
    }
}

/// Reads every message of every selectable folder of `user` at `addr` (`host:port`).
pub fn snapshot(addr: &str, user: &str, password: &str) -> io::Result<AccountSnapshot> {
    let mut c = Client::login(addr, user, password)?;
    let list = c.list()?;
    let mut snap = AccountSnapshot {
        delimiter: list.iter().find_map(|e| e.delimiter),
        ..AccountSnapshot::default()
    };
    for entry in &list {
        let name = normalize(&entry.name, entry.delimiter);
        if !entry.selectable() {
            snap.noselect.insert(name);
            continue;
        }
        let exists = match c.select(&entry.name, true) {
            Ok(n) => n,
            // Listed but not selectable (a parent some servers list without \Noselect).
            Err(e) if crate::imapwire::is_refused(&e) => {
                snap.noselect.insert(name);
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut facts = Vec::with_capacity(exists as usize);
        if exists > 0 {
            c.fetch_each(
                "UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])",
                |item| {
                    let body = item.body.unwrap_or_default();
                    let sha256 = hex(&Sha256::digest(&body));
                    let key = header_value(&body, "X-Corpus-Id")
                        .or_else(|| header_value(&body, "Message-ID"))
                        .unwrap_or_else(|| format!("sha256:{sha256}"));
                    facts.push(MessageFact {
                        key,
                        sha256,
                        flags: item
                            .flags
                            .unwrap_or_default()
                            .into_iter()
                            .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                            .collect(),
                        internal_date: item
                            .internal_date
                            .as_deref()
                            .and_then(encode::parse_imap_date),
                        size: item.size.unwrap_or(body.len() as u64),
                    });
                    Ok(())
                },
            )?;
        }
        snap.folders.insert(name, facts);
    }
    c.logout();
    Ok(snap)
}

/// The differences between a source and a destination snapshot.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    /// Messages on the source.
    pub source_messages: usize,
    /// Source folders that are not on the destination.
    pub missing_folders: Vec<String>,
    /// Selectable on the destination but not on the source (e.g. `\Noselect` parents
    /// made real) — reported, not an error.
    pub extra_folders: Vec<String>,
    /// (folder, source count, destination count).
    pub count_mismatches: Vec<(String, usize, usize)>,
    /// Source messages with no copy on the destination.
    pub missing: usize,
    /// Destination messages that match no source message.
    pub extra: usize,
    /// Messages whose bytes differ.
    pub body_differs: usize,
    /// Messages whose flags differ.
    pub flags_differ: usize,
    /// Flag or keyword → how many messages lost it.
    pub lost_flags: BTreeMap<String, usize>,
    /// Flag or keyword → how many messages gained it.
    pub added_flags: BTreeMap<String, usize>,
    /// Messages whose internal date differs.
    pub date_differs: usize,
}

impl Comparison {
    /// Everything present, bodies, flags and dates identical.
    pub fn is_exact(&self) -> bool {
        self.missing_folders.is_empty()
            && self.count_mismatches.is_empty()
            && self.missing == 0
            && self.extra == 0
            && self.body_differs == 0
            && self.flags_differ == 0
            && self.date_differs == 0
    }

    /// One line for a results table.
    pub fn summary(&self) -> String {
        if self.is_exact() {
            let mut s = format!("exact ({} msgs)", self.source_messages);
            if !self.extra_folders.is_empty() {
                let _ = write!(s, "; extra folders: {}", self.extra_folders.join(", "));
            }
            return s;
        }
        let mut parts = Vec::new();
        if !self.missing_folders.is_empty() {
            parts.push(format!(
                "missing folders: {}",
                self.missing_folders.join(", ")
            ));
        }
        if self.missing > 0 {
            let mut s = format!("{} missing", self.missing);
            let short: Vec<String> = self
                .count_mismatches
                .iter()
                .filter(|(_, want, got)| got < want)
                .take(3)
                .map(|(name, want, got)| format!("{name} {got}/{want}"))
                .collect();
            if !short.is_empty() {
                let _ = write!(s, " ({})", short.join(", "));
            }
            parts.push(s);
        }
        if self.extra > 0 {
            parts.push(format!("{} extra", self.extra));
        }
        if self.body_differs > 0 {
            parts.push(format!("{} bodies modified", self.body_differs));
        }
        if self.flags_differ > 0 {
            let lost: Vec<String> = self
                .lost_flags
                .iter()
                .map(|(f, n)| format!("{f}×{n}"))
                .collect();
            let added: Vec<String> = self
                .added_flags
                .iter()
                .map(|(f, n)| format!("{f}×{n}"))
                .collect();
            let mut s = format!("{} flag sets differ", self.flags_differ);
            if !lost.is_empty() {
                let _ = write!(s, " (lost {})", lost.join(" "));
            }
            if !added.is_empty() {
                let _ = write!(s, " (added {})", added.join(" "));
            }
            parts.push(s);
        }
        if self.date_differs > 0 {
            parts.push(format!("{} INTERNALDATEs differ", self.date_differs));
        }
        if !self.extra_folders.is_empty() {
            parts.push(format!("extra folders: {}", self.extra_folders.join(", ")));
        }
        parts.join("; ")
    }
}

/// Compares `dst` against `src`.
pub fn compare(src: &AccountSnapshot, dst: &AccountSnapshot) -> Comparison {
    let mut cmp = Comparison {
        source_messages: src.messages(),
        ..Comparison::default()
    };
    for name in dst.folders.keys() {
        if !src.folders.contains_key(name) {
            cmp.extra_folders.push(name.clone());
        }
    }
    for (name, want) in &src.folders {
        let Some(got) = dst.folders.get(name) else {
            cmp.missing_folders.push(name.clone());
            cmp.missing += want.len();
            continue;
        };
        if want.len() != got.len() {
            cmp.count_mismatches
                .push((name.clone(), want.len(), got.len()));
        }
        let mut pool: BTreeMap<&str, Vec<&MessageFact>> = BTreeMap::new();
        for m in got {
            pool.entry(m.key.as_str()).or_default().push(m);
        }
        for w in want {
            let candidates = pool.get_mut(w.key.as_str());
            let Some(candidates) = candidates.filter(|c| !c.is_empty()) else {
                cmp.missing += 1;
                continue;
            };
            // Prefer an identical body among same-key candidates (duplicates).
            let idx = candidates
                .iter()
                .position(|g| g.sha256 == w.sha256)
                .unwrap_or(0);
            let g = candidates.swap_remove(idx);
            if g.sha256 != w.sha256 {
                cmp.body_differs += 1;
            }
            if g.flags != w.flags {
                cmp.flags_differ += 1;
                for f in w.flags.difference(&g.flags) {
                    *cmp.lost_flags.entry(f.clone()).or_default() += 1;
                }
                for f in g.flags.difference(&w.flags) {
                    *cmp.added_flags.entry(f.clone()).or_default() += 1;
                }
            }
            if g.internal_date != w.internal_date {
                cmp.date_differs += 1;
            }
        }
        cmp.extra += pool.values().map(Vec::len).sum::<usize>();
    }
    cmp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(key: &str, sha: &str, flags: &[&str]) -> MessageFact {
        MessageFact {
            key: key.into(),
            sha256: sha.into(),
            flags: flags.iter().map(|s| s.to_string()).collect(),
            internal_date: Some(1),
            size: 10,
        }
    }

    #[test]
    fn compare_reports_each_kind_of_difference() {
        let mut src = AccountSnapshot::default();
        src.folders.insert(
            "INBOX".into(),
            vec![
                fact("a", "1", &["\\Seen", "$Label1"]),
                fact("b", "2", &[]),
                fact("c", "3", &[]),
            ],
        );
        src.folders.insert("Gone".into(), vec![fact("d", "4", &[])]);
        let mut dst = AccountSnapshot::default();
        dst.folders.insert(
            "INBOX".into(),
            vec![
                fact("a", "1", &["\\Seen"]),
                fact("b", "2x", &[]),
                fact("z", "9", &[]),
            ],
        );
        dst.folders.insert("Projects".into(), vec![]);
        let c = compare(&src, &dst);
        assert!(!c.is_exact());
        assert_eq!(c.missing, 2); // c, d
        assert_eq!(c.extra, 1);
        assert_eq!(c.body_differs, 1);
        assert_eq!(c.lost_flags.get("$Label1"), Some(&1));
        assert_eq!(c.missing_folders, vec!["Gone"]);
        assert_eq!(c.extra_folders, vec!["Projects"]);
        assert!(compare(&src, &src).is_exact());
        assert_eq!(
            normalize("Re&AOc-us.&AMk-t&AOk- 2023", Some('.')),
            "Reçus/Été 2023"
        );
    }
}
