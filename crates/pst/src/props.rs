//! Property ids ([MS-OXPROPS]) and the name-to-id map of named properties.

use std::collections::HashMap;

use crate::ltp::{PropContext, Value};
use crate::ndb::Ndb;

pub(crate) const MESSAGE_CLASS: u16 = 0x001A;
pub(crate) const SUBJECT: u16 = 0x0037;
pub(crate) const CLIENT_SUBMIT_TIME: u16 = 0x0039;
pub(crate) const SENT_REPRESENTING_NAME: u16 = 0x0042;
pub(crate) const SENT_REPRESENTING_ADDRTYPE: u16 = 0x0064;
pub(crate) const SENT_REPRESENTING_EMAIL: u16 = 0x0065;
pub(crate) const TRANSPORT_HEADERS: u16 = 0x007D;
pub(crate) const IMPORTANCE: u16 = 0x0017;
pub(crate) const SENSITIVITY: u16 = 0x0036;
pub(crate) const SENDER_NAME: u16 = 0x0C1A;
pub(crate) const SENDER_ADDRTYPE: u16 = 0x0C1E;
pub(crate) const SENDER_EMAIL: u16 = 0x0C1F;
pub(crate) const RECIPIENT_TYPE: u16 = 0x0C15;
pub(crate) const DISPLAY_BCC: u16 = 0x0E02;
pub(crate) const DISPLAY_CC: u16 = 0x0E03;
pub(crate) const DISPLAY_TO: u16 = 0x0E04;
pub(crate) const DELIVERY_TIME: u16 = 0x0E06;
pub(crate) const MESSAGE_FLAGS: u16 = 0x0E07;
pub(crate) const BODY: u16 = 0x1000;
pub(crate) const RTF_COMPRESSED: u16 = 0x1009;
pub(crate) const HTML: u16 = 0x1013;
pub(crate) const INTERNET_MESSAGE_ID: u16 = 0x1035;
pub(crate) const INTERNET_REFERENCES: u16 = 0x1039;
pub(crate) const IN_REPLY_TO: u16 = 0x1042;
pub(crate) const ICON_INDEX: u16 = 0x1080;
pub(crate) const LAST_VERB: u16 = 0x1081;
pub(crate) const FLAG_STATUS: u16 = 0x1090;
pub(crate) const DISPLAY_NAME: u16 = 0x3001;
pub(crate) const ADDRTYPE: u16 = 0x3002;
pub(crate) const EMAIL_ADDRESS: u16 = 0x3003;
pub(crate) const CREATION_TIME: u16 = 0x3007;
pub(crate) const LAST_MODIFICATION_TIME: u16 = 0x3008;
pub(crate) const RECORD_KEY: u16 = 0x0FF9;
pub(crate) const CONTAINER_CLASS: u16 = 0x3613;
pub(crate) const IPM_SUBTREE_ENTRYID: u16 = 0x35E0;
pub(crate) const IPM_OUTBOX_ENTRYID: u16 = 0x35E2;
pub(crate) const IPM_WASTEBASKET_ENTRYID: u16 = 0x35E3;
pub(crate) const IPM_SENTMAIL_ENTRYID: u16 = 0x35E4;
pub(crate) const IPM_DRAFTS_ENTRYID: u16 = 0x36D7;
pub(crate) const ADDITIONAL_REN_ENTRYIDS: u16 = 0x36D8;
pub(crate) const ATTACH_DATA: u16 = 0x3701;
pub(crate) const ATTACH_FILENAME: u16 = 0x3704;
pub(crate) const ATTACH_METHOD: u16 = 0x3705;
pub(crate) const ATTACH_LONG_FILENAME: u16 = 0x3707;
pub(crate) const ATTACH_MIME_TAG: u16 = 0x370E;
pub(crate) const ATTACH_CONTENT_ID: u16 = 0x3712;
pub(crate) const ATTACHMENT_CONTACT_PHOTO: u16 = 0x7FFF;
pub(crate) const SMTP_ADDRESS: u16 = 0x39FE;
pub(crate) const SENDER_SMTP: u16 = 0x5D01;
pub(crate) const SENT_REPRESENTING_SMTP: u16 = 0x5D02;
pub(crate) const RECIPIENT_FLAGS: u16 = 0x5FFD;
pub(crate) const RECIPIENT_TRACKSTATUS: u16 = 0x5FFF;
pub(crate) const INTERNET_CPID: u16 = 0x3FDE;
pub(crate) const MESSAGE_CODEPAGE: u16 = 0x3FFD;
pub(crate) const PST_PASSWORD: u16 = 0x67FF;
pub(crate) const LTP_ROW_ID: u16 = 0x67F2;

pub(crate) type Guid = [u8; 16];

const fn guid(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Guid {
    let a = d1.to_le_bytes();
    let b = d2.to_le_bytes();
    let c = d3.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4], d4[5],
        d4[6], d4[7],
    ]
}

