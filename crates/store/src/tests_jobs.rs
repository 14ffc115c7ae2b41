//! The job queue, credentials and deletion, on both backends.

use std::collections::HashMap;
use std::time::Duration;

use super::tests::{Db, new_migration};
use crate::*;

const TTL: Duration = Duration::from_secs(30);

fn job(m: Option<passeur_types::MigrationId>, hosts: &[&str], connections: u32) -> NewJob {
    NewJob {
        kind: "pass".into(),
        migration: m,
        payload: "{}".into(),
        max_attempts: 3,
        connections,
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        ..Default::default()
    }
}

macro_rules! on_both {
    ($name:ident, |$db:ident| $body:block) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $db = Db::sqlite();
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let $db = Db::postgres();
                $body
            }
        }
    };
}

on_both!(a_job_is_claimed_once_and_fenced, |db| {
    let s = db.open().await;
    let m = new_migration(&s).await;
    let id = s
        .enqueue_job(&job(Some(m), &["a.example"], 1))
        .await
        .unwrap();
    let other = db.open().await;
    let limits = ClaimLimits::default();
    let a = s.claim_job("w1", TTL, &limits).await.unwrap().unwrap();
    assert_eq!((a.id, a.state, a.attempts), (id, JobState::Running, 1));
    // Nothing else is due: a second worker gets nothing.
    assert!(other.claim_job("w2", TTL, &limits).await.unwrap().is_none());
    assert!(!s.renew_job(id, a.token, TTL).await.unwrap());
    // A stale token can neither renew nor finish.
    assert!(matches!(
        s.renew_job(id, a.token - 1, TTL).await,
        Err(StoreError::LeaseLost)
    ));
    assert_eq!(
        s.finish_job(id, a.token, &JobEnd::Completed).await.unwrap(),
        JobState::Completed
    );
    assert!(matches!(
        s.finish_job(id, a.token, &JobEnd::Completed).await,
        Err(StoreError::LeaseLost)
    ));
    assert_eq!(s.job(id).await.unwrap().unwrap().state, JobState::Completed);
});

on_both!(a_dead_workers_job_is_taken_over_with_a_new_token, |db| {
    let s = db.open().await;
    let m = new_migration(&s).await;
    let id = s.enqueue_job(&job(Some(m), &[], 1)).await.unwrap();
    let limits = ClaimLimits::default();
    let a = s
        .claim_job("w1", Duration::from_millis(200), &limits)
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let b = s.claim_job("w2", TTL, &limits).await.unwrap().unwrap();
    assert_eq!(b.id, id);
    assert!(b.token > a.token);
    assert_eq!(b.attempts, 2);
    assert_eq!(b.holder.as_deref(), Some("w2"));
    // The first worker, back from the dead, can write nothing.
    assert!(matches!(
        s.renew_job(id, a.token, TTL).await,
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        s.finish_job(id, a.token, &JobEnd::Failed("x".into())).await,
        Err(StoreError::LeaseLost)
    ));
    s.finish_job(id, b.token, &JobEnd::Completed).await.unwrap();
});

