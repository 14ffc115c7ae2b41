//! Contacts to vCard 3.0 ([MS-OXOCNTC]); distribution lists to vCard groups.

use base64::Engine as _;

use crate::ltp::Value;
use crate::message::{Ctx, Message};
use crate::props::{self, PS_PUBLIC_STRINGS, PSETID_ADDRESS};
use crate::time;

/// Escapes a vCard/iCalendar text value.
pub(crate) fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => o.push_str("\\\\"),
            ';' => o.push_str("\\;"),
            ',' => o.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                o.push_str("\\n");
            }
            '\n' => o.push_str("\\n"),
            c if c.is_control() && c != '\t' => {}
            c => o.push(c),
        }
    }
    o
}

/// Folds a content line at 75 octets (on character boundaries) and ends it with CRLF.
pub(crate) fn fold_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3 + 2);
    let mut len = 0;
    for c in line.chars() {
        if len + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            len = 1;
        }
        out.push(c);
        len += c.len_utf8();
    }
    out.push_str("\r\n");
    out
}

struct Card {
    out: String,
}

impl Card {
    fn new(uid: &str) -> Card {
        let mut c = Card {
            out: "BEGIN:VCARD\r\nVERSION:3.0\r\n".to_string(),
        };
        c.raw("UID", uid);
        c
    }
    fn raw(&mut self, name: &str, value: &str) {
        self.out.push_str(&fold_line(&format!("{name}:{value}")));
    }
    fn text(&mut self, name: &str, value: Option<String>) {
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            self.raw(name, &escape(v.trim()));
        }
    }
    fn finish(mut self) -> String {
        self.out.push_str("END:VCARD\r\n");
        self.out
    }
}

