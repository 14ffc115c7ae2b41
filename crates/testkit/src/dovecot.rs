//! A private Dovecot 2.3 instance per test.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::proc::{self, Supervised};

const DOVECOT: &str = "/usr/sbin/dovecot";
/// uid/gid the mail processes run as when we are root (Dovecot refuses uid 0).
const NOBODY: u32 = 65534;

/// How to configure a [`Dovecot`] instance. `Default` gives 4 users, separator `/`,
/// no IMAPS, COMPRESS on, default fsync, no quota, no POP3.
#[derive(Debug, Clone)]
pub struct DovecotOptions {
    /// Users `user1..userN` with passwords `pass1..passN`.
    pub users: u32,
    /// The IMAP hierarchy separator (ignored when `inbox_prefix` is set).
    pub separator: char,
    /// Namespace prefix `INBOX.` with separator `.`, like Courier or Cyrus: folders
    /// are `INBOX.Sent`, `INBOX.Archive.2019`...
    pub inbox_prefix: bool,
    /// Also an implicit-TLS listener (self-signed cert). STARTTLS is always offered.
    pub tls: bool,
    /// Load `imap_zlib` (COMPRESS=DEFLATE).
    pub compress: bool,
    /// `mail_fsync = never` (fast destination for benchmarks).
    pub fsync_never: bool,
    /// Per-user storage quota in bytes (quota plugin; APPEND fails with `[OVERQUOTA]`).
    pub quota_bytes: Option<u64>,
    /// Raw configuration lines appended at the end of `dovecot.conf`.
    pub extra_config: Vec<String>,
    /// Also a POP3 listener.
    pub pop3: bool,
    /// The special-use folders as (name, attribute), e.g. `("Sent Items", "\\Sent")`;
    /// `None`: Drafts, Sent, Trash, Junk and Archive.
    pub special_folders: Option<Vec<(String, String)>>,
    /// Also OAuth 2.0 logins (SASL OAUTHBEARER and XOAUTH2): the `oauth2` passdb checks each
    /// token at this introspection endpoint (RFC 7662, `introspection_mode = post`), e.g.
    /// [`crate::TokenServer::introspection_url`]. Passwords keep working.
    pub oauth2_introspection: Option<String>,
}

impl Default for DovecotOptions {
    fn default() -> Self {
        DovecotOptions {
            users: 4,
            separator: '/',
            inbox_prefix: false,
            tls: false,
            compress: true,
            fsync_never: false,
            quota_bytes: None,
            extra_config: Vec::new(),
            pop3: false,
            special_folders: None,
            oauth2_introspection: None,
        }
    }
}

/// A running private Dovecot. Stopped (and its processes reaped) by [`Dovecot::stop`] or on drop.
pub struct Dovecot {
    /// Instance directory: `dovecot.conf`, `dovecot.log`, `mail/<user>/Maildir`, `ssl/`.
    pub dir: PathBuf,
    /// The host to connect to (loopback).
    pub host: String,
    /// The plain IMAP port (STARTTLS too when TLS is on).
    pub imap_port: u16,
    /// The implicit-TLS IMAP port, when TLS is on.
    pub imaps_port: Option<u16>,
    /// The POP3 port, when POP3 is on.
    pub pop3_port: Option<u16>,
    /// Implicit-TLS POP3 (with `pop3` and `tls`).
    pub pop3s_port: Option<u16>,
    /// The master user (`admin`), who may log in as any user (`user1*admin`, or SASL PLAIN
    /// with an authzid).
    pub master_user: String,
    /// The master user's password.
    pub master_password: String,
    /// The options it was started with.
    pub options: DovecotOptions,
    process: Option<Supervised>,
    /// Mail owner (65534 when root, else ourselves).
    mail_owner: (u32, u32),
    _tmp: Option<tempfile::TempDir>,
}

/// Checks that Dovecot is installed; the error tells how to get it.
pub fn ensure_dovecot() -> Result<(), String> {
    if Path::new(DOVECOT).exists() && Path::new("/usr/lib/dovecot/imap").exists() {
        Ok(())
    } else {
        Err(format!(
            "cannot find Dovecot ({DOVECOT}, /usr/lib/dovecot/imap): \
             run scripts/test.sh which installs it (apt-get install dovecot-imapd dovecot-pop3d)"
        ))
    }
}

