//! A private Radicale 3 (CalDAV/CardDAV) server per test.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::proc::{self, Supervised};

/// How to configure a [`Radicale`] instance.
#[derive(Debug, Clone)]
pub struct RadicaleOptions {
    /// Users `user1..userN` with passwords `pass1..passN` (plain htpasswd).
    pub users: u32,
    /// Pre-create `/userN/calendar/` (VCALENDAR) and `/userN/contacts/` (VADDRESSBOOK).
    pub create_collections: bool,
    /// Also a user `admin` (password `adminpass`) who may read and write every user's
    /// collections (a rights file), the others keeping only their own.
    pub admin: bool,
}

impl Default for RadicaleOptions {
    fn default() -> Self {
        RadicaleOptions {
            users: 2,
            create_collections: true,
            admin: false,
        }
    }
}

/// A running private Radicale (fsync disabled); killed on [`Radicale::stop`] or drop.
pub struct Radicale {
    /// The instance directory (configuration, users, collections, log).
    pub dir: PathBuf,
    /// The host to connect to (loopback).
    pub host: String,
    /// The port it listens on.
    pub port: u16,
    tls: bool,
    process: Option<Supervised>,
    _tmp: tempfile::TempDir,
}

/// Runs Radicale's own entry point with `os.fsync` stubbed out: an fsync per stored item
/// made bulk imports take minutes, and a throw-away test server needs no durability.
/// (Radicale's `_filesystem_fsync` switch is internal and refused in config files.)
const LAUNCHER: &str = "import os, sys\n\
os.fsync = lambda fd: None\n\
sys.argv = ['radicale'] + sys.argv[1:]\n\
from radicale.__main__ import run\n\
run()\n";

/// The command that runs Radicale: `python3` with the no-fsync launcher when the module
/// imports (Debian's python3-radicale or pip), else the `radicale` binary as is.
fn radicale_command() -> Option<Command> {
    let importable = Command::new("python3")
        .args(["-c", "import radicale.__main__"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if importable {
        let mut c = Command::new("python3");
        c.args(["-c", LAUNCHER]);
        return Some(c);
    }
    if Path::new("/usr/bin/radicale").exists() {
        return Some(Command::new("/usr/bin/radicale"));
    }
    let on_path = std::env::var_os("PATH").into_iter().find_map(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("radicale"))
            .find(|f| f.exists())
    });
    on_path.map(Command::new)
}

/// Checks that Radicale is installed; the error tells how to get it.
pub fn ensure_radicale() -> Result<(), String> {
    radicale_command().map(|_| ()).ok_or_else(|| {
        "cannot find Radicale (/usr/bin/radicale): run scripts/test.sh which installs it \
         (apt-get install radicale, or pip install radicale)"
            .to_string()
    })
}

impl Radicale {
    /// Starts Radicale in a fresh temp dir on a random port and waits until it accepts.
    pub fn start(opts: RadicaleOptions) -> io::Result<Radicale> {
        Radicale::start_with(opts, false)
    }

    /// [`Radicale::start`] speaking HTTPS only, with a self-signed certificate for
    /// `localhost` / `127.0.0.1` (a client must accept it: `--insecure-tls`).
    pub fn start_tls(opts: RadicaleOptions) -> io::Result<Radicale> {
        Radicale::start_with(opts, true)
    }

