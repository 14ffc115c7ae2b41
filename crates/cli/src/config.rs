//! `--config FILE`: the settings of `serve` and `worker` in a TOML file.
//!
//! Each key is the name of a command-line option with `_` for `-` (`allow_private_addresses`
//! for `--allow-private-addresses`); `database` and `state` are the global options. Precedence,
//! highest first: the command line, the option's environment variable (`PASSEUR_...`), the
//! file, the default. The file's values are turned into command-line options placed where
//! they apply, and only for options that neither the command line nor the environment give.

use std::ffi::OsString;

use anyhow::{Context, Result, bail};

/// A key of the file: its option, its environment variable, and whether it is global (given
/// before the subcommand).
struct Key {
    name: &'static str,
    env: &'static str,
    global: bool,
}

const KEYS: &[Key] = &[
    Key {
        name: "state",
        env: "PASSEUR_STATE",
        global: true,
    },
    Key {
        name: "database",
        env: "PASSEUR_DATABASE",
        global: true,
    },
    Key {
        name: "listen",
        env: "PASSEUR_LISTEN",
        global: false,
    },
    Key {
        name: "max_upload_gib",
        env: "PASSEUR_MAX_UPLOAD_GIB",
        global: false,
    },
    Key {
        name: "public_url",
        env: "PASSEUR_PUBLIC_URL",
        global: false,
    },
    Key {
        name: "workers",
        env: "PASSEUR_WORKERS",
        global: false,
    },
    Key {
        name: "secret_key_file",
        env: "PASSEUR_SECRET_KEY_FILE",
        global: false,
    },
    Key {
        name: "smtp_url",
        env: "PASSEUR_SMTP_URL",
        global: false,
    },
    Key {
        name: "smtp_token_file",
        env: "PASSEUR_SMTP_TOKEN_FILE",
        global: false,
    },
    Key {
        name: "smtp_from",
        env: "PASSEUR_SMTP_FROM",
        global: false,
    },
    Key {
        name: "allow_private_addresses",
        env: "PASSEUR_ALLOW_PRIVATE_ADDRESSES",
        global: false,
    },
    Key {
        name: "ispdb",
        env: "PASSEUR_ISPDB",
        global: false,
    },
    Key {
        name: "expire_days",
        env: "PASSEUR_EXPIRE_DAYS",
        global: false,
    },
    Key {
        name: "host_limit",
        env: "",
        global: false,
    },
];

/// `argv` with the settings of the config file (from `--config FILE` after `serve` or
/// `worker`, or `PASSEUR_CONFIG`) added as options. Other commands are returned unchanged.
pub fn expand(argv: Vec<OsString>) -> Result<Vec<OsString>> {
    let args: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let Some(sub) = args.iter().position(|a| a == "serve" || a == "worker") else {
        return Ok(argv);
    };
    let mut out: Vec<String> = Vec::with_capacity(args.len());
    let mut file = std::env::var("PASSEUR_CONFIG").ok();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--config" {
            file = Some(args.get(i + 1).context("--config needs a file")?.clone());
            i += 2;
            continue;
        }
        if let Some(f) = args[i].strip_prefix("--config=") {
            file = Some(f.to_string());
            i += 1;
            continue;
        }
        out.push(args[i].clone());
        i += 1;
    }
    let Some(file) = file else {
        return Ok(argv);
    };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read the config file {file}"))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("cannot read the config file {file}"))?;
    let sub = out
        .iter()
        .position(|a| a == "serve" || a == "worker")
        .unwrap_or(sub);
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for (k, v) in &table {
        let Some(key) = KEYS.iter().find(|key| key.name == k) else {
            bail!(
                "{file}: unknown setting {k:?} (known: {})",
                KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
            );
        };
        let flag = format!("--{}", key.name.replace('_', "-"));
        let given = out
            .iter()
            .any(|a| *a == flag || a.starts_with(&format!("{flag}=")));
        if given || (!key.env.is_empty() && std::env::var_os(key.env).is_some()) {
            continue;
        }
        let dest = if key.global { &mut before } else { &mut after };
        let mut push = |v: &toml::Value| -> Result<()> {
            match v {
                toml::Value::Boolean(true) => dest.push(flag.clone()),
                toml::Value::Boolean(false) => {}
                toml::Value::String(s) => dest.extend([flag.clone(), s.clone()]),
                toml::Value::Integer(n) => dest.extend([flag.clone(), n.to_string()]),
                other => bail!("{file}: {k} cannot be {other}"),
            }
            Ok(())
        };
        match v {
            toml::Value::Array(items) => items.iter().try_for_each(&mut push)?,
            toml::Value::Table(t) if key.name == "host_limit" => {
                for (host, n) in t {
                    push(&toml::Value::String(format!("{host}={n}")))?;
                }
            }
            other => push(other)?,
        }
    }
    let mut full: Vec<String> = out[..sub].to_vec();
    full.extend(before);
    full.extend(out[sub..].iter().cloned());
    full.extend(after);
    Ok(full.into_iter().map(OsString::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_file_fills_in_what_the_command_line_does_not_say() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("passeur.toml");
        std::fs::write(
            &f,
            "listen = \"0.0.0.0:9000\"\nworkers = 6\ndatabase = \"postgres://db/p\"\nallow_private_addresses = true\nhost_limit = [\"12\"]\n[host_limit_table]\n",
        )
        .unwrap();
        let err = expand(os(&["passeur", "serve", "--config", f.to_str().unwrap()])).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown setting \"host_limit_table\""),
            "{err}"
        );
        std::fs::write(
            &f,
            "listen = \"0.0.0.0:9000\"\nworkers = 6\ndatabase = \"postgres://db/p\"\nallow_private_addresses = true\nhost_limit = [\"12\", \"imap.big.example=40\"]\n",
        )
        .unwrap();
        let got = expand(os(&[
            "passeur",
            "serve",
            "--workers",
            "1",
            "--config",
            f.to_str().unwrap(),
        ]))
        .unwrap();
        let got: Vec<String> = got
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(&got[..3], ["passeur", "--database", "postgres://db/p"]);
        assert!(
            got.windows(2).any(|w| w == ["--listen", "0.0.0.0:9000"]),
            "{got:?}"
        );
        assert!(got.windows(2).any(|w| w == ["--workers", "1"]), "{got:?}");
        assert!(
            !got.iter().any(|a| a == "6"),
            "the command line wins: {got:?}"
        );
        assert!(got.iter().any(|a| a == "--allow-private-addresses"));
        assert!(
            got.windows(2)
                .any(|w| w == ["--host-limit", "imap.big.example=40"]),
            "{got:?}"
        );
        // The example shipped in contrib/ is valid.
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contrib/passeur.toml");
        let got = expand(os(&["passeur", "worker", "--config", example])).unwrap();
        assert!(got.iter().any(|a| a == "--expire-days"), "{got:?}");
        // Other commands are left alone.
        let other = os(&["passeur", "status", "ID"]);
        assert_eq!(expand(other.clone()).unwrap(), other);
    }
}
