//! A seeded, realistic mail corpus written straight into a Dovecot Maildir++ tree.
//!
//! The same [`CorpusSpec`] always gives the same messages, byte for byte. The shape
//! follows the testbed notes: 21 folders (with `\Noselect` parents, non-ASCII and `&`
//! names, one empty folder), a realistic size mix, MIME variety, RFC 2047 and raw 8-bit
//! headers, a few CRLF files with bare LFs, very long lines, missing and duplicate
//! Message-IDs, flags and keywords, INTERNALDATEs 2018-2025. Every message carries
//! `X-Corpus-Id: <seed>-<n>`.
//!
//! Entry points: [`write_maildir`] (files, then `doveadm force-resync` if Dovecot has
//! already opened the account — or use [`crate::Dovecot::write_corpus`] which does both)
//! and [`generate`] (the messages in memory, e.g. to APPEND them elsewhere).

pub mod encode;
mod message;
mod rng;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use message::Shape;
use rng::Rng;

/// Size mix of the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// 82% 2-20 KB, 13% 20-100 KB, 4.7% 100 KB-2 MB, about 0.1% around 10 MB.
    Realistic,
    /// 1-10 KB.
    Small,
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "realistic" => Ok(Profile::Realistic),
            "small" => Ok(Profile::Small),
            other => Err(format!("unknown profile {other:?} (realistic, small)")),
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct CorpusSpec {
    /// The random seed: the same seed gives the same messages.
    pub seed: u64,
    /// How many messages to generate.
    pub count: usize,
    /// The mix of sizes and shapes.
    pub profile: Profile,
    /// Adds one more message to INBOX with an attachment of exactly this many raw bytes.
    pub big_attachment: Option<usize>,
    /// Write for a Dovecot whose namespace is `INBOX.` (Courier/Cyrus-like): `INBOX/Newsletters`
    /// becomes `.Newsletters` on disk so it shows as `INBOX.Newsletters`.
    pub inbox_prefix: bool,
}

impl Default for CorpusSpec {
    fn default() -> Self {
        CorpusSpec {
            seed: 1,
            count: 100,
            profile: Profile::Small,
            big_attachment: None,
            inbox_prefix: false,
        }
    }
}

/// One generated message as IMAP shows it (CRLF form).
#[derive(Debug, Clone)]
pub struct CorpusItem {
    /// Folder path with `/` as separator (`"Reçus/Été 2023"`), `INBOX` for the inbox.
    pub folder: String,
    /// The `X-Corpus-Id` value.
    pub corpus_id: String,
    /// System flags, e.g. `\Seen`, `\Answered`, `\Flagged`, `\Draft`, `\Deleted`.
    pub flags: Vec<String>,
    /// Keywords, e.g. `$Forwarded`, `NonJunk`.
    pub keywords: Vec<String>,
    /// INTERNALDATE, seconds since the epoch.
    pub internal_date: i64,
    /// RFC822.SIZE over IMAP (CRLF line ends).
    pub size: u64,
    /// SHA-256 (hex) of the message in CRLF form, as `BODY[]` returns it.
    pub sha256: String,
    /// The `Message-ID` header, when the message has one.
    pub message_id: Option<String>,
}

/// What [`write_maildir`] wrote.
#[derive(Debug, Clone, Default)]
pub struct CorpusSummary {
    /// Messages written.
    pub messages: usize,
    /// Bytes on disk (LF line ends, mostly).
    pub bytes: u64,
    /// Bytes over IMAP (CRLF).
    pub imap_bytes: u64,
    /// Selectable folders written (including the empty one).
    pub folders: usize,
    /// Messages per folder (`/`-separated names; empty folders with 0).
    pub folder_counts: BTreeMap<String, usize>,
    /// Every message written, with its folder, flags and hash.
    pub items: Vec<CorpusItem>,
}

