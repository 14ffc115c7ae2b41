//! The progress bar of a pass: bytes copied out of bytes found missing (which grows as folders
//! are scanned), messages, rate and ETA. Failures and retries are printed above the bar. For a
//! purge or a verification, items deleted or folders compared out of those to do.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use passeur_engine::{Event, EventSink, EventStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A token cancelled by the first Ctrl-C (the run stops after `in_flight`, keeping what is
/// copied); a second Ctrl-C quits at once.
pub fn cancel_on_ctrl_c(in_flight: &'static str) -> CancellationToken {
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\nstopping after the {in_flight} in flight (press Ctrl-C again to quit at once)"
            );
            token.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    cancel
}

/// The sink a run reports to, and the task drawing its progress bar (hidden when not visible).
pub fn start(visible: bool) -> (EventSink, JoinHandle<()>) {
    let (sink, events) = passeur_engine::events::channel();
    (sink, tokio::spawn(show(events, visible)))
}

pub async fn show(mut rx: EventStream, visible: bool) {
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
    let mut unit = "msgs";
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
            Event::EntryFailed {
                folder,
                item,
                reason,
            } => bar.println(format!("failed: {folder} {item}: {reason}")),
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
            // A purge or a verification counts items or folders, not bytes.
            Event::Purging { items } => {
                counting(&bar);
                unit = "items";
                bar.inc_length(items);
                msgs_total += items;
            }
            Event::Purged { items, .. } => {
                bar.inc(items);
                msgs += items;
            }
            Event::Verifying { folders } => {
                counting(&bar);
                unit = "folders";
                bar.inc_length(folders as u64);
                msgs_total += folders as u64;
            }
            Event::Verified { folder, ok } => {
                bar.inc(1);
                msgs += 1;
                if !ok {
                    bar.println(format!("{folder}: differs"));
                }
            }
        }
        bar.set_message(format!("{msgs}/{msgs_total} {unit}"));
    }
    bar.finish_and_clear();
}

/// Turns the bar from bytes to a count (of items deleted, of folders compared).
fn counting(bar: &ProgressBar) {
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} [{wide_bar}] ETA {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
}
