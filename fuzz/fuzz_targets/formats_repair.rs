//! The repair of a refused calendar object on arbitrary text: never panics, and what it gives
//! back is one VCALENDAR that the splitter reads again, with a note for every change.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passeur_formats::{ics, repair};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(r) = repair::repair_ics(text) {
        assert!(!r.changes.is_empty());
        assert!(r.text.starts_with("BEGIN:VCALENDAR\r\n"));
        assert!(r.text.ends_with("END:VCALENDAR\r\n"));
        let _ = ics::split(r.text.as_bytes()).count();
    }
});
