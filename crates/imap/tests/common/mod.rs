//! A tiny private Dovecot for these tests (until passeur-testkit lands):
//! temp dir, random loopback ports, passwd-file users `user1..userN`
//! (`pass1..`), master user `admin`/`masterpass`, self-signed TLS,
//! imap_zlib, optional extra config.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use passeur_imap::{Client, ConnectConfig, Security};

pub struct Dovecot {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub tls_port: u16,
    conf: PathBuf,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run a helper command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Dovecot {
    pub fn start(users: u32, extra: &str) -> Dovecot {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::Builder::new()
            .prefix("passeur-imap-dovecot-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        for sub in ["run", "state", "ssl", "mail"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        run(Command::new("chmod").arg("755").arg(d));
        run(Command::new("chown").arg("65534:65534").arg(d.join("mail")));
        run(Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
            .args(["-subj", "/CN=localhost", "-days", "2", "-keyout"])
            .arg(d.join("ssl/key.pem"))
            .arg("-out")
            .arg(d.join("ssl/cert.pem")));
        let mut users_file = String::new();
        for i in 1..=users {
            users_file.push_str(&format!("user{i}:{{PLAIN}}pass{i}\n"));
        }
        std::fs::write(d.join("users.passwd"), users_file).expect("write users");
        std::fs::write(d.join("master.passwd"), "admin:{PLAIN}masterpass\n").expect("write master");
        let port = free_port();
        let tls_port = free_port();
        let conf = d.join("dovecot.conf");
        std::fs::write(&conf, config(d, port, tls_port, extra)).expect("write config");
        // The daemon keeps inherited pipes open: give it none.
        let status = Command::new("/usr/sbin/dovecot")
            .arg("-c")
            .arg(&conf)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run dovecot");
        assert!(status.success(), "dovecot failed to start");
        let dc = Dovecot {
            dir,
            port,
            tls_port,
            conf,
        };
        dc.wait_listening();
        dc
    }

    fn wait_listening(&self) {
        let until = Instant::now() + Duration::from_secs(15);
        while Instant::now() < until {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default();
        panic!("dovecot did not start listening on {}: {log}", self.port);
    }

    pub fn config(&self, security: Security, insecure_tls: bool) -> ConnectConfig {
        let port = if security == Security::Tls {
            self.tls_port
        } else {
            self.port
        };
        let mut c = ConnectConfig::new("127.0.0.1", port, security);
        c.insecure_tls = insecure_tls;
        c.connect_timeout = Duration::from_secs(10);
        c.io_timeout = Duration::from_secs(60);
        c
    }

    pub async fn login(&self, user: u32) -> Client {
        let mut c = Client::connect(&self.config(Security::Plain, false))
            .await
            .expect("connect");
        c.authenticate(None, &format!("user{user}"), &format!("pass{user}"))
            .await
            .expect("log in");
        c
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let pid_file = self.dir.path().join("run/master.pid");
        if let Ok(pid) = std::fs::read_to_string(&pid_file) {
            let _ = Command::new("kill").arg(pid.trim()).status();
            // Let the master remove its processes before the dir goes.
            let until = Instant::now() + Duration::from_secs(5);
            while pid_file.exists() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn config(d: &Path, port: u16, tls_port: u16, extra: &str) -> String {
    let d = d.display();
    format!(
        r#"instance_name = passeur-imap-test-{port}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{d}/ssl/cert.pem
ssl_key = <{d}/ssl/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_master_user_separator = *
default_login_user = dovenull
default_internal_user = dovecot
default_internal_group = dovecot
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
mail_fsync = never
imap_max_line_length = 1M
{extra}
passdb {{
  driver = passwd-file
  args = {d}/master.passwd
  master = yes
  result_success = continue
}}
passdb {{
  driver = passwd-file
  args = {d}/users.passwd
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={d}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  prefix =
  mailbox Drafts {{
    special_use = \Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \Junk
    auto = subscribe
  }}
  mailbox Archive {{
    special_use = \Archive
  }}
}}
protocol imap {{
  mail_plugins = $mail_plugins imap_zlib
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service doveadm {{
  inet_listener {{
    port = 0
  }}
}}
"#
    )
}
