//! OAuth 2.0 logins end to end: a private Dovecot whose `oauth2` passdb checks every token at
//! the testkit's token server over real HTTP; passeur logs in with SASL OAUTHBEARER, renews
//! tokens that expire mid-pass, and stops cleanly when the grant is revoked.

use std::sync::Arc;

use passeur_engine::{
    AccountSpec, Control, EngineError, Event, MailOptions, MigrationSpec, Outcome, RunOptions,
    Runner, Secrets,
};
use passeur_oauth::{Provider, Token, TokenSource};
use passeur_store::Store;
use passeur_testkit::corpus::CorpusSpec;
use passeur_testkit::{CutProxy, Dovecot, DovecotOptions, OAUTH_CLIENT_ID, TokenServer};
use passeur_types::{MigrationId, Secret};

fn start(ts: &TokenServer, pop3: bool) -> Dovecot {
    if let Err(e) = passeur_testkit::ensure_dovecot() {
        panic!("{e}");
    }
    Dovecot::start(DovecotOptions {
        users: 2,
        pop3,
        oauth2_introspection: Some(ts.introspection_url()),
        ..DovecotOptions::default()
    })
    .expect("start a private Dovecot with the oauth2 passdb")
}

/// A token source as `passeur oauth login` would leave it: the token server's answer for
/// `user`, renewed at its token endpoint.
fn source_for(ts: &TokenServer, user: &str) -> Arc<TokenSource> {
    let j = ts.issue(user);
    let token = Token {
        access_token: Secret::new(j["access_token"].as_str().unwrap()),
        refresh_token: Some(Secret::new(j["refresh_token"].as_str().unwrap())),
        expires_at: Some(passeur_oauth::now() + j["expires_in"].as_u64().unwrap()),
    };
    let p = Provider::new("the test issuer", &ts.token_url(), OAUTH_CLIENT_ID).unwrap();
    Arc::new(TokenSource::new(token, Some(p)))
}

fn spec(connections: usize) -> MigrationSpec {
    let mut mail = MailOptions::default();
    mail.limits.connections = connections;
    mail.limits.batch_messages = 5;
    MigrationSpec::Accounts(AccountSpec {
        mail,
        from_admin: None,
        to_admin: None,
        with_mail: true,
        dav: None,
        pop3_folder: None,
    })
}

/// No password at all: a password login would fail, so a pass that copies proves the tokens.
fn no_passwords() -> Secrets {
    Secrets {
        source: Some(String::new().into()),
        destination: Some(String::new().into()),
    }
}

fn opts(src: &Arc<TokenSource>, dst: &Arc<TokenSource>) -> RunOptions {
    RunOptions {
        source_oauth: Some(src.clone()),
        destination_oauth: Some(dst.clone()),
        ..RunOptions::default()
    }
}

fn exact(dc: &Dovecot) -> passeur_testkit::verify::Comparison {
    let a = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user1", "pass1").unwrap();
    let b = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user2", "pass2").unwrap();
    passeur_testkit::verify::compare(&a, &b)
}

async fn runner(dir: &std::path::Path) -> Runner {
    Runner::new(Store::open(&dir.join("state.db")).await.unwrap())
}

async fn create(runner: &Runner, src: &str, dst: &str, connections: usize) -> MigrationId {
    runner
        .create(src, dst, &spec(connections), true)
        .await
        .unwrap()
        .0
}

#[tokio::test]
async fn oauth_on_both_sides_copies_byte_exact() {
    let ts = TokenServer::start().unwrap();
    let dc = start(&ts, false);
    let corpus = dc
        .write_corpus(
            "user1",
            &CorpusSpec {
                count: 60,
                ..CorpusSpec::default()
            },
        )
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let runner = runner(tmp.path()).await;
    let src_url = format!("imap://user1@{}:{}", dc.host, dc.imap_port);
    let dst_url = format!("imap://user2@{}:{}", dc.host, dc.imap_port);
    let id = create(&runner, &src_url, &dst_url, 2).await;
    let (s, d) = (source_for(&ts, "user1"), source_for(&ts, "user2"));
    let o = runner
        .run_pass(id, &no_passwords(), &opts(&s, &d), Control::default())
        .await
        .unwrap();
    assert_eq!(o.outcome, Outcome::Done);
    assert_eq!(o.counters.copied, corpus.messages as u64);
    let c = exact(&dc);
    assert!(c.is_exact(), "{}", c.summary());
    assert_eq!((s.renewals(), d.renewals(), ts.refresh_grants()), (0, 0, 0));
    // Each login was checked at the introspection endpoint.
    assert!(ts.introspections() >= 2, "{}", ts.introspections());

    // A token of another user is refused, with the server's reason in words; nothing to renew
    // it with, so the run says to log in again.
    let wrong = Arc::new(TokenSource::new(
        Token::bearer(ts.issue("user2")["access_token"].as_str().unwrap()),
        None,
    ));
    let e = runner
        .run_pass(id, &no_passwords(), &opts(&wrong, &d), Control::default())
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::OAuth { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "source: the OAuth 2.0 token was refused and cannot be renewed (no refresh token): sign in again (on the command line: passeur oauth login)"
    );
}

