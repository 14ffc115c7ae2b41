#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use passeur_pst::{ItemContent, PstFile, PstItem};

pub fn corpus_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus"
    ))
}

pub fn pst_path(name: &str) -> PathBuf {
    corpus_dir().join("pst").join(name)
}

pub fn corpus_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus_dir().join("pst"))
        .expect("corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

pub fn kind(c: &ItemContent) -> &'static str {
    match c {
        ItemContent::Mail { .. } => "mail",
        ItemContent::Contact { .. } => "contact",
        ItemContent::DistList { .. } => "distlist",
        ItemContent::Event { .. } => "event",
        ItemContent::Task { .. } => "task",
        ItemContent::Journal { .. } => "journal",
        ItemContent::Other { .. } => "other",
        _ => "unknown",
    }
}

#[derive(Debug, Default)]
pub struct Walk {
    pub folders: usize,
    pub kinds: BTreeMap<&'static str, usize>,
    pub errors: Vec<String>,
    pub items: Vec<(Vec<String>, PstItem)>,
}

/// Opens and converts everything; keeps the items when `keep`.
pub fn walk(path: &Path, keep: bool) -> Result<Walk, passeur_pst::PstError> {
    let pst = PstFile::open(path)?;
    let folders = pst.folders()?;
    let mut w = Walk {
        folders: folders.len(),
        ..Default::default()
    };
    for f in &folders {
        for it in pst.items(f) {
            match it {
                Ok(item) => {
                    *w.kinds.entry(kind(&item.content)).or_default() += 1;
                    if keep {
                        w.items.push((f.path.clone(), item));
                    }
                }
                Err(e) => w.errors.push(e.to_string()),
            }
        }
    }
    Ok(w)
}

pub fn mime_of(item: &PstItem) -> Option<&[u8]> {
    match &item.content {
        ItemContent::Mail { mime, .. } => Some(mime),
        _ => None,
    }
}
