//! The iCalendar splitter on arbitrary bytes: never panics, every object is a
//! complete VCALENDAR with a UID, and re-splitting an object gives it back whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passeur_formats::ics;

fuzz_target!(|data: &[u8]| {
    let opts = ics::IcsOptions {
        max_pending_objects: 4,
        ..ics::IcsOptions::default()
    };
    for r in ics::split_with(data, opts) {
        let Ok(o) = r else { continue };
        assert!(o.text.starts_with("BEGIN:VCALENDAR\r\n"));
        assert!(o.text.ends_with("END:VCALENDAR\r\n"));
        assert!(!o.uid.is_empty());
        let _ = ics::inspect(&o.text);
        let again: Vec<_> = ics::split(o.text.as_bytes()).collect();
        assert!(!again.is_empty());
    }
});