/// The folders, with the share of messages each gets (per mille).
pub const FOLDERS: &[(&str, u32)] = &[
    ("INBOX", 290),
    ("INBOX/Newsletters", 80),
    ("Sent", 120),
    ("Drafts", 10),
    ("Trash", 30),
    ("Junk", 30),
    ("Archive", 50),
    ("Archive/2019", 40),
    ("Archive/2020", 40),
    ("Archive/2021", 40),
    ("Archive/2022", 40),
    ("Archive/2023", 40),
    ("Archive/2024", 40),
    ("Projects/Alpha", 20),
    ("Projects/Alpha/Specs", 20),
    ("Mailing Lists/rust-users", 60),
    ("Persönlich", 20),
    ("Reçus/Été 2023", 10),
    ("請求書", 10),
    ("Entwürfe & Notizen", 10),
    ("Empty", 0),
];

/// Parents that exist only as hierarchy (`\Noselect` / `\NonExistent` on Dovecot).
pub const NOSELECT_PARENTS: &[&str] = &["Projects", "Mailing Lists", "Reçus"];

/// The keywords used, in the order written to `dovecot-keywords` of a fresh folder.
pub const KEYWORDS: &[&str] = &["$Forwarded", "$Label1", "NonJunk", "$Junk", "$MDNSent"];

/// A generated message with its placement.
pub struct Generated {
    /// Where the message goes and what it should look like over IMAP.
    pub item: CorpusItem,
    /// The bytes as stored on disk (LF line ends, except the bare-LF specimens which are CRLF).
    pub raw: Vec<u8>,
}

const Y2018: i64 = 1_514_764_800; // 2018-01-01T00:00:00Z
const Y2026: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn year_start(y: i64) -> i64 {
    encode::days_from_civil(y, 1, 1) * 86_400
}

/// Target size of message `i`. The ~10 MB messages are placed deterministically (one
/// per 1,000, the first at i = 499) so that every corpus of 500+ messages has one and
/// the total size does not swing by tens of MB with the seed.
fn sample_size(rng: &mut Rng, profile: Profile, i: usize) -> usize {
    let r = rng.f64();
    let s = match profile {
        Profile::Small => rng.log_uniform(1_000.0, 10_000.0),
        Profile::Realistic if i % 1000 == 499 => rng.range(9_500_000, 10_500_000) as f64,
        Profile::Realistic if r < 0.8208 => rng.log_uniform(2_000.0, 20_000.0),
        Profile::Realistic if r < 0.953 => rng.log_uniform(20_000.0, 100_000.0),
        Profile::Realistic => rng.log_uniform(100_000.0, 2_000_000.0),
    };
    s as usize
}

fn flags_for(rng: &mut Rng, folder: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    let mut f = Vec::new();
    let mut k = Vec::new();
    match folder {
        "Sent" => {
            f.push("\\Seen");
            if rng.chance(0.02) {
                k.push("$MDNSent");
            }
        }
        "Drafts" | "Entwürfe & Notizen" if folder == "Drafts" || rng.chance(0.5) => {
            f.push("\\Draft");
            if rng.chance(0.5) {
                f.push("\\Seen");
            }
        }
        "Trash" => {
            if rng.chance(0.9) {
                f.push("\\Seen");
            }
            if rng.chance(0.06) {
                f.push("\\Deleted");
            }
        }
        "Junk" => {
            if rng.chance(0.3) {
                f.push("\\Seen");
            }
            if rng.chance(0.8) {
                k.push("$Junk");
            }
        }
        _ => {
            let archived = folder.starts_with("Archive");
            if archived || rng.chance(0.75) {
                f.push("\\Seen");
            }
            if rng.chance(0.12) {
                f.push("\\Answered");
            }
            if rng.chance(0.05) {
                f.push("\\Flagged");
            }
            if rng.chance(0.06) {
                k.push("$Forwarded");
            }
            if rng.chance(0.03) {
                k.push("$Label1");
            }
            if rng.chance(0.04) {
                k.push("NonJunk");
            }
            if rng.chance(0.01) {
                k.push("$MDNSent");
            }
        }
    }
    (f, k)
}

