//! The byte pipe under the client: TCP, optionally TLS, optionally
//! COMPRESS=DEFLATE, with a large read buffer and a batching write buffer.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::Error;

/// Bytes asked from the socket per read.
const READ_CHUNK: usize = 128 * 1024;
/// Most room made at once for an announced literal beyond what the buffer already holds.
const FIRST_RESERVE: usize = 1024 * 1024;
/// Write buffer size before it is pushed to the socket.
const WRITE_BATCH: usize = 256 * 1024;
/// Payloads above this go to the socket directly instead of being copied.
const DIRECT_WRITE: usize = 64 * 1024;

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while STARTTLS swaps the stream.
    Gone,
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// COMPRESS=DEFLATE state (RFC 4978): raw deflate, sync flush per batch.
struct Deflate {
    comp: Compress,
    decomp: Decompress,
    /// Compressed bytes read but not yet inflated.
    zin: BytesMut,
    /// Inflate output scratch.
    scratch: Vec<u8>,
    /// The last inflate filled the scratch: more output may be pending.
    pending: bool,
    zout: Vec<u8>,
}

pub(crate) struct Conn {
    stream: Stream,
    /// Plain IMAP bytes received and not yet consumed by the framer.
    pub(crate) rbuf: BytesMut,
    wbuf: Vec<u8>,
    deflate: Option<Box<Deflate>>,
    io_timeout: Duration,
}

async fn timed<T>(
    d: Duration,
    what: &str,
    f: impl std::future::Future<Output = io::Result<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(d, f).await {
        Ok(r) => r.map_err(Error::Io),
        Err(_) => Err(Error::Timeout { what: what.into() }),
    }
}

