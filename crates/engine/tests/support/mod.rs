//! Private DAV servers for the tests: Radicale 3 through `passeur_testkit::Radicale`
//! (htpasswd users user1/pass1 ... userN/passN, owner-only rights) and Xandikos (one
//! principal, no authentication, started here), each on a random loopback port in a
//! temporary directory, killed when dropped.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use passeur_dav::{DavClient, DavConfig};
use url::Url;

pub struct Server {
    child: Option<Child>,
    radicale: Option<passeur_testkit::Radicale>,
    pub url: Url,
    pub dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn wait_for(port: u16, child: &mut Child, log: &PathBuf) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "server exited with {st}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "server did not listen on port {port}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

impl Server {
    /// Radicale with `users` accounts and no collections yet.
    pub fn radicale(users: u32) -> Server {
        let r = passeur_testkit::Radicale::start(passeur_testkit::RadicaleOptions {
            users,
            create_collections: false,
            ..Default::default()
        })
        .expect("start radicale");
        Server {
            child: None,
            url: Url::parse(&format!("{}/", r.url().trim_end_matches('/'))).expect("url"),
            radicale: Some(r),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Xandikos serving one principal `user1` (no authentication), with a
    /// default calendar and address book.
    pub fn xandikos() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let log = dir.path().join("xandikos.log");
        let logf = std::fs::File::create(&log).expect("log");
        let mut child = Command::new("/usr/bin/xandikos")
            .arg("-d")
            .arg(dir.path().join("data"))
            .arg("-l")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(port.to_string())
            .arg("--current-user-principal")
            .arg("/user1")
            .arg("--defaults")
            .stdin(Stdio::null())
            .stdout(logf.try_clone().expect("log"))
            .stderr(logf)
            .spawn()
            .expect("start xandikos");
        wait_for(port, &mut child, &log);
        Server {
            child: Some(child),
            radicale: None,
            url: Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url"),
            dir,
        }
    }

    pub fn client(&self, user: &str, pass: &str) -> DavClient {
        DavClient::new(DavConfig::new(self.url.clone(), user, pass)).expect("client")
    }

    pub fn log(&self) -> String {
        let mut s = self.radicale.as_ref().map(|r| r.log()).unwrap_or_default();
        for f in ["radicale.log", "xandikos.log"] {
            s.push_str(&std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default());
        }
        s
    }
}
