//! The DAV client's XML parser on arbitrary server answers: must not panic nor overflow the
//! stack (a 150,000-level-deep answer is refused at the depth limit).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    passeur_dav::fuzzing::multistatus(data);
});
