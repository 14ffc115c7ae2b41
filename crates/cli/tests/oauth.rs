//! End to end: `passeur oauth login` (the device authorization grant against the testkit's
//! token server over real HTTP; the test plays the user approving), then `passeur migrate`
//! with --from-token-file / --to-token-file into a Dovecot that checks tokens with its
//! `oauth2` passdb.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

use passeur_testkit::corpus::CorpusSpec;
use passeur_testkit::{Dovecot, DovecotOptions, OAUTH_CLIENT_ID, TokenServer};
use support::*;

/// Runs `passeur oauth login` for `user`: reads the code it prints, approves it as the user,
/// waits for the tokens to be saved to `out`. Returns its output.
fn device_login(state: &Path, ts: &TokenServer, user: &str, out: &Path) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_passeur"))
        .arg("--state")
        .arg(state)
        .args(["oauth", "login", "--provider", &ts.url(), "--client-id"])
        .arg(OAUTH_CLIENT_ID)
        .arg("-o")
        .arg(out)
        .env_remove("PASSEUR_STATE")
        .env_remove("PASSEUR_OAUTH_CLIENT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run passeur oauth login");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut shown = String::new();
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 {
        shown.push_str(&line);
        if line.starts_with("waiting") {
            break;
        }
        line.clear();
    }
    let code = shown
        .split_whitespace()
        .skip_while(|w| *w != "code")
        .nth(1)
        .unwrap_or_else(|| panic!("no code in {shown:?}"))
        .to_owned();
    assert!(ts.approve(&code, user), "unknown code {code}");
    let o = child.wait_with_output().unwrap();
    shown.push_str(&String::from_utf8_lossy(&o.stderr));
    shown.push_str(&String::from_utf8_lossy(&o.stdout));
    (o.status.success(), shown)
}

#[test]
fn device_login_then_migrate_with_token_files_is_exact() {
    passeur_testkit::ensure_dovecot().unwrap();
    let ts = TokenServer::start().unwrap();
    let dc = Dovecot::start(DovecotOptions {
        users: 2,
        oauth2_introspection: Some(ts.introspection_url()),
        ..DovecotOptions::default()
    })
    .unwrap();
    let corpus = dc
        .write_corpus(
            "user1",
            &CorpusSpec {
                count: 40,
                seed: 5,
                ..CorpusSpec::default()
            },
        )
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let (src_tok, dst_tok) = (tmp.path().join("src.json"), tmp.path().join("dst.json"));

    let (ok, shown) = device_login(&state, &ts, "user1", &src_tok);
    assert!(ok, "{shown}");
    assert!(
        shown.contains(&format!(
            "To sign in to 127.0.0.1, open {}/device and enter the code WDJB-",
            ts.url()
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("signed in: tokens saved to {}", src_tok.display())),
        "{shown}"
    );
    let mode = std::fs::metadata(&src_tok).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the token file is private");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&src_tok).unwrap()).unwrap();
    assert!(ts.is_active(saved["access_token"].as_str().unwrap()));
    assert_eq!(saved["token_endpoint"], format!("{}/token", ts.url()));
    assert_eq!(saved["client_id"], OAUTH_CLIENT_ID);
    assert_eq!(ts.device_grants(), 1);

    let (ok, shown) = device_login(&state, &ts, "user2", &dst_tok);
    assert!(ok, "{shown}");

    // No password anywhere: the wrong ones in the environment would fail a password login.
    let o = passeur(
        &state,
        &[
            "migrate",
            "--from",
            &url(&dc, "user1"),
            "--from-token-file",
            src_tok.to_str().unwrap(),
            "--to",
            &url(&dc, "user2"),
            "--to-token-file",
            dst_tok.to_str().unwrap(),
            "--no-progress",
        ],
        "wrong",
        "wrong",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(copied(&o), corpus.messages as u64);
    let a = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user1", "pass1").unwrap();
    let b = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user2", "pass2").unwrap();
    let c = passeur_testkit::verify::compare(&a, &b);
    assert!(c.is_exact(), "{}", c.summary());

    // Every token expires; the next sync renews both and writes them back to their files.
    ts.expire_access_tokens();
    let id = migration_id(&o);
    let o = passeur(
        &state,
        &[
            "sync",
            &id,
            "--from-token-file",
            src_tok.to_str().unwrap(),
            "--to-token-file",
            dst_tok.to_str().unwrap(),
            "--no-progress",
        ],
        "wrong",
        "wrong",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(copied(&o), 0);
    assert_eq!(ts.refresh_grants(), 2);
    let renewed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&src_tok).unwrap()).unwrap();
    assert_ne!(renewed["access_token"], saved["access_token"]);
    assert!(ts.is_active(renewed["access_token"].as_str().unwrap()));
    let mode = std::fs::metadata(&src_tok).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // A declined login says so.
    let out = tmp.path().join("declined.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_passeur"))
        .arg("--state")
        .arg(&state)
        .args(["oauth", "login", "--provider", &ts.url(), "--client-id"])
        .arg(OAUTH_CLIENT_ID)
        .arg("-o")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 && !line.starts_with("waiting") {
        line.clear();
    }
    let code = ts.user_codes().last().unwrap().clone();
    assert!(ts.deny(&code));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(
        rest.contains("the login was declined at 127.0.0.1"),
        "{rest}"
    );
    assert!(!out.exists());
}

