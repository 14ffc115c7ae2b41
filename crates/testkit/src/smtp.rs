//! A private SMTP receiver per test: Debian's `python3-aiosmtpd` on a random loopback
//! port, storing every accepted message in a spool directory.
//!
//! It speaks plain SMTP, STARTTLS (required once offered) or implicit TLS, with a
//! certificate for `localhost` / `127.0.0.1` signed by a private CA ([`SmtpReceiver::ca_file`]), and optionally requires AUTH
//! (PLAIN/LOGIN) with one user. It can also be made to fail: [`SmtpReceiver::stop`]
//! leaves the port refusing connections, and [`SmtpReceiver::set_rcpt_reply`] makes it
//! answer every `RCPT TO` with a chosen reply (`451 ...` temporary, `550 ...` permanent).

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::proc::{self, Supervised};

/// How the receiver protects the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpSecurity {
    /// Plain SMTP, no TLS offered.
    #[default]
    None,
    /// STARTTLS offered and required before `MAIL FROM` (and before AUTH).
    StartTls,
    /// TLS from the first byte (SMTPS, as on port 465).
    Implicit,
}

/// How to configure an [`SmtpReceiver`].
#[derive(Debug, Clone, Default)]
pub struct SmtpOptions {
    /// Plain, STARTTLS or implicit TLS.
    pub security: SmtpSecurity,
    /// `Some((user, password))`: AUTH PLAIN/LOGIN required before `MAIL FROM`; AUTH
    /// OAUTHBEARER and XOAUTH2 are offered too and take `password` as the expected bearer
    /// token. Each OAuth 2.0 attempt is logged ([`SmtpReceiver::oauth_attempts`]).
    pub auth: Option<(String, String)>,
    /// With `auth`: AUTH XOAUTH2 checks each bearer token at this introspection endpoint
    /// (RFC 7662, e.g. [`crate::TokenServer::introspection_url`]) instead: it must be active
    /// and belong to the user, as Dovecot's `oauth2` passdb checks it.
    pub oauth2_introspection: Option<String>,
    /// With `auth`: offer AUTH XOAUTH2 only, not OAUTHBEARER (as Gmail's and Microsoft's
    /// servers, whose EHLO names XOAUTH2 alone or both).
    pub no_oauthbearer: bool,
}

/// One message as the receiver got it.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`) that were accepted.
    pub to: Vec<String>,
    /// The message bytes exactly as received after `DATA`.
    pub raw: Vec<u8>,
    /// Whether the session was under TLS (STARTTLS or implicit).
    pub tls: bool,
    /// The login the client authenticated as, if any.
    pub login: Option<String>,
}

/// A running private aiosmtpd; killed on [`SmtpReceiver::stop`] or drop.
pub struct SmtpReceiver {
    /// The instance directory (received messages, log).
    pub dir: PathBuf,
    /// The port it listens on (loopback).
    pub port: u16,
    opts: SmtpOptions,
    process: Option<Supervised>,
    _tmp: tempfile::TempDir,
}

/// The aiosmtpd launcher, written to the temp dir. Its one argument is a JSON object:
/// `dir`, `port`, `cert`, `key`, `starttls`, `implicit`, `user`, `password`, `introspection`.
const LAUNCHER: &str = r#"import asyncio, base64, json, os, ssl, sys, urllib.parse, urllib.request
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

cfg = json.loads(sys.argv[1])
spool = os.path.join(cfg["dir"], "spool")
seq = [0]

def tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cfg["cert"], cfg["key"])
    return ctx

