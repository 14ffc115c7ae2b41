//! A private Cyrus IMAP 3.6 instance per test.
//!
//! `cyrus-imapd` cannot be installed beside Dovecot (it conflicts with dovecot-imapd), so its
//! `imapd` comes from the package unpacked into a private root ([`crate::debroot`]); the master
//! process, the database tools and the SASL libraries come from `cyrus-common` and
//! `sasl2-bin`, which install without conflict. Needs root: the master drops to user `cyrus`.
//! Users live in a private sasldb; the layout is `altnamespace` with separator `/`
//! (`INBOX`, `Sent`, `Archive/2019`...), and `INBOX`, `Sent`, `Drafts`, `Trash` and `Junk`
//! (with their special-use attributes) are created at a user's first login.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::proc::{self, Supervised};

const CYRMASTER: &str = "/usr/sbin/cyrmaster";
const CTL_CYRUSDB: &str = "/usr/lib/cyrus/bin/ctl_cyrusdb";
const SASLPASSWD: &str = "/usr/sbin/saslpasswd2";
/// The packages unpacked privately (never installed).
const PACKAGES: &[&str] = &["cyrus-imapd"];

/// A running private Cyrus. Stopped on [`Cyrus::stop`] or drop.
pub struct Cyrus {
    /// Instance directory: `imapd.conf`, `cyrus.conf`, `sasldb2`, `conf/`, `spool/`.
    pub dir: PathBuf,
    /// The host to connect to (loopback).
    pub host: String,
    /// The IMAP port.
    pub imap_port: u16,
    /// Users `user1..userN` with passwords `pass1..passN`.
    pub users: u32,
    /// A Cyrus administrator (and proxy-authorisation user): `admin` / `adminpass`.
    pub admin_user: String,
    /// The administrator's password.
    pub admin_password: String,
    process: Option<Supervised>,
    _tmp: tempfile::TempDir,
}

/// Checks what Cyrus needs and unpacks its `imapd` (first use only); the error tells what to
/// install. Returns the private root.
pub fn ensure_cyrus() -> Result<PathBuf, String> {
    let missing: Vec<&str> = [CYRMASTER, CTL_CYRUSDB, SASLPASSWD]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "cannot find {}: run scripts/test.sh which installs them \
             (apt-get install cyrus-common sasl2-bin; never cyrus-imapd, which removes Dovecot)",
            missing.join(", ")
        ));
    }
    if cyrus_ids().is_none() {
        return Err("cannot find the user `cyrus`: reinstall cyrus-common".into());
    }
    let root = crate::debroot::unpacked("cyrus-imapd-root", PACKAGES)
        .map_err(|e| format!("cannot unpack cyrus-imapd: {e}"))?;
    if !root.join("usr/lib/cyrus/bin/imapd").exists() {
        return Err(format!(
            "cannot find imapd in the unpacked cyrus-imapd under {}",
            root.display()
        ));
    }
    Ok(root)
}

/// uid and gid of the user `cyrus` (from cyrus-common).
fn cyrus_ids() -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "cyrus"]).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .flatten()
    };
    Some((id("-u")?, id("-g")?))
}

