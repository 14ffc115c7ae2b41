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
    /// The message's exact bytes.
    pub body: Bytes,
}

/// The server refused one message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot append the message: the server said {}{}: {text}", if *.bad { "BAD" } else { "NO" }, code.as_ref().map(|c| format!(" [{c}]")).unwrap_or_default())]
pub struct AppendError {
    /// The response code, e.g. `OVERQUOTA`, `TOOBIG`, `LIMIT`, `TRYCREATE`.
    pub code: Option<String>,
    /// The server's human-readable text.
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
pub(super) fn appenduid(t: &Tagged) -> Option<(u32, Vec<u32>)> {
    let c = t.code.as_ref().filter(|c| c.name == "APPENDUID")?;
    let (v, set) = c.args.trim().split_once(' ')?;
    Some((v.parse().ok()?, expand_uid_set(set.trim())?))
}

pub(super) fn refusal(t: Tagged) -> AppendError {
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
        // A command the server rejects before its non-synchronising literal
        // makes it read the literal as commands (Dovecot does): refuse bad
        // dates here instead of sending them.
        let bad_date = |m: &AppendMessage| {
            m.internal_date
                .as_deref()
                .is_some_and(|d| !valid_date_time(d))
        };
        if msgs.iter().any(bad_date) {
            let good: Vec<AppendMessage> = msgs.iter().filter(|m| !bad_date(m)).cloned().collect();
            let sent = Box::pin(self.append_batch(mailbox, &good)).await?;
            let mut sent_results = sent.results.into_iter();
            let results = msgs
                .iter()
                .map(|m| match m.internal_date.as_deref() {
                    Some(d) if !valid_date_time(d) => Err(AppendError {
                        code: None,
                        text: format!("invalid internal date {d:?} (not sent)"),
                        bad: true,
                    }),
                    _ => sent_results.next().unwrap_or(Ok(None)),
                })
                .collect();
            return Ok(AppendOutcome {
                uidvalidity: sent.uidvalidity,
                results,
            });
        }
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
        let mut out = AppendOutcome {
            uidvalidity: None,
            results: Vec::with_capacity(msgs.len()),
        };
        // Replies are read per window: unread replies to thousands of
        // pipelined commands could fill the socket buffers both ways and
        // deadlock (the server stops reading while it cannot write).
        for window in msgs.chunks(PIPELINE_WINDOW) {
            self.append_window(mailbox, window, &mut out).await?;
        }
        self.untagged.clear();
        Ok(out)
    }

    /// Sends the APPENDs of `msgs`: pipelined while their literals are non-synchronising; an
    /// APPEND whose literal needs the server's `+` is sent alone, once every earlier one has
    /// completed, and completes before the next is sent.
    ///
    /// Why not send the next command line right behind a body: the server then answers with two
    /// small writes in a row (the tagged OK, then the next `+`), the second is held by Nagle's
    /// algorithm until we acknowledge the first, and we delay that ACK (we have nothing to send
    /// while waiting for the `+`): about 40 ms lost per message (Courier-IMAP). Waiting for the
    /// OK first costs one round trip, and our next command line carries the ACK.
    async fn append_window(
        &mut self,
        mailbox: &str,
        msgs: &[AppendMessage],
        out: &mut AppendOutcome,
    ) -> Result<(), Error> {
        self.untagged.clear();
        let mut tags = Vec::with_capacity(msgs.len());
        for m in msgs {
            let synchronising = !self.non_sync_ok(m.body.len());
            if synchronising && !tags.is_empty() {
                self.conn.flush().await?;
                self.complete_appends(&mut tags, out).await?;
            }
            let cmd = message_args(Command::new("APPEND").arg(mailbox), m).end();
            let (tag, _) = self.send(cmd).await?;
            tags.push(tag);
            if synchronising {
                self.conn.flush().await?;
                self.complete_appends(&mut tags, out).await?;
            }
        }
        self.conn.flush().await?;
        self.complete_appends(&mut tags, out).await
    }

