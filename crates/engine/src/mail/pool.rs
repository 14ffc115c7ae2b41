//! The worker pool: connection pairs that take folders and parts of split folders from a queue,
//! retry a folder after a dropped connection, and stop together on a fatal error.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use passeur_imap::Client;

use super::parts::{Split, process_part, put_split_state};
use super::scan::{Scanned, process_folder};
use super::{Ctx, FolderReport, Job, Work};
use crate::{EngineError, Event, Side};

/// The jobs of a pass. A worker that finds it empty waits while a folder scan that may still
/// add parts is under way, and ends otherwise.
pub(super) struct Queue {
    pub(super) state: Mutex<QueueState>,
    pub(super) wake: tokio::sync::Notify,
}

pub(super) struct QueueState {
    pub(super) jobs: VecDeque<Job>,
    /// Folder jobs taken and not ended.
    pub(super) scanning: usize,
}

impl Queue {
    pub(super) async fn next(&self, ctx: &Ctx) -> Option<Job> {
        loop {
            if ctx.stopping() {
                return None;
            }
            let wake = self.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            {
                let mut q = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(job) = q.jobs.pop_front() {
                    if matches!(job, Job::Folder(_)) {
                        q.scanning += 1;
                    }
                    return Some(job);
                }
                if q.scanning == 0 {
                    return None;
                }
            }
            tokio::select! {
                _ = wake => {}
                _ = ctx.cancel.cancelled() => {}
            }
        }
    }

    /// A folder job ended, having added `parts` (last in the queue, in order).
    pub(super) fn scanned(&self, parts: Vec<Job>) {
        {
            let mut q = self.state.lock().unwrap_or_else(|e| e.into_inner());
            q.scanning = q.scanning.saturating_sub(1);
            q.jobs.extend(parts);
        }
        self.wake.notify_waiters();
    }

    /// Puts a job first in the queue (a folder to scan again).
    pub(super) fn push_front(&self, job: Job) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .jobs
            .push_front(job);
        self.wake.notify_waiters();
    }
}

/// A connection pair that takes jobs from the queue until it is empty.
pub(super) async fn worker(
    ctx: Arc<Ctx>,
    queue: Arc<Queue>,
    mut conns: Option<(Client, Client)>,
) -> Vec<FolderReport> {
    let mut reports = Vec::new();
    // Parts of a folder this pair copies alone, one after the other.
    let mut mine: VecDeque<Job> = VecDeque::new();
    loop {
        let job = match mine.pop_front() {
            Some(job) if !ctx.stopping() => job,
            Some(_) => break,
            None => match queue.next(&ctx).await {
                Some(job) => job,
                None => break,
            },
        };
        match job {
            Job::Folder(work) => {
                let (report, parts) = run_folder(&ctx, &mut conns, work).await;
                let alone = parts
                    .first()
                    .is_some_and(|p| matches!(p, Job::Part { split, .. } if !split.parallel));
                if alone {
                    mine.extend(parts);
                    queue.scanned(Vec::new());
                } else {
                    // This pair starts on the folder's first part; the others join in
                    // once no other folder is left, so connections write into different
                    // folders for as long as there are some (appends into one folder
                    // share its lock on the server).
                    let mut parts = parts.into_iter();
                    mine.extend(parts.next());
                    queue.scanned(parts.collect());
                }
                match report {
                    Some(r) => finish_report(&ctx, r, &mut reports).await,
                    // A fatal error: what this folder copied is recorded; the next pass
                    // resumes it.
                    None if ctx.stopping() => {
                        queue.wake.notify_waiters();
                        break;
                    }
                    None => {}
                }
            }
            Job::Part { split, lo, hi } => {
                let result = match conns.as_mut() {
                    Some((s, d)) => process_part(&ctx, s, d, &split, lo, hi).await,
                    None => match connect_pair(&ctx).await {
                        Ok(pair) => {
                            let (s, d) = conns.insert(pair);
                            process_part(&ctx, s, d, &split, lo, hi).await
                        }
                        Err(e) => Err(e),
                    },
                };
                if let Err(e) = &result {
                    tracing::warn!(folder = %split.work.plan.display, lo, hi, error = %e, "a part of a split folder failed");
                    conns = None;
                }
                let Some((mut report, error)) = split.part_ended(result) else {
                    continue;
                };
                let work = &split.work;
                report.folder = work.plan.display.clone();
                report.dst = work.plan.dst.clone();
                report.source_messages = u64::from(split.st.exists);
                match error {
                    None => {
                        let complete = report.failed == 0 && !ctx.cancel.is_cancelled();
                        if let Err(e) = put_split_state(&ctx, &split, complete).await {
                            report.error = Some(e.to_string());
                        }
                        finish_report(&ctx, report, &mut reports).await;
                    }
                    Some(e) if e.is_fatal() => {
                        set_fatal(&ctx, e);
                        queue.wake.notify_waiters();
                        break;
                    }
                    // Parts may have left pending items: the folder is scanned again (which
                    // reconciles them) once none of its parts is running.
                    Some(e) if e.is_retryable() && work.attempt < ctx.opts.limits.retries => {
                        let mut again = work.clone();
                        again.attempt += 1;
                        ctx.events.send(Event::Retrying {
                            folder: again.plan.display.clone(),
                            attempt: again.attempt,
                            reason: e.to_string(),
                        });
                        tracing::warn!(folder = %again.plan.display, attempt = again.attempt, error = %e, "retrying split folder");
                        queue.push_front(Job::Folder(again));
                    }
                    Some(e) => {
                        report.error = Some(e.to_string());
                        finish_report(&ctx, report, &mut reports).await;
                    }
                }
            }
        }
    }
    if let Some((s, d)) = conns {
        let _ = tokio::join!(s.logout(), d.logout());
    }
    reports
}

