//! `passeur serve` and `passeur worker` as processes: a worker killed with SIGKILL while two
//! share a PostgreSQL database, and a `serve` stopped with SIGTERM in the middle of a pass then
//! started again. Every migration must end exact, with no loss and no duplicate.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use passeur_testkit::corpus::CorpusSpec;
use passeur_testkit::{Dovecot, DovecotOptions, PgTestDb};
use serde_json::{Value, json};
use support::*;

/// Starts `passeur ARGS` with piped output; its logs (at `info`) go to `log` when given.
fn spawn_logged(args: &[&str], log: Option<&std::path::Path>) -> Child {
    let stderr = match log {
        Some(p) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap(),
        ),
        None => Stdio::null(),
    };
    Command::new(env!("CARGO_BIN_EXE_passeur"))
        .args(args)
        .env_remove("PASSEUR_STATE")
        .env_remove("PASSEUR_DATABASE")
        .env("PASSEUR_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("run passeur")
}

fn spawn(args: &[&str]) -> Child {
    spawn_logged(args, None)
}

/// Starts `passeur serve` and returns it with the address it listens on.
fn serve(args: &[&str]) -> (Child, String) {
    let mut all = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--allow-private-addresses",
    ];
    all.extend_from_slice(args);
    let mut child = spawn(&all);
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("passeur is serving on http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("serve said {line:?}"))
        .to_string();
    (child, addr)
}

