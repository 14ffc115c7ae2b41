//! The passwords given in `PASSEUR_FROM_PASSWORD` / `PASSEUR_TO_PASSWORD` leave the process's
//! environment as it starts, and the run still logs in with them.

mod support;

use std::process::{Command, Stdio};

use passeur_testkit::{Dovecot, DovecotOptions};
use support::*;

#[test]
fn passwords_from_the_environment_log_in_and_leave_the_environment() {
    let src = Dovecot::start(DovecotOptions::default()).unwrap();
    let dst = Dovecot::start(DovecotOptions::default()).unwrap();
    let msgs: Vec<Msg> = (0..5)
        .map(|i| {
            msg(
                "INBOX",
                simple(i, Some(&format!("<env{i}@x>"))),
                &["\\Seen"],
                "17-Jul-2019 02:44:25 -0700",
            )
        })
        .collect();
    rt().block_on(async { fill(&mut login(&src, "user1").await, &msgs).await });
    let state = tempfile::tempdir().unwrap();
    // Different passwords per side, no password file, no terminal: the passwords can only come
    // from the two variables, read after the process took them out of its environment.
    let o = Command::new(env!("CARGO_BIN_EXE_passeur"))
        .arg("--state")
        .arg(state.path())
        .args([
            "migrate",
            "--from",
            &url(&src, "user1"),
            "--to",
            &url(&dst, "user2"),
            "--no-progress",
        ])
        .env("PASSEUR_FROM_PASSWORD", "pass1")
        .env("PASSEUR_TO_PASSWORD", "pass2")
        .env("PASSEUR_SMTP_PASSWORD", "unused")
        .env("PASSEUR_LOG", "warn,passeur=debug")
        .env_remove("PASSEUR_STATE")
        .stdin(Stdio::null())
        .output()
        .expect("run passeur");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(copied(&o), 5, "{}", text(&o));
    let got = rt().block_on(async { snapshot(&mut login(&dst, "user2").await).await });
    assert_eq!(got.get("INBOX").map_or(0, Vec::len), 5);
    // What the process itself reads from its environment once it has started: no secret.
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("secret variables left in the environment"))
        .unwrap_or_else(|| panic!("no line about the environment in {}", text(&o)));
    // Without the terminal colours tracing may add around the field's name.
    let plain: String = {
        let mut out = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                chars.by_ref().find(|c| c.is_ascii_alphabetic());
            } else {
                out.push(c);
            }
        }
        out
    };
    assert!(plain.contains("left=[]"), "{plain}");
    assert!(
        !err.contains("pass1") && !err.contains("pass2"),
        "{}",
        text(&o)
    );
}
