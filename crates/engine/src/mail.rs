//! One exactly-once mail pass.
//!
//! Plan on one connection pair (folder lists, mapping, STATUS to skip unchanged folders, create
//! the missing destination folders), then copy folders in parallel over several connection pairs.
//! In a folder: reconcile what an interrupted run left pending, bring flag changes over, then
//! fetch the missing messages in batches and append them (MULTIAPPEND / pipelined LITERAL+),
//! fetching the next batch while the previous one is appended, under a bytes-in-flight budget.
//!
//! A folder with many messages to copy ([`Limits::split_from`](crate::Limits::split_from)) is
//! copied in parts, UID ranges that each list their own messages and read their own items from
//! the store, so that memory stays flat however big the folder. Where the destination has
//! UIDPLUS, the parts go to every connection pair at once, so one big INBOX does not bound the
//! run; the folder's state is recorded when its last part ends, and a part that fails makes the
//! folder scanned again (which reconciles what the parts left pending) once none is running.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use passeur_imap::{
    AppendMessage, AppendOutcome, Client, MailboxStatus, MessageMeta, StreamError, uid_set,
};
use passeur_store::{Completion, FolderState, Item, PassCounters, Rekey, Store};
use passeur_types::{ContentKind, MigrationId};
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::folders::{self, FolderPlan};
use crate::message::{fingerprint, message_id, normalise_flags};
use crate::verify::layout;
use crate::{EngineError, Event, EventSink, MailAccount, MailOptions, RunContext, Side};

/// What a pass did in one folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FolderReport {
    /// Readable source path.
    pub folder: String,
    /// Destination wire name.
    pub dst: String,
    pub source_messages: u64,
    /// Messages found missing on the destination at the start of the pass.
    pub to_copy: u64,
    pub to_copy_bytes: u64,
    pub copied: u64,
    pub bytes: u64,
    pub flags_updated: u64,
    pub failed: u64,
    /// Skipped outright: nothing changed on the source since the last pass.
    pub unchanged: bool,
    /// Listed incrementally: only the messages new or changed since the last pass (CONDSTORE).
    pub delta: bool,
    /// Parts the folder's copy was split into, copied by several connection pairs at once
    /// (0: not split).
    pub parts: u32,
    /// The folder could not be finished.
    pub error: Option<String>,
}

/// What a pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PassReport {
    pub pass: u32,
    pub folders: Vec<FolderReport>,
    #[serde(skip)]
    pub counters: PassCounters,
    pub cancelled: bool,
    pub dry_run: bool,
    /// What the user should know about the pass that is not an error: destination folders
    /// named differently from the mapping (a collision, a name the server refused).
    pub notes: Vec<String>,
}

impl PassReport {
    /// Everything that should have been copied was.
    pub fn complete(&self) -> bool {
        !self.cancelled
            && self
                .folders
                .iter()
                .all(|f| f.error.is_none() && f.failed == 0)
    }
}

struct Ctx {
    store: Store,
    id: MigrationId,
    pass: u32,
    src: MailAccount,
    dst: MailAccount,
    opts: MailOptions,
    events: EventSink,
    cancel: CancellationToken,
    /// Bytes in flight, in KiB permits.
    budget: Arc<Semaphore>,
    budget_total: u32,
    counters: Mutex<PassCounters>,
    /// A login that can no longer succeed ([`EngineError::is_fatal`]): every worker stops at its
    /// next safe point and the pass fails with it.
    fatal: Mutex<Option<EngineError>>,
    /// Connection pairs copying at once.
    workers: usize,
    /// Folders with at least this many messages to copy are split into parts.
    split_from: usize,
    /// The folders split in this pass, to finish those a stop left with parts not run.
    splits: Mutex<Vec<Arc<Split>>>,
}

impl Ctx {
    /// The pass is stopping: cancelled, or a worker met a fatal error.
    fn stopping(&self) -> bool {
        self.cancel.is_cancelled()
            || self
                .fatal
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some()
    }
}

#[derive(Clone)]
struct Work {
    plan: FolderPlan,
    messages: u32,
    /// What the previous pass recorded for this folder.
    prev: Option<FolderState>,
    /// Attempts made at this folder already in this pass.
    attempt: u32,
}

/// What the workers take from the queue.
enum Job {
    /// Scan a folder (reconcile, flags) and copy what it misses, or split that into parts.
    Folder(Work),
    /// Copy the messages of a split folder with a source UID in `lo..=hi`.
    Part { split: Arc<Split>, lo: u32, hi: u32 },
}

/// A folder whose copy is split into UID ranges that several connection pairs copy at once.
/// Each part lists its own range and reads its own items from the store, so no worker holds
/// the whole folder; the last part to end records the folder's state.
struct Split {
    work: Work,
    /// The source folder as the scan saw it: every part checks its UIDVALIDITY is unchanged.
    st: MailboxStatus,
    dst_uidvalidity: u32,
    purged: HashSet<String>,
    /// Its parts go to every connection pair (a destination with UIDPLUS and more than one
    /// pair); otherwise the pair that scanned it copies them one after the other.
    parallel: bool,
    state: Mutex<SplitState>,
}

struct SplitState {
    /// Parts not ended yet.
    left: usize,
    report: FolderReport,
    /// The first error of a part.
    error: Option<EngineError>,
    finished: bool,
}

impl Split {
    /// Adds what a part did; when it was the last part, returns the folder's report and the
    /// first error of its parts.
    fn part_ended(
        &self,
        part: Result<FolderReport, EngineError>,
    ) -> Option<(FolderReport, Option<EngineError>)> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match part {
            Ok(r) => add_report(&mut st.report, &r),
            Err(e) => {
                if st.error.is_none() {
                    st.error = Some(e);
                }
            }
        }
        st.left = st.left.saturating_sub(1);
        if st.left > 0 || st.finished {
            return None;
        }
        st.finished = true;
        Some((std::mem::take(&mut st.report), st.error.take()))
    }
}

fn add_report(into: &mut FolderReport, r: &FolderReport) {
    into.to_copy += r.to_copy;
    into.to_copy_bytes += r.to_copy_bytes;
    into.copied += r.copied;
    into.bytes += r.bytes;
    into.flags_updated += r.flags_updated;
    into.failed += r.failed;
}

/// The jobs of a pass. A worker that finds it empty waits while a folder scan that may still
/// add parts is under way, and ends otherwise.
struct Queue {
    state: Mutex<QueueState>,
    wake: tokio::sync::Notify,
}

struct QueueState {
    jobs: VecDeque<Job>,
    /// Folder jobs taken and not ended.
    scanning: usize,
}

impl Queue {
    async fn next(&self, ctx: &Ctx) -> Option<Job> {
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
    fn scanned(&self, parts: Vec<Job>) {
        {
            let mut q = self.state.lock().unwrap_or_else(|e| e.into_inner());
            q.scanning = q.scanning.saturating_sub(1);
            q.jobs.extend(parts);
        }
        self.wake.notify_waiters();
    }

    /// Puts a job first in the queue (a folder to scan again).
    fn push_front(&self, job: Job) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .jobs
            .push_front(job);
        self.wake.notify_waiters();
    }
}

