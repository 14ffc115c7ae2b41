//! iCalendar (RFC 5545) streams split into calendar object resources (RFC 4791 §4.1):
//! one VCALENDAR per UID, holding the master component, its RECURRENCE-ID
//! overrides, and the VTIMEZONEs they use.
//!
//! # Memory bound
//! [`split`] reads the input once. Components wait in a window until their
//! VCALENDAR ends (or the input ends), so that overrides written far from their
//! master still join it. The window holds at most
//! [`IcsOptions::max_pending_objects`] UIDs (default 5,000) and
//! [`IcsOptions::max_pending_bytes`] bytes of text (default 32 MiB); past either,
//! the oldest UID is emitted early. A component whose UID was already emitted that
//! way comes out again as a second object with the same UID (rare: it needs
//! thousands of other UIDs between a master and its override); the DAV copier
//! then reports it as a conflict instead of silently merging or duplicating it.
//! VTIMEZONEs are kept for the whole VCALENDAR (they are small).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::BufRead;

use crate::error::FormatError;
use crate::line::{Logical, Prop, Unfolder, fold_into, lossy};
use crate::tz;

/// The kind of a calendar object resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ComponentKind {
    /// VEVENT: an event.
    Event,
    /// VTODO: a task.
    Todo,
    /// VJOURNAL: a journal entry.
    Journal,
}

impl ComponentKind {
    /// The iCalendar component name (`VEVENT`, `VTODO`, `VJOURNAL`).
    pub fn name(self) -> &'static str {
        match self {
            ComponentKind::Event => "VEVENT",
            ComponentKind::Todo => "VTODO",
            ComponentKind::Journal => "VJOURNAL",
        }
    }

    /// The kind named `VEVENT`, `VTODO` or `VJOURNAL` (any case); None for other names.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "VEVENT" => Some(ComponentKind::Event),
            "VTODO" => Some(ComponentKind::Todo),
            "VJOURNAL" => Some(ComponentKind::Journal),
            _ => None,
        }
    }
}

/// One calendar object resource, ready to PUT.
#[derive(Debug, Clone)]
pub struct IcsObject {
    /// The UID shared by the master and its overrides (made up when the input had none).
    pub uid: String,
    /// Whether it is an event, a task or a journal entry.
    pub kind: ComponentKind,
    /// A complete VCALENDAR with CRLF line ends, without METHOD.
    pub text: String,
    /// The master's SUMMARY (or the first component's), unescaped.
    pub summary: Option<String>,
    /// The physical line (1-based) where the first component of this UID starts.
    pub line: usize,
    /// Number of RECURRENCE-ID overrides grouped with the master.
    pub overrides: usize,
    /// `X-WR-CALNAME` of the enclosing VCALENDAR, when given (a name for the target
    /// collection).
    pub calendar_name: Option<String>,
    /// What was changed or could not be fixed (added VTIMEZONE, mapped Windows zone,
    /// generated UID, TZID without a definition).
    pub warnings: Vec<String>,
}

/// Knobs of [`split_with`].
#[derive(Debug, Clone)]
pub struct IcsOptions {
    /// UIDs held back at most while waiting for their overrides (default 5,000).
    pub max_pending_objects: usize,
    /// Bytes of text held back at most (default 32 MiB).
    pub max_pending_bytes: usize,
    /// Rename Windows zone IDs (`W. Europe Standard Time`) to IANA names.
    pub map_windows_tz: bool,
    /// Add a built-in VTIMEZONE for a TZID the input uses without defining it.
    pub add_missing_vtimezones: bool,
}

impl Default for IcsOptions {
    fn default() -> Self {
        IcsOptions {
            max_pending_objects: 5000,
            max_pending_bytes: 32 << 20,
            map_windows_tz: true,
            add_missing_vtimezones: true,
        }
    }
}

/// Splits an iCalendar stream into one object per UID (see the module docs).
pub fn split<R: BufRead>(reader: R) -> IcsSplitter<R> {
    split_with(reader, IcsOptions::default())
}

/// [`split`] with options.
pub fn split_with<R: BufRead>(reader: R, opts: IcsOptions) -> IcsSplitter<R> {
    IcsSplitter {
        lines: Unfolder::new(reader, false),
        opts,
        pushback: None,
        out: VecDeque::new(),
        cal: None,
        cals: HashMap::new(),
        next_cal: 0,
        tzs: HashMap::new(),
        pending: BTreeMap::new(),
        by_uid: HashMap::new(),
        emitted: HashSet::new(),
        seq: 0,
        pending_bytes: 0,
        done: false,
        in_garbage: false,
    }
}

/// A content line of a component: its unfolded text and the parsed property.
#[derive(Debug, Clone)]
struct PLine {
    text: String,
    prop: Prop,
}

#[derive(Debug)]
struct Comp {
    name: String,
    line: usize,
    lines: Vec<PLine>,
    uid: Option<String>,
    /// The RECURRENCE-ID value of an override.
    recurrence: Option<String>,
    /// SEQUENCE (0 when absent) and DTSTAMP, to keep the latest of several versions.
    sequence: i64,
    dtstamp: String,
    summary: Option<String>,
    error: Option<FormatError>,
    /// What was skipped or mended while reading it (lenient reading), line numbers included.
    warnings: Vec<String>,
    bytes: usize,
}

/// Closes the components `stack[from..]` left open, innermost first (lenient reading).
fn close_open(comp: &mut Comp, stack: &[(String, usize)], from: usize, line: usize) {
    for (s, _) in stack[from..].iter().rev() {
        comp.lines.push(PLine {
            text: format!("END:{s}"),
            prop: Prop {
                group: None,
                name: "END".into(),
                params: Vec::new(),
                value: s.as_bytes().to_vec(),
                line,
            },
        });
    }
}

impl Comp {
    fn tzids(&self) -> impl Iterator<Item = &str> {
        self.lines
            .iter()
            .flat_map(|l| l.prop.params.iter())
            .filter(|p| p.name == "TZID")
            .flat_map(|p| p.values.iter().map(String::as_str))
    }

    fn write(&self, out: &mut String) {
        for l in &self.lines {
            fold_into(out, &l.text);
        }
    }

    /// Indices of this component's own properties (not those of VALARMs inside).
    fn own_props(&self) -> Vec<usize> {
        let mut depth = 0usize;
        let mut out = Vec::new();
        for (i, l) in self.lines.iter().enumerate() {
            match l.prop.name.as_str() {
                "BEGIN" => depth += 1,
                "END" => depth = depth.saturating_sub(1),
                _ if depth == 1 => out.push(i),
                _ => {}
            }
        }
        out
    }

