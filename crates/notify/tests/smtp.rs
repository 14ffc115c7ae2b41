//! Notifications sent through a real SMTP server (the testkit's aiosmtpd): plain,
//! STARTTLS and implicit TLS, with AUTH; the received bytes parsed back; and the
//! failures a job queue must tell apart (retryable or not).

use std::time::Duration;

use mail_parser::MessageParser;
use passeur_notify::{
    KindCounts, Lang, Notification, Notifier, NotifyError, Security, Side, SmtpConfig,
};
use passeur_testkit::{ReceivedMessage, SmtpOptions, SmtpReceiver, SmtpSecurity};
use passeur_types::ContentKind;

const FROM: &str = "Passeur <noreply@passeur.example.org>";
const TO: &str = "alice@example.org";
const USER: &str = "notifier";
const PASSWORD: &str = "Pa55-w0rd/with:odd@chars";
const ID: &str = "k3jq7m2xw4bd5nv6hc2a7pzf4e";
const URL: &str = "https://passeur.example.org/m/k3jq7m2xw4bd5nv6hc2a7pzf4e";
const WAIT: Duration = Duration::from_secs(20);

fn receiver(security: SmtpSecurity, auth: bool) -> SmtpReceiver {
    SmtpReceiver::start(SmtpOptions {
        security,
        auth: auth.then(|| (USER.to_owned(), PASSWORD.to_owned())),
        ..SmtpOptions::default()
    })
    .expect("start aiosmtpd")
}

/// A notifier for `rx`, trusting its private CA.
fn notifier(rx: &SmtpReceiver) -> Notifier {
    let mut config = SmtpConfig::from_url(&rx.url(), FROM).unwrap();
    config.ca_file = rx.ca_file();
    config.timeout = Duration::from_secs(10);
    Notifier::new(config).unwrap()
}

fn all_notifications() -> Vec<Notification> {
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
                    failed: 1,
                },
                KindCounts {
                    kind: ContentKind::Contacts,
                    copied: 56,
                    failed: 0,
                },
            ],
            failures: vec!["INBOX: « Budget 2026 » — larger than the destination's limit".into()],
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

fn link(n: &Notification) -> &str {
    match n {
        Notification::Started { tracking_url, .. }
        | Notification::SignInNeeded { tracking_url, .. }
        | Notification::Completed { tracking_url, .. }
        | Notification::Failed { tracking_url, .. } => tracking_url,
        Notification::ProjectCreated { url, .. } | Notification::ProjectExpiring { url, .. } => url,
        _ => unreachable!("a notification this test does not know"),
    }
}

/// Parses what the server received and checks it is the notification `n` in `lang`,
/// as a mail client would show it.
fn check_received(m: &ReceivedMessage, n: &Notification, lang: Lang) {
    assert_eq!(m.from, "noreply@passeur.example.org");
    assert_eq!(m.to, vec![TO.to_owned()]);
    let parsed = MessageParser::default()
        .parse(&m.raw)
        .expect("the received message parses");
    let expected = passeur_notify::render(lang, n);
    assert_eq!(parsed.subject(), Some(expected.subject.as_str()));
    let body = parsed.body_text(0).expect("a text body");
    assert_eq!(
        body.replace("\r\n", "\n").trim_end(),
        expected.body.trim_end()
    );
    assert!(body.contains(n.id()), "{body}");
    assert!(body.contains(link(n)), "{body}");
    let greeting = match lang {
        Lang::Fr => "Bonjour",
        Lang::En => "Hello",
    };
    assert!(body.starts_with(greeting), "{body}");
    assert_eq!(
        parsed.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    assert_eq!(
        parsed.header_raw("Content-Language").map(str::trim),
        Some(lang.tag())
    );
    let mid = parsed.message_id().expect("a Message-ID");
    assert!(mid.ends_with("@passeur.example.org"), "{mid}");
    assert!(parsed.date().is_some(), "a Date header");
    let from = parsed.from().and_then(|a| a.first()).expect("From");
    assert_eq!(from.address(), Some("noreply@passeur.example.org"));
    assert_eq!(from.name(), Some("Passeur"));
    let to = parsed.to().and_then(|a| a.first()).expect("To");
    assert_eq!(to.address(), Some(TO));
}

/// The password must show in no error, whatever its form.
fn assert_no_password(e: &NotifyError) {
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(!shown.contains(PASSWORD), "{shown}");
        assert!(!shown.contains("Pa55"), "{shown}");
    }
}

