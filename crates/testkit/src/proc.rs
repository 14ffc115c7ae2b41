//! Process and port plumbing shared by the server starters.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port that was free a moment ago on 127.0.0.1 (bind to port 0, read it, release it).
/// Another process may take it before we use it: callers retry on "address in use".
pub(crate) fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Several distinct free ports at once (kept bound together so they differ).
pub(crate) fn free_ports(n: usize) -> io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// The effective uid/gid of this process, read from a directory it just created.
pub(crate) fn owner_of(path: &Path) -> io::Result<(u32, u32)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.uid(), meta.gid()))
}

/// `chown -R` without following symlinks.
pub(crate) fn chown_recursive(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_recursive(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

pub(crate) fn user_and_group_names() -> io::Result<(String, String)> {
    let run = |arg: &str| -> io::Result<String> {
        let out = Command::new("id").arg(arg).output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!("cannot run `id {arg}`")));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    Ok((run("-un")?, run("-gn")?))
}

/// Sends a signal by number through `kill(1)` (the workspace forbids `unsafe`, so no libc).
pub(crate) fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A server child process plus a watchdog that terminates it if this process dies
/// without running destructors (a test killed by a timeout, a panic with abort...).
pub(crate) struct Supervised {
    child: Option<Child>,
    watchdog: Option<Child>,
    /// The signal [`Supervised::stop`] sends first.
    stop_signal: &'static str,
}

impl Supervised {
    pub(crate) fn spawn(cmd: Command) -> io::Result<Supervised> {
        Supervised::spawn_stopped_by(cmd, "TERM")
    }

    /// Like [`Supervised::spawn`], stopping the child with `signal` (e.g. `KILL` for
    /// `unshare --fork`, which ignores SIGTERM, and whose death takes its PID namespace along).
    pub(crate) fn spawn_stopped_by(
        mut cmd: Command,
        stop_signal: &'static str,
    ) -> io::Result<Supervised> {
        let child = cmd.spawn()?;
        let script = format!(
            "while kill -0 {me} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             kill -{stop_signal} {pid} 2>/dev/null; sleep 3; kill -KILL {pid} 2>/dev/null; exit 0",
            me = std::process::id(),
            pid = child.id()
        );
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut me = Supervised {
            child: Some(child),
            watchdog: None,
            stop_signal,
        };
        match watchdog {
            Ok(w) => me.watchdog = Some(w),
            Err(e) => {
                me.stop();
                return Err(e);
            }
        }
        Ok(me)
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `Some(status)` once the child has exited.
    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// The stop signal (SIGTERM), wait up to 10 s, then SIGKILL; reaps the child and the
    /// watchdog.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if child.try_wait().ok().flatten().is_none() {
                signal(child.id(), self.stop_signal);
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    if child.try_wait().ok().flatten().is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `addr` accepts a TCP connection and, if `greeting` is given, the server's
/// first bytes start with it. Fails early if `proc` exits.
pub(crate) fn wait_ready(
    addr: SocketAddr,
    greeting: Option<&[u8]>,
    proc: &mut Supervised,
    timeout: Duration,
) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = proc.exited() {
            return Err(io::Error::other(format!(
                "cannot start server: it exited with {status}"
            )));
        }
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            let Some(expect) = greeting else {
                return Ok(());
            };
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            let mut buf = vec![0u8; expect.len()];
            if s.read_exact(&mut buf).is_ok() && buf == expect {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("cannot start server: {addr} not ready after {timeout:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}