/// All messages of `spec`, in order, in memory one at a time.
pub fn generate(spec: &CorpusSpec) -> impl Iterator<Item = Generated> + '_ {
    let mut plan = Rng::derive(spec.seed, 1, 0);
    let non_empty: Vec<&str> = FOLDERS
        .iter()
        .filter(|(_, w)| *w > 0)
        .map(|(n, _)| *n)
        .collect();
    let total_weight: u32 = FOLDERS.iter().map(|(_, w)| w).sum();
    let mut ids: Vec<String> = Vec::new();
    let extra = usize::from(spec.big_attachment.is_some());
    (0..spec.count + extra).map(move |i| {
        let n = i as u64;
        let big = i == spec.count;
        let folder: &str = if big {
            "INBOX"
        } else if spec.count >= non_empty.len() && i < non_empty.len() {
            // Every folder gets at least one message.
            non_empty[i]
        } else {
            let mut r = plan.range(0, u64::from(total_weight)) as u32;
            let mut chosen = "INBOX";
            for (name, w) in FOLDERS {
                if r < *w {
                    chosen = name;
                    break;
                }
                r -= w;
            }
            chosen
        };
        let target_size = sample_size(&mut plan, spec.profile, i);
        let internal_date = match folder.strip_prefix("Archive/").map(str::parse::<i64>) {
            Some(Ok(y)) => plan.range(year_start(y) as u64, year_start(y + 1) as u64) as i64,
            _ => plan.range(Y2018 as u64, Y2026 as u64) as i64,
        };
        let (flags, keywords) = flags_for(&mut plan, folder);
        let message_id = if plan.chance(0.01) {
            None
        } else if !ids.is_empty() && plan.chance(0.005) {
            Some(plan.pick(&ids).clone())
        } else {
            let id = format!(
                "<{:012x}.{}.{}@{}>",
                plan.next_u64() >> 16,
                spec.seed,
                n,
                *plan.pick(&["mail.example.org", "example.net", "mx.example.com"])
            );
            ids.push(id.clone());
            Some(id)
        };
        let in_reply_to = if ids.len() > 1 && plan.chance(0.3) {
            let lo = ids.len().saturating_sub(60);
            Some(ids[plan.range(lo as u64, ids.len() as u64) as usize].clone())
        } else {
            None
        };
        let shape = Shape {
            seed: spec.seed,
            n,
            internal_date,
            target_size,
            sent: folder == "Sent",
            reply: in_reply_to.is_some(),
            message_id: message_id.clone(),
            in_reply_to,
            attachment_bytes: big.then_some(spec.big_attachment.unwrap_or(0)),
        };
        let (raw, _crlf) = message::build(&shape, "user@example.com");
        let served = to_crlf(&raw);
        let item = CorpusItem {
            folder: folder.to_string(),
            corpus_id: format!("{}-{:06}", spec.seed, n),
            flags: flags.iter().map(|s| s.to_string()).collect(),
            keywords: keywords.iter().map(|s| s.to_string()).collect(),
            internal_date,
            size: served.len() as u64,
            sha256: hex(&Sha256::digest(&served)),
            message_id,
        };
        Generated { item, raw }
    })
}

/// LF → CRLF where the LF is bare, as Dovecot serves Maildir files.
pub fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 30);
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Maildir++ directory of an IMAP folder path (`/`-separated) under `root`.
pub fn folder_dir(root: &Path, folder: &str, inbox_prefix: bool) -> PathBuf {
    if folder == "INBOX" {
        return root.to_path_buf();
    }
    let folder = if inbox_prefix {
        folder.strip_prefix("INBOX/").unwrap_or(folder)
    } else {
        folder
    };
    let parts: Vec<String> = folder.split('/').map(encode::mutf7_encode).collect();
    root.join(format!(".{}", parts.join(".")))
}