/// Runs one mail pass of the migration and pass that `rc` names (the pass already begun in the
/// store).
pub async fn run_mail_pass(
    rc: &RunContext,
    src: &MailAccount,
    dst: &MailAccount,
    opts: &MailOptions,
) -> Result<PassReport, EngineError> {
    let (store, id, pass, events, cancel) =
        (&rc.store, rc.migration, rc.pass, &rc.events, &rc.cancel);
    let mut s = src.connect(Side::Source).await?;
    let mut d = dst.connect(Side::Destination).await?;
    // A Gmail source is copied by message (labels), not by folder: see `gmail.rs`.
    if s.is_gmail() && !opts.rules.no_gmail_labels {
        return crate::gmail::run_gmail_pass_retrying(rc, src, dst, opts, s, d).await;
    }
    let src_layout = layout(&mut s, Side::Source).await?;
    let dst_layout = layout(&mut d, Side::Destination).await?;
    let mut plans = folders::plan(&src_layout, &dst_layout, &opts.rules)?;

    let states: HashMap<String, FolderState> = store
        .folder_states(id)
        .await?
        .into_iter()
        .map(|f| (f.src_name.clone(), f))
        .collect();
    // The names earlier passes used are the truth: a folder renamed once keeps its name.
    let recorded: HashMap<String, String> = states
        .values()
        .filter(|f| !f.dst_name.is_empty())
        .map(|f| (f.src_name.clone(), f.dst_name.clone()))
        .collect();
    let collisions = folders::resolve_collisions(&mut plans, &dst_layout, &recorded);

    let mut report = PassReport {
        pass,
        dry_run: opts.dry_run,
        ..Default::default()
    };
    for r in &collisions {
        report.notes.push(format!(
            "folder {} goes to {:?}: another source folder already maps to {:?}",
            r.folder, r.dst, r.wanted
        ));
    }
    let mut used: HashSet<String> = plans.iter().map(|p| p.dst.clone()).collect();
    let mut work = Vec::new();
    let mut total_messages = 0u64;
    for mut plan in plans {
        let st = s
            .status(&plan.src)
            .await
            .map_err(|e| EngineError::imap(Side::Source, "read folder status", e))?;
        let prev = states.get(&plan.src).cloned();
        let unchanged = !opts.full
            && prev.as_ref().is_some_and(|p| {
                p.complete
                    && p.dst_name == plan.dst
                    && p.src_uidvalidity == Some(st.uidvalidity)
                    && p.src_uidnext.is_some()
                    && p.src_uidnext == st.uidnext
                    && p.src_messages == Some(st.exists)
                    && p.src_highestmodseq == st.highestmodseq
            });
        if unchanged {
            report.folders.push(FolderReport {
                folder: plan.display.clone(),
                dst: plan.dst.clone(),
                source_messages: u64::from(st.exists),
                unchanged: true,
                ..Default::default()
            });
            continue;
        }
        if !opts.dry_run && !plan.dst_exists {
            match create_folder(&mut d, &plan, dst_layout.delimiter, &mut used).await? {
                Created::AsPlanned => {}
                Created::Renamed(name) => {
                    report.notes.push(format!(
                        "folder {} goes to {name:?}: the destination refused the name {:?}",
                        plan.display, plan.dst
                    ));
                    plan.dst = name;
                }
                Created::Refused(e) => {
                    let reason = format!(
                        "cannot create folder {:?} on the destination: {e}",
                        plan.dst
                    );
                    let uids = s
                        .examine(&plan.src)
                        .await
                        .and(s.uid_search("ALL").await)
                        .map_err(|e| EngineError::imap(Side::Source, "list a folder", e))?;
                    let failures: Vec<passeur_store::Failure> = uids
                        .iter()
                        .map(|uid| passeur_store::Failure {
                            pass,
                            kind: ContentKind::Mail,
                            folder: plan.display.clone(),
                            src_key: uid.to_string(),
                            size: None,
                            reason: reason.clone(),
                        })
                        .collect();
                    store.record_failures(id, &failures).await?;
                    report.folders.push(FolderReport {
                        folder: plan.display.clone(),
                        dst: plan.dst.clone(),
                        source_messages: u64::from(st.exists),
                        failed: uids.len() as u64,
                        error: Some(reason),
                        ..Default::default()
                    });
                    continue;
                }
            }
            d.subscribe(&plan.dst)
                .await
                .map_err(|e| EngineError::imap(Side::Destination, "subscribe a folder", e))?;
        }
        total_messages += u64::from(st.exists);
        work.push(Work {
            plan,
            messages: st.exists,
            prev,
            attempt: 0,
        });
    }
    // Counted on the index over the folders to scan only: a pass with nothing to do does not
    // read the whole map.
    let names: Vec<&str> = work.iter().map(|w| w.plan.src.as_str()).collect();
    let known = store.count_in_folders(id, &names).await?;
    events.send(Event::Planned {
        folders: work.len(),
        messages: total_messages,
        known,
    });

    let budget_total = (opts.limits.bytes_in_flight / 1024).clamp(1, u32::MAX as usize) as u32;
    let split_from = opts.limits.split_from.max(1);
    // A folder whose parts run side by side keeps every connection busy even when there are
    // fewer folders than connections.
    let connections = opts.limits.connections.max(1);
    let workers =
        if opts.limits.split_parallel && work.iter().any(|w| w.messages as usize >= split_from) {
            connections
        } else {
            connections.min(work.len().max(1))
        };
    let ctx = Arc::new(Ctx {
        store: store.clone(),
        id,
        pass,
        src: src.clone(),
        dst: dst.clone(),
        opts: opts.clone(),
        events: events.clone(),
        cancel: cancel.clone(),
        budget: Arc::new(Semaphore::new(budget_total as usize)),
        budget_total,
        counters: Mutex::new(PassCounters::default()),
        fatal: Mutex::new(None),
        workers,
        split_from,
        splits: Mutex::new(Vec::new()),
    });

    // Biggest folders first, so the longest one does not start last.
    work.sort_by_key(|w| std::cmp::Reverse(w.messages));
    let order: HashMap<String, usize> = work
        .iter()
        .enumerate()
        .map(|(i, w)| (w.plan.dst.clone(), i))
        .collect();
    let queue = Arc::new(Queue {
        state: Mutex::new(QueueState {
            jobs: work.into_iter().map(Job::Folder).collect(),
            scanning: 0,
        }),
        wake: tokio::sync::Notify::new(),
    });
    // A JoinSet, so that when one task fails (a panic), every other one is stopped and
    // waited for before the pass returns: nothing keeps copying in the background.
    let mut tasks = tokio::task::JoinSet::new();
    let mut first = Some((s, d));
    for _ in 0..workers {
        let ctx = ctx.clone();
        let queue = queue.clone();
        let conns = first.take();
        tasks.spawn(async move { worker(ctx, queue, conns).await });
    }
    let mut done = Vec::new();
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(reports) => done.extend(reports),
            Err(e) if e.is_cancelled() => {}
            Err(e) => {
                if failure.is_none() {
                    tasks.abort_all();
                    failure = Some(if e.is_panic() {
                        let p = e.into_panic();
                        let what = p
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_owned())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "a panic".to_owned());
                        format!("a copy task failed: {what}")
                    } else {
                        format!("a copy task ended abnormally: {e}")
                    });
                }
            }
        }
    }
    if let Some(reason) = failure {
        return Err(EngineError::Internal(reason));
    }
    if let Some(e) = ctx.fatal.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(e);
    }
    // Split folders whose parts did not all run (a stop): what they copied is recorded, and
    // the folder is listed in full next time.
    let splits = std::mem::take(&mut *ctx.splits.lock().unwrap_or_else(|e| e.into_inner()));
    for split in splits {
        let left = {
            let mut st = split.state.lock().unwrap_or_else(|e| e.into_inner());
            if st.finished {
                None
            } else {
                st.finished = true;
                Some(std::mem::take(&mut st.report))
            }
        };
        if let Some(mut r) = left {
            put_split_state(&ctx, &split, false).await?;
            {
                let mut c = ctx.counters.lock().unwrap_or_else(|e| e.into_inner());
                c.copied += r.copied;
                c.bytes += r.bytes;
                c.flags_updated += r.flags_updated;
                c.failed += r.failed;
            }
            r.folder = split.work.plan.display.clone();
            r.dst = split.work.plan.dst.clone();
            r.source_messages = u64::from(split.st.exists);
            done.push(r);
        }
    }
    done.sort_by_key(|r: &FolderReport| order.get(&r.dst).copied().unwrap_or(usize::MAX));
    report.folders.extend(done);
    report.cancelled = cancel.is_cancelled();
    report.counters = *ctx.counters.lock().unwrap_or_else(|e| e.into_inner());
    Ok(report)
}

