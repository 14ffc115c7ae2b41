//! The wire layer, without I/O: framing ([`frame`]), a value reader
//! ([`value`]), typed responses ([`response`]) and [`Decoder`], which turns
//! a byte stream fed in arbitrary pieces into responses.

pub mod frame;
pub mod response;
pub mod value;

use bytes::{Bytes, BytesMut};

use frame::{FrameError, FrameStatus, Framer};
use response::Response;

/// Why bytes from the server cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// What is wrong, in a sentence.
    pub reason: String,
    /// A short excerpt of the offending bytes.
    pub excerpt: Vec<u8>,
    /// Set when the response's literals add up to more than the framer's cap: their total
    /// so far, and the cap.
    pub too_large: Option<(u64, u64)>,
}

/// What [`decode`] found at the front of the buffer.
#[derive(Debug)]
pub enum Decoded {
    /// A response, and the frame it was parsed from (its strings and
    /// literals are slices of it).
    Response(Response, Bytes),
    /// Not a whole response yet; at least this many more bytes if known.
    NeedMore(Option<usize>),
}

/// Takes one complete response off the front of `buf`, if there is one.
/// The literal bytes are not copied: the frame is split off `buf`.
pub fn decode(framer: &mut Framer, buf: &mut BytesMut) -> Result<Decoded, DecodeError> {
    let excerpt = |b: &[u8]| b[..b.len().min(120)].to_vec();
    match framer.poll(buf) {
        Ok(FrameStatus::Complete(n)) => {
            let frame = buf.split_to(n).freeze();
            match response::parse(&frame) {
                Ok(r) => Ok(Decoded::Response(r, frame)),
                Err(e) => {
                    let from = e.pos.saturating_sub(40).min(frame.len());
                    Err(DecodeError {
                        reason: e.reason.to_owned(),
                        excerpt: excerpt(&frame[from..]),
                        too_large: None,
                    })
                }
            }
        }
        Ok(FrameStatus::NeedMore(hint)) => Ok(Decoded::NeedMore(hint)),
        Err(FrameError::LiteralTooLarge(n)) => Err(DecodeError {
            reason: format!("literal of {n} bytes is larger than allowed"),
            excerpt: excerpt(buf),
            too_large: None,
        }),
        Err(FrameError::LineTooLong) => Err(DecodeError {
            reason: "response line too long".into(),
            excerpt: excerpt(buf),
            too_large: None,
        }),
        Err(FrameError::ResponseTooLarge(total)) => Err(DecodeError {
            reason: format!(
                "the literals of one response add up to {total} bytes, more than the {} allowed",
                framer.max_response_literals()
            ),
            excerpt: excerpt(buf),
            too_large: Some((total, framer.max_response_literals() as u64)),
        }),
    }
}

/// A sans-I/O response decoder: feed bytes as they come, take responses.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
    framer: Framer,
}

impl Decoder {
    /// A decoder with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the server.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete response, or None until more bytes are fed.
    /// After an error the decoder's state is undefined: drop the connection.
    pub fn next_response(&mut self) -> Result<Option<Response>, DecodeError> {
        match decode(&mut self.framer, &mut self.buf)? {
            Decoded::Response(r, _) => Ok(Some(r)),
            Decoded::NeedMore(_) => Ok(None),
        }
    }

    /// Bytes received and not yet part of a returned response.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::response::{Status, Untagged};
    use super::value::Value;
    use super::*;

    const SESSION: &[u8] = b"* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n\
* 1 FETCH (UID 10 BODY[] {12}\r\nline1\r\n{3}\r\n FLAGS (\\Seen))\r\n\
* 2 EXISTS\r\n\
* 2 FETCH (UID 11 BODY[HEADER.FIELDS (DATE)] {0}\r\n)\r\n\
* LIST (\\HasNoChildren) \"/\" {5}\r\nEt\xc3\xa9s\r\n\
+ go ahead\r\n\
A1 OK [APPENDUID 1 2:3] done {3}\r\n\
* BYE bye\r\n";

    fn all(d: &mut Decoder) -> Vec<Response> {
        let mut out = Vec::new();
        while let Some(r) = d.next_response().unwrap() {
            out.push(r);
        }
        out
    }

    #[test]
    fn split_at_every_byte_gives_the_same_responses() {
        let mut whole = Decoder::new();
        whole.feed(SESSION);
        let expected = all(&mut whole);
        assert_eq!(expected.len(), 8);
        assert_eq!(whole.buffered(), 0);
        let Response::Untagged(u) = &expected[1] else {
            panic!("{:?}", expected[1])
        };
        assert_eq!(
            u.fetch_item("BODY[]"),
            Some(&Value::Str(Bytes::from_static(b"line1\r\n{3}\r\n")))
        );
        let Response::Tagged(t) = &expected[6] else {
            panic!()
        };
        assert_eq!((t.status, t.text.as_str()), (Status::Ok, "done {3}"));
        assert!(matches!(
            expected[7],
            Response::Untagged(Untagged::Status {
                status: Status::Bye,
                ..
            })
        ));

        for split in 1..SESSION.len() {
            let mut d = Decoder::new();
            d.feed(&SESSION[..split]);
            let mut got = all(&mut d);
            d.feed(&SESSION[split..]);
            got.extend(all(&mut d));
            assert_eq!(got, expected, "split at {split}");
        }
        let mut d = Decoder::new();
        let mut got = Vec::new();
        for b in SESSION {
            d.feed(std::slice::from_ref(b));
            got.extend(all(&mut d));
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn garbage_gives_errors_not_panics() {
        for g in [
            &b"* 1 FETCH (BODY[] {99999999999}\r\n"[..],
            b"* 1 FETCH (UID x\r\n",
            b"\r\n",
            b")\r\n",
        ] {
            let mut d = Decoder::new();
            d.feed(g);
            assert!(
                d.next_response().is_err(),
                "{:?}",
                String::from_utf8_lossy(g)
            );
        }
    }
}
