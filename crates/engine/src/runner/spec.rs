//! What a migration is, as stored with it: its kind, endpoints and options, never a secret.
//!
//! Two shapes, told apart by their fields so that the JSON written by earlier versions still
//! reads: an account-to-account migration ([`AccountSpec`]) and a file import ([`ImportSpec`]).

use std::io::Read;
use std::path::{Path, PathBuf};

use passeur_types::ContentKind;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ConfigError;
use crate::{DavAccount, DavOptions, EngineError, FileKind, MailOptions, Pop3Options, Secret};

/// A migration's spec.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum MigrationSpec {
    /// A file imported into an account. Listed first: its `import` field tells it apart.
    Import(ImportSpec),
    /// One account to another.
    Accounts(AccountSpec),
}

impl MigrationSpec {
    /// Reads the spec stored with a migration.
    pub fn from_json(json: &str) -> Result<MigrationSpec, EngineError> {
        serde_json::from_str(json).map_err(|e| ConfigError::StoredOptions(e).into())
    }

    /// The spec as stored with the migration (JSON).
    pub fn to_json(&self) -> String {
        // A spec is plain data: serialising it cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The content kinds the migration moves.
    pub fn content(&self) -> Vec<ContentKind> {
        match self {
            MigrationSpec::Accounts(a) => {
                let mut c = Vec::new();
                if a.with_mail {
                    c.push(ContentKind::Mail);
                }
                if let Some(d) = &a.dav {
                    c.extend(d.kinds.iter().copied());
                }
                c
            }
            MigrationSpec::Import(i) => match i.import.format {
                FileKind::Pst => {
                    let mut c = Vec::new();
                    if i.import.imap.is_some() {
                        c.push(ContentKind::Mail);
                    }
                    if i.import.dav.is_some() {
                        c.extend([
                            ContentKind::Contacts,
                            ContentKind::Calendars,
                            ContentKind::Tasks,
                        ]);
                    }
                    c
                }
                FileKind::Vcf => vec![ContentKind::Contacts],
                FileKind::Ics => vec![ContentKind::Calendars],
            },
        }
    }

    /// True for a file import.
    pub fn is_import(&self) -> bool {
        matches!(self, MigrationSpec::Import(_))
    }
}

/// An account-to-account migration: mail over IMAP and/or contacts, calendars and tasks over
/// DAV. The IMAP URLs are the migration's own source and destination.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountSpec {
    /// Folder rules and limits of the mail part.
    pub mail: MailOptions,
    /// Log in to the source as this admin, on behalf of the user.
    pub from_admin: Option<String>,
    /// Log in to the destination as this admin, on behalf of the user.
    pub to_admin: Option<String>,
    /// False when only contacts/calendars/tasks are migrated.
    #[serde(default = "yes")]
    pub with_mail: bool,
    /// The contacts/calendars/tasks part, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dav: Option<DavSpec>,
    /// Where a POP3 source's messages go on the destination (IMAP wire name; `None`: INBOX).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pop3_folder: Option<String>,
}

impl AccountSpec {
    /// The options of a POP3 pass from this spec's mail limits.
    pub fn pop3_options(&self, dry_run: bool) -> Pop3Options {
        let l = &self.mail.limits;
        Pop3Options {
            folder: self.pop3_folder().to_owned(),
            batch_messages: l.batch_messages.max(1),
            batch_bytes: l.batch_bytes.max(1),
            retries: l.retries,
            dry_run,
            ..Pop3Options::default()
        }
    }

    /// The destination folder of a POP3 source.
    pub fn pop3_folder(&self) -> &str {
        self.pop3_folder.as_deref().unwrap_or("INBOX")
    }
}

fn yes() -> bool {
    true
}

/// The DAV side of an account migration (no secret).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DavSpec {
    /// `http(s)://LOGIN@HOST:PORT/PATH`, or `dns://LOGIN@DOMAIN` for RFC 6764 discovery.
    pub from: String,
    /// The destination, in the same forms as `from`.
    pub to: String,
    /// The kinds moved (contacts, calendars, tasks).
    pub kinds: Vec<ContentKind>,
    /// Replace a destination object with the same UID that this migration did not write.
    #[serde(default)]
    pub overwrite_conflicts: bool,
}

impl DavSpec {
    /// Both DAV accounts, with each side's password and TLS choice; `admins` (source,
    /// destination) log in on behalf of the users, as on the mail side.
    pub fn accounts(
        &self,
        src_password: Secret,
        dst_password: Secret,
        insecure_tls: (bool, bool),
        admins: (Option<String>, Option<String>),
    ) -> Result<(DavAccount, DavAccount), EngineError> {
        Ok((
            DavAccount::parse(&self.from, "", src_password, insecure_tls.0)?.with_admin(admins.0),
            DavAccount::parse(&self.to, "", dst_password, insecure_tls.1)?.with_admin(admins.1),
        ))
    }

