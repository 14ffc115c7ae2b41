//! Truncated and corrupted copies of corpus files: errors, never panics, and the
//! intact part still converts.

mod common;

use common::pst_path;
use passeur_pst::{PstError, PstFile};

/// (items converted, item errors) or the open error.
fn convert_all(data: Vec<u8>) -> Result<(usize, usize, usize), PstError> {
    let pst = PstFile::from_bytes(data)?;
    let damaged = pst.info().damaged_index_pages;
    let folders = pst.folders()?;
    let (mut ok, mut bad) = (0, 0);
    for f in &folders {
        for it in pst.items(f) {
            match it {
                Ok(_) => ok += 1,
                Err(e) => {
                    assert!(e.to_string().starts_with("cannot "), "{e}");
                    bad += 1;
                }
            }
        }
    }
    Ok((ok, bad, damaged))
}

#[test]
fn truncated_files_give_errors_and_keep_the_intact_part() {
    for (name, total) in [
        ("PstReader__simiden_pst2john_97_outlook_pass12345.pst", 294),
        (
            "PstReader__simiden_pst2john_2003_compressable-encryption_quickbrownfox.pst",
            68,
        ),
        ("tika__testPST.pst", 7),
        ("Aspose.Email-for-.NET__Outlook_SampleOstFile.ost", 92),
    ] {
        let full = std::fs::read(pst_path(name)).expect("read");
        let n = full.len();
        for cut in [
            0,
            3,
            100,
            511,
            600,
            n / 10,
            n / 4,
            n / 2,
            n * 3 / 4,
            n * 9 / 10,
            n - 512,
            n - 1,
        ] {
            match convert_all(full[..cut].to_vec()) {
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.starts_with("cannot "), "{name}@{cut}: {msg}");
                }
                Ok((ok, bad, damaged)) => {
                    assert!(ok <= total, "{name}@{cut}");
                    if ok < total {
                        // Whatever is missing is reported: item errors or damaged index pages.
                        assert!(
                            bad > 0 || damaged > 0,
                            "{name}@{cut}: {ok}/{total} silently"
                        );
                    }
                }
            }
        }
        // The last page of these files holds no item: nothing is lost.
        let (ok, ..) = convert_all(full[..n - 1].to_vec()).unwrap_or_default();
        assert!(
            ok + 2 >= total,
            "{name}: cut by one byte keeps {ok}/{total}"
        );
    }
}

#[test]
fn a_truncated_file_still_imports_what_it_holds() {
    let full = std::fs::read(pst_path(
        "PstReader__simiden_pst2john_97_outlook_pass12345.pst",
    ))
    .expect("read");
    let (ok, bad, _) = convert_all(full[..full.len() * 9 / 10].to_vec()).expect("opens");
    assert!(ok >= 200, "most messages survive a 10% truncation: {ok}");
    assert!(bad > 0, "the lost ones are reported");
    assert_eq!(ok + bad, 294);
}

/// A small deterministic generator (xorshift) for byte flips.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn flipped_bytes_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for name in [
        "PstReader__simiden_pst2john_97_outlook_pass12345.pst",
        "PstReader__hughbe_hughbe_Outlook.pst",
        "ruby-msg__msgInMsg.pst",
        "java-libpst__dist-list.pst",
        "PstReader__simiden_pst2john_2003_high-encryption_quickquick.pst",
    ] {
        let full = std::fs::read(pst_path(name)).expect("read");
        let clean = convert_all(full.clone()).expect("intact file").0;
        let mut survived = 0;
        let trials = 40;
        for _ in 0..trials {
            let mut d = full.clone();
            for _ in 0..8 {
                let at = (rng.next() % d.len() as u64) as usize;
                d[at] ^= (rng.next() % 255 + 1) as u8;
            }
            if let Ok((ok, _, _)) = convert_all(d) {
                survived += ok;
            }
        }
        // Eight flipped bytes hit a few items at most: the rest converts.
        assert!(
            survived * 2 >= clean * trials,
            "{name}: {survived} items over {trials} damaged copies (clean {clean})"
        );
    }
}

#[test]
fn zeroed_regions_never_panic() {
    let full = std::fs::read(pst_path(
        "Aspose.Email-for-.NET__Outlook_Chunks_Test_part1.pst",
    ))
    .expect("read");
    let step = full.len() / 16;
    for i in 0..16 {
        let mut d = full.clone();
        for b in &mut d[i * step..(i * step + 4096).min(full.len())] {
            *b = 0;
        }
        let _ = convert_all(d);
    }
}
