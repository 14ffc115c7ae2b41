//! UID FETCH: message metadata, header fields, and streamed bodies.

use bytes::Bytes;

use super::{Client, check};
use crate::Error;
use crate::command::Command;
use crate::proto::response::{Response, Untagged};
use crate::proto::value::Value;
use crate::uidset::uid_set;

/// Metadata of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageMeta {
    /// The message's UID in the selected folder.
    pub uid: u32,
    /// As sent: system flags (`\Seen`) and keywords (`$Forwarded`).
    pub flags: Vec<String>,
    /// As on the wire, e.g. `17-Jul-1996 02:44:25 -0700`.
    pub internal_date: Option<String>,
    /// RFC822.SIZE as the server declares it (not trusted for memory budgets).
    pub size: Option<u64>,
    /// The message's MODSEQ, when CONDSTORE is on.
    pub modseq: Option<u64>,
}

/// One message body from a streaming fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedBody {
    /// The message's UID in the selected folder.
    pub uid: u32,
    /// The exact bytes of the message.
    pub body: Bytes,
}

fn fetch_uid(u: &Untagged) -> Option<u32> {
    u.fetch_item("UID").and_then(Value::as_u32)
}

/// The first `BODY[...]` item of a FETCH (name and value).
fn body_section(u: &Untagged) -> Option<&Value> {
    match u {
        Untagged::Fetch { items, .. } => items
            .iter()
            .find(|(k, _)| k.starts_with("BODY[") || k.starts_with("BINARY["))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn value_bytes(v: &Value) -> Bytes {
    match v {
        Value::Str(b) => b.clone(),
        Value::Atom(a) => Bytes::from(a.clone().into_bytes()),
        Value::Number(n) => Bytes::from(n.to_string().into_bytes()),
        Value::Nil | Value::List(_) => Bytes::new(),
    }
}

impl Client {
    /// `UID FETCH set (UID FLAGS INTERNALDATE RFC822.SIZE [MODSEQ])
    /// [(CHANGEDSINCE n)]` on the selected mailbox.
    pub async fn uid_fetch_meta(
        &mut self,
        uid_set: &str,
        changed_since: Option<u64>,
    ) -> Result<Vec<MessageMeta>, Error> {
        let condstore = self.caps.condstore();
        if changed_since.is_some() && !condstore {
            return Err(Error::Unsupported("fetch changes (CONDSTORE)".into()));
        }
        let mut cmd = Command::new("UID FETCH")
            .raw(" ")
            .raw(uid_set)
            .raw(if condstore {
                " (UID FLAGS INTERNALDATE RFC822.SIZE MODSEQ)"
            } else {
                " (UID FLAGS INTERNALDATE RFC822.SIZE)"
            });
        if let Some(n) = changed_since {
            cmd = cmd.raw(&format!(" (CHANGEDSINCE {n})"));
        }
        let mut out: Vec<MessageMeta> = Vec::new();
        self.run_with(cmd.end(), |u| {
            let Some(uid) = fetch_uid(&u) else { return };
            let mut m = MessageMeta {
                uid,
                ..MessageMeta::default()
            };
            if let Some(l) = u.fetch_item("FLAGS").and_then(Value::as_list) {
                m.flags = l.iter().filter_map(Value::as_text).collect();
            }
            m.internal_date = u.fetch_item("INTERNALDATE").and_then(Value::as_text);
            m.size = u.fetch_item("RFC822.SIZE").and_then(Value::as_u64);
            m.modseq = u
                .fetch_item("MODSEQ")
                .and_then(Value::as_list)
                .and_then(|l| l.first())
                .and_then(Value::as_u64);
            // A server may send the same UID twice (an unsolicited flag
            // update in between): keep the latest values.
            match out.last_mut() {
                Some(prev) if prev.uid == uid => merge(prev, m),
                _ => out.push(m),
            }
        })
        .await?;
        Ok(out)
    }

    /// `UID FETCH set (UID BODY.PEEK[HEADER.FIELDS (...)])`: the raw header
    /// lines of each message, for fingerprints.
    pub async fn uid_fetch_header_fields(
        &mut self,
        uid_set: &str,
        fields: &[&str],
    ) -> Result<Vec<(u32, Bytes)>, Error> {
        let cmd = Command::new("UID FETCH")
            .raw(" ")
            .raw(uid_set)
            .raw(" (UID BODY.PEEK[HEADER.FIELDS (")
            .raw(&fields.join(" "))
            .raw(")])")
            .end();
        let mut out = Vec::new();
        self.run_with(cmd, |u| {
            if let (Some(uid), Some(v)) = (fetch_uid(&u), body_section(&u)) {
                out.push((uid, value_bytes(v)));
            }
        })
        .await?;
        Ok(out)
    }

    /// Sends `UID FETCH uids (UID BODY.PEEK[])` and returns at once; pull
    /// the messages with [`Client::next_body`] as they arrive.
    pub async fn start_fetch_bodies(&mut self, uids: &[u32]) -> Result<(), Error> {
        self.ensure_idle("start a body fetch")?;
        if uids.is_empty() {
            return Ok(());
        }
        let mut sorted = uids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let cmd = Command::new("UID FETCH")
            .raw(" ")
            .raw(&uid_set(&sorted))
            .raw(" (UID BODY.PEEK[])")
            .end();
        self.untagged.clear();
        let (tag, _) = self.send(cmd).await?;
        self.conn.flush().await?;
        self.fetching = Some(tag);
        Ok(())
    }

    /// The next message of the running body fetch; None once the server
    /// has sent them all. Messages expunged meanwhile are simply absent.
    pub async fn next_body(&mut self) -> Result<Option<FetchedBody>, Error> {
        let Some(tag) = self.fetching.clone() else {
            return Ok(None);
        };
        loop {
            let resp = match self.read_response().await {
                Ok(r) => r,
                Err(e) => {
                    self.fetching = None;
                    return Err(e);
                }
            };
            match resp {
                Response::Untagged(u @ Untagged::Fetch { .. }) => {
                    // NIL: the server has no body for it (expunged meanwhile):
                    // leave it out rather than hand out an empty message.
                    if let (Some(uid), Some(v)) = (fetch_uid(&u), body_section(&u))
                        && *v != Value::Nil
                    {
                        return Ok(Some(FetchedBody {
                            uid,
                            body: value_bytes(v),
                        }));
                    }
                }
                Response::Tagged(t) if t.tag == tag => {
                    self.fetching = None;
                    check(t, "UID FETCH").map(drop)?;
                    return Ok(None);
                }
                Response::Tagged(t) => {
                    self.completed.insert(t.tag.clone(), t);
                }
                // EXISTS, EXPUNGE and the like: nothing to do mid-stream.
                Response::Untagged(_) | Response::Continue(_) => {}
            }
        }
    }
}

fn merge(prev: &mut MessageMeta, m: MessageMeta) {
    if !m.flags.is_empty() || prev.flags.is_empty() {
        prev.flags = m.flags;
    }
    prev.internal_date = m.internal_date.or(prev.internal_date.take());
    prev.size = m.size.or(prev.size);
    prev.modseq = m.modseq.or(prev.modseq);
}
