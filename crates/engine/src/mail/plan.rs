//! Planning a pass: folder lists, mapping, STATUS to skip unchanged folders, creating the
//! missing destination folders; then the workers are started.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use passeur_imap::Client;
use passeur_store::{FolderState, PassCounters};
use passeur_types::ContentKind;
use tokio::sync::Semaphore;

use super::parts::put_split_state;
use super::pool::{Queue, QueueState, worker};
use super::{Ctx, FolderReport, Job, PassReport, Work};
use crate::error::InternalError;
use crate::folders::{self, FolderPlan};
use crate::verify::layout;
use crate::{EngineError, Event, MailAccount, MailOptions, RunContext, Side};

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
    let src_layout = layout(&mut s, Side::Source, &src.presets).await?;
    let dst_layout = layout(&mut d, Side::Destination, &dst.presets).await?;
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
        // A stop during planning: no more STATUS or CREATE, and no copy starts.
        if cancel.is_cancelled() {
            let _ = tokio::join!(s.logout(), d.logout());
            report.cancelled = true;
            return Ok(report);
        }
        let prev = states.get(&plan.src).cloned();
        // A folder the last pass finished may be skipped on its STATUS alone, unless its copy
        // is gone: the destination folder deleted, or deleted and created again (a new
        // UIDVALIDITY). The destination's STATUS is asked alongside the source's, so a pass
        // with nothing to do takes no more round trips.
        let skippable = !opts.full
            && plan.dst_exists
            && prev
                .as_ref()
                .is_some_and(|p| p.complete && p.dst_name == plan.dst);
        let src_status = |e| EngineError::imap(Side::Source, "read folder status", e);
        let (st, dst_validity) = match prev.as_ref().and_then(|p| p.dst_uidvalidity) {
            Some(_) if skippable => {
                let (a, b) = tokio::join!(s.status(&plan.src), d.status(&plan.dst));
                let b =
                    b.map_err(|e| EngineError::imap(Side::Destination, "read folder status", e))?;
                (a.map_err(src_status)?, Some(b.uidvalidity))
            }
            _ => (s.status(&plan.src).await.map_err(src_status)?, None),
        };
        let unchanged = skippable
            && prev.as_ref().is_some_and(|p| {
                p.src_uidvalidity == Some(st.uidvalidity)
                    && p.src_uidnext.is_some()
                    && p.src_uidnext == st.uidnext
                    && p.src_messages == Some(st.exists)
                    && p.src_highestmodseq == st.highestmodseq
                    && (dst_validity.is_none() || p.dst_uidvalidity == dst_validity)
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
                        InternalError::CopyTaskPanicked(what)
                    } else {
                        InternalError::Task {
                            what: "a copy task ended abnormally",
                            source: e,
                        }
                    });
                }
            }
        }
    }
    if let Some(reason) = failure {
        return Err(reason.into());
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