    /// Makes DTSTART and DTEND / DUE agree on floating vs. zoned time, which
    /// servers need to compute durations (Radicale refuses the mix): a UTC value
    /// loses a contradictory TZID, and a floating end (start) takes the zone of the
    /// zoned start (end).
    fn fix_mixed_times(&mut self, warnings: &mut Vec<String>) {
        let own = self.own_props();
        let find = |c: &Comp, n: &str| own.iter().copied().find(|&i| c.lines[i].prop.name == n);
        let mut changed = Vec::new();
        for &i in &own {
            let p = &mut self.lines[i].prop;
            if matches!(p.name.as_str(), "DTSTART" | "DTEND" | "DUE")
                && p.value.ends_with(b"Z")
                && p.params.iter().any(|q| q.name == "TZID")
            {
                p.params.retain(|q| q.name != "TZID");
                warnings.push(format!("dropped the TZID of the UTC time in {}", p.name));
                changed.push(i);
            }
        }
        let kind = |c: &Comp, i: usize| -> (Option<String>, bool) {
            let p = &c.lines[i].prop;
            let floating_dt = p.value.len() == 15 && p.value.get(8) == Some(&b'T');
            (
                p.param("TZID").map(str::to_string),
                floating_dt && p.param("TZID").is_none(),
            )
        };
        if let Some(start) = find(self, "DTSTART") {
            for end_name in ["DTEND", "DUE"] {
                let Some(end) = find(self, end_name) else {
                    continue;
                };
                let (stz, sfloat) = kind(self, start);
                let (etz, efloat) = kind(self, end);
                let (to, tz) = match (stz, sfloat, etz, efloat) {
                    (Some(tz), _, None, true) => (end, tz),
                    (None, true, Some(tz), _) => (start, tz),
                    _ => continue,
                };
                let p = &mut self.lines[to].prop;
                p.params.push(crate::line::Param {
                    name: "TZID".into(),
                    values: vec![tz.clone()],
                    bare: false,
                });
                warnings.push(format!("gave the floating {} the time zone {tz}", p.name));
                changed.push(to);
            }
        }
        for i in changed {
            self.lines[i].text = self.lines[i].prop.to_unfolded();
        }
    }

    /// Escapes bare commas and semicolons in single-valued TEXT properties.
    fn escape_text_values(&mut self, warnings: &mut Vec<String>) {
        for l in &mut self.lines {
            if !matches!(
                l.prop.name.as_str(),
                "SUMMARY" | "DESCRIPTION" | "LOCATION" | "COMMENT"
            ) {
                continue;
            }
            if let Some(v) = escape_bare_separators(&l.prop.value_str()) {
                l.prop.value = v.into_bytes();
                l.text = l.prop.to_unfolded();
                warnings.push(format!(
                    "escaped bare commas or semicolons in {}",
                    l.prop.name
                ));
            }
        }
    }

    fn rename_tzid(&mut self, from: &str, to: &str) {
        for l in &mut self.lines {
            let mut changed = false;
            for p in &mut l.prop.params {
                if p.name == "TZID" {
                    for v in &mut p.values {
                        if v == from {
                            *v = to.to_string();
                            changed = true;
                        }
                    }
                }
            }
            if l.prop.name == "TZID" && l.prop.value_str() == from {
                l.prop.value = to.as_bytes().to_vec();
                changed = true;
            }
            if changed {
                l.text = l.prop.to_unfolded();
            }
        }
    }
}

#[derive(Debug)]
struct CalState {
    line: usize,
    implicit: bool,
    /// Its key in [`IcsSplitter::cals`].
    id: u64,
}

/// What an object takes from its VCALENDAR: the calendar's own properties, its name and its
/// METHOD. Kept (counted by the objects that use it) until the last of them is built, since
/// objects wait for later versions of their UID past the end of their VCALENDAR (iTIP files).
#[derive(Debug, Default)]
struct CalInfo {
    props: Vec<PLine>,
    name: Option<String>,
    method: Option<String>,
    users: usize,
}

#[derive(Debug)]
struct Pending {
    uid: String,
    kind: ComponentKind,
    comps: Vec<Comp>,
    line: usize,
    warnings: Vec<String>,
    /// The VCALENDAR of the master (or of the first component).
    cal: u64,
}

/// How one version of a component ranks against another of the same UID and RECURRENCE-ID:
/// higher SEQUENCE first, then a full version over an iTIP REPLY (which carries only one
/// attendee's answer), then the later DTSTAMP; on a tie the one read last.
fn newer(new: &Comp, new_reply: bool, old: &Comp, old_reply: bool) -> bool {
    (new.sequence, !new_reply, new.dtstamp.as_str())
        >= (old.sequence, !old_reply, old.dtstamp.as_str())
}

/// The iterator returned by [`split`].
pub struct IcsSplitter<R> {
    lines: Unfolder<R>,
    opts: IcsOptions,
    pushback: Option<Logical>,
    out: VecDeque<Result<IcsObject, FormatError>>,
    cal: Option<CalState>,
    cals: HashMap<u64, CalInfo>,
    next_cal: u64,
    /// VTIMEZONE definitions of the whole input by TZID (the last one read wins).
    tzs: HashMap<String, Comp>,
    pending: BTreeMap<u64, Pending>,
    by_uid: HashMap<String, u64>,
    emitted: HashSet<String>,
    seq: u64,
    pending_bytes: usize,
    done: bool,
    in_garbage: bool,
}

const TOP_LEVEL: &[&str] = &[
    "VCALENDAR",
    "VEVENT",
    "VTODO",
    "VJOURNAL",
    "VTIMEZONE",
    "VFREEBUSY",
    "VAVAILABILITY",
];

const DATE_PROPS: &[&str] = &[
    "DTSTART",
    "DTEND",
    "DUE",
    "RECURRENCE-ID",
    "EXDATE",
    "RDATE",
    "DTSTAMP",
    "CREATED",
    "LAST-MODIFIED",
    "COMPLETED",
];

impl<R: BufRead> IcsSplitter<R> {
    fn next_line(&mut self) -> std::io::Result<Option<Logical>> {
        if let Some(l) = self.pushback.take() {
            return Ok(Some(l));
        }
        self.lines.next_logical()
    }

    fn open_calendar(&mut self, line: usize, implicit: bool) {
        self.next_cal += 1;
        let id = self.next_cal;
        self.cals.insert(
            id,
            CalInfo {
                users: 1,
                ..CalInfo::default()
            },
        );
        self.cal = Some(CalState { line, implicit, id });
    }

    /// Ends the current VCALENDAR. Its objects stay pending: a later VCALENDAR of the same
    /// input may hold a newer version of one of them (iTIP REQUEST, then CANCEL).
    fn close_calendar(&mut self) {
        if let Some(c) = self.cal.take() {
            self.release_cal(c.id);
        }
    }

    fn release_cal(&mut self, id: u64) {
        if let Some(info) = self.cals.get_mut(&id) {
            info.users = info.users.saturating_sub(1);
            if info.users == 0 {
                self.cals.remove(&id);
            }
        }
    }