/// How a destination folder came to be.
pub(crate) enum Created {
    AsPlanned,
    /// The server refused the planned name and took this sanitised one.
    Renamed(String),
    /// The server refused the name and its sanitised form.
    Refused(passeur_imap::Error),
}

/// Creates the planned destination folder (with its special-use role where the server takes
/// one); when the server refuses the name, tries the sanitised name once. Only a refusal (NO,
/// BAD) is handled here: a dropped connection stops the pass as before.
pub(crate) async fn create_folder(
    d: &mut Client,
    plan: &FolderPlan,
    delimiter: Option<char>,
    used: &mut HashSet<String>,
) -> Result<Created, EngineError> {
    let refused = match d.create_with_role(&plan.dst, plan.role).await {
        Ok(()) => return Ok(Created::AsPlanned),
        Err(e @ (passeur_imap::Error::No { .. } | passeur_imap::Error::Bad { .. })) => e,
        Err(e) => return Err(EngineError::imap(Side::Destination, "create a folder", e)),
    };
    let clean = folders::sanitised(&plan.dst, delimiter);
    if clean == plan.dst || used.contains(&clean) {
        return Ok(Created::Refused(refused));
    }
    match d.create_with_role(&clean, plan.role).await {
        Ok(()) => {
            used.insert(clean.clone());
            Ok(Created::Renamed(clean))
        }
        Err(passeur_imap::Error::No { .. } | passeur_imap::Error::Bad { .. }) => {
            Ok(Created::Refused(refused))
        }
        Err(e) => Err(EngineError::imap(Side::Destination, "create a folder", e)),
    }
}

