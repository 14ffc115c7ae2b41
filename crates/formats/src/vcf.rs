//! vCard streams (2.1, 3.0 / RFC 2426, 4.0 / RFC 6350) split into one card per
//! object, and converted to vCard 3.0 for servers.
//!
//! [`split`] keeps at most one card (plus cards nested in it, a vCard 2.1 habit)
//! in memory at a time, so large files stream. vCard 2.1 specifics (quoted-printable
//! soft line breaks, unindented base64 lines, bare parameters such as `TEL;HOME`,
//! CHARSET) are read as written and converted by [`to_v3`].

use std::io::BufRead;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::error::FormatError;
use crate::line::{Prop, Unfolder, fold_into, lossy};

/// A vCard version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VcfVersion {
    /// vCard 2.1 (Outlook and old phones; no CardDAV server stores it).
    V21,
    /// vCard 3.0 (RFC 2426).
    V30,
    /// vCard 4.0 (RFC 6350).
    V40,
}

impl VcfVersion {
    /// The version as written in `VERSION:` (`2.1`, `3.0`, `4.0`).
    pub fn as_str(self) -> &'static str {
        match self {
            VcfVersion::V21 => "2.1",
            VcfVersion::V30 => "3.0",
            VcfVersion::V40 => "4.0",
        }
    }
}

/// One contact, as read.
#[derive(Debug, Clone)]
pub struct VcfObject {
    /// The UID, or `passeur-<hash of the card>` when the card had none (then also
    /// added to `text`).
    pub uid: String,
    /// The card, CRLF line ends, in its original version.
    pub text: String,
    /// The version the card declares.
    pub version: VcfVersion,
    /// FN, decoded and unescaped.
    pub fn_: Option<String>,
    /// The physical line (1-based) of `BEGIN:VCARD`.
    pub line: usize,
    /// What the reader mended or could not read in this card.
    pub warnings: Vec<String>,
}

/// Splits a vCard stream into cards (see the module docs).
pub fn split<R: BufRead>(reader: R) -> VcfSplitter<R> {
    VcfSplitter {
        lines: Unfolder::new(reader, true),
        stack: Vec::new(),
        out: std::collections::VecDeque::new(),
        done: false,
        in_garbage: false,
    }
}

struct Card {
    line: usize,
    lines: Vec<(String, Prop)>,
    error: Option<FormatError>,
    /// Lines skipped and ENDs supplied while reading it, line numbers included.
    warnings: Vec<String>,
}

impl Card {
    fn version(&self) -> Option<VcfVersion> {
        self.lines
            .iter()
            .find(|(_, p)| p.name == "VERSION")
            .and_then(|(_, p)| match p.value_str().trim() {
                "2.1" | "2.0" => Some(VcfVersion::V21),
                "3.0" => Some(VcfVersion::V30),
                "4.0" => Some(VcfVersion::V40),
                _ => None,
            })
    }
}

/// The iterator returned by [`split`].
pub struct VcfSplitter<R> {
    lines: Unfolder<R>,
    stack: Vec<Card>,
    out: std::collections::VecDeque<Result<VcfObject, FormatError>>,
    done: bool,
    in_garbage: bool,
}