    /// The current VCALENDAR's key, opening an implicit one when there is none.
    fn current_cal(&mut self, line: usize) -> u64 {
        if self.cal.is_none() {
            self.open_calendar(line, true);
        }
        self.cal.as_ref().map_or(0, |c| c.id)
    }

    fn is_reply(&self, cal: u64) -> bool {
        self.cals
            .get(&cal)
            .and_then(|c| c.method.as_deref())
            .is_some_and(|m| m.eq_ignore_ascii_case("REPLY"))
    }

    /// Reads one component whose BEGIN line is `begin`.
    ///
    /// Lenient where other readers are: a line that is not a content line, an END without its
    /// BEGIN, and a component left open (closed where the next one starts, or at the end of
    /// the input) are skipped or mended with a warning naming the line, and the item goes on.
    fn read_component(&mut self, begin: Prop) -> std::io::Result<Comp> {
        let name = begin.value_str().trim().to_ascii_uppercase();
        let mut comp = Comp {
            name: name.clone(),
            line: begin.line,
            lines: vec![PLine {
                text: format!("BEGIN:{name}"),
                prop: begin,
            }],
            uid: None,
            recurrence: None,
            sequence: 0,
            dtstamp: String::new(),
            summary: None,
            error: None,
            warnings: Vec::new(),
            bytes: 0,
        };
        let mut stack = vec![(name, comp.line)];
        loop {
            let Some(l) = self.next_line()? else {
                let (open, at) = stack[stack.len() - 1].clone();
                comp.warnings.push(format!(
                    "the input ended before END:{open} (BEGIN on line {at}); closed it there"
                ));
                let at_line = comp.line;
                close_open(&mut comp, &stack, 0, at_line);
                break;
            };
            let mut prop = match Prop::parse(&l) {
                Ok(p) => p,
                Err(reason) => {
                    comp.warnings
                        .push(format!("skipped line {}: {reason}", l.line));
                    continue;
                }
            };
            if prop.name == "BEGIN" {
                let sub = prop.value_str().trim().to_ascii_uppercase();
                if TOP_LEVEL.contains(&sub.as_str()) {
                    let (open, at) = stack[stack.len() - 1].clone();
                    comp.warnings.push(format!(
                        "line {}: BEGIN:{sub} came before END:{open} (BEGIN on line {at}); closed {open} there",
                        l.line
                    ));
                    close_open(&mut comp, &stack, 0, l.line);
                    self.pushback = Some(l);
                    break;
                }
                comp.lines.push(PLine {
                    text: format!("BEGIN:{sub}"),
                    prop,
                });
                stack.push((sub, l.line));
                continue;
            }
            if prop.name == "END" {
                let sub = prop.value_str().trim().to_ascii_uppercase();
                if let Some(pos) = stack.iter().rposition(|(s, _)| *s == sub) {
                    if pos + 1 != stack.len() {
                        let (open, at) = stack[stack.len() - 1].clone();
                        comp.warnings.push(format!(
                            "line {}: END:{sub} came before END:{open} (BEGIN on line {at}); closed {open} there",
                            l.line
                        ));
                        close_open(&mut comp, &stack, pos + 1, l.line);
                    }
                    stack.truncate(pos);
                    comp.lines.push(PLine {
                        text: format!("END:{sub}"),
                        prop,
                    });
                    if stack.is_empty() {
                        break;
                    }
                    continue;
                }
                if sub == "VCALENDAR" {
                    let (open, at) = stack[stack.len() - 1].clone();
                    comp.warnings.push(format!(
                        "line {}: END:VCALENDAR came before END:{open} (BEGIN on line {at}); closed {open} there",
                        l.line
                    ));
                    close_open(&mut comp, &stack, 0, l.line);
                    self.pushback = Some(l);
                    break;
                }
                comp.warnings.push(format!(
                    "skipped line {}: END:{sub} without its BEGIN",
                    l.line
                ));
                continue;
            }
            match check_value(&mut prop, stack.len() == 1 && comp.name == "VEVENT") {
                Check::Ok => {}
                Check::Fixed(note) => {
                    comp.warnings.push(note);
                    let text = prop.to_unfolded();
                    comp.bytes += text.len() + 2;
                    comp.lines.push(PLine { text, prop });
                    self.note_own(&mut comp, stack.len());
                    continue;
                }
                Check::Drop(note) => {
                    comp.warnings.push(note);
                    continue;
                }
                Check::Fail(e) => {
                    comp.error.get_or_insert(e);
                }
            }
            let text = lossy(&l.bytes);
            comp.bytes += text.len() + 2;
            comp.lines.push(PLine { text, prop });
            self.note_own(&mut comp, stack.len());
        }
        Ok(comp)
    }

    /// Notes the UID, RECURRENCE-ID, SEQUENCE, DTSTAMP and SUMMARY of the component's own last
    /// property (`depth` 1: not inside a VALARM).
    fn note_own(&self, comp: &mut Comp, depth: usize) {
        if depth != 1 {
            return;
        }
        let Some(l) = comp.lines.last() else { return };
        let prop = &l.prop;
        match prop.name.as_str() {
            "UID" => {
                let v = prop.value_str().trim().to_string();
                if !v.is_empty() {
                    comp.uid = Some(v);
                }
            }
            "RECURRENCE-ID" => comp.recurrence = Some(prop.value_str().trim().to_string()),
            "SEQUENCE" => comp.sequence = prop.value_str().trim().parse().unwrap_or(0),
            "DTSTAMP" => comp.dtstamp = prop.value_str().trim().to_string(),
            "SUMMARY" => comp.summary = Some(unescape_text(&prop.value_str())),
            _ => {}
        }
    }