#[tokio::test]
async fn every_notification_arrives_in_both_languages_over_plain_smtp() {
    let rx = receiver(SmtpSecurity::None, false);
    let notifier = notifier(&rx);
    let mut sent = Vec::new();
    for n in all_notifications() {
        for lang in Lang::ALL {
            notifier.send(TO, lang, &n).await.unwrap();
            sent.push((n.clone(), lang));
        }
    }
    let got = rx.wait_for(sent.len(), WAIT).unwrap();
    assert_eq!(got.len(), sent.len());
    for (m, (n, lang)) in got.iter().zip(&sent) {
        check_received(m, n, *lang);
        assert!(!m.tls);
        assert_eq!(m.login, None);
    }
    // Each message has its own Message-ID.
    let mut ids: Vec<String> = got
        .iter()
        .map(|m| {
            let p = MessageParser::default().parse(&m.raw).unwrap();
            p.message_id().unwrap().to_owned()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), sent.len());
}

#[tokio::test]
async fn starttls_with_auth_delivers_under_tls() {
    let rx = receiver(SmtpSecurity::StartTls, true);
    let notifier = notifier(&rx);
    assert_eq!(notifier.config().security, Security::StartTls);
    let n = &all_notifications()[0];
    notifier.send(TO, Lang::Fr, n).await.unwrap();
    let got = rx.wait_for(1, WAIT).unwrap();
    check_received(&got[0], n, Lang::Fr);
    assert!(got[0].tls, "the session was not under TLS");
    assert_eq!(got[0].login.as_deref(), Some(USER));
}

#[tokio::test]
async fn implicit_tls_with_auth_delivers() {
    let rx = receiver(SmtpSecurity::Implicit, true);
    let notifier = notifier(&rx);
    assert_eq!(notifier.config().security, Security::ImplicitTls);
    let n = &all_notifications()[1];
    notifier.send(TO, Lang::En, n).await.unwrap();
    let got = rx.wait_for(1, WAIT).unwrap();
    check_received(&got[0], n, Lang::En);
    assert!(got[0].tls);
    assert_eq!(got[0].login.as_deref(), Some(USER));
}

