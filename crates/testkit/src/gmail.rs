//! A Gmail-speaking IMAP server made of a real one: [`GmailServer`].
//!
//! It listens on a loopback port and speaks IMAP over real TCP. The message bytes, flags and
//! dates live in one folder of a private Dovecot user (the backend, by default its `INBOX`);
//! the labels of each message are this server's own state, set by the test. Each client
//! connection gets its own backend connection, which is logged in when the client logs in.
//!
//! What a client sees, as on Gmail:
//! - `CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS SPECIAL-USE X-GM-EXT-1` (no AUTH=PLAIN: LOGIN only,
//!   with the backend user's own name and password);
//! - `LIST`/`LSUB` (hierarchy separator `/`): `INBOX`, one folder per user label (parents that
//!   are not labels themselves are `\Noselect`), `[Gmail]` (`\Noselect`), and
//!   `[Gmail]/All Mail` (`\All`), `[Gmail]/Drafts` (`\Drafts`), `[Gmail]/Important`
//!   (`\Important`), `[Gmail]/Sent Mail` (`\Sent`), `[Gmail]/Spam` (`\Junk`, always empty),
//!   `[Gmail]/Starred` (`\Flagged`) and `[Gmail]/Trash` (`\Trash`, always empty);
//! - every folder is a view of the backend folder: All Mail holds every message once, `INBOX`
//!   those labelled `\Inbox`, `[Gmail]/Sent Mail` those labelled `\Sent`, `[Gmail]/Drafts`
//!   `\Draft`, `[Gmail]/Important` `\Important`, `[Gmail]/Starred` the `\Flagged` ones, and a
//!   user label's folder the messages with that label. A message keeps its backend UID in every
//!   view (the UIDs of a view are sparse, which IMAP allows); each view has its own fixed
//!   UIDVALIDITY;
//! - `UID FETCH` with any of `UID FLAGS INTERNALDATE RFC822.SIZE X-GM-MSGID X-GM-THRID
//!   X-GM-LABELS` and at most one `BODY[…]`/`BODY.PEEK[…]` section (never setting `\Seen`).
//!   `X-GM-MSGID` is fixed per message (derived from its backend UID). `X-GM-LABELS` lists the
//!   system labels as atoms (`\Inbox`, `\Sent`, `\Draft`, `\Important`, and `\Starred` for a
//!   `\Flagged` message, as Gmail does) and user labels as quoted strings, in every folder;
//! - `STATUS`, `SELECT`/`EXAMINE` (both read-only), `UID SEARCH ALL`, `NOOP`, `CHECK`,
//!   `LOGOUT`.
//!
//! Anything else (writing commands, sequence-number FETCH, SEARCH criteria, CONDSTORE...) is
//! answered `BAD` or `NO`: this is the subset passeur uses on a Gmail source, not a whole Gmail.
//!
//! The server counts the full message bodies it sends ([`GmailServer::bodies_sent`]), so that a
//! test can prove each message was downloaded once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::imapwire::{self, Value};

const CAPS: &str = "IMAP4rev1 LITERAL+ UIDPLUS SPECIAL-USE X-GM-EXT-1";
/// `X-GM-MSGID` of backend UID n is this plus n.
const MSGID_BASE: u64 = 1_600_000_000_000_000_000;

/// The system folders: (name, attribute, label shown in it).
const SYSTEM: [(&str, &str, Option<&str>); 7] = [
    ("[Gmail]/All Mail", "\\All", None),
    ("[Gmail]/Drafts", "\\Drafts", Some("\\Draft")),
    ("[Gmail]/Important", "\\Important", Some("\\Important")),
    ("[Gmail]/Sent Mail", "\\Sent", Some("\\Sent")),
    ("[Gmail]/Spam", "\\Junk", None),
    ("[Gmail]/Starred", "\\Flagged", None),
    ("[Gmail]/Trash", "\\Trash", None),
];

/// A Gmail-speaking IMAP server in front of a folder of a real Dovecot (see the module docs).
pub struct GmailServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<thread::JoinHandle<()>>,
}

