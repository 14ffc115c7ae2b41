//! Large inputs stream: objects come out while most of the input is still unread,
//! within the documented window.

use std::cell::Cell;
use std::io::{BufReader, Read};
use std::rc::Rc;

use passeur_formats::{ics, vcf};

/// A reader that produces `n` generated records and counts the bytes handed out.
struct Gen<F: Fn(usize) -> String> {
    n: usize,
    i: usize,
    head: String,
    tail: String,
    rec: F,
    buf: Vec<u8>,
    pos: usize,
    read: Rc<Cell<usize>>,
}

impl<F: Fn(usize) -> String> Read for Gen<F> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            if self.i == 0 {
                self.buf.extend_from_slice(self.head.as_bytes());
            }
            if self.i < self.n {
                self.buf.extend_from_slice((self.rec)(self.i).as_bytes());
                self.i += 1;
            } else if self.i == self.n {
                self.buf.extend_from_slice(self.tail.as_bytes());
                self.i += 1;
            }
        }
        let k = out.len().min(self.buf.len() - self.pos);
        out[..k].copy_from_slice(&self.buf[self.pos..self.pos + k]);
        self.pos += k;
        self.read.set(self.read.get() + k);
        Ok(k)
    }
}

#[test]
fn a_large_ics_file_streams_and_keeps_overrides_with_their_master() {
    let n = 30_000;
    let read = Rc::new(Cell::new(0));
    let g = Gen {
        n,
        i: 0,
        head: "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:gen\r\n".into(),
        tail: "END:VCALENDAR\r\n".into(),
        rec: |i| {
            format!(
                "BEGIN:VEVENT\r\nUID:gen-{i}\r\nDTSTART;TZID=Europe/Paris:20240101T100000\r\nRRULE:FREQ=DAILY\r\nSUMMARY:event {i}\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:gen-{i}\r\nRECURRENCE-ID;TZID=Europe/Paris:20240102T100000\r\nDTSTART;TZID=Europe/Paris:20240102T110000\r\nSUMMARY:moved {i}\r\nEND:VEVENT\r\n"
            )
        },
        buf: Vec::new(),
        pos: 0,
        read: read.clone(),
    };
    let mut it = ics::split(BufReader::new(g));
    let first = it.next().unwrap().unwrap();
    let at_first = read.get();
    assert_eq!(first.uid, "gen-0");
    assert_eq!(first.overrides, 1);
    assert!(first.text.contains("BEGIN:VTIMEZONE"));
    let mut count = 1;
    for o in it {
        let o = o.unwrap();
        assert_eq!(o.overrides, 1, "{}", o.uid);
        count += 1;
    }
    let total = read.get();
    assert_eq!(count, n);
    // The first object came out after the 5,000-UID window filled, not at the end.
    assert!(
        at_first < total / 4,
        "{at_first} of {total} bytes read before the first object"
    );
}

#[test]
fn a_large_vcf_file_streams_card_by_card() {
    let n = 20_000;
    let read = Rc::new(Cell::new(0));
    let g = Gen {
        n,
        i: 0,
        head: String::new(),
        tail: String::new(),
        rec: |i| {
            format!(
                "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c-{i}\r\nFN:Person {i}\r\nN:{i};Person;;;\r\nEND:VCARD\r\n"
            )
        },
        buf: Vec::new(),
        pos: 0,
        read: read.clone(),
    };
    let mut it = vcf::split(BufReader::new(g));
    assert_eq!(it.next().unwrap().unwrap().uid, "c-0");
    assert!(
        read.get() <= 16 * 1024,
        "{} bytes read for the first card",
        read.get()
    );
    assert_eq!(it.count() + 1, n);
}