    fn dispatch(&mut self, mut comp: Comp) {
        if comp.name == "VTIMEZONE" {
            let tzid = comp
                .lines
                .iter()
                .find(|l| l.prop.name == "TZID")
                .map(|l| l.prop.value_str().trim().to_string());
            for w in comp.warnings.drain(..) {
                self.out.push_back(Err(FormatError::Skipped {
                    line: comp.line,
                    reason: format!("in the VTIMEZONE: {w}"),
                }));
            }
            match (tzid, comp.error.take()) {
                (_, Some(e)) => self.out.push_back(Err(FormatError::Skipped {
                    line: comp.line,
                    reason: format!("skipped a VTIMEZONE: {e}"),
                })),
                (None, None) => self.out.push_back(Err(FormatError::Skipped {
                    line: comp.line,
                    reason: "skipped a VTIMEZONE without TZID".into(),
                })),
                (Some(t), None) => {
                    self.tzs.insert(t, comp);
                }
            }
            return;
        }
        let Some(kind) = ComponentKind::from_name(&comp.name) else {
            if matches!(comp.name.as_str(), "VFREEBUSY" | "VAVAILABILITY") {
                self.out.push_back(Err(FormatError::Unsupported {
                    line: comp.line,
                    uid: comp.uid.clone(),
                    component: comp.name.clone(),
                    reason: "only VEVENT, VTODO and VJOURNAL become calendar resources".into(),
                }));
            } else {
                self.out.push_back(Err(FormatError::Skipped {
                    line: comp.line,
                    reason: format!(
                        "skipped the unknown component {} (lines {}-{})",
                        comp.name,
                        comp.line,
                        comp.lines.last().map_or(comp.line, |l| l.prop.line)
                    ),
                }));
            }
            return;
        };
        let cal = self.current_cal(comp.line);
        let reply = self.is_reply(cal);
        let mut warnings = Vec::new();
        let uid = match comp.uid.clone() {
            Some(u) => u,
            None => {
                let mut all = String::new();
                comp.write(&mut all);
                let u = format!(
                    "passeur-{}",
                    &crate::fingerprint::sha256_hex(all.as_bytes())[..32]
                );
                let prop = Prop {
                    group: None,
                    name: "UID".into(),
                    params: Vec::new(),
                    value: u.as_bytes().to_vec(),
                    line: comp.line,
                };
                comp.lines.insert(
                    1,
                    PLine {
                        text: format!("UID:{u}"),
                        prop,
                    },
                );
                comp.uid = Some(u.clone());
                warnings.push(format!("generated UID {u} (the component had none)"));
                u
            }
        };
        if let Some(&seq) = self.by_uid.get(&uid)
            && self.pending.contains_key(&seq)
        {
            let Some(p) = self.pending.get_mut(&seq) else {
                return;
            };
            if p.kind != kind {
                self.out.push_back(Err(FormatError::Unsupported {
                    line: comp.line,
                    uid: Some(uid),
                    component: comp.name.clone(),
                    reason: format!("the UID is already used by a {}", p.kind.name()),
                }));
                return;
            }
            p.warnings.extend(warnings);
            let same = p.comps.iter().position(|c| c.recurrence == comp.recurrence);
            let Some(i) = same else {
                self.pending_bytes += comp.bytes;
                if comp.recurrence.is_some() {
                    p.comps.push(comp);
                } else {
                    p.line = p.line.min(comp.line);
                    p.comps.insert(0, comp);
                    let old = std::mem::replace(&mut p.cal, cal);
                    if let Some(c) = self.cals.get_mut(&cal) {
                        c.users += 1;
                    }
                    self.release_cal(old);
                }
                return;
            };
            // Another version of a component already read (iTIP: REQUEST, then an update or
            // a CANCEL): keep the latest, say which.
            let old_cal = p.cal;
            let old_reply = self.is_reply(old_cal);
            let Some(p) = self.pending.get_mut(&seq) else {
                return;
            };
            let old = &p.comps[i];
            let what = match &comp.recurrence {
                Some(r) => format!("the override {r}"),
                None => "the event".into(),
            };
            if newer(&comp, reply, old, old_reply) {
                p.warnings.push(format!(
                    "kept the version of {what} on line {} (SEQUENCE {}) over the one on line {} (SEQUENCE {})",
                    comp.line, comp.sequence, old.line, old.sequence
                ));
                self.pending_bytes =
                    self.pending_bytes + comp.bytes - old.bytes.min(self.pending_bytes);
                let master = comp.recurrence.is_none();
                p.comps[i] = comp;
                if master && old_cal != cal {
                    p.cal = cal;
                    if let Some(c) = self.cals.get_mut(&cal) {
                        c.users += 1;
                    }
                    self.release_cal(old_cal);
                }
            } else {
                p.warnings.push(format!(
                    "kept the version of {what} on line {} (SEQUENCE {}) over the one on line {} (SEQUENCE {})",
                    old.line, old.sequence, comp.line, comp.sequence
                ));
            }
            return;
        }
        if self.emitted.contains(&uid) {
            warnings.push(
                "more components of this UID came after it was emitted (outside the grouping window)"
                    .into(),
            );
        }
        self.seq += 1;
        self.pending_bytes += comp.bytes;
        self.by_uid.insert(uid.clone(), self.seq);
        if let Some(c) = self.cals.get_mut(&cal) {
            c.users += 1;
        }
        self.pending.insert(
            self.seq,
            Pending {
                uid,
                kind,
                line: comp.line,
                comps: vec![comp],
                warnings,
                cal,
            },
        );
        while self.pending.len() > self.opts.max_pending_objects
            || (self.pending_bytes > self.opts.max_pending_bytes && self.pending.len() > 1)
        {
            self.flush_oldest();
        }
    }

    fn flush_oldest(&mut self) {
        if let Some((_, p)) = self.pending.pop_first() {
            self.by_uid.remove(&p.uid);
            self.emitted.insert(p.uid.clone());
            let r = self.build(p);
            self.out.push_back(r);
        }
    }

    fn flush_all(&mut self) {
        while !self.pending.is_empty() {
            self.flush_oldest();
        }
        self.pending_bytes = 0;
    }

    fn build(&mut self, p: Pending) -> Result<IcsObject, FormatError> {
        let cal = p.cal;
        let r = self.build_object(p);
        self.release_cal(cal);
        r
    }

