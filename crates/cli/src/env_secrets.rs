//! Passwords and client secrets given in the environment (`PASSEUR_FROM_PASSWORD`,
//! `PASSEUR_SMTP_PASSWORD`, `PASSEUR_OAUTH_CLIENT_SECRET`, ...), taken out of it as the process
//! starts.
//!
//! [`take_from_env`] runs first thing in `main`, while the process has one thread: it moves
//! every `PASSEUR_*PASSWORD*` and `PASSEUR_*SECRET*` variable (but not a `..._FILE`, which names
//! a file) into a holder of [`Secret`]s (wiped when dropped, `[redacted]` when printed) and
//! removes it from the environment, so that nothing read later from the environment (a library,
//! a child process) finds it. The readers ask [`get`].
//!
//! What this does not do: the kernel keeps the environment the process was started with in
//! `/proc/PID/environ` (readable by the same user and root). On a host shared with people
//! one does not trust, give the passwords in files (`--from-password-file`, ...).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::sync::OnceLock;

use passeur_types::Secret;

static TAKEN: OnceLock<BTreeMap<String, Secret>> = OnceLock::new();

/// True for the name of an environment variable that holds one of passeur's secrets.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("PASSEUR_") else {
        return false;
    };
    (rest.contains("PASSWORD") || rest.contains("SECRET")) && !rest.ends_with("_FILE")
}

/// Takes the secrets out of `vars`: each one whose name [`is_secret_name`] is kept (when its
/// value is UTF-8) and handed to `remove`, whatever its value.
fn take(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
    mut remove: impl FnMut(&OsStr),
) -> BTreeMap<String, Secret> {
    let mut out = BTreeMap::new();
    for (name, value) in vars {
        let Some(n) = name.to_str().filter(|n| is_secret_name(n)) else {
            continue;
        };
        if let Ok(v) = value.into_string() {
            out.insert(n.to_owned(), Secret::new(v));
        }
        remove(&name);
    }
    out
}

/// Moves the secret variables of the environment into the holder and removes them from the
/// environment. Call it once, at the very start of `main`, before any other thread exists.
pub(crate) fn take_from_env() {
    let taken = take(std::env::vars_os(), |name| {
        // SAFETY: `remove_var` is unsound only while another thread may read or write the
        // environment. This runs at the start of `fn main` (a plain `fn`, the tokio runtime is
        // built later), before the process has started any thread, so none can.
        #[allow(unsafe_code)]
        unsafe {
            std::env::remove_var(name)
        };
    });
    let _ = TAKEN.set(taken);
}

/// The secret that was in the environment variable `name` when the process started.
pub(crate) fn get(name: &str) -> Option<Secret> {
    TAKEN.get().and_then(|t| t.get(name)).cloned()
}

/// The names of secret variables still in the environment (none after [`take_from_env`]).
pub(crate) fn left_in_env() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(n, _)| n.into_string().ok())
        .filter(|n| is_secret_name(n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_variables_are_taken_and_removed_and_others_left() {
        let vars = [
            ("PASSEUR_FROM_PASSWORD", "pw-from"),
            ("PASSEUR_TO_PASSWORD", "pw-to"),
            ("PASSEUR_SMTP_PASSWORD", "pw-smtp"),
            ("PASSEUR_OAUTH_CLIENT_SECRET", "cs"),
            ("PASSEUR_OAUTH_GMAIL_CLIENT_SECRET", "cs-gmail"),
            ("PASSEUR_OAUTH_GMAIL_CLIENT_ID", "id"),
            ("PASSEUR_SECRET_KEY_FILE", "/etc/passeur/secret.key"),
            ("PASSEUR_STATE", "/var/lib/passeur"),
            ("PASSEUR_LOG", "debug"),
            ("HOME", "/root"),
            ("MY_PASSWORD", "not ours"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let mut removed = Vec::new();
        let taken = take(vars, |n| removed.push(n.to_string_lossy().into_owned()));
        let names: Vec<&str> = taken.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "PASSEUR_FROM_PASSWORD",
                "PASSEUR_OAUTH_CLIENT_SECRET",
                "PASSEUR_OAUTH_GMAIL_CLIENT_SECRET",
                "PASSEUR_SMTP_PASSWORD",
                "PASSEUR_TO_PASSWORD",
            ]
        );
        removed.sort();
        assert_eq!(removed, names);
        assert_eq!(taken["PASSEUR_FROM_PASSWORD"].expose(), "pw-from");
        // The holder never prints a value.
        let shown = format!("{taken:?}");
        assert!(
            !shown.contains("pw-") && shown.contains("[redacted]"),
            "{shown}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_value_that_is_not_utf8_is_removed_all_the_same() {
        use std::os::unix::ffi::OsStringExt;
        let vars = [(
            OsString::from("PASSEUR_TO_PASSWORD"),
            OsString::from_vec(vec![0xff, 0xfe]),
        )];
        let mut removed = 0;
        let taken = take(vars, |_| removed += 1);
        assert!(taken.is_empty());
        assert_eq!(removed, 1);
    }
}
