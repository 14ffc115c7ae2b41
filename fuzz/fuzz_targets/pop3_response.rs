//! Arbitrary server bytes through the POP3 parsers and the multi-line decoder: nothing may
//! panic, the decoder's output must not depend on how the input is split, and stuffing then
//! decoding a body must give it back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passeur_pop3::proto::{
    Capabilities, DotDecoder, dot_stuff, line_len, parse_listing, parse_list_line, parse_status,
    parse_uidl_line,
};

fn decode(pieces: &[&[u8]]) -> (Vec<u8>, usize, bool) {
    let mut d = DotDecoder::new();
    let mut out = Vec::new();
    let mut used = 0;
    for p in pieces {
        if d.is_done() {
            break;
        }
        used += d.decode(p, &mut out);
    }
    (out, used, d.is_done())
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_status(data);
    let _ = line_len(data, 512);
    let _ = Capabilities::parse(data);
    let _ = parse_listing(data, parse_list_line);
    let _ = parse_listing(data, parse_uidl_line);

    let whole = decode(&[data]);
    if let Some((&cut, rest)) = data.split_first() {
        let at = usize::from(cut) % (rest.len() + 1);
        let (a, b) = rest.split_at(at);
        assert_eq!(decode(&[a, b]), decode(&[rest]), "splitting changed the output");
    }
    drop(whole);

    // Only bodies whose lines all end in CRLF round-trip exactly (POP3 adds a final CRLF).
    if data.ends_with(b"\r\n") || data.is_empty() {
        let (out, _, done) = decode(&[&dot_stuff(data)]);
        assert!(done);
        assert_eq!(out, data);
    }
});