fn maildir_flag(flag: &str) -> Option<char> {
    Some(match flag {
        "\\Draft" => 'D',
        "\\Flagged" => 'F',
        "\\Answered" => 'R',
        "\\Seen" => 'S',
        "\\Deleted" => 'T',
        _ => return None,
    })
}

/// Keyword letters of a folder: existing `dovecot-keywords` entries are kept, ours added.
fn keyword_letters(dir: &Path) -> io::Result<BTreeMap<String, char>> {
    let path = dir.join("dovecot-keywords");
    let mut map = BTreeMap::new();
    let mut used = BTreeSet::new();
    if let Ok(text) = fs::read_to_string(&path) {
        for line in text.lines() {
            if let Some((idx, name)) = line.split_once(' ')
                && let Ok(i) = idx.parse::<u8>()
                && i < 26
            {
                map.insert(name.to_string(), char::from(b'a' + i));
                used.insert(i);
            }
        }
    }
    let mut next = 0u8;
    for kw in KEYWORDS {
        if map.contains_key(*kw) {
            continue;
        }
        while used.contains(&next) {
            next += 1;
        }
        if next >= 26 {
            return Err(io::Error::other(format!(
                "cannot add keyword {kw}: {} has no free letter",
                path.display()
            )));
        }
        map.insert(kw.to_string(), char::from(b'a' + next));
        used.insert(next);
    }
    let mut by_index: Vec<(char, &String)> = map.iter().map(|(k, c)| (*c, k)).collect();
    by_index.sort();
    let mut text = String::new();
    for (c, name) in by_index {
        text.push_str(&format!("{} {name}\n", c as u8 - b'a'));
    }
    fs::write(&path, text)?;
    Ok(map)
}

fn add_subscriptions(root: &Path, folders: &[&str], inbox_prefix: bool) -> io::Result<()> {
    let path = root.join("subscriptions");
    let mut names: Vec<String> = Vec::new();
    if let Ok(text) = fs::read_to_string(&path) {
        let mut lines = text.lines();
        if text.starts_with("V\t2") {
            lines.next();
        }
        names.extend(lines.filter(|l| !l.is_empty()).map(str::to_string));
    }
    for f in folders {
        let f = if inbox_prefix {
            f.strip_prefix("INBOX/").unwrap_or(f)
        } else {
            f
        };
        let line = f
            .split('/')
            .map(encode::mutf7_encode)
            .collect::<Vec<_>>()
            .join("\t");
        if !names.contains(&line) {
            names.push(line);
        }
    }
    let mut text = String::from("V\t2\n\n");
    for n in names {
        text.push_str(&n);
        text.push('\n');
    }
    fs::write(path, text)
}

