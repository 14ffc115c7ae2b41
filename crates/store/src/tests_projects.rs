//! Projects, their sessions, their migrations and their pause switch, on both backends.

use std::time::Duration;

use super::tests::{Db, new_migration};
use crate::*;

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

fn new_project(name: &str) -> NewProject {
    NewProject {
        name: name.into(),
        password: "Correct-Horse-9".into(),
        notify: Some("admin@example.org".into()),
        lang: "fr".into(),
        options: r#"{"simultaneous":3}"#.into(),
    }
}

fn pass_job(m: passeur_types::MigrationId, project: &str, limit: u32) -> NewJob {
    NewJob {
        kind: "pass".into(),
        migration: Some(m),
        payload: "{}".into(),
        max_attempts: 3,
        connections: 1,
        project: Some((project.into(), limit)),
        ..Default::default()
    }
}

async fn attach(s: &Store, m: passeur_types::MigrationId, project: &str) {
    s.put_service_meta(
        m,
        &ServiceMeta {
            notify: None,
            lang: "en".into(),
            project: Some(project.into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

on_both!(a_project_keeps_only_a_hash_of_its_password, |db| {
    let s = db.open().await;
    let id = s.create_project(&new_project("Acme")).await.unwrap();
    let other = s.create_project(&new_project("Acme")).await.unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(id, other, "two projects, two IDs");
    let p = s.project(&id).await.unwrap().unwrap();
    assert_eq!(
        (p.name.as_str(), p.lang.as_str(), p.paused),
        ("Acme", "fr", false)
    );
    assert_eq!(p.notify.as_deref(), Some("admin@example.org"));
    assert_eq!(p.options, r#"{"simultaneous":3}"#);
    assert!(s.project("0000").await.unwrap().is_none());
    assert!(
        s.verify_project_password(&id, "Correct-Horse-9")
            .await
            .unwrap()
    );
    assert!(
        !s.verify_project_password(&id, "correct-horse-9")
            .await
            .unwrap()
    );
    assert!(
        !s.verify_project_password("nope", "Correct-Horse-9")
            .await
            .unwrap()
    );
    // The stored hash is argon2id and does not hold the password.
    let hash: String = with_pool!(s, |pool| {
        sqlx::query_scalar("SELECT password_hash FROM projects WHERE id = $1")
            .bind(&id)
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("Correct-Horse-9"));
});

on_both!(
    sessions_are_found_by_token_stored_hashed_and_end_at_logout,
    |db| {
        let s = db.open().await;
        let id = s.create_project(&new_project("Acme")).await.unwrap();
        let a = s
            .create_project_session(&id, Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(a.token.len(), 64);
        let found = s.project_session(&a.token).await.unwrap().unwrap();
        assert_eq!(found.project_id, id);
        assert_eq!(found.csrf, a.csrf);
        assert!(s.project_session("not-a-token").await.unwrap().is_none());
        // Only the SHA-256 of the token is stored.
        let stored: Vec<String> = with_pool!(s, |pool| {
            sqlx::query_scalar("SELECT token_hash FROM project_sessions")
                .fetch_all(pool)
                .await
                .unwrap()
        });
        assert_eq!(stored.len(), 1);
        assert_ne!(stored[0], a.token);
        assert_eq!(stored[0].len(), 64);
        // An expired session is no session.
        let short = s
            .create_project_session(&id, Duration::from_millis(50))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(s.project_session(&short.token).await.unwrap().is_none());
        assert!(s.delete_project_session(&a.token).await.unwrap());
        assert!(s.project_session(&a.token).await.unwrap().is_none());
        assert!(!s.delete_project_session(&a.token).await.unwrap());
    }
);

on_both!(pause_holds_waiting_passes_and_resume_releases_them, |db| {
    let s = db.open().await;
    let p = s.create_project(&new_project("Acme")).await.unwrap();
    let other = s.create_project(&new_project("Other")).await.unwrap();
    let (m1, m2, m3, m4) = (
        new_migration(&s).await,
        new_migration(&s).await,
        new_migration(&s).await,
        new_migration(&s).await,
    );
    for m in [m1, m2, m3] {
        attach(&s, m, &p).await;
    }
    attach(&s, m4, &other).await;
    let mut listed = s.project_migrations(&p).await.unwrap();
    let mut want = vec![m1, m2, m3];
    listed.sort_by_key(|m| m.to_string());
    want.sort_by_key(|m| m.to_string());
    assert_eq!(listed, want);
    // Once queued, in the order of their first jobs.
    let ordered = async |s: &Store| s.project_migrations(&p).await.unwrap();
    assert_eq!(s.project_migrations(&other).await.unwrap(), vec![m4]);
    let limits = ClaimLimits::default();
    let j1 = s.enqueue_job(&pass_job(m1, &p, 5)).await.unwrap();
    let running = s
        .claim_job("w", Duration::from_secs(30), &limits)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(running.id, j1);
    let j2 = s.enqueue_job(&pass_job(m2, &p, 5)).await.unwrap();
    let later = s.clock_ms().await.unwrap() + 3_600_000;
    let j3 = s
        .enqueue_job(&NewJob {
            run_at_ms: Some(later),
            ..pass_job(m3, &p, 5)
        })
        .await
        .unwrap();
    let j4 = s.enqueue_job(&pass_job(m4, &other, 5)).await.unwrap();
    assert_eq!(ordered(&s).await, vec![m1, m2, m3]);
    assert_eq!(s.pause_project(&p).await.unwrap(), 2);
    assert!(s.project(&p).await.unwrap().unwrap().paused);
    let state = |id| {
        let s = s.clone();
        async move { s.job(id).await.unwrap().unwrap().state }
    };
    assert_eq!(
        state(j1).await,
        JobState::Running,
        "a running pass finishes"
    );
    assert_eq!(state(j2).await, JobState::Paused);
    assert_eq!(state(j3).await, JobState::Paused);
    assert_eq!(state(j4).await, JobState::Queued, "another project runs on");
    // A paused job is never claimed; the other project's is.
    let next = s
        .claim_job("w", Duration::from_secs(30), &limits)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.id, j4);
    assert!(
        s.claim_job("w", Duration::from_secs(30), &limits)
            .await
            .unwrap()
            .is_none()
    );
    // A pass queued while paused is held.
    let m5 = new_migration(&s).await;
    attach(&s, m5, &p).await;
    let j5 = s.enqueue_job(&pass_job(m5, &p, 5)).await.unwrap();
    assert_eq!(state(j5).await, JobState::Paused);
    assert_eq!(s.resume_project(&p).await.unwrap(), 3);
    assert!(!s.project(&p).await.unwrap().unwrap().paused);
    assert_eq!(state(j2).await, JobState::Queued);
    assert_eq!(state(j3).await, JobState::Scheduled, "its time is to come");
    assert_eq!(state(j5).await, JobState::Queued);
    // Queued once resumed: it waits as usual.
    let m6 = new_migration(&s).await;
    let j6 = s.enqueue_job(&pass_job(m6, &p, 5)).await.unwrap();
    assert_eq!(state(j6).await, JobState::Queued);
});

on_both!(options_set_the_limit_that_waiting_jobs_honour, |db| {
    let s = db.open().await;
    let p = s.create_project(&new_project("Acme")).await.unwrap();
    let ms: Vec<_> = migrations(&s, 3).await;
    let mut jobs = Vec::new();
    for m in &ms {
        attach(&s, *m, &p).await;
        jobs.push(s.enqueue_job(&pass_job(*m, &p, 1)).await.unwrap());
    }
    let limits = ClaimLimits::default();
    let ttl = Duration::from_secs(30);
    assert!(s.claim_job("w", ttl, &limits).await.unwrap().is_some());
    assert!(
        s.claim_job("w", ttl, &limits).await.unwrap().is_none(),
        "limit 1"
    );
    assert!(
        s.set_project_options(&p, r#"{"simultaneous":2}"#, 2)
            .await
            .unwrap()
    );
    assert_eq!(
        s.project(&p).await.unwrap().unwrap().options,
        r#"{"simultaneous":2}"#
    );
    assert!(s.claim_job("w", ttl, &limits).await.unwrap().is_some());
    assert!(
        s.claim_job("w", ttl, &limits).await.unwrap().is_none(),
        "limit 2"
    );
    assert!(!s.set_project_options("nope", "{}", 2).await.unwrap());
});

async fn migrations(s: &Store, n: usize) -> Vec<passeur_types::MigrationId> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(new_migration(s).await);
    }
    v
}

on_both!(idle_projects_without_migrations_expire, |db| {
    let s = db.open().await;
    let idle = s.create_project(&new_project("Idle")).await.unwrap();
    let busy = s.create_project(&new_project("Busy")).await.unwrap();
    let m = new_migration(&s).await;
    attach(&s, m, &busy).await;
    let sess = s
        .create_project_session(&idle, Duration::from_secs(3600))
        .await
        .unwrap();
    let later = s.clock_ms().await.unwrap() + 1000;
    // Not idle long enough: nothing goes.
    let before = s.project(&idle).await.unwrap().unwrap().updated_at_ms;
    assert!(s.delete_inactive_projects(before).await.unwrap().is_empty());
    assert_eq!(
        s.delete_inactive_projects(later).await.unwrap(),
        vec![idle.clone()]
    );
    assert!(s.project(&idle).await.unwrap().is_none());
    assert!(s.project_session(&sess.token).await.unwrap().is_none());
    // A project with a migration stays until its migrations expire.
    assert!(s.project(&busy).await.unwrap().is_some());
    s.delete_migration(m).await.unwrap();
    s.touch_project(&busy).await.unwrap();
    assert!(s.delete_inactive_projects(before).await.unwrap().is_empty());
    assert_eq!(
        s.delete_inactive_projects(s.clock_ms().await.unwrap() + 1000)
            .await
            .unwrap(),
        vec![busy]
    );
});

on_both!(expiry_warnings_go_once_per_idle_spell, |db| {
    let s = db.open().await;
    let p = s.create_project(&new_project("Quiet")).await.unwrap();
    let later = s.clock_ms().await.unwrap() + 1000;
    let warn = s.projects_to_warn(later).await.unwrap();
    assert_eq!(
        warn,
        vec![(p.clone(), "admin@example.org".into(), "fr".into())]
    );
    s.mark_project_warned(&p).await.unwrap();
    assert!(s.projects_to_warn(later).await.unwrap().is_empty());
    // Activity after the warning: the next idle spell is warned again.
    tokio::time::sleep(Duration::from_millis(5)).await;
    s.touch_project(&p).await.unwrap();
    let later = s.clock_ms().await.unwrap() + 1000;
    assert_eq!(s.projects_to_warn(later).await.unwrap().len(), 1);
});

on_both!(throttle_windows_count_and_reset, |db| {
    let s = db.open().await;
    assert_eq!(s.throttle_count("k", 60_000).await.unwrap().0, 0);
    for _ in 0..3 {
        s.throttle_hit("k", 60_000).await.unwrap();
    }
    let (n, left) = s.throttle_count("k", 60_000).await.unwrap();
    assert_eq!(n, 3);
    assert!(left > 0 && left <= 60_000, "{left}");
    assert_eq!(s.throttle_count("other", 60_000).await.unwrap().0, 0);
    // A window that is over counts nothing, and the next failure starts a new one.
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(s.throttle_count("k", 20).await.unwrap().0, 0);
    s.throttle_hit("k", 20).await.unwrap();
    assert_eq!(s.throttle_count("k", 60_000).await.unwrap().0, 1);
    let now = s.clock_ms().await.unwrap();
    assert_eq!(s.throttle_sweep(now + 1).await.unwrap(), 1);
});