on_both!(
    scheduled_jobs_wait_and_retries_back_off_then_give_up,
    |db| {
        let s = db.open().await;
        let m = new_migration(&s).await;
        let now = s.clock_ms().await.unwrap();
        let mut j = job(Some(m), &[], 1);
        j.run_at_ms = Some(now + 600);
        j.max_attempts = 2;
        let id = s.enqueue_job(&j).await.unwrap();
        assert_eq!(s.job(id).await.unwrap().unwrap().state, JobState::Scheduled);
        let limits = ClaimLimits::default();
        assert!(
            s.claim_job("w", TTL, &limits).await.unwrap().is_none(),
            "claimed early"
        );
        tokio::time::sleep(Duration::from_millis(700)).await;
        let a = s.claim_job("w", TTL, &limits).await.unwrap().unwrap();
        let at = s.clock_ms().await.unwrap() + 300;
        let retry = JobEnd::Retry {
            at_ms: at,
            error: "cannot connect".into(),
        };
        assert_eq!(
            s.finish_job(id, a.token, &retry).await.unwrap(),
            JobState::Scheduled
        );
        assert!(
            s.claim_job("w", TTL, &limits).await.unwrap().is_none(),
            "retried before its backoff"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        let b = s.claim_job("w", TTL, &limits).await.unwrap().unwrap();
        let at = s.clock_ms().await.unwrap();
        let retry = JobEnd::Retry {
            at_ms: at,
            error: "cannot connect".into(),
        };
        assert_eq!(
            s.finish_job(id, b.token, &retry).await.unwrap(),
            JobState::Failed
        );
        let row = s.job(id).await.unwrap().unwrap();
        assert!(row.last_error.unwrap().contains("gave up after 2 attempts"));
    }
);

on_both!(limits_hold_per_host_per_project_and_per_migration, |db| {
    let s = db.open().await;
    let mut per_host = HashMap::new();
    per_host.insert("small.example".to_string(), 2);
    let limits = ClaimLimits {
        per_host_default: 8,
        per_host,
        node: None,
    };
    // Three jobs of 1 connection on small.example (limit 2): two run, the third waits.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let m = new_migration(&s).await;
        ids.push(
            s.enqueue_job(&job(Some(m), &["SMALL.example", "big.example"], 1))
                .await
                .unwrap(),
        );
    }
    let a = s.claim_job("w", TTL, &limits).await.unwrap().unwrap();
    let b = s.claim_job("w", TTL, &limits).await.unwrap().unwrap();
    assert!(
        s.claim_job("w", TTL, &limits).await.unwrap().is_none(),
        "host limit ignored"
    );
    s.finish_job(a.id, a.token, &JobEnd::Completed)
        .await
        .unwrap();
    let c = s.claim_job("w", TTL, &limits).await.unwrap().unwrap();
    assert_eq!(c.id, ids[2]);
    s.finish_job(b.id, b.token, &JobEnd::Completed)
        .await
        .unwrap();
    s.finish_job(c.id, c.token, &JobEnd::Completed)
        .await
        .unwrap();

    // A project that allows one job at a time.
    for _ in 0..2 {
        let m = new_migration(&s).await;
        let mut j = job(Some(m), &["big.example"], 1);
        j.project = Some(("p1".into(), 1));
        s.enqueue_job(&j).await.unwrap();
    }
    let p = s.claim_job("w", TTL, &limits).await.unwrap().unwrap();
    assert!(
        s.claim_job("w", TTL, &limits).await.unwrap().is_none(),
        "project limit ignored"
    );
    s.finish_job(p.id, p.token, &JobEnd::Completed)
        .await
        .unwrap();
    let q = s.claim_job("w", TTL, &limits).await.unwrap().unwrap();
    s.finish_job(q.id, q.token, &JobEnd::Completed)
        .await
        .unwrap();

    // Two jobs of one migration never run at once.
    let m = new_migration(&s).await;
    s.enqueue_job(&job(Some(m), &[], 1)).await.unwrap();
    s.enqueue_job(&job(Some(m), &[], 1)).await.unwrap();
    let x = s.claim_job("w", TTL, &limits).await.unwrap().unwrap();
    assert!(
        s.claim_job("w", TTL, &limits).await.unwrap().is_none(),
        "same migration twice"
    );
    s.finish_job(x.id, x.token, &JobEnd::Completed)
        .await
        .unwrap();
    assert!(s.claim_job("w", TTL, &limits).await.unwrap().is_some());
});

on_both!(a_job_bound_to_a_machine_is_left_to_it, |db| {
    let s = db.open().await;
    let m = new_migration(&s).await;
    let mut j = job(Some(m), &[], 1);
    j.only_node = Some("box-a".into());
    let id = s.enqueue_job(&j).await.unwrap();
    let elsewhere = ClaimLimits {
        node: Some("box-b".into()),
        ..Default::default()
    };
    assert!(s.claim_job("w", TTL, &elsewhere).await.unwrap().is_none());
    assert!(
        s.claim_job("w", TTL, &ClaimLimits::default())
            .await
            .unwrap()
            .is_none()
    );
    let here = ClaimLimits {
        node: Some("box-a".into()),
        ..Default::default()
    };
    assert_eq!(s.claim_job("w", TTL, &here).await.unwrap().unwrap().id, id);
});

