//! Opens arbitrary bytes as a PST, lists its folders and converts every item.
//! No input may panic, loop forever or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passeur_pst::PstFile;

fuzz_target!(|data: &[u8]| {
    let Ok(pst) = PstFile::from_bytes(data.to_vec()) else {
        return;
    };
    let _ = pst.info();
    let Ok(folders) = pst.folders() else {
        return;
    };
    for f in &folders {
        for item in pst.items(f).take(1000) {
            let _ = item;
        }
    }
});
