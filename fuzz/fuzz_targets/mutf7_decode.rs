//! Arbitrary text as a modified UTF-7 mailbox name: decode must never panic, and what it
//! accepts must encode back to a name that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passeur_imap::mutf7::{decode, encode};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Some(d) = decode(&s) {
        assert_eq!(decode(&encode(&d)).as_deref(), Some(d.as_str()));
    }
});