#[tokio::test]
async fn a_refused_token_is_explained_by_the_imap_and_pop3_clients() {
    let ts = TokenServer::start().unwrap();
    let dc = start(&ts, true);
    let cfg = passeur_imap::ConnectConfig {
        host: dc.host.clone(),
        port: dc.imap_port,
        security: passeur_types::Security::Plain,
        insecure_tls: false,
        connect_timeout: std::time::Duration::from_secs(10),
        io_timeout: std::time::Duration::from_secs(30),
        address_policy: Default::default(),
    };
    let mut c = passeur_imap::Client::connect(&cfg).await.unwrap();
    assert!(c.capabilities().has("AUTH=OAUTHBEARER"));
    let e = c
        .authenticate_oauth("user1", "not-a-token")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot log in: the server said \"Authentication failed. (the OAuth 2.0 token was refused: invalid_token (expired, revoked or not valid))\""
    );
    // The same connection then logs in with a good token.
    let good = ts.issue("user1");
    c.authenticate_oauth("user1", good["access_token"].as_str().unwrap())
        .await
        .unwrap();

    let cfg = passeur_pop3::ConnectConfig {
        host: dc.host.clone(),
        port: dc.pop3_port.unwrap(),
        security: passeur_types::Security::Plain,
        insecure_tls: false,
        connect_timeout: std::time::Duration::from_secs(10),
        io_timeout: std::time::Duration::from_secs(30),
        quirk_no_pipelining: false,
        address_policy: Default::default(),
    };
    let mut p = passeur_pop3::Client::connect(&cfg).await.unwrap();
    let e = p
        .authenticate_oauth("user1", "not-a-token")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot log in: the server said \"[AUTH] Authentication failed. (the OAuth 2.0 token was refused: invalid_token (expired, revoked or not valid))\""
    );
}

/// Starts a pass in the background; on the first batch copied, `hit` runs (the test expires or
/// revokes tokens and cuts the connections).
async fn pass_with_hit(
    runner: Arc<Runner>,
    id: MigrationId,
    o: RunOptions,
    hit: impl FnOnce() + Send + 'static,
) -> Result<passeur_engine::PassOutcome, EngineError> {
    let (events, mut rx) = passeur_engine::events::channel();
    let run = tokio::spawn(async move {
        runner
            .run_pass(
                id,
                &no_passwords(),
                &o,
                Control {
                    events,
                    ..Control::default()
                },
            )
            .await
    });
    let mut hit = Some(hit);
    while let Some(e) = rx.recv().await {
        if matches!(e, Event::Copied { .. })
            && let Some(h) = hit.take()
        {
            h();
        }
    }
    assert!(hit.is_none(), "the pass copied nothing");
    run.await.unwrap()
}

