//! Folder mapping: from the source's folder list to destination folder names.
//!
//! A source name is first turned into a *logical path* (mUTF-7 decoded, personal namespace prefix
//! removed, split on the hierarchy separator); special-use folders are mapped onto the
//! destination's folder with the same role; user rename rules apply to the logical path; the
//! result is joined with the destination's separator and prefix and encoded again.
//! `INBOX` and its children stay under the destination's `INBOX` (never `INBOX.INBOX.x`).

use std::collections::{HashMap, HashSet};

use globset::{Glob, GlobSet, GlobSetBuilder};
use passeur_imap::{Client, ListEntry, mutf7};
use serde::{Deserialize, Serialize};

use crate::{EngineError, Side};

/// The special-use roles that are mapped by role rather than by name.
pub const ROLES: [&str; 5] = ["\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive"];

/// Roles of aggregate (virtual) folders, whose messages live in other folders too.
const VIRTUAL_ROLES: [&str; 2] = ["\\All", "\\Flagged"];

/// User folder rules, given on logical paths written with `/`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FolderRules {
    /// Glob patterns; when not empty, only matching folders are copied.
    pub include: Vec<String>,
    /// Glob patterns of folders to leave out.
    pub exclude: Vec<String>,
    /// `(old, new)`: the folder `old` (and its children) go to `new`.
    pub rename: Vec<(String, String)>,
    /// Copy aggregate folders such as Gmail's "All Mail" (off: their messages would be duplicated).
    pub include_virtual: bool,
    /// Gmail mode: where messages with no label go (logical path; default: the destination's
    /// `\\Archive` folder, else `Archive`).
    #[serde(default)]
    pub gmail_archive: Option<String>,
    /// Copy a Gmail source folder by folder, as any server (one download per label), instead of
    /// by message and label.
    #[serde(default)]
    pub no_gmail_labels: bool,
}

/// One side's folder layout.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Personal namespace prefix, wire form (e.g. `INBOX.`), possibly empty.
    pub prefix: String,
    /// The hierarchy separator, when the server has one.
    pub delimiter: Option<char>,
    /// Every folder the server lists.
    pub folders: Vec<ListEntry>,
    /// Roles the provider's preset names a folder for that this side does not have yet
    /// (role, logical path): a source folder of that role is created under that name.
    pub named_roles: Vec<(&'static str, Vec<String>)>,
}

impl Layout {
    /// A layout; without a delimiter, the first one a listed folder gives is taken.
    pub fn new(prefix: String, delimiter: Option<char>, folders: Vec<ListEntry>) -> Layout {
        let delimiter = delimiter.or_else(|| folders.iter().find_map(|f| f.delimiter));
        Layout {
            prefix,
            delimiter,
            folders,
            named_roles: Vec::new(),
        }
    }

    /// The logical path of a wire name on this side.
    pub fn logical(&self, wire: &str) -> Vec<String> {
        let name = mutf7::decode(wire).unwrap_or_else(|| wire.to_owned());
        if name.eq_ignore_ascii_case("INBOX") {
            return vec!["INBOX".into()];
        }
        let prefix = mutf7::decode(&self.prefix).unwrap_or_else(|| self.prefix.clone());
        let rest =
            if !prefix.is_empty() && name.len() > prefix.len() && starts_with_ci(&name, &prefix) {
                &name[prefix.len()..]
            } else {
                &name[..]
            };
        match self.delimiter {
            Some(d) => rest.split(d).map(str::to_owned).collect(),
            None => vec![rest.to_owned()],
        }
    }

    /// The wire name on this side for a logical path.
    pub fn wire(&self, path: &[String]) -> String {
        let d = self.delimiter.unwrap_or('/');
        let clean: Vec<String> = path.iter().map(|s| s.replace(d, "_")).collect();
        let name = if clean
            .first()
            .is_some_and(|s| s.eq_ignore_ascii_case("INBOX"))
        {
            let mut parts = vec!["INBOX".to_owned()];
            parts.extend(clean[1..].iter().cloned());
            parts.join(&d.to_string())
        } else {
            let prefix = mutf7::decode(&self.prefix).unwrap_or_else(|| self.prefix.clone());
            format!("{prefix}{}", clean.join(&d.to_string()))
        };
        mutf7::encode(&name)
    }

    fn role_of(entry: &ListEntry) -> Option<&'static str> {
        ROLES
            .iter()
            .find(|r| entry.attributes.iter().any(|a| a.eq_ignore_ascii_case(r)))
            .copied()
    }
}

