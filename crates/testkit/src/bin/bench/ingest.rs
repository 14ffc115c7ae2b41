//! The destination Dovecot's own ingest limit: the corpus's messages APPENDed into a fresh
//! user over `connections` bare sockets at once, bodies already in memory, so that no copier
//! with as many connections can go faster.
//!
//! Each connection takes every `connections`-th message of the corpus (so every connection
//! writes into every folder, as a copier that splits big folders does), groups them by folder
//! and sends them as pipelined MULTIAPPENDs of up to 100 messages with LITERAL+ (`{n+}`): one
//! thread writes everything while another reads the replies.

use std::io::{self, BufRead, BufReader, Write as _};
use std::net::TcpStream;
use std::time::Instant;

use passeur_testkit::Dovecot;
use passeur_testkit::corpus::{self, CorpusSpec, encode};
use passeur_testkit::imapwire::quote;

/// Messages per MULTIAPPEND, as passeur's default batch.
const BATCH: usize = 100;

struct Message {
    /// Index of the folder in the folder list.
    folder: usize,
    /// `(flags) "date"`.
    args: String,
    /// The message as served (CRLF).
    body: Vec<u8>,
}

/// The destination's wire name of a corpus folder (`/`-separated, separator `/`).
fn wire(name: &str) -> String {
    quote(&encode::mutf7_encode(name))
}

fn read_line(r: &mut BufReader<TcpStream>, line: &mut String) -> io::Result<()> {
    line.clear();
    if r.read_line(line)? == 0 {
        return Err(io::Error::other("the server closed the connection"));
    }
    Ok(())
}

fn login(dst: &Dovecot, n: u32) -> io::Result<(TcpStream, BufReader<TcpStream>)> {
    let stream = TcpStream::connect(dst.imap_addr())?;
    stream.set_nodelay(true)?;
    let w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    read_line(&mut r, &mut line)?;
    let (u, p) = dst.user(n);
    let mut w2 = w.try_clone()?;
    w2.write_all(format!("l LOGIN {u} {p}\r\n").as_bytes())?;
    loop {
        read_line(&mut r, &mut line)?;
        if line.starts_with("l ") {
            break;
        }
    }
    if !line.starts_with("l OK") {
        return Err(io::Error::other(format!("LOGIN: {line}")));
    }
    Ok((w, r))
}

/// Appends the corpus into destination user `n` over `connections` connections; returns the
/// seconds from the first APPEND to the last reply (logins and CREATEs not counted).
pub fn parallel_append(
    dst: &Dovecot,
    n: u32,
    spec: &CorpusSpec,
    connections: usize,
) -> io::Result<f64> {
    let connections = connections.max(1);
    let mut folders: Vec<String> = Vec::new();
    let mut parts: Vec<Vec<Message>> = (0..connections).map(|_| Vec::new()).collect();
    for (i, g) in corpus::generate(spec).enumerate() {
        let folder = match folders.iter().position(|f| *f == g.item.folder) {
            Some(p) => p,
            None => {
                folders.push(g.item.folder.clone());
                folders.len() - 1
            }
        };
        let flags: Vec<&str> = g
            .item
            .flags
            .iter()
            .chain(&g.item.keywords)
            .map(String::as_str)
            .collect();
        parts[i % connections].push(Message {
            folder,
            args: format!(
                "({}) \"{}\"",
                flags.join(" "),
                encode::imap_date(g.item.internal_date)
            ),
            body: corpus::to_crlf(&g.raw),
        });
    }
    // Folders first, on one connection, untimed (their parents are created implicitly).
    {
        let (mut w, mut r) = login(dst, n)?;
        let mut line = String::new();
        for (i, f) in folders.iter().enumerate() {
            if f == "INBOX" {
                continue;
            }
            w.write_all(format!("c{i} CREATE {}\r\n", wire(f)).as_bytes())?;
            let tag = format!("c{i} ");
            loop {
                read_line(&mut r, &mut line)?;
                if line.starts_with(&tag) {
                    break;
                }
            }
        }
        w.write_all(b"z LOGOUT\r\n")?;
    }
    let mut sessions = Vec::with_capacity(connections);
    for part in parts {
        let (w, r) = login(dst, n)?;
        // By folder, in corpus order within each, then in batches.
        let mut by_folder: Vec<Vec<Message>> = (0..folders.len()).map(|_| Vec::new()).collect();
        for m in part {
            by_folder[m.folder].push(m);
        }
        let mut batches: Vec<(usize, Vec<Message>)> = Vec::new();
        for (f, msgs) in by_folder.into_iter().enumerate() {
            let mut it = msgs.into_iter().peekable();
            while it.peek().is_some() {
                batches.push((f, it.by_ref().take(BATCH).collect()));
            }
        }
        sessions.push((w, r, batches));
    }
    let names: Vec<String> = folders.iter().map(|f| wire(f)).collect();
    let t = Instant::now();
    std::thread::scope(|scope| -> io::Result<()> {
        let mut handles = Vec::new();
        for (mut w, mut r, batches) in sessions {
            let names = &names;
            let count = batches.len();
            handles.push(scope.spawn(move || -> io::Result<()> {
                let mut out = io::BufWriter::with_capacity(256 * 1024, &mut w);
                for (i, (f, msgs)) in batches.iter().enumerate() {
                    write!(out, "a{i} APPEND {}", names[*f])?;
                    for m in msgs {
                        write!(out, " {} {{{}+}}\r\n", m.args, m.body.len())?;
                        out.write_all(&m.body)?;
                    }
                    out.write_all(b"\r\n")?;
                }
                out.flush()
            }));
            handles.push(scope.spawn(move || -> io::Result<()> {
                let mut line = String::new();
                let mut done = 0;
                while done < count {
                    read_line(&mut r, &mut line)?;
                    if line.starts_with('a') {
                        let rest = line.split_once(' ').map_or("", |(_, s)| s);
                        if !rest.starts_with("OK") {
                            return Err(io::Error::other(format!("APPEND: {line}")));
                        }
                        done += 1;
                    }
                }
                Ok(())
            }));
        }
        for h in handles {
            h.join()
                .map_err(|_| io::Error::other("a connection thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(t.elapsed().as_secs_f64())
}
