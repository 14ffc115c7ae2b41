//! English texts.

use std::fmt::Write as _;

use passeur_types::ContentKind;

use super::{Rendered, failures, line};
use crate::notification::{KindCounts, Notification, Side};

const SIGNATURE: &str =
    "-- \nThis message was sent automatically by passeur. Please do not reply to it.\n";

pub(super) fn render(n: &Notification) -> Rendered {
    match n {
        Notification::Started {
            migration_id,
            tracking_url,
            source,
            destination,
        } => {
            let id = line(migration_id);
            Rendered {
                subject: format!("Your migration {id} has started"),
                body: format!(
                    "Hello,\n\n\
                     Your migration from {source} to {destination} has started.\n\n\
                     Migration ID: {id}\n\
                     Follow it here: {url}\n\n\
                     Keep this ID. With your account name, it lets you follow the migration, \
                     stop it or synchronise it again later.\n\n\
                     {SIGNATURE}",
                    source = line(source),
                    destination = line(destination),
                    url = line(tracking_url),
                ),
            }
        }
        Notification::SignInNeeded {
            migration_id,
            tracking_url,
            source,
            destination,
            provider,
        } => {
            let id = line(migration_id);
            Rendered {
                subject: format!("Your migration {id} waits for your sign-in"),
                body: format!(
                    "Hello,\n\n\
                     Your migration from {source} to {destination} is ready, and waits for \
                     you to sign in at {provider}: that provider takes no password.\n\n\
                     Open this page, press \"Sign in with {provider}\", then \"Start the \
                     migration\": {url}\n\n\
                     Migration ID: {id}\n\n\
                     Keep this ID. With your account name, it lets you follow the migration, \
                     stop it or synchronise it again later.\n\n\
                     {SIGNATURE}",
                    source = line(source),
                    destination = line(destination),
                    provider = line(provider),
                    url = line(tracking_url),
                ),
            }
        }
        Notification::Completed {
            migration_id,
            tracking_url,
            counts,
            failures: lines,
        } => {
            let id = line(migration_id);
            let total_failed: u64 = counts.iter().map(|c| c.failed).sum();
            let mut body = format!("Hello,\n\nYour migration {id} is complete.\n\n");
            for c in counts {
                let _ = writeln!(body, "  {}", count_line(c));
            }
            let (shown, rest) = failures(lines, total_failed);
            if shown.is_empty() && total_failed == 0 {
                body.push_str("\nEverything was copied.\n");
            } else if !shown.is_empty() {
                body.push_str("\nNot copied:\n");
                for l in &shown {
                    let _ = writeln!(body, "  - {l}");
                }
                if rest > 0 {
                    let _ = writeln!(body, "  … and {rest} more.");
                }
            }
            let _ = write!(
                body,
                "\nMigration ID: {id}\n\
                 Details and the list of items not copied: {url}\n\n\
                 {SIGNATURE}",
                url = line(tracking_url),
            );
            let subject = if total_failed == 0 {
                format!("Your migration {id} is complete")
            } else {
                format!(
                    "Your migration {id} is complete, {total_failed} {} not copied",
                    if total_failed == 1 { "item" } else { "items" }
                )
            };
            Rendered { subject, body }
        }
        Notification::Failed {
            migration_id,
            tracking_url,
            reason,
            side,
        } => {
            let id = line(migration_id);
            let place = match side {
                Side::Source => "The source server reported: ",
                Side::Destination => "The destination server reported: ",
                Side::None => "Reason: ",
            };
            Rendered {
                subject: format!("Your migration {id} has stopped on an error"),
                body: format!(
                    "Hello,\n\n\
                     Your migration {id} has stopped on an error it cannot get past by itself.\n\n\
                     {place}{reason}\n\n\
                     What was already copied stays on the destination. Once the problem is \
                     fixed, you can start the migration again from its page; it will go on \
                     where it stopped, without copying anything twice.\n\n\
                     Migration ID: {id}\n\
                     Follow it here: {url}\n\n\
                     {SIGNATURE}",
                    reason = line(reason),
                    url = line(tracking_url),
                ),
            }
        }
        Notification::ProjectCreated { project_id, url } => {
            let id = line(project_id);
            Rendered {
                subject: format!("Your migration project {id} is ready"),
                body: format!(
                    "Hello,\n\n\
                     Your migration project {id} has been created.\n\n\
                     Project ID: {id}\n\
                     Manage it here: {url}\n\n\
                     Keep this message: you will need the project ID and its password to \
                     come back to it.\n\n\
                     {SIGNATURE}",
                    url = line(url),
                ),
            }
        }
        Notification::ProjectExpiring {
            project_id,
            days,
            url,
        } => {
            let id = line(project_id);
            let when = match days {
                0 => "today".to_owned(),
                1 => "in 1 day".to_owned(),
                d => format!("in {d} days"),
            };
            Rendered {
                subject: format!("Your migration project {id} will be deleted {when}"),
                body: format!(
                    "Hello,\n\n\
                     Your migration project {id} has had no activity for a while. It will be \
                     deleted {when}, with the data passeur keeps for it (passwords and the \
                     record of copied items). What was copied stays on the destination.\n\n\
                     To keep the project, open it before then: {url}\n\n\
                     Project ID: {id}\n\n\
                     {SIGNATURE}",
                    url = line(url),
                ),
            }
        }
    }
}

fn count_line(c: &KindCounts) -> String {
    let kind = match c.kind {
        ContentKind::Mail => "Messages",
        ContentKind::Contacts => "Contacts",
        ContentKind::Calendars => "Events",
        ContentKind::Tasks => "Tasks",
    };
    if c.failed == 0 {
        format!("{:<10}{} copied", format!("{kind}:"), c.copied)
    } else {
        format!(
            "{:<10}{} copied, {} not copied",
            format!("{kind}:"),
            c.copied,
            c.failed
        )
    }
}
