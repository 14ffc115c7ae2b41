//! A message node (also contacts, appointments, tasks: every item is a message):
//! its property context, recipient table and attachments; and the dispatch of
//! conversions by message class.

use crate::error::{PstError, Result};
use crate::ltp::{PropContext, Table, Value};
use crate::ndb::Ndb;
use crate::props::{self, NameMap, Named};
use crate::{ItemContent, contact, ical, mail};

const NID_RECIPIENT_TABLE: u32 = 0x692;
const NID_ATTACHMENT_TABLE: u32 = 0x671;

pub(crate) struct Ctx<'a> {
    pub ndb: &'a Ndb,
    pub names: &'a NameMap,
    pub store_uid: [u8; 16],
}

impl Ctx<'_> {
    /// A stable UUID-shaped id for an item: the store's record key mixed with the node id.
    pub fn uid_for(&self, nid: u32) -> String {
        let mut b = self.store_uid;
        for (i, x) in nid.to_be_bytes().iter().enumerate() {
            b[12 + i] ^= x;
        }
        b[6] = (b[6] & 0x0f) | 0x80;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

pub(crate) struct Message<'a> {
    pub pc: PropContext<'a>,
    pub nid: u32,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Recipient {
    /// 1 To, 2 Cc, 3 Bcc (0 = originator in some tables)
    pub kind: i64,
    pub name: String,
    pub email: String,
    pub flags: i64,
    pub track: i64,
}

pub(crate) struct Attachment<'a> {
    pub pc: PropContext<'a>,
}

impl<'a> Message<'a> {
    pub fn open(ctx: &Ctx<'a>, data: u64, sub: u64, nid: u32) -> Result<Message<'a>> {
        let mut pc = PropContext::open(ctx.ndb, data, sub)?;
        let cp = pc
            .int(props::MESSAGE_CODEPAGE)
            .or_else(|| pc.int(props::INTERNET_CPID))
            .filter(|c| *c > 0 && *c < 65536 && *c != 1200 && *c != 1201);
        if let Some(cp) = cp {
            pc.store.codepage = cp as u32;
        }
        Ok(Message { pc, nid })
    }

    pub fn class(&self) -> String {
        self.pc
            .string(props::MESSAGE_CLASS)
            .unwrap_or_else(|| "IPM.Note".to_string())
    }

    pub fn named<'s>(&'s self, ctx: &'s Ctx<'_>) -> Named<'s, 's, 'a> {
        Named {
            map: ctx.names,
            pc: &self.pc,
        }
    }

    pub fn subject(&self) -> Option<String> {
        let s = self.pc.string(props::SUBJECT)?;
        // A leading 0x01 + length char marks the prefix length ("RE: ").
        let s = if s.starts_with('\u{1}') {
            s.chars().skip(2).collect()
        } else {
            s
        };
        Some(s)
    }

    pub fn recipients(&self) -> Vec<Recipient> {
        let Some(sub) = self.pc.store.sub(NID_RECIPIENT_TABLE) else {
            return Vec::new();
        };
        let Ok(mut t) = Table::open(self.pc.store.ndb, sub.data, sub.sub) else {
            return Vec::new();
        };
        t.store.codepage = self.pc.store.codepage;
        (0..t.len())
            .map(|r| {
                let addrtype = t.string(r, props::ADDRTYPE).unwrap_or_default();
                let raw = t.string(r, props::EMAIL_ADDRESS).unwrap_or_default();
                let smtp = t.string(r, props::SMTP_ADDRESS);
                let name = t.string(r, props::DISPLAY_NAME).unwrap_or_default();
                let mut email = pick_email(smtp, &addrtype, raw);
                if email.is_empty() && looks_like_address(&name) {
                    email = name.clone();
                }
                Recipient {
                    kind: t.int(r, props::RECIPIENT_TYPE).unwrap_or(1),
                    name,
                    email,
                    flags: t.int(r, props::RECIPIENT_FLAGS).unwrap_or(0),
                    track: t.int(r, props::RECIPIENT_TRACKSTATUS).unwrap_or(0),
                }
            })
            .collect()
    }

    /// The attachments; one that cannot be read is an error in the list.
    pub fn attachments(&self) -> Vec<Result<Attachment<'a>>> {
        let Some(sub) = self.pc.store.sub(NID_ATTACHMENT_TABLE) else {
            return Vec::new();
        };
        let ndb = self.pc.store.ndb;
        let t = match Table::open(ndb, sub.data, sub.sub) {
            Ok(t) => t,
            Err(e) => return vec![Err(e)],
        };
        (0..t.len())
            .map(|r| {
                let id = t
                    .int(r, props::LTP_ROW_ID)
                    .ok_or_else(|| PstError::corrupt("attachment table", "row without id"))?
                    as u32;
                let s = self.pc.store.sub(id).ok_or_else(|| {
                    PstError::corrupt("attachment", format!("subnode {id:#x} missing"))
                })?;
                let mut pc = PropContext::open(ndb, s.data, s.sub)?;
                pc.store.codepage = self.pc.store.codepage;
                Ok(Attachment { pc })
            })
            .collect()
    }
}