pub(super) fn set_fatal(ctx: &Ctx, e: EngineError) {
    tracing::warn!(error = %e, "stopping the pass");
    let mut f = ctx.fatal.lock().unwrap_or_else(|e| e.into_inner());
    if f.is_none() {
        *f = Some(e);
    }
}

/// Scans and copies one folder, retrying it after a dropped connection. Returns its report
/// (`None` after a fatal error) or, when it was split, the parts to queue.
pub(super) async fn run_folder(
    ctx: &Arc<Ctx>,
    conns: &mut Option<(Client, Client)>,
    work: Work,
) -> (Option<FolderReport>, Vec<Job>) {
    let mut attempt = work.attempt;
    loop {
        let result = match conns.as_mut() {
            Some((s, d)) => process_folder(ctx, s, d, &work).await,
            None => match connect_pair(ctx).await {
                Ok(pair) => {
                    let (s, d) = conns.insert(pair);
                    process_folder(ctx, s, d, &work).await
                }
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(Scanned::Done(r)) => return (Some(r), Vec::new()),
            Ok(Scanned::Split(split, ranges)) => {
                let split: Arc<Split> = Arc::from(split);
                ctx.splits
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(split.clone());
                let parts = ranges
                    .into_iter()
                    .map(|(lo, hi)| Job::Part {
                        split: split.clone(),
                        lo,
                        hi,
                    })
                    .collect();
                return (None, parts);
            }
            Err(e) if e.is_retryable() && attempt < ctx.opts.limits.retries => {
                attempt += 1;
                *conns = None;
                ctx.events.send(Event::Retrying {
                    folder: work.plan.display.clone(),
                    attempt,
                    reason: e.to_string(),
                });
                tracing::warn!(folder = %work.plan.display, attempt, error = %e, "retrying folder");
                let backoff = Duration::from_millis(250 << attempt.min(6));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = ctx.cancel.cancelled() => {}
                }
            }
            Err(e) if e.is_fatal() => {
                set_fatal(ctx, e);
                return (None, Vec::new());
            }
            Err(e) => {
                *conns = None;
                return (
                    Some(FolderReport {
                        folder: work.plan.display.clone(),
                        dst: work.plan.dst.clone(),
                        source_messages: u64::from(work.messages),
                        error: Some(e.to_string()),
                        ..Default::default()
                    }),
                    Vec::new(),
                );
            }
        }
    }
}

/// Reports a folder done: the event, the pass's counters, the report.
pub(super) async fn finish_report(
    ctx: &Ctx,
    report: FolderReport,
    reports: &mut Vec<FolderReport>,
) {
    ctx.events.send(Event::FolderDone(report.clone()));
    let counters = {
        let mut c = ctx.counters.lock().unwrap_or_else(|e| e.into_inner());
        c.copied += report.copied;
        c.bytes += report.bytes;
        c.flags_updated += report.flags_updated;
        c.failed += report.failed;
        *c
    };
    if let Err(e) = ctx
        .store
        .update_pass(ctx.id, ctx.pass, counters, None)
        .await
    {
        tracing::warn!(error = %e, "cannot record progress");
    }
    reports.push(report);
}

pub(super) async fn connect_pair(ctx: &Ctx) -> Result<(Client, Client), EngineError> {
    let (s, d) = tokio::join!(
        ctx.src.connect(Side::Source),
        ctx.dst.connect(Side::Destination)
    );
    Ok((s?, d?))
}