on_both!(concurrent_claims_never_hand_a_job_out_twice, |db| {
    let s = db.open().await;
    for _ in 0..20 {
        let m = new_migration(&s).await;
        s.enqueue_job(&job(Some(m), &[], 1)).await.unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..4 {
        let st = db.open().await;
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let limits = ClaimLimits {
                per_host_default: 100,
                ..Default::default()
            };
            while let Some(j) = st.claim_job(&format!("w{w}"), TTL, &limits).await.unwrap() {
                got.push(j.id);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let n = all.len();
    all.dedup();
    assert_eq!((n, all.len()), (20, 20));
});

on_both!(stop_reaches_waiting_and_running_jobs, |db| {
    let s = db.open().await;
    let m = new_migration(&s).await;
    let limits = ClaimLimits::default();
    let first = s.enqueue_job(&job(Some(m), &[], 1)).await.unwrap();
    let a = s.claim_job("w", TTL, &limits).await.unwrap().unwrap();
    let second = s.enqueue_job(&job(Some(m), &[], 1)).await.unwrap();
    assert_eq!(s.stop_jobs(m).await.unwrap(), 2);
    assert_eq!(
        s.job(second).await.unwrap().unwrap().state,
        JobState::Stopped
    );
    assert!(
        s.renew_job(first, a.token, TTL).await.unwrap(),
        "the running job is told to stop"
    );
    s.finish_job(first, a.token, &JobEnd::Stopped)
        .await
        .unwrap();
    assert!(!s.has_active_job(m, &[]).await.unwrap());
    let counts = s.job_counts().await.unwrap();
    assert!(counts.contains(&(JobState::Stopped, 2)));
});

on_both!(
    a_notification_is_neither_held_nor_stopped_by_its_pass,
    |db| {
        let s = db.open().await;
        let m = new_migration(&s).await;
        let limits = ClaimLimits::default();
        let notify = |payload: &str| NewJob {
            kind: NOTIFY_KIND.into(),
            migration: Some(m),
            payload: payload.into(),
            max_attempts: 3,
            ..Default::default()
        };
        // The first pass runs; "started" is queued after it (as the service does).
        let pass = s
            .enqueue_job(&job(Some(m), &["a.example"], 1))
            .await
            .unwrap();
        let started = s.enqueue_job(&notify("started")).await.unwrap();
        let later = s.enqueue_job(&notify("later")).await.unwrap();
        let p = s.claim_job("w1", TTL, &limits).await.unwrap().unwrap();
        assert_eq!(p.id, pass);
        // A second worker sends "started" while the pass runs...
        let n = s.claim_job("w2", TTL, &limits).await.unwrap();
        assert_eq!(
            n.as_ref().map(|j| j.id),
            Some(started),
            "the started notification waits for the end of the pass"
        );
        // ...and the next notification of the migration waits for it (their order is kept).
        assert!(s.claim_job("w3", TTL, &limits).await.unwrap().is_none());
        // Another pass of the migration still waits for the running one.
        let second = s.enqueue_job(&job(Some(m), &[], 1)).await.unwrap();
        assert!(s.claim_job("w3", TTL, &limits).await.unwrap().is_none());
        // A stop stops the passes, never the messages: the user still gets the ID and link.
        assert_eq!(s.stop_jobs(m).await.unwrap(), 2);
        assert_eq!(
            s.job(second).await.unwrap().unwrap().state,
            JobState::Stopped
        );
        assert_eq!(s.job(later).await.unwrap().unwrap().state, JobState::Queued);
        let n = n.unwrap();
        assert!(!s.renew_job(started, n.token, TTL).await.unwrap());
        s.finish_job(started, n.token, &JobEnd::Completed)
            .await
            .unwrap();
        let l = s.claim_job("w3", TTL, &limits).await.unwrap().unwrap();
        assert_eq!(l.id, later);
        assert!(s.renew_job(pass, p.token, TTL).await.unwrap());
    }
);

on_both!(deleting_a_migration_leaves_nothing_of_it, |db| {
    let s = db.open().await;
    let m = new_migration(&s).await;
    let keep = new_migration(&s).await;
    s.put_credentials(m, "sealed-1").await.unwrap();
    s.put_credentials(keep, "sealed-2").await.unwrap();
    s.put_service_meta(
        m,
        &ServiceMeta {
            notify: Some("a@b.example".into()),
            lang: "fr".into(),
            project: None,
            source_sign_in: false,
            destination_sign_in: true,
        },
    )
    .await
    .unwrap();
    let meta = s.service_meta(m).await.unwrap();
    assert_eq!(meta.lang, "fr");
    assert!(!meta.source_sign_in && meta.destination_sign_in && meta.awaits_sign_in());
    s.enqueue_job(&job(Some(m), &["h"], 1)).await.unwrap();
    let pass = s.begin_pass(m).await.unwrap();
    s.insert_pending(m, &[super::tests::mail("INBOX", 1, pass)])
        .await
        .unwrap();
    assert!(s.delete_migration(m).await.unwrap());
    assert!(!s.delete_migration(m).await.unwrap());
    assert!(s.credentials(m).await.unwrap().is_none());
    assert!(s.jobs_of(m).await.unwrap().is_empty());
    assert!(matches!(s.migration(m).await, Err(StoreError::NotFound(_))));
    assert_eq!(
        s.credentials(keep).await.unwrap().as_deref(),
        Some("sealed-2")
    );
    let (items, _) = s.count_items(m).await.unwrap();
    assert_eq!(items, 0);
});

on_both!(inactive_migrations_are_those_idle_since_the_cutoff, |db| {
    let s = db.open().await;
    let m = new_migration(&s).await;
    let future = s.clock_ms().await.unwrap() / 1000 + 10;
    assert_eq!(s.inactive_migrations(future).await.unwrap(), vec![m]);
    let past = s.clock_ms().await.unwrap() / 1000 - 10;
    assert!(s.inactive_migrations(past).await.unwrap().is_empty());
    s.enqueue_job(&job(Some(m), &[], 1)).await.unwrap();
    assert!(
        s.inactive_migrations(future).await.unwrap().is_empty(),
        "a queued job is activity"
    );
});

on_both!(
    uploads_advance_only_from_their_offset_and_go_with_their_migration,
    |db| {
        let s = db.open().await;
        let mut u = Upload {
            id: "u1".into(),
            length: 10,
            received: 0,
            metadata: "filename YS5wc3Q=".into(),
            path: "/data/uploads/u1".into(),
            node: "box-a".into(),
            created_at_ms: 1_000,
            expires_at_ms: 2_000,
            migration: None,
        };
        s.create_upload(&u).await.unwrap();
        assert_eq!(s.upload("u1").await.unwrap().as_ref(), Some(&u));
        assert!(s.upload("nope").await.unwrap().is_none());
        // Only from the offset it has.
        assert!(s.advance_upload("u1", 0, 4).await.unwrap());
        assert!(!s.advance_upload("u1", 0, 6).await.unwrap());
        let m = new_migration(&s).await;
        // Not complete: it cannot be imported yet.
        assert!(!s.attach_upload("u1", m).await.unwrap());
        // Expired, unimported, on its own node only.
        assert_eq!(s.expired_uploads("box-a", 2_001).await.unwrap().len(), 1);
        assert!(s.expired_uploads("box-b", 2_001).await.unwrap().is_empty());
        assert!(s.expired_uploads("box-a", 2_000).await.unwrap().is_empty());
        assert!(s.advance_upload("u1", 4, 10).await.unwrap());
        assert!(s.attach_upload("u1", m).await.unwrap());
        assert!(!s.attach_upload("u1", m).await.unwrap());
        // Imported: it lives as long as its migration, not its expiry.
        assert!(s.expired_uploads("box-a", 9_999).await.unwrap().is_empty());
        u.received = 10;
        u.migration = Some(m);
        assert_eq!(s.uploads_of(m).await.unwrap(), vec![u.clone()]);
        assert!(s.delete_migration(m).await.unwrap());
        assert!(s.upload("u1").await.unwrap().is_none());
        // Termination.
        u.id = "u2".into();
        u.migration = None;
        s.create_upload(&u).await.unwrap();
        assert!(s.delete_upload("u2").await.unwrap());
        assert!(!s.delete_upload("u2").await.unwrap());
    }
);