/// A connection pair that takes jobs from the queue until it is empty.
async fn worker(
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

fn set_fatal(ctx: &Ctx, e: EngineError) {
    tracing::warn!(error = %e, "stopping the pass");
    let mut f = ctx.fatal.lock().unwrap_or_else(|e| e.into_inner());
    if f.is_none() {
        *f = Some(e);
    }
}

/// Scans and copies one folder, retrying it after a dropped connection. Returns its report
/// (`None` after a fatal error) or, when it was split, the parts to queue.
async fn run_folder(
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
async fn finish_report(ctx: &Ctx, report: FolderReport, reports: &mut Vec<FolderReport>) {
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

/// Records the state of a split folder once its parts have ended.
async fn put_split_state(ctx: &Ctx, split: &Split, complete: bool) -> Result<(), EngineError> {
    let plan = &split.work.plan;
    ctx.store
        .put_folder_state(
            ctx.id,
            &FolderState {
                src_name: plan.src.clone(),
                dst_name: plan.dst.clone(),
                src_uidvalidity: Some(split.st.uidvalidity),
                src_uidnext: split.st.uidnext,
                src_messages: Some(split.st.exists),
                src_highestmodseq: split.st.highestmodseq,
                dst_uidvalidity: Some(split.dst_uidvalidity),
                complete,
            },
        )
        .await?;
    Ok(())
}

async fn connect_pair(ctx: &Ctx) -> Result<(Client, Client), EngineError> {
    let (s, d) = tokio::join!(
        ctx.src.connect(Side::Source),
        ctx.dst.connect(Side::Destination)
    );
    Ok((s?, d?))
}

fn src_err(action: &'static str) -> impl FnOnce(passeur_imap::Error) -> EngineError {
    move |e| EngineError::imap(Side::Source, action, e)
}

fn dst_err(action: &'static str) -> impl FnOnce(passeur_imap::Error) -> EngineError {
    move |e| EngineError::imap(Side::Destination, action, e)
}

/// Message-IDs of messages on the selected mailbox, by UID (absent: the message has none).
async fn message_ids(
    c: &mut Client,
    metas: &[&MessageMeta],
    side: Side,
) -> Result<HashMap<u32, Vec<u8>>, EngineError> {
    let mut out = HashMap::with_capacity(metas.len());
    for chunk in metas.chunks(500) {
        let uids: Vec<u32> = chunk.iter().map(|m| m.uid).collect();
        let headers = c
            .uid_fetch_header_fields(&uid_set(&uids), &["MESSAGE-ID"])
            .await
            .map_err(|e| EngineError::imap(side, "read message headers", e))?;
        out.extend(
            headers
                .into_iter()
                .filter_map(|(uid, h)| message_id(&h).map(|mid| (uid, mid))),
        );
    }
    Ok(out)
}

/// Fingerprints of messages on the selected mailbox, by UID, from their Message-ID, date and size.
async fn fingerprints(
    c: &mut Client,
    metas: &[MessageMeta],
    side: Side,
) -> Result<HashMap<u32, String>, EngineError> {
    let refs: Vec<&MessageMeta> = metas.iter().collect();
    let mids = message_ids(c, &refs, side).await?;
    Ok(metas
        .iter()
        .map(|m| {
            let fp = fingerprint(
                mids.get(&m.uid).map(Vec::as_slice),
                m.internal_date.as_deref(),
                m.size.unwrap_or(0),
            );
            (m.uid, fp)
        })
        .collect())
}

/// Waits until the destination folder stops growing. A server may still be committing an
/// APPEND that a killed process sent just before it died; reconciling before that lands would
/// copy those messages a second time.
pub(crate) async fn settle(d: &mut Client, folder: &str) -> Result<(), EngineError> {
    let mut last = None;
    for _ in 0..20 {
        let st = d
            .status(folder)
            .await
            .map_err(dst_err("read folder status"))?;
        let now = (st.uidnext, st.exists);
        if last == Some(now) {
            break;
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// Messages of the selected mailbox with a UID above `after`.
async fn metas_after(
    c: &mut Client,
    after: u32,
    side: Side,
) -> Result<Vec<MessageMeta>, EngineError> {
    let mut metas = c
        .uid_fetch_meta(&format!("{}:*", after.saturating_add(1)), None)
        .await
        .map_err(|e| EngineError::imap(side, "list messages", e))?;
    // "n:*" always includes the highest UID, even when it is below n.
    metas.retain(|m| m.uid > after);
    Ok(metas)
}

/// What scanning a folder came to.
enum Scanned {
    /// The folder is done (copied, or failed item by item).
    Done(FolderReport),
    /// Its missing messages are to be copied in parts, over these UID ranges.
    Split(Box<Split>, Vec<(u32, u32)>),
}

async fn process_folder(
    ctx: &Ctx,
    s: &mut Client,
    d: &mut Client,
    work: &Work,
) -> Result<Scanned, EngineError> {
    let plan = &work.plan;
    let mut report = FolderReport {
        folder: plan.display.clone(),
        dst: plan.dst.clone(),
        ..Default::default()
    };
    let st: MailboxStatus = s
        .examine(&plan.src)
        .await
        .map_err(src_err("open a folder"))?;
    report.source_messages = u64::from(st.exists);
    let store = &ctx.store;
    // What the map holds for the folder, counted: its rows are read only where needed (the
    // changed messages of a delta, a small folder, a reconciliation).
    let summary = store
        .mail_folder_summary(ctx.id, &plan.src, st.uidvalidity)
        .await?;
    let recovering = summary.pending > 0 || summary.other_uidvalidity > 0;
    // A folder with many messages to copy is copied in parts (UID ranges), each listing its
    // own range and reading its own items, so that memory does not grow with the folder.
    let can_split = !ctx.opts.dry_run;
    let delta = if st.exists == 0 || recovering {
        None
    } else {
        delta_start(ctx, work, &st)
    };
    // A full listing of a big folder is left to its parts.
    let split_full = can_split
        && delta.is_none()
        && st.exists as usize >= ctx.split_from
        && summary.other_uidvalidity == 0;
    let metas = if st.exists == 0 || split_full {
        Vec::new()
    } else if let Some((uidnext, modseq)) = delta {
        // The last pass copied everything below `uidnext`: list only the messages whose
        // flags changed since (CONDSTORE) and the new ones.
        let mut metas = if uidnext > 1 {
            s.uid_fetch_meta(&format!("1:{}", uidnext - 1), Some(modseq))
                .await
                .map_err(src_err("list changed messages"))?
        } else {
            Vec::new()
        };
        metas.extend(metas_after(s, uidnext - 1, Side::Source).await?);
        report.delta = true;
        metas
    } else {
        s.uid_fetch_meta("1:*", None)
            .await
            .map_err(src_err("list messages"))?
    };
    // The items the pass needs: all of a small folder (or of one to reconcile), those of the
    // listed messages in a delta, none for a split folder (its parts read their own).
    let mut partial = false;
    let mut known = if recovering || (delta.is_none() && !split_full) {
        store
            .items_in_folder(ctx.id, ContentKind::Mail, &plan.src)
            .await?
    } else if delta.is_some() {
        partial = true;
        let keys: Vec<String> = metas
            .iter()
            .map(|m| Item::mail_key(st.uidvalidity, m.uid))
            .collect();
        store.items_by_keys(ctx.id, &plan.src, &keys).await?
    } else {
        partial = true;
        Vec::new()
    };

    // The source folder's UIDVALIDITY changed: recognise copied messages by fingerprint.
    if known
        .iter()
        .any(|i| i.src_uidvalidity != Some(st.uidvalidity))
    {
        rekey_source(ctx, s, &plan.src, &st, &metas, &known).await?;
        known = store
            .items_in_folder(ctx.id, ContentKind::Mail, &plan.src)
            .await?;
    }

    // Messages a purge removed from the destination stay removed.
    let purged = store
        .purged_keys(ctx.id, ContentKind::Mail, &plan.src)
        .await?;
    let missing_before: Vec<&MessageMeta> = {
        let have: HashSet<u32> = known
            .iter()
            .filter(|i| i.src_uidvalidity == Some(st.uidvalidity))
            .filter_map(|i| i.src_uid)
            .collect();
        metas
            .iter()
            .filter(|m| !have.contains(&m.uid))
            .filter(|m| !purged.contains(&Item::mail_key(st.uidvalidity, m.uid)))
            .collect()
    };
    if ctx.opts.dry_run {
        report.to_copy = missing_before.len() as u64;
        report.to_copy_bytes = missing_before.iter().map(|m| m.size.unwrap_or(0)).sum();
        return Ok(Scanned::Done(report));
    }

    let mut dst_st = d
        .select(&plan.dst)
        .await
        .map_err(dst_err("open a folder"))?;

    let dst_changed = summary
        .dst_uidvalidity
        .is_some_and(|(lo, hi)| lo != dst_st.uidvalidity || hi != dst_st.uidvalidity);
    if partial && dst_changed {
        known = store
            .items_in_folder(ctx.id, ContentKind::Mail, &plan.src)
            .await?;
    }
    // The destination folder's UIDVALIDITY changed: find our messages again by fingerprint.
    if known
        .iter()
        .any(|i| !i.pending && i.dst_uidvalidity.is_some_and(|v| v != dst_st.uidvalidity))
    {
        rematch_destination(&ctx.store, ctx.id, d, &dst_st, &known, 0).await?;
        known = store
            .items_in_folder(ctx.id, ContentKind::Mail, &plan.src)
            .await?;
    }
    // An interrupted run left items pending: they may or may not have reached the destination.
    if known.iter().any(|i| i.pending) {
        settle(d, &plan.dst).await?;
        // Open it again: what landed meanwhile must be visible to the reconciliation.
        dst_st = d
            .select(&plan.dst)
            .await
            .map_err(dst_err("open a folder"))?;
        let after = reconcile_from(&known, dst_st.uidvalidity);
        rematch_destination(&ctx.store, ctx.id, d, &dst_st, &known, after).await?;
        known = store
            .items_in_folder(ctx.id, ContentKind::Mail, &plan.src)
            .await?;
    }

    // Parts copied side by side only where the destination gives each appended message's UID
    // (UIDPLUS): a reconciliation after an interruption then knows which destination UIDs
    // are ours whatever order the parts landed in, and the UID map stays whole. Elsewhere
    // the parts go one after the other on this pair, in UID order, as an unsplit folder.
    let parallel = ctx.opts.limits.split_parallel && ctx.workers > 1 && d.capabilities().uidplus();
    if split_full {
        let mut uids = s
            .uid_search("ALL")
            .await
            .map_err(src_err("list messages"))?;
        uids.sort_unstable();
        // Nothing left (all expunged meanwhile): the folder is done below.
        if !uids.is_empty() {
            let ranges = part_ranges(&uids, part_size(ctx, uids.len(), parallel));
            tracing::info!(folder = %plan.display, messages = uids.len(), parts = ranges.len(), "splitting a big folder");
            return Ok(Scanned::Split(
                Box::new(new_split(
                    work,
                    st,
                    dst_st.uidvalidity,
                    purged,
                    ranges.len(),
                    parallel,
                )),
                ranges,
            ));
        }
    }

    let by_uid: HashMap<u32, &Item> = known
        .iter()
        .filter(|i| i.src_uidvalidity == Some(st.uidvalidity))
        .filter_map(|i| i.src_uid.map(|u| (u, i)))
        .collect();
    report.flags_updated += sync_flags(ctx, d, &metas, &by_uid, dst_st.uidvalidity).await?;

    let missing: Vec<&MessageMeta> = metas
        .iter()
        .filter(|m| !by_uid.contains_key(&m.uid))
        .filter(|m| !purged.contains(&Item::mail_key(st.uidvalidity, m.uid)))
        .collect();
    if can_split && missing.len() >= ctx.split_from {
        let mut uids: Vec<u32> = missing.iter().map(|m| m.uid).collect();
        uids.sort_unstable();
        let ranges = part_ranges(&uids, part_size(ctx, uids.len(), parallel));
        tracing::info!(folder = %plan.display, messages = uids.len(), parts = ranges.len(), "splitting a big folder");
        report.parts = ranges.len() as u32;
        let mut split = Box::new(new_split(
            work,
            st,
            dst_st.uidvalidity,
            purged,
            ranges.len(),
            parallel,
        ));
        split
            .state
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .report = report;
        return Ok(Scanned::Split(split, ranges));
    }
    report.to_copy = missing.len() as u64;
    report.to_copy_bytes = missing.iter().map(|m| m.size.unwrap_or(0)).sum();
    ctx.events.send(Event::FolderScanned {
        folder: plan.display.clone(),
        to_copy: report.to_copy,
        bytes: report.to_copy_bytes,
    });
    if !missing.is_empty() {
        copy_missing(ctx, s, d, plan, &st, &missing, &mut report).await?;
    }

    let complete = report.failed == 0 && !ctx.cancel.is_cancelled();
    store
        .put_folder_state(
            ctx.id,
            &FolderState {
                src_name: plan.src.clone(),
                dst_name: plan.dst.clone(),
                src_uidvalidity: Some(st.uidvalidity),
                src_uidnext: st.uidnext,
                src_messages: Some(st.exists),
                src_highestmodseq: st.highestmodseq,
                dst_uidvalidity: Some(dst_st.uidvalidity),
                complete,
            },
        )
        .await?;
    Ok(Scanned::Done(report))
}

fn new_split(
    work: &Work,
    st: MailboxStatus,
    dst_uidvalidity: u32,
    purged: HashSet<String>,
    parts: usize,
    parallel: bool,
) -> Split {
    Split {
        work: work.clone(),
        st,
        dst_uidvalidity,
        purged,
        parallel,
        state: Mutex::new(SplitState {
            left: parts,
            report: FolderReport {
                parts: parts as u32,
                ..Default::default()
            },
            error: None,
            finished: false,
        }),
    }
}

/// Messages per part of a split folder: about four parts per connection pair, so that the
/// pairs finish together, between half the split threshold and 5,000.
fn part_size(ctx: &Ctx, messages: usize, parallel: bool) -> usize {
    let pairs = if parallel { ctx.workers.max(1) } else { 1 };
    let even = messages.div_ceil(4 * pairs);
    even.max(ctx.split_from / 2).clamp(1, 5000)
}

/// Consecutive UID ranges of `size` messages each over sorted `uids`.
fn part_ranges(uids: &[u32], size: usize) -> Vec<(u32, u32)> {
    uids.chunks(size.max(1))
        .map(|c| (c[0], c[c.len() - 1]))
        .collect()
}

/// Where the reconciliation of pending items may start on the destination: the highest UID
/// below which every UID belongs to a confirmed item of the folder. The destination UIDs of
/// pending items are unknown, and with a split folder parts append side by side, so an item
/// confirmed by one part can sit above one still pending in another: starting after the
/// highest confirmed UID (enough for one connection) could miss a pending item that landed
/// and copy it twice.
fn reconcile_from(known: &[Item], dst_uidvalidity: u32) -> u32 {
    let mut taken: Vec<u32> = known
        .iter()
        .filter(|i| !i.pending && i.dst_uidvalidity == Some(dst_uidvalidity))
        .filter_map(|i| i.dst_uid)
        .collect();
    taken.sort_unstable();
    taken.dedup();
    let mut after = 0;
    for uid in taken {
        if uid != after + 1 {
            break;
        }
        after = uid;
    }
    after
}

/// Brings flag changes over for messages already copied, grouped by the new flag set (one
/// STORE per set). The destination folder must be selected. Returns how many changed.
async fn sync_flags(
    ctx: &Ctx,
    d: &mut Client,
    metas: &[MessageMeta],
    by_uid: &HashMap<u32, &Item>,
    dst_uidvalidity: u32,
) -> Result<u64, EngineError> {
    #[derive(Default)]
    struct FlagGroup<'a> {
        flags: Vec<String>,
        dst_uids: Vec<u32>,
        items: Vec<&'a Item>,
    }
    let mut groups: HashMap<String, FlagGroup> = HashMap::new();
    for m in metas {
        let Some(item) = by_uid.get(&m.uid) else {
            continue;
        };
        let flags = normalise_flags(&m.flags);
        let joined = flags.join(" ");
        if joined != item.flags
            && item.dst_uidvalidity == Some(dst_uidvalidity)
            && let Some(dst_uid) = item.dst_uid
        {
            let g = groups.entry(joined).or_default();
            g.flags = flags;
            g.dst_uids.push(dst_uid);
            g.items.push(item);
        }
    }
    let mut updated = 0;
    for (joined, mut g) in groups {
        g.dst_uids.sort_unstable();
        d.uid_store(&uid_set(&g.dst_uids), "FLAGS.SILENT", &g.flags)
            .await
            .map_err(dst_err("update flags"))?;
        let updates: Vec<_> = g.items.iter().map(|i| (i.key(), joined.clone())).collect();
        ctx.store.set_flags(ctx.id, &updates).await?;
        updated += g.dst_uids.len() as u64;
    }
    Ok(updated)
}

/// Copies one part of a split folder: the messages with a source UID in `lo..=hi` that the
/// map does not hold, after bringing flag changes of the copied ones over.
async fn process_part(
    ctx: &Ctx,
    s: &mut Client,
    d: &mut Client,
    split: &Split,
    lo: u32,
    hi: u32,
) -> Result<FolderReport, EngineError> {
    let plan = &split.work.plan;
    let st = &split.st;
    let mut report = FolderReport::default();
    if ctx.cancel.is_cancelled() {
        return Ok(report);
    }
    examine_unchanged(s, plan, st).await?;
    let mut metas = s
        .uid_fetch_meta(&format!("{lo}:{hi}"), None)
        .await
        .map_err(src_err("list messages"))?;
    metas.retain(|m| m.uid >= lo && m.uid <= hi);
    let known = ctx
        .store
        .items_in_uid_range(ctx.id, &plan.src, st.uidvalidity, lo, hi)
        .await?;
    let by_uid: HashMap<u32, &Item> = known
        .iter()
        .filter_map(|i| i.src_uid.map(|u| (u, i)))
        .collect();
    let changed = metas.iter().any(|m| {
        by_uid
            .get(&m.uid)
            .is_some_and(|i| normalise_flags(&m.flags).join(" ") != i.flags)
    });
    if changed {
        let dst_st = d
            .select(&plan.dst)
            .await
            .map_err(dst_err("open a folder"))?;
        if dst_st.uidvalidity == split.dst_uidvalidity {
            report.flags_updated += sync_flags(ctx, d, &metas, &by_uid, dst_st.uidvalidity).await?;
        }
    }
    let missing: Vec<&MessageMeta> = metas
        .iter()
        .filter(|m| !by_uid.contains_key(&m.uid))
        .filter(|m| {
            !split
                .purged
                .contains(&Item::mail_key(st.uidvalidity, m.uid))
        })
        .collect();
    report.to_copy = missing.len() as u64;
    report.to_copy_bytes = missing.iter().map(|m| m.size.unwrap_or(0)).sum();
    ctx.events.send(Event::FolderScanned {
        folder: plan.display.clone(),
        to_copy: report.to_copy,
        bytes: report.to_copy_bytes,
    });
    if !missing.is_empty() {
        copy_missing(ctx, s, d, plan, st, &missing, &mut report).await?;
    }
    Ok(report)
}

/// Where an incremental listing of the source folder can start: the UIDNEXT and HIGHESTMODSEQ
/// the previous pass saw, when that pass completed the folder and nothing since (UIDVALIDITY,
/// destination, `--full`) asks for a full listing.
/// The caller has checked that no item of the folder is pending or under another UIDVALIDITY.
fn delta_start(ctx: &Ctx, work: &Work, st: &MailboxStatus) -> Option<(u32, u64)> {
    let prev = work.prev.as_ref()?;
    let usable = !ctx.opts.full
        && prev.complete
        && prev.dst_name == work.plan.dst
        && prev.src_uidvalidity == Some(st.uidvalidity)
        && st.highestmodseq.is_some();
    if !usable {
        return None;
    }
    Some((prev.src_uidnext?.max(1), prev.src_highestmodseq?))
}

async fn rekey_source(
    ctx: &Ctx,
    s: &mut Client,
    folder: &str,
    st: &MailboxStatus,
    metas: &[MessageMeta],
    known: &[Item],
) -> Result<(), EngineError> {
    let current: HashSet<u32> = known
        .iter()
        .filter(|i| i.src_uidvalidity == Some(st.uidvalidity))
        .filter_map(|i| i.src_uid)
        .collect();
    let candidates: Vec<MessageMeta> = metas
        .iter()
        .filter(|m| !current.contains(&m.uid))
        .cloned()
        .collect();
    let fps = fingerprints(s, &candidates, Side::Source).await?;
    let mut by_fp: HashMap<&str, Vec<u32>> = HashMap::new();
    for m in &candidates {
        if let Some(fp) = fps.get(&m.uid) {
            by_fp.entry(fp.as_str()).or_default().push(m.uid);
        }
    }
    let mut rekeys = Vec::new();
    for item in known
        .iter()
        .filter(|i| i.src_uidvalidity != Some(st.uidvalidity))
    {
        if let Some(uid) = by_fp
            .get_mut(item.fingerprint.as_str())
            .and_then(|v| v.pop())
        {
            rekeys.push(Rekey {
                key: item.key(),
                new_uidvalidity: st.uidvalidity,
                new_uid: uid,
            });
        }
    }
    tracing::info!(
        folder,
        recognised = rekeys.len(),
        "source UIDVALIDITY changed; copied messages recognised by fingerprint"
    );
    ctx.store.rekey_items(ctx.id, &rekeys).await?;
    Ok(())
}

/// Matches items of the map against the destination's messages above UID `after`: pending items
/// found there are confirmed, pending ones not found are dropped (they will be copied again);
/// when `after` is 0 every item is matched again (after a destination UIDVALIDITY change).
pub(crate) async fn rematch_destination(
    store: &Store,
    id: MigrationId,
    d: &mut Client,
    dst_st: &MailboxStatus,
    known: &[Item],
    after: u32,
) -> Result<(), EngineError> {
    let metas = if dst_st.exists > 0 {
        metas_after(d, after, Side::Destination).await?
    } else {
        Vec::new()
    };
    let fps = fingerprints(d, &metas, Side::Destination).await?;
    let mut by_fp: HashMap<&str, Vec<u32>> = HashMap::new();
    for m in &metas {
        if let Some(fp) = fps.get(&m.uid) {
            by_fp.entry(fp.as_str()).or_default().push(m.uid);
        }
    }
    // Already-confirmed destination UIDs are not available to a pending item.
    let taken: HashSet<u32> = known
        .iter()
        .filter(|i| !i.pending && i.dst_uidvalidity == Some(dst_st.uidvalidity))
        .filter_map(|i| i.dst_uid)
        .collect();
    let full = after == 0;
    let mut found = Vec::new();
    let mut lost = Vec::new();
    for item in known.iter().filter(|i| i.pending || full) {
        if !item.pending && item.dst_uidvalidity == Some(dst_st.uidvalidity) {
            continue;
        }
        let uid = by_fp.get_mut(item.fingerprint.as_str()).and_then(|v| {
            let pos = v.iter().position(|u| !taken.contains(u))?;
            Some(v.remove(pos))
        });
        match uid {
            Some(uid) => found.push((item, uid)),
            None => lost.push(item.key()),
        }
    }
    let completions: Vec<Completion> = found
        .iter()
        .map(|(i, uid)| Completion {
            kind: ContentKind::Mail,
            src_folder: &i.src_folder,
            src_key: &i.src_key,
            dst_uidvalidity: Some(dst_st.uidvalidity),
            dst_uid: Some(*uid),
            dst_key: None,
        })
        .collect();
    tracing::info!(
        recovered = completions.len(),
        not_found = lost.len(),
        "reconciled items with the destination"
    );
    store.complete(id, &completions).await?;
    store.delete_items(id, &lost).await?;
    Ok(())
}

type Batch = (Vec<(MessageMeta, Bytes)>, tokio::sync::OwnedSemaphorePermit);

pub(crate) fn batches<'a>(
    missing: &[&'a MessageMeta],
    max_msgs: usize,
    max_bytes: usize,
) -> Vec<Vec<&'a MessageMeta>> {
    let mut out = Vec::new();
    let mut cur: Vec<&MessageMeta> = Vec::new();
    let mut bytes = 0usize;
    for m in missing {
        let size = m.size.unwrap_or(0) as usize;
        if !cur.is_empty() && (cur.len() >= max_msgs.max(1) || bytes + size > max_bytes) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += size;
        cur.push(m);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// What [`append_recorded`] did with a batch.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AppendTally {
    pub copied: u64,
    pub bytes: u64,
    pub failed: u64,
}

/// Appends one batch the exactly-once way: the items are recorded as pending first, then the
/// messages are appended, then the ones the destination took are confirmed with their new UID
/// and the refused ones are dropped from the map and recorded as failures. `items` and `msgs`
/// go in the same order.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn append_recorded(
    store: &Store,
    id: MigrationId,
    pass: u32,
    events: &EventSink,
    d: &mut Client,
    dst_folder: &str,
    display: &str,
    items: &[Item],
    msgs: Vec<AppendMessage>,
) -> Result<AppendTally, EngineError> {
    store.insert_pending(id, items).await?;
    let outcome = d
        .append_batch(dst_folder, &msgs)
        .await
        .map_err(dst_err("append messages"))?;
    drop(msgs);
    record_appended(store, id, pass, events, display, items, outcome).await
}

/// Records what the destination did with pending `items`: confirms those it took with their
/// new UID; drops from the map and records as failures those it refused.
async fn record_appended(
    store: &Store,
    id: MigrationId,
    pass: u32,
    events: &EventSink,
    display: &str,
    items: &[Item],
    outcome: AppendOutcome,
) -> Result<AppendTally, EngineError> {
    let mut completions = Vec::new();
    let mut failures = Vec::new();
    let mut dropped = Vec::new();
    let mut tally = AppendTally::default();
    for (item, result) in items.iter().zip(&outcome.results) {
        match result {
            Ok(uid) => {
                completions.push(Completion {
                    kind: item.kind,
                    src_folder: &item.src_folder,
                    src_key: &item.src_key,
                    dst_uidvalidity: outcome.uidvalidity,
                    dst_uid: *uid,
                    dst_key: None,
                });
                tally.bytes += item.size;
            }
            Err(e) => {
                let reason = match &e.code {
                    Some(code) => format!("destination refused it [{code}]: {}", e.text),
                    None => format!("destination refused it: {}", e.text),
                };
                events.send(Event::ItemFailed {
                    folder: display.to_owned(),
                    uid: item
                        .src_uid
                        .unwrap_or_else(|| item.src_key.parse().unwrap_or(0)),
                    reason: reason.clone(),
                });
                failures.push(passeur_store::Failure {
                    pass,
                    kind: item.kind,
                    folder: display.to_owned(),
                    src_key: item.src_key.clone(),
                    size: Some(item.size),
                    reason,
                });
                dropped.push(item.key());
            }
        }
    }
    store.complete(id, &completions).await?;
    store.delete_items(id, &dropped).await?;
    store.record_failures(id, &failures).await?;
    tally.copied = completions.len() as u64;
    tally.failed = failures.len() as u64;
    events.send(Event::Copied {
        folder: display.to_owned(),
        messages: tally.copied,
        bytes: tally.bytes,
    });
    Ok(tally)
}

async fn copy_missing(
    ctx: &Ctx,
    s: &mut Client,
    d: &mut Client,
    plan: &FolderPlan,
    st: &MailboxStatus,
    missing: &[&MessageMeta],
    report: &mut FolderReport,
) -> Result<(), EngineError> {
    let limits = ctx.opts.limits;
    // A message whose metadata cannot be read (an INTERNALDATE that is not a date) cannot be
    // appended as it is: it fails alone, and the rest of its batch goes on.
    let (unreadable, missing): (Vec<&MessageMeta>, Vec<&MessageMeta>) = missing
        .iter()
        .partition(|m| unreadable_metadata(m).is_some());
    if !unreadable.is_empty() {
        report.failed += record_unreadable(ctx, plan, st, &unreadable).await?;
    }
    // Large messages are streamed one by one after the batches; the rest goes through the
    // fetch/append pipeline, held in memory under the budget.
    let (large, small): (Vec<&MessageMeta>, Vec<&MessageMeta>) = missing
        .iter()
        .partition(|m| m.size.unwrap_or(0) >= limits.stream_from as u64);
    let batches = batches(&small, limits.batch_messages, limits.batch_bytes);
    let (tx, mut rx) = mpsc::channel::<Batch>(1);
    let dd = &mut *d;
    // The sizes are what the source declares. A body found larger than the streaming
    // threshold stops the batch fetch (the client does not hold a response that large), and
    // the messages of the batch not received yet are streamed after the batches.
    let response_cap = limits.stream_from.max(64 * 1024);
    let budget_total = ctx.budget_total;
    let acquire = |kib: u32| {
        let budget = ctx.budget.clone();
        async move {
            budget
                .acquire_many_owned(kib.clamp(1, budget_total))
                .await
                .map_err(|_| EngineError::Internal("the memory budget was closed".into()))
        }
    };

    let fetch = async {
        let mut late: Vec<&MessageMeta> = Vec::new();
        s.set_max_response_literals(response_cap);
        for batch in batches {
            if ctx.cancel.is_cancelled() {
                break;
            }
            let kib: u64 = batch
                .iter()
                .map(|m| m.size.unwrap_or(0).div_ceil(1024))
                .sum();
            let mut permit = acquire(kib.min(u64::from(u32::MAX)) as u32).await?;
            let uids: Vec<u32> = batch.iter().map(|m| m.uid).collect();
            s.start_fetch_bodies(&uids)
                .await
                .map_err(src_err("fetch messages"))?;
            let wanted: HashMap<u32, &MessageMeta> = batch.iter().map(|m| (m.uid, *m)).collect();
            let mut received: HashSet<u32> = HashSet::with_capacity(uids.len());
            let mut held: Vec<(MessageMeta, Bytes)> = Vec::with_capacity(uids.len());
            // KiB actually received in `held`: the budget is charged with these, not with the
            // declared sizes.
            let mut charged: u64 = 0;
            loop {
                let body = match s.next_body().await {
                    Ok(Some(b)) => b,
                    Ok(None) => break,
                    Err(passeur_imap::Error::ResponseTooLarge { size, .. }) => {
                        tracing::warn!(
                            folder = %plan.display,
                            size,
                            "a message is larger than the source declared; streaming it"
                        );
                        late.extend(batch.iter().filter(|m| !received.contains(&m.uid)).copied());
                        reopen_source(ctx, s, plan, st).await?;
                        s.set_max_response_literals(response_cap);
                        break;
                    }
                    Err(e) => return Err(src_err("fetch messages")(e)),
                };
                // A message expunged on the source meanwhile is simply not there any more;
                // one sent twice or not asked for is ignored.
                let Some(m) = wanted.get(&body.uid) else {
                    continue;
                };
                if !received.insert(body.uid) {
                    continue;
                }
                let kib = (body.body.len() as u64).div_ceil(1024).max(1);
                charged += kib;
                let have = permit.num_permits() as u64;
                if charged > have {
                    let extra = (charged - have)
                        .min(u64::from(budget_total) - have.min(u64::from(budget_total)));
                    let more = if extra == 0 {
                        None
                    } else {
                        ctx.budget.clone().try_acquire_many_owned(extra as u32).ok()
                    };
                    match more {
                        Some(more) => permit.merge(more),
                        None if extra == 0 && held.is_empty() => {}
                        None => {
                            // Never wait for budget while holding some: hand over what is
                            // held, then wait for this body's share with nothing else held.
                            if held.is_empty() {
                                drop(permit);
                            } else if tx.send((std::mem::take(&mut held), permit)).await.is_err() {
                                return Ok(late);
                            }
                            permit = acquire(kib.min(u64::from(budget_total)) as u32).await?;
                            charged = kib;
                        }
                    }
                }
                held.push(((*m).clone(), body.body));
            }
            if tx.send((held, permit)).await.is_err() {
                break;
            }
        }
        drop(tx);
        Ok::<Vec<&MessageMeta>, EngineError>(late)
    };

    // `move`: when the append side fails, its receiver must be dropped at once, so that the
    // fetch side (waiting to send, or for budget held by a queued batch) wakes up and stops.
    let append = async move {
        let mut copied = 0u64;
        let mut bytes = 0u64;
        let mut failed = 0u64;
        while let Some((msgs, permit)) = rx.recv().await {
            if msgs.is_empty() {
                continue;
            }
            let items: Vec<Item> = msgs
                .iter()
                .map(|(m, body)| {
                    let mid = message_id(body);
                    pending_item(ctx, plan, st, m, mid.as_deref(), body.len() as u64)
                })
                .collect();
            let to_append: Vec<AppendMessage> = msgs
                .iter()
                .map(|(m, body)| AppendMessage {
                    flags: normalise_flags(&m.flags),
                    internal_date: m.internal_date.clone(),
                    body: body.clone(),
                })
                .collect();
            let tally = append_recorded(
                &ctx.store,
                ctx.id,
                ctx.pass,
                &ctx.events,
                dd,
                &plan.dst,
                &plan.display,
                &items,
                to_append,
            )
            .await?;
            copied += tally.copied;
            bytes += tally.bytes;
            failed += tally.failed;
            drop(msgs);
            drop(permit);
        }
        Ok::<(u64, u64, u64), EngineError>((copied, bytes, failed))
    };

    let (fetched, appended) = tokio::join!(fetch, append);
    let (copied, bytes, failed) = appended?;
    report.copied += copied;
    report.bytes += bytes;
    report.failed += failed;
    let mut large = large;
    large.extend(fetched?);
    if !large.is_empty() && !ctx.cancel.is_cancelled() {
        stream_large(ctx, s, d, plan, st, &large, report).await?;
    }
    Ok(())
}

/// Why a message's metadata cannot be used to append it, if it cannot.
fn unreadable_metadata(m: &MessageMeta) -> Option<String> {
    let date = m.internal_date.as_deref()?;
    if crate::message::parse_internal_date(date).is_some() {
        return None;
    }
    let shown: String = date.chars().take(64).collect();
    Some(format!(
        "cannot copy it: the source gave an internal date that is not a date: {shown:?}"
    ))
}

/// Records messages whose metadata cannot be read as failures of this pass; returns how many.
async fn record_unreadable(
    ctx: &Ctx,
    plan: &FolderPlan,
    st: &MailboxStatus,
    ms: &[&MessageMeta],
) -> Result<u64, EngineError> {
    let mut failures = Vec::with_capacity(ms.len());
    for m in ms {
        let reason = unreadable_metadata(m).unwrap_or_default();
        ctx.events.send(Event::ItemFailed {
            folder: plan.display.clone(),
            uid: m.uid,
            reason: reason.clone(),
        });
        failures.push(passeur_store::Failure {
            pass: ctx.pass,
            kind: ContentKind::Mail,
            folder: plan.display.clone(),
            src_key: Item::mail_key(st.uidvalidity, m.uid),
            size: m.size,
            reason,
        });
    }
    ctx.store.record_failures(ctx.id, &failures).await?;
    Ok(failures.len() as u64)
}

/// Replaces a source connection lost in the middle of a response with a new one on the same
/// folder. A changed UIDVALIDITY makes the folder start over (a retryable error).
async fn reopen_source(
    ctx: &Ctx,
    s: &mut Client,
    plan: &FolderPlan,
    st: &MailboxStatus,
) -> Result<(), EngineError> {
    let mut fresh = ctx.src.connect(Side::Source).await?;
    examine_unchanged(&mut fresh, plan, st).await?;
    *s = fresh;
    Ok(())
}

/// Opens the source folder read-only on `s`, checking that its UIDVALIDITY is still the one
/// the scan saw (a change makes the folder start over: a retryable error).
async fn examine_unchanged(
    s: &mut Client,
    plan: &FolderPlan,
    st: &MailboxStatus,
) -> Result<(), EngineError> {
    let now = s
        .examine(&plan.src)
        .await
        .map_err(src_err("open a folder"))?;
    if now.uidvalidity != st.uidvalidity {
        return Err(EngineError::imap(
            Side::Source,
            "go on copying a folder",
            passeur_imap::Error::Closed {
                reason: Some("the folder's UIDVALIDITY changed".into()),
            },
        ));
    }
    Ok(())
}

/// The map entry of a message about to be appended (pending until the destination confirms).
fn pending_item(
    ctx: &Ctx,
    plan: &FolderPlan,
    st: &MailboxStatus,
    m: &MessageMeta,
    mid: Option<&[u8]>,
    size: u64,
) -> Item {
    Item {
        kind: ContentKind::Mail,
        src_folder: plan.src.clone(),
        src_key: Item::mail_key(st.uidvalidity, m.uid),
        src_uidvalidity: Some(st.uidvalidity),
        src_uid: Some(m.uid),
        fingerprint: fingerprint(mid, m.internal_date.as_deref(), size),
        dst_folder: plan.dst.clone(),
        dst_uidvalidity: None,
        dst_uid: None,
        dst_key: None,
        pass: ctx.pass,
        size,
        flags: normalise_flags(&m.flags).join(" "),
        etag: None,
        pending: true,
    }
}

/// Copies large messages one at a time, each streamed from the source's FETCH into the
/// destination's APPEND as its bytes arrive, so that memory does not grow with their size.
async fn stream_large(
    ctx: &Ctx,
    s: &mut Client,
    d: &mut Client,
    plan: &FolderPlan,
    st: &MailboxStatus,
    large: &[&MessageMeta],
    report: &mut FolderReport,
) -> Result<(), EngineError> {
    // The Message-IDs come from the same header fetch a later reconcile uses on the
    // destination, so a pending entry is recognised there.
    let mids = message_ids(s, large, Side::Source).await?;
    for m in large {
        if ctx.cancel.is_cancelled() {
            break;
        }
        // Expunged on the source meanwhile: nothing to copy.
        let Some(size) = s
            .open_body(m.uid)
            .await
            .map_err(src_err("fetch a message"))?
        else {
            continue;
        };
        let item = pending_item(ctx, plan, st, m, mids.get(&m.uid).map(Vec::as_slice), size);
        let msg = AppendMessage {
            flags: normalise_flags(&m.flags),
            internal_date: m.internal_date.clone(),
            body: Bytes::new(),
        };
        if let Err(e) = ctx
            .store
            .insert_pending(ctx.id, std::slice::from_ref(&item))
            .await
        {
            // The message must not be appended unrecorded; leave the connection clean.
            let _ = s.finish_body().await;
            return Err(e.into());
        }
        let outcome = d
            .append_from(&plan.dst, &msg, size, s)
            .await
            .map_err(|e| match e {
                StreamError::Source(e) => EngineError::imap(Side::Source, "fetch a message", e),
                StreamError::Destination(e) => {
                    EngineError::imap(Side::Destination, "append a message", e)
                }
            })?;
        let tally = record_appended(
            &ctx.store,
            ctx.id,
            ctx.pass,
            &ctx.events,
            &plan.display,
            std::slice::from_ref(&item),
            outcome,
        )
        .await?;
        report.copied += tally.copied;
        report.bytes += tally.bytes;
        report.failed += tally.failed;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(uid: u32, size: u64) -> MessageMeta {
        MessageMeta {
            uid,
            flags: vec![],
            internal_date: None,
            size: Some(size),
            modseq: None,
        }
    }

    fn confirmed(dst_uid: u32, pending: bool) -> Item {
        Item {
            kind: ContentKind::Mail,
            src_folder: "INBOX".into(),
            src_key: format!("1/{dst_uid}"),
            src_uidvalidity: Some(1),
            src_uid: Some(dst_uid),
            fingerprint: String::new(),
            dst_folder: "INBOX".into(),
            dst_uidvalidity: (!pending).then_some(5),
            dst_uid: (!pending).then_some(dst_uid),
            dst_key: None,
            pass: 1,
            size: 1,
            flags: String::new(),
            etag: None,
            pending,
        }
    }

    #[test]
    fn reconciliation_starts_below_the_first_uid_not_confirmed() {
        // Parts confirmed 1-3 and 6-7; what one part left pending may sit at 4-5.
        let known: Vec<Item> = [1, 2, 3, 6, 7]
            .into_iter()
            .map(|u| confirmed(u, false))
            .chain([confirmed(100, true)])
            .collect();
        assert_eq!(reconcile_from(&known, 5), 3);
        // Under another destination UIDVALIDITY nothing counts as ours.
        assert_eq!(reconcile_from(&known, 6), 0);
        // Not starting at 1 (messages of the user's own): from the start.
        let known: Vec<Item> = [3, 4].into_iter().map(|u| confirmed(u, false)).collect();
        assert_eq!(reconcile_from(&known, 5), 0);
        assert_eq!(reconcile_from(&[], 5), 0);
    }

    #[test]
    fn parts_are_consecutive_uid_ranges() {
        let uids = [2, 3, 5, 8, 13, 21, 34];
        assert_eq!(part_ranges(&uids, 3), vec![(2, 5), (8, 21), (34, 34)]);
        assert_eq!(part_ranges(&uids, 10), vec![(2, 34)]);
        assert!(part_ranges(&[], 3).is_empty());
    }

    #[test]
    fn batches_respect_count_and_bytes_and_big_messages_go_alone() {
        let ms: Vec<MessageMeta> = vec![
            meta(1, 10),
            meta(2, 10),
            meta(3, 10),
            meta(4, 1000),
            meta(5, 10),
        ];
        let refs: Vec<&MessageMeta> = ms.iter().collect();
        let b = batches(&refs, 2, 100);
        let uids: Vec<Vec<u32>> = b
            .iter()
            .map(|b| b.iter().map(|m| m.uid).collect())
            .collect();
        assert_eq!(uids, vec![vec![1, 2], vec![3], vec![4], vec![5]]);
    }
}