/// The special-use attribute of a role named in a preset's `folders`.
fn preset_role(key: &str) -> Option<&'static str> {
    Some(match key {
        "sent" => "\\Sent",
        "drafts" => "\\Drafts",
        "trash" => "\\Trash",
        "junk" => "\\Junk",
        "archive" => "\\Archive",
        "all" => "\\All",
        _ => return None,
    })
}

impl Layout {
    /// Gives the provider's special folders (its preset's `folders`: role -> name written with
    /// `/`) their role where the server does not say it with SPECIAL-USE (RFC 6154). A folder
    /// of that name gets the role, unless a folder already has it (the server's word wins); a
    /// role with no folder of that name yet is remembered in [`Layout::named_roles`].
    pub fn with_preset_folders(
        mut self,
        folders: &std::collections::BTreeMap<String, String>,
    ) -> Layout {
        for (key, name) in folders {
            let Some(role) = preset_role(key) else {
                continue;
            };
            if self.folders.iter().any(|f| has_attr(f, role)) {
                continue;
            }
            let path: Vec<String> = name.split('/').map(str::to_owned).collect();
            let found = self
                .folders
                .iter()
                .position(|f| f.is_selectable() && self.logical(&f.name) == path);
            match found {
                Some(i) => self.folders[i].attributes.push(role.to_owned()),
                None if ROLES.contains(&role) => self.named_roles.push((role, path)),
                None => {}
            }
        }
        self
    }
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn has_attr(entry: &ListEntry, attr: &str) -> bool {
    entry
        .attributes
        .iter()
        .any(|a| a.eq_ignore_ascii_case(attr))
}

/// One source folder and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderPlan {
    /// Source wire name.
    pub src: String,
    /// Destination wire name.
    pub dst: String,
    /// Readable source path (logical, `/`-joined).
    pub display: String,
    /// The destination folder already exists.
    pub dst_exists: bool,
    /// The source folder was subscribed.
    pub subscribed: bool,
    /// The source folder's special-use role (`\\Archive`...), given to the destination folder
    /// when it is created on a server with CREATE-SPECIAL-USE.
    pub role: Option<&'static str>,
}

/// Why a folder rule cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use folder pattern {pattern:?}: {source}")]
pub struct RuleError {
    pattern: String,
    source: globset::Error,
}

fn globset(patterns: &[String]) -> Result<Option<GlobSet>, RuleError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|source| RuleError {
            pattern: p.clone(),
            source,
        })?);
    }
    b.build().map(Some).map_err(|source| RuleError {
        pattern: patterns.join(","),
        source,
    })
}

/// Maps every selectable source folder to a destination name.
pub fn plan(src: &Layout, dst: &Layout, rules: &FolderRules) -> Result<Vec<FolderPlan>, RuleError> {
    let include = globset(&rules.include)?;
    let exclude = globset(&rules.exclude)?;

    // Special-use folders: source logical path -> destination logical path.
    let mut by_role: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    for s in &src.folders {
        let Some(role) = Layout::role_of(s) else {
            continue;
        };
        // The destination's folder of that role, else the name its provider gives that role.
        let to = dst
            .folders
            .iter()
            .find(|d| Layout::role_of(d) == Some(role))
            .map(|d| dst.logical(&d.name))
            .or_else(|| {
                dst.named_roles
                    .iter()
                    .find(|(r, _)| *r == role)
                    .map(|(_, p)| p.clone())
            });
        if let Some(to) = to {
            by_role.push((src.logical(&s.name), to));
        }
    }
    // Longest prefix first, so a child of a special folder follows its parent.
    by_role.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));

    let mut plans = Vec::new();
    for s in &src.folders {
        if has_attr(s, "\\Noselect") || has_attr(s, "\\NonExistent") {
            continue;
        }
        if !rules.include_virtual && VIRTUAL_ROLES.iter().any(|r| has_attr(s, r)) {
            continue;
        }
        let logical = src.logical(&s.name);
        let display = logical.join("/");
        if include.as_ref().is_some_and(|g| !g.is_match(&display))
            || exclude.as_ref().is_some_and(|g| g.is_match(&display))
        {
            continue;
        }
        let mut path = logical.clone();
        if let Some((from, to)) = by_role
            .iter()
            .find(|(from, _)| logical.len() >= from.len() && logical[..from.len()] == from[..])
        {
            path = to.iter().chain(&logical[from.len()..]).cloned().collect();
        }
        for (old, new) in &rules.rename {
            let old: Vec<String> = old.split('/').map(str::to_owned).collect();
            if path.len() >= old.len() && path[..old.len()] == old[..] {
                path = new
                    .split('/')
                    .map(str::to_owned)
                    .chain(path[old.len()..].iter().cloned())
                    .collect();
                break;
            }
        }
        let dst_name = dst.wire(&path);
        // A parent that exists only as a name in the tree must still be created.
        let dst_exists = dst.folders.iter().any(|d| {
            (d.name == dst_name || (d.name.eq_ignore_ascii_case("INBOX") && dst_name == "INBOX"))
                && d.is_selectable()
        });
        plans.push(FolderPlan {
            src: s.name.clone(),
            dst: dst_name,
            display,
            dst_exists,
            subscribed: s.subscribed,
            role: Layout::role_of(s),
        });
    }
    Ok(plans)
}