impl Cyrus {
    /// Starts an instance with `users` users in a fresh temp dir, waits until IMAP answers.
    pub fn start(users: u32) -> io::Result<Cyrus> {
        let root = ensure_cyrus().map_err(io::Error::other)?;
        let (uid, gid) = cyrus_ids().ok_or_else(|| io::Error::other("no user cyrus"))?;
        let tmp = tempfile::Builder::new()
            .prefix("passeur-cyrus-")
            .tempdir()?;
        let dir = tmp.path().to_path_buf();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        for sub in ["conf", "spool", "run", "sock"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let sasldb = dir.join("sasldb2");
        let mut accounts: Vec<(String, String)> = (1..=users)
            .map(|n| (format!("user{n}"), format!("pass{n}")))
            .collect();
        accounts.push(("admin".into(), "adminpass".into()));
        for (user, pass) in &accounts {
            let mut child = Command::new(SASLPASSWD)
                .arg("-c")
                .arg("-p")
                .arg("-f")
                .arg(&sasldb)
                .args(["-u", "localhost", user])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()?;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(pass.as_bytes())?;
            }
            let out = child.wait_with_output()?;
            if !out.status.success() {
                return Err(io::Error::other(format!(
                    "cannot add {user} to the sasldb: {}",
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
        }
        proc::chown_recursive(&dir, uid, gid)?;

        let mut cy = Cyrus {
            dir: dir.clone(),
            host: "127.0.0.1".into(),
            imap_port: 0,
            users,
            admin_user: "admin".into(),
            admin_password: "adminpass".into(),
            process: None,
            _tmp: tmp,
        };
        std::fs::write(dir.join("imapd.conf"), imapd_conf(&dir))?;
        let mut last = None;
        for _attempt in 0..4 {
            cy.imap_port = proc::free_port()?;
            let imapd = root.join("usr/lib/cyrus/bin/imapd");
            std::fs::write(
                dir.join("cyrus.conf"),
                cyrus_conf(&dir, &imapd, cy.imap_port),
            )?;
            let mut cmd = Command::new(CYRMASTER);
            cmd.arg("-C")
                .arg(dir.join("imapd.conf"))
                .arg("-M")
                .arg(dir.join("cyrus.conf"))
                .arg("-D")
                .arg("-p")
                .arg(dir.join("run/master.pid"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut p = Supervised::spawn(cmd)?;
            let addr = SocketAddr::from(([127, 0, 0, 1], cy.imap_port));
            match proc::wait_ready(addr, Some(b"* OK"), &mut p, Duration::from_secs(20)) {
                Ok(()) => {
                    cy.process = Some(p);
                    return Ok(cy);
                }
                Err(e) => {
                    // Cyrus logs to syslog only: a taken port and a config error look alike.
                    p.stop();
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("cannot start Cyrus")))
    }

    /// `("user3", "pass3")`.
    pub fn user(&self, n: u32) -> (String, String) {
        (format!("user{n}"), format!("pass{n}"))
    }

    /// `host:port` of the IMAP listener.
    pub fn imap_addr(&self) -> String {
        format!("{}:{}", self.host, self.imap_port)
    }

    /// A logged-in [`crate::imapwire::Client`] for user N.
    pub fn login(&self, n: u32) -> io::Result<crate::imapwire::Client> {
        let (user, pass) = self.user(n);
        crate::imapwire::Client::login(&self.imap_addr(), &user, &pass)
    }

    /// Stops the server and waits for its processes. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }
}

impl Drop for Cyrus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `munge8bit: no`: by default Cyrus replaces 8-bit bytes in headers by `X` (a real server's
/// choice that no client can undo); the tests want to see what the client sent.
fn imapd_conf(dir: &Path) -> String {
    let d = dir.display();
    let mut c = String::new();
    let _ = writeln!(
        c,
        "# generated by passeur-testkit -- private test instance\n\
         configdirectory: {d}/conf\n\
         defaultpartition: default\n\
         partition-default: {d}/spool\n\
         proc_path: {d}/run/proc\n\
         mboxname_lockpath: {d}/run/lock\n\
         lmtpsocket: {d}/sock/lmtp\n\
         idlesocket: {d}/sock/idle\n\
         notifysocket: {d}/sock/notify\n\
         servername: localhost\n\
         admins: admin\n\
         proxyservers: admin\n\
         allowplaintext: yes\n\
         sasl_pwcheck_method: auxprop\n\
         sasl_auxprop_plugin: sasldb\n\
         sasl_sasldb_path: {d}/sasldb2\n\
         sasl_mech_list: PLAIN LOGIN\n\
         altnamespace: yes\n\
         unixhierarchysep: yes\n\
         virtdomains: off\n\
         autocreate_quota: 0\n\
         autocreate_post: yes\n\
         autocreate_inbox_folders: Sent|Drafts|Trash|Junk\n\
         xlist-sent: Sent\n\
         xlist-drafts: Drafts\n\
         xlist-trash: Trash\n\
         xlist-junk: Junk\n\
         maxlogins_per_user: 0\n\
         munge8bit: no\n\
         syslog_prefix: passeur-cyrus"
    );
    c
}

fn cyrus_conf(dir: &Path, imapd: &Path, port: u16) -> String {
    let conf = dir.join("imapd.conf");
    format!(
        "START {{\n  recover cmd=\"{CTL_CYRUSDB} -C {conf} -r\"\n}}\n\
         SERVICES {{\n  imap cmd=\"{imapd} -C {conf}\" listen=\"127.0.0.1:{port}\" prefork=0 maxchild=200\n}}\n\
         EVENTS {{\n}}\n",
        conf = conf.display(),
        imapd = imapd.display(),
    )
}