/// Writes the corpus into the Maildir++ tree at `root` (`DIR/mail/<user>/Maildir`),
/// creating folders as needed and keeping what is there. If Dovecot has already opened
/// the account, run `doveadm force-resync -u <user> '*'` afterwards; as root, also give
/// the files to the mail owner ([`crate::Dovecot::write_corpus`] does both).
pub fn write_maildir(root: &Path, spec: &CorpusSpec) -> io::Result<CorpusSummary> {
    let mut summary = CorpusSummary::default();
    let mut letters: BTreeMap<String, BTreeMap<String, char>> = BTreeMap::new();
    for (name, _) in FOLDERS {
        let dir = folder_dir(root, name, spec.inbox_prefix);
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        if *name != "INBOX" {
            // Marks the directory as a Maildir++ folder for other tools (Courier).
            File::create(dir.join("maildirfolder"))?;
        }
        letters.insert(name.to_string(), keyword_letters(&dir)?);
        summary.folder_counts.insert(name.to_string(), 0);
    }
    summary.folders = FOLDERS.len();
    for g in generate(spec) {
        let dir = folder_dir(root, &g.item.folder, spec.inbox_prefix);
        let mut suffix: Vec<char> = g
            .item
            .flags
            .iter()
            .filter_map(|f| maildir_flag(f))
            .collect();
        suffix.sort_unstable();
        let map = letters.get(&g.item.folder);
        let mut kw: Vec<char> = g
            .item
            .keywords
            .iter()
            .filter_map(|k| map.and_then(|m| m.get(k)).copied())
            .collect();
        kw.sort_unstable();
        suffix.extend(kw);
        let flags: String = suffix.into_iter().collect();
        let name = format!(
            "{}.S{}N{}.passeur,S={},W={}:2,{}",
            g.item.internal_date,
            spec.seed,
            g.item.corpus_id.rsplit('-').next().unwrap_or("0"),
            g.raw.len(),
            g.item.size,
            flags
        );
        let path = dir.join("cur").join(name);
        let mut file = File::create(&path)?;
        file.write_all(&g.raw)?;
        let when =
            UNIX_EPOCH + Duration::from_secs(u64::try_from(g.item.internal_date).unwrap_or(0));
        file.set_times(fs::FileTimes::new().set_modified(when).set_accessed(when))?;
        summary.messages += 1;
        summary.bytes += g.raw.len() as u64;
        summary.imap_bytes += g.item.size;
        *summary
            .folder_counts
            .entry(g.item.folder.clone())
            .or_default() += 1;
        summary.items.push(g.item);
    }
    let names: Vec<&str> = FOLDERS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| *n != "INBOX")
        .collect();
    add_subscriptions(root, &names, spec.inbox_prefix)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_corpus_other_seed_other_corpus() {
        let spec = CorpusSpec {
            seed: 7,
            count: 60,
            ..CorpusSpec::default()
        };
        let a: Vec<String> = generate(&spec).map(|g| g.item.sha256).collect();
        let b: Vec<String> = generate(&spec).map(|g| g.item.sha256).collect();
        assert_eq!(a, b);
        let c: Vec<String> = generate(&CorpusSpec { seed: 8, ..spec })
            .map(|g| g.item.sha256)
            .collect();
        assert_ne!(a, c);
    }

    #[test]
    fn realistic_profile_has_the_documented_shape() {
        let spec = CorpusSpec {
            seed: 42,
            count: 1000,
            profile: Profile::Realistic,
            ..CorpusSpec::default()
        };
        let items: Vec<Generated> = generate(&spec).collect();
        let small = items.iter().filter(|g| g.item.size < 20_000).count();
        assert!((760..=880).contains(&small), "{small}");
        let folders: BTreeSet<&str> = items.iter().map(|g| g.item.folder.as_str()).collect();
        assert_eq!(folders.len(), FOLDERS.len() - 1);
        let no_id = items.iter().filter(|g| g.item.message_id.is_none()).count();
        assert!((2..=25).contains(&no_id), "{no_id}");
        for g in &items {
            let text = String::from_utf8_lossy(&g.raw);
            assert!(text.contains(&format!("X-Corpus-Id: {}", g.item.corpus_id)));
            assert!(text.contains("\nMIME-Version: 1.0"));
        }
        assert!(items.iter().any(|g| g.raw.windows(2).any(|w| w == b"\r\n")));
        assert!(
            items
                .iter()
                .any(|g| String::from_utf8_lossy(&g.raw).contains("=?UTF-8?B?"))
        );
        assert!(
            items
                .iter()
                .any(|g| String::from_utf8_lossy(&g.raw).contains("=?ISO-8859-1?Q?"))
        );
        assert!(
            items
                .iter()
                .any(|g| g.raw.split(|&b| b == b'\n').any(|l| l.len() > 998))
        );
        assert!(
            items
                .iter()
                .any(|g| g.item.flags.iter().any(|f| f == "\\Deleted"))
        );
        for g in items.iter().filter(|g| g.item.folder == "Archive/2021") {
            assert!((year_start(2021)..year_start(2022)).contains(&g.item.internal_date));
        }
    }
}