/// A destination name that differs from the one the mapping gave, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    /// Readable source path.
    pub folder: String,
    /// The name the mapping gave.
    pub wanted: String,
    /// The name used instead.
    pub dst: String,
}

/// Makes every planned destination name unique, and keeps the names of earlier passes.
///
/// `recorded` maps a source wire name to the destination name a previous pass used: it wins,
/// so a folder renamed once keeps its name. Then, when two source folders map to the same
/// destination (`Newsletters` and `INBOX/Newsletters` both become `INBOX.Newsletters` under an
/// `INBOX.` prefix), the first keeps the name and the next get ` (2)`, ` (3)`... Returns the
/// collisions resolved this way (not the recorded names, which were reported when chosen).
pub fn resolve_collisions(
    plans: &mut [FolderPlan],
    dst: &Layout,
    recorded: &HashMap<String, String>,
) -> Vec<Renamed> {
    let key = |n: &str| {
        if n.eq_ignore_ascii_case("INBOX") {
            "INBOX".to_owned()
        } else {
            n.to_owned()
        }
    };
    let mut taken: HashSet<String> = HashSet::new();
    let mut pending = Vec::new();
    for (i, p) in plans.iter_mut().enumerate() {
        if let Some(name) = recorded.get(&p.src)
            && *name != p.dst
        {
            p.dst = name.clone();
            p.dst_exists = dst.has(name)
                && dst
                    .folders
                    .iter()
                    .any(|d| key(&d.name) == key(name) && d.is_selectable());
        }
        if recorded.contains_key(&p.src) {
            taken.insert(key(&p.dst));
        } else {
            pending.push(i);
        }
    }
    let mut renamed = Vec::new();
    for i in pending {
        let p = &mut plans[i];
        if taken.insert(key(&p.dst)) {
            continue;
        }
        let wanted = p.dst.clone();
        let mut n = 2;
        let name = loop {
            let candidate = format!("{wanted} ({n})");
            if !taken.contains(&key(&candidate)) && !dst.has(&candidate) {
                break candidate;
            }
            n += 1;
        };
        taken.insert(key(&name));
        p.dst = name.clone();
        p.dst_exists = false;
        renamed.push(Renamed {
            folder: p.display.clone(),
            wanted,
            dst: name,
        });
    }
    renamed
}