#[tokio::test]
async fn plain_smtp_with_auth_on_loopback() {
    let rx = receiver(SmtpSecurity::None, true);
    let notifier = notifier(&rx);
    let n = &all_notifications()[2];
    notifier.send(TO, Lang::Fr, n).await.unwrap();
    let got = rx.wait_for(1, WAIT).unwrap();
    check_received(&got[0], n, Lang::Fr);
    assert_eq!(got[0].login.as_deref(), Some(USER));
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_fatal_tls_error_unless_accepted() {
    let rx = receiver(SmtpSecurity::Implicit, false);
    let n = &all_notifications()[0];

    // The system's trust store does not know the test CA.
    let config = SmtpConfig::from_url(&rx.url(), FROM).unwrap();
    let e = Notifier::new(config)
        .unwrap()
        .send(TO, Lang::En, n)
        .await
        .unwrap_err();
    assert!(matches!(e, NotifyError::Tls { .. }), "{e:?}");
    assert!(!e.is_retryable());

    // The test-only switch.
    let url = format!("{}?accept_invalid_certs=true", rx.url());
    let config = SmtpConfig::from_url(&url, FROM).unwrap();
    Notifier::new(config)
        .unwrap()
        .send(TO, Lang::En, n)
        .await
        .unwrap();
    assert_eq!(rx.wait_for(1, WAIT).unwrap().len(), 1);
}

#[tokio::test]
async fn starttls_is_required_by_default() {
    // A server that offers no STARTTLS, and a URL without tls=none: nothing goes out
    // in the clear.
    let rx = receiver(SmtpSecurity::None, false);
    let url = rx.url().replace("?tls=none", "");
    let config = SmtpConfig::from_url(&url, FROM).unwrap();
    assert_eq!(config.security, Security::StartTls);
    let e = Notifier::new(config)
        .unwrap()
        .send(TO, Lang::En, &all_notifications()[0])
        .await
        .unwrap_err();
    assert!(!e.is_retryable(), "{e:?}");
    assert!(e.to_string().contains("STARTTLS"), "{e}");
    assert!(rx.messages().unwrap().is_empty());
}

#[tokio::test]
async fn a_stopped_server_is_retryable() {
    let mut rx = receiver(SmtpSecurity::StartTls, true);
    let notifier = notifier(&rx);
    rx.stop();
    let e = notifier
        .send(TO, Lang::En, &all_notifications()[0])
        .await
        .unwrap_err();
    assert!(matches!(e, NotifyError::Unreachable { .. }), "{e:?}");
    assert!(e.is_retryable());
    assert_no_password(&e);
}

#[tokio::test]
async fn a_451_is_retryable_and_the_retry_gets_through() {
    let rx = receiver(SmtpSecurity::StartTls, true);
    let notifier = notifier(&rx);
    let n = &all_notifications()[0];
    rx.set_rcpt_reply(Some("451 4.3.0 Try again later"))
        .unwrap();
    let e = notifier.send(TO, Lang::En, n).await.unwrap_err();
    assert_eq!(e.smtp_code(), Some(451), "{e:?}");
    assert!(e.is_retryable());
    assert_no_password(&e);
    assert!(rx.messages().unwrap().is_empty());

    rx.set_rcpt_reply(None).unwrap();
    notifier.send(TO, Lang::En, n).await.unwrap();
    let got = rx.wait_for(1, WAIT).unwrap();
    assert_eq!(got.len(), 1);
    check_received(&got[0], n, Lang::En);
}

#[tokio::test]
async fn a_550_is_permanent() {
    let rx = receiver(SmtpSecurity::Implicit, true);
    let notifier = notifier(&rx);
    rx.set_rcpt_reply(Some("550 5.1.1 No such user here"))
        .unwrap();
    let e = notifier
        .send(TO, Lang::Fr, &all_notifications()[0])
        .await
        .unwrap_err();
    assert_eq!(e.smtp_code(), Some(550), "{e:?}");
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("No such user"), "{e}");
    assert_no_password(&e);
    assert!(rx.messages().unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_password_is_permanent_and_not_shown() {
    let rx = receiver(SmtpSecurity::StartTls, true);
    let mut config = SmtpConfig::from_url(&rx.url(), FROM).unwrap();
    config.ca_file = rx.ca_file();
    config.set_password("Pa55-but-wrong");
    let e = Notifier::new(config)
        .unwrap()
        .send(TO, Lang::En, &all_notifications()[0])
        .await
        .unwrap_err();
    assert_eq!(e.smtp_code(), Some(535), "{e:?}");
    assert!(!e.is_retryable());
    assert!(!format!("{e} {e:?}").contains("Pa55"), "{e:?}");
    assert!(rx.messages().unwrap().is_empty());
}

#[tokio::test]
async fn a_bad_recipient_is_refused_before_connecting() {
    // The server is gone: had the notifier connected first, the error would be
    // "unreachable".
    let mut rx = receiver(SmtpSecurity::None, false);
    let notifier = notifier(&rx);
    rx.stop();
    for to in [
        "not-an-address",
        "alice@example.org\r\nBcc: eve@example.org",
        "",
    ] {
        let e = notifier
            .send(to, Lang::En, &all_notifications()[0])
            .await
            .unwrap_err();
        assert!(matches!(e, NotifyError::BadAddress { .. }), "{to:?}: {e:?}");
        assert!(!e.is_retryable());
    }
}

#[test]
fn the_password_is_never_printed() {
    let rx = receiver(SmtpSecurity::StartTls, true);
    let config = SmtpConfig::from_url(&rx.url(), FROM).unwrap();
    assert!(config.has_password());
    for shown in [
        format!("{config:?}"),
        format!("{config:#?}"),
        config.redacted_url(),
        format!("{:?}", Notifier::new(config.clone()).unwrap()),
    ] {
        assert!(!shown.contains(PASSWORD), "{shown}");
        assert!(!shown.contains("Pa55"), "{shown}");
        assert!(shown.contains(USER), "{shown}");
    }
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_retryable_time_out() {
    // Accepts the TCP connection (the kernel's backlog) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url = format!("smtp://{USER}:secret-pw@127.0.0.1:{port}?tls=none&timeout=1");
    let notifier = Notifier::new(SmtpConfig::from_url(&url, FROM).unwrap()).unwrap();
    let e = notifier
        .send(TO, Lang::En, &all_notifications()[0])
        .await
        .unwrap_err();
    assert!(matches!(e, NotifyError::Unreachable { .. }), "{e:?}");
    assert!(e.is_retryable());
    assert!(!format!("{e} {e:?}").contains("secret-pw"), "{e:?}");
    drop(silent);
}

/// A token in the URL logs in with OAUTHBEARER where the server offers it, else XOAUTH2; a
/// refused one is a permanent failure that never shows the token, and says why when the
/// server's OAUTHBEARER challenge does.
async fn a_token_logs_in(offer_oauthbearer: bool) {
    let rx = SmtpReceiver::start(SmtpOptions {
        security: SmtpSecurity::StartTls,
        auth: Some((USER.to_owned(), "ya29.test-access-token".to_owned())),
        no_oauthbearer: !offer_oauthbearer,
        ..SmtpOptions::default()
    })
    .expect("start aiosmtpd");
    let url = format!(
        "smtp://{USER}@127.0.0.1:{}?auth=xoauth2",
        rx.url().rsplit(':').next().unwrap()
    );
    let mut config = SmtpConfig::from_url(&url, FROM).unwrap();
    assert!(config.oauth2);
    config.ca_file = rx.ca_file();
    config.timeout = Duration::from_secs(10);
    config.set_password("ya29.test-access-token");
    let n = &all_notifications()[0];
    Notifier::new(config.clone())
        .unwrap()
        .send(TO, Lang::En, n)
        .await
        .unwrap();
    let got = rx.wait_for(1, WAIT).unwrap();
    check_received(&got[0], n, Lang::En);
    assert_eq!(got[0].login.as_deref(), Some(USER));
    let mechanism = if offer_oauthbearer {
        "OAUTHBEARER"
    } else {
        "XOAUTH2"
    };
    assert_eq!(rx.oauth_attempts(), [format!("{mechanism} ok")]);

    // A refused token is a permanent failure that never shows the token.
    config.set_password("ya29.expired");
    let e = Notifier::new(config)
        .unwrap()
        .send(TO, Lang::En, n)
        .await
        .unwrap_err();
    assert_eq!(e.smtp_code(), Some(535), "{e:?}");
    assert!(!e.is_retryable(), "{e:?}");
    assert!(!format!("{e} {e:?}").contains("ya29"), "{e:?}");
    assert_eq!(rx.oauth_attempts()[1], format!("{mechanism} refused"));
    if offer_oauthbearer {
        assert!(
            e.to_string()
                .contains("the server refused the OAuth 2.0 token: invalid_token (expired, revoked or not valid)"),
            "{e}"
        );
    }
    assert_eq!(rx.messages().unwrap().len(), 1);
    let e = SmtpConfig::from_url("smtp://u@h?auth=oauth", FROM).unwrap_err();
    assert!(e.to_string().contains("auth=oauth is not valid"), "{e}");
}

#[tokio::test]
async fn an_oauth2_token_logs_in_with_oauthbearer_where_offered() {
    a_token_logs_in(true).await;
}

#[tokio::test]
async fn an_oauth2_token_logs_in_with_xoauth2_where_oauthbearer_is_not_offered() {
    a_token_logs_in(false).await;
}

/// A notifier logging in with XOAUTH2 to `rx` with `USER`'s token from `ts`, which expires at
/// `expires_at` and is renewed at `ts`.
fn oauth_notifier(
    rx: &SmtpReceiver,
    ts: &passeur_testkit::TokenServer,
    expires_at: u64,
) -> (Notifier, std::sync::Arc<passeur_oauth::TokenSource>) {
    let url = format!(
        "smtp://{USER}@127.0.0.1:{}?auth=xoauth2",
        rx.url().rsplit(':').next().unwrap()
    );
    let mut config = SmtpConfig::from_url(&url, FROM).unwrap();
    config.ca_file = rx.ca_file();
    config.timeout = Duration::from_secs(10);
    let t = ts.issue(USER);
    let token = passeur_oauth::Token {
        access_token: passeur_types::Secret::new(t["access_token"].as_str().unwrap()),
        refresh_token: Some(passeur_types::Secret::new(
            t["refresh_token"].as_str().unwrap(),
        )),
        expires_at: Some(expires_at),
    };
    let provider =
        passeur_oauth::Provider::new("test", &ts.token_url(), passeur_testkit::OAUTH_CLIENT_ID)
            .unwrap();
    let source = std::sync::Arc::new(passeur_oauth::TokenSource::new(token, Some(provider)));
    let n = Notifier::new(config)
        .unwrap()
        .with_oauth(source.clone())
        .unwrap();
    (n, source)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth2_token_is_renewed_before_it_expires_and_after_a_refusal() {
    let ts = passeur_testkit::TokenServer::start().unwrap();
    let rx = SmtpReceiver::start(SmtpOptions {
        security: SmtpSecurity::StartTls,
        auth: Some((USER.to_owned(), "unused".to_owned())),
        oauth2_introspection: Some(ts.introspection_url()),
        ..SmtpOptions::default()
    })
    .expect("start aiosmtpd");
    let now = passeur_oauth::now();
    let n = &all_notifications()[0];

    // A token good for an hour: sent as it is.
    let (notifier, source) = oauth_notifier(&rx, &ts, now + 3600);
    notifier.send(TO, Lang::En, n).await.unwrap();
    assert_eq!(
        rx.wait_for(1, WAIT).unwrap()[0].login.as_deref(),
        Some(USER)
    );
    assert_eq!((ts.refresh_grants(), source.renewals()), (0, 0));
    assert_eq!(ts.introspections(), 1);

    // The provider stopped accepting it before its time (the receiver asks the token server
    // at each login): refused once, renewed once, sent.
    ts.expire_access_tokens();
    notifier.send(TO, Lang::En, n).await.unwrap();
    let got = rx.wait_for(2, WAIT).unwrap();
    check_received(&got[1], n, Lang::En);
    assert_eq!((ts.refresh_grants(), source.renewals()), (1, 1));
    assert_eq!(
        ts.introspections(),
        3,
        "one refused login, one with the new token"
    );
    assert_eq!(
        rx.oauth_attempts(),
        ["OAUTHBEARER ok", "OAUTHBEARER refused", "OAUTHBEARER ok"]
    );
    // The renewed token serves the next notification as it is.
    notifier.send(TO, Lang::En, n).await.unwrap();
    rx.wait_for(3, WAIT).unwrap();
    assert_eq!(source.renewals(), 1);

    // A token that expires within two minutes is renewed before the login: no refusal.
    let (notifier, source) = oauth_notifier(&rx, &ts, now + 60);
    let before = ts.introspections();
    notifier.send(TO, Lang::Fr, n).await.unwrap();
    rx.wait_for(4, WAIT).unwrap();
    assert_eq!(source.renewals(), 1);
    assert_eq!(
        ts.introspections(),
        before + 1,
        "one login, with the renewed token"
    );

    // The grant revoked: a permanent failure that says to sign in again, and no token in it.
    ts.revoke_user(USER);
    let e = notifier.send(TO, Lang::En, n).await.unwrap_err();
    assert!(matches!(e, NotifyError::OAuth { .. }), "{e:?}");
    assert!(!e.is_retryable(), "{e:?}");
    assert!(e.to_string().contains("sign in again"), "{e}");
    assert!(!format!("{e} {e:?}").contains("at-"), "{e:?}");
    assert!(!format!("{e} {e:?}").contains("rt-"), "{e:?}");
    assert_eq!(
        rx.messages().unwrap().len(),
        4,
        "nothing sent without a login"
    );
}

#[test]
fn an_oauth2_token_needs_a_login_and_xoauth2() {
    let source = std::sync::Arc::new(passeur_oauth::TokenSource::new(
        passeur_oauth::Token::bearer("x"),
        None,
    ));
    for url in ["smtp://127.0.0.1?tls=none", "smtp://u@127.0.0.1?tls=none"] {
        let e = Notifier::new(SmtpConfig::from_url(url, FROM).unwrap())
            .unwrap()
            .with_oauth(source.clone())
            .unwrap_err();
        assert!(e.to_string().contains("auth=xoauth2"), "{e}");
    }
}
