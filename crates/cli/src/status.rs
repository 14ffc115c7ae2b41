//! `passeur status`: passes, counts, bytes and errors of a migration.

use std::process::ExitCode;

use anyhow::Result;
use passeur_engine::Runner;

use crate::StatusArgs;
use crate::report::mb;

pub(crate) async fn status(runner: &Runner, a: StatusArgs) -> Result<ExitCode> {
    let v = runner.view(a.id).await?;
    let (m, passes, failures, notes) = (&v.row, &v.passes, &v.failures, &v.notes);
    let (items, bytes) = (v.items, v.bytes);
    if a.json {
        let v = serde_json::json!({
            "id": m.id,
            "source": m.source,
            "destination": m.destination,
            "status": m.status,
            "error": m.error,
            "items": items,
            "bytes": bytes,
            "passes": passes.iter().map(|p| serde_json::json!({
                "number": p.number, "status": p.status, "started_at": p.started_at,
                "finished_at": p.finished_at, "copied": p.counters.copied, "bytes": p.counters.bytes,
                "flags_updated": p.counters.flags_updated, "failed": p.counters.failed, "error": p.error,
            })).collect::<Vec<_>>(),
            "failures": failures.iter().map(|f| serde_json::json!({
                "pass": f.pass, "folder": f.folder, "item": f.src_key, "size": f.size, "reason": f.reason,
            })).collect::<Vec<_>>(),
            "notes": notes.iter().map(|n| serde_json::json!({
                "pass": n.pass, "folder": n.folder, "item": n.src_key, "repaired": n.repaired,
                "note": n.note,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("migration   {}", m.id);
    println!("source      {}", m.source);
    println!("destination {}", m.destination);
    println!("status      {}", m.status);
    if let Some(e) = &m.error {
        println!("error       {e}");
    }
    println!("copied      {items} items, {}", mb(bytes));
    println!(
        "{:>4} {:<12} {:>8} {:>10} {:>6} {:>6}",
        "pass", "status", "copied", "bytes", "flags", "failed"
    );
    for p in passes {
        println!(
            "{:>4} {:<12} {:>8} {:>10} {:>6} {:>6}",
            p.number,
            p.status,
            p.counters.copied,
            mb(p.counters.bytes),
            p.counters.flags_updated,
            p.counters.failed
        );
    }
    for f in failures.iter().take(50) {
        println!(
            "failed: pass {} {} {}: {}",
            f.pass, f.folder, f.src_key, f.reason
        );
    }
    // Repairs first: the destination refused these items as they were.
    let repaired: Vec<_> = notes.iter().filter(|n| n.repaired).collect();
    let mut items: Vec<(&str, &str)> = repaired
        .iter()
        .map(|n| (n.folder.as_str(), n.src_key.as_str()))
        .collect();
    items.dedup();
    if !items.is_empty() {
        println!("repaired    {} items (refused as they were)", items.len());
    }
    let others = notes.len() - repaired.len();
    if others > 0 {
        println!("warnings    {others} (lines or components skipped or mended while reading)");
    }
    for n in repaired
        .iter()
        .chain(
            notes
                .iter()
                .filter(|n| !n.repaired)
                .collect::<Vec<_>>()
                .iter(),
        )
        .take(100)
    {
        println!(
            "{}: pass {} {} {}: {}",
            if n.repaired { "repaired" } else { "warning" },
            n.pass,
            n.folder,
            n.src_key,
            n.note
        );
    }
    Ok(ExitCode::SUCCESS)
}
