//! Errors of the PST reader.

use std::io;

/// An error that stops the whole file (opening, or reading its folder tree).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PstError {
    #[error("cannot read the PST file: {0}")]
    Io(#[from] io::Error),
    #[error("cannot open the file: it is not a PST or OST file (bad magic)")]
    NotPst,
    #[error(
        "cannot open the file: OST files of Outlook 2013 and later (4 KiB pages, format version 36) are not supported; export the mailbox to a PST from Outlook instead"
    )]
    UnsupportedOst2013,
    #[error("cannot open the file: unknown PST format version {0}")]
    UnsupportedVersion(u16),
    #[error("cannot open the file: unsupported encryption method {0:#x}")]
    UnsupportedEncryption(u8),
    #[error(
        "cannot read the PST: the file is truncated ({what} at offset {offset} is past its end)"
    )]
    Truncated { what: &'static str, offset: u64 },
    #[error("cannot read the PST: damaged {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("cannot find node {0:#x} in the PST node index")]
    NodeNotFound(u32),
    #[error("cannot find block {0:#x} in the PST block index")]
    BlockNotFound(u64),
}

impl PstError {
    pub(crate) fn corrupt(what: &'static str, detail: impl Into<String>) -> Self {
        PstError::Corrupt {
            what,
            detail: detail.into(),
        }
    }

    /// Whether trying again may help: only plain I/O errors (not the file's content).
    pub fn is_retryable(&self) -> bool {
        matches!(self, PstError::Io(e) if e.kind() == io::ErrorKind::Interrupted || e.kind() == io::ErrorKind::TimedOut)
    }
}

/// One item that could not be read or converted; iteration over the folder goes on.
#[derive(Debug, thiserror::Error)]
#[error("cannot convert PST item {node_id:#x}: {reason}")]
#[non_exhaustive]
pub struct ItemError {
    /// The PST node id of the item (stable: use it to resume).
    pub node_id: u32,
    /// The folder it belongs to.
    pub folder_node_id: u32,
    pub reason: String,
}

pub(crate) type Result<T, E = PstError> = std::result::Result<T, E>;
