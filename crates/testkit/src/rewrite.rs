//! A TCP proxy that rewrites what the server says, line by line: a hostile server made of a
//! real one (a bad INTERNALDATE, a lying RFC822.SIZE), so that everything else stays real.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

type Rewrite = dyn Fn(&[u8]) -> Vec<u8> + Send + Sync;

/// Forwards `127.0.0.1:<port>` to a target. What the client sends goes through as it is; what
/// the server sends is cut into lines (each ending with its `\n`, literal bytes included) and
/// each line is replaced by what the rewrite function returns for it.
pub struct RewriteProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    rewritten: Arc<AtomicU64>,
    accept_thread: Option<thread::JoinHandle<()>>,
}

impl RewriteProxy {
    /// Starts forwarding a fresh loopback port to `target`, rewriting the server's lines with `rewrite`.
    pub fn start(
        target: &str,
        rewrite: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
    ) -> io::Result<RewriteProxy> {
        let target: SocketAddr = target
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e}")))?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let rewritten = Arc::new(AtomicU64::new(0));
        let rewrite: Arc<Rewrite> = Arc::new(rewrite);
        let (stop2, rewritten2) = (stop.clone(), rewritten.clone());
        let accept_thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(mut c_read), Ok(mut s_write)) = (client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                thread::spawn(move || {
                    let _ = io::copy(&mut c_read, &mut s_write);
                    let _ = s_write.shutdown(Shutdown::Write);
                });
                let rewrite = rewrite.clone();
                let rewritten = rewritten2.clone();
                thread::spawn(move || {
                    let mut down = client;
                    let mut up = BufReader::with_capacity(256 * 1024, server);
                    let mut line = Vec::new();
                    loop {
                        line.clear();
                        match up.read_until(b'\n', &mut line) {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        }
                        let out = rewrite(&line);
                        if out != line {
                            rewritten.fetch_add(1, Ordering::SeqCst);
                        }
                        if down.write_all(&out).is_err() {
                            break;
                        }
                    }
                    let _ = down.shutdown(Shutdown::Both);
                });
            }
        });
        Ok(RewriteProxy {
            addr,
            stop,
            rewritten,
            accept_thread: Some(accept_thread),
        })
    }

    /// The proxy's listening port on loopback.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How many server lines were changed so far.
    pub fn rewritten(&self) -> u64 {
        self.rewritten.load(Ordering::SeqCst)
    }
}

impl Drop for RewriteProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

/// `line` with every occurrence of `from` replaced by `to`.
pub fn replace_all(line: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return line.to_vec();
    }
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(line[i]);
            i += 1;
        }
    }
    out
}
