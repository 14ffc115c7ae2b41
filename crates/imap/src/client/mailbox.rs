//! Mailbox commands: NAMESPACE, LIST/LSUB, STATUS, SELECT/EXAMINE, CREATE,
//! SUBSCRIBE. Mailbox names are in their wire (modified UTF-7) form.

use super::Client;
use crate::Error;
use crate::command::Command;
use crate::proto::response::{Code, Untagged};
use crate::proto::value::Reader;

/// The personal namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Wire form, e.g. `""` or `"INBOX."`.
    pub prefix: String,
    /// The hierarchy separator, when the server has one.
    pub delimiter: Option<char>,
}

/// One mailbox from LIST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Wire (modified UTF-7) form.
    pub name: String,
    /// The hierarchy separator, None for a flat namespace.
    pub delimiter: Option<char>,
    /// As sent, e.g. `\Noselect`, `\HasChildren`, `\Sent`.
    pub attributes: Vec<String>,
    /// True when the mailbox is subscribed (LSUB, or LIST-EXTENDED's `\Subscribed`).
    pub subscribed: bool,
}

impl ListEntry {
    /// True when the server gave the mailbox `attr` (case does not matter).
    pub fn has_attribute(&self, attr: &str) -> bool {
        self.attributes.iter().any(|a| a.eq_ignore_ascii_case(attr))
    }

    /// False for `\Noselect` and `\NonExistent` (LIST-EXTENDED's name for
    /// a parent that exists only in the hierarchy, or a subscription to a
    /// deleted mailbox): a name in the tree, not a mailbox.
    pub fn is_selectable(&self) -> bool {
        !self.has_attribute("\\Noselect") && !self.has_attribute("\\NonExistent")
    }

    /// The RFC 6154 special use, e.g. `\Sent`, if any.
    pub fn special_use(&self) -> Option<&str> {
        const USES: [&str; 7] = [
            "\\All",
            "\\Archive",
            "\\Drafts",
            "\\Flagged",
            "\\Junk",
            "\\Sent",
            "\\Trash",
        ];
        self.attributes
            .iter()
            .find(|a| USES.iter().any(|u| u.eq_ignore_ascii_case(a)))
            .map(String::as_str)
    }
}

/// What SELECT, EXAMINE or STATUS tell about a mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxStatus {
    /// Number of messages.
    pub exists: u32,
    /// The folder's UIDVALIDITY: UIDs are only comparable while it stays the same.
    pub uidvalidity: u32,
    /// The UID the next message will get, when the server says.
    pub uidnext: Option<u32>,
    /// The highest MODSEQ of the folder, with CONDSTORE.
    pub highestmodseq: Option<u64>,
    /// Empty for STATUS.
    pub permanent_flags: Vec<String>,
}

impl Client {
    /// The first personal namespace, or None without NAMESPACE support.
    pub async fn namespace(&mut self) -> Result<Option<Namespace>, Error> {
        if !self.caps.namespace() {
            return Ok(None);
        }
        let (_, untagged) = self.run(Command::new("NAMESPACE").end()).await?;
        Ok(untagged.into_iter().find_map(|u| match u {
            Untagged::Namespace(ns) => ns
                .into_iter()
                .next()
                .map(|(prefix, delimiter)| Namespace { prefix, delimiter }),
            _ => None,
        }))
    }