    /// Reads the completions of the APPENDs `tags` (in order) into `out`.
    async fn complete_appends(
        &mut self,
        tags: &mut Vec<String>,
        out: &mut AppendOutcome,
    ) -> Result<(), Error> {
        for tag in tags.drain(..) {
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
        Ok(())
    }
}

/// Pipelined APPENDs sent before their replies are read.
const PIPELINE_WINDOW: usize = 128;

/// ` (flags) "date" {literal}` for one message.
fn message_args(cmd: Command, m: &AppendMessage) -> Command {
    message_prefix(cmd, m).raw(" ").literal(m.body.clone())
}

/// ` (flags) "date"` for one message: its APPEND arguments before the literal.
pub(super) fn message_prefix(mut cmd: Command, m: &AppendMessage) -> Command {
    let flags: Vec<&str> = m
        .flags
        .iter()
        .map(String::as_str)
        .filter(|f| is_atom(f) && (!f.starts_with('\\') || is_settable_system_flag(f)))
        .collect();
    cmd = cmd.raw(" (").raw(&flags.join(" ")).raw(")");
    if let Some(d) = m.internal_date.as_deref().filter(|d| {
        d.bytes()
            .all(|c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\')
    }) {
        cmd = cmd.raw(" \"").raw(d).raw("\"");
    }
    cmd
}

/// System flags APPEND may set (`\\Recent` may not; unknown `\\X` is a BAD).
fn is_settable_system_flag(f: &str) -> bool {
    ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(f))
}

/// RFC 3501 date-time: `dd-Mon-yyyy hh:mm:ss +zzzz` (day may be one digit
/// or space-padded), with values in range.
pub(crate) fn valid_date_time(s: &str) -> bool {
    fn num(s: &str, max: u32) -> bool {
        !s.is_empty()
            && s.bytes().all(|c| c.is_ascii_digit())
            && s.parse::<u32>().is_ok_and(|n| n <= max)
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let s = s.strip_prefix(' ').unwrap_or(s);
    let mut parts = s.split(' ');
    let (Some(date), Some(time), Some(zone), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.split(':').collect();
    let date_ok = matches!(d.as_slice(), [day, mon, year]
        if day.len() <= 2 && num(day, 31) && *day != "0" && *day != "00"
            && MONTHS.contains(mon) && year.len() == 4 && num(year, 9999));
    let time_ok = matches!(t.as_slice(), [h, m, sec]
        if h.len() == 2 && m.len() == 2 && sec.len() == 2 && num(h, 23) && num(m, 59) && num(sec, 60));
    let zone_ok = zone.len() == 5
        && (zone.starts_with('+') || zone.starts_with('-'))
        && zone.get(1..3).is_some_and(|z| num(z, 23))
        && zone.get(3..5).is_some_and(|z| num(z, 59));
    date_ok && time_ok && zone_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::response::Code;

    #[test]
    fn date_time_validation() {
        for ok in [
            "17-Jul-1996 02:44:25 -0700",
            " 7-Jul-1996 02:44:25 +0000",
            "7-Jul-1996 23:59:60 +1400",
        ] {
            assert!(valid_date_time(ok), "{ok}");
        }
        for bad in [
            "31-Foo-2020 10:00:00 +0000",
            "01-Jan-2020 99:00:00 +0000",
            "01-Jan-2020 10:00:00",
            "00-Jan-2020 10:00:00 +0000",
            "01-Jan-2020 10:00:00 0000",
            "01-Jan-20 10:00:00 +0000",
            "",
            "01-Jan-2020 10:00:00 +0000 x",
            "01-Jan-2020 10:00:00 +é000",
            "01-Jan-2020 10:00:00 +0é0",
        ] {
            assert!(!valid_date_time(bad), "{bad}");
        }
    }

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
