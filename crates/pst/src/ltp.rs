//! The lists, tables and properties layer of [MS-PST] §2.3: heap-on-node (HN),
//! BTree-on-heap (BTH), property contexts (PC) and table contexts (TC).

use std::collections::HashMap;

use crate::error::{PstError, Result};
use crate::ndb::{NID_TYPE_MASK, Ndb, SubEntry, SubMap};

pub(crate) const PT_SHORT: u16 = 0x0002;
pub(crate) const PT_LONG: u16 = 0x0003;
pub(crate) const PT_FLOAT: u16 = 0x0004;
pub(crate) const PT_DOUBLE: u16 = 0x0005;
pub(crate) const PT_CURRENCY: u16 = 0x0006;
pub(crate) const PT_APPTIME: u16 = 0x0007;
pub(crate) const PT_ERROR: u16 = 0x000A;
pub(crate) const PT_BOOLEAN: u16 = 0x000B;
pub(crate) const PT_OBJECT: u16 = 0x000D;
pub(crate) const PT_I8: u16 = 0x0014;
pub(crate) const PT_STRING8: u16 = 0x001E;
pub(crate) const PT_UNICODE: u16 = 0x001F;
pub(crate) const PT_SYSTIME: u16 = 0x0040;
pub(crate) const PT_CLSID: u16 = 0x0048;
pub(crate) const PT_BINARY: u16 = 0x0102;
pub(crate) const MV: u16 = 0x1000;

/// A decoded property value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    /// FILETIME: 100 ns intervals since 1601-01-01 UTC.
    Time(i64),
    Str(String),
    Bin(Vec<u8>),
    /// An embedded object (message, OLE storage): a subnode id.
    Object(u32),
    MvStr(Vec<String>),
    MvBin(Vec<Vec<u8>>),
    MvInt(Vec<i64>),
    Other,
}

impl Value {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            _ => None,
        }
    }
    pub fn into_string(self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn into_bin(self) -> Option<Vec<u8>> {
        match self {
            Value::Bin(b) => Some(b),
            Value::Str(s) => Some(s.into_bytes()),
            _ => None,
        }
    }
    pub fn as_time(&self) -> Option<i64> {
        match self {
            Value::Time(t) => Some(*t),
            _ => None,
        }
    }
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}
fn le32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}
fn le64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8).map(|s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}

fn bad(what: &'static str, d: impl Into<String>) -> PstError {
    PstError::corrupt(what, d)
}

/// BTH records: (key, data).
pub(crate) type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// A heap-on-node: the node's data blocks, each one heap page.
pub(crate) struct Heap {
    blocks: Vec<Vec<u8>>,
    pub client_sig: u8,
    pub user_root: u32,
}

impl Heap {
    pub fn new(blocks: Vec<Vec<u8>>) -> Result<Heap> {
        let first = blocks.first().ok_or_else(|| bad("heap", "empty node"))?;
        if first.len() < 12 || first[2] != 0xEC {
            return Err(bad("heap", "missing heap signature"));
        }
        Ok(Heap {
            client_sig: first[3],
            user_root: le32(first, 4).unwrap_or(0),
            blocks,
        })
    }

    /// The bytes of one heap allocation.
    pub fn get(&self, hid: u32) -> Result<&[u8]> {
        if hid & NID_TYPE_MASK != 0 {
            return Err(bad("heap", format!("{hid:#x} is not a heap id")));
        }
        let index = ((hid >> 5) & 0x7ff) as usize;
        let block = (hid >> 16) as usize;
        let b = self
            .blocks
            .get(block)
            .ok_or_else(|| bad("heap", format!("heap id {hid:#x} points past the heap")))?;
        let map = le16(b, 0).ok_or_else(|| bad("heap", "short page"))? as usize;
        let c_alloc = le16(b, map).ok_or_else(|| bad("heap", "bad page map"))? as usize;
        if index == 0 || index > c_alloc {
            return Err(bad("heap", format!("heap id {hid:#x} out of range")));
        }
        let start =
            le16(b, map + 4 + 2 * (index - 1)).ok_or_else(|| bad("heap", "bad page map"))? as usize;
        let end = le16(b, map + 4 + 2 * index).ok_or_else(|| bad("heap", "bad page map"))? as usize;
        if start > end || end > b.len() {
            return Err(bad("heap", format!("allocation {hid:#x} out of bounds")));
        }
        Ok(&b[start..end])
    }

