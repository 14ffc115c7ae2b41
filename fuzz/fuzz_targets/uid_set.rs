//! Arbitrary text as a UID set from the server: expansion must never panic, stay under its
//! limit, and what it gives must write and expand back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passeur_imap::{expand_uid_set, uid_set};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Some(v) = expand_uid_set(&s) {
        assert!(v.len() <= 10_000_000);
        let mut sorted = v;
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(expand_uid_set(&uid_set(&sorted)), Some(sorted));
    }
});
