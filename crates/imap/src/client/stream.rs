//! Copying one large message from a connection to another without holding it whole: the
//! source's `BODY[]` literal is written into the destination's APPEND literal as it arrives.

use bytes::{Buf, Bytes};

use super::append::{appenduid, message_prefix, refusal};
use super::{Client, check};
use crate::Error;
use crate::command::Command;
use crate::proto::frame::{MAX_LINE, trailing_literal};
use crate::proto::response::{Response, Status};

use super::{AppendMessage, AppendOutcome};

/// Largest piece handed from the source's read buffer to the destination at once.
const CHUNK: usize = 256 * 1024;

/// Which connection failed while a message was being streamed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The source's connection failed (reading the message).
    #[error("source: {0}")]
    Source(Error),
    /// The destination's connection failed (writing the message).
    #[error("destination: {0}")]
    Destination(Error),
}

/// Whether `line` (without its line end) opens a FETCH response whose `BODY[]` is the literal
/// that follows it: `* 12 FETCH (UID 34 BODY[] {n}`. Returns n.
pub(crate) fn body_literal(line: &[u8]) -> Option<u64> {
    if !line.starts_with(b"* ") {
        return None;
    }
    let n = trailing_literal(line)?;
    let open = line.iter().rposition(|&c| c == b'{')?;
    let before = line[..open].strip_suffix(b"~").unwrap_or(&line[..open]);
    let before = before.strip_suffix(b" ")?;
    let upper = before.to_ascii_uppercase();
    let is_fetch = upper.windows(7).any(|w| w == b" FETCH ");
    (is_fetch && (upper.ends_with(b"BODY[]") || upper.ends_with(b"BODY[]<0>"))).then_some(n)
}