impl<R: BufRead> VcfSplitter<R> {
    fn step(&mut self) -> std::io::Result<()> {
        let Some(l) = self.lines.next_logical()? else {
            while let Some(mut c) = self.stack.pop() {
                c.warnings.push(format!(
                    "the input ended before END:VCARD (BEGIN on line {}); closed it there",
                    c.line
                ));
                let r = finish(c);
                self.out.push_back(r);
            }
            self.done = true;
            return Ok(());
        };
        let prop = match Prop::parse(&l) {
            Ok(p) => p,
            Err(reason) => {
                match self.stack.last_mut() {
                    Some(c) => {
                        c.warnings
                            .push(format!("skipped line {}: {reason}", l.line));
                    }
                    None => {
                        if !self.in_garbage {
                            self.out.push_back(Err(FormatError::Skipped {
                                line: l.line,
                                reason: format!("skipped line {}: {reason}", l.line),
                            }));
                        }
                        self.in_garbage = true;
                    }
                }
                return Ok(());
            }
        };
        let value = prop.value_str().trim().to_ascii_uppercase();
        match (prop.name.as_str(), value.as_str()) {
            ("BEGIN", "VCARD") => {
                self.in_garbage = false;
                // Only vCard 2.1 nests cards (AGENT); elsewhere a BEGIN inside a card
                // means the previous card lost its END.
                if let Some(top) = self.stack.last()
                    && top.version() != Some(VcfVersion::V21)
                    && let Some(mut c) = self.stack.pop()
                {
                    c.warnings.push(format!(
                        "line {}: BEGIN:VCARD came before END:VCARD (BEGIN on line {}); closed the first card there",
                        l.line, c.line
                    ));
                    let r = finish(c);
                    self.out.push_back(r);
                }
                self.stack.push(Card {
                    line: l.line,
                    lines: Vec::new(),
                    error: None,
                    warnings: Vec::new(),
                });
            }
            ("END", "VCARD") => match self.stack.pop() {
                Some(c) => {
                    let r = finish(c);
                    self.out.push_back(r);
                }
                None => self.out.push_back(Err(FormatError::Skipped {
                    line: l.line,
                    reason: format!("skipped line {}: END:VCARD without its BEGIN", l.line),
                })),
            },
            _ => match self.stack.last_mut() {
                Some(c) => c.lines.push((lossy(&l.bytes), prop)),
                None => {
                    if !self.in_garbage {
                        self.out.push_back(Err(FormatError::Skipped {
                            line: l.line,
                            reason: format!(
                                "skipped line {}: {} outside of a VCARD",
                                l.line, prop.name
                            ),
                        }));
                    }
                    self.in_garbage = true;
                }
            },
        }
        Ok(())
    }
}