    /// [`DavSpec::accounts`] as a run uses them: each side's TLS choice, DNS server, address
    /// policy and OAuth token from `opts`.
    pub(crate) async fn run_accounts(
        &self,
        passwords: (Secret, Secret),
        admins: (Option<String>, Option<String>),
        opts: &crate::RunOptions,
    ) -> Result<(DavAccount, DavAccount), EngineError> {
        let (src, dst) = self.accounts(
            passwords.0,
            passwords.1,
            (opts.source_insecure_tls, opts.destination_insecure_tls),
            admins,
        )?;
        Ok((
            src.with_net(opts.dns_server, opts)
                .with_oauth(opts.source_oauth.as_ref(), crate::Side::Source)
                .await?,
            dst.with_net(opts.dns_server, opts)
                .with_oauth(opts.destination_oauth.as_ref(), crate::Side::Destination)
                .await?,
        ))
    }

    /// The options of a DAV pass from this spec and the run's choices.
    pub fn options(&self, dry_run: bool, full: bool, parallel_writes: usize) -> DavOptions {
        DavOptions {
            overwrite_conflicts: self.overwrite_conflicts,
            dry_run,
            full,
            parallel_writes,
        }
    }
}

/// A file import (no secret).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportSpec {
    /// The file and where it goes.
    pub import: ImportTarget,
    /// Log in to the destination as this admin, on behalf of the user.
    pub to_admin: Option<String>,
}

/// Where a file goes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportTarget {
    /// The file's canonical path when it was imported.
    pub file: String,
    /// What kind of file it is.
    pub format: FileKind,
    /// IMAP destination URL (no secret).
    pub imap: Option<String>,
    /// DAV base URL, without user information.
    pub dav: Option<String>,
    /// The login on the DAV server.
    pub dav_user: Option<String>,
    /// The collection an .ics / .vcf goes into.
    pub collection: Option<String>,
}

impl ImportTarget {
    /// The destination as the migration records it: the IMAP URL and/or `dav:URL` (a PST), or
    /// `dav:URL#COLLECTION` (an .ics / .vcf).
    pub fn destination(&self) -> String {
        match self.format {
            FileKind::Pst => [
                self.imap.clone(),
                self.dav.as_ref().map(|d| format!("dav:{d}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
            _ => format!(
                "dav:{}#{}",
                self.dav.as_deref().unwrap_or_default(),
                self.collection.as_deref().unwrap_or_default()
            ),
        }
    }
}

/// A file's identity as an import's source: `file:<canonical path>#<SHA-256 of the first
/// MiB>:<size>`. The same file imported again is the same migration; a changed file of the same
/// name is another. Returns the canonical path too.
pub fn file_source_id(path: &Path) -> Result<(PathBuf, String), EngineError> {
    let file_err = |source| EngineError::File {
        path: path.display().to_string(),
        source,
    };
    let canon = path.canonicalize().map_err(file_err)?;
    let mut f = std::fs::File::open(&canon).map_err(file_err)?;
    let size = f.metadata().map_err(file_err)?.len();
    let mut head = Vec::with_capacity(1 << 20);
    f.by_ref()
        .take(1 << 20)
        .read_to_end(&mut head)
        .map_err(file_err)?;
    let hash = hex::encode(Sha256::digest(&head));
    let id = format!("file:{}#{hash}:{size}", canon.display());
    Ok((canon, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_written_by_earlier_versions_still_read() {
        // Session-2 CLI wrote these shapes (with the sticky `insecure_tls`, now ignored).
        let accounts = r#"{"mail":{"rules":{"include":[],"exclude":[],"rename":[],"include_virtual":false},
            "limits":{"connections":4,"bytes_in_flight":25165824,"batch_messages":100,"batch_bytes":6291456,"retries":6},
            "dry_run":false,"full":false},"from_admin":null,"to_admin":"admin","insecure_tls":true,"with_mail":true}"#;
        let s = MigrationSpec::from_json(accounts).unwrap();
        let MigrationSpec::Accounts(a) = &s else {
            panic!("an account migration read as {s:?}")
        };
        assert_eq!(a.to_admin.as_deref(), Some("admin"));
        assert_eq!(s.content(), vec![ContentKind::Mail]);

        let import = r#"{"import":{"file":"/x/a.pst","format":"pst","imap":"imaps://a@h:993",
            "dav":null,"dav_user":null,"collection":null},"to_admin":null,"insecure_tls":false}"#;
        let s = MigrationSpec::from_json(import).unwrap();
        assert!(s.is_import());
        assert_eq!(s.content(), vec![ContentKind::Mail]);
        // Written again, the sticky TLS choice is gone.
        assert!(!s.to_json().contains("insecure"));
    }

    #[test]
    fn a_spec_that_is_neither_is_refused() {
        assert!(MigrationSpec::from_json(r#"{"what":1}"#).is_err());
    }
}