const OLE: [u8; 8] = [0xC0, 0, 0, 0, 0, 0, 0, 0x46];
pub(crate) const PS_MAPI: Guid = guid(0x0002_0328, 0, 0, OLE);
pub(crate) const PS_PUBLIC_STRINGS: Guid = guid(0x0002_0329, 0, 0, OLE);
pub(crate) const PSETID_APPOINTMENT: Guid = guid(0x0006_2002, 0, 0, OLE);
pub(crate) const PSETID_TASK: Guid = guid(0x0006_2003, 0, 0, OLE);
pub(crate) const PSETID_ADDRESS: Guid = guid(0x0006_2004, 0, 0, OLE);
pub(crate) const PSETID_COMMON: Guid = guid(0x0006_2008, 0, 0, OLE);
pub(crate) const PSETID_MEETING: Guid = guid(
    0x6ED8_DA90,
    0x450B,
    0x101B,
    [0x98, 0xDA, 0x00, 0xAA, 0x00, 0x3F, 0x13, 0x05],
);

/// Maps named properties (GUID + numeric id or name) to the property ids of this file.
#[derive(Default)]
pub(crate) struct NameMap {
    by_lid: HashMap<(Guid, u32), u16>,
    by_name: HashMap<(Guid, String), u16>,
}

impl NameMap {
    /// Reads node 0x61; a damaged map just leaves named properties unresolved.
    pub fn load(ndb: &Ndb) -> NameMap {
        let mut map = NameMap::default();
        let Ok(node) = ndb.node(0x61) else {
            return map;
        };
        let Ok(pc) = PropContext::open(ndb, node.data, node.sub) else {
            return map;
        };
        let guids = pc.bin(0x0002).unwrap_or_default();
        let entries = pc.bin(0x0003).unwrap_or_default();
        let strings = pc.bin(0x0004).unwrap_or_default();
        for e in entries.chunks_exact(8) {
            let id = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
            let gw = u16::from_le_bytes([e[4], e[5]]);
            let idx = u16::from_le_bytes([e[6], e[7]]);
            let is_string = gw & 1 == 1;
            let g = match gw >> 1 {
                1 => PS_MAPI,
                2 => PS_PUBLIC_STRINGS,
                n if n >= 3 => {
                    let at = usize::from(n - 3) * 16;
                    match guids.get(at..at + 16) {
                        Some(s) => {
                            let mut a = [0u8; 16];
                            a.copy_from_slice(s);
                            a
                        }
                        None => continue,
                    }
                }
                _ => continue,
            };
            let Some(prop) = 0x8000u16.checked_add(idx) else {
                continue;
            };
            if is_string {
                let at = id as usize;
                let Some(len) = strings
                    .get(at..at + 4)
                    .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
                else {
                    continue;
                };
                if let Some(s) = strings.get(at + 4..(at + 4).saturating_add(len)) {
                    map.by_name.insert((g, crate::ltp::utf16(s)), prop);
                }
            } else {
                map.by_lid.insert((g, id), prop);
            }
        }
        map
    }

    pub fn lid(&self, g: Guid, lid: u32) -> Option<u16> {
        self.by_lid.get(&(g, lid)).copied()
    }

    pub fn name(&self, g: Guid, name: &str) -> Option<u16> {
        self.by_name.get(&(g, name.to_string())).copied()
    }
}

/// Named-property accessors over a property context.
pub(crate) struct Named<'m, 'p, 'a> {
    pub map: &'m NameMap,
    pub pc: &'p PropContext<'a>,
}

impl Named<'_, '_, '_> {
    pub fn get(&self, g: Guid, lid: u32) -> Option<Value> {
        self.pc.get(self.map.lid(g, lid)?)
    }
    pub fn string(&self, g: Guid, lid: u32) -> Option<String> {
        self.get(g, lid)
            .and_then(Value::into_string)
            .filter(|s| !s.is_empty())
    }
    pub fn int(&self, g: Guid, lid: u32) -> Option<i64> {
        self.get(g, lid).and_then(|v| v.as_int())
    }
    pub fn bool(&self, g: Guid, lid: u32) -> Option<bool> {
        self.get(g, lid).and_then(|v| v.as_bool())
    }
    pub fn time(&self, g: Guid, lid: u32) -> Option<i64> {
        self.get(g, lid).and_then(|v| v.as_time())
    }
    pub fn float(&self, g: Guid, lid: u32) -> Option<f64> {
        self.get(g, lid).and_then(|v| v.as_float())
    }
    pub fn bin(&self, g: Guid, lid: u32) -> Option<Vec<u8>> {
        self.get(g, lid).and_then(Value::into_bin)
    }
    pub fn strings_by_name(&self, g: Guid, name: &str) -> Vec<String> {
        match self.map.name(g, name).and_then(|p| self.pc.get(p)) {
            Some(Value::MvStr(v)) => v,
            Some(Value::Str(s)) => vec![s],
            _ => Vec::new(),
        }
    }
}