/// A name servers accept more often: the characters some refuse in mailbox names (Cyrus:
/// `"` and `\\`; wildcards; control characters; a `.` or `/` that is not the hierarchy
/// separator, which Maildir++ stores cannot hold) replaced by `_`. The separator stays.
pub fn sanitised(name: &str, delimiter: Option<char>) -> String {
    name.chars()
        .map(|c| match c {
            c if Some(c) == delimiter => c,
            '"' | '\\' | '*' | '%' | '.' | '/' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect()
}

/// Helpers for sources that are not IMAP accounts (file imports).
impl Layout {
    /// The logical path of this side's folder with the special-use `role` (one of [`ROLES`],
    /// e.g. `\\Sent`), if it has one.
    pub fn role_path(&self, role: &str) -> Option<Vec<String>> {
        self.folders
            .iter()
            .find(|f| Layout::role_of(f).is_some_and(|r| r.eq_ignore_ascii_case(role)))
            .map(|f| self.logical(&f.name))
    }

    /// Whether this side has a folder of this wire name (`INBOX` in any case).
    pub fn has(&self, wire: &str) -> bool {
        self.folders.iter().any(|f| {
            f.name == wire
                || (f.name.eq_ignore_ascii_case("INBOX") && wire.eq_ignore_ascii_case("INBOX"))
        })
    }
}

/// The folder layout of one side, as its server lists it: personal namespace and folders.
pub(crate) async fn layout(
    c: &mut Client,
    side: Side,
    presets: &passeur_net::discover::Presets,
) -> Result<Layout, EngineError> {
    let ns = if c.capabilities().namespace() {
        c.namespace()
            .await
            .map_err(|e| EngineError::imap(side, "read namespaces", e))?
    } else {
        None
    };
    let list = c
        .list()
        .await
        .map_err(|e| EngineError::imap(side, "list folders", e))?;
    let (prefix, delim) = match ns {
        Some(ns) => (ns.prefix, ns.delimiter),
        None => (String::new(), None),
    };
    let layout = Layout::new(prefix, delim, list);
    // An account at a known provider: its preset names the special folders the server may
    // not flag.
    Ok(match presets.for_host(c.host()) {
        Some(p) => layout.with_preset_folders(&p.folders),
        None => layout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, delim: char, attrs: &[&str]) -> ListEntry {
        ListEntry {
            name: name.into(),
            delimiter: Some(delim),
            attributes: attrs.iter().map(|s| s.to_string()).collect(),
            subscribed: true,
        }
    }

    fn dovecot() -> Layout {
        Layout::new(
            String::new(),
            Some('/'),
            vec![
                entry("INBOX", '/', &[]),
                entry("INBOX/Newsletters", '/', &[]),
                entry("Sent", '/', &["\\Sent"]),
                entry("Sent/2020", '/', &[]),
                entry("Trash", '/', &["\\Trash"]),
                entry("Projects", '/', &["\\Noselect"]),
                entry("Projects/Alpha", '/', &[]),
                entry("Entw&APw-rfe &- Notizen", '/', &[]),
                entry("All Mail", '/', &["\\All"]),
            ],
        )
    }

    fn courier() -> Layout {
        Layout::new(
            "INBOX.".into(),
            Some('.'),
            vec![
                entry("INBOX", '.', &[]),
                entry("INBOX.Sent Items", '.', &["\\Sent"]),
                entry("INBOX.Deleted Items", '.', &["\\Trash"]),
            ],
        )
    }

    fn preset(id: &str) -> std::collections::BTreeMap<String, String> {
        passeur_net::discover::Presets::built_in()
            .by_id(id)
            .unwrap()
            .folders
            .clone()
    }

    #[test]
    fn a_providers_preset_names_the_special_folders_its_server_does_not_flag() {
        // Outlook without SPECIAL-USE: `Sent Items` is the Sent folder, `Deleted Items` the
        // Trash; a plain `Sent` is an ordinary folder there.
        let outlook = || {
            Layout::new(
                String::new(),
                Some('/'),
                vec![
                    entry("INBOX", '/', &[]),
                    entry("Sent Items", '/', &[]),
                    entry("Sent Items/2020", '/', &[]),
                    entry("Deleted Items", '/', &[]),
                    entry("Sent", '/', &[]),
                ],
            )
        };
        // Gmail without SPECIAL-USE and without a Sent Mail folder yet.
        let gmail = Layout::new(
            String::new(),
            Some('/'),
            vec![
                entry("INBOX", '/', &[]),
                entry("[Gmail]", '/', &["\\Noselect"]),
                entry("[Gmail]/Trash", '/', &[]),
            ],
        )
        .with_preset_folders(&preset("gmail"));
        let src = outlook().with_preset_folders(&preset("microsoft"));
        let map = |plans: Vec<FolderPlan>| -> Vec<(String, String, bool)> {
            plans
                .into_iter()
                .map(|p| (p.src, p.dst, p.dst_exists))
                .collect()
        };
        let got = map(plan(&src, &gmail, &FolderRules::default()).unwrap());
        let want = [
            ("INBOX", "INBOX", true),
            ("Sent Items", "[Gmail]/Sent Mail", false),
            ("Sent Items/2020", "[Gmail]/Sent Mail/2020", false),
            ("Deleted Items", "[Gmail]/Trash", true),
            ("Sent", "Sent", false),
        ];
        let want: Vec<(String, String, bool)> = want
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
            .collect();
        assert_eq!(got, want);
        // Without the presets, names stay names.
        let got = map(plan(&outlook(), &gmail, &FolderRules::default()).unwrap());
        assert_eq!(got[1].1, "Sent Items");

        // The server's SPECIAL-USE wins over the preset's name.
        let flagged = Layout::new(
            String::new(),
            Some('/'),
            vec![
                entry("INBOX", '/', &[]),
                entry("Sent", '/', &["\\Sent"]),
                entry("[Gmail]/Sent Mail", '/', &[]),
            ],
        )
        .with_preset_folders(&preset("gmail"));
        let got = map(plan(&src, &flagged, &FolderRules::default()).unwrap());
        assert_eq!(got[1].1, "Sent");
        assert!(flagged.named_roles.iter().all(|(r, _)| *r != "\\Sent"));
    }

    #[test]
    fn maps_prefix_separator_and_special_use() {
        let plans = plan(&dovecot(), &courier(), &FolderRules::default()).unwrap();
        let map: Vec<(&str, &str)> = plans
            .iter()
            .map(|p| (p.src.as_str(), p.dst.as_str()))
            .collect();
        assert_eq!(
            map,
            vec![
                ("INBOX", "INBOX"),
                ("INBOX/Newsletters", "INBOX.Newsletters"),
                ("Sent", "INBOX.Sent Items"),
                ("Sent/2020", "INBOX.Sent Items.2020"),
                ("Trash", "INBOX.Deleted Items"),
                ("Projects/Alpha", "INBOX.Projects.Alpha"),
                ("Entw&APw-rfe &- Notizen", "INBOX.Entw&APw-rfe &- Notizen"),
            ]
        );
        assert!(plans[0].dst_exists && plans[2].dst_exists && !plans[1].dst_exists);
    }

    #[test]
    fn maps_back_without_prefix() {
        let plans = plan(&courier(), &dovecot(), &FolderRules::default()).unwrap();
        let dsts: Vec<&str> = plans.iter().map(|p| p.dst.as_str()).collect();
        assert_eq!(dsts, vec!["INBOX", "Sent", "Trash"]);
    }

    #[test]
    fn rules_include_exclude_rename() {
        let rules = FolderRules {
            exclude: vec!["Trash".into()],
            rename: vec![("Projects".into(), "Old/Projects".into())],
            ..Default::default()
        };
        let plans = plan(&dovecot(), &dovecot(), &rules).unwrap();
        assert!(plans.iter().all(|p| p.src != "Trash"));
        assert!(
            plans
                .iter()
                .any(|p| p.src == "Projects/Alpha" && p.dst == "Old/Projects/Alpha")
        );
        let only = FolderRules {
            include: vec!["INBOX*".into()],
            ..Default::default()
        };
        assert_eq!(plan(&dovecot(), &dovecot(), &only).unwrap().len(), 2);
        assert!(
            plan(
                &dovecot(),
                &dovecot(),
                &FolderRules {
                    include: vec!["[".into()],
                    ..Default::default()
                }
            )
            .is_err()
        );
    }

    #[test]
    fn sanitised_keeps_the_separator_and_replaces_refused_characters() {
        assert_eq!(sanitised("INBOX.Say \"hi\"", Some('.')), "INBOX.Say _hi_");
        assert_eq!(sanitised("a\\b/v1.2", Some('/')), "a_b/v1_2");
        assert_eq!(sanitised("Plain/Name", Some('/')), "Plain/Name");
    }

    fn plan_to(src: &str, dst: &str) -> FolderPlan {
        FolderPlan {
            src: src.into(),
            dst: dst.into(),
            display: src.into(),
            dst_exists: false,
            subscribed: true,
            role: None,
        }
    }

    #[test]
    fn collisions_get_numbered_names_and_recorded_names_win() {
        let dst = courier();
        let mut plans = vec![
            plan_to("Newsletters", "INBOX.Newsletters"),
            plan_to("INBOX/Newsletters", "INBOX.Newsletters"),
            plan_to("Other", "INBOX.Newsletters"),
        ];
        let r = resolve_collisions(&mut plans, &dst, &HashMap::new());
        let names: Vec<&str> = plans.iter().map(|p| p.dst.as_str()).collect();
        assert_eq!(
            names,
            [
                "INBOX.Newsletters",
                "INBOX.Newsletters (2)",
                "INBOX.Newsletters (3)"
            ]
        );
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].folder, "INBOX/Newsletters");
        assert_eq!(r[0].wanted, "INBOX.Newsletters");

        // A later pass lists the folders in another order: the recorded names stay.
        let mut plans = vec![
            plan_to("INBOX/Newsletters", "INBOX.Newsletters"),
            plan_to("Newsletters", "INBOX.Newsletters"),
        ];
        let recorded = HashMap::from([
            ("Newsletters".to_owned(), "INBOX.Newsletters".to_owned()),
            (
                "INBOX/Newsletters".to_owned(),
                "INBOX.Newsletters (2)".to_owned(),
            ),
        ]);
        assert!(resolve_collisions(&mut plans, &dst, &recorded).is_empty());
        assert_eq!(plans[0].dst, "INBOX.Newsletters (2)");
        assert_eq!(plans[1].dst, "INBOX.Newsletters");
    }

    #[test]
    fn separator_inside_a_name_is_replaced() {
        let src = Layout::new(String::new(), Some('/'), vec![entry("a.b", '/', &[])]);
        let plans = plan(&src, &courier(), &FolderRules::default()).unwrap();
        assert_eq!(plans[0].dst, "INBOX.a_b");
    }
}