/// A token file for `user` as `passeur oauth login` writes it, already expired (the run renews
/// it first).
fn expired_token_file(ts: &TokenServer, user: &str, path: &Path) -> serde_json::Value {
    let t = ts.issue(user);
    let file = serde_json::json!({
        "access_token": t["access_token"],
        "refresh_token": t["refresh_token"],
        "expires_at": 1,
        "token_endpoint": ts.token_url(),
        "client_id": OAUTH_CLIENT_ID,
    });
    std::fs::write(path, file.to_string()).unwrap();
    t
}

#[test]
fn pst_import_with_a_token_file_is_renewed_and_complete() {
    passeur_testkit::ensure_dovecot().unwrap();
    let ts = TokenServer::start().unwrap();
    let dc = Dovecot::start(DovecotOptions {
        users: 2,
        oauth2_introspection: Some(ts.introspection_url()),
        ..DovecotOptions::default()
    })
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let tok = tmp.path().join("dst.json");
    let issued = expired_token_file(&ts, "user1", &tok);
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/pst/ruby-msg__attachAndInline.pst");
    let args = [
        "import",
        file.to_str().unwrap(),
        "--to",
        &url(&dc, "user1"),
        "--to-token-file",
        tok.to_str().unwrap(),
        "--no-progress",
    ];
    // A wrong password in the environment: only the token can log in.
    let o = passeur(&state, &args, "wrong", "wrong");
    assert!(o.status.success(), "{}", text(&o));
    let n = copied(&o);
    assert!(n > 0, "{}", text(&o));
    let snap = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user1", "pass1").unwrap();
    assert_eq!(snap.messages() as u64, n, "every imported message is there");
    // Renewed once before logging in, written back to its file (still private).
    assert_eq!(ts.refresh_grants(), 1);
    let renewed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&tok).unwrap()).unwrap();
    assert_ne!(renewed["access_token"], issued["access_token"]);
    assert!(ts.is_active(renewed["access_token"].as_str().unwrap()));
    let mode = std::fs::metadata(&tok).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(ts.introspections() >= 1);

    // Again: nothing copied twice.
    let o = passeur(&state, &args, "wrong", "wrong");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(copied(&o), 0);
    let snap = passeur_testkit::verify::snapshot(&dc.imap_addr(), "user1", "pass1").unwrap();
    assert_eq!(snap.messages() as u64, n);

    // Without the token file, the wrong password is refused.
    let o = passeur(
        &state,
        &[
            "import",
            file.to_str().unwrap(),
            "--to",
            &url(&dc, "user1"),
            "--no-progress",
        ],
        "wrong",
        "wrong",
    );
    assert!(!o.status.success(), "{}", text(&o));
}

/// `passeur serve --smtp-token-file`: the notification sender logs in with XOAUTH2 to an SMTP
/// receiver that checks each token at the token server; the file's token has expired, so it is
/// renewed before the login and written back to the file.
#[test]
fn serve_renews_the_smtp_token_of_its_notifications() {
    use std::io::{Read as _, Write as _};
    passeur_testkit::ensure_aiosmtpd().unwrap();
    let ts = TokenServer::start().unwrap();
    let rx = passeur_testkit::SmtpReceiver::start(passeur_testkit::SmtpOptions {
        security: passeur_testkit::SmtpSecurity::StartTls,
        auth: Some(("notifier".into(), "unused".into())),
        oauth2_introspection: Some(ts.introspection_url()),
        ..Default::default()
    })
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let file = state.path().join("smtp-token.json");
    let t = ts.issue("notifier");
    let old = t["access_token"].as_str().unwrap().to_owned();
    std::fs::write(
        &file,
        serde_json::json!({
            "access_token": old, "refresh_token": t["refresh_token"], "expires_at": 1,
            "token_endpoint": ts.token_url(), "client_id": OAUTH_CLIENT_ID,
        })
        .to_string(),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let smtp = format!(
        "smtp://notifier@127.0.0.1:{}?auth=xoauth2&ca_file={}",
        rx.port,
        rx.ca_file().unwrap().display()
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_passeur"))
        .arg("--state")
        .arg(state.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--workers", "1"])
        .arg("--allow-private-addresses")
        .args(["--smtp-url", &smtp, "--smtp-token-file"])
        .arg(&file)
        .env_remove("PASSEUR_STATE")
        .env_remove("PASSEUR_DATABASE")
        .env_remove("PASSEUR_SMTP_PASSWORD")
        .env_remove("PASSEUR_OAUTH_CLIENT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run passeur serve");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("passeur is serving on http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("serve said {line:?}"))
        .to_owned();
    // A migration whose owner is told by mail (its servers do not matter here).
    let body = serde_json::json!({
        "source": {"url": "imap://user1@127.0.0.1:1", "password": "x"},
        "destination": {"url": "imap://user2@127.0.0.1:1", "password": "y"},
        "notify": "alice@example.org",
    })
    .to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "POST /api/v1/migrations HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let got = rx.wait_for(1, std::time::Duration::from_secs(60));
    let _ = child.kill();
    let _ = child.wait();
    let got = got.unwrap_or_else(|e| panic!("no notification: {e}\n{}", rx.log()));
    assert_eq!(got[0].login.as_deref(), Some("notifier"));
    assert!(got[0].to.iter().any(|t| t == "alice@example.org"));
    // Renewed before the login (no refusal), and kept in the file.
    assert_eq!(ts.refresh_grants(), 1);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_ne!(saved["access_token"], serde_json::json!(old));
    assert!(ts.is_active(saved["access_token"].as_str().unwrap()));
    assert!(saved["expires_at"].as_u64().unwrap() > 1);
}