struct Shared {
    backend: String,
    user: String,
    password: String,
    folder: String,
    stop: AtomicBool,
    /// Bytes sent to clients, all connections together.
    bytes_out: AtomicU64,
    /// Labels by backend UID, `\Starred` left out (it is the `\Flagged` flag).
    labels: Mutex<BTreeMap<u32, BTreeSet<String>>>,
    /// Full bodies sent, by backend UID.
    sent: Mutex<HashMap<u32, u64>>,
    /// Every command received, without its tag and with LOGIN's arguments left out.
    commands: Mutex<Vec<String>>,
}

impl GmailServer {
    /// Serves the messages of `folder` of user `user` / `password` on the IMAP server at
    /// `backend` (`host:port`), on a fresh loopback port.
    pub fn start(backend: &str, user: &str, password: &str, folder: &str) -> io::Result<Self> {
        // Fail now, not at the first client, when the backend cannot be used.
        let mut probe = imapwire::Client::login(backend, user, password)?;
        probe.select(folder, true)?;
        probe.logout();
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            backend: backend.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            folder: folder.to_owned(),
            stop: AtomicBool::new(false),
            bytes_out: AtomicU64::new(0),
            labels: Mutex::new(BTreeMap::new()),
            sent: Mutex::new(HashMap::new()),
            commands: Mutex::new(Vec::new()),
        });
        let sh = shared.clone();
        let accept_thread = thread::spawn(move || {
            while !sh.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let sh = sh.clone();
                        thread::spawn(move || {
                            let _ = Session::serve(sh, stream);
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(GmailServer {
            addr,
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    /// The port it listens on (loopback).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `imap://USER@127.0.0.1:PORT` (plain IMAP), for passeur's `--from`.
    pub fn url(&self) -> String {
        format!("imap://{}@127.0.0.1:{}", self.shared.user, self.addr.port())
    }

    /// Adds a message to the backend folder with these flags, internal date and labels
    /// (`\Starred` sets `\Flagged`); returns its backend UID.
    pub fn add_message(
        &self,
        raw: &[u8],
        flags: &[&str],
        internal_date: &str,
        labels: &[&str],
    ) -> io::Result<u32> {
        let mut flags: Vec<&str> = flags.to_vec();
        if labels.contains(&"\\Starred") && !flags.contains(&"\\Flagged") {
            flags.push("\\Flagged");
        }
        let mut c = self.backend_client()?;
        let answer = c.append(&self.shared.folder, &flags, Some(internal_date), raw)?;
        c.logout();
        let uid = appenduid(&answer)
            .ok_or_else(|| io::Error::other(format!("the backend gave no APPENDUID: {answer}")))?;
        let set: BTreeSet<String> = labels
            .iter()
            .filter(|l| **l != "\\Starred")
            .map(|l| (*l).to_owned())
            .collect();
        self.lock_labels().insert(uid, set);
        Ok(uid)
    }

    /// Gives message `uid` one more label.
    pub fn add_label(&self, uid: u32, label: &str) {
        self.lock_labels()
            .entry(uid)
            .or_default()
            .insert(label.to_owned());
    }

    /// The `X-GM-MSGID` of the message with backend UID `uid`.
    pub fn msgid(uid: u32) -> u64 {
        MSGID_BASE + u64::from(uid)
    }

    /// How many full message bodies were sent, all messages together.
    pub fn bodies_sent(&self) -> u64 {
        self.lock_sent().values().sum()
    }

    /// Bytes sent to clients so far (every response, all connections).
    pub fn bytes_sent(&self) -> u64 {
        self.shared.bytes_out.load(Ordering::SeqCst)
    }

    /// How many times the full body of backend UID `uid` was sent.
    pub fn bodies_sent_of(&self, uid: u32) -> u64 {
        self.lock_sent().get(&uid).copied().unwrap_or(0)
    }

    /// Every command received so far (without tags; LOGIN without its arguments).
    pub fn commands(&self) -> Vec<String> {
        self.shared
            .commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn backend_client(&self) -> io::Result<imapwire::Client> {
        imapwire::Client::login(
            &self.shared.backend,
            &self.shared.user,
            &self.shared.password,
        )
    }

    fn lock_labels(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, BTreeSet<String>>> {
        self.shared.labels.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_sent(&self) -> std::sync::MutexGuard<'_, HashMap<u32, u64>> {
        self.shared.sent.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for GmailServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

/// The new UID from `OK [APPENDUID v uid] ...`.
fn appenduid(answer: &str) -> Option<u32> {
    let rest = &answer[answer.find("[APPENDUID ")? + 11..];
    let inner = &rest[..rest.find(']')?];
    inner.split_whitespace().nth(1)?.parse().ok()
}

/// One message of the backend folder as the views need it.
#[derive(Clone)]
struct Msg {
    uid: u32,
    flags: Vec<String>,
}

/// A folder a client may open.
#[derive(Clone)]
enum View {
    All,
    /// Messages with this label.
    Label(String),
    Flagged,
    Empty,
}

struct Session {
    shared: Arc<Shared>,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    backend: Option<imapwire::Client>,
    /// The selected view: (its name, the view, its UIDs at the time of SELECT or later).
    selected: Option<(String, View)>,
}

impl Session {
    fn serve(shared: Arc<Shared>, stream: TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(600)))?;
        let writer = stream.try_clone()?;
        let mut s = Session {
            shared,
            reader: BufReader::new(stream),
            writer,
            backend: None,
            selected: None,
        };
        s.send(&format!(
            "* OK [CAPABILITY {CAPS}] Gimap ready (passeur testkit)\r\n"
        ))?;
        loop {
            if s.shared.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let Some(line) = s.read_command()? else {
                return Ok(());
            };
            let values = imapwire::parse_values(&line);
            let Some(tag) = values.first().and_then(Value::as_str) else {
                s.send("* BAD no tag\r\n")?;
                continue;
            };
            let words: Vec<Value> = values[1..].to_vec();
            match s.dispatch(&tag, &words) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => {
                    // A backend failure: tell the client, as a server would, and go on.
                    s.send(&format!("{tag} NO [UNAVAILABLE] backend: {e}\r\n"))?;
                }
            }
        }
    }

    fn send(&mut self, s: &str) -> io::Result<()> {
        self.write(s.as_bytes())
    }

    fn write(&mut self, b: &[u8]) -> io::Result<()> {
        self.shared
            .bytes_out
            .fetch_add(b.len() as u64, Ordering::SeqCst);
        self.writer.write_all(b)
    }

    /// Reads one command with its literals inline; None at end of stream.
    fn read_command(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut raw = Vec::new();
        loop {
            let start = raw.len();
            if self.reader.read_until(b'\n', &mut raw)? == 0 {
                return Ok(None);
            }
            let line = &raw[start..];
            let trimmed = line.strip_suffix(b"\r\n").unwrap_or(line);
            let Some((n, sync)) = literal_at_end(trimmed) else {
                return Ok(Some(raw));
            };
            if sync {
                self.send("+ go ahead\r\n")?;
            }
            let pos = raw.len();
            raw.resize(pos + n, 0);
            self.reader.read_exact(&mut raw[pos..])?;
        }
    }

    /// Handles one command; true once the session is over.
    fn dispatch(&mut self, tag: &str, words: &[Value]) -> io::Result<bool> {
        let word = |i: usize| {
            words
                .get(i)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_ascii_uppercase()
        };
        let cmd = word(0);
        let logged = if cmd == "LOGIN" {
            "LOGIN".to_owned()
        } else {
            words.iter().map(show).collect::<Vec<_>>().join(" ")
        };
        self.shared
            .commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(logged);
        match cmd.as_str() {
            "CAPABILITY" => {
                self.send(&format!("* CAPABILITY {CAPS}\r\n{tag} OK done\r\n"))?;
            }
            "NOOP" | "CHECK" => self.send(&format!("{tag} OK done\r\n"))?,
            "LOGOUT" => {
                self.send(&format!("* BYE bye\r\n{tag} OK done\r\n"))?;
                if let Some(b) = self.backend.take() {
                    b.logout();
                }
                return Ok(true);
            }
            "LOGIN" => {
                let user = words.get(1).and_then(Value::as_str).unwrap_or_default();
                let pass = words.get(2).and_then(Value::as_str).unwrap_or_default();
                if user != self.shared.user || pass != self.shared.password {
                    self.send(&format!(
                        "{tag} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n"
                    ))?;
                } else {
                    let mut b = imapwire::Client::login(
                        &self.shared.backend,
                        &self.shared.user,
                        &self.shared.password,
                    )?;
                    b.select(&self.shared.folder, true)?;
                    self.backend = Some(b);
                    self.send(&format!(
                        "{tag} OK [CAPABILITY {CAPS}] {user} authenticated (Success)\r\n"
                    ))?;
                }
            }
            _ if self.backend.is_none() => {
                self.send(&format!("{tag} BAD log in first\r\n"))?;
            }
            "LIST" | "LSUB" => self.list(tag, &cmd, words)?,
            "STATUS" => self.status(tag, words)?,
            "SELECT" | "EXAMINE" => self.select(tag, words)?,
            "UID" if word(1) == "FETCH" => self.uid_fetch(tag, words)?,
            "UID" if word(1) == "SEARCH" && word(2) == "ALL" => {
                let uids = self.selected_uids()?;
                let list: Vec<String> = uids.iter().map(|m| m.uid.to_string()).collect();
                self.send(&format!("* SEARCH {}\r\n{tag} OK done\r\n", list.join(" ")))?;
            }
            _ => {
                self.send(&format!(
                    "{tag} BAD this test server does not do {cmd} (see passeur-testkit gmail.rs)\r\n"
                ))?;
            }
        }
        Ok(false)
    }

    /// Every folder: (name, attributes, view).
    fn folders(&self) -> Vec<(String, Vec<String>, Option<View>)> {
        let labels = self.shared.labels.lock().unwrap_or_else(|p| p.into_inner());
        let mut user: BTreeSet<String> = BTreeSet::new();
        for set in labels.values() {
            user.extend(set.iter().filter(|l| !l.starts_with('\\')).cloned());
        }
        drop(labels);
        let mut parents: BTreeSet<String> = BTreeSet::new();
        for l in &user {
            let mut acc = String::new();
            let parts: Vec<&str> = l.split('/').collect();
            for p in &parts[..parts.len() - 1] {
                if !acc.is_empty() {
                    acc.push('/');
                }
                acc.push_str(p);
                if !user.contains(&acc) {
                    parents.insert(acc.clone());
                }
            }
        }
        let mut out = vec![(
            "INBOX".to_owned(),
            vec!["\\HasNoChildren".to_owned()],
            Some(View::Label("\\Inbox".to_owned())),
        )];
        for l in &user {
            out.push((
                l.clone(),
                vec!["\\HasNoChildren".to_owned()],
                Some(View::Label(l.clone())),
            ));
        }
        for p in parents {
            out.push((p, vec!["\\Noselect".into(), "\\HasChildren".into()], None));
        }
        out.push((
            "[Gmail]".to_owned(),
            vec!["\\Noselect".into(), "\\HasChildren".into()],
            None,
        ));
        for (name, attr, label) in SYSTEM {
            let view = match (attr, label) {
                ("\\All", _) => View::All,
                ("\\Flagged", _) => View::Flagged,
                (_, Some(l)) => View::Label(l.to_owned()),
                _ => View::Empty,
            };
            out.push((
                name.to_owned(),
                vec!["\\HasNoChildren".into(), attr.into()],
                Some(view),
            ));
        }
        out
    }

    fn view_of(&self, name: &str) -> Option<View> {
        self.folders()
            .into_iter()
            .find(|(n, _, _)| n == name || (n == "INBOX" && name.eq_ignore_ascii_case("INBOX")))
            .and_then(|(_, _, v)| v)
    }

    fn list(&mut self, tag: &str, cmd: &str, words: &[Value]) -> io::Result<()> {
        let pattern = words.get(2).and_then(Value::as_str).unwrap_or_default();
        let mut out = String::new();
        if pattern.is_empty() {
            out.push_str(&format!("* {cmd} (\\Noselect) \"/\" \"\"\r\n"));
        } else {
            for (name, attrs, _) in self.folders() {
                if pattern == "*" || pattern == name {
                    out.push_str(&format!(
                        "* {cmd} ({}) \"/\" {}\r\n",
                        attrs.join(" "),
                        imapwire::quote(&name)
                    ));
                }
            }
        }
        out.push_str(&format!("{tag} OK done\r\n"));
        self.send(&out)
    }

    /// Every message of the backend folder, with its flags.
    fn backend_messages(&mut self) -> io::Result<Vec<Msg>> {
        let folder = self.shared.folder.clone();
        let b = self
            .backend
            .as_mut()
            .ok_or_else(|| io::Error::other("not logged in"))?;
        // Open it again: messages added since by another connection must be seen.
        let exists = b.select(&folder, true)?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        let items = b.fetch("UID FETCH 1:* (UID FLAGS)")?;
        Ok(items
            .into_iter()
            .filter_map(|i| {
                Some(Msg {
                    uid: i.uid?,
                    flags: i.flags.unwrap_or_default(),
                })
            })
            .collect())
    }

    fn view_messages(&mut self, view: &View) -> io::Result<Vec<Msg>> {
        let all = self.backend_messages()?;
        let labels = self
            .shared
            .labels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Ok(all
            .into_iter()
            .filter(|m| match view {
                View::All => true,
                View::Empty => false,
                View::Flagged => m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Flagged")),
                View::Label(l) => labels.get(&m.uid).is_some_and(|s| s.contains(l)),
            })
            .collect())
    }

    fn selected_uids(&mut self) -> io::Result<Vec<Msg>> {
        match self.selected.clone() {
            Some((_, view)) => self.view_messages(&view),
            None => Ok(Vec::new()),
        }
    }

    fn status(&mut self, tag: &str, words: &[Value]) -> io::Result<()> {
        let name = words.get(1).and_then(Value::as_str).unwrap_or_default();
        let Some(view) = self.view_of(&name) else {
            return self.send(&format!(
                "{tag} NO [NONEXISTENT] Unknown Mailbox: {name}\r\n"
            ));
        };
        let msgs = self.view_messages(&view)?;
        let (validity, next) = self.numbers(&name)?;
        let asked: Vec<String> = match words.get(2) {
            Some(Value::List(l)) => l
                .iter()
                .filter_map(Value::as_str)
                .map(|s| s.to_ascii_uppercase())
                .collect(),
            _ => Vec::new(),
        };
        let mut items = Vec::new();
        for a in asked {
            let v = match a.as_str() {
                "MESSAGES" => msgs.len() as u64,
                "UIDNEXT" => u64::from(next),
                "UIDVALIDITY" => u64::from(validity),
                "UNSEEN" => msgs
                    .iter()
                    .filter(|m| !m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen")))
                    .count() as u64,
                "RECENT" => 0,
                _ => continue,
            };
            items.push(format!("{a} {v}"));
        }
        self.send(&format!(
            "* STATUS {} ({})\r\n{tag} OK done\r\n",
            imapwire::quote(&name),
            items.join(" ")
        ))
    }

    /// The UIDVALIDITY of a folder (fixed, from its name) and the UIDNEXT (the backend's).
    fn numbers(&mut self, name: &str) -> io::Result<(u32, u32)> {
        let validity = 1 + name
            .bytes()
            .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
            % 1_000_000;
        let next = self
            .backend_messages()?
            .iter()
            .map(|m| m.uid + 1)
            .max()
            .unwrap_or(1);
        Ok((validity, next))
    }

    fn select(&mut self, tag: &str, words: &[Value]) -> io::Result<()> {
        let name = words.get(1).and_then(Value::as_str).unwrap_or_default();
        let Some(view) = self.view_of(&name) else {
            self.selected = None;
            return self.send(&format!(
                "{tag} NO [NONEXISTENT] Unknown Mailbox: {name}\r\n"
            ));
        };
        let msgs = self.view_messages(&view)?;
        let (validity, next) = self.numbers(&name)?;
        self.selected = Some((name, view));
        self.send(&format!(
            "* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen $Forwarded)\r\n\
             * OK [PERMANENTFLAGS ()] read-only\r\n\
             * OK [UIDVALIDITY {validity}] UIDs valid\r\n\
             * {} EXISTS\r\n\
             * 0 RECENT\r\n\
             * OK [UIDNEXT {next}] Predicted next UID\r\n\
             {tag} OK [READ-ONLY] done\r\n",
            msgs.len()
        ))
    }

    fn uid_fetch(&mut self, tag: &str, words: &[Value]) -> io::Result<()> {
        let Some((_, view)) = self.selected.clone() else {
            return self.send(&format!("{tag} BAD no mailbox selected\r\n"));
        };
        let set = words.get(2).and_then(Value::as_str).unwrap_or_default();
        let asked: Vec<String> = match words.get(3) {
            Some(Value::List(l)) => l.iter().filter_map(Value::as_str).collect(),
            Some(v) => v.as_str().into_iter().collect(),
            None => Vec::new(),
        };
        if words.len() > 4 {
            return self.send(&format!("{tag} BAD no FETCH modifiers here\r\n"));
        }
        let msgs = self.view_messages(&view)?;
        let Some(wanted) = resolve_set(&set, &msgs) else {
            return self.send(&format!("{tag} BAD bad UID set {set:?}\r\n"));
        };
        let mut section: Option<String> = None;
        let mut plain: Vec<String> = Vec::new();
        for a in &asked {
            let up = a.to_ascii_uppercase();
            if let Some(rest) = up
                .strip_prefix("BODY.PEEK[")
                .or_else(|| up.strip_prefix("BODY["))
            {
                if section.is_some() {
                    return self.send(&format!("{tag} BAD one body section at most here\r\n"));
                }
                // The section as asked (case kept), without the PEEK.
                let open = a.find('[').unwrap_or(0);
                section = Some(format!("BODY{}", &a[open..]));
                let _ = rest;
            } else {
                plain.push(up);
            }
        }
        let known = [
            "UID",
            "FLAGS",
            "INTERNALDATE",
            "RFC822.SIZE",
            "X-GM-MSGID",
            "X-GM-THRID",
            "X-GM-LABELS",
        ];
        if let Some(bad) = plain.iter().find(|p| !known.contains(&p.as_str())) {
            return self.send(&format!(
                "{tag} BAD this test server does not fetch {bad}\r\n"
            ));
        }
        if wanted.is_empty() {
            return self.send(&format!("{tag} OK done\r\n"));
        }
        let seq_of: HashMap<u32, usize> = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| (m.uid, i + 1))
            .collect();
        let uids: Vec<String> = wanted.iter().map(u32::to_string).collect();
        let mut backend_cmd = format!(
            "UID FETCH {} (UID FLAGS INTERNALDATE RFC822.SIZE",
            uids.join(",")
        );
        if let Some(s) = &section {
            backend_cmd.push(' ');
            backend_cmd.push_str(&s.replacen("BODY[", "BODY.PEEK[", 1));
        }
        backend_cmd.push(')');
        let labels = self
            .shared
            .labels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let full_body = section
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("BODY[]"));
        let b = self
            .backend
            .as_mut()
            .ok_or_else(|| io::Error::other("not logged in"))?;
        let items = b.fetch(&backend_cmd)?;
        for it in items {
            let Some(uid) = it.uid else { continue };
            let Some(seq) = seq_of.get(&uid) else {
                continue;
            };
            let flags = it.flags.clone().unwrap_or_default();
            let mut parts: Vec<String> = Vec::new();
            for p in &plain {
                match p.as_str() {
                    "UID" => parts.push(format!("UID {uid}")),
                    "FLAGS" => parts.push(format!("FLAGS ({})", flags.join(" "))),
                    "INTERNALDATE" => parts.push(format!(
                        "INTERNALDATE {}",
                        imapwire::quote(it.internal_date.as_deref().unwrap_or_default())
                    )),
                    "RFC822.SIZE" => {
                        parts.push(format!("RFC822.SIZE {}", it.size.unwrap_or_default()));
                    }
                    "X-GM-MSGID" => {
                        parts.push(format!("X-GM-MSGID {}", GmailServer::msgid(uid)));
                    }
                    "X-GM-THRID" => {
                        parts.push(format!("X-GM-THRID {}", GmailServer::msgid(uid)));
                    }
                    "X-GM-LABELS" => {
                        let mut shown: Vec<String> = Vec::new();
                        if flags.iter().any(|f| f.eq_ignore_ascii_case("\\Flagged")) {
                            shown.push("\\Starred".into());
                        }
                        for l in labels.get(&uid).into_iter().flatten() {
                            shown.push(if l.starts_with('\\') {
                                l.clone()
                            } else {
                                imapwire::quote(l)
                            });
                        }
                        parts.push(format!("X-GM-LABELS ({})", shown.join(" ")));
                    }
                    _ => {}
                }
            }
            if !plain.iter().any(|p| p == "UID") {
                parts.insert(0, format!("UID {uid}"));
            }
            let mut out = format!("* {seq} FETCH ({}", parts.join(" ")).into_bytes();
            if let Some(s) = &section {
                let body = it.body.clone().unwrap_or_default();
                out.extend_from_slice(format!(" {s} {{{}}}\r\n", body.len()).as_bytes());
                out.extend_from_slice(&body);
                if full_body {
                    *self
                        .shared
                        .sent
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(uid)
                        .or_default() += 1;
                }
            }
            out.extend_from_slice(b")\r\n");
            self.write(&out)?;
        }
        self.send(&format!("{tag} OK Success\r\n"))
    }
}

/// How a command word is shown in the command log.
fn show(v: &Value) -> String {
    match v {
        Value::Atom(a) => a.clone(),
        Value::Bytes(b) => imapwire::quote(&String::from_utf8_lossy(b)),
        Value::List(l) => format!("({})", l.iter().map(show).collect::<Vec<_>>().join(" ")),
        Value::Nil => "NIL".into(),
    }
}

/// `{n}` or `{n+}` at the end of a line: (n, whether the client waits for `+`).
fn literal_at_end(line: &[u8]) -> Option<(usize, bool)> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    let (digits, sync) = match digits.strip_suffix(b"+") {
        Some(d) => (d, false),
        None => (digits, true),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((std::str::from_utf8(digits).ok()?.parse().ok()?, sync))
}

/// The UIDs of `msgs` that the UID set names (`*` is the highest UID of the folder).
fn resolve_set(set: &str, msgs: &[Msg]) -> Option<Vec<u32>> {
    let max = msgs.iter().map(|m| m.uid).max().unwrap_or(0);
    let num = |s: &str| -> Option<u32> { if s == "*" { Some(max) } else { s.parse().ok() } };
    let mut ranges = Vec::new();
    for part in set.split(',') {
        let (a, b) = match part.split_once(':') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(part)?;
                (n, n)
            }
        };
        ranges.push((a.min(b), a.max(b)));
    }
    Some(
        msgs.iter()
            .map(|m| m.uid)
            .filter(|u| ranges.iter().any(|(lo, hi)| u >= lo && u <= hi))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_literals() {
        let msgs: Vec<Msg> = [3, 5, 9]
            .iter()
            .map(|&uid| Msg { uid, flags: vec![] })
            .collect();
        assert_eq!(resolve_set("1:*", &msgs), Some(vec![3, 5, 9]));
        assert_eq!(resolve_set("4,9", &msgs), Some(vec![9]));
        assert_eq!(resolve_set("20:*", &msgs), Some(vec![9]));
        assert_eq!(resolve_set("x", &msgs), None);
        assert_eq!(literal_at_end(b"A1 LOGIN {5}"), Some((5, true)));
        assert_eq!(literal_at_end(b"A1 APPEND x {12+}"), Some((12, false)));
        assert_eq!(
            appenduid("OK [APPENDUID 17 42] Append completed."),
            Some(42)
        );
    }
}
