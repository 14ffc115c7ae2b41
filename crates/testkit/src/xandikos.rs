//! A private Xandikos (CalDAV/CardDAV, single principal, no authentication of its own).

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::proc::{self, Supervised};

const XANDIKOS: &str = "/usr/bin/xandikos";

/// A running Xandikos serving one principal `/<user>/` with a default calendar
/// (`/<user>/calendars/calendar/`) and address book (`/<user>/contacts/addressbook/`).
/// Any credentials are accepted (it has no auth): a wrong password still gets 207.
pub struct Xandikos {
    /// The instance directory (data, log).
    pub dir: PathBuf,
    /// The host to connect to (loopback).
    pub host: String,
    /// The port it listens on.
    pub port: u16,
    /// The one principal it serves.
    pub user: String,
    process: Option<Supervised>,
    _tmp: tempfile::TempDir,
}

/// Checks that Xandikos is installed; the error tells how to get it.
pub fn ensure_xandikos() -> Result<(), String> {
    if Path::new(XANDIKOS).exists() {
        Ok(())
    } else {
        Err(format!(
            "cannot find Xandikos ({XANDIKOS}): run scripts/test.sh which installs it (apt-get install xandikos)"
        ))
    }
}

impl Xandikos {
    /// Starts Xandikos for principal `user` (e.g. `"user1"`) on a random port.
    pub fn start(user: &str) -> io::Result<Xandikos> {
        ensure_xandikos().map_err(io::Error::other)?;
        let tmp = tempfile::Builder::new()
            .prefix("passeur-xandikos-")
            .tempdir()?;
        let dir = tmp.path().to_path_buf();
        let mut last_err = None;
        for _attempt in 0..6 {
            let port = proc::free_port()?;
            let log = std::fs::File::create(dir.join("xandikos.log"))?;
            let mut cmd = Command::new(XANDIKOS);
            cmd.arg("-d")
                .arg(dir.join("data"))
                .args(["--defaults", "-l", "127.0.0.1", "-p"])
                .arg(port.to_string())
                .arg("--current-user-principal")
                .arg(format!("/{user}/"))
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log);
            let mut p = Supervised::spawn(cmd)?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            match proc::wait_ready(addr, None, &mut p, Duration::from_secs(30)) {
                Ok(()) => {
                    return Ok(Xandikos {
                        dir,
                        host: "127.0.0.1".into(),
                        port,
                        user: user.to_string(),
                        process: Some(p),
                        _tmp: tmp,
                    });
                }
                Err(e) => {
                    p.stop();
                    let log = std::fs::read_to_string(dir.join("xandikos.log")).unwrap_or_default();
                    let busy = log.contains("in use");
                    last_err = Some(io::Error::other(format!("{e}; xandikos.log:\n{log}")));
                    if !busy {
                        break;
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("cannot start Xandikos")))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// The default calendar: `.../<user>/calendars/calendar/`.
    pub fn calendar_url(&self) -> String {
        format!("{}/{}/calendars/calendar/", self.url(), self.user)
    }

    /// The default address book: `.../<user>/contacts/addressbook/`.
    pub fn contacts_url(&self) -> String {
        format!("{}/{}/contacts/addressbook/", self.url(), self.user)
    }

    /// Xandikos's stdout/stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("xandikos.log")).unwrap_or_default()
    }

    /// Kills the server and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }
}

impl Drop for Xandikos {
    fn drop(&mut self) {
        self.stop();
    }
}