    fn build_object(&mut self, mut p: Pending) -> Result<IcsObject, FormatError> {
        let bytes: usize = p.comps.iter().map(|c| c.bytes).sum();
        self.pending_bytes = self.pending_bytes.saturating_sub(bytes);
        if let Some(e) = p.comps.iter_mut().find_map(|c| c.error.take()) {
            return Err(e.with_uid(&p.uid));
        }
        let mut warnings = Vec::new();
        for c in &mut p.comps {
            warnings.append(&mut c.warnings);
        }
        warnings.append(&mut p.warnings);
        p.warnings = warnings;
        let empty = CalInfo::default();
        let cal = self.cals.get(&p.cal).unwrap_or(&empty);
        for c in &mut p.comps {
            c.fix_mixed_times(&mut p.warnings);
            c.escape_text_values(&mut p.warnings);
        }
        // TZIDs in order of first use.
        let mut used: Vec<String> = Vec::new();
        for c in &p.comps {
            for t in c.tzids() {
                if !used.iter().any(|u| u == t) {
                    used.push(t.to_string());
                }
            }
        }
        let mut tz_text = String::new();
        for t in used {
            let mut name = t.clone();
            if let Some(iana) =
                tz::windows_to_iana(&t).filter(|i| self.opts.map_windows_tz && *i != t)
            {
                for c in &mut p.comps {
                    c.rename_tzid(&t, iana);
                }
                p.warnings
                    .push(format!("mapped Windows time zone {t:?} to {iana}"));
                name = iana.to_string();
            }
            if let Some(def) = self.tzs.get(&t) {
                if name != t {
                    let mut renamed = Comp {
                        name: def.name.clone(),
                        line: def.line,
                        lines: def.lines.clone(),
                        uid: None,
                        recurrence: None,
                        sequence: 0,
                        dtstamp: String::new(),
                        summary: None,
                        error: None,
                        warnings: Vec::new(),
                        bytes: 0,
                    };
                    renamed.rename_tzid(&t, &name);
                    renamed.write(&mut tz_text);
                } else {
                    def.write(&mut tz_text);
                }
            } else if let Some(v) = self
                .opts
                .add_missing_vtimezones
                .then(|| tz::builtin_vtimezone(&name))
                .flatten()
            {
                tz_text.push_str(&v);
                p.warnings.push(format!("added a VTIMEZONE for {name}"));
            } else {
                p.warnings
                    .push(format!("no VTIMEZONE is known for TZID {name:?}"));
            }
        }
        let mut text = String::with_capacity(bytes + tz_text.len() + 128);
        text.push_str("BEGIN:VCALENDAR\r\n");
        let has = |n: &str| cal.props.iter().any(|l| l.prop.name == n);
        if !has("VERSION") {
            text.push_str("VERSION:2.0\r\n");
        }
        if !has("PRODID") {
            text.push_str("PRODID:-//passeur//passeur-formats//EN\r\n");
        }
        for l in &cal.props {
            fold_into(&mut text, &l.text);
        }
        text.push_str(&tz_text);
        for c in &p.comps {
            c.write(&mut text);
        }
        text.push_str("END:VCALENDAR\r\n");
        let summary = p.comps.iter().find_map(|c| c.summary.clone());
        Ok(IcsObject {
            overrides: p.comps.iter().filter(|c| c.recurrence.is_some()).count(),
            uid: p.uid,
            kind: p.kind,
            text,
            summary,
            line: p.line,
            calendar_name: cal.name.clone(),
            warnings: p.warnings,
        })
    }

    fn step(&mut self) -> std::io::Result<()> {
        let Some(l) = self.next_line()? else {
            if let Some(cal) = self.cal.as_ref().filter(|c| !c.implicit) {
                // A file cut short: keep what is complete, say what is missing.
                self.out.push_back(Err(FormatError::Skipped {
                    line: cal.line,
                    reason: "the input ended before END:VCALENDAR".into(),
                }));
            }
            self.close_calendar();
            self.flush_all();
            self.emitted.clear();
            self.done = true;
            return Ok(());
        };
        let prop = match Prop::parse(&l) {
            Ok(p) => p,
            Err(reason) => {
                // Outside a VCALENDAR, one warning per run of garbage lines.
                if self.cal.is_some() || !self.in_garbage {
                    self.out.push_back(Err(FormatError::Skipped {
                        line: l.line,
                        reason: format!("skipped line {}: {reason}", l.line),
                    }));
                }
                self.in_garbage = self.cal.is_none();
                return Ok(());
            }
        };
        let value = prop.value_str().trim().to_ascii_uppercase();
        match (prop.name.as_str(), value.as_str()) {
            ("BEGIN", "VCALENDAR") => {
                if self.cal.is_some() {
                    self.close_calendar();
                }
                self.in_garbage = false;
                self.open_calendar(l.line, false);
            }
            ("END", "VCALENDAR") => {
                if self.cal.is_some() {
                    self.close_calendar();
                } else {
                    self.out.push_back(Err(FormatError::Skipped {
                        line: l.line,
                        reason: format!("skipped line {}: END:VCALENDAR without its BEGIN", l.line),
                    }));
                }
            }
            ("BEGIN", _) => {
                self.in_garbage = false;
                if self.cal.is_none() {
                    // A bare component without VCALENDAR: accept it as if wrapped.
                    self.open_calendar(l.line, true);
                }
                let comp = self.read_component(prop)?;
                self.dispatch(comp);
            }
            ("END", _) => self.out.push_back(Err(FormatError::Skipped {
                line: l.line,
                reason: format!("skipped line {}: END:{value} without its BEGIN", l.line),
            })),
            _ => {
                let cal = self.cal.as_ref().and_then(|c| self.cals.get_mut(&c.id));
                if let Some(cal) = cal {
                    match prop.name.as_str() {
                        "METHOD" => cal.method = Some(prop.value_str().trim().to_string()),
                        "X-WR-CALNAME" => {
                            cal.name = Some(unescape_text(&prop.value_str()));
                            cal.props.push(PLine {
                                text: lossy(&l.bytes),
                                prop,
                            });
                        }
                        _ => {
                            if cal.props.iter().any(|p| p.prop.name == prop.name)
                                && matches!(prop.name.as_str(), "VERSION" | "PRODID" | "CALSCALE")
                            {
                                return Ok(());
                            }
                            cal.props.push(PLine {
                                text: lossy(&l.bytes),
                                prop,
                            });
                        }
                    }
                } else if !self.in_garbage {
                    self.in_garbage = true;
                    self.out.push_back(Err(FormatError::Skipped {
                        line: l.line,
                        reason: format!(
                            "skipped line {}: {} outside of a VCALENDAR",
                            l.line, prop.name
                        ),
                    }));
                }
            }
        }
        Ok(())
    }
}

impl<R: BufRead> Iterator for IcsSplitter<R> {
    type Item = Result<IcsObject, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.out.pop_front() {
                return Some(r);
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.step() {
                self.done = true;
                return Some(Err(FormatError::Io(e)));
            }
        }
    }
}

/// What reading one property found.
enum Check {
    Ok,
    /// The value was mended (a note says how); the property is kept as changed.
    Fixed(String),
    /// The property is left out (a note says why).
    Drop(String),
    /// The item cannot be imported.
    Fail(FormatError),
}

/// Properties whose loss changes nothing a calendar shows: dropped when unreadable.
const STAMP_PROPS: &[&str] = &["DTSTAMP", "CREATED", "LAST-MODIFIED", "COMPLETED"];

