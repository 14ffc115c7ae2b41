//! A TCP proxy that cuts connections on demand, to test resumption after a network cut.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// Forwards `127.0.0.1:<port>` to a target, on background threads.
///
/// * [`CutProxy::cut_now`] drops every live connection (both sides see a reset/EOF).
/// * [`CutProxy::cut_after_bytes`] arms a one-shot cut: once `n` more bytes have been
///   forwarded (both directions counted), the connection carrying the n-th byte is
///   truncated exactly there and all live connections are dropped. New connections
///   are accepted afterwards as usual.
/// * [`CutProxy::cut_on_reply`] arms a one-shot cut on a server reply: the server-to-client
///   chunk holding the n-th occurrence of a pattern is dropped (the client never sees it) and
///   all live connections are dropped. What the server did before replying stays done: the
///   lost-acknowledgement case.
/// * [`CutProxy::refuse`] makes new connections get closed right away.
pub struct CutProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<thread::JoinHandle<()>>,
}

struct Shared {
    target: SocketAddr,
    stop: AtomicBool,
    refuse: AtomicBool,
    /// Total bytes forwarded, both directions.
    bytes: AtomicU64,
    /// Server-to-client bytes.
    bytes_down: AtomicU64,
    accepted: AtomicU64,
    cuts: AtomicU64,
    /// Absolute value of `bytes` at which to cut; `u64::MAX` = disarmed.
    cut_at: AtomicU64,
    live: Mutex<Vec<(u64, TcpStream, TcpStream)>>,
    next_id: AtomicU64,
    /// Armed reply cut: the pattern and how many more occurrences to let through first.
    reply_cut: Mutex<Option<(Vec<u8>, u64)>>,
}

impl Shared {
    fn cut_all(&self) {
        // Count first: a client may observe the EOF before this function returns.
        self.cuts.fetch_add(1, Ordering::SeqCst);
        let conns = std::mem::take(&mut *self.live.lock().unwrap_or_else(|p| p.into_inner()));
        for (_, a, b) in conns {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
    }

    fn forget(&self, id: u64) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(i, _, _)| *i != id);
    }
}

impl CutProxy {
    /// Starts forwarding a fresh loopback port to `target` (e.g. `"127.0.0.1:1143"`).
    pub fn start(target: &str) -> io::Result<CutProxy> {
        let target: SocketAddr = target
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{target}: {e}")))?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            stop: AtomicBool::new(false),
            refuse: AtomicBool::new(false),
            bytes: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            cut_at: AtomicU64::new(u64::MAX),
            live: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            reply_cut: Mutex::new(None),
        });
        let s = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name("cutproxy-accept".into())
            .spawn(move || accept_loop(listener, s))?;
        Ok(CutProxy {
            addr,
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    /// The proxy's listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's listening port on loopback.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Drops every live connection now.
    pub fn cut_now(&self) {
        self.shared.cut_all();
    }

    /// Cuts once `n` more bytes (both directions) have gone through. One-shot.
    pub fn cut_after_bytes(&self, n: u64) {
        let now = self.shared.bytes.load(Ordering::SeqCst);
        self.shared
            .cut_at
            .store(now.saturating_add(n), Ordering::SeqCst);
    }

    /// Cuts when the server sends the `nth` (1-based) occurrence of `pattern` from now on,
    /// counted over all connections: the chunk that holds it is not forwarded. One-shot. A
    /// pattern split across two reads of the server's stream is not seen.
    pub fn cut_on_reply(&self, pattern: &[u8], nth: u64) {
        *self
            .shared
            .reply_cut
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((pattern.to_vec(), nth.saturating_sub(1)));
    }

    /// Disarms a pending [`CutProxy::cut_after_bytes`] or [`CutProxy::cut_on_reply`].
    pub fn disarm(&self) {
        self.shared.cut_at.store(u64::MAX, Ordering::SeqCst);
        *self
            .shared
            .reply_cut
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// While `true`, new connections are accepted and closed at once.
    pub fn refuse(&self, on: bool) {
        self.shared.refuse.store(on, Ordering::SeqCst);
    }

    /// Bytes forwarded so far, both directions.
    pub fn bytes_forwarded(&self) -> u64 {
        self.shared.bytes.load(Ordering::SeqCst)
    }

    /// Bytes forwarded from the target to clients.
    pub fn bytes_down(&self) -> u64 {
        self.shared.bytes_down.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections currently open.
    pub fn live_connections(&self) -> usize {
        self.shared
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// How many cuts happened (manual or armed).
    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept().
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
        self.shared.cut_all();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = conn else { continue };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        if shared.refuse.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect(shared.target) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
            client.try_clone(),
            server.try_clone(),
            client.try_clone(),
            server.try_clone(),
        ) else {
            continue;
        };
        shared
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, c3, s3));
        let up = Arc::clone(&shared);
        let down = Arc::clone(&shared);
        let _ = thread::Builder::new()
            .name("cutproxy-up".into())
            .spawn(move || pump(client, server, &up, id, false));
        let _ = thread::Builder::new()
            .name("cutproxy-down".into())
            .spawn(move || pump(s2, c2, &down, id, true));
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared, id: u64, downstream: bool) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => {
                // Orderly half-close: pass it on, let the other direction finish.
                let _ = to.shutdown(Shutdown::Write);
                if downstream {
                    shared.forget(id);
                }
                return;
            }
            Err(_) => break,
            Ok(n) => n,
        };
        if downstream && reply_cut_hit(shared, &buf[..n]) {
            shared.cut_all();
            break;
        }
        let before = shared.bytes.fetch_add(n as u64, Ordering::SeqCst);
        let cut_at = shared.cut_at.load(Ordering::SeqCst);
        let after = before + n as u64;
        if after >= cut_at
            && shared
                .cut_at
                .compare_exchange(cut_at, u64::MAX, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            let keep = cut_at.saturating_sub(before) as usize;
            let _ = to.write_all(&buf[..keep.min(n)]);
            let _ = to.flush();
            // Count only what went through.
            shared
                .bytes
                .fetch_sub((n - keep.min(n)) as u64, Ordering::SeqCst);
            if downstream {
                shared
                    .bytes_down
                    .fetch_add(keep.min(n) as u64, Ordering::SeqCst);
            }
            shared.cut_all();
            break;
        }
        if downstream {
            shared.bytes_down.fetch_add(n as u64, Ordering::SeqCst);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
    shared.forget(id);
}

/// Whether `chunk` (server to client) holds the armed reply pattern's awaited occurrence;
/// disarms it when it does.
fn reply_cut_hit(shared: &Shared, chunk: &[u8]) -> bool {
    let mut armed = shared.reply_cut.lock().unwrap_or_else(|p| p.into_inner());
    let Some((pattern, skip)) = armed.as_mut() else {
        return false;
    };
    if pattern.is_empty() {
        return false;
    }
    let found = chunk
        .windows(pattern.len())
        .filter(|w| *w == pattern.as_slice())
        .count() as u64;
    if found > *skip {
        *armed = None;
        true
    } else {
        *skip -= found;
        false
    }
}