impl<R: BufRead> Iterator for VcfSplitter<R> {
    type Item = Result<VcfObject, FormatError>;

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

fn find_uid(c: &Card) -> Option<String> {
    c.lines
        .iter()
        .find(|(_, p)| p.name == "UID")
        .map(|(_, p)| p.value_str().trim().to_string())
        .filter(|u| !u.is_empty())
}

fn finish(mut c: Card) -> Result<VcfObject, FormatError> {
    let uid = find_uid(&c);
    if let Some(e) = c.error.take() {
        return Err(match &uid {
            Some(u) => e.with_uid(u),
            None => e,
        });
    }
    let version = c.version().unwrap_or(VcfVersion::V30);
    let mut warnings = std::mem::take(&mut c.warnings);
    // Inline data that cannot be decoded (a photo cut short) goes, said so; the card stays.
    c.lines.retain(|(_, p)| {
        let b64 = matches!(encoding_of(p).as_deref(), Some("BASE64") | Some("B"));
        if b64 && decode_base64(&p.value).is_none() {
            warnings.push(format!(
                "dropped {} on line {}: its base64 data cannot be decoded",
                p.name, p.line
            ));
            return false;
        }
        true
    });
    if c.version().is_none() {
        warnings.push("no VERSION: read as vCard 3.0".to_string());
    }
    // Values in a legacy CHARSET become UTF-8 now, while their bytes are at hand:
    // the object's text is a Rust string.
    for (text, p) in &mut c.lines {
        let Some(cs) = p.param("CHARSET").map(str::to_string) else {
            continue;
        };
        if cs.eq_ignore_ascii_case("UTF-8") || cs.eq_ignore_ascii_case("UTF8") {
            continue;
        }
        let decoded = decode_value(p).map_err(|e| match &uid {
            Some(u) => e.with_uid(u),
            None => e,
        })?;
        let qp = encoding_of(p).as_deref() == Some("QUOTED-PRINTABLE");
        p.value = if qp {
            qp_encode(decoded.as_bytes())
        } else {
            decoded.into_bytes()
        };
        for q in &mut p.params {
            if q.name == "CHARSET" {
                q.values = vec!["UTF-8".into()];
            }
        }
        *text = p.to_unfolded();
    }
    // Single-valued text with bare separators (Gmail writes `FN:Doe, John`) would
    // be cut at the comma by servers.
    if version != VcfVersion::V21 {
        for (text, p) in &mut c.lines {
            if !matches!(p.name.as_str(), "FN" | "NOTE" | "TITLE" | "ROLE") {
                continue;
            }
            if let Some(v) = crate::ics::escape_bare_separators(&p.value_str()) {
                p.value = v.into_bytes();
                *text = p.to_unfolded();
                warnings.push(format!("escaped bare commas or semicolons in {}", p.name));
            }
        }
    }
    let mut fn_ = None;
    for (_, p) in &c.lines {
        let decoded = decode_value(p).map_err(|e| match &uid {
            Some(u) => e.with_uid(u),
            None => e,
        })?;
        if p.name == "FN" && fn_.is_none() {
            fn_ = Some(crate::ics::unescape_text(decoded.trim()));
        }
    }
    let mut body = String::new();
    for (t, _) in &c.lines {
        fold_into(&mut body, t);
    }
    let uid = match uid {
        Some(u) => u,
        None => {
            let u = format!(
                "passeur-{}",
                &crate::fingerprint::sha256_hex(body.as_bytes())[..32]
            );
            fold_into(&mut body, &format!("UID:{u}"));
            warnings.push(format!("generated UID {u} (the card had none)"));
            u
        }
    };
    let mut text = String::with_capacity(body.len() + 32);
    text.push_str("BEGIN:VCARD\r\n");
    text.push_str(&body);
    text.push_str("END:VCARD\r\n");
    Ok(VcfObject {
        uid,
        text,
        version,
        fn_,
        line: c.line,
        warnings,
    })
}

fn b64() -> GeneralPurpose {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
}

/// Decodes base64 that may contain whitespace; `None` when it is not base64.
pub(crate) fn decode_base64(v: &[u8]) -> Option<Vec<u8>> {
    let clean: Vec<u8> = v
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    b64().decode(clean).ok()
}

fn qp_decode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'=' {
            let h = v
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(b) = h.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
            if i + 1 == v.len() {
                break; // a stray soft line break
            }
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

fn qp_encode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 3);
    for &b in v {
        if (b.is_ascii_graphic() && b != b'=') || b == b' ' {
            out.push(b);
        } else {
            out.extend_from_slice(format!("={b:02X}").as_bytes());
        }
    }
    out
}

fn encoding_of(p: &Prop) -> Option<String> {
    p.param("ENCODING")
        .map(str::to_ascii_uppercase)
        .or_else(|| {
            // vCard 2.1 also writes the encoding as a bare parameter.
            p.params
                .iter()
                .filter(|q| q.bare)
                .flat_map(|q| q.values.iter())
                .find(|v| {
                    v.eq_ignore_ascii_case("QUOTED-PRINTABLE") || v.eq_ignore_ascii_case("BASE64")
                })
                .map(|v| v.to_ascii_uppercase())
        })
}

/// The text of a value after quoted-printable and CHARSET decoding (base64 values
/// are checked and returned as written).
fn decode_value(p: &Prop) -> Result<String, FormatError> {
    let enc = encoding_of(p);
    let bytes = match enc.as_deref() {
        Some("QUOTED-PRINTABLE") => qp_decode(&p.value),
        Some("BASE64") | Some("B") => {
            if decode_base64(&p.value).is_none() {
                return Err(FormatError::InvalidBase64 {
                    line: p.line,
                    uid: None,
                    property: p.name.clone(),
                });
            }
            return Ok(lossy(&p.value));
        }
        _ => p.value.clone(),
    };
    match p.param("CHARSET") {
        Some(cs) => match encoding_rs::Encoding::for_label(cs.trim().as_bytes()) {
            Some(e) => Ok(e.decode_without_bom_handling(&bytes).0.into_owned()),
            None => Err(FormatError::UnknownCharset {
                line: p.line,
                uid: None,
                property: p.name.clone(),
                charset: cs.to_string(),
            }),
        },
        None => Ok(lossy(&bytes)),
    }
}