/// Checks date values and inline binary data of one property. Dates written loosely
/// (`2024-01-01`, `19970901T1300Z`, fractional seconds) are rewritten to RFC 5545 form; an
/// unreadable time stamp, end, due date, or RDATE/EXDATE entry is dropped with a note; an
/// unreadable start of an event (`event_start`), RECURRENCE-ID or RRULE UNTIL fails the item.
fn check_value(prop: &mut Prop, event_start: bool) -> Check {
    let name = prop.name.clone();
    let line = prop.line;
    if DATE_PROPS.contains(&name.as_str()) {
        let v = prop.value_str();
        let period = prop
            .param("VALUE")
            .is_some_and(|v| v.eq_ignore_ascii_case("PERIOD"));
        let multi = matches!(name.as_str(), "EXDATE" | "RDATE");
        // VALUE=DATE with a date-time is contradictory: servers keep only the date.
        let date_only = prop
            .params
            .iter()
            .any(|q| q.name == "VALUE" && q.values.iter().any(|x| x.eq_ignore_ascii_case("DATE")));
        let bad = |what: &str| FormatError::BadDate {
            line,
            uid: None,
            property: what.to_string(),
            value: v.chars().take(80).collect(),
        };
        if date_only {
            let dates: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|one| !one.is_empty())
                .collect();
            if !dates.is_empty() && dates.iter().all(|d| d.len() == 8 && valid_date(d)) {
                return if dates.len() == v.split(',').count() {
                    Check::Ok
                } else {
                    prop.value = dates.join(",").into_bytes();
                    Check::Fixed(format!("left empty entries out of {name} on line {line}"))
                };
            }
            // A date-time under VALUE=DATE: the value is taken as written, the parameter
            // that contradicts it goes.
            if !dates.is_empty() && dates.iter().all(|d| valid_date(d)) {
                prop.params.retain(|q| q.name != "VALUE");
                return Check::Fixed(format!(
                    "dropped VALUE=DATE of {name} on line {line}: the value {:?} has a time",
                    v.trim()
                ));
            }
            if multi || !(name == "RECURRENCE-ID" || (name == "DTSTART" && event_start)) {
                return Check::Drop(format!(
                    "dropped {name} on line {line}: {:?} is not a date",
                    v.chars().take(80).collect::<String>()
                ));
            }
            return Check::Fail(bad(&name));
        }
        if multi {
            let mut kept = Vec::new();
            let mut dropped = Vec::new();
            let mut changed = false;
            for one in v.split(',') {
                let (start, rest) = match one.split_once('/') {
                    Some((a, b)) if period || !b.is_empty() => (a, Some(b)),
                    _ => (one, None),
                };
                match normalize_date(start) {
                    Some(n) => {
                        changed |= n != start;
                        kept.push(match rest {
                            Some(r) => format!("{n}/{r}"),
                            None => n,
                        });
                    }
                    None => dropped.push(one.to_string()),
                }
            }
            if kept.is_empty() {
                return Check::Drop(format!(
                    "dropped {name} on line {line}: {:?} is not a date",
                    v.chars().take(80).collect::<String>()
                ));
            }
            if dropped.is_empty() && !changed {
                return Check::Ok;
            }
            prop.value = kept.join(",").into_bytes();
            let mut note = format!("read {name} on line {line} as {}", prop.value_str());
            if !dropped.is_empty() {
                note.push_str(&format!(
                    " (left out {:?}: not a date)",
                    dropped.join(",").chars().take(80).collect::<String>()
                ));
            }
            return Check::Fixed(note);
        }
        if valid_date(v.trim()) {
            return Check::Ok;
        }
        if let Some(n) = normalize_date(&v) {
            prop.value = n.clone().into_bytes();
            return Check::Fixed(format!("read {name} {:?} on line {line} as {n}", v.trim()));
        }
        let fatal = name == "RECURRENCE-ID" || (name == "DTSTART" && event_start);
        if fatal {
            return Check::Fail(bad(&name));
        }
        let what = if STAMP_PROPS.contains(&name.as_str()) {
            "a time stamp"
        } else {
            "a date"
        };
        return Check::Drop(format!(
            "dropped {name} on line {line}: {:?} is not {what}",
            v.chars().take(80).collect::<String>()
        ));
    }
    if name == "RRULE" {
        let v = prop.value_str();
        let mut out = Vec::new();
        let mut note = None;
        for part in v.split(';') {
            match part.trim().strip_prefix("UNTIL=") {
                Some(u) if !valid_date(u.trim()) => match normalize_date(u) {
                    Some(n) => {
                        note = Some(format!("read RRULE UNTIL {u:?} on line {line} as {n}"));
                        out.push(format!("UNTIL={n}"));
                    }
                    None => {
                        return Check::Fail(FormatError::BadDate {
                            line,
                            uid: None,
                            property: "RRULE UNTIL".into(),
                            value: u.chars().take(80).collect(),
                        });
                    }
                },
                _ => out.push(part.to_string()),
            }
        }
        if let Some(n) = note {
            prop.value = out.join(";").into_bytes();
            return Check::Fixed(n);
        }
        return Check::Ok;
    }
    if prop
        .param("ENCODING")
        .is_some_and(|e| e.eq_ignore_ascii_case("BASE64") || e.eq_ignore_ascii_case("B"))
        && crate::vcf::decode_base64(&prop.value).is_none()
    {
        return Check::Drop(format!(
            "dropped {name} on line {line}: its base64 data cannot be decoded"
        ));
    }
    Check::Ok
}

/// A loosely written date or date-time in RFC 5545 form: separators (`2024-01-01T10:00:00`)
/// and fractional seconds removed, missing seconds (`19970901T1300Z`) added, a lower-case
/// `t`/`z` raised, trailing zeros past the seconds (`T2000000Z`) cut. `None` when what is
/// left is still not a date.
pub(crate) fn normalize_date(v: &str) -> Option<String> {
    let v = v.trim();
    if valid_date(v) {
        return Some(v.to_string());
    }
    let mut s: String = v
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if let Some(dot) = s.find('.') {
        let z = s.ends_with('Z');
        s.truncate(dot);
        if z {
            s.push('Z');
        }
    }
    let z = s.ends_with('Z');
    let body = s.trim_end_matches('Z');
    let Some((date, time)) = body.split_once('T') else {
        return valid_date(body).then(|| body.to_string());
    };
    let time = match time.len() {
        4 => format!("{time}00"),
        n if n > 6 && time[6..].bytes().all(|b| b == b'0') => time[..6].to_string(),
        _ => time.to_string(),
    };
    let out = format!("{date}T{time}{}", if z { "Z" } else { "" });
    valid_date(&out).then_some(out)
}

/// `YYYYMMDD` or `YYYYMMDDTHHMMSS[Z]` with plausible field ranges.
pub(crate) fn valid_date(v: &str) -> bool {
    let b = v.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = b.get(r)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    let date_ok = match (digits(0..4), digits(4..6), digits(6..8)) {
        (Some(_), Some(m), Some(d)) => (1..=12).contains(&m) && (1..=31).contains(&d),
        _ => false,
    };
    if !date_ok {
        return false;
    }
    match b.len() {
        8 => true,
        15 | 16 => {
            if b[8] != b'T' || (b.len() == 16 && b[15] != b'Z') {
                return false;
            }
            matches!((digits(9..11), digits(11..13), digits(13..15)),
                (Some(h), Some(mi), Some(s)) if h < 24 && mi < 60 && s <= 60)
        }
        _ => false,
    }
}

