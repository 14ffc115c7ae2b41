//! The workers against a real store: SQLite in a temporary directory, and PostgreSQL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use passeur_store::NewJob;
use passeur_testkit::PgTestDb;
use passeur_types::MigrationId;

use super::*;

/// What the test handler does with a job, by its payload.
#[derive(Default)]
struct Recorder {
    /// Job ID → runs started.
    runs: Mutex<HashMap<i64, u32>>,
    /// Jobs running right now, and the most ever at once per job.
    running: Mutex<HashMap<i64, u32>>,
    overlap: AtomicUsize,
}

impl Handler for Recorder {
    async fn run(&self, job: Job, progress: Progress, cancel: CancellationToken) -> Outcome {
        *self.runs.lock().unwrap().entry(job.id).or_default() += 1;
        {
            let mut r = self.running.lock().unwrap();
            let n = r.entry(job.id).or_default();
            *n += 1;
            if *n > 1 {
                self.overlap.fetch_add(1, Ordering::SeqCst);
            }
        }
        progress.report(r#"{"step":1}"#).await;
        let out = match job.payload.as_str() {
            "fail-once" if job.attempts == 1 => Outcome::Retry("server unreachable".into()),
            "fatal" => Outcome::Failed("wrong password".into()),
            "long" => {
                tokio::select! {
                    _ = cancel.cancelled() => Outcome::Stopped,
                    _ = tokio::time::sleep(Duration::from_secs(60)) => Outcome::Completed,
                }
            }
            _ => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Outcome::Completed
            }
        };
        *self.running.lock().unwrap().get_mut(&job.id).unwrap() -= 1;
        out
    }
}

fn config() -> QueueConfig {
    QueueConfig {
        ttl: Duration::from_secs(5),
        heartbeat: Duration::from_millis(100),
        poll: Duration::from_millis(50),
        retry_base: Duration::from_millis(100),
        ..Default::default()
    }
}

async fn migration(s: &Store) -> MigrationId {
    let id = MigrationId::random();
    s.create_migration(id, "imap://a@x", "imap://b@y", "{}")
        .await
        .unwrap();
    id
}

async fn enqueue(s: &Store, payload: &str) -> i64 {
    let m = migration(s).await;
    s.enqueue_job(&NewJob {
        kind: "test".into(),
        migration: Some(m),
        payload: payload.into(),
        max_attempts: 3,
        connections: 1,
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn wait_for(s: &Store, id: i64, state: JobState) -> Job {
    for _ in 0..400 {
        let j = s.job(id).await.unwrap().unwrap();
        if j.state == state {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {id} never reached {state}: {:?}", s.job(id).await);
}

async fn lifecycle(s: Store) {
    let rec = Arc::new(Recorder::default());
    let shutdown = CancellationToken::new();
    let pool = tokio::spawn(Workers::run(
        s.clone(),
        Arc::clone(&rec),
        3,
        config(),
        shutdown.clone(),
    ));
    let mut plain = Vec::new();
    for _ in 0..12 {
        plain.push(enqueue(&s, "ok").await);
    }
    let flaky = enqueue(&s, "fail-once").await;
    let fatal = enqueue(&s, "fatal").await;
    let long = enqueue(&s, "long").await;
    for id in &plain {
        let j = wait_for(&s, *id, JobState::Completed).await;
        assert_eq!(j.progress.as_deref(), Some(r#"{"step":1}"#));
    }
    let j = wait_for(&s, flaky, JobState::Completed).await;
    assert_eq!(j.attempts, 2, "retried once after its backoff");
    assert_eq!(j.last_error.as_deref(), Some("server unreachable"));
    let j = wait_for(&s, fatal, JobState::Failed).await;
    assert_eq!(
        (j.attempts, j.last_error.as_deref()),
        (1, Some("wrong password"))
    );

    // A stop asked through another handle reaches the running job by its heartbeat.
    wait_for(&s, long, JobState::Running).await;
    let m = s.job(long).await.unwrap().unwrap().migration.unwrap();
    s.stop_jobs(m).await.unwrap();
    wait_for(&s, long, JobState::Stopped).await;

    // At shutdown, a running job goes back to the queue without counting an attempt.
    let again = enqueue(&s, "long").await;
    wait_for(&s, again, JobState::Running).await;
    shutdown.cancel();
    pool.await.unwrap();
    let j = s.job(again).await.unwrap().unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Queued, 0));

    let runs = rec.runs.lock().unwrap();
    assert!(
        plain.iter().all(|id| runs[id] == 1),
        "a job ran twice: {runs:?}"
    );
    assert_eq!(rec.overlap.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_run_retry_stop_and_give_back_jobs_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("s.db")).await.unwrap();
    lifecycle(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_run_retry_stop_and_give_back_jobs_on_postgres() {
    let db = PgTestDb::create().expect("PostgreSQL on 127.0.0.1:5432");
    let s = Store::connect(&db.url()).await.unwrap();
    lifecycle(s).await;
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    let c = QueueConfig {
        retry_base: Duration::from_secs(30),
        retry_cap: Duration::from_secs(600),
        ..Default::default()
    };
    let secs: Vec<u64> = (1..=7).map(|a| c.backoff(a).as_secs()).collect();
    assert_eq!(secs, [30, 60, 120, 240, 480, 600, 600]);
}