    /// All records of a BTH whose header is at `hid`: (key, data).
    pub fn bth(&self, hid: u32) -> Result<(usize, usize, Records)> {
        let h = self.get(hid)?;
        if h.len() < 8 || h[0] != 0xB5 {
            return Err(bad("BTH", "bad header"));
        }
        let (cb_key, cb_ent, levels) = (h[1] as usize, h[2] as usize, h[3]);
        let root = le32(h, 4).unwrap_or(0);
        let mut out = Vec::new();
        if root != 0 && cb_key > 0 {
            let mut seen = std::collections::HashSet::new();
            self.bth_walk(root, cb_key, cb_ent, levels, &mut seen, &mut out)?;
        }
        Ok((cb_key, cb_ent, out))
    }

    fn bth_walk(
        &self,
        hid: u32,
        cb_key: usize,
        cb_ent: usize,
        level: u8,
        seen: &mut std::collections::HashSet<u32>,
        out: &mut Records,
    ) -> Result<()> {
        if level > 8 {
            return Err(bad("BTH", "too deep"));
        }
        // A hostile BTH could point many records at one child: visit each once.
        if !seen.insert(hid) {
            return Ok(());
        }
        let d = self.get(hid)?;
        if level == 0 {
            for rec in d.chunks_exact(cb_key + cb_ent) {
                out.push((rec[..cb_key].to_vec(), rec[cb_key..].to_vec()));
            }
        } else {
            for rec in d.chunks_exact(cb_key + 4) {
                let child = le32(rec, cb_key).unwrap_or(0);
                self.bth_walk(child, cb_key, cb_ent, level - 1, seen, out)?;
            }
        }
        Ok(())
    }
}

/// Where variable-size values live: the heap, or a subnode.
pub(crate) struct Store<'a> {
    pub ndb: &'a Ndb,
    pub heap: Heap,
    pub subs: SubMap,
    pub codepage: u32,
}

impl Store<'_> {
    fn hnid_bytes(&self, hnid: u32) -> Result<Vec<u8>> {
        if hnid == 0 {
            return Ok(Vec::new());
        }
        if hnid & NID_TYPE_MASK == 0 {
            Ok(self.heap.get(hnid)?.to_vec())
        } else {
            let s = self
                .subs
                .get(&hnid)
                .ok_or_else(|| bad("property", format!("missing subnode {hnid:#x}")))?;
            self.ndb.data(s.data)
        }
    }

    fn decode_var(&self, ptype: u16, raw: Vec<u8>) -> Value {
        match ptype {
            PT_UNICODE => Value::Str(utf16(&raw)),
            PT_STRING8 => Value::Str(decode_cp(&raw, self.codepage)),
            PT_BINARY => Value::Bin(raw),
            PT_CLSID => Value::Bin(raw),
            PT_I8 | PT_CURRENCY => Value::Int(le64(&raw, 0).unwrap_or(0) as i64),
            PT_SYSTIME => Value::Time(le64(&raw, 0).unwrap_or(0) as i64),
            PT_DOUBLE | PT_APPTIME => Value::Float(f64::from_bits(le64(&raw, 0).unwrap_or(0))),
            PT_OBJECT => Value::Object(le32(&raw, 0).unwrap_or(0)),
            t if t & MV != 0 => self.decode_mv(t & !MV, &raw),
            _ => Value::Other,
        }
    }

    fn decode_mv(&self, base: u16, raw: &[u8]) -> Value {
        let fixed = match base {
            PT_SHORT => Some(2),
            PT_LONG => Some(4),
            PT_I8 | PT_SYSTIME | PT_CURRENCY | PT_DOUBLE => Some(8),
            PT_CLSID => Some(16),
            _ => None,
        };
        if let Some(sz) = fixed {
            if base == PT_CLSID {
                return Value::MvBin(raw.chunks_exact(16).map(<[u8]>::to_vec).collect());
            }
            return Value::MvInt(
                raw.chunks_exact(sz)
                    .map(|c| match sz {
                        2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
                        4 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                        _ => le64(c, 0).unwrap_or(0) as i64,
                    })
                    .collect(),
            );
        }
        let n = le32(raw, 0).unwrap_or(0) as usize;
        if n.saturating_mul(4) + 4 > raw.len() {
            return Value::Other;
        }
        let mut items = Vec::with_capacity(n);
        for i in 0..n {
            let start = le32(raw, 4 + 4 * i).unwrap_or(0) as usize;
            let end = if i + 1 < n {
                le32(raw, 8 + 4 * i).unwrap_or(0) as usize
            } else {
                raw.len()
            };
            items.push(raw.get(start..end).unwrap_or(&[]).to_vec());
        }
        match base {
            PT_UNICODE => Value::MvStr(items.iter().map(|b| utf16(b)).collect()),
            PT_STRING8 => Value::MvStr(items.iter().map(|b| decode_cp(b, self.codepage)).collect()),
            _ => Value::MvBin(items),
        }
    }

    pub fn sub(&self, nid: u32) -> Option<SubEntry> {
        self.subs.get(&nid).copied()
    }
}

