//! Textes en français.
//!
//! Typographie : espace insécable (U+00A0) avant « : », comme l'usage français le veut.

use std::fmt::Write as _;

use passeur_types::ContentKind;

use super::{Rendered, failures, line};
use crate::notification::{KindCounts, Notification, Side};

const SIGNATURE: &str =
    "-- \nCe message a été envoyé automatiquement par passeur. Merci de ne pas y répondre.\n";

/// Le singulier pour 0 et 1, le pluriel au-delà, comme en français.
fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n <= 1 { one } else { many }
}

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
                subject: format!("Votre migration {id} a commencé"),
                body: format!(
                    "Bonjour,\n\n\
                     Votre migration depuis {source} vers {destination} a commencé.\n\n\
                     Identifiant de la migration\u{a0}: {id}\n\
                     Pour la suivre\u{a0}: {url}\n\n\
                     Gardez cet identifiant. Avec le nom de votre compte, il vous permet de \
                     suivre la migration, de l'arrêter ou de la synchroniser à nouveau plus \
                     tard.\n\n\
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
                subject: format!("Votre migration {id} attend votre connexion"),
                body: format!(
                    "Bonjour,\n\n\
                     Votre migration depuis {source} vers {destination} est prête et attend \
                     que vous vous connectiez chez {provider}\u{a0}: ce fournisseur n'accepte \
                     pas de mot de passe.\n\n\
                     Ouvrez cette page, cliquez sur «\u{a0}Se connecter avec {provider}\u{a0}», \
                     puis sur «\u{a0}Lancer la migration\u{a0}»\u{a0}: {url}\n\n\
                     Identifiant de la migration\u{a0}: {id}\n\n\
                     Gardez cet identifiant. Avec le nom de votre compte, il vous permet de \
                     suivre la migration, de l'arrêter ou de la synchroniser à nouveau plus \
                     tard.\n\n\
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
            let mut body = format!("Bonjour,\n\nVotre migration {id} est terminée.\n\n");
            for c in counts {
                let _ = writeln!(body, "  {}", count_line(c));
            }
            let (shown, rest) = failures(lines, total_failed);
            if shown.is_empty() && total_failed == 0 {
                body.push_str("\nTout a été copié.\n");
            } else if !shown.is_empty() {
                body.push_str("\nNon copiés\u{a0}:\n");
                for l in &shown {
                    let _ = writeln!(body, "  - {l}");
                }
                if rest > 0 {
                    let _ = writeln!(body, "  … et {rest} {}.", plural(rest, "autre", "autres"));
                }
            }
            let _ = write!(
                body,
                "\nIdentifiant de la migration\u{a0}: {id}\n\
                 Détails et liste des éléments non copiés\u{a0}: {url}\n\n\
                 {SIGNATURE}",
                url = line(tracking_url),
            );
            let subject = if total_failed == 0 {
                format!("Votre migration {id} est terminée")
            } else {
                format!(
                    "Votre migration {id} est terminée, {total_failed} {}",
                    plural(total_failed, "élément non copié", "éléments non copiés")
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
                Side::Source => "Le serveur source a répondu\u{a0}: ",
                Side::Destination => "Le serveur de destination a répondu\u{a0}: ",
                Side::None => "Cause\u{a0}: ",
            };
            Rendered {
                subject: format!("Votre migration {id} s'est arrêtée sur une erreur"),
                body: format!(
                    "Bonjour,\n\n\
                     Votre migration {id} s'est arrêtée sur une erreur qu'elle ne peut pas \
                     surmonter seule.\n\n\
                     {place}{reason}\n\n\
                     Ce qui a déjà été copié reste sur la destination. Une fois le problème \
                     réglé, vous pourrez relancer la migration depuis sa page\u{a0}; elle \
                     reprendra là où elle s'est arrêtée, sans rien copier deux fois.\n\n\
                     Identifiant de la migration\u{a0}: {id}\n\
                     Pour la suivre\u{a0}: {url}\n\n\
                     {SIGNATURE}",
                    reason = line(reason),
                    url = line(tracking_url),
                ),
            }
        }
        Notification::ProjectCreated { project_id, url } => {
            let id = line(project_id);
            Rendered {
                subject: format!("Votre projet de migration {id} est prêt"),
                body: format!(
                    "Bonjour,\n\n\
                     Votre projet de migration {id} a été créé.\n\n\
                     Identifiant du projet\u{a0}: {id}\n\
                     Pour le gérer\u{a0}: {url}\n\n\
                     Gardez ce message\u{a0}: l'identifiant du projet et son mot de passe vous \
                     seront nécessaires pour y revenir.\n\n\
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
                0 => "aujourd'hui".to_owned(),
                1 => "dans 1\u{a0}jour".to_owned(),
                d => format!("dans {d}\u{a0}jours"),
            };
            Rendered {
                subject: format!("Votre projet de migration {id} sera supprimé {when}"),
                body: format!(
                    "Bonjour,\n\n\
                     Votre projet de migration {id} n'a pas été utilisé depuis un moment. Il \
                     sera supprimé {when}, avec les données que passeur garde pour lui (mots \
                     de passe et relevé des éléments copiés). Ce qui a été copié reste sur la \
                     destination.\n\n\
                     Pour garder le projet, ouvrez-le d'ici là\u{a0}: {url}\n\n\
                     Identifiant du projet\u{a0}: {id}\n\n\
                     {SIGNATURE}",
                    url = line(url),
                ),
            }
        }
    }
}

fn count_line(c: &KindCounts) -> String {
    let (kind, copied, failed) = match c.kind {
        ContentKind::Mail => ("Messages", "copié", "non copié"),
        ContentKind::Contacts => ("Contacts", "copié", "non copié"),
        ContentKind::Calendars => ("Événements", "copié", "non copié"),
        ContentKind::Tasks => ("Tâches", "copiée", "non copiée"),
    };
    let s = |n: u64| if n <= 1 { "" } else { "s" };
    let label = format!("{kind}\u{a0}:");
    let mut out = format!("{label:<13}{} {copied}{}", c.copied, s(c.copied));
    if c.failed > 0 {
        let _ = write!(out, ", {} {failed}{}", c.failed, s(c.failed));
    }
    out
}
