//! A private DNS server (Debian's `dnsmasq`) on a random loopback port, answering only the
//! records a test gives it: SRV and TXT records for RFC 6764 and RFC 6186 discovery, MX records.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::proc::{self, Supervised};

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// One SRV record: name (`_caldav._tcp.example.test`), target, port, priority, weight.
#[derive(Debug, Clone)]
pub struct Srv {
    /// The record's owner name.
    pub name: String,
    /// The host it points to.
    pub target: String,
    /// The service's port.
    pub port: u16,
    /// Lower is tried first.
    pub priority: u16,
    /// Share among records of the same priority.
    pub weight: u16,
}

/// A running dnsmasq; stopped on drop.
pub struct Dnsmasq {
    /// The UDP port dnsmasq answers DNS on (loopback).
    pub port: u16,
    process: Option<Supervised>,
    _tmp: tempfile::TempDir,
}

/// Checks that dnsmasq is installed; the error tells how to get it.
pub fn ensure_dnsmasq() -> Result<(), String> {
    if Path::new(DNSMASQ).exists() {
        Ok(())
    } else {
        Err(format!(
            "cannot find dnsmasq ({DNSMASQ}): run scripts/test.sh which installs it (apt-get install dnsmasq-base)"
        ))
    }
}

impl Dnsmasq {
    /// Starts dnsmasq serving `srv` records and `txt` records (name, text), nothing else (no
    /// upstream, no /etc/hosts).
    pub fn start(srv: &[Srv], txt: &[(String, String)]) -> io::Result<Dnsmasq> {
        Dnsmasq::start_with(srv, txt, &[])
    }

    /// [`Dnsmasq::start`] with MX records too: (domain, mail exchanger, preference).
    pub fn start_with(
        srv: &[Srv],
        txt: &[(String, String)],
        mx: &[(String, String, u16)],
    ) -> io::Result<Dnsmasq> {
        Dnsmasq::start_with_hosts(srv, txt, mx, &[])
    }

    /// [`Dnsmasq::start_with`] with address records too: (host name, IPv4 address).
    pub fn start_with_hosts(
        srv: &[Srv],
        txt: &[(String, String)],
        mx: &[(String, String, u16)],
        hosts: &[(String, std::net::Ipv4Addr)],
    ) -> io::Result<Dnsmasq> {
        ensure_dnsmasq().map_err(io::Error::other)?;
        let tmp = tempfile::Builder::new().prefix("passeur-dns-").tempdir()?;
        let mut last_err = None;
        for _attempt in 0..6 {
            let port = proc::free_port()?;
            let log = std::fs::File::create(tmp.path().join("dnsmasq.log"))?;
            let mut cmd = Command::new(DNSMASQ);
            cmd.args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--log-facility=-",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--pid-file={}", tmp.path().join("pid").display()));
            // As root, dnsmasq would switch to user "nobody"; the files here are root's.
            if proc::owner_of(tmp.path())?.0 == 0 {
                cmd.arg("--user=root");
            }
            for r in srv {
                cmd.arg(format!(
                    "--srv-host={},{},{},{},{}",
                    r.name, r.target, r.port, r.priority, r.weight
                ));
            }
            for (name, text) in txt {
                cmd.arg(format!("--txt-record={name},{text}"));
            }
            for (name, host, pref) in mx {
                cmd.arg(format!("--mx-host={name},{host},{pref}"));
            }
            for (name, ip) in hosts {
                cmd.arg(format!("--host-record={name},{ip}"));
            }
            cmd.stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log);
            let mut p = Supervised::spawn(cmd)?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            match proc::wait_ready(addr, None, &mut p, Duration::from_secs(10)) {
                Ok(()) => {
                    return Ok(Dnsmasq {
                        port,
                        process: Some(p),
                        _tmp: tmp,
                    });
                }
                Err(e) => {
                    p.stop();
                    let log =
                        std::fs::read_to_string(tmp.path().join("dnsmasq.log")).unwrap_or_default();
                    last_err = Some(io::Error::other(format!("{e}; dnsmasq.log:\n{log}")));
                }
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("cannot start dnsmasq")))
    }

    /// `127.0.0.1:PORT`, the form `PASSEUR_DNS` takes.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }
}
