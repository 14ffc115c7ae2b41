//! A fresh PostgreSQL database per test on the local cluster (127.0.0.1:5432), dropped
//! on drop. `scripts/test.sh` starts the cluster when PostgreSQL is installed.
//!
//! Administration goes through the `psql` CLI: first over TCP as `postgres` (works with
//! `trust`), else — as root — through `runuser -u postgres` on the Unix socket (peer
//! auth, the Debian default). Tests connect as role `passeur_test` / `passeur_test`,
//! created on first use. `PASSEUR_TEST_PG_HOST` / `PASSEUR_TEST_PG_PORT` override the
//! address.

use std::io;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

const ROLE: &str = "passeur_test";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database that exists while this value lives.
pub struct PgTestDb {
    /// The database's name.
    pub name: String,
    /// The server's host.
    pub host: String,
    /// The server's port.
    pub port: u16,
    /// The role that owns the database.
    pub user: String,
    /// That role's password.
    pub password: String,
}

fn host_port() -> (String, u16) {
    let host = std::env::var("PASSEUR_TEST_PG_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PASSEUR_TEST_PG_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5432);
    (host, port)
}

/// Runs one SQL statement as the cluster's superuser.
fn admin_sql(sql: &str) -> io::Result<Output> {
    let (host, port) = host_port();
    let tcp = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-w", "-h", &host, "-p"])
        .arg(port.to_string())
        .args(["-U", "postgres", "-d", "postgres", "-c", sql])
        .stdin(Stdio::null())
        .output()?;
    if tcp.status.success() {
        return Ok(tcp);
    }
    let root = std::fs::metadata("/proc/self").map(|m| {
        use std::os::unix::fs::MetadataExt as _;
        m.uid() == 0
    });
    if root.unwrap_or(false) {
        let peer = Command::new("runuser")
            .args([
                "-u",
                "postgres",
                "--",
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-p",
            ])
            .arg(port.to_string())
            .args(["-d", "postgres", "-c", sql])
            .current_dir("/")
            .stdin(Stdio::null())
            .output()?;
        if peer.status.success() {
            return Ok(peer);
        }
        return Err(io::Error::other(format!(
            "cannot run SQL as postgres: {}",
            String::from_utf8_lossy(&peer.stderr).trim()
        )));
    }
    Err(io::Error::other(format!(
        "cannot run SQL as postgres over TCP: {}",
        String::from_utf8_lossy(&tcp.stderr).trim()
    )))
}

/// Checks that a PostgreSQL server answers; the error tells how to get one.
pub fn ensure_postgres() -> Result<(), String> {
    let (host, port) = host_port();
    let ok = Command::new("pg_isready")
        .args(["-q", "-h", &host, "-p"])
        .arg(port.to_string())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "cannot reach PostgreSQL on {host}:{port}: run scripts/test.sh, which starts the \
             local cluster (pg_ctlcluster --skip-systemctl-redirect <version> main start)"
        ))
    }
}

impl PgTestDb {
    /// Creates an empty database owned by `passeur_test`.
    pub fn create() -> io::Result<PgTestDb> {
        ensure_postgres().map_err(io::Error::other)?;
        // Idempotent role creation (concurrent tests may race: ignore "already exists").
        let _ = admin_sql(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN \
             CREATE ROLE {ROLE} LOGIN PASSWORD '{ROLE}' CREATEDB; END IF; END $$;"
        ));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "passeur_test_{}_{}_{nanos:x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        admin_sql(&format!("CREATE DATABASE {name} OWNER {ROLE}"))?;
        let (host, port) = host_port();
        Ok(PgTestDb {
            name,
            host,
            port,
            user: ROLE.into(),
            password: ROLE.into(),
        })
    }

    /// `postgres://passeur_test:passeur_test@127.0.0.1:5432/<name>`.
    pub fn url(&self) -> String {
        format!(
            "postgres://{}:{}@{}:{}/{}",
            self.user, self.password, self.host, self.port, self.name
        )
    }

    /// Runs SQL in this database as its owner (for test setup or checks); returns stdout
    /// of `psql -At` (unaligned, tuples only).
    pub fn psql(&self, sql: &str) -> io::Result<String> {
        let out = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url(),
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(io::Error::other(format!(
                "cannot run SQL: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        let _ = admin_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}
