//! The progress bar of a pass: bytes copied out of bytes found missing (which grows as folders
//! are scanned), messages, rate and ETA. Failures and retries are printed above the bar.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use passeur_engine::Event;
use tokio::sync::mpsc::UnboundedReceiver;

pub async fn show(mut rx: UnboundedReceiver<Event>, visible: bool) {
    let bar = ProgressBar::with_draw_target(
        Some(0),
        if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut msgs, mut msgs_total) = (0u64, 0u64);
    while let Some(e) = rx.recv().await {
        match e {
            Event::Planned { folders, .. } => {
                bar.set_message(format!("{folders} folder(s) to scan"));
            }
            Event::FolderScanned { to_copy, bytes, .. } => {
                msgs_total += to_copy;
                bar.inc_length(bytes);
            }
            Event::Copied {
                messages, bytes, ..
            } => {
                msgs += messages;
                bar.inc(bytes);
            }
            Event::ItemFailed {
                folder,
                uid,
                reason,
            } => bar.println(format!("failed: {folder} UID {uid}: {reason}")),
            Event::Retrying {
                folder,
                attempt,
                reason,
            } => bar.println(format!("retrying {folder} (attempt {attempt}): {reason}")),
            Event::FolderDone(r) => {
                if let Some(e) = r.error {
                    bar.println(format!("folder {} not finished: {e}", r.folder));
                }
            }
        }
        bar.set_message(format!("{msgs}/{msgs_total} msgs"));
    }
    bar.finish_and_clear();
}
