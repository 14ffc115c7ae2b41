//! A private Courier-IMAP 5.0 instance per test.
//!
//! courier-imap cannot be installed beside Dovecot (it conflicts with dovecot-imapd and pulls in
//! an MTA), so it runs from Debian's packages unpacked into a private root
//! ([`crate::debroot`]). Its authentication library has compiled-in paths (`/etc/courier`,
//! `/run/courier/authdaemon/socket`, `/usr/lib/courier-authlib`), so authdaemond and couriertcpd
//! run in private mount and PID namespaces (`unshare -m -p -f`): read-only overlays put the
//! unpacked `/usr` and `/etc` over the host's, this instance's `etc/courier` is bound over
//! `/etc/courier`, `/run` is a private tmpfs. The host is untouched, and killing `unshare` ends
//! every process of the instance. `gam_server` (gamin) comes from the same root: without it
//! every login, SELECT and APPEND stalls for about 1.2 s. Needs root.
//!
//! The namespace is `INBOX.` with separator `.` (`INBOX.Sent`, `INBOX.Archive.2019`); there is
//! no master user, no LITERAL+ and no MULTIAPPEND.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::proc::{self, Supervised};

/// The packages unpacked privately (never installed).
const PACKAGES: &[&str] = &[
    "courier-imap",
    "courier-base",
    "courier-authlib",
    "courier-authlib-userdb",
    "libcourier-unicode4",
    "libltdl7",
    "libgamin0",
    "gamin",
];
/// Owner of the mail (Courier refuses to serve mail owned by root).
const NOBODY: u32 = 65534;

/// A running private Courier-IMAP. Stopped on [`Courier::stop`] or drop.
pub struct Courier {
    /// Instance directory: `etc/courier/`, `mail/<user>/Maildir`, `imapd.log`, `authdaemond.log`.
    pub dir: PathBuf,
    /// The host to connect to (loopback).
    pub host: String,
    /// The IMAP port.
    pub imap_port: u16,
    /// Users `user1..userN` with passwords `pass1..passN`.
    pub users: u32,
    process: Option<Supervised>,
    _tmp: tempfile::TempDir,
}

/// Checks what Courier needs and unpacks it (first use only); the error tells what to do.
/// Returns the private root.
pub fn ensure_courier() -> Result<PathBuf, String> {
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root_user {
        return Err("cannot run Courier-IMAP: its tests need root (mount namespaces)".into());
    }
    for tool in ["/usr/bin/unshare", "/usr/bin/openssl", "/usr/bin/perl"] {
        if !Path::new(tool).exists() {
            return Err(format!(
                "cannot find {tool}: run scripts/test.sh (apt-get install util-linux openssl perl)"
            ));
        }
    }
    let root = crate::debroot::unpacked("courier-imap-root", PACKAGES)
        .map_err(|e| format!("cannot unpack Courier-IMAP: {e}"))?;
    for needed in [
        "usr/sbin/couriertcpd",
        "usr/lib/courier/courier/imaplogin",
        "usr/bin/imapd",
        "usr/lib/courier/courier-authlib/authdaemond",
        "usr/libexec/gam_server",
        "etc/courier/imapd",
    ] {
        if !root.join(needed).exists() {
            return Err(format!(
                "cannot find {needed} in the unpacked Courier-IMAP under {}",
                root.display()
            ));
        }
    }
    Ok(root)
}