/// One HTTP/1.1 request; the status and the JSON body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    account: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(a) = account {
        req.push_str(&format!("X-Passeur-Account: {a}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status: u16 = out[9..12].parse().unwrap();
    let (head, rest) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let json = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        // One chunk is enough for these small answers.
        rest.split_once("\r\n")
            .map(|(_, r)| r)
            .unwrap_or("")
            .rsplit_once("\r\n0\r\n")
            .map(|(b, _)| b)
            .unwrap_or("")
    } else {
        rest
    };
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

fn create(addr: &str, src: &Dovecot, dst: &Dovecot, user: &str) -> String {
    let pw = format!("pass{}", user.trim_start_matches("user"));
    let body = json!({
        "source": {"url": url(src, user), "password": pw},
        "destination": {"url": url(dst, user), "password": pw},
    });
    let (st, v) = http(addr, "POST", "/api/v1/migrations", None, Some(&body));
    assert_eq!(st, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

fn status(addr: &str, id: &str, user: &str) -> Value {
    let (st, v) = http(
        addr,
        "GET",
        &format!("/api/v1/migrations/{id}"),
        Some(user),
        None,
    );
    assert_eq!(st, 200, "{v}");
    v
}

fn same_mailboxes(src: &Dovecot, dst: &Dovecot, user: &str) {
    let (a, b) = rt().block_on(async {
        (
            snapshot(&mut login(src, user).await).await,
            snapshot(&mut login(dst, user).await).await,
        )
    });
    assert_eq!(a, b, "{user}: the destination differs from the source");
}

fn kill(child: &Child, signal: &str) {
    let ok = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {signal}");
}

#[test]
fn two_workers_on_postgres_one_killed_all_twenty_migrations_end_exact() {
    let db = PgTestDb::create().expect("PostgreSQL on 127.0.0.1:5432");
    let opts = DovecotOptions {
        users: 20,
        ..Default::default()
    };
    let src = Dovecot::start(opts.clone()).unwrap();
    let dst = Dovecot::start(opts).unwrap();
    let users: Vec<String> = (1..=20).map(|n| format!("user{n}")).collect();
    for (i, u) in users.iter().enumerate() {
        let spec = CorpusSpec {
            seed: i as u64 + 1,
            count: 60,
            ..Default::default()
        };
        src.write_corpus(u, &spec).unwrap();
    }
    let state = tempfile::tempdir().unwrap();
    let key = state.path().join("secret.key");
    let url = db.url();
    let (state_s, key_s) = (state.path().to_str().unwrap(), key.to_str().unwrap());
    // HTTP only; the work is done by two worker processes.
    let (mut http_only, addr) = serve(&[
        "--state",
        state_s,
        "--database",
        &url,
        "--secret-key-file",
        key_s,
        "--workers",
        "0",
    ]);
    let worker_args = [
        "--state",
        state_s,
        "--database",
        &url,
        "worker",
        "--secret-key-file",
        key_s,
        "--workers",
        "3",
        "--allow-private-addresses",
        "--host-limit",
        "24",
        "--job-ttl-seconds",
        "4",
    ];
    let log = state.path().join("workers.log");
    let mut doomed = spawn_logged(&worker_args, Some(&log));
    let mut survivor = spawn_logged(&worker_args, Some(&log));

    let ids: Vec<String> = users.iter().map(|u| create(&addr, &src, &dst, u)).collect();
    // Kill one worker while passes are running.
    let start = Instant::now();
    loop {
        let running = ids
            .iter()
            .zip(&users)
            .filter(|(id, u)| status(&addr, id, u)["status"] == "running")
            .count();
        if running >= 2 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no pass started");
        std::thread::sleep(Duration::from_millis(50));
    }
    kill(&doomed, "-KILL");
    doomed.wait().unwrap();

    let start = Instant::now();
    for (id, u) in ids.iter().zip(&users) {
        loop {
            let v = status(&addr, id, u);
            match v["status"].as_str() {
                Some("done") => break,
                Some("failed") => panic!("{u}: {v}"),
                _ => {}
            }
            assert!(
                start.elapsed() < Duration::from_secs(180),
                "{u} never done: {v}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    for u in &users {
        same_mailboxes(&src, &dst, u);
    }
    kill(&survivor, "-TERM");
    kill(&http_only, "-TERM");
    assert!(survivor.wait().unwrap().success());
    assert!(http_only.wait().unwrap().success());

    // No password in the database (a full dump) nor in the logs of the whole run.
    let dump = Command::new("pg_dump")
        .args(["--data-only", &db.url()])
        .output()
        .expect("pg_dump");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("job claimed"),
        "the workers logged at info: {logs}"
    );
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.contains("INBOX"), "the dump holds the item map");
    // The passwords are `pass` + a number: no such word may appear anywhere.
    for (what, hay) in [("the database dump", &*dump), ("the logs", &*logs)] {
        let leak = hay
            .match_indices("pass")
            .find(|(i, _)| hay[i + 4..].starts_with(|c: char| c.is_ascii_digit()));
        assert!(
            leak.is_none(),
            "a password in {what}: {:?}",
            leak.map(|(i, _)| &hay[i..i + 8])
        );
    }
}

#[test]
fn sigterm_in_the_middle_of_a_pass_then_a_restart_resumes_it_exact() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let spec = CorpusSpec {
        count: 8000,
        ..Default::default()
    };
    src.write_corpus("user1", &spec).unwrap();
    let state = tempfile::tempdir().unwrap();
    let state_arg = state.path().to_str().unwrap();
    let (first, addr) = serve(&["--state", state_arg, "--workers", "1"]);
    let id = create(&addr, &src, &dst, "user1");
    let start = Instant::now();
    loop {
        let v = status(&addr, &id, "user1");
        if v["progress"][0]["copied"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(
            v["status"] != "done",
            "the pass ended before it could be interrupted: {v}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no progress: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    kill(&first, "-TERM");
    let mut first = first;
    assert!(
        first.wait().unwrap().success(),
        "serve exits cleanly at SIGTERM"
    );

    let (mut second, addr) = serve(&["--state", state_arg, "--workers", "1"]);
    let start = Instant::now();
    let v = loop {
        let v = status(&addr, &id, "user1");
        if v["status"] == "done" {
            break v;
        }
        assert!(v["status"] != "failed", "{v}");
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "never done: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let passes = v["passes"].as_array().unwrap();
    assert!(
        passes.len() >= 2,
        "the pass was interrupted and resumed: {v}"
    );
    assert_ne!(passes[0]["status"], "done", "{v}");
    let copied: u64 = passes.iter().map(|p| p["copied"].as_u64().unwrap()).sum();
    assert_eq!(copied, 8000, "copied once in all: {v}");
    same_mailboxes(&src, &dst, "user1");
    kill(&second, "-TERM");
    assert!(second.wait().unwrap().success());
}
