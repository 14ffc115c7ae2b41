use passeur_types::ContentKind;

use super::*;
use crate::notification::{KindCounts, Side};

const ID: &str = "k3jq7m2xw4bd5nv6hc2a7pzf4e";
const URL: &str = "https://passeur.example.org/m/k3jq7m2xw4bd5nv6hc2a7pzf4e";

/// One of every notification, with every optional part present.
pub(crate) fn samples() -> Vec<Notification> {
    vec![
        Notification::Started {
            migration_id: ID.into(),
            tracking_url: URL.into(),
            source: "alice@imap.old.example".into(),
            destination: "alice@imap.new.example".into(),
        },
        Notification::Completed {
            migration_id: ID.into(),
            tracking_url: URL.into(),
            counts: vec![
                KindCounts {
                    kind: ContentKind::Mail,
                    copied: 1234,
                    failed: 2,
                },
                KindCounts {
                    kind: ContentKind::Contacts,
                    copied: 56,
                    failed: 0,
                },
                KindCounts {
                    kind: ContentKind::Calendars,
                    copied: 1,
                    failed: 0,
                },
                KindCounts {
                    kind: ContentKind::Tasks,
                    copied: 0,
                    failed: 1,
                },
            ],
            failures: vec![
                "INBOX: \"Budget 2026\" — larger than the destination's limit".into(),
                "Archives/2019: UID 77 — the source server refused to send it".into(),
            ],
        },
        Notification::Failed {
            migration_id: ID.into(),
            tracking_url: URL.into(),
            reason: "wrong password for alice@imap.new.example".into(),
            side: Side::Destination,
        },
        Notification::ProjectCreated {
            project_id: "p7x2".into(),
            url: "https://passeur.example.org/p/p7x2".into(),
        },
        Notification::ProjectExpiring {
            project_id: "p7x2".into(),
            days: 7,
            url: "https://passeur.example.org/p/p7x2".into(),
        },
        Notification::SignInNeeded {
            migration_id: ID.into(),
            tracking_url: URL.into(),
            source: "alice@outlook.office365.com".into(),
            destination: "alice@imap.new.example".into(),
            provider: "Outlook.com / Microsoft 365".into(),
        },
    ]
}

#[test]
fn every_notification_renders_in_both_languages_without_placeholders() {
    for n in samples() {
        let fr = render(Lang::Fr, &n);
        let en = render(Lang::En, &n);
        for (lang, r) in [("fr", &fr), ("en", &en)] {
            let all = format!("{}\n{}", r.subject, r.body);
            assert!(!r.subject.trim().is_empty(), "{lang} {}", n.kind());
            assert!(!r.subject.contains('\n'), "{lang} {}", n.kind());
            assert!(
                r.subject.contains(n.id()),
                "{lang} {}: {}",
                n.kind(),
                r.subject
            );
            assert!(r.body.contains(n.id()), "{lang} {}: {}", n.kind(), r.body);
            for mark in ["{", "}", "$", "%s", "TODO", "\\n"] {
                assert!(
                    !all.contains(mark),
                    "{lang} {}: {mark:?} in\n{all}",
                    n.kind()
                );
            }
            let url = match &n {
                Notification::Started { tracking_url, .. }
                | Notification::SignInNeeded { tracking_url, .. }
                | Notification::Completed { tracking_url, .. }
                | Notification::Failed { tracking_url, .. } => tracking_url,
                Notification::ProjectCreated { url, .. }
                | Notification::ProjectExpiring { url, .. } => url,
            };
            assert!(r.body.contains(url.as_str()), "{lang} {}", n.kind());
        }
        assert_ne!(fr.subject, en.subject);
        assert_ne!(fr.body, en.body);
    }
}

#[test]
fn languages_are_the_ones_asked_for() {
    let n = &samples()[0];
    let fr = render(Lang::Fr, n);
    let en = render(Lang::En, n);
    assert!(fr.body.starts_with("Bonjour"), "{}", fr.body);
    assert!(fr.subject.contains("commencé"), "{}", fr.subject);
    assert!(en.body.starts_with("Hello"), "{}", en.body);
    assert!(en.subject.contains("started"), "{}", en.subject);
}

#[test]
fn completed_shows_counts_per_kind_and_the_failures() {
    let n = &samples()[1];
    let en = render(Lang::En, n);
    assert!(
        en.body.contains("Messages: 1234 copied, 2 not copied"),
        "{}",
        en.body
    );
    assert!(en.body.contains("Contacts: 56 copied\n"), "{}", en.body);
    assert!(en.body.contains("Budget 2026"), "{}", en.body);
    assert!(en.body.contains("UID 77"), "{}", en.body);
    assert!(en.subject.contains("3 items not copied"), "{}", en.subject);
    // Two lines named, three items failed: one more.
    assert!(en.body.contains("and 1 more"), "{}", en.body);
    let fr = render(Lang::Fr, n);
    assert!(fr.body.contains("1234 copiés, 2 non copiés"), "{}", fr.body);
    assert!(fr.body.contains("Tâches"), "{}", fr.body);
    assert!(fr.body.contains("0 copiée, 1 non copiée"), "{}", fr.body);
    assert!(
        fr.subject.contains("3 éléments non copiés"),
        "{}",
        fr.subject
    );
    assert!(fr.body.contains("et 1 autre."), "{}", fr.body);
}