impl Courier {
    /// Starts an instance with `users` users in a fresh temp dir, waits until IMAP answers.
    pub fn start(users: u32) -> io::Result<Courier> {
        let root = ensure_courier().map_err(io::Error::other)?;
        let tmp = tempfile::Builder::new()
            .prefix("passeur-courier-")
            .tempdir()?;
        let dir = tmp.path().to_path_buf();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        let etc = dir.join("etc/courier");
        std::fs::create_dir_all(&etc)?;
        for entry in std::fs::read_dir(root.join("etc/courier"))? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), etc.join(entry.file_name()))?;
            }
        }
        std::fs::write(
            etc.join("authdaemonrc"),
            "authmodulelist=\"authuserdb\"\nauthmodulelistorig=\"authuserdb\"\ndaemons=4\n\
             authdaemonvar=/run/courier/authdaemon\nDEBUG_LOGIN=0\nDEFAULTOPTIONS=\"\"\n\
             LOGGEROPTS=\"\"\n",
        )?;
        let mut userdb = String::new();
        for n in 1..=users {
            let home = dir.join("mail").join(format!("user{n}"));
            let maildir = home.join("Maildir");
            for sub in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(maildir.join(sub))?;
            }
            let _ = writeln!(
                userdb,
                "user{n}\tuid={NOBODY}|gid={NOBODY}|home={}|mail={}|systempw={}",
                home.display(),
                maildir.display(),
                crypt_password(&format!("pass{n}"))?
            );
        }
        let db = etc.join("userdb");
        std::fs::write(&db, userdb)?;
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600))?;
        std::fs::create_dir_all(dir.join("mail"))?;
        proc::chown_recursive(&dir.join("mail"), NOBODY, NOBODY)?;

        let mut co = Courier {
            dir: dir.clone(),
            host: "127.0.0.1".into(),
            imap_port: 0,
            users,
            process: None,
            _tmp: tmp,
        };
        let mut last = None;
        for _attempt in 0..4 {
            co.imap_port = proc::free_port()?;
            let script = dir.join("launch.sh");
            std::fs::write(&script, launch_script(&root, &dir, co.imap_port))?;
            let mut cmd = Command::new("/usr/bin/unshare");
            cmd.args(["-m", "-p", "-f", "--kill-child", "/bin/sh"])
                .arg(&script)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // `unshare --fork` ignores SIGTERM; its death kills the namespace's init, and so all.
            let mut p = Supervised::spawn_stopped_by(cmd, "KILL")?;
            let addr = SocketAddr::from(([127, 0, 0, 1], co.imap_port));
            match proc::wait_ready(addr, Some(b"* OK"), &mut p, Duration::from_secs(20)) {
                Ok(()) => {
                    co.process = Some(p);
                    return Ok(co);
                }
                Err(e) => {
                    p.stop();
                    last = Some(io::Error::other(format!(
                        "{e}; launch.log:\n{}",
                        std::fs::read_to_string(dir.join("launch.log")).unwrap_or_default()
                    )));
                }
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("cannot start Courier-IMAP")))
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

    /// The IMAP server's log (logins, logouts, errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("imapd.log")).unwrap_or_default()
    }

    /// Stops the server and every process of its namespace. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }
}

impl Drop for Courier {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A SHA-512 crypt(3) hash, as userdb's `systempw` holds.
fn crypt_password(password: &str) -> io::Result<String> {
    let out = Command::new("openssl")
        .args(["passwd", "-6", password])
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(
            "cannot hash a password with openssl passwd",
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The script run as init of the private namespaces.
fn launch_script(root: &Path, dir: &Path, port: u16) -> String {
    let r = root.display();
    let d = dir.display();
    format!(
        "set -e\n\
         exec >>{d}/launch.log 2>&1\n\
         mount --make-rprivate /\n\
         mount -t overlay overlay -o lowerdir={r}/usr:/usr /usr\n\
         mount -t overlay overlay -o lowerdir={r}/etc:/etc /etc\n\
         mount --bind {d}/etc/courier /etc/courier\n\
         mount -t tmpfs tmpfs /run\n\
         mkdir -p /run/courier/authdaemon\n\
         /usr/sbin/makeuserdb\n\
         /usr/lib/courier/courier-authlib/authdaemond >>{d}/authdaemond.log 2>&1 &\n\
         i=0\n\
         while [ ! -S /run/courier/authdaemon/socket ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done\n\
         exec env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin /bin/sh -c 'set -a; . /etc/courier/imapd; \
         exec /usr/sbin/couriertcpd -address=127.0.0.1 -maxprocs=200 -maxperip=200 \
         -nodnslookup -noidentlookup {port} /usr/lib/courier/courier/imaplogin /usr/bin/imapd Maildir' \
         >>{d}/imapd.log 2>&1\n"
    )
}