/// Escapes the `,` and `;` that a single-valued TEXT value left bare (a common
/// export bug); `None` when there were none. Servers otherwise read a bare comma
/// as a list separator and keep only the first part (Radicale does).
pub(crate) fn escape_bare_separators(v: &str) -> Option<String> {
    let mut out = String::with_capacity(v.len() + 4);
    let mut changed = false;
    let mut it = v.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(n) = it.next() {
                    out.push(n);
                }
            }
            ',' | ';' => {
                out.push('\\');
                out.push(c);
                changed = true;
            }
            _ => out.push(c),
        }
    }
    changed.then_some(out)
}

/// Undoes RFC 5545 TEXT escaping (`\,` `\;` `\\` `\n`).
pub fn unescape_text(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut it = v.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') | Some('N') => out.push('\n'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Key properties of one calendar object resource, for verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IcsInfo {
    /// The UID, when the resource has one.
    pub uid: Option<String>,
    /// The main component's kind, when it is one of the three.
    pub kind: Option<ComponentKind>,
    /// SUMMARY, unescaped.
    pub summary: Option<String>,
    /// DTSTART as `TZID=<zone>:<value>` or `<value>`.
    pub dtstart: Option<String>,
    /// RRULE as written.
    pub rrule: Option<String>,
    /// Number of RECURRENCE-ID overrides.
    pub overrides: usize,
    /// Number of components (VEVENT, VTODO, VJOURNAL) in the resource.
    pub components: usize,
}

