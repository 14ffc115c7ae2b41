//! Searching and changing messages: UID SEARCH, UID STORE, UID EXPUNGE.

use super::Client;
use crate::Error;
use crate::command::{Command, is_atom};
use crate::proto::response::Untagged;

impl Client {
    /// `UID SEARCH criteria` on the selected mailbox. The criteria are sent
    /// as given: quote strings with [`crate::quote`].
    pub async fn uid_search(&mut self, criteria: &str) -> Result<Vec<u32>, Error> {
        let cmd = Command::new("UID SEARCH").raw(" ").raw(criteria).end();
        let mut out = Vec::new();
        self.run_with(cmd, |u| {
            if let Untagged::Search(uids) = u {
                out.extend(uids);
            }
        })
        .await?;
        Ok(out)
    }

    /// `UID STORE set op (flags)`, e.g. op `+FLAGS.SILENT`.
    pub async fn uid_store(
        &mut self,
        uid_set: &str,
        op: &str,
        flags: &[String],
    ) -> Result<(), Error> {
        let flags: Vec<&str> = flags
            .iter()
            .map(String::as_str)
            .filter(|f| is_atom(f))
            .collect();
        let cmd = Command::new("UID STORE")
            .raw(" ")
            .raw(uid_set)
            .raw(" ")
            .raw(op)
            .raw(" (")
            .raw(&flags.join(" "))
            .raw(")")
            .end();
        self.run(cmd).await.map(drop)
    }

    /// `UID EXPUNGE set` with UIDPLUS; without it, a plain EXPUNGE (which
    /// removes every `\Deleted` message of the mailbox).
    pub async fn uid_expunge(&mut self, uid_set: &str) -> Result<(), Error> {
        let cmd = if self.caps.uidplus() {
            Command::new("UID EXPUNGE").raw(" ").raw(uid_set).end()
        } else {
            Command::new("EXPUNGE").end()
        };
        self.run(cmd).await.map(drop)
    }
}