/// A property context: the properties of a message, folder, attachment...
pub(crate) struct PropContext<'a> {
    pub store: Store<'a>,
    /// prop id -> (type, raw 4-byte value or HNID)
    props: HashMap<u16, (u16, u32)>,
}

impl<'a> PropContext<'a> {
    pub fn open(ndb: &'a Ndb, data_bid: u64, sub_bid: u64) -> Result<PropContext<'a>> {
        let heap = Heap::new(ndb.data_blocks(data_bid)?)?;
        if heap.client_sig != 0xBC {
            return Err(bad("property context", "wrong heap client signature"));
        }
        let (cb_key, cb_ent, recs) = heap.bth(heap.user_root)?;
        if cb_key != 2 || cb_ent != 6 {
            return Err(bad("property context", "unexpected record sizes"));
        }
        let mut props = HashMap::with_capacity(recs.len());
        for (k, d) in recs {
            let id = le16(&k, 0).unwrap_or(0);
            let t = le16(&d, 0).unwrap_or(0);
            let v = le32(&d, 2).unwrap_or(0);
            props.insert(id, (t, v));
        }
        let subs = if sub_bid != 0 {
            // A damaged subnode tree loses the big values, not the message.
            ndb.subnodes(sub_bid).unwrap_or_default()
        } else {
            SubMap::new()
        };
        Ok(PropContext {
            store: Store {
                ndb,
                heap,
                subs,
                codepage: 1252,
            },
            props,
        })
    }

    pub fn get(&self, id: u16) -> Option<Value> {
        let &(t, v) = self.props.get(&id)?;
        match t {
            PT_SHORT => Some(Value::Int(i64::from(v as u16 as i16))),
            PT_LONG => Some(Value::Int(i64::from(v as i32))),
            PT_ERROR => None,
            PT_FLOAT => Some(Value::Float(f64::from(f32::from_bits(v)))),
            PT_BOOLEAN => Some(Value::Bool(v & 0xff != 0)),
            _ => {
                let raw = self.store.hnid_bytes(v).ok()?;
                Some(self.store.decode_var(t, raw))
            }
        }
    }

    pub fn string(&self, id: u16) -> Option<String> {
        self.get(id)
            .and_then(Value::into_string)
            .filter(|s| !s.is_empty())
    }
    pub fn int(&self, id: u16) -> Option<i64> {
        self.get(id).and_then(|v| v.as_int())
    }
    pub fn bool(&self, id: u16) -> Option<bool> {
        self.get(id).and_then(|v| v.as_bool())
    }
    pub fn time(&self, id: u16) -> Option<i64> {
        self.get(id).and_then(|v| v.as_time())
    }
    pub fn bin(&self, id: u16) -> Option<Vec<u8>> {
        self.get(id).and_then(Value::into_bin)
    }
}

#[derive(Debug, Clone, Copy)]
struct Col {
    tag: u32,
    ib: usize,
    cb: usize,
    bit: usize,
}

/// A table context: rows of a hierarchy, contents, recipient or attachment table.
pub(crate) struct Table<'a> {
    pub store: Store<'a>,
    cols: Vec<Col>,
    rows: Vec<Vec<u8>>,
    ceb_at: usize,
}