    fn start_with(opts: RadicaleOptions, tls: bool) -> io::Result<Radicale> {
        ensure_radicale().map_err(io::Error::other)?;
        let tmp = tempfile::Builder::new()
            .prefix("passeur-radicale-")
            .tempdir()?;
        let dir = tmp.path().to_path_buf();
        let mut users = String::new();
        for n in 1..=opts.users {
            let _ = writeln!(users, "user{n}:pass{n}");
        }
        if opts.admin {
            users.push_str("admin:adminpass\n");
        }
        std::fs::write(dir.join("users"), users)?;
        let rights = if opts.admin {
            std::fs::write(
                dir.join("rights"),
                "[admin]\nuser: admin\ncollection: .*\npermissions: RrWw\n\n\
                 [root]\nuser: .+\ncollection:\npermissions: R\n\n\
                 [principal]\nuser: .+\ncollection: {user}\npermissions: RW\n\n\
                 [calendars]\nuser: .+\ncollection: {user}/[^/]+\npermissions: rw\n",
            )?;
            format!("type = from_file\nfile = {}/rights", dir.display())
        } else {
            "type = owner_only".to_owned()
        };
        let root = dir.join("collections").join("collection-root");
        std::fs::create_dir_all(&root)?;
        if opts.create_collections {
            for n in 1..=opts.users {
                let home = root.join(format!("user{n}"));
                for (name, tag) in [("calendar", "VCALENDAR"), ("contacts", "VADDRESSBOOK")] {
                    let c = home.join(name);
                    std::fs::create_dir_all(&c)?;
                    std::fs::write(c.join(".Radicale.props"), format!("{{\"tag\": \"{tag}\"}}"))?;
                }
            }
        }

        let ssl = if tls {
            crate::dovecot::write_cert(&dir.join("ssl"))?;
            format!(
                "ssl = True\ncertificate = {d}/ssl/cert.pem\nkey = {d}/ssl/key.pem\n",
                d = dir.display()
            )
        } else {
            String::new()
        };
        let mut last_err = None;
        for _attempt in 0..6 {
            let port = proc::free_port()?;
            let conf = format!(
                "[server]\nhosts = 127.0.0.1:{port}\n{ssl}\
                 [auth]\ntype = htpasswd\nhtpasswd_filename = {d}/users\nhtpasswd_encryption = plain\ndelay = 0\n\
                 [storage]\nfilesystem_folder = {d}/collections\n\
                 [rights]\n{rights}\n\
                 [web]\ntype = none\n\
                 [logging]\nlevel = warning\n",
                d = dir.display()
            );
            std::fs::write(dir.join("config"), conf)?;
            let log = std::fs::File::create(dir.join("radicale.log"))?;
            let Some(mut cmd) = radicale_command() else {
                return Err(io::Error::other("cannot find Radicale"));
            };
            cmd.arg("--config")
                .arg(dir.join("config"))
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log);
            let mut p = Supervised::spawn(cmd)?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            match proc::wait_ready(addr, None, &mut p, Duration::from_secs(30)) {
                Ok(()) => {
                    return Ok(Radicale {
                        dir,
                        host: "127.0.0.1".into(),
                        port,
                        tls,
                        process: Some(p),
                        _tmp: tmp,
                    });
                }
                Err(e) => {
                    p.stop();
                    let log = std::fs::read_to_string(dir.join("radicale.log")).unwrap_or_default();
                    let busy = log.contains("in use");
                    last_err = Some(io::Error::other(format!("{e}; radicale.log:\n{log}")));
                    if !busy {
                        break;
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("cannot start Radicale")))
    }

    /// `http://127.0.0.1:PORT` (`https://` for [`Radicale::start_tls`]).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    /// `("user2", "pass2")`.
    pub fn user(&self, n: u32) -> (String, String) {
        (format!("user{n}"), format!("pass{n}"))
    }

    /// URL of the pre-created calendar of user N (`.../userN/calendar/`).
    pub fn calendar_url(&self, n: u32) -> String {
        format!("{}/user{n}/calendar/", self.url())
    }

    /// URL of the pre-created address book of user N (`.../userN/contacts/`).
    pub fn contacts_url(&self, n: u32) -> String {
        format!("{}/user{n}/contacts/", self.url())
    }

    /// Radicale's stdout/stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("radicale.log")).unwrap_or_default()
    }

    /// Kills the server and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }
}

impl Drop for Radicale {
    fn drop(&mut self) {
        self.stop();
    }
}
