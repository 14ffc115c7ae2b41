//! What a run reports while it works: [`Event`]s, sent to an [`EventSink`] and read from the
//! [`EventStream`] made with it by [`channel`].
//!
//! The channel is bounded, and sending never waits: a run must not stall because whoever
//! follows it (a terminal, a job row written once a second) reads slowly. When
//! [`EVENTS_CAPACITY`] events wait unread, progress ticks ([`Event::is_tick`]: bytes copied,
//! folders scanned, retries, items deleted) are merged instead of queued — one per kind and
//! folder, their counts added — and delivered once the queue is drained, so that totals stay
//! exact. Every other event (a plan, a failed item, a folder or collection done) is always
//! queued: they are few (one per folder, or per item that failed), and none is ever dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::Serialize;
use tokio::sync::Notify;

use crate::FolderReport;

/// Events that wait unread before progress ticks are merged.
pub const EVENTS_CAPACITY: usize = 1024;

/// Progress of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The folders are mapped; `messages` is the source's message count over the folders to scan,
    /// `known` the items the map holds for those folders.
    Planned {
        /// Folders (or collections) the pass will look at.
        folders: usize,
        /// Messages the source holds in those folders.
        messages: u64,
        /// Items the item map already holds for them.
        known: u64,
    },
    /// A folder was scanned: `to_copy` messages (`bytes`) are missing on the destination.
    FolderScanned {
        /// The source folder.
        folder: String,
        /// Messages to copy.
        to_copy: u64,
        /// Their size in bytes.
        bytes: u64,
    },
    /// Messages reached the destination.
    Copied {
        /// The source folder (or collection, or file).
        folder: String,
        /// Items that landed in this step (the events of a folder add up).
        messages: u64,
        /// Their size in bytes.
        bytes: u64,
    },
    /// One message of an IMAP folder could not be copied; the rest goes on.
    ItemFailed {
        /// The source folder.
        folder: String,
        /// The message's UID in that folder.
        uid: u32,
        /// Why, in a sentence.
        reason: String,
    },
    /// One item without an IMAP UID (a POP3 message, an item of a PST file, a contact, event
    /// or task) could not be copied; the rest goes on.
    EntryFailed {
        /// The source folder, collection or file.
        folder: String,
        /// The item, in its source's terms.
        item: ItemRef,
        /// Why, in a sentence.
        reason: String,
    },
    /// A connection dropped; the folder is retried.
    Retrying {
        /// The folder being worked on.
        folder: String,
        /// Which retry this is (1 for the first).
        attempt: u32,
        /// What went wrong.
        reason: String,
    },
    /// A folder is finished; its counts.
    FolderDone(FolderReport),
    /// A purge found `items` copied items to delete (sent once per kind: mail, then DAV).
    Purging {
        /// Items to delete.
        items: u64,
    },
    /// `items` copied items were deleted from `folder` (a folder or a collection) and recorded
    /// as deleted.
    Purged {
        /// The destination folder or collection.
        folder: String,
        /// Items deleted there in this step (the events of a folder add up).
        items: u64,
    },
    /// A verification is to compare `folders` folders or collections (sent once per kind).
    Verifying {
        /// Folders or collections to compare.
        folders: usize,
    },
    /// One folder or collection was compared.
    Verified {
        /// The folder or collection.
        folder: String,
        /// True when it matched.
        ok: bool,
    },
}

/// An item that has no IMAP UID, in its source's own terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "key", rename_all = "snake_case")]
pub enum ItemRef {
    /// A POP3 message, by its UIDL.
    Uidl(String),
    /// An item of a PST/OST file, by its node id.
    PstNode(u32),
    /// A contact, event or task, by its source key (its href, or its UID in a file).
    Dav(String),
}

impl std::fmt::Display for ItemRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ItemRef::Uidl(u) => write!(f, "UIDL {u}"),
            ItemRef::PstNode(n) => write!(f, "item {n}"),
            ItemRef::Dav(k) => f.write_str(k),
        }
    }
}

/// Which kinds of progress ticks are merged together (with their folder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Tick {
    Scanned,
    Copied,
    Retrying,
    Purged,
}

impl Event {
    /// A progress tick: merged with the next one of its kind and folder when the consumer
    /// lags, instead of queued. Every other event is always delivered.
    pub fn is_tick(&self) -> bool {
        self.tick().is_some()
    }

    fn tick(&self) -> Option<(Tick, &str)> {
        match self {
            Event::FolderScanned { folder, .. } => Some((Tick::Scanned, folder)),
            Event::Copied { folder, .. } => Some((Tick::Copied, folder)),
            Event::Retrying { folder, .. } => Some((Tick::Retrying, folder)),
            Event::Purged { folder, .. } => Some((Tick::Purged, folder)),
            _ => None,
        }
    }

    /// Adds tick `later` (of the same kind and folder) into this one: counts are summed, a
    /// retry keeps the latest attempt.
    fn absorb(&mut self, later: Event) {
        match (self, later) {
            (
                Event::FolderScanned { to_copy, bytes, .. },
                Event::FolderScanned {
                    to_copy: t,
                    bytes: b,
                    ..
                },
            ) => {
                *to_copy += t;
                *bytes += b;
            }
            (
                Event::Copied {
                    messages, bytes, ..
                },
                Event::Copied {
                    messages: m,
                    bytes: b,
                    ..
                },
            ) => {
                *messages += m;
                *bytes += b;
            }
            (Event::Purged { items, .. }, Event::Purged { items: n, .. }) => *items += n,
            (this, later) => *this = later,
        }
    }
}

