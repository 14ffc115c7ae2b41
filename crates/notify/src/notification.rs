//! What a notification says: [`Notification`], and the language it is written in
//! ([`Lang`]).

use std::fmt;
use std::str::FromStr;

use passeur_types::ContentKind;
use serde::{Deserialize, Serialize};

/// The language of a notification, chosen by the caller from the request's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// French.
    Fr,
    /// English, when nothing else fits.
    #[default]
    En,
}

impl Lang {
    /// Every language there are texts in.
    pub const ALL: [Lang; 2] = [Lang::Fr, Lang::En];

    /// The language tag (`fr`, `en`), as in `Content-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    /// The first supported language of an `Accept-Language`-style list (`fr-CA,fr;q=0.9`),
    /// ignoring weights; English when none is supported.
    pub fn from_accept_language(header: &str) -> Lang {
        header
            .split(',')
            .filter_map(|part| part.split(';').next()?.trim().parse().ok())
            .next()
            .unwrap_or_default()
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// The language tag is not French or English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot use language {0:?}: only fr and en are available")]
pub struct UnknownLang(pub String);

impl FromStr for Lang {
    type Err = UnknownLang;
    /// `fr`, `fr-FR`, `FR`, `en`, `en-GB`...
    fn from_str(s: &str) -> Result<Lang, UnknownLang> {
        let primary = s.trim().split(['-', '_']).next().unwrap_or_default();
        match primary.to_ascii_lowercase().as_str() {
            "fr" => Ok(Lang::Fr),
            "en" => Ok(Lang::En),
            _ => Err(UnknownLang(s.to_owned())),
        }
    }
}

/// Which server a failure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The server the migration reads from.
    Source,
    /// The server the migration writes to.
    Destination,
    /// Neither in particular (an internal error, a file that cannot be read...).
    None,
}

/// How many items of one kind were copied, and how many could not be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCounts {
    /// Mail, contacts, calendars or tasks.
    pub kind: ContentKind,
    /// Items copied (over the whole migration).
    pub copied: u64,
    /// Items that could not be copied.
    pub failed: u64,
}

/// One e-mail to send. Every text field is shown to the recipient as given (after
/// control characters are replaced by spaces): it must hold no secret. A URL with a
/// password in it is shown without the password all the same.
///
/// Serializable (JSON: `{"kind": "started", "migration_id": ...}`), so that a job can
/// carry it until the SMTP server takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Notification {
    /// A migration was created and will start (or has started).
    Started {
        /// The migration's public ID.
        migration_id: String,
        /// The page where the user follows the migration.
        tracking_url: String,
        /// The source as the user knows it, e.g. `alice@imap.example.org`.
        source: String,
        /// The destination, written the same way.
        destination: String,
    },
    /// A migration was created, and waits for its owner to sign in at a provider (OAuth 2.0)
    /// on its tracking page before it starts.
    SignInNeeded {
        /// The migration's public ID.
        migration_id: String,
        /// The page where the user signs in and follows the migration.
        tracking_url: String,
        /// The source as the user knows it, e.g. `alice@imap.old.example`.
        source: String,
        /// The destination, written the same way.
        destination: String,
        /// The provider to sign in at, as users know it (`Outlook.com / Microsoft 365`).
        provider: String,
    },
    /// A migration (or a sync pass) ran to its end.
    Completed {
        /// The migration's public ID.
        migration_id: String,
        /// The page where the user follows the migration.
        tracking_url: String,
        /// One line per content kind the migration moved, in the order given.
        counts: Vec<KindCounts>,
        /// A few of the items not copied, one line each ("INBOX: Re: budget — too large").
        /// Only the first [`MAX_FAILURE_LINES`] are shown, each cut to
        /// [`MAX_FAILURE_LINE_CHARS`] characters; the message says how many more there are
        /// (from the `failed` counts).
        failures: Vec<String>,
    },
    /// A migration stopped on an error it cannot get past by itself.
    Failed {
        /// The migration's public ID.
        migration_id: String,
        /// The page where the user follows the migration.
        tracking_url: String,
        /// The error, in words.
        reason: String,
        /// Which server it comes from.
        side: Side,
    },
    /// A project (a batch of migrations run by an administrator) was created.
    ProjectCreated {
        /// The project's public ID.
        project_id: String,
        /// Where the administrator opens the project.
        url: String,
    },
    /// A project without activity will be deleted in `days` days.
    ProjectExpiring {
        /// The project's public ID.
        project_id: String,
        /// Days left before the deletion.
        days: u32,
        /// Where to open the project to keep it.
        url: String,
    },
}

/// At most this many failure lines appear in a [`Notification::Completed`] message.
pub const MAX_FAILURE_LINES: usize = 10;
/// A failure line longer than this is cut (with `…`).
pub const MAX_FAILURE_LINE_CHARS: usize = 160;

impl Notification {
    /// A short name for logs: `started`, `sign-in-needed`, `completed`, `failed`,
    /// `project-created`, `project-expiring`.
    pub fn kind(&self) -> &'static str {
        match self {
            Notification::Started { .. } => "started",
            Notification::SignInNeeded { .. } => "sign-in-needed",
            Notification::Completed { .. } => "completed",
            Notification::Failed { .. } => "failed",
            Notification::ProjectCreated { .. } => "project-created",
            Notification::ProjectExpiring { .. } => "project-expiring",
        }
    }

    /// The migration or project ID the message is about.
    pub fn id(&self) -> &str {
        match self {
            Notification::Started { migration_id, .. }
            | Notification::SignInNeeded { migration_id, .. }
            | Notification::Completed { migration_id, .. }
            | Notification::Failed { migration_id, .. } => migration_id,
            Notification::ProjectCreated { project_id, .. }
            | Notification::ProjectExpiring { project_id, .. } => project_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_round_trip_through_json() {
        let n = Notification::Completed {
            migration_id: "m1".into(),
            tracking_url: "https://x.example/m/m1".into(),
            counts: vec![KindCounts {
                kind: ContentKind::Tasks,
                copied: 3,
                failed: 1,
            }],
            failures: vec!["Tasks: buy milk — refused".into()],
        };
        let json = serde_json::to_string(&n).unwrap();
        assert!(json.starts_with(r#"{"kind":"completed","#), "{json}");
        assert!(json.contains(r#""kind":"tasks""#), "{json}");
        assert_eq!(serde_json::from_str::<Notification>(&json).unwrap(), n);
        let f = Notification::Failed {
            migration_id: "m1".into(),
            tracking_url: "u".into(),
            reason: "r".into(),
            side: Side::Source,
        };
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains(r#""side":"source""#), "{json}");
        assert_eq!(serde_json::from_str::<Notification>(&json).unwrap(), f);
        assert_eq!(serde_json::to_string(&Lang::Fr).unwrap(), r#""fr""#);
    }

    #[test]
    fn language_tags() {
        assert_eq!("fr-CA".parse::<Lang>(), Ok(Lang::Fr));
        assert_eq!("EN_gb".parse::<Lang>(), Ok(Lang::En));
        assert!("de".parse::<Lang>().is_err());
        assert_eq!(
            Lang::from_accept_language("de-DE, fr;q=0.8, en;q=0.5"),
            Lang::Fr
        );
        assert_eq!(Lang::from_accept_language("de, it"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
    }
}