impl<'a> Table<'a> {
    pub fn open(ndb: &'a Ndb, data_bid: u64, sub_bid: u64) -> Result<Table<'a>> {
        let heap = Heap::new(ndb.data_blocks(data_bid)?)?;
        if heap.client_sig != 0x7C {
            return Err(bad("table", "wrong heap client signature"));
        }
        let subs = if sub_bid != 0 {
            ndb.subnodes(sub_bid)?
        } else {
            SubMap::new()
        };
        let info = heap.get(heap.user_root)?.to_vec();
        if info.len() < 22 || info[0] != 0x7C {
            return Err(bad("table", "bad TCINFO"));
        }
        let ncols = info[1] as usize;
        let ceb_at = le16(&info, 6).unwrap_or(0) as usize;
        let row_size = le16(&info, 8).unwrap_or(0) as usize;
        let hid_row_index = le32(&info, 10).unwrap_or(0);
        let hnid_rows = le32(&info, 14).unwrap_or(0);
        let mut cols = Vec::with_capacity(ncols);
        for i in 0..ncols {
            let at = 22 + 8 * i;
            let Some(tag) = le32(&info, at) else {
                return Err(bad("table", "column descriptors overflow"));
            };
            cols.push(Col {
                tag,
                ib: le16(&info, at + 4).unwrap_or(0) as usize,
                cb: info.get(at + 6).copied().unwrap_or(0) as usize,
                bit: info.get(at + 7).copied().unwrap_or(0) as usize,
            });
        }
        if row_size == 0 || ceb_at > row_size || cols.iter().any(|c| c.ib + c.cb > row_size) {
            return Err(bad("table", "columns outside the row"));
        }
        let row_count = if hid_row_index != 0 {
            heap.bth(hid_row_index)?.2.len()
        } else {
            0
        };
        let store = Store {
            ndb,
            heap,
            subs,
            codepage: 1252,
        };
        let mut rows = Vec::new();
        if hnid_rows != 0 && row_count > 0 {
            let blocks: Vec<Vec<u8>> = if hnid_rows & NID_TYPE_MASK == 0 {
                vec![store.heap.get(hnid_rows)?.to_vec()]
            } else {
                let s = store
                    .subs
                    .get(&hnid_rows)
                    .ok_or_else(|| bad("table", "row matrix subnode missing"))?;
                ndb.data_blocks(s.data)?
            };
            'outer: for b in &blocks {
                for r in b.chunks_exact(row_size) {
                    if rows.len() >= row_count {
                        break 'outer;
                    }
                    rows.push(r.to_vec());
                }
            }
        }
        Ok(Table {
            store,
            cols,
            rows,
            ceb_at,
        })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Only the row ids of a table (its row index), without reading the rows:
    /// for contents tables, the node ids of the folder's messages.
    pub fn row_ids(ndb: &Ndb, data_bid: u64) -> Result<Vec<u32>> {
        let heap = Heap::new(ndb.data_blocks(data_bid)?)?;
        if heap.client_sig != 0x7C {
            return Err(bad("table", "wrong heap client signature"));
        }
        let info = heap.get(heap.user_root)?;
        let hid_row_index = le32(info, 10).ok_or_else(|| bad("table", "bad TCINFO"))?;
        if hid_row_index == 0 {
            return Ok(Vec::new());
        }
        let (_, _, recs) = heap.bth(hid_row_index)?;
        Ok(recs.iter().filter_map(|(k, _)| le32(k, 0)).collect())
    }

    /// The value of property `id` in row `row` (any type).
    pub fn get(&self, row: usize, id: u16) -> Option<Value> {
        let r = self.rows.get(row)?;
        let col = self.cols.iter().find(|c| (c.tag >> 16) as u16 == id)?;
        let exists = r
            .get(self.ceb_at + col.bit / 8)
            .is_some_and(|b| b & (0x80 >> (col.bit % 8)) != 0);
        if !exists {
            return None;
        }
        let t = col.tag as u16;
        let cell = r.get(col.ib..col.ib + col.cb)?;
        match t {
            PT_SHORT => Some(Value::Int(i64::from(le16(cell, 0)? as i16))),
            PT_LONG => Some(Value::Int(i64::from(le32(cell, 0)? as i32))),
            PT_BOOLEAN => Some(Value::Bool(*cell.first()? != 0)),
            PT_FLOAT => Some(Value::Float(f64::from(f32::from_bits(le32(cell, 0)?)))),
            PT_ERROR => None,
            PT_I8 | PT_CURRENCY if cell.len() == 8 => Some(Value::Int(le64(cell, 0)? as i64)),
            PT_SYSTIME if cell.len() == 8 => Some(Value::Time(le64(cell, 0)? as i64)),
            PT_DOUBLE | PT_APPTIME if cell.len() == 8 => {
                Some(Value::Float(f64::from_bits(le64(cell, 0)?)))
            }
            _ => {
                let hnid = le32(cell, 0)?;
                let raw = self.store.hnid_bytes(hnid).ok()?;
                Some(self.store.decode_var(t, raw))
            }
        }
    }

    pub fn string(&self, row: usize, id: u16) -> Option<String> {
        self.get(row, id)
            .and_then(Value::into_string)
            .filter(|s| !s.is_empty())
    }
    pub fn int(&self, row: usize, id: u16) -> Option<i64> {
        self.get(row, id).and_then(|v| v.as_int())
    }
}

/// Decodes UTF-16LE, dropping a trailing NUL.
pub(crate) fn utf16(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let mut s = String::from_utf16_lossy(&units);
    while s.ends_with('\0') {
        s.pop();
    }
    s
}

/// The encoding for a Windows code page number (default windows-1252).
pub(crate) fn encoding_for_cp(cp: u32) -> &'static encoding_rs::Encoding {
    use encoding_rs::*;
    match cp {
        65001 => UTF_8,
        20127 | 1252 | 28591 => WINDOWS_1252,
        1250 => WINDOWS_1250,
        1251 => WINDOWS_1251,
        1253 => WINDOWS_1253,
        1254 => WINDOWS_1254,
        1255 => WINDOWS_1255,
        1256 => WINDOWS_1256,
        1257 => WINDOWS_1257,
        1258 => WINDOWS_1258,
        874 => WINDOWS_874,
        932 => SHIFT_JIS,
        936 => GBK,
        949 => EUC_KR,
        950 => BIG5,
        54936 => GB18030,
        20866 => KOI8_R,
        21866 => KOI8_U,
        28592 => ISO_8859_2,
        28593 => ISO_8859_3,
        28594 => ISO_8859_4,
        28595 => ISO_8859_5,
        28596 => ISO_8859_6,
        28597 => ISO_8859_7,
        28598 => ISO_8859_8,
        28603 => ISO_8859_13,
        28605 => ISO_8859_15,
        50220..=50222 => ISO_2022_JP,
        51932 => EUC_JP,
        1200 => UTF_16LE,
        1201 => UTF_16BE,
        10000 => MACINTOSH,
        _ => WINDOWS_1252,
    }
}

pub(crate) fn decode_cp(b: &[u8], cp: u32) -> String {
    let (s, _, _) = encoding_for_cp(cp).decode(b);
    let mut s = s.into_owned();
    while s.ends_with('\0') {
        s.pop();
    }
    s
}
