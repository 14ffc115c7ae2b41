//! The vCard splitter and the 3.0 converter on arbitrary bytes: never panic; a
//! converted card is a 3.0 card that splits again with the same UID.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passeur_formats::vcf;

fuzz_target!(|data: &[u8]| {
    for r in vcf::split(data) {
        let Ok(o) = r else { continue };
        assert!(!o.uid.is_empty());
        let _ = vcf::inspect(&o.text);
        if let Ok(t) = vcf::to_v3(&o) {
            assert!(t.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\n"));
            if let Some(Ok(again)) = vcf::split(t.as_bytes()).next() {
                assert_eq!(again.version, vcf::VcfVersion::V30);
            }
        }
    }
});