class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        try:
            with open(os.path.join(cfg["dir"], "rcpt_reply")) as f:
                reply = f.read().strip()
        except FileNotFoundError:
            reply = ""
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        seq[0] += 1
        base = os.path.join(spool, "msg-%06d" % seq[0])
        raw = envelope.original_content or envelope.content
        login = session.auth_data
        if isinstance(login, bytes):
            login = login.decode("utf-8", "replace")
        meta = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "tls": bool(cfg["implicit"]) or session.ssl is not None,
            "login": login,
        }
        with open(base + ".eml.tmp", "wb") as f:
            f.write(raw)
        with open(base + ".meta.tmp", "w") as f:
            f.write("%s\n%d\n%s\n" % (meta["from"], meta["tls"], meta["login"] or ""))
            for r in meta["to"]:
                f.write(r + "\n")
        os.rename(base + ".eml.tmp", base + ".eml")
        os.rename(base + ".meta.tmp", base + ".meta")
        return "250 2.0.0 Message accepted for delivery"

    async def auth_XOAUTH2(self, server, args):
        # user=USER^Aauth=Bearer TOKEN^A^A; the expected token is the configured password.
        fields = sasl_fields(args)
        ok = fields is not None and fields.get("user") == cfg["user"] and bearer_ok(fields)
        log_auth("XOAUTH2", ok)
        if ok:
            return AuthResult(success=True, auth_data=cfg["user"])
        return AuthResult(success=False, handled=False)

    async def auth_OAUTHBEARER(self, server, args):
        # n,a=USER,^Ahost=...^Aport=...^Aauth=Bearer TOKEN^A^A (RFC 7628). A refused token
        # gets the error challenge; the client ends the exchange with ^A, then 535.
        fields = sasl_fields(args)
        gs2 = fields.pop("", "") if fields is not None else ""
        user = gs2.split(",")[1][2:] if gs2.count(",") >= 2 and gs2.split(",")[1].startswith("a=") else None
        if user is not None:
            user = user.replace("=2C", ",").replace("=3D", "=")
        ok = fields is not None and user == cfg["user"] and bearer_ok(fields)
        log_auth("OAUTHBEARER", ok)
        if ok:
            return AuthResult(success=True, auth_data=cfg["user"])
        if fields is not None:
            await server.challenge_auth('{"status":"invalid_token","scope":"mail"}')
        return AuthResult(success=False, handled=False)

def sasl_fields(args):
    # The initial response's ^A-separated fields; the GS2 header (before the first ^A and
    # without "=") under the key "".
    if cfg["user"] is None or len(args) < 2:
        return None
    try:
        raw = base64.b64decode(args[1]).decode("utf-8", "replace")
    except Exception:
        return None
    parts = raw.split("\x01")
    fields = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    if parts[0].startswith("n,"):
        fields[""] = parts[0]
    elif "=" in parts[0]:
        k, v = parts[0].split("=", 1)
        fields[k] = v
    return fields

def bearer_ok(fields):
    bearer = fields.get("auth", "")
    if cfg.get("introspection"):
        if not bearer.startswith("Bearer "):
            return False
        form = urllib.parse.urlencode({"token": bearer[7:]}).encode()
        try:
            with urllib.request.urlopen(cfg["introspection"], form, timeout=10) as r:
                ans = json.loads(r.read())
        except Exception:
            return False
        return str(ans.get("active")).lower() == "true" and ans.get("username") == cfg["user"]
    return bearer == "Bearer " + cfg["password"]

def log_auth(mechanism, ok):
    with open(os.path.join(cfg["dir"], "auth.log"), "a") as f:
        f.write("%s %s\n" % (mechanism, "ok" if ok else "refused"))

def authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword):
        got = (auth_data.login.decode("utf-8", "replace"),
               auth_data.password.decode("utf-8", "replace"))
        if got == (cfg["user"], cfg["password"]):
            return AuthResult(success=True, auth_data=auth_data.login)
    return AuthResult(success=False, handled=False)

def factory():
    kw = dict(hostname="localhost", ident="passeur-testkit")
    if cfg["starttls"]:
        kw.update(tls_context=tls_context(), require_starttls=True)
    if cfg["user"] is not None:
        kw.update(authenticator=authenticator, auth_required=True,
                  auth_require_tls=bool(cfg["starttls"]))
        if not cfg["oauthbearer"]:
            kw.update(auth_exclude_mechanism=["OAUTHBEARER"])
    return SMTP(Handler(), **kw)

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory, "127.0.0.1", cfg["port"],
        ssl=tls_context() if cfg["implicit"] else None)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"#;