/// Reads the key properties of one calendar object resource (the master, or the
/// first component when there is no master).
pub fn inspect(text: &str) -> IcsInfo {
    let mut info = IcsInfo::default();
    let mut u = Unfolder::new(text.as_bytes(), false);
    let mut depth = 0usize;
    let mut in_main = false;
    let mut is_override = false;
    let mut have_master = false;
    while let Ok(Some(l)) = u.next_logical() {
        let Ok(p) = Prop::parse(&l) else { continue };
        let v = p.value_str();
        match p.name.as_str() {
            "BEGIN" => {
                depth += 1;
                if depth == 2
                    && let Some(k) = ComponentKind::from_name(v.trim())
                {
                    in_main = true;
                    is_override = false;
                    info.components += 1;
                    info.kind.get_or_insert(k);
                }
            }
            "END" => {
                if depth == 2 && in_main {
                    in_main = false;
                    if !is_override {
                        have_master = true;
                    }
                }
                depth = depth.saturating_sub(1);
            }
            _ if depth == 2 && in_main => {
                let take = !have_master;
                match p.name.as_str() {
                    "RECURRENCE-ID" => {
                        is_override = true;
                        info.overrides += 1;
                    }
                    "UID" => {
                        info.uid.get_or_insert(v.trim().to_string());
                    }
                    "SUMMARY" if take && !is_override => info.summary = Some(unescape_text(&v)),
                    "SUMMARY" if info.summary.is_none() => info.summary = Some(unescape_text(&v)),
                    "DTSTART" if take && (!is_override || info.dtstart.is_none()) => {
                        info.dtstart = Some(match p.param("TZID") {
                            Some(t) => format!("TZID={t}:{}", v.trim()),
                            None => v.trim().to_string(),
                        })
                    }
                    "RRULE" if take && !is_override => info.rrule = Some(v.trim().to_string()),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objs(s: &str) -> Vec<Result<IcsObject, FormatError>> {
        split(s.as_bytes()).collect()
    }

    const RECUR: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nMETHOD:PUBLISH\r\n\
BEGIN:VEVENT\r\nUID:a\r\nRECURRENCE-ID;TZID=Europe/Paris:20240102T100000\r\nDTSTART;TZID=Europe/Paris:20240102T110000\r\nSUMMARY:moved\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:b\r\nDTSTART:20240101\r\nSUMMARY:other\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:a\r\nDTSTART;TZID=Europe/Paris:20240101T100000\r\nRRULE:FREQ=DAILY\r\nSUMMARY:daily\\, standup\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

    #[test]
    fn groups_overrides_with_master_and_adds_vtimezone() {
        let v = objs(RECUR);
        assert_eq!(v.len(), 2);
        let a = v[0].as_ref().unwrap();
        assert_eq!(a.uid, "a");
        assert_eq!(a.overrides, 1);
        assert_eq!(a.summary.as_deref(), Some("daily, standup"));
        assert!(a.text.contains("BEGIN:VTIMEZONE\r\nTZID:Europe/Paris"));
        assert!(!a.text.contains("METHOD"));
        // master first
        let m = a.text.find("RRULE").unwrap();
        let o = a.text.find("RECURRENCE-ID").unwrap();
        assert!(m < o);
        let info = inspect(&a.text);
        assert_eq!(
            info.dtstart.as_deref(),
            Some("TZID=Europe/Paris:20240101T100000")
        );
        assert_eq!(info.rrule.as_deref(), Some("FREQ=DAILY"));
        assert_eq!(info.components, 2);
        assert_eq!(v[1].as_ref().unwrap().uid, "b");
        assert!(!v[1].as_ref().unwrap().text.contains("VTIMEZONE"));
    }

    #[test]
    fn maps_windows_zone_names() {
        let s = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:w\r\nDTSTART;TZID=W. Europe Standard Time:20240101T100000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let v = objs(s);
        let o = v[0].as_ref().unwrap();
        assert!(
            o.text
                .contains("DTSTART;TZID=Europe/Berlin:20240101T100000"),
            "{}",
            o.text
        );
        assert!(o.text.contains("TZID:Europe/Berlin\r\n"));
        assert!(!o.text.contains("Standard Time"));
    }

    #[test]
    fn broken_lines_and_components_are_skipped_with_a_warning_naming_the_line() {
        let s = "BEGIN:VCALENDAR\r\n\
BEGIN:VEVENT\r\nUID:loose-date\r\nDTSTART:2024-01-01\r\nDTSTAMP:19970901T1300Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:broken\r\nDTSTART:20240101\r\nthis is not a content line\r\nEND:VALARM\r\nEND:VEVENT\r\n\
BEGIN:X-UNKNOWN\r\nFOO:bar\r\nEND:X-UNKNOWN\r\n\
BEGIN:VEVENT\r\nUID:unclosed\r\nDTSTART:20240101\r\n\
BEGIN:VTODO\r\nUID:ok\r\nSUMMARY:fine\r\nDUE:not-a-date\r\nEND:VTODO\r\n\
BEGIN:VEVENT\r\nUID:bad-start\r\nDTSTART:INVALID-DATE\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";
        let v = objs(s);
        let ok: HashMap<String, &IcsObject> = v
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|o| (o.uid.clone(), o))
            .collect();
        let errs: Vec<String> = v
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| format!("{}{e}", if e.is_warning() { "warning: " } else { "" }))
            .collect();
        assert_eq!(ok.len(), 4, "{errs:?}");
        let loose = ok["loose-date"];
        assert!(
            loose.text.contains("DTSTART:20240101\r\n"),
            "{}",
            loose.text
        );
        assert!(loose.text.contains("DTSTAMP:19970901T130000Z\r\n"));
        assert!(
            loose
                .warnings
                .contains(&"read DTSTART \"2024-01-01\" on line 4 as 20240101".to_string()),
            "{:?}",
            loose.warnings
        );
        let broken = ok["broken"];
        assert!(!broken.text.contains("not a content line"));
        assert_eq!(
            broken.warnings,
            vec![
                "skipped line 10: no ':' between name and value".to_string(),
                "skipped line 11: END:VALARM without its BEGIN".to_string(),
            ]
        );
        let unclosed = ok["unclosed"];
        assert!(unclosed.text.contains("DTSTART:20240101\r\nEND:VEVENT\r\n"));
        assert!(
            unclosed.warnings[0].starts_with("line 19: BEGIN:VTODO came before END:VEVENT"),
            "{:?}",
            unclosed.warnings
        );
        let todo = ok["ok"];
        assert!(!todo.text.contains("DUE"));
        assert_eq!(
            todo.warnings,
            vec!["dropped DUE on line 22: \"not-a-date\" is not a date".to_string()]
        );
        assert_eq!(
            errs,
            vec![
                "warning: skipped the unknown component X-UNKNOWN (lines 13-15)".to_string(),
                "cannot parse the date \"INVALID-DATE\" of DTSTART on line 26 (UID \"bad-start\")"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn itip_versions_of_one_uid_keep_the_latest_with_its_overrides() {
        let cal = |method: &str, body: &str| {
            format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:{method}\r\n{body}END:VCALENDAR\r\n")
        };
        let ev = |seq: u32, stamp: &str, extra: &str| {
            format!(
                "BEGIN:VEVENT\r\nUID:m1\r\nSEQUENCE:{seq}\r\nDTSTAMP:{stamp}\r\nDTSTART:20240101T100000Z\r\nRRULE:FREQ=DAILY\r\n{extra}END:VEVENT\r\n"
            )
        };
        let ov = "BEGIN:VEVENT\r\nUID:m1\r\nSEQUENCE:1\r\nRECURRENCE-ID:20240102T100000Z\r\nDTSTART:20240102T120000Z\r\nSUMMARY:moved\r\nEND:VEVENT\r\n";
        let s = [
            cal("REQUEST", &ev(0, "20240101T000000Z", "SUMMARY:first\r\n")),
            cal(
                "REQUEST",
                &format!("{}{ov}", ev(1, "20240102T000000Z", "SUMMARY:second\r\n")),
            ),
            // A reply of the same SEQUENCE carries one attendee's answer: it does not replace.
            cal(
                "REPLY",
                &ev(
                    1,
                    "20240103T000000Z",
                    "ATTENDEE;PARTSTAT=ACCEPTED:mailto:b@x\r\n",
                ),
            ),
            // An older version read last loses too.
            cal("REQUEST", &ev(0, "20231231T000000Z", "SUMMARY:stale\r\n")),
        ]
        .concat();
        let v = objs(&s);
        assert_eq!(v.len(), 1, "{v:?}");
        let o = v[0].as_ref().unwrap();
        assert_eq!(o.uid, "m1");
        assert_eq!(o.overrides, 1);
        assert_eq!(o.summary.as_deref(), Some("second"));
        assert_eq!(o.text.matches("BEGIN:VEVENT").count(), 2, "{}", o.text);
        assert!(!o.text.contains("first") && !o.text.contains("stale"));
        assert!(!o.text.contains("METHOD"));
        assert!(
            o.warnings.contains(
                &"kept the version of the event on line 16 (SEQUENCE 1) over the one on line 4 (SEQUENCE 0)"
                    .to_string()
            ),
            "{:?}",
            o.warnings
        );
        // A CANCEL with a higher SEQUENCE wins: the event arrives cancelled.
        let s2 = format!(
            "{}{}",
            cal("REQUEST", &ev(0, "20240101T000000Z", "")),
            cal("CANCEL", &ev(1, "20240101T000000Z", "STATUS:CANCELLED\r\n"))
        );
        let o = objs(&s2).remove(0).unwrap();
        assert!(o.text.contains("STATUS:CANCELLED"), "{}", o.text);
        assert_eq!(o.text.matches("BEGIN:VEVENT").count(), 1);
    }

    #[test]
    fn missing_uid_gets_a_stable_one() {
        let s = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20240101\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let a = objs(s).remove(0).unwrap();
        let b = objs(s).remove(0).unwrap();
        assert!(a.uid.starts_with("passeur-"));
        assert_eq!(a.uid, b.uid);
        assert!(a.text.contains(&format!("UID:{}", a.uid)));
    }

    #[test]
    fn window_bound_emits_early() {
        let mut s = String::from("BEGIN:VCALENDAR\r\n");
        for i in 0..10 {
            s.push_str(&format!(
                "BEGIN:VEVENT\r\nUID:u{i}\r\nDTSTART:20240101\r\nEND:VEVENT\r\n"
            ));
        }
        s.push_str("END:VCALENDAR\r\n");
        let opts = IcsOptions {
            max_pending_objects: 2,
            ..IcsOptions::default()
        };
        let mut it = split_with(s.as_bytes(), opts);
        // The first object is out before the calendar ends.
        assert_eq!(it.next().unwrap().unwrap().uid, "u0");
        assert_eq!(it.count(), 9);
    }

    #[test]
    fn mixed_floating_and_zoned_times_agree() {
        let s = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:m\r\nDTSTART:20150530T120000\r\nDTEND;TZID=Europe/Berlin:20150530T160000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:z\r\nDTSTART;TZID=Europe/Berlin:20150602T120000Z\r\nDTEND:20150602T160000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let v = objs(s);
        let m = v[0].as_ref().unwrap();
        assert!(
            m.text
                .contains("DTSTART;TZID=Europe/Berlin:20150530T120000\r\n"),
            "{}",
            m.text
        );
        let z = v[1].as_ref().unwrap();
        assert!(
            z.text.contains("DTSTART:20150602T120000Z\r\n"),
            "{}",
            z.text
        );
        assert!(!z.text.contains("VTIMEZONE"));
    }

    #[test]
    fn bare_commas_in_text_are_escaped() {
        let s = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:c\r\nDTSTART:20240101\r\nSUMMARY:a, b\\, c; d\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let o = objs(s).remove(0).unwrap();
        assert!(
            o.text.contains("SUMMARY:a\\, b\\, c\\; d\r\n"),
            "{}",
            o.text
        );
        assert_eq!(o.summary.as_deref(), Some("a, b, c; d"));
    }

    #[test]
    fn dates() {
        assert!(valid_date("20240229"));
        assert!(valid_date("20240229T235960Z"));
        assert!(!valid_date("20241301"));
        assert!(!valid_date("2024-01-01"));
        assert!(!valid_date("20240101T25"));
        assert!(!valid_date(""));
    }
}
