//! Arbitrary server bytes through the response decoder, fed whole and in
//! two pieces: it must never panic, and splitting must not change the result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passeur_imap::proto::Decoder;

fn run(pieces: &[&[u8]]) -> (Vec<String>, bool) {
    let mut d = Decoder::new();
    let mut out = Vec::new();
    for p in pieces {
        d.feed(p);
        loop {
            match d.next_response() {
                Ok(Some(r)) => out.push(format!("{r:?}")),
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    let whole = run(&[data]);
    if let Some((&cut, rest)) = data.split_first() {
        let at = usize::from(cut) % (rest.len() + 1);
        let (a, b) = rest.split_at(at);
        let split = run(&[a, b]);
        let joined = run(&[rest]);
        assert_eq!(split, joined, "splitting the input changed the responses");
    }
    drop(whole);
});
