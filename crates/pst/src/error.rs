//! Errors of the PST reader.

use std::io;

/// An error that stops the whole file (opening, or reading its folder tree).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PstError {
    /// Reading the file failed.
    #[error("cannot read the PST file: {0}")]
    Io(#[from] io::Error),
    /// The file does not start like a PST or OST file.
    #[error("cannot open the file: it is not a PST or OST file (bad magic)")]
    NotPst,
    /// An OST of Outlook 2013 or later (4 KiB pages), which this reader does not read.
    #[error(
        "cannot open the file: OST files of Outlook 2013 and later (4 KiB pages, format version 36) are not supported; export the mailbox to a PST from Outlook instead"
    )]
    UnsupportedOst2013,
    /// A format version this reader does not know.
    #[error("cannot open the file: unknown PST format version {0}")]
    UnsupportedVersion(u16),
    /// An encryption method this reader does not know.
    #[error("cannot open the file: unsupported encryption method {0:#x}")]
    UnsupportedEncryption(u8),
    /// A structure points past the end of the file.
    #[error(
        "cannot read the PST: the file is truncated ({what} at offset {offset} is past its end)"
    )]
    Truncated {
        /// Which structure.
        what: &'static str,
        /// Where it should have been.
        offset: u64,
    },
    /// A structure of the file is damaged.
    #[error("cannot read the PST: damaged {what}: {detail}")]
    Corrupt {
        /// Which structure.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A node the file refers to is not in its node index.
    #[error("cannot find node {0:#x} in the PST node index")]
    NodeNotFound(u32),
    /// A block the file refers to is not in its block index.
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
    /// Why the item was not converted.
    pub reason: String,
}

pub(crate) type Result<T, E = PstError> = std::result::Result<T, E>;