/// Rounds a FILETIME holding a local midnight to its calendar date.
fn date_of(ft: i64) -> Option<String> {
    let u = time::filetime_to_unix(ft)?;
    // Birthdays are local midnights stored in UTC: the nearest midnight is the date.
    let (y, m, d, ..) = time::split(u + 43_200);
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

pub(crate) fn vcard(ctx: &Ctx<'_>, msg: &Message<'_>) -> (String, String) {
    let pc = &msg.pc;
    let n = msg.named(ctx);
    let uid = ctx.uid_for(msg.nid);
    let mut c = Card::new(&uid);
    let given = pc.string(0x3A06).unwrap_or_default();
    let sur = pc.string(0x3A11).unwrap_or_default();
    let middle = pc.string(0x3A44).unwrap_or_default();
    let prefix = pc.string(0x3A45).unwrap_or_default();
    let suffix = pc.string(0x3A05).unwrap_or_default();
    let fn_ = pc
        .string(props::DISPLAY_NAME)
        .or_else(|| n.string(PSETID_ADDRESS, 0x8005))
        .or_else(|| {
            let s = format!("{given} {sur}").trim().to_string();
            (!s.is_empty()).then_some(s)
        })
        .or_else(|| msg.subject())
        .or_else(|| n.string(PSETID_ADDRESS, 0x8083))
        .unwrap_or_else(|| "Unnamed".to_string());
    c.raw("FN", &escape(&fn_));
    c.raw(
        "N",
        &[sur, given, middle, prefix, suffix]
            .iter()
            .map(|s| escape(s))
            .collect::<Vec<_>>()
            .join(";"),
    );
    c.text("NICKNAME", pc.string(0x3A4F));
    let company = pc.string(0x3A16);
    let dept = pc.string(0x3A18);
    if company.is_some() || dept.is_some() {
        c.raw(
            "ORG",
            &format!(
                "{};{}",
                escape(&company.unwrap_or_default()),
                escape(&dept.unwrap_or_default())
            ),
        );
    }
    c.text("TITLE", pc.string(0x3A17));
    c.text("ROLE", pc.string(0x3A19));
    for (i, lid) in [0x8083u32, 0x8093, 0x80A3].iter().enumerate() {
        let addr_type = n.string(PSETID_ADDRESS, lid - 1).unwrap_or_default();
        let mut email = n.string(PSETID_ADDRESS, *lid).unwrap_or_default();
        if !addr_type.is_empty() && !addr_type.eq_ignore_ascii_case("SMTP") && !email.contains('@')
        {
            // An Exchange address: the original display name often holds the SMTP form.
            email = n
                .string(PSETID_ADDRESS, lid + 1)
                .filter(|s| s.contains('@'))
                .map(|s| {
                    s.rsplit('(')
                        .next()
                        .unwrap_or(&s)
                        .trim_end_matches(')')
                        .to_string()
                })
                .unwrap_or_default();
        }
        if !email.trim().is_empty() {
            let pref = if i == 0 { ",PREF" } else { "" };
            c.raw(&format!("EMAIL;TYPE=INTERNET{pref}"), &escape(email.trim()));
        }
    }
    for (prop, ty) in [
        (0x3A08u16, "WORK,VOICE"),
        (0x3A1B, "WORK,VOICE"),
        (0x3A09, "HOME,VOICE"),
        (0x3A2F, "HOME,VOICE"),
        (0x3A1C, "CELL,VOICE"),
        (0x3A24, "WORK,FAX"),
        (0x3A25, "HOME,FAX"),
        (0x3A23, "FAX"),
        (0x3A21, "PAGER"),
        (0x3A1A, "PREF,VOICE"),
        (0x3A1F, "VOICE"),
        (0x3A1E, "CAR,VOICE"),
        (0x3A2E, "X-ASSISTANT,VOICE"),
        (0x3A1D, "X-RADIO,VOICE"),
        (0x3A02, "X-CALLBACK,VOICE"),
        (0x3A57, "X-COMPANY,VOICE"),
        (0x3A2D, "ISDN"),
    ] {
        if let Some(v) = pc.string(prop) {
            c.raw(&format!("TEL;TYPE={ty}"), &escape(v.trim()));
        }
    }
    // Work address: named properties first, the tagged business address as fallback.
    let work = [
        n.string(PSETID_ADDRESS, 0x8045)
            .or_else(|| pc.string(0x3A29)),
        n.string(PSETID_ADDRESS, 0x8046)
            .or_else(|| pc.string(0x3A27)),
        n.string(PSETID_ADDRESS, 0x8047)
            .or_else(|| pc.string(0x3A28)),
        n.string(PSETID_ADDRESS, 0x8048)
            .or_else(|| pc.string(0x3A2A)),
        n.string(PSETID_ADDRESS, 0x8049)
            .or_else(|| pc.string(0x3A26)),
    ];
    let home = [0x3A5D, 0x3A59, 0x3A5C, 0x3A5B, 0x3A5A].map(|p| pc.string(p));
    let other = [0x3A63, 0x3A5F, 0x3A62, 0x3A61, 0x3A60].map(|p| pc.string(p));
    for (ty, a) in [("WORK", work), ("HOME", home), ("OTHER", other)] {
        if a.iter().any(Option::is_some) {
            let v: Vec<String> = a
                .iter()
                .map(|s| escape(s.as_deref().unwrap_or("")))
                .collect();
            c.raw(&format!("ADR;TYPE={ty}"), &format!(";;{}", v.join(";")));
        }
    }
    c.text(
        "URL",
        pc.string(0x3A51)
            .or_else(|| pc.string(0x3A50))
            .or_else(|| n.string(PSETID_ADDRESS, 0x802B)),
    );
    c.text("X-AIM", n.string(PSETID_ADDRESS, 0x8062));
    if let Some(b) = pc.time(0x3A42).and_then(date_of) {
        c.raw("BDAY", &b);
    }
    if let Some(b) = pc.time(0x3A41).and_then(date_of) {
        c.raw("X-ANNIVERSARY", &b);
    }
    c.text("X-SPOUSE", pc.string(0x3A48));
    c.text("X-MANAGER", pc.string(0x3A4E));
    c.text("X-ASSISTANT", pc.string(0x3A30));
    let cats = n.strings_by_name(PS_PUBLIC_STRINGS, "Keywords");
    if !cats.is_empty() {
        c.raw(
            "CATEGORIES",
            &cats.iter().map(|s| escape(s)).collect::<Vec<_>>().join(","),
        );
    }
    c.text("NOTE", pc.string(props::BODY));
    for a in msg.attachments().into_iter().flatten() {
        if a.pc.bool(props::ATTACHMENT_CONTACT_PHOTO) == Some(true)
            && let Some(d) = a.data()
        {
            let ty = if d.starts_with(&[0x89, b'P', b'N', b'G']) {
                "PNG"
            } else if d.starts_with(b"GIF") {
                "GIF"
            } else {
                "JPEG"
            };
            let b64 = base64::engine::general_purpose::STANDARD.encode(&d);
            c.raw(&format!("PHOTO;ENCODING=b;TYPE={ty}"), &b64);
            break;
        }
    }
    if let Some(t) = pc
        .time(props::LAST_MODIFICATION_TIME)
        .and_then(time::filetime_to_unix)
    {
        c.raw("REV", &time::ical_utc(t));
    }
    (c.finish(), uid)
}

/// A member of a distribution list.
enum Member {
    Contact(u32),
    OneOff { name: String, email: String },
}

fn parse_one_off(b: &[u8]) -> Option<(String, String)> {
    // flags(4) + provider uid(16) + version(2) + flags(2), then NUL-terminated strings.
    let flags = u16::from_le_bytes([*b.get(22)?, *b.get(23)?]);
    let rest = b.get(24..)?;
    let parts: Vec<String> = if flags & 0x8000 != 0 {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        units
            .split(|u| *u == 0)
            .take(3)
            .map(String::from_utf16_lossy)
            .collect()
    } else {
        rest.split(|b| *b == 0)
            .take(3)
            .map(|s| crate::ltp::decode_cp(s, 1252))
            .collect()
    };
    Some((parts.first()?.clone(), parts.get(2)?.clone()))
}

fn parse_member(b: &[u8]) -> Option<Member> {
    const ONE_OFF: [u8; 16] = [
        0x81, 0x2B, 0x1F, 0xA4, 0xBE, 0xA3, 0x10, 0x19, 0x9D, 0x6E, 0x00, 0xDD, 0x01, 0x0F, 0x54,
        0x02,
    ];
    const WRAPPED: [u8; 16] = [
        0xC0, 0x91, 0xAD, 0xD3, 0x51, 0x9D, 0xCF, 0x11, 0xA4, 0xA9, 0x00, 0xAA, 0x00, 0x47, 0xFA,
        0xA4,
    ];
    let provider = b.get(4..20)?;
    if provider == ONE_OFF {
        let (name, email) = parse_one_off(b)?;
        return Some(Member::OneOff { name, email });
    }
    if provider == WRAPPED {
        // type byte, then the contact's entry id ending with its node id.
        let t = b.get(b.len().checked_sub(4)?..)?;
        return Some(Member::Contact(u32::from_le_bytes([
            t[0], t[1], t[2], t[3],
        ])));
    }
    None
}

pub(crate) fn distlist(ctx: &Ctx<'_>, msg: &Message<'_>) -> (String, String) {
    let pc = &msg.pc;
    let n = msg.named(ctx);
    let uid = ctx.uid_for(msg.nid);
    let mut c = Card::new(&uid);
    let name = n
        .string(PSETID_ADDRESS, 0x8053)
        .or_else(|| pc.string(props::DISPLAY_NAME))
        .or_else(|| msg.subject())
        .unwrap_or_else(|| "Distribution list".into());
    c.raw("FN", &escape(&name));
    c.raw("N", &format!("{};;;;", escape(&name)));
    c.raw("X-ADDRESSBOOKSERVER-KIND", "group");
    let members = match n.get(PSETID_ADDRESS, 0x8055) {
        Some(Value::MvBin(v)) => v,
        _ => Vec::new(),
    };
    let one_offs = match n.get(PSETID_ADDRESS, 0x8054) {
        Some(Value::MvBin(v)) => v,
        _ => Vec::new(),
    };
    let count = members.len().max(one_offs.len());
    for i in 0..count {
        let m = members.get(i).and_then(|b| parse_member(b));
        let o = one_offs.get(i).and_then(|b| parse_one_off(b));
        match (m, o) {
            (Some(Member::Contact(nid)), _) => {
                c.raw(
                    "X-ADDRESSBOOKSERVER-MEMBER",
                    &format!("urn:uuid:{}", ctx.uid_for(nid)),
                );
            }
            (Some(Member::OneOff { name, email }), _) | (None, Some((name, email))) => {
                if !email.is_empty() {
                    c.raw(
                        "X-ADDRESSBOOKSERVER-MEMBER",
                        &format!("mailto:{}", email.trim()),
                    );
                    c.raw(
                        &format!(
                            "EMAIL;TYPE=INTERNET;X-CN=\"{}\"",
                            name.replace(['"', '\r', '\n'], "")
                        ),
                        &escape(email.trim()),
                    );
                }
            }
            (None, None) => {}
        }
    }
    c.text("NOTE", pc.string(props::BODY));
    (c.finish(), uid)
}
