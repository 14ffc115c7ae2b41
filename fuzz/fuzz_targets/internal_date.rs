//! Arbitrary text as an INTERNALDATE: the parser must never panic, and a date it accepts
//! must be accepted again with surrounding spaces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passeur_imap::parse_internal_date;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let got = parse_internal_date(&s);
    if got.is_some() {
        assert_eq!(parse_internal_date(&format!("  {s} ")), got);
    }
});