/// The state both ends share.
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the stream when an event is queued or the last sink is gone.
    ready: Notify,
    capacity: usize,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Event>,
    /// Ticks merged while the queue was full, by kind and folder.
    merged: HashMap<(Tick, String), Event>,
    senders_gone: bool,
    receiver_gone: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending end, shared by the clones of an [`EventSink`]; dropping the last one ends the
/// stream.
#[derive(Debug)]
struct Sender(Arc<Shared>);

impl Drop for Sender {
    fn drop(&mut self) {
        self.0.lock().senders_gone = true;
        self.0.ready.notify_one();
    }
}

/// Where a run sends its events. Sending never blocks the run (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct EventSink(Option<Arc<Sender>>);

/// Where the events of an [`EventSink`] are read, in the order they were sent (merged ticks
/// after the queue they waited behind).
#[derive(Debug)]
pub struct EventStream(Arc<Shared>);

/// A sink and the stream that reads it, with room for [`EVENTS_CAPACITY`] unread events.
pub fn channel() -> (EventSink, EventStream) {
    channel_with(EVENTS_CAPACITY)
}

/// [`channel`] with room for `capacity` unread events before ticks are merged.
pub fn channel_with(capacity: usize) -> (EventSink, EventStream) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        ready: Notify::new(),
        capacity: capacity.max(1),
    });
    (
        EventSink(Some(Arc::new(Sender(Arc::clone(&shared))))),
        EventStream(shared),
    )
}

impl EventSink {
    /// A sink that reports nowhere.
    pub fn none() -> Self {
        EventSink(None)
    }

    pub(crate) fn send(&self, e: Event) {
        let Some(sender) = &self.0 else {
            return;
        };
        let shared = &sender.0;
        let mut st = shared.lock();
        if st.receiver_gone {
            return;
        }
        match e.tick() {
            // Once ticks are merged, later ones join them until the queue is drained, so that
            // a folder's counts do not arrive out of order.
            Some((kind, folder)) if st.queue.len() >= shared.capacity || !st.merged.is_empty() => {
                let key = (kind, folder.to_owned());
                match st.merged.get_mut(&key) {
                    Some(m) => m.absorb(e),
                    None => {
                        st.merged.insert(key, e);
                    }
                }
            }
            _ => st.queue.push_back(e),
        }
        drop(st);
        shared.ready.notify_one();
    }
}

impl EventStream {
    /// The next event; `None` once every sink is dropped and everything sent is read.
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            {
                let mut st = self.0.lock();
                if let Some(e) = next(&mut st) {
                    return Some(e);
                }
                if st.senders_gone {
                    return None;
                }
            }
            self.0.ready.notified().await;
        }
    }

    /// The next event if one waits, without waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        next(&mut self.0.lock())
    }

    /// Events waiting to be read (queued and merged).
    pub fn len(&self) -> usize {
        let st = self.0.lock();
        st.queue.len() + st.merged.len()
    }

    /// Whether no event waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The first queued event, else the merged ticks (queued first).
fn next(st: &mut State) -> Option<Event> {
    if st.queue.is_empty() && !st.merged.is_empty() {
        let merged: Vec<Event> = st.merged.drain().map(|(_, e)| e).collect();
        st.queue.extend(merged);
    }
    st.queue.pop_front()
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.receiver_gone = true;
        st.queue.clear();
        st.merged.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copied(folder: &str, messages: u64) -> Event {
        Event::Copied {
            folder: folder.into(),
            messages,
            bytes: messages * 100,
        }
    }

    fn done(folder: &str) -> Event {
        Event::FolderDone(FolderReport {
            folder: folder.into(),
            ..Default::default()
        })
    }

    #[tokio::test]
    async fn a_slow_reader_gets_exact_totals_and_every_folder_end_in_bounded_memory() {
        let (sink, mut stream) = channel_with(8);
        // 10,000 ticks over three folders and their ends, with nobody reading: `send` never
        // waits (it is not async), and what waits stays small.
        for i in 0..10_000u64 {
            sink.send(copied(["a", "b", "c"][(i % 3) as usize], 1));
            if i % 3_000 == 0 {
                sink.send(Event::ItemFailed {
                    folder: "a".into(),
                    uid: i as u32,
                    reason: "refused".into(),
                });
            }
        }
        for f in ["a", "b", "c"] {
            sink.send(done(f));
        }
        // 8 queued, the 4 failures and 3 ends kept, one merged tick per folder.
        assert!(stream.len() <= 8 + 4 + 3 + 3, "{} waiting", stream.len());
        drop(sink);
        let (mut messages, mut bytes, mut ends, mut failed) = (0, 0, Vec::new(), 0);
        while let Some(e) = stream.recv().await {
            match e {
                Event::Copied {
                    messages: m,
                    bytes: b,
                    ..
                } => {
                    messages += m;
                    bytes += b;
                }
                Event::FolderDone(r) => ends.push(r.folder),
                Event::ItemFailed { .. } => failed += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((messages, bytes), (10_000, 1_000_000));
        assert_eq!(ends, ["a", "b", "c"]);
        assert_eq!(failed, 4);
    }

    #[tokio::test]
    async fn under_capacity_every_event_arrives_as_sent() {
        let (sink, mut stream) = channel_with(4);
        let sent = vec![copied("INBOX", 1), copied("INBOX", 2), done("INBOX")];
        for e in &sent {
            sink.send(e.clone());
        }
        drop(sink);
        let mut seen = Vec::new();
        while let Some(e) = stream.recv().await {
            seen.push(e);
        }
        assert_eq!(seen, sent);
    }

    #[tokio::test]
    async fn a_sink_without_reader_drops_everything_quietly() {
        let (sink, stream) = channel_with(2);
        drop(stream);
        for _ in 0..100 {
            sink.send(done("x"));
        }
        EventSink::none().send(done("y"));
    }
}