impl Conn {
    pub(crate) fn plain(s: TcpStream, io_timeout: Duration) -> Self {
        Conn {
            stream: Stream::Plain(s),
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            wbuf: Vec::with_capacity(WRITE_BATCH),
            deflate: None,
            io_timeout,
        }
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    pub(crate) fn is_compressed(&self) -> bool {
        self.deflate.is_some()
    }

    /// Upgrades a plain stream to TLS (implicit TLS or STARTTLS).
    pub(crate) async fn start_tls(
        &mut self,
        connector: &TlsConnector,
        host: &str,
        handshake_timeout: Duration,
    ) -> Result<(), Error> {
        if !self.rbuf.is_empty() {
            // Bytes after the STARTTLS OK would be injected plaintext.
            return Err(Error::protocol(
                "data sent by the server before the TLS handshake",
                &self.rbuf,
            ));
        }
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(Error::State("start TLS twice".into()));
        };
        let name = ServerName::try_from(host.to_owned()).map_err(|_| Error::Tls {
            host: host.into(),
            reason: "the host name is not valid for TLS".into(),
        })?;
        let tls = match tokio::time::timeout(handshake_timeout, connector.connect(name, tcp)).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(crate::tls::handshake_error(host, e)),
            Err(_) => {
                return Err(Error::Timeout {
                    what: "complete the TLS handshake".into(),
                });
            }
        };
        self.stream = Stream::Tls(Box::new(tls));
        Ok(())
    }

    /// Turns on COMPRESS=DEFLATE; bytes already read past the server's OK
    /// are compressed and go to the inflater.
    pub(crate) fn start_deflate(&mut self) {
        let leftover = self.rbuf.split();
        let mut zin = BytesMut::with_capacity(READ_CHUNK);
        zin.extend_from_slice(&leftover);
        self.deflate = Some(Box::new(Deflate {
            comp: Compress::new(Compression::fast(), false),
            decomp: Decompress::new(false),
            zin,
            scratch: vec![0; READ_CHUNK * 2],
            pending: false,
            zout: Vec::with_capacity(READ_CHUNK),
        }));
    }

    /// Moves the unread bytes to a small buffer of their own. After a large literal was cut out
    /// of `rbuf`, what is left of `rbuf` still points into the literal's allocation and keeps
    /// all of it alive after the message itself is dropped: one large message per connection
    /// would stay in memory, beyond the bytes-in-flight budget.
    pub(crate) fn release_read_buffer(&mut self) {
        let mut fresh = BytesMut::with_capacity(self.rbuf.len().max(READ_CHUNK));
        fresh.extend_from_slice(&self.rbuf);
        self.rbuf = fresh;
    }

    /// Reads more bytes into `rbuf`, making room for at least `want` more.
    /// Returns how many arrived; 0 means the server closed the connection.
    pub(crate) async fn fill(&mut self, want: usize) -> Result<usize, Error> {
        // With a known need (the rest of a literal) there must be room for all of it; without,
        // any reasonable room will do: reallocating then would copy what is unread, possibly
        // a whole large literal waiting for its closing bytes.
        let min_spare = if want > 0 {
            want.min(FIRST_RESERVE.max(self.rbuf.len()))
        } else {
            4096
        };
        if self.rbuf.capacity() - self.rbuf.len() < min_spare {
            // Slack after a literal holds the rest of its response without another copy. With
            // no known need (a line still without its end), grow geometrically: a long line
            // must not be copied over and over.
            // The rest of a literal is what the server announced, not what it sent: room for
            // all of it is made only as bytes arrive (at most doubling what is held), so an
            // announced `{536870911}` followed by a trickle does not reserve 512 MiB.
            let room = if want > 0 {
                want.min(FIRST_RESERVE.max(self.rbuf.len())) + READ_CHUNK
            } else {
                READ_CHUNK.max(self.rbuf.len())
            };
            // A fresh buffer of the size needed, holding only the unread bytes. `reserve` would
            // instead grow the old allocation (doubling, and keeping the bytes already handed
            // out in front of it): received bodies are slices of this buffer, so one large
            // literal made every connection's buffer huge for good (92 MB heap measured on the
            // c5000 corpus). The old allocation is freed once the bodies cut from it are dropped.
            let mut fresh = BytesMut::with_capacity(self.rbuf.len() + room);
            fresh.extend_from_slice(&self.rbuf);
            self.rbuf = fresh;
        }
        let Some(z) = self.deflate.as_mut() else {
            return timed(
                self.io_timeout,
                "read from the server",
                self.stream.read_buf(&mut self.rbuf),
            )
            .await;
        };
        loop {
            if !z.zin.is_empty() || z.pending {
                let (in0, out0) = (z.decomp.total_in(), z.decomp.total_out());
                z.decomp
                    .decompress(&z.zin, &mut z.scratch, FlushDecompress::None)
                    .map_err(|e| Error::protocol(format!("bad COMPRESS data: {e}"), b""))?;
                let used = (z.decomp.total_in() - in0) as usize;
                let made = (z.decomp.total_out() - out0) as usize;
                z.zin.advance(used);
                z.pending = made == z.scratch.len();
                if made > 0 {
                    self.rbuf.extend_from_slice(&z.scratch[..made]);
                    return Ok(made);
                }
                if used > 0 {
                    continue;
                }
            }
            z.zin.reserve(READ_CHUNK);
            let n = timed(
                self.io_timeout,
                "read from the server",
                self.stream.read_buf(&mut z.zin),
            )
            .await?;
            if n == 0 {
                return Ok(0);
            }
        }
    }

    /// Queues bytes for the server; large payloads skip the copy.
    pub(crate) async fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        let direct = data.len() >= DIRECT_WRITE;
        // Whatever is queued must go first when `data` skips the queue.
        if direct || self.wbuf.len() + data.len() > WRITE_BATCH {
            self.push_wbuf(false).await?;
        }
        if direct {
            self.send_raw(data, false).await
        } else {
            self.wbuf.extend_from_slice(data);
            Ok(())
        }
    }

    /// Sends everything queued and flushes (with a deflate sync flush).
    pub(crate) async fn flush(&mut self) -> Result<(), Error> {
        self.push_wbuf(true).await?;
        timed(self.io_timeout, "write to the server", self.stream.flush()).await
    }

    async fn push_wbuf(&mut self, sync: bool) -> Result<(), Error> {
        let buf = std::mem::take(&mut self.wbuf);
        let r = self.send_raw(&buf, sync).await;
        self.wbuf = buf;
        self.wbuf.clear();
        r
    }

    async fn send_raw(&mut self, data: &[u8], sync: bool) -> Result<(), Error> {
        let Some(z) = self.deflate.as_mut() else {
            if data.is_empty() {
                return Ok(());
            }
            return timed(
                self.io_timeout,
                "write to the server",
                self.stream.write_all(data),
            )
            .await;
        };
        let flush = if sync {
            FlushCompress::Sync
        } else {
            FlushCompress::None
        };
        let mut input = data;
        loop {
            z.zout.clear();
            z.zout.reserve(READ_CHUNK);
            let in0 = z.comp.total_in();
            z.comp
                .compress_vec(input, &mut z.zout, flush)
                .map_err(|e| Error::Io(io::Error::other(e)))?;
            let used = (z.comp.total_in() - in0) as usize;
            input = &input[used.min(input.len())..];
            let full = z.zout.len() == z.zout.capacity();
            if !z.zout.is_empty() {
                timed(
                    self.io_timeout,
                    "write to the server",
                    self.stream.write_all(&z.zout),
                )
                .await?;
            }
            if input.is_empty() && !full {
                return Ok(());
            }
        }
    }

    pub(crate) async fn shutdown(&mut self) {
        let _ = tokio::time::timeout(self.io_timeout, self.stream.shutdown()).await;
    }
}

/// Shared so that a connection pool does not rebuild root stores.
pub(crate) fn connector(insecure: bool) -> Result<TlsConnector, Error> {
    crate::tls::client_config(insecure).map(|c| TlsConnector::from(Arc::clone(&c)))
}
