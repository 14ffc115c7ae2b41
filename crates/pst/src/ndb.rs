//! The node database layer of [MS-PST] §2.2: header, the node and block
//! B-trees (NBT, BBT), data blocks, data trees (XBLOCK/XXBLOCK) and subnode trees.
//!
//! Everything is read on demand with positional reads; only a small page cache
//! stays in memory. Every length read from the file is checked against the file
//! size before anything is allocated.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::crypt;
use crate::error::{PstError, Result};

/// How the data blocks of the file are encoded (the password is only a flag and plays no part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encryption {
    /// Stored as is.
    None,
    /// NDB_CRYPT_PERMUTE.
    Compressible,
    /// NDB_CRYPT_CYCLIC.
    High,
}

const PAGE: usize = 512;
const MAX_BLOCK: usize = 64 * 1024;
const MAX_TREE_DEPTH: u8 = 16;
const PAGE_CACHE_MAX: usize = 2048;

pub(crate) const NID_TYPE_MASK: u32 = 0x1f;

/// A node entry of the NBT.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodeEntry {
    pub nid: u32,
    pub data: u64,
    pub sub: u64,
    pub parent: u32,
}

/// A subnode (of a message, attachment...): its data and its own subnodes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SubEntry {
    pub data: u64,
    pub sub: u64,
}

pub(crate) type SubMap = HashMap<u32, SubEntry>;

/// Where the bytes come from: a file read on demand, or a buffer (tests, fuzzing).
enum Source {
    File(File),
    Memory(Vec<u8>),
}

pub(crate) struct Ndb {
    source: Source,
    pub file_size: u64,
    pub unicode: bool,
    pub encryption: Encryption,
    pub is_ost: bool,
    nbt_root: u64,
    bbt_root: u64,
    pages: Mutex<HashMap<u64, Arc<[u8]>>>,
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

impl Ndb {
    pub fn open(path: &Path) -> Result<Ndb> {
        let file = File::open(path)?;
        let file_size = file.metadata()?.len();
        Self::with_source(Source::File(file), file_size)
    }

    pub fn from_bytes(data: Vec<u8>) -> Result<Ndb> {
        let len = data.len() as u64;
        Self::with_source(Source::Memory(data), len)
    }

    fn with_source(source: Source, file_size: u64) -> Result<Ndb> {
        let mut ndb = Ndb {
            source,
            file_size,
            unicode: true,
            encryption: Encryption::None,
            is_ost: false,
            nbt_root: 0,
            bbt_root: 0,
            pages: Mutex::new(HashMap::new()),
        };
        let head_len = file_size.min(564) as usize;
        if head_len < 24 {
            if head_len >= 4 && ndb.read_at(0, 4)? != b"!BDN" {
                return Err(PstError::NotPst);
            }
            return Err(PstError::Truncated {
                what: "header",
                offset: 0,
            });
        }
        let h = ndb.read_at(0, head_len)?;
        if &h[0..4] != b"!BDN" {
            return Err(PstError::NotPst);
        }
        ndb.is_ost = match &h[8..10] {
            b"SM" => false,
            b"SO" => true,
            _ => return Err(PstError::NotPst),
        };
        let ver = le16(&h, 10).unwrap_or(0);
        let truncated = || PstError::Truncated {
            what: "header",
            offset: 0,
        };
        match ver {
            14 | 15 => {
                ndb.unicode = false;
                if h.len() < 462 {
                    return Err(truncated());
                }
                ndb.nbt_root = u64::from(le32(&h, 188).ok_or_else(truncated)?);
                ndb.bbt_root = u64::from(le32(&h, 196).ok_or_else(truncated)?);
                ndb.encryption = crypt_method(h[461])?;
            }
            21..=23 => {
                if h.len() < 514 {
                    return Err(truncated());
                }
                ndb.nbt_root = le64(&h, 224).ok_or_else(truncated)?;
                ndb.bbt_root = le64(&h, 240).ok_or_else(truncated)?;
                ndb.encryption = crypt_method(h[513])?;
            }
            36 => return Err(PstError::UnsupportedOst2013),
            v => return Err(PstError::UnsupportedVersion(v)),
        }
        for (what, ib) in [("NBT root", ndb.nbt_root), ("BBT root", ndb.bbt_root)] {
            if ib.checked_add(PAGE as u64).is_none_or(|e| e > file_size) {
                return Err(PstError::Truncated { what, offset: ib });
            }
        }
        Ok(ndb)
    }