impl Dovecot {
    /// Starts an instance in a fresh temp dir, waits until IMAP answers.
    pub fn start(opts: DovecotOptions) -> io::Result<Dovecot> {
        ensure_dovecot().map_err(io::Error::other)?;
        let tmp = tempfile::Builder::new()
            .prefix("passeur-dovecot-")
            .tempdir()?;
        let dir = tmp.path().to_path_buf();
        let mut dc = Dovecot::start_in(&dir, opts)?;
        dc._tmp = Some(tmp);
        Ok(dc)
    }

    /// Starts an instance in `dir` (created if missing, kept afterwards). Existing mail is
    /// kept; configuration and users are regenerated.
    pub fn start_in(dir: &Path, opts: DovecotOptions) -> io::Result<Dovecot> {
        ensure_dovecot().map_err(io::Error::other)?;
        std::fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        // The login and auth processes run as dovenull/dovecot and must traverse it.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        let me = proc::owner_of(&dir)?;
        let root = me.0 == 0;
        let mail_owner = if root { (NOBODY, NOBODY) } else { me };

        let mail = dir.join("mail");
        std::fs::create_dir_all(&mail)?;
        proc::chown_recursive(&mail, mail_owner.0, mail_owner.1)?;
        for sub in ["run", "state"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        write_cert(&dir.join("ssl"))?;

        let mut users = String::new();
        for n in 1..=opts.users {
            let _ = writeln!(users, "user{n}:{{PLAIN}}pass{n}");
        }
        write_file(&dir.join("users.passwd"), &users, 0o644)?;
        write_file(
            &dir.join("master.passwd"),
            "admin:{PLAIN}masterpass\n",
            0o644,
        )?;

        let mut dc = Dovecot {
            dir: dir.clone(),
            host: "127.0.0.1".to_string(),
            imap_port: 0,
            imaps_port: None,
            pop3_port: None,
            pop3s_port: None,
            master_user: "admin".to_string(),
            master_password: "masterpass".to_string(),
            options: opts,
            process: None,
            mail_owner,
            _tmp: None,
        };

        let mut last_err = None;
        for _attempt in 0..6 {
            let ports = proc::free_ports(4)?;
            dc.imap_port = ports[0];
            dc.imaps_port = dc.options.tls.then_some(ports[1]);
            dc.pop3_port = dc.options.pop3.then_some(ports[2]);
            dc.pop3s_port = (dc.options.pop3 && dc.options.tls).then_some(ports[3]);
            let conf = dc.config(root)?;
            write_file(&dc.conf_path(), &conf, 0o644)?;
            let _ = std::fs::remove_file(dir.join("dovecot.log"));
            match dc.launch() {
                Ok(()) => return Ok(dc),
                Err(e) => {
                    let log = dc.log();
                    if let Some(mut p) = dc.process.take() {
                        p.stop();
                    }
                    let busy = log.contains("Address already in use");
                    last_err = Some(io::Error::other(format!("{e}; dovecot.log:\n{log}")));
                    if !busy {
                        break;
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("cannot start Dovecot")))
    }

    fn launch(&mut self) -> io::Result<()> {
        let mut cmd = Command::new(DOVECOT);
        cmd.arg("-F")
            .arg("-c")
            .arg(self.conf_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.process = Some(Supervised::spawn(cmd)?);
        let mut wait = |port: u16, greeting: &[u8]| -> io::Result<()> {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let p = self
                .process
                .as_mut()
                .ok_or_else(|| io::Error::other("cannot start Dovecot"))?;
            proc::wait_ready(addr, Some(greeting), p, Duration::from_secs(20))
        };
        wait(self.imap_port, b"* OK")?;
        if let Some(port) = self.pop3_port {
            wait(port, b"+OK")?;
        }
        if let Some(port) = self.imaps_port {
            // TLS: no greeting in clear; a TCP accept is enough once IMAP is up.
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let p = self
                .process
                .as_mut()
                .ok_or_else(|| io::Error::other("cannot start Dovecot"))?;
            proc::wait_ready(addr, None, p, Duration::from_secs(20))?;
        }
        Ok(())
    }

    /// The path of its `dovecot.conf`.
    pub fn conf_path(&self) -> PathBuf {
        self.dir.join("dovecot.conf")
    }

    /// `("user3", "pass3")`.
    pub fn user(&self, n: u32) -> (String, String) {
        (format!("user{n}"), format!("pass{n}"))
    }

    /// A logged-in [`crate::imapwire::Client`] for user N (plain IMAP).
    pub fn login(&self, n: u32) -> io::Result<crate::imapwire::Client> {
        let (user, pass) = self.user(n);
        crate::imapwire::Client::login(&self.imap_addr(), &user, &pass)
    }

    /// `host:port` of the plain IMAP listener.
    pub fn imap_addr(&self) -> String {
        format!("{}:{}", self.host, self.imap_port)
    }

    /// Home of `user` (`DIR/mail/<user>`).
    pub fn home(&self, user: &str) -> PathBuf {
        self.dir.join("mail").join(user)
    }

    /// The Maildir++ root of `user` (`DIR/mail/<user>/Maildir`); may not exist yet.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.home(user).join("Maildir")
    }

    /// The self-signed certificate (PEM) served on STARTTLS and IMAPS; CN/SAN `localhost`, `127.0.0.1`.
    pub fn cert_pem(&self) -> PathBuf {
        self.dir.join("ssl").join("cert.pem")
    }

    /// The current content of `dovecot.log` (empty if none).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
    }

    /// Runs `doveadm -c DIR/dovecot.conf ARGS...`.
    pub fn doveadm(&self, args: &[&str]) -> io::Result<Output> {
        Command::new("doveadm")
            .arg("-c")
            .arg(self.conf_path())
            .args(args)
            .stdin(Stdio::null())
            .output()
    }

    /// Like [`Dovecot::doveadm`] but fails unless the command succeeds.
    pub fn doveadm_ok(&self, args: &[&str]) -> io::Result<Output> {
        let out = self.doveadm(args)?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(io::Error::other(format!(
                "cannot run doveadm {}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    /// Gives the whole mail tree back to the mail owner (after writing files into it as root).
    pub fn fix_ownership(&self) -> io::Result<()> {
        proc::chown_recursive(&self.dir.join("mail"), self.mail_owner.0, self.mail_owner.1)
    }

    /// After writing Maildir files directly: fix ownership and make Dovecot rescan
    /// every folder of `user` (`doveadm force-resync -u user '*'`).
    pub fn resync(&self, user: &str) -> io::Result<()> {
        self.fix_ownership()?;
        self.doveadm_ok(&["force-resync", "-u", user, "*"])?;
        Ok(())
    }

    /// Writes a seeded corpus into `user`'s Maildir, gives it to the mail owner and makes
    /// Dovecot rescan it. `spec.inbox_prefix` is taken from this instance's options.
    pub fn write_corpus(
        &self,
        user: &str,
        spec: &crate::corpus::CorpusSpec,
    ) -> io::Result<crate::corpus::CorpusSummary> {
        let spec = crate::corpus::CorpusSpec {
            inbox_prefix: self.options.inbox_prefix,
            ..spec.clone()
        };
        let summary = crate::corpus::write_maildir(&self.maildir(user), &spec)?;
        self.resync(user)?;
        Ok(summary)
    }

    /// Stops the server and waits for its processes. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }

    /// The PID of the Dovecot master (while running).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(Supervised::pid)
    }

    fn config(&self, root: bool) -> io::Result<String> {
        let o = &self.options;
        let d = self.dir.display();
        let mut c = String::new();
        let (sep, prefix) = if o.inbox_prefix {
            ('.', "INBOX.")
        } else {
            (o.separator, "")
        };
        let protocols = if o.pop3 { "imap pop3" } else { "imap" };
        let _ = writeln!(
            c,
            "# generated by passeur-testkit -- private test instance\n\
             instance_name = passeur-{port}-{pid}\n\
             base_dir = {d}/run\n\
             state_dir = {d}/state\n\
             log_path = {d}/dovecot.log\n\
             info_log_path = {d}/dovecot.log\n\
             protocols = {protocols}\n\
             listen = 127.0.0.1\n\
             ssl = yes\n\
             ssl_cert = <{d}/ssl/cert.pem\n\
             ssl_key = <{d}/ssl/key.pem\n\
             disable_plaintext_auth = no\n\
             auth_mechanisms = plain login{oauth_mechs}\n\
             auth_master_user_separator = *\n\
             mail_location = maildir:~/Maildir\n\
             mail_max_userip_connections = 200\n\
             default_process_limit = 500\n\
             default_client_limit = 2000\n\
             imap_max_line_length = 1M\n\
             pop3_uidl_format = %08Xu%08Xv",
            port = self.imap_port,
            pid = std::process::id(),
            oauth_mechs = if o.oauth2_introspection.is_some() {
                " oauthbearer xoauth2"
            } else {
                ""
            },
        );
        let (uid, gid) = self.mail_owner;
        if root {
            c.push_str(
                "default_login_user = dovenull\n\
                 default_internal_user = dovecot\n\
                 default_internal_group = dovecot\n\
                 first_valid_uid = 0\nfirst_valid_gid = 0\n",
            );
        } else {
            let (user, group) = proc::user_and_group_names()?;
            let _ = writeln!(
                c,
                "default_login_user = {user}\n\
                 default_internal_user = {user}\n\
                 default_internal_group = {group}\n\
                 first_valid_uid = {uid}\nfirst_valid_gid = {gid}\n\
                 service anvil {{\n  chroot =\n}}\n\
                 service imap-login {{\n  chroot =\n}}\n\
                 service pop3-login {{\n  chroot =\n}}\n\
                 service auth {{\n  user = $default_internal_user\n}}\n\
                 service auth-worker {{\n  user = $default_internal_user\n}}"
            );
        }
        if let Some(url) = &o.oauth2_introspection {
            write_file(
                &self.dir.join("dovecot-oauth2.conf.ext"),
                &format!(
                    "introspection_mode = post\n\
                     introspection_url = {url}\n\
                     force_introspection = yes\n\
                     username_attribute = username\n\
                     active_attribute = active\n\
                     active_value = true\n"
                ),
                0o644,
            )?;
            let _ = writeln!(
                c,
                "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {d}/dovecot-oauth2.conf.ext\n}}"
            );
        }
        let _ = writeln!(
            c,
            "passdb {{\n  driver = passwd-file\n  args = {d}/master.passwd\n  master = yes\n  result_success = continue\n}}\n\
             passdb {{\n  driver = passwd-file\n  args = {d}/users.passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={d}/mail/%u\n}}"
        );
        let specials: Vec<(String, String, bool)> = match &o.special_folders {
            Some(list) => list
                .iter()
                .map(|(n, a)| (n.clone(), a.clone(), true))
                .collect(),
            None => [
                ("Drafts", "\\Drafts", true),
                ("Sent", "\\Sent", true),
                ("Trash", "\\Trash", true),
                ("Junk", "\\Junk", true),
                ("Archive", "\\Archive", false),
            ]
            .iter()
            .map(|(n, a, auto)| ((*n).to_owned(), (*a).to_owned(), *auto))
            .collect(),
        };
        let _ = writeln!(
            c,
            "namespace inbox {{\n  inbox = yes\n  separator = {sep}\n  prefix = {prefix}"
        );
        for (name, attr, auto) in specials {
            let auto = if auto { "\n    auto = subscribe" } else { "" };
            let _ = writeln!(
                c,
                "  mailbox \"{name}\" {{\n    special_use = {attr}{auto}\n  }}"
            );
        }
        c.push_str("}\n");
        let mut imap_plugins = String::new();
        if o.compress {
            imap_plugins.push_str(" imap_zlib");
        }
        if let Some(bytes) = o.quota_bytes {
            imap_plugins.push_str(" imap_quota");
            let _ = writeln!(
                c,
                "mail_plugins = $mail_plugins quota\n\
                 plugin {{\n  quota = maildir:User quota\n  quota_rule = *:storage={bytes}B\n}}"
            );
        }
        if o.fsync_never {
            c.push_str("mail_fsync = never\n");
        }
        let _ = writeln!(
            c,
            "protocol imap {{\n  mail_plugins = $mail_plugins{imap_plugins}\n}}"
        );
        let imaps = self.imaps_port.unwrap_or(0);
        let _ = writeln!(
            c,
            "service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {}\n  }}\n\
             \x20 inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps}\n  }}\n}}",
            self.imap_port
        );
        if let Some(pop3) = self.pop3_port {
            let pop3s = self.pop3s_port.unwrap_or(0);
            let _ = writeln!(
                c,
                "service pop3-login {{\n  inet_listener pop3 {{\n    address = 127.0.0.1\n    port = {pop3}\n  }}\n\
                 \x20 inet_listener pop3s {{\n    address = 127.0.0.1\n    port = {pop3s}\n  }}\n}}"
            );
        }
        c.push_str("service doveadm {\n  inet_listener {\n    port = 0\n  }\n}\n");
        if !o.extra_config.is_empty() {
            c.push_str("# extra settings\n");
            for line in &o.extra_config {
                c.push_str(line);
                c.push('\n');
            }
        }
        Ok(c)
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write_file(path: &Path, content: &str, mode: u32) -> io::Result<()> {
    std::fs::write(path, content)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// A self-signed P-256 certificate for `localhost` / `127.0.0.1` (openssl CLI).
pub(crate) fn write_cert(ssl: &Path) -> io::Result<()> {
    let cert = ssl.join("cert.pem");
    let key = ssl.join("key.pem");
    if cert.exists() && key.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(ssl)?;
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "cannot create a self-signed certificate with openssl: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
    std::fs::set_permissions(&cert, std::fs::Permissions::from_mode(0o644))
}