impl<'a> Attachment<'a> {
    pub fn method(&self) -> i64 {
        self.pc.int(props::ATTACH_METHOD).unwrap_or(1)
    }

    pub fn filename(&self) -> Option<String> {
        self.pc
            .string(props::ATTACH_LONG_FILENAME)
            .or_else(|| self.pc.string(props::ATTACH_FILENAME))
            .or_else(|| self.pc.string(props::DISPLAY_NAME))
    }

    /// The attachment's bytes; for OLE objects (ATTACH_OLE), the raw compound file.
    pub fn data(&self) -> Option<Vec<u8>> {
        match self.pc.get(props::ATTACH_DATA)? {
            Value::Bin(b) => Some(b),
            Value::Object(nid) if self.method() != 5 => {
                let s = self.pc.store.sub(nid)?;
                self.pc.store.ndb.data(s.data).ok()
            }
            _ => None,
        }
    }

    /// The embedded message of an ATTACH_EMBEDDED_MSG attachment.
    pub fn embedded(&self, ctx: &Ctx<'a>) -> Option<Result<Message<'a>>> {
        let Value::Object(nid) = self.pc.get(props::ATTACH_DATA)? else {
            return None;
        };
        let Some(s) = self.pc.store.sub(nid) else {
            return Some(Err(PstError::corrupt(
                "embedded message",
                format!("subnode {nid:#x} missing"),
            )));
        };
        Some(Message::open(ctx, s.data, s.sub, nid))
    }
}

/// A display name that is itself an address (Outlook 97 one-offs leave the address empty).
pub(crate) fn looks_like_address(s: &str) -> bool {
    let s = s.trim();
    s.contains('@') && !s.contains(char::is_whitespace) && !s.starts_with('@') && !s.ends_with('@')
}

pub(crate) fn pick_email(smtp: Option<String>, addrtype: &str, raw: String) -> String {
    if let Some(s) = smtp.filter(|s| s.contains('@')) {
        return s;
    }
    if addrtype.eq_ignore_ascii_case("SMTP") || raw.contains('@') {
        return raw.trim_start_matches("SMTP:").to_string();
    }
    String::new()
}

/// Converts a message by its class.
pub(crate) fn convert(ctx: &Ctx<'_>, msg: &Message<'_>, class: &str) -> Result<ItemContent> {
    let lc = class.to_ascii_lowercase();
    let is = |p: &str| lc == p || lc.starts_with(&format!("{p}."));
    if is("ipm.contact") {
        let (vcard, uid) = contact::vcard(ctx, msg);
        return Ok(ItemContent::Contact { vcard, uid });
    }
    if is("ipm.distlist") {
        let (vcard, uid) = contact::distlist(ctx, msg);
        return Ok(ItemContent::DistList { vcard, uid });
    }
    if is("ipm.appointment") {
        let (ics, uid) = ical::event(ctx, msg);
        return Ok(ItemContent::Event { ics, uid });
    }
    if is("ipm.task") {
        let (ics, uid) = ical::task(ctx, msg);
        return Ok(ItemContent::Task { ics, uid });
    }
    if is("ipm.activity") {
        let (ics, uid) = ical::journal(ctx, msg);
        return Ok(ItemContent::Journal { ics, uid });
    }
    if lc.starts_with("ipm.infopathform")
        || lc.starts_with("ipm.configuration")
        || lc.starts_with("ipm.microsoft.scheduledata")
        || lc.starts_with("ipm.microsoft.freebusy")
    {
        return Ok(ItemContent::Other {
            reason: format!("{class} items are Outlook internals, not converted"),
        });
    }
    // Mail, meeting requests, reports, posts, sticky notes (as a text mail)...
    let (mime, flags, internal_date) = mail::build(ctx, msg)?;
    Ok(ItemContent::Mail {
        mime,
        flags,
        internal_date,
    })
}
