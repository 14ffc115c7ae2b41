//! Passwords for the runs: from a file, the environment or the terminal.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result, bail};
use passeur_engine::Secrets;
use zeroize::Zeroizing;

use crate::{DestAuth, SourceAuth};

/// A password from a file, the environment or the terminal; never from the command line.
pub(crate) fn password(file: Option<&Path>, env: &str, what: &str) -> Result<Zeroizing<String>> {
    if let Some(f) = file {
        let s =
            Zeroizing::new(std::fs::read_to_string(f).with_context(|| {
                format!("cannot read the {what} password file {}", f.display())
            })?);
        return Ok(Zeroizing::new(s.trim_end_matches(['\r', '\n']).to_owned()));
    }
    if let Some(v) = crate::env_secrets::get(env) {
        return Ok(Zeroizing::new(v.expose().to_owned()));
    }
    if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password(format!("{what} password: "))
            .with_context(|| format!("cannot read the {what} password"))?;
        return Ok(Zeroizing::new(p));
    }
    bail!(
        "no {what} password: give --{}-password-file or set {env}",
        if what == "source" { "from" } else { "to" }
    )
}

/// Each side's password; none is asked for a side that logs in with a token file.
pub(crate) fn both_passwords(src: &SourceAuth, dst: &DestAuth) -> Result<Secrets> {
    Ok(Secrets {
        source: Some(match &src.from_token_file {
            Some(_) => Zeroizing::new(String::new()),
            None => password(
                src.from_password_file.as_deref(),
                "PASSEUR_FROM_PASSWORD",
                "source",
            )?,
        }),
        destination: Some(match &dst.to_token_file {
            Some(_) => Zeroizing::new(String::new()),
            None => password(
                dst.to_password_file.as_deref(),
                "PASSEUR_TO_PASSWORD",
                "destination",
            )?,
        }),
    })
}