const STRUCTURED: &[&str] = &["N", "ADR", "ORG"];
const LISTS: &[&str] = &["CATEGORIES", "NICKNAME"];
const TEXT: &[&str] = &[
    "FN",
    "NOTE",
    "TITLE",
    "ROLE",
    "LABEL",
    "MAILER",
    "PRODID",
    "SORT-STRING",
];
const BINARY: &[&str] = &["PHOTO", "LOGO", "SOUND", "KEY"];

/// vCard 2.1 escapes only `\;`; undo that.
fn unescape21(v: &str) -> String {
    v.replace("\\;", ";").replace("\\\\", "\\")
}

fn escape30(v: &str, keep_commas: bool) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' if !keep_commas => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out
}

fn split_unescaped_semicolons(v: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut esc = false;
    for c in v.chars() {
        if esc {
            if c != ';'
                && let Some(last) = parts.last_mut()
            {
                last.push('\\');
            }
            if let Some(last) = parts.last_mut() {
                last.push(c);
            }
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == ';' {
            parts.push(String::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    if esc && let Some(last) = parts.last_mut() {
        last.push('\\');
    }
    parts
}

/// The card in vCard 3.0: 2.1 cards are converted (quoted-printable and CHARSET
/// decoded to UTF-8, base64 data as `ENCODING=b`, bare parameters as `TYPE=`),
/// 4.0 cards get the common 4.0-only forms rewritten (`data:` URIs, `tel:` URIs,
/// `PREF=`), 3.0 cards are returned as they are. A missing FN is derived from N,
/// ORG or EMAIL and a missing N from FN, since vCard 3.0 requires both.
pub fn to_v3(obj: &VcfObject) -> Result<String, FormatError> {
    let mut u = Unfolder::new(obj.text.as_bytes(), true);
    let mut props = Vec::new();
    while let Some(l) = u.next_logical()? {
        let p = Prop::parse(&l).map_err(|reason| FormatError::BadLine {
            line: obj.line + l.line - 1,
            uid: Some(obj.uid.clone()),
            reason,
        })?;
        props.push((lossy(&l.bytes), p));
    }
    let mut out_props: Vec<String> = Vec::new();
    for (raw, p) in &props {
        if matches!(p.name.as_str(), "BEGIN" | "END" | "VERSION") {
            continue;
        }
        let line = match obj.version {
            VcfVersion::V21 => convert21(p).map_err(|e| e.with_uid(&obj.uid))?,
            VcfVersion::V30 => Some(raw.clone()),
            VcfVersion::V40 => convert40(p),
        };
        if let Some(l) = line {
            out_props.push(l);
        }
    }
    let props: Vec<Prop> = props.into_iter().map(|(_, p)| p).collect();
    add_required_names(&mut out_props, &props);
    let mut text = String::from("BEGIN:VCARD\r\nVERSION:3.0\r\n");
    for l in &out_props {
        fold_into(&mut text, l);
    }
    text.push_str("END:VCARD\r\n");
    Ok(text)
}

fn name_of(line: &str) -> String {
    let head = line.split([':', ';']).next().unwrap_or("");
    head.rsplit('.').next().unwrap_or("").to_ascii_uppercase()
}

fn add_required_names(out: &mut Vec<String>, props: &[Prop]) {
    let has = |out: &Vec<String>, n: &str| out.iter().any(|l| name_of(l) == n);
    if !has(out, "FN") {
        let from = |n: &str| {
            props
                .iter()
                .find(|p| p.name == n)
                .and_then(|p| decode_value(p).ok())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let derived = from("N")
            .map(|n| {
                let parts = split_unescaped_semicolons(&n);
                let given = parts.get(1).map(String::as_str).unwrap_or("");
                let family = parts.first().map(String::as_str).unwrap_or("");
                format!("{given} {family}").trim().to_string()
            })
            .filter(|s| !s.is_empty())
            .or_else(|| from("ORG").map(|o| o.replace(';', " ").trim().to_string()))
            .or_else(|| from("EMAIL"))
            .unwrap_or_default();
        out.insert(0, format!("FN:{}", escape30(&derived, false)));
    }
    if !has(out, "N") {
        out.insert(0, "N:;;;;".to_string());
        if let Some(fnl) = out.iter().find(|l| name_of(l) == "FN").cloned() {
            let v = fnl.split_once(':').map(|x| x.1).unwrap_or("");
            out[0] = format!("N:{v};;;;");
        }
    }
}

fn convert21(p: &Prop) -> Result<Option<String>, FormatError> {
    if p.name == "AGENT" && p.value.is_empty() {
        return Ok(None);
    }
    let enc = encoding_of(p);
    let binary = matches!(enc.as_deref(), Some("BASE64") | Some("B"));
    let value = decode_value(p)?;
    let mut types: Vec<String> = Vec::new();
    let mut params: Vec<String> = Vec::new();
    for q in &p.params {
        match q.name.as_str() {
            "ENCODING" | "CHARSET" => {}
            "TYPE" => {
                for v in &q.values {
                    let up = v.to_ascii_uppercase();
                    if q.bare
                        && (up == "QUOTED-PRINTABLE" || up == "BASE64" || up.starts_with("CHARSET"))
                    {
                        continue;
                    }
                    if !types.iter().any(|t| t.eq_ignore_ascii_case(v)) {
                        types.push(v.clone());
                    }
                }
            }
            "VALUE" => {
                let v = q.values.first().map(String::as_str).unwrap_or("");
                if v.eq_ignore_ascii_case("URL") {
                    params.push("VALUE=uri".into());
                } else if !v.eq_ignore_ascii_case("INLINE") {
                    params.push(format!("VALUE={v}"));
                }
            }
            other => params.push(format!("{other}={}", q.values.join(","))),
        }
    }
    let mut s = String::new();
    if let Some(g) = &p.group {
        s.push_str(g);
        s.push('.');
    }
    s.push_str(&p.name);
    if binary {
        s.push_str(";ENCODING=b");
    }
    if !types.is_empty() {
        s.push_str(";TYPE=");
        s.push_str(&types.join(","));
    }
    for q in params {
        s.push(';');
        s.push_str(&q);
    }
    s.push(':');
    let name = p.name.as_str();
    if binary {
        // Canonical, padded base64: some servers (Radicale's vobject) refuse
        // unpadded data that 2.1 writers produce.
        let data = decode_base64(value.as_bytes()).ok_or_else(|| FormatError::InvalidBase64 {
            line: p.line,
            uid: None,
            property: p.name.clone(),
        })?;
        s.push_str(&base64::engine::general_purpose::STANDARD.encode(data));
    } else if STRUCTURED.contains(&name) {
        let parts: Vec<String> = split_unescaped_semicolons(&value)
            .iter()
            .map(|c| escape30(&unescape21(c), name == "N"))
            .collect();
        s.push_str(&parts.join(";"));
    } else if LISTS.contains(&name) {
        s.push_str(&escape30(&unescape21(&value), true));
    } else if TEXT.contains(&name) || name.starts_with("X-") {
        s.push_str(&escape30(&unescape21(&value), false));
    } else {
        s.push_str(&value.replace("\r\n", "\\n").replace('\n', "\\n"));
    }
    Ok(Some(s))
}

fn convert40(p: &Prop) -> Option<String> {
    let mut q = p.clone();
    let value = p.value_str();
    if BINARY.contains(&p.name.as_str())
        && let Some(rest) = value.strip_prefix("data:")
        && let Some((meta, data)) = rest.split_once(',')
        && meta.ends_with(";base64")
    {
        let mime = meta.trim_end_matches(";base64");
        let sub = mime.rsplit('/').next().unwrap_or("").to_ascii_uppercase();
        q.params
            .retain(|x| x.name != "VALUE" && x.name != "MEDIATYPE");
        q.params.insert(0, param("ENCODING", "b"));
        if !sub.is_empty() {
            q.params.push(param("TYPE", &sub));
        }
        q.value = match decode_base64(data.as_bytes()) {
            Some(d) => base64::engine::general_purpose::STANDARD
                .encode(d)
                .into_bytes(),
            None => data.as_bytes().to_vec(),
        };
    }
    if p.name == "TEL"
        && let Some(num) = value.strip_prefix("tel:")
    {
        q.value = num.as_bytes().to_vec();
        q.params.retain(|x| x.name != "VALUE");
    }
    for x in &mut q.params {
        if x.name == "PREF" {
            *x = param("TYPE", "pref");
        }
    }
    q.params
        .retain(|x| x.name != "PID" && x.name != "ALTID" && x.name != "CALSCALE");
    if matches!(p.name.as_str(), "KIND" | "GENDER" | "CLIENTPIDMAP" | "XML") {
        return None;
    }
    Some(q.to_unfolded())
}

fn param(name: &str, v: &str) -> crate::line::Param {
    crate::line::Param {
        name: name.to_string(),
        values: vec![v.to_string()],
        bare: false,
    }
}

/// Key properties of one card, for verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VcfInfo {
    /// The UID, when the card has one.
    pub uid: Option<String>,
    /// The version the card declares, when it is one of the three.
    pub version: Option<VcfVersion>,
    /// FN, decoded and unescaped.
    pub fn_: Option<String>,
    /// Lower-cased, sorted.
    pub emails: Vec<String>,
    /// Digits and a leading `+` only, sorted.
    pub tels: Vec<String>,
    /// True when the card carries a PHOTO.
    pub has_photo: bool,
}

/// Reads the key properties of one card (any version).
pub fn inspect(text: &str) -> VcfInfo {
    let mut info = VcfInfo::default();
    let mut u = Unfolder::new(text.as_bytes(), true);
    while let Ok(Some(l)) = u.next_logical() {
        let Ok(p) = Prop::parse(&l) else { continue };
        let v = decode_value(&p).unwrap_or_else(|_| p.value_str());
        match p.name.as_str() {
            "UID" => {
                info.uid.get_or_insert(v.trim().to_string());
            }
            "VERSION" => {
                info.version = match v.trim() {
                    "2.1" => Some(VcfVersion::V21),
                    "3.0" => Some(VcfVersion::V30),
                    "4.0" => Some(VcfVersion::V40),
                    _ => None,
                }
            }
            "FN" => {
                info.fn_.get_or_insert(crate::ics::unescape_text(v.trim()));
            }
            "EMAIL" => info.emails.push(v.trim().to_ascii_lowercase()),
            "TEL" => info.tels.push(
                v.trim()
                    .trim_start_matches("tel:")
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == '+')
                    .collect(),
            ),
            "PHOTO" => info.has_photo = true,
            _ => {}
        }
    }
    info.emails.sort();
    info.tels.sort();
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cards(s: &[u8]) -> Vec<Result<VcfObject, FormatError>> {
        split(s).collect()
    }

    #[test]
    fn converts_v21_quoted_printable_and_charset() {
        let s = b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:M=FCller;J=FCrgen\r\n\
FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=BCrgen M=C3=BC=\r\nller, Dr.\r\n\
TEL;HOME;VOICE:+49 30 1234\r\nEMAIL;INTERNET:j@example.org\r\nNOTE;ENCODING=QUOTED-PRINTABLE:line1=0D=0Aline2\r\n\
PHOTO;ENCODING=BASE64;TYPE=JPEG:\r\nQUJD\r\nREVG\r\n\r\nEND:VCARD\r\n";
        let v = cards(s);
        assert_eq!(v.len(), 1);
        let o = v[0].as_ref().unwrap();
        assert_eq!(o.version, VcfVersion::V21);
        assert_eq!(o.fn_.as_deref(), Some("Jürgen Müller, Dr."));
        assert!(o.uid.starts_with("passeur-"));
        let t = to_v3(o).unwrap();
        let unf = t.replace("\r\n ", "");
        assert!(unf.contains("VERSION:3.0\r\n"));
        assert!(unf.contains("N:Müller;Jürgen\r\n"), "{unf}");
        assert!(unf.contains("FN:Jürgen Müller\\, Dr.\r\n"), "{unf}");
        assert!(unf.contains("TEL;TYPE=HOME,VOICE:+49 30 1234\r\n"), "{unf}");
        assert!(unf.contains("NOTE:line1\\nline2\r\n"), "{unf}");
        assert!(
            unf.contains("PHOTO;ENCODING=b;TYPE=JPEG:QUJDREVG\r\n"),
            "{unf}"
        );
        assert!(unf.contains(&format!("UID:{}\r\n", o.uid)));
        let info = inspect(&t);
        assert_eq!(info.fn_.as_deref(), Some("Jürgen Müller, Dr."));
        assert_eq!(info.tels, vec!["+49301234"]);
        assert!(info.has_photo);
    }

    #[test]
    fn bad_cards_are_reported_and_the_rest_goes_on() {
        let s = b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nPHOTO;ENCODING=b:!!notbase64!!\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:2.1\r\nUID:b\r\nFN;CHARSET=X-UNKNOWN-9:abc\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c\r\nFN:ok\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nUID:d\r\nFN:cut\r\n";
        let v = cards(s);
        assert_eq!(v.len(), 4);
        // Undecodable inline data goes, said so; the card stays.
        let c0 = v[0].as_ref().unwrap();
        assert!(!c0.text.contains("PHOTO"));
        assert_eq!(
            c0.warnings,
            vec!["dropped PHOTO on line 4: its base64 data cannot be decoded".to_string()]
        );
        let e1 = v[1].as_ref().unwrap_err().to_string();
        assert!(e1.contains("charset") && e1.contains("\"b\""), "{e1}");
        assert_eq!(v[2].as_ref().unwrap().uid, "c");
        // A card cut short by the end of the input is closed there.
        let c3 = v[3].as_ref().unwrap();
        assert_eq!(c3.uid, "d");
        assert_eq!(
            c3.warnings,
            vec![
                "the input ended before END:VCARD (BEGIN on line 16); closed it there".to_string()
            ]
        );
    }

    #[test]
    fn v4_to_v3_and_missing_names() {
        let o = cards(b"BEGIN:VCARD\r\nVERSION:4.0\r\nUID:x\r\nEMAIL:a@b.c\r\nTEL;VALUE=uri;PREF=1:tel:+1-555\r\nPHOTO:data:image/png;base64,QUJD\r\nEND:VCARD\r\n")
            .remove(0)
            .unwrap();
        let t = to_v3(&o).unwrap();
        assert!(t.contains("FN:a@b.c\r\n"), "{t}");
        assert!(t.contains("N:a@b.c;;;;\r\n"), "{t}");
        assert!(t.contains("TEL;TYPE=pref:+1-555\r\n"), "{t}");
        assert!(t.contains("PHOTO;ENCODING=b;TYPE=PNG:QUJD\r\n"), "{t}");
    }

    #[test]
    fn nested_v21_cards_come_out_separately() {
        let v = cards(b"BEGIN:VCARD\nVERSION:2.1\nN:parent\nBEGIN:VCARD\nVERSION:2.1\nN:nest1\nEND:VCARD\nTEL:1\nEND:VCARD\n");
        assert_eq!(v.len(), 2);
        assert!(v.iter().all(|r| r.is_ok()));
    }
}
