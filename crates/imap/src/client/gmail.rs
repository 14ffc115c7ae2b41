//! Gmail's IMAP extensions (`X-GM-EXT-1`): the message ID and labels of each message, and
//! `UID COPY` with its COPYUID result (RFC 4315), which a Gmail migration uses on the
//! destination to put a message into its further labels without sending it again.

use super::{Client, fetch};
use crate::Error;
use crate::command::Command;
use crate::proto::response::Tagged;
use crate::proto::value::Value;
use crate::uidset::expand_uid_set;

/// One message of a Gmail folder: its metadata, `X-GM-MSGID` and `X-GM-LABELS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GmailMeta {
    /// UID, flags, internal date and size, as for any folder.
    pub meta: fetch::MessageMeta,
    /// `X-GM-MSGID`: the same in every folder the message shows in, and stable.
    pub msgid: u64,
    /// `X-GM-LABELS` as sent: system labels such as `\Inbox`, `\Sent`, `\Important`,
    /// `\Starred`, and user labels in their wire (modified UTF-7) form, e.g. `Work/2024`.
    pub labels: Vec<String>,
}

/// What `UID COPY` reported (COPYUID, RFC 4315).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyOutcome {
    /// The target's UIDVALIDITY.
    pub uidvalidity: Option<u32>,
    /// (source UID, new UID in the target), in the order the server gave them.
    pub uids: Vec<(u32, u32)>,
}

/// `[COPYUID uidvalidity source-set dest-set]`.
fn copyuid(t: &Tagged) -> Option<CopyOutcome> {
    let c = t.code.as_ref().filter(|c| c.name == "COPYUID")?;
    let mut parts = c.args.split_ascii_whitespace();
    let validity = parts.next()?.parse().ok()?;
    let from = expand_uid_set(parts.next()?)?;
    let to = expand_uid_set(parts.next()?)?;
    if from.len() != to.len() {
        return None;
    }
    Some(CopyOutcome {
        uidvalidity: Some(validity),
        uids: from.into_iter().zip(to).collect(),
    })
}

impl Client {
    /// Whether the server speaks Gmail's extensions (`X-GM-EXT-1`).
    pub fn is_gmail(&self) -> bool {
        self.caps.has("X-GM-EXT-1")
    }

    /// `UID FETCH set (UID FLAGS INTERNALDATE RFC822.SIZE X-GM-MSGID X-GM-LABELS)` on the
    /// selected mailbox. Messages without an `X-GM-MSGID` in the answer are left out.
    pub async fn uid_fetch_gmail(&mut self, uid_set: &str) -> Result<Vec<GmailMeta>, Error> {
        let cmd = Command::new("UID FETCH")
            .raw(" ")
            .raw(uid_set)
            .raw(" (UID FLAGS INTERNALDATE RFC822.SIZE X-GM-MSGID X-GM-LABELS)")
            .end();
        let mut out: Vec<GmailMeta> = Vec::new();
        self.run_with(cmd, |u| {
            let Some(uid) = u.fetch_item("UID").and_then(Value::as_u32) else {
                return;
            };
            let Some(msgid) = u.fetch_item("X-GM-MSGID").and_then(Value::as_u64) else {
                return;
            };
            let mut g = GmailMeta {
                msgid,
                ..GmailMeta::default()
            };
            g.meta.uid = uid;
            if let Some(l) = u.fetch_item("FLAGS").and_then(Value::as_list) {
                g.meta.flags = l.iter().filter_map(Value::as_text).collect();
            }
            g.meta.internal_date = u.fetch_item("INTERNALDATE").and_then(Value::as_text);
            g.meta.size = u.fetch_item("RFC822.SIZE").and_then(Value::as_u64);
            if let Some(l) = u.fetch_item("X-GM-LABELS").and_then(Value::as_list) {
                g.labels = l.iter().filter_map(Value::as_text).collect();
            }
            match out.last_mut() {
                Some(prev) if prev.meta.uid == uid => *prev = g,
                _ => out.push(g),
            }
        })
        .await?;
        Ok(out)
    }

    /// `UID COPY set mailbox` from the selected mailbox. The outcome is empty when the server
    /// did not report COPYUID.
    pub async fn uid_copy(&mut self, uid_set: &str, mailbox: &str) -> Result<CopyOutcome, Error> {
        let cmd = Command::new("UID COPY")
            .raw(" ")
            .raw(uid_set)
            .arg(mailbox)
            .end();
        let (tagged, _) = self.run(cmd).await?;
        Ok(copyuid(&tagged).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::response::{Code, Status};

    #[test]
    fn copyuid_pairs_source_and_target_uids() {
        let t = Tagged {
            tag: "A1".into(),
            status: Status::Ok,
            code: Some(Code {
                name: "COPYUID".into(),
                args: "38505 304,319:320 3956:3958".into(),
            }),
            text: "Done".into(),
        };
        let c = copyuid(&t).unwrap();
        assert_eq!(c.uidvalidity, Some(38505));
        assert_eq!(c.uids, vec![(304, 3956), (319, 3957), (320, 3958)]);
        let mut odd = t.clone();
        odd.code.as_mut().unwrap().args = "1 1:2 5".into();
        assert_eq!(copyuid(&odd), None);
    }
}
