//! Lists the folders and items of a PST; with an output directory, writes each item
//! as .eml / .vcf / .ics.
//!
//! Usage: pst-dump FILE [OUT_DIR] [--quiet]

use std::path::{Path, PathBuf};
use std::time::Instant;

use passeur_pst::{ItemContent, PstFile};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quiet = args.iter().any(|a| a == "--quiet");
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let Some(file) = pos.first() else {
        eprintln!("usage: pst-dump FILE [OUT_DIR] [--quiet]");
        std::process::exit(2);
    };
    let out: Option<PathBuf> = pos.get(1).map(PathBuf::from);
    let started = Instant::now();
    let pst = match PstFile::open(Path::new(file.as_str())) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let info = pst.info();
    println!("{info:?}");
    for d in pst.damage() {
        println!("damaged: {d}");
    }
    let folders = match pst.folders() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let (mut items, mut bytes, mut errors) = (0u64, 0u64, 0u64);
    let mut kinds = std::collections::BTreeMap::<&'static str, u64>::new();
    for f in &folders {
        println!(
            "folder {:#x} {:?} class={:?} role={:?} items={} ipm={}",
            f.node_id, f.path, f.container_class, f.role, f.item_count, f.in_ipm_subtree
        );
        let dir = out.as_ref().map(|o| {
            let d = o.join(f.path.join("/").replace(['\\', ':'], "_"));
            let _ = std::fs::create_dir_all(&d);
            d
        });
        for it in pst.items(f) {
            match it {
                Ok(item) => {
                    items += 1;
                    bytes += item.approx_size;
                    let (kind, ext, data): (&'static str, &str, &[u8]) = match &item.content {
                        ItemContent::Mail { mime, .. } => ("mail", "eml", mime),
                        ItemContent::Contact { vcard, .. } => ("contact", "vcf", vcard.as_bytes()),
                        ItemContent::DistList { vcard, .. } => {
                            ("distlist", "vcf", vcard.as_bytes())
                        }
                        ItemContent::Event { ics, .. } => ("event", "ics", ics.as_bytes()),
                        ItemContent::Task { ics, .. } => ("task", "ics", ics.as_bytes()),
                        ItemContent::Journal { ics, .. } => ("journal", "ics", ics.as_bytes()),
                        ItemContent::Other { reason } => {
                            if !quiet {
                                println!("  other {:#x}: {reason}", item.node_id);
                            }
                            ("other", "txt", reason.as_bytes())
                        }
                        _ => ("unknown", "bin", &[]),
                    };
                    *kinds.entry(kind).or_default() += 1;
                    if !quiet {
                        println!(
                            "  {kind} {:#x} {} {} bytes",
                            item.node_id, item.message_class, item.approx_size
                        );
                    }
                    if let Some(d) = &dir {
                        let _ = std::fs::write(d.join(format!("{:08x}.{ext}", item.node_id)), data);
                    }
                }
                Err(e) => {
                    errors += 1;
                    println!("  error: {e}");
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "folders={} items={items} errors={errors} bytes={bytes} kinds={kinds:?} seconds={secs:.3} items_per_s={:.0}",
        folders.len(),
        items as f64 / secs.max(1e-9)
    );
}