#[test]
fn failure_list_is_bounded_and_one_line_each() {
    let failures: Vec<String> = (0..500)
        .map(|i| {
            format!(
                "INBOX: message {i}\r\nBcc: evil@example.org {}",
                "x".repeat(400)
            )
        })
        .collect();
    let n = Notification::Completed {
        migration_id: ID.into(),
        tracking_url: URL.into(),
        counts: vec![KindCounts {
            kind: ContentKind::Mail,
            copied: 0,
            failed: 500,
        }],
        failures,
    };
    for lang in Lang::ALL {
        let r = render(lang, &n);
        let listed = r.body.lines().filter(|l| l.starts_with("  - ")).count();
        assert_eq!(listed, MAX_FAILURE_LINES, "{}", r.body);
        assert!(r.body.contains("490"), "{}", r.body);
        assert!(!r.body.lines().any(|l| l.starts_with("Bcc:")), "{}", r.body);
        assert!(
            r.body
                .lines()
                .all(|l| l.chars().count() <= MAX_FAILURE_LINE_CHARS + 4),
            "{}",
            r.body
        );
    }
}

#[test]
fn everything_copied_is_said_plainly() {
    let n = Notification::Completed {
        migration_id: ID.into(),
        tracking_url: URL.into(),
        counts: vec![KindCounts {
            kind: ContentKind::Mail,
            copied: 1,
            failed: 0,
        }],
        failures: vec![],
    };
    let en = render(Lang::En, &n);
    assert!(en.body.contains("Everything was copied."), "{}", en.body);
    assert_eq!(en.subject, format!("Your migration {ID} is complete"));
    let fr = render(Lang::Fr, &n);
    assert!(fr.body.contains("1 copié\n"), "{}", fr.body);
    assert!(fr.body.contains("Tout a été copié."), "{}", fr.body);
}

#[test]
fn failed_names_the_side() {
    let mk = |side| Notification::Failed {
        migration_id: ID.into(),
        tracking_url: URL.into(),
        reason: "connection refused".into(),
        side,
    };
    let en = |s| render(Lang::En, &mk(s)).body;
    let fr = |s| render(Lang::Fr, &mk(s)).body;
    assert!(en(Side::Source).contains("source server reported: connection refused"));
    assert!(en(Side::Destination).contains("destination server reported: connection refused"));
    assert!(en(Side::None).contains("Reason: connection refused"));
    assert!(fr(Side::Source).contains("serveur source a répondu\u{a0}: connection refused"));
    assert!(fr(Side::Destination).contains("serveur de destination"));
}

#[test]
fn a_password_in_a_url_is_not_shown() {
    let n = Notification::Started {
        migration_id: ID.into(),
        tracking_url: URL.into(),
        source: "imaps://alice:hunter2@imap.old.example".into(),
        destination: "alice@new\nBcc: x@y".into(),
    };
    for lang in Lang::ALL {
        let r = render(lang, &n);
        assert!(!r.body.contains("hunter2"), "{}", r.body);
        assert!(
            r.body.contains("imaps://alice@imap.old.example"),
            "{}",
            r.body
        );
        // The line break is gone: caller text stays within its sentence.
        assert!(
            r.body.replace('\n', " ").contains("alice@new Bcc: x@y"),
            "{}",
            r.body
        );
    }
    assert_eq!(line(" a\r\n\tb  c \u{7}"), "a b c");
}

#[test]
fn expiry_days_read_well() {
    let mk = |days| Notification::ProjectExpiring {
        project_id: "p1".into(),
        days,
        url: "https://x.example/p/p1".into(),
    };
    assert!(render(Lang::En, &mk(1)).subject.ends_with("in 1 day"));
    assert!(render(Lang::En, &mk(0)).subject.ends_with("today"));
    assert!(render(Lang::En, &mk(30)).subject.ends_with("in 30 days"));
    assert!(
        render(Lang::Fr, &mk(1))
            .subject
            .ends_with("dans 1\u{a0}jour")
    );
    assert!(
        render(Lang::Fr, &mk(30))
            .subject
            .ends_with("dans 30\u{a0}jours")
    );
}
#[test]
fn paragraphs_are_wrapped_but_links_and_lists_are_whole() {
    let long_url = format!("https://passeur.example.org/m/{}", "x".repeat(100));
    let n = Notification::Failed {
        migration_id: ID.into(),
        tracking_url: long_url.clone(),
        reason: "word ".repeat(60),
        side: Side::Source,
    };
    for lang in Lang::ALL {
        let r = render(lang, &n);
        assert!(
            r.body.lines().any(|l| l.ends_with(long_url.as_str())),
            "{}",
            r.body
        );
        for l in r.body.lines().filter(|l| !l.contains("https://")) {
            assert!(l.chars().count() <= WRAP, "{l:?}");
        }
    }
    assert_eq!(
        wrap("  - a list item that goes on and on and on and on and on and on and on"),
        "  - a list item that goes on and on and on and on and on and on and on"
    );
    assert_eq!(wrap("a\n\nb"), "a\n\nb");
}