/// The Python that imports `aiosmtpd`: Debian's `/usr/bin/python3` first (a pyenv shim
/// on `PATH` usually lacks Debian's modules), then `python3` from `PATH`.
fn python() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import aiosmtpd.smtp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Checks that aiosmtpd is installed; the error tells how to get it.
pub fn ensure_aiosmtpd() -> Result<(), String> {
    python().map(|_| ()).ok_or_else(|| {
        "cannot find aiosmtpd for python3: run scripts/test.sh which installs it \
         (apt-get install python3-aiosmtpd)"
            .to_string()
    })
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl SmtpReceiver {
    /// Starts aiosmtpd in a fresh temp dir on a random port and waits until it accepts.
    pub fn start(opts: SmtpOptions) -> io::Result<SmtpReceiver> {
        let py = python().ok_or_else(|| io::Error::other(ensure_aiosmtpd().unwrap_err()))?;
        let tmp = tempfile::Builder::new().prefix("passeur-smtp-").tempdir()?;
        let dir = tmp.path().to_path_buf();
        std::fs::create_dir_all(dir.join("spool"))?;
        std::fs::write(dir.join("launcher.py"), LAUNCHER)?;
        if opts.security != SmtpSecurity::None {
            write_cert(&dir)?;
        }
        let (user, password) = match &opts.auth {
            Some((u, p)) => (json_str(u), json_str(p)),
            None => ("null".into(), "null".into()),
        };
        let d = dir
            .to_str()
            .ok_or_else(|| io::Error::other("non-UTF-8 temp dir"))?;

        let mut last_err = None;
        for _attempt in 0..6 {
            let port = proc::free_port()?;
            let cfg = format!(
                "{{\"dir\": {dir}, \"port\": {port}, \"cert\": {cert}, \"key\": {key}, \
                 \"starttls\": {st}, \"implicit\": {im}, \"user\": {user}, \"password\": {password}, \
                 \"introspection\": {introspection}, \"oauthbearer\": {oauthbearer}}}",
                dir = json_str(d),
                cert = json_str(&format!("{d}/cert.pem")),
                key = json_str(&format!("{d}/key.pem")),
                st = opts.security == SmtpSecurity::StartTls,
                im = opts.security == SmtpSecurity::Implicit,
                oauthbearer = !opts.no_oauthbearer,
                introspection = opts
                    .oauth2_introspection
                    .as_deref()
                    .map_or_else(|| "null".to_owned(), json_str),
            );
            let log = std::fs::File::create(dir.join("smtp.log"))?;
            let mut cmd = Command::new(py);
            cmd.arg(dir.join("launcher.py"))
                .arg(cfg)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log);
            let mut p = Supervised::spawn(cmd)?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let greeting = (opts.security != SmtpSecurity::Implicit).then_some(&b"220 "[..]);
            match proc::wait_ready(addr, greeting, &mut p, Duration::from_secs(30)) {
                Ok(()) => {
                    return Ok(SmtpReceiver {
                        dir,
                        port,
                        opts,
                        process: Some(p),
                        _tmp: tmp,
                    });
                }
                Err(e) => {
                    p.stop();
                    let log = std::fs::read_to_string(dir.join("smtp.log")).unwrap_or_default();
                    let busy = log.contains("in use");
                    last_err = Some(io::Error::other(format!("{e}; smtp.log:\n{log}")));
                    if !busy {
                        break;
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("cannot start aiosmtpd")))
    }

    /// A URL in the form passeur's notifier takes: `smtp://127.0.0.1:PORT?tls=none`
    /// (plain), `smtp://...` (STARTTLS) or `smtps://...` (implicit TLS), with
    /// `user:password@` when AUTH is on. The certificate is signed by a private CA: the
    /// client must trust [`SmtpReceiver::ca_file`] or accept invalid certificates.
    pub fn url(&self) -> String {
        let auth = match &self.opts.auth {
            Some((u, p)) => format!("{}:{}@", pct(u), pct(p)),
            None => String::new(),
        };
        match self.opts.security {
            SmtpSecurity::None => format!("smtp://{auth}127.0.0.1:{}?tls=none", self.port),
            SmtpSecurity::StartTls => format!("smtp://{auth}127.0.0.1:{}", self.port),
            SmtpSecurity::Implicit => format!("smtps://{auth}127.0.0.1:{}", self.port),
        }
    }

    /// The private CA (PEM) that signed the server's certificate, if it speaks TLS.
    pub fn ca_file(&self) -> Option<PathBuf> {
        (self.opts.security != SmtpSecurity::None).then(|| self.dir.join("ca.pem"))
    }

    /// Answers every later `RCPT TO` with `reply` (for example `"451 4.3.0 Try again later"`
    /// or `"550 5.1.1 No such user"`); `None` accepts recipients again.
    pub fn set_rcpt_reply(&self, reply: Option<&str>) -> io::Result<()> {
        let path = self.dir.join("rcpt_reply");
        match reply {
            Some(r) => {
                let tmp = self.dir.join("rcpt_reply.tmp");
                std::fs::write(&tmp, r)?;
                std::fs::rename(tmp, path)
            }
            None => match std::fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
    }

    /// Every message received so far, in order of arrival.
    pub fn messages(&self) -> io::Result<Vec<ReceivedMessage>> {
        let spool = self.dir.join("spool");
        let mut names: Vec<String> = std::fs::read_dir(&spool)?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".meta"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|n| read_message(&spool, n.trim_end_matches(".meta")))
            .collect()
    }

    /// Waits until at least `n` messages arrived, and returns them all; an error after
    /// `timeout`, naming how many came.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> io::Result<Vec<ReceivedMessage>> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.messages()?;
            if got.len() >= n {
                return Ok(got);
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "expected {n} messages, got {} after {timeout:?}; smtp.log:\n{}",
                        got.len(),
                        self.log()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Each OAuth 2.0 login tried, in order: `OAUTHBEARER ok`, `XOAUTH2 refused`...
    pub fn oauth_attempts(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("auth.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// aiosmtpd's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("smtp.log")).unwrap_or_default()
    }

    /// Kills the server: its port then refuses connections (the spool stays readable).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn read_message(spool: &Path, base: &str) -> io::Result<ReceivedMessage> {
    let meta = std::fs::read_to_string(spool.join(format!("{base}.meta")))?;
    let raw = std::fs::read(spool.join(format!("{base}.eml")))?;
    let mut lines = meta.lines();
    let from = lines.next().unwrap_or_default().to_string();
    let tls = lines.next() == Some("1");
    let login = lines.next().filter(|l| !l.is_empty()).map(str::to_string);
    let to = lines.map(str::to_string).collect();
    Ok(ReceivedMessage {
        from,
        to,
        raw,
        tls,
        login,
    })
}

/// Percent-encodes a URL userinfo part (everything but unreserved characters).
fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A private CA and a P-256 server certificate it signed for `localhost` / `127.0.0.1`
/// (openssl CLI). A CA apart from the leaf, because WebPKI verifiers refuse a
/// self-signed CA certificate presented as the server's own.
fn write_cert(dir: &Path) -> io::Result<()> {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "3650",
                "-subj",
                "/CN=passeur test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        ]
        .concat(),
    )?;
    openssl(
        dir,
        &[
            &["req", "-new"][..],
            &ec,
            &[
                "-subj",
                "/CN=localhost",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
            ],
        ]
        .concat(),
    )?;
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n",
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ],
    )?;
    std::fs::set_permissions(dir.join("key.pem"), std::fs::Permissions::from_mode(0o600))
}

fn openssl(dir: &Path, args: &[&str]) -> io::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "cannot create a test certificate with openssl {}: {}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}