#[tokio::test]
async fn a_token_that_expires_mid_pass_is_renewed_and_the_copy_is_exact() {
    let ts = Arc::new(TokenServer::start().unwrap());
    let dc = start(&ts, false);
    let corpus = dc
        .write_corpus(
            "user1",
            &CorpusSpec {
                count: 120,
                seed: 7,
                ..CorpusSpec::default()
            },
        )
        .unwrap();
    let proxy = Arc::new(CutProxy::start(&dc.imap_addr()).unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let runner = Arc::new(runner(tmp.path()).await);
    let src_url = format!("imap://user1@127.0.0.1:{}", proxy.port());
    let dst_url = format!("imap://user2@{}:{}", dc.host, dc.imap_port);
    let id = create(&runner, &src_url, &dst_url, 1).await;
    let (s, d) = (source_for(&ts, "user1"), source_for(&ts, "user2"));
    let (ts2, p2) = (ts.clone(), proxy.clone());
    let o = pass_with_hit(runner.clone(), id, opts(&s, &d), move || {
        // Every token in use expires now; the connections drop: the reconnections must
        // renew the tokens.
        ts2.expire_access_tokens();
        p2.cut_now();
    })
    .await
    .unwrap();
    assert_eq!(o.outcome, Outcome::Done, "{:?}", o.summary);
    // Each message recorded once (the pass's own counter leaves out what the attempt cut
    // short had copied before the retry found it there).
    let view = runner.view(id).await.unwrap();
    assert_eq!(view.items, corpus.messages as u64, "each message once");
    let c = exact(&dc);
    assert!(c.is_exact(), "{}", c.summary());
    assert!(proxy.connections() >= 2, "the source was reconnected");
    // One renewal per side, however many connections asked.
    assert_eq!((s.renewals(), d.renewals()), (1, 1));
    assert_eq!(ts.refresh_grants(), 2);
}

#[tokio::test]
async fn a_revoked_grant_stops_the_pass_cleanly_and_a_new_login_resumes_it() {
    let ts = Arc::new(TokenServer::start().unwrap());
    let dc = start(&ts, false);
    let corpus = dc
        .write_corpus(
            "user1",
            &CorpusSpec {
                count: 120,
                seed: 11,
                ..CorpusSpec::default()
            },
        )
        .unwrap();
    let proxy = Arc::new(CutProxy::start(&dc.imap_addr()).unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let runner = Arc::new(runner(tmp.path()).await);
    let src_url = format!("imap://user1@127.0.0.1:{}", proxy.port());
    let dst_url = format!("imap://user2@{}:{}", dc.host, dc.imap_port);
    let id = create(&runner, &src_url, &dst_url, 2).await;
    let (s, d) = (source_for(&ts, "user1"), source_for(&ts, "user2"));
    let (ts2, p2) = (ts.clone(), proxy.clone());
    let e = pass_with_hit(runner.clone(), id, opts(&s, &d), move || {
        ts2.revoke_user("user1");
        p2.cut_now();
    })
    .await
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "source: cannot renew the OAuth 2.0 token: the test issuer said invalid_grant (Token has been revoked); sign in again (on the command line: passeur oauth login) and re-run: what was copied stays recorded"
    );
    // One attempt to renew, not one per folder or connection.
    assert_eq!(s.renewals(), 0);
    assert_eq!(ts.refresh_grants(), 1);
    // What was copied is recorded (the item map), and the pass is marked failed with why.
    let view = runner.view(id).await.unwrap();
    let first = view.items;
    assert!(
        first > 0 && first < corpus.messages as u64,
        "stopped mid-way: {first}"
    );
    let p = view.passes.last().unwrap();
    assert!(
        p.error
            .as_deref()
            .is_some_and(|e| e.contains("invalid_grant")),
        "{p:?}"
    );

    // A new login; the next pass copies the rest, nothing twice.
    let s = source_for(&ts, "user1");
    let o = runner
        .run_pass(id, &no_passwords(), &opts(&s, &d), Control::default())
        .await
        .unwrap();
    assert_eq!(o.outcome, Outcome::Done);
    assert_eq!(first + o.counters.copied, corpus.messages as u64);
    let c = exact(&dc);
    assert!(c.is_exact(), "{}", c.summary());
}

#[tokio::test]
async fn pop3_source_with_oauthbearer() {
    let ts = TokenServer::start().unwrap();
    let dc = start(&ts, true);
    let corpus = dc
        .write_corpus(
            "user1",
            &CorpusSpec {
                count: 30,
                seed: 3,
                ..CorpusSpec::default()
            },
        )
        .unwrap();
    let inbox = corpus.folder_counts.get("INBOX").copied().unwrap_or(0) as u64;
    let tmp = tempfile::tempdir().unwrap();
    let runner = runner(tmp.path()).await;
    let src_url = format!("pop3://user1@{}:{}", dc.host, dc.pop3_port.unwrap());
    let dst_url = format!("imap://user2@{}:{}", dc.host, dc.imap_port);
    let id = create(&runner, &src_url, &dst_url, 1).await;
    // The token has already expired: it is renewed before the first login.
    let j = ts.issue("user1");
    let expired = Token {
        access_token: Secret::new(j["access_token"].as_str().unwrap()),
        refresh_token: Some(Secret::new(j["refresh_token"].as_str().unwrap())),
        expires_at: Some(passeur_oauth::now() - 10),
    };
    ts.expire_access_tokens();
    let p = Provider::new("the test issuer", &ts.token_url(), OAUTH_CLIENT_ID).unwrap();
    let s = Arc::new(TokenSource::new(expired, Some(p)));
    let d = source_for(&ts, "user2");
    let o = runner
        .run_pass(id, &no_passwords(), &opts(&s, &d), Control::default())
        .await
        .unwrap();
    assert_eq!(o.outcome, Outcome::Done);
    assert_eq!(o.counters.copied, inbox);
    assert_eq!(s.renewals(), 1);
    let src = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user1", "pass1").unwrap();
    let dst = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user2", "pass2").unwrap();
    let hashes = |f: &[passeur_testkit::verify::MessageFact]| {
        let mut v: Vec<String> = f.iter().map(|m| m.sha256.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(
        hashes(&dst.folders["INBOX"]),
        hashes(&src.folders["INBOX"]),
        "byte-exact"
    );

    // A POP3 login with a refused token and nothing to renew it: the server's reason in words.
    let bad = Arc::new(TokenSource::new(Token::bearer("not-a-token"), None));
    let e = runner
        .run_pass(id, &no_passwords(), &opts(&bad, &d), Control::default())
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "source: the OAuth 2.0 token was refused and cannot be renewed (no refresh token): sign in again (on the command line: passeur oauth login)"
    );
}
