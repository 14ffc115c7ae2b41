//! What a run reports while it works: [`Event`]s, sent to an [`EventSink`].

use serde::Serialize;
use tokio::sync::mpsc;

use crate::FolderReport;

/// Progress of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The folders are mapped; `messages` is the source's message count over the folders to scan.
    Planned {
        folders: usize,
        messages: u64,
        known: u64,
    },
    /// A folder was scanned: `to_copy` messages (`bytes`) are missing on the destination.
    FolderScanned {
        folder: String,
        to_copy: u64,
        bytes: u64,
    },
    /// Messages reached the destination.
    Copied {
        folder: String,
        messages: u64,
        bytes: u64,
    },
    /// One message could not be copied; the rest goes on.
    ItemFailed {
        folder: String,
        uid: u32,
        reason: String,
    },
    /// A connection dropped; the folder is retried.
    Retrying {
        folder: String,
        attempt: u32,
        reason: String,
    },
    FolderDone(FolderReport),
}

/// Where a run sends its events. Sending never blocks the copy.
#[derive(Debug, Clone, Default)]
pub struct EventSink(Option<mpsc::UnboundedSender<Event>>);

impl EventSink {
    pub fn new(tx: mpsc::UnboundedSender<Event>) -> Self {
        EventSink(Some(tx))
    }

    pub fn none() -> Self {
        EventSink(None)
    }

    pub(crate) fn send(&self, e: Event) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(e);
        }
    }
}