impl Client {
    /// Sends `UID FETCH uid (UID BODY.PEEK[])` and reads until the message's bytes begin.
    /// Returns their exact size, or None when the mailbox has no such message (expunged
    /// meanwhile). Then read the bytes with [`Client::read_body_chunk`] (or give them to
    /// [`Client::append_from`]) and end with [`Client::finish_body`].
    pub async fn open_body(&mut self, uid: u32) -> Result<Option<u64>, Error> {
        self.ensure_idle("open a message")?;
        let cmd = Command::new("UID FETCH")
            .raw(&format!(" {uid} (UID BODY.PEEK[])"))
            .end();
        self.untagged.clear();
        let (tag, _) = self.send(cmd).await?;
        self.conn.flush().await?;
        loop {
            // A whole first line of the next response, to see what it is.
            let mut scanned = 0;
            let nl = loop {
                if let Some(p) = self.conn.rbuf[scanned..].iter().position(|&c| c == b'\n') {
                    break scanned + p;
                }
                scanned = self.conn.rbuf.len();
                // A line that never ends must not grow the buffer for ever.
                if self.conn.rbuf.len() > MAX_LINE {
                    return Err(Error::protocol(
                        "response line too long",
                        &self.conn.rbuf[..120],
                    ));
                }
                if self.conn.fill(0).await? == 0 {
                    return Err(Error::Closed {
                        reason: self.bye.clone(),
                    });
                }
            };
            let line = &self.conn.rbuf[..nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(n) = body_literal(line) {
                self.conn.rbuf.advance(nl + 1);
                self.fetching = Some(tag);
                self.body_left = Some(n);
                return Ok(Some(n));
            }
            match self.read_response().await? {
                Response::Tagged(t) if t.tag == tag => {
                    check(t, "UID FETCH")?;
                    return Ok(None);
                }
                Response::Tagged(t) => {
                    self.completed.insert(t.tag.clone(), t);
                }
                // Flag updates, EXISTS, or a FETCH with BODY[] NIL: nothing to stream.
                Response::Untagged(_) | Response::Continue(_) => {}
            }
        }
    }

    /// The next piece of the message opened with [`Client::open_body`], at most `max` bytes;
    /// None once all of it was read.
    pub async fn read_body_chunk(&mut self, max: usize) -> Result<Option<Bytes>, Error> {
        let left = match self.body_left {
            Some(0) | None => return Ok(None),
            Some(n) => n,
        };
        if self.conn.rbuf.is_empty() && self.conn.fill(0).await? == 0 {
            self.body_left = None;
            return Err(Error::Closed {
                reason: self.bye.clone(),
            });
        }
        let take = (self.conn.rbuf.len() as u64)
            .min(left)
            .min(max.max(1) as u64) as usize;
        let chunk = self.conn.rbuf.split_to(take).freeze();
        self.body_left = Some(left - take as u64);
        Ok(Some(chunk))
    }

    /// Reads past the rest of the opened message (if any was left unread) and the end of its
    /// FETCH, so that the connection takes commands again.
    pub async fn finish_body(&mut self) -> Result<(), Error> {
        while self.read_body_chunk(CHUNK).await?.is_some() {}
        let Some(tag) = self.fetching.take() else {
            return Ok(());
        };
        self.body_left = None;
        // The rest of the FETCH response: ` UID 34)` and its line end (only UID was asked
        // for besides the body, so no literal can follow).
        let nl = loop {
            if let Some(p) = self.conn.rbuf.iter().position(|&c| c == b'\n') {
                break p;
            }
            if self.conn.rbuf.len() > 64 * 1024 {
                return Err(Error::protocol(
                    "a FETCH response goes on after the message",
                    &self.conn.rbuf[..120],
                ));
            }
            if self.conn.fill(0).await? == 0 {
                return Err(Error::Closed {
                    reason: self.bye.clone(),
                });
            }
        };
        let rest = &self.conn.rbuf[..nl];
        if trailing_literal(rest.strip_suffix(b"\r").unwrap_or(rest)).is_some() {
            return Err(Error::protocol(
                "unexpected literal after the message",
                rest,
            ));
        }
        self.conn.rbuf.advance(nl + 1);
        let t = self.wait_for(&tag).await?;
        check(t, "UID FETCH").map(drop)
    }

    /// APPENDs to `mailbox` the message that `src` opened with [`Client::open_body`]
    /// (`size` bytes, as it returned), writing each piece as it arrives, then finishes the
    /// source's FETCH. `msg.body` is ignored. A refusal of the message is an `Err` inside the
    /// outcome, as with [`Client::append_batch`].
    pub async fn append_from(
        &mut self,
        mailbox: &str,
        msg: &AppendMessage,
        size: u64,
        src: &mut Client,
    ) -> Result<AppendOutcome, StreamError> {
        use StreamError::{Destination as D, Source as S};
        self.ensure_idle("append").map_err(D)?;
        let size_usize = usize::try_from(size)
            .map_err(|_| D(Error::State("a message too large for this machine".into())))?;
        let cmd = message_prefix(Command::new("APPEND").arg(mailbox), msg).unterminated();
        self.untagged.clear();
        let (tag, _) = self.send(cmd).await.map_err(D)?;
        let sync = !self.non_sync_ok(size_usize);
        self.conn
            .write(format!(" {{{size}{}}}\r\n", if sync { "" } else { "+" }).as_bytes())
            .await
            .map_err(D)?;
        if sync {
            self.conn.flush().await.map_err(D)?;
            if !self.wait_continue(&tag).await.map_err(D)? {
                // Refused before the message went out: the source must still be read past it.
                src.finish_body().await.map_err(S)?;
                let t = self
                    .completed
                    .remove(&tag)
                    .ok_or_else(|| D(Error::State("APPEND ended without its completion".into())))?;
                return Ok(AppendOutcome {
                    uidvalidity: None,
                    results: vec![Err(refusal(t))],
                });
            }
        }
        let mut sent = 0u64;
        while let Some(chunk) = src.read_body_chunk(CHUNK).await.map_err(S)? {
            sent += chunk.len() as u64;
            self.conn.write(&chunk).await.map_err(D)?;
        }
        if sent != size {
            return Err(S(Error::protocol("the message ended early", b"")));
        }
        self.conn.write(b"\r\n").await.map_err(D)?;
        self.conn.flush().await.map_err(D)?;
        // The source's FETCH ends while the destination stores the message.
        let (src_done, t) = tokio::join!(src.finish_body(), self.wait_for(&tag));
        src_done.map_err(S)?;
        let t = t.map_err(D)?;
        if t.status != Status::Ok {
            return Ok(AppendOutcome {
                uidvalidity: None,
                results: vec![Err(refusal(t))],
            });
        }
        Ok(match appenduid(&t) {
            Some((v, uids)) => AppendOutcome {
                uidvalidity: Some(v),
                results: vec![Ok(uids.first().copied())],
            },
            None => AppendOutcome {
                uidvalidity: None,
                results: vec![Ok(None)],
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::body_literal;

    #[test]
    fn recognises_the_body_literal_line() {
        assert_eq!(
            body_literal(b"* 12 FETCH (UID 34 BODY[] {5000}"),
            Some(5000)
        );
        assert_eq!(body_literal(b"* 12 FETCH (BODY[] {7}"), Some(7));
        assert_eq!(body_literal(b"* 1 fetch (uid 3 body[]<0> ~{9}"), Some(9));
        assert_eq!(body_literal(b"* 12 FETCH (UID 34 BODY[] NIL)"), None);
        assert_eq!(
            body_literal(b"* 12 FETCH (BODY[HEADER.FIELDS (X)] {20}"),
            None
        );
        assert_eq!(body_literal(b"* OK [ALERT] BODY[] {5}"), None);
        assert_eq!(body_literal(b"A1 OK done {5}"), None);
    }

    /// Random first lines from the pieces such lines are made of: the scanner returns, never
    /// panics, and only finds a literal in a line that ends with one.
    #[test]
    fn body_literal_survives_random_lines() {
        const PIECES: &[&[u8]] = &[
            b"* ",
            b"12",
            b" FETCH ",
            b"(UID 3 ",
            b"BODY[]",
            b"BODY[]<0>",
            b" ",
            b"~",
            b"{",
            b"}",
            b"+",
            b"-",
            b"536870911",
            b"99999999999999999999",
            b"\xc3\xa9",
            b"\r",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..100_000 {
            let n = (next() % 12) as usize;
            let line: Vec<u8> = (0..n)
                .flat_map(|_| {
                    PIECES[(next() % PIECES.len() as u64) as usize]
                        .iter()
                        .copied()
                })
                .collect();
            if body_literal(&line).is_some() {
                assert_eq!(line.last(), Some(&b'}'));
            }
        }
    }
}