    pub fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let end = offset.checked_add(len as u64);
        if end.is_none_or(|e| e > self.file_size) {
            return Err(PstError::Truncated {
                what: "data",
                offset,
            });
        }
        match &self.source {
            Source::File(f) => {
                let mut buf = vec![0u8; len];
                read_exact_at(f, &mut buf, offset)?;
                Ok(buf)
            }
            Source::Memory(m) => {
                let start = offset as usize;
                Ok(m[start..start + len].to_vec())
            }
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<[u8]>>> {
        // A poisoned cache only means another thread panicked mid-insert: the map is still valid.
        self.pages.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn page(&self, ib: u64, expect_type: u8) -> Result<Arc<[u8]>> {
        if let Some(p) = self.cache().get(&ib) {
            return Ok(p.clone());
        }
        let buf = self.read_at(ib, PAGE).map_err(|e| match e {
            PstError::Truncated { offset, .. } => PstError::Truncated {
                what: "B-tree page",
                offset,
            },
            e => e,
        })?;
        let trailer = if self.unicode { 496 } else { 500 };
        if buf[trailer] != expect_type || buf[trailer + 1] != expect_type {
            return Err(PstError::corrupt(
                "B-tree page",
                format!(
                    "page at offset {ib} has type {:#x}, expected {expect_type:#x}",
                    buf[trailer]
                ),
            ));
        }
        let rc: Arc<[u8]> = buf.into();
        let mut pages = self.cache();
        if pages.len() >= PAGE_CACHE_MAX {
            pages.clear();
        }
        pages.insert(ib, rc.clone());
        Ok(rc)
    }

    /// (entries, cEnt, cbEnt, cLevel)
    fn page_layout(&self, p: &[u8]) -> Result<(usize, usize, u8)> {
        let base = if self.unicode { 488 } else { 496 };
        let c_ent = p[base] as usize;
        let cb_ent = p[base + 2] as usize;
        let level = p[base + 3];
        if cb_ent == 0 || c_ent * cb_ent > base {
            return Err(PstError::corrupt(
                "B-tree page",
                format!("{c_ent} entries of {cb_ent} bytes do not fit"),
            ));
        }
        Ok((c_ent, cb_ent, level))
    }

    fn key_at(&self, p: &[u8], at: usize) -> u64 {
        if self.unicode {
            le64(p, at).unwrap_or(0)
        } else {
            u64::from(le32(p, at).unwrap_or(0))
        }
    }

    fn ptr_size(&self) -> usize {
        if self.unicode { 8 } else { 4 }
    }

    /// Finds the leaf entry with the given key; returns the page and the entry offset.
    fn btree_find(&self, root: u64, ptype: u8, key: u64) -> Result<Option<(Arc<[u8]>, usize)>> {
        let mut ib = root;
        let mut expect_level: Option<u8> = None;
        // Block ids keep bit 0 reserved: compare without it.
        let mask = if ptype == 0x80 { !1u64 } else { !0u64 };
        let key = key & mask;
        for _ in 0..MAX_TREE_DEPTH {
            let p = self.page(ib, ptype)?;
            let (n, cb, level) = self.page_layout(&p)?;
            if expect_level.is_some_and(|l| l != level) {
                return Err(PstError::corrupt("B-tree page", "inconsistent levels"));
            }
            if level == 0 {
                for i in 0..n {
                    if self.key_at(&p, i * cb) & mask == key {
                        return Ok(Some((p.clone(), i * cb)));
                    }
                }
                return Ok(None);
            }
            let mut child = None;
            for i in 0..n {
                if self.key_at(&p, i * cb) & mask <= key {
                    child = Some(i);
                } else {
                    break;
                }
            }
            let Some(i) = child else { return Ok(None) };
            let s = self.ptr_size();
            ib = self.key_at(&p, i * cb + 2 * s);
            expect_level = Some(level - 1);
        }
        Err(PstError::corrupt("B-tree", "too deep"))
    }

    fn node_from(&self, p: &[u8], at: usize) -> NodeEntry {
        if self.unicode {
            NodeEntry {
                nid: le32(p, at).unwrap_or(0),
                data: le64(p, at + 8).unwrap_or(0),
                sub: le64(p, at + 16).unwrap_or(0),
                parent: le32(p, at + 24).unwrap_or(0),
            }
        } else {
            NodeEntry {
                nid: le32(p, at).unwrap_or(0),
                data: u64::from(le32(p, at + 4).unwrap_or(0)),
                sub: u64::from(le32(p, at + 8).unwrap_or(0)),
                parent: le32(p, at + 12).unwrap_or(0),
            }
        }
    }

    pub fn node(&self, nid: u32) -> Result<NodeEntry> {
        match self.btree_find(self.nbt_root, 0x81, u64::from(nid))? {
            Some((p, at)) => Ok(self.node_from(&p, at)),
            None => Err(PstError::NodeNotFound(nid)),
        }
    }

    /// Walks every leaf of the NBT; damaged pages are skipped and described in the result.
    pub fn walk_nodes(&self, mut f: impl FnMut(NodeEntry)) -> Result<Vec<String>> {
        let mut seen = HashSet::new();
        let mut damaged = Vec::new();
        let root = self.page(self.nbt_root, 0x81)?;
        self.page_layout(&root)?;
        self.walk(self.nbt_root, None, 0, &mut seen, &mut damaged, &mut f);
        Ok(damaged)
    }

    fn walk(
        &self,
        ib: u64,
        level: Option<u8>,
        depth: u8,
        seen: &mut HashSet<u64>,
        damaged: &mut Vec<String>,
        f: &mut impl FnMut(NodeEntry),
    ) {
        if depth > MAX_TREE_DEPTH || !seen.insert(ib) {
            return;
        }
        let page = self
            .page(ib, 0x81)
            .and_then(|p| self.page_layout(&p).map(|l| (p, l)));
        let (p, (n, cb, lvl)) = match page {
            Ok(x) => x,
            Err(e) => {
                damaged.push(format!("node index page at offset {ib}: {e}"));
                return;
            }
        };
        if level.is_some_and(|l| l != lvl) {
            damaged.push(format!("node index page at offset {ib}: wrong level"));
            return;
        }
        if lvl == 0 {
            for i in 0..n {
                f(self.node_from(&p, i * cb));
            }
        } else {
            let s = self.ptr_size();
            for i in 0..n {
                let child = self.key_at(&p, i * cb + 2 * s);
                self.walk(child, Some(lvl - 1), depth + 1, seen, damaged, f);
            }
        }
    }

    /// Reads one block (decoded if it is an external data block).
    pub fn block(&self, bid: u64) -> Result<Vec<u8>> {
        let key = bid & !1;
        let Some((p, at)) = self.btree_find(self.bbt_root, 0x80, key)? else {
            return Err(PstError::BlockNotFound(bid));
        };
        let s = self.ptr_size();
        let ib = self.key_at(&p, at + s);
        let cb = le16(&p, at + 2 * s).unwrap_or(0) as usize;
        if cb > MAX_BLOCK {
            return Err(PstError::corrupt("block", format!("size {cb} too big")));
        }
        let mut data = self.read_at(ib, cb).map_err(|e| match e {
            PstError::Truncated { offset, .. } => PstError::Truncated {
                what: "block",
                offset,
            },
            e => e,
        })?;
        if bid & 2 == 0 {
            match self.encryption {
                Encryption::None => {}
                Encryption::Compressible => crypt::decode_permute(&mut data),
                Encryption::High => crypt::cyclic(&mut data, bid),
            }
        }
        Ok(data)
    }

    /// The leaf data blocks of a node's data tree, in order.
    pub fn data_blocks(&self, bid: u64) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        let mut total = 0u64;
        self.collect_blocks(bid, 0, &mut out, &mut total)?;
        Ok(out)
    }

    fn collect_blocks(
        &self,
        bid: u64,
        depth: u8,
        out: &mut Vec<Vec<u8>>,
        total: &mut u64,
    ) -> Result<()> {
        if bid == 0 {
            return Ok(());
        }
        let b = self.block(bid)?;
        // Every block takes at least 64 bytes on disk: a tree naming more blocks
        // than the file can hold (empty blocks referenced over and over) is hostile.
        *total += b.len().max(64) as u64;
        if *total > self.file_size.saturating_add(64) {
            return Err(PstError::corrupt("data tree", "larger than the file"));
        }
        if bid & 2 == 0 {
            out.push(b);
            return Ok(());
        }
        // XBLOCK (level 1) or XXBLOCK (level 2).
        if depth > 2 || b.len() < 8 || b[0] != 1 {
            return Err(PstError::corrupt(
                "data tree",
                format!("internal block {bid:#x} is not an XBLOCK"),
            ));
        }
        let level = b[1];
        let n = le16(&b, 2).unwrap_or(0) as usize;
        let s = self.ptr_size();
        if level == 0 || level > 2 || 8 + n * s > b.len() {
            return Err(PstError::corrupt("data tree", "bad XBLOCK header"));
        }
        for i in 0..n {
            let child = self.key_at(&b, 8 + i * s);
            self.collect_blocks(child, depth + 1, out, total)?;
        }
        Ok(())
    }

    /// The whole data of a node as one buffer.
    pub fn data(&self, bid: u64) -> Result<Vec<u8>> {
        let blocks = self.data_blocks(bid)?;
        Ok(blocks.concat())
    }

    /// The subnodes below a node (SLBLOCK/SIBLOCK tree).
    pub fn subnodes(&self, bid: u64) -> Result<SubMap> {
        let mut map = HashMap::new();
        if bid != 0 {
            let mut seen = HashSet::new();
            self.collect_sub(bid, 0, &mut seen, &mut map)?;
        }
        Ok(map)
    }

    fn collect_sub(
        &self,
        bid: u64,
        depth: u8,
        seen: &mut HashSet<u64>,
        map: &mut SubMap,
    ) -> Result<()> {
        if depth > 4 {
            return Err(PstError::corrupt("subnode tree", "too deep"));
        }
        if !seen.insert(bid & !1) {
            return Ok(());
        }
        let b = self.block(bid)?;
        if b.len() < 4 || b[0] != 2 {
            return Err(PstError::corrupt(
                "subnode tree",
                format!("block {bid:#x} is not an SLBLOCK/SIBLOCK"),
            ));
        }
        let level = b[1];
        let n = le16(&b, 2).unwrap_or(0) as usize;
        let s = self.ptr_size();
        let head = if self.unicode { 8 } else { 4 };
        if level == 0 {
            let esz = 3 * s;
            if head + n * esz > b.len() {
                return Err(PstError::corrupt("subnode tree", "entries overflow"));
            }
            for i in 0..n {
                let at = head + i * esz;
                let nid = le32(&b, at).unwrap_or(0);
                map.insert(
                    nid,
                    SubEntry {
                        data: self.key_at(&b, at + s),
                        sub: self.key_at(&b, at + 2 * s),
                    },
                );
            }
        } else {
            let esz = 2 * s;
            if head + n * esz > b.len() {
                return Err(PstError::corrupt("subnode tree", "entries overflow"));
            }
            for i in 0..n {
                let child = self.key_at(&b, head + i * esz + s);
                self.collect_sub(child, depth + 1, seen, map)?;
            }
        }
        Ok(())
    }
}

fn crypt_method(b: u8) -> Result<Encryption> {
    match b {
        0 => Ok(Encryption::None),
        1 => Ok(Encryption::Compressible),
        2 => Ok(Encryption::High),
        other => Err(PstError::UnsupportedEncryption(other)),
    }
}

#[cfg(unix)]
fn read_exact_at(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    f.read_exact_at(buf, offset)
}

#[cfg(windows)]
fn read_exact_at(f: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = f.seek_read(buf, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        offset += n as u64;
    }
    Ok(())
}