    /// All mailboxes, with special-use attributes and subscription state.
    pub async fn list(&mut self) -> Result<Vec<ListEntry>, Error> {
        let extended = self.caps.list_extended() && !self.quirks.no_list_extended;
        let cmd = if extended {
            let ret = if self.caps.special_use() {
                " RETURN (SPECIAL-USE SUBSCRIBED CHILDREN)"
            } else {
                " RETURN (SUBSCRIBED CHILDREN)"
            };
            Command::new("LIST").raw(" \"\" \"*\"").raw(ret).end()
        } else {
            Command::new("LIST").raw(" \"\" \"*\"").end()
        };
        let (_, untagged) = self.run(cmd).await?;
        let mut out: Vec<ListEntry> = untagged
            .into_iter()
            .filter_map(|u| match u {
                Untagged::List {
                    lsub: false,
                    attributes,
                    delimiter,
                    name,
                } => Some(ListEntry {
                    subscribed: attributes
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case("\\Subscribed")),
                    name,
                    delimiter,
                    attributes,
                }),
                _ => None,
            })
            .collect();
        if !extended {
            let (_, untagged) = self
                .run(Command::new("LSUB").raw(" \"\" \"*\"").end())
                .await?;
            for u in untagged {
                if let Untagged::List {
                    lsub: true, name, ..
                } = u
                    && let Some(e) = out.iter_mut().find(|e| e.name == name)
                {
                    e.subscribed = true;
                }
            }
        }
        Ok(out)
    }

    /// STATUS: message count, UIDNEXT, UIDVALIDITY (and HIGHESTMODSEQ with
    /// CONDSTORE) without selecting the mailbox.
    pub async fn status(&mut self, mailbox: &str) -> Result<MailboxStatus, Error> {
        let items = if self.caps.condstore() {
            " (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"
        } else {
            " (MESSAGES UIDNEXT UIDVALIDITY)"
        };
        let (_, untagged) = self
            .run(Command::new("STATUS").arg(mailbox).raw(items).end())
            .await?;
        let mut st = MailboxStatus::default();
        for u in untagged {
            if let Untagged::MailboxStatus { items, .. } = u {
                for (k, v) in items {
                    match k.as_str() {
                        "MESSAGES" => st.exists = u32::try_from(v).unwrap_or(u32::MAX),
                        "UIDNEXT" => st.uidnext = u32::try_from(v).ok(),
                        "UIDVALIDITY" => st.uidvalidity = u32::try_from(v).unwrap_or(0),
                        "HIGHESTMODSEQ" => st.highestmodseq = Some(v),
                        _ => {}
                    }
                }
            }
        }
        Ok(st)
    }

    /// EXAMINE: selects the mailbox read-only.
    pub async fn examine(&mut self, mailbox: &str) -> Result<MailboxStatus, Error> {
        self.select_inner("EXAMINE", mailbox).await
    }

    /// SELECT: selects the mailbox read-write.
    pub async fn select(&mut self, mailbox: &str) -> Result<MailboxStatus, Error> {
        self.select_inner("SELECT", mailbox).await
    }

    async fn select_inner(
        &mut self,
        verb: &'static str,
        mailbox: &str,
    ) -> Result<MailboxStatus, Error> {
        let mut cmd = Command::new(verb).arg(mailbox);
        if self.caps.condstore() {
            cmd = cmd.raw(" (CONDSTORE)");
        }
        let (tagged, untagged) = self.run(cmd.end()).await?;
        let mut st = MailboxStatus::default();
        let mut codes: Vec<Code> = tagged.code.into_iter().collect();
        for u in untagged {
            match u {
                Untagged::Exists(n) => st.exists = n,
                Untagged::Status { code: Some(c), .. } => codes.push(c),
                _ => {}
            }
        }
        for c in codes {
            match c.name.as_str() {
                "UIDVALIDITY" => st.uidvalidity = c.args.trim().parse().unwrap_or(0),
                "UIDNEXT" => st.uidnext = c.args.trim().parse().ok(),
                "HIGHESTMODSEQ" => st.highestmodseq = c.args.trim().parse().ok(),
                "NOMODSEQ" => st.highestmodseq = None,
                "PERMANENTFLAGS" => st.permanent_flags = flag_list(&c.args),
                _ => {}
            }
        }
        Ok(st)
    }

    /// CREATE; a mailbox that already exists is not an error.
    pub async fn create(&mut self, mailbox: &str) -> Result<(), Error> {
        match self.run(Command::new("CREATE").arg(mailbox).end()).await {
            Ok(_) => Ok(()),
            Err(Error::No { code, text, .. })
                if code.as_deref() == Some("ALREADYEXISTS")
                    || text.to_ascii_lowercase().contains("already exists") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// CREATE with a special-use attribute (RFC 6154 CREATE-SPECIAL-USE), e.g. `\\Archive`:
    /// `CREATE "Archive" (USE (\\Archive))`. Without the capability, or when `role` is not a
    /// plain flag, a plain CREATE. A mailbox that already exists is not an error.
    pub async fn create_with_role(
        &mut self,
        mailbox: &str,
        role: Option<&str>,
    ) -> Result<(), Error> {
        let role = role.filter(|r| {
            self.caps.has("CREATE-SPECIAL-USE")
                && r.strip_prefix('\\')
                    .is_some_and(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphanumeric()))
        });
        let Some(role) = role else {
            return self.create(mailbox).await;
        };
        let cmd = Command::new("CREATE")
            .arg(mailbox)
            .raw(&format!(" (USE ({role}))"))
            .end();
        match self.run(cmd).await {
            Ok(_) => Ok(()),
            Err(Error::No { code, text, .. })
                if code.as_deref() == Some("ALREADYEXISTS")
                    || text.to_ascii_lowercase().contains("already exists") =>
            {
                Ok(())
            }
            // The server knows the role but will not give it (USEATTR): the folder itself
            // matters more than its attribute.
            Err(Error::No { code, .. }) if code.as_deref() == Some("USEATTR") => {
                self.create(mailbox).await
            }
            Err(e) => Err(e),
        }
    }

    /// Subscribes to `mailbox` (SUBSCRIBE).
    pub async fn subscribe(&mut self, mailbox: &str) -> Result<(), Error> {
        self.run(Command::new("SUBSCRIBE").arg(mailbox).end())
            .await
            .map(drop)
    }
}

/// Parses `(\Answered \Seen \*)` from a response code.
fn flag_list(args: &str) -> Vec<String> {
    let b = bytes::Bytes::copy_from_slice(args.trim().as_bytes());
    let mut r = Reader::new(&b);
    match r.value() {
        Ok(v) => v
            .as_list()
            .map(|l| l.iter().filter_map(|x| x.as_text()).collect())
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}
