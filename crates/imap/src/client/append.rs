//! APPEND: MULTIAPPEND (RFC 3502) in one command, or pipelined APPENDs
//! with LITERAL+ (RFC 7888), with APPENDUID (RFC 4315) results.

use bytes::Bytes;

use super::{Client, Sent};
use crate::Error;
use crate::command::{Command, is_atom};
use crate::proto::response::{Status, Tagged};
use crate::uidset::expand_uid_set;

/// One message to append.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendMessage {
    /// Flags and keywords to set; `\Recent` is dropped.
    pub flags: Vec<String>,
    /// INTERNALDATE as on the wire (`17-Jul-1996 02:44:25 -0700`).
    pub internal_date: Option<String>,
    pub body: Bytes,
}

/// The server refused one message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot append the message: the server said {}{}: {text}", if *.bad { "BAD" } else { "NO" }, code.as_ref().map(|c| format!(" [{c}]")).unwrap_or_default())]
pub struct AppendError {
    /// The response code, e.g. `OVERQUOTA`, `TOOBIG`, `LIMIT`, `TRYCREATE`.
    pub code: Option<String>,
    pub text: String,
    /// BAD (the server found the command malformed, e.g. a bad date) rather than NO.
    pub bad: bool,
}

/// The result of [`Client::append_batch`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The destination UIDVALIDITY, from APPENDUID.
    pub uidvalidity: Option<u32>,
    /// One entry per message, in order: the new UID (with UIDPLUS) or the
    /// server's refusal.
    pub results: Vec<Result<Option<u32>, AppendError>>,
}

/// `[APPENDUID uidvalidity uid-set]`.
fn appenduid(t: &Tagged) -> Option<(u32, Vec<u32>)> {
    let c = t.code.as_ref().filter(|c| c.name == "APPENDUID")?;
    let (v, set) = c.args.trim().split_once(' ')?;
    Some((v.parse().ok()?, expand_uid_set(set.trim())?))
}

fn refusal(t: Tagged) -> AppendError {
    AppendError {
        code: t.code.map(|c| c.name),
        text: t.text,
        bad: t.status == Status::Bad,
    }
}

impl Client {
    /// Appends messages to one mailbox, keeping flags and INTERNALDATE.
    ///
    /// With MULTIAPPEND the batch is one command (atomic: if the server
    /// refuses it, each message is retried alone to find the culprit).
    /// Without, the APPENDs are pipelined. Send 50-100 messages per call.
    pub async fn append_batch(
        &mut self,
        mailbox: &str,
        msgs: &[AppendMessage],
    ) -> Result<AppendOutcome, Error> {
        self.ensure_idle("append")?;
        if msgs.is_empty() {
            return Ok(AppendOutcome::default());
        }
        if msgs.len() > 1 && self.caps.multiappend() && !self.quirks.no_multiappend {
            let mut cmd = Command::new("APPEND").arg(mailbox);
            for m in msgs {
                cmd = message_args(cmd, m);
            }
            self.untagged.clear();
            let (tag, sent) = self.send(cmd.end()).await?;
            if matches!(sent, Sent::All) {
                self.conn.flush().await?;
            }
            let t = self.wait_for(&tag).await?;
            if t.status == Status::Ok {
                return Ok(match appenduid(&t) {
                    Some((validity, uids)) if uids.len() == msgs.len() => AppendOutcome {
                        uidvalidity: Some(validity),
                        results: uids.into_iter().map(|u| Ok(Some(u))).collect(),
                    },
                    other => {
                        if other.is_some() {
                            tracing::warn!(host = %self.host, "APPENDUID does not match the batch size");
                        }
                        AppendOutcome {
                            uidvalidity: other.map(|(v, _)| v),
                            results: msgs.iter().map(|_| Ok(None)).collect(),
                        }
                    }
                });
            }
            tracing::debug!(host = %self.host, "MULTIAPPEND refused ({}), appending one by one", t.text);
        }
        self.append_each(mailbox, msgs).await
    }

    /// One APPEND per message, pipelined as far as the literals allow.
    async fn append_each(
        &mut self,
        mailbox: &str,
        msgs: &[AppendMessage],
    ) -> Result<AppendOutcome, Error> {
        self.untagged.clear();
        let mut tags = Vec::with_capacity(msgs.len());
        for m in msgs {
            let cmd = message_args(Command::new("APPEND").arg(mailbox), m).end();
            let (tag, _) = self.send(cmd).await?;
            tags.push(tag);
        }
        self.conn.flush().await?;
        let mut out = AppendOutcome {
            uidvalidity: None,
            results: Vec::with_capacity(msgs.len()),
        };
        for tag in tags {
            let t = self.wait_for(&tag).await?;
            if t.status == Status::Ok {
                let uid = match appenduid(&t) {
                    Some((v, uids)) => {
                        out.uidvalidity = Some(v);
                        uids.first().copied()
                    }
                    None => None,
                };
                out.results.push(Ok(uid));
            } else {
                out.results.push(Err(refusal(t)));
            }
        }
        self.untagged.clear();
        Ok(out)
    }
}

/// ` (flags) "date" {literal}` for one message.
fn message_args(mut cmd: Command, m: &AppendMessage) -> Command {
    let flags: Vec<&str> = m
        .flags
        .iter()
        .map(String::as_str)
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent") && is_atom(f))
        .collect();
    cmd = cmd.raw(" (").raw(&flags.join(" ")).raw(")");
    if let Some(d) = m.internal_date.as_deref().filter(|d| {
        d.bytes()
            .all(|c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\')
    }) {
        cmd = cmd.raw(" \"").raw(d).raw("\"");
    }
    cmd.raw(" ").literal(m.body.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::response::Code;

    #[test]
    fn appenduid_expands_sets() {
        let t = Tagged {
            tag: "a".into(),
            status: Status::Ok,
            code: Some(Code {
                name: "APPENDUID".into(),
                args: "1700000000 4:6,9".into(),
            }),
            text: String::new(),
        };
        assert_eq!(appenduid(&t), Some((1_700_000_000, vec![4, 5, 6, 9])));
    }
}
