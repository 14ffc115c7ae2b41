//! `passeur oauth login` (the device authorization grant, RFC 8628) and the token files that
//! `--from-token-file` / `--to-token-file` name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use passeur_oauth::{Provider, TokenFile, TokenSource};
use passeur_types::Secret;

#[derive(Args)]
pub struct OAuthArgs {
    #[command(subcommand)]
    cmd: OAuthCmd,
}

#[derive(Subcommand)]
enum OAuthCmd {
    /// Sign in to a provider without a browser on this machine: passeur prints a URL and a
    /// code to enter on any device, waits for the approval, and saves the tokens to a file
    /// (mode 0600) for --from-token-file / --to-token-file.
    Login(LoginArgs),
}

#[derive(Args)]
struct LoginArgs {
    /// `gmail`, `microsoft` (the presets' endpoints and scopes), or the URL of an OAuth 2.0
    /// issuer publishing RFC 8414 metadata.
    #[arg(long)]
    provider: String,
    /// The OAuth client ID passeur is registered as at the provider.
    #[arg(long, env = "PASSEUR_OAUTH_CLIENT_ID")]
    client_id: String,
    /// A file holding the client secret, when the provider gave one (also
    /// PASSEUR_OAUTH_CLIENT_SECRET).
    #[arg(long)]
    client_secret_file: Option<PathBuf>,
    /// Scopes to ask for (default: the preset's; repeat for several).
    #[arg(long)]
    scope: Vec<String>,
    /// Where to save the tokens.
    #[arg(long, short = 'o')]
    output: PathBuf,
}

pub async fn oauth(a: OAuthArgs) -> Result<std::process::ExitCode> {
    match a.cmd {
        OAuthCmd::Login(l) => login(l).await,
    }
}

/// The client secret: from a file, else PASSEUR_OAUTH_CLIENT_SECRET, else none.
fn client_secret(file: Option<&Path>) -> Result<Option<Secret>> {
    if let Some(f) = file {
        let s = Secret::new(
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the client secret file {}", f.display()))?
                .trim(),
        );
        return Ok(Some(s));
    }
    Ok(std::env::var("PASSEUR_OAUTH_CLIENT_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .map(Secret::new))
}

async fn login(a: LoginArgs) -> Result<std::process::ExitCode> {
    let secret = client_secret(a.client_secret_file.as_deref())?;
    let mut provider = if a.provider.contains("://") {
        Provider::discover(&a.provider, &a.client_id, secret, a.scope.clone()).await?
    } else {
        Provider::from_preset(&crate::presets(), &a.provider, &a.client_id, secret)?
    };
    if !a.scope.is_empty() {
        provider.scopes = a.scope.clone();
    }
    let token = passeur_oauth::device_login(&provider, |d| {
        eprintln!(
            "To sign in to {}, open {} and enter the code {}",
            provider.name, d.verification_uri, d.user_code
        );
        if let Some(u) = &d.verification_uri_complete {
            eprintln!("(or open {u})");
        }
        eprintln!("waiting for the approval...");
    })
    .await?;
    let f = TokenFile {
        token,
        provider: Some(a.provider.clone()),
        token_endpoint: Some(provider.token_endpoint.to_string()),
        client_id: Some(a.client_id.clone()),
    };
    f.save(&a.output)?;
    println!(
        "signed in: tokens saved to {} (readable by you only){}",
        a.output.display(),
        if f.token.refresh_token.is_some() {
            "; passeur renews them during long migrations"
        } else {
            ""
        }
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// The token source of a `--from-token-file` / `--to-token-file`: renewed through the token
/// endpoint the file names (as its client ID, with PASSEUR_OAUTH_CLIENT_SECRET when set), and
/// written back renewed.
pub fn token_source(path: &Path) -> Result<Arc<TokenSource>> {
    let f = TokenFile::load(path)?;
    let provider = match (&f.token_endpoint, &f.client_id, &f.token.refresh_token) {
        (Some(endpoint), Some(client), Some(_)) => {
            let mut p = Provider::new(
                f.provider.as_deref().unwrap_or("the provider"),
                endpoint,
                client,
            )?;
            p.client_secret = client_secret(None)?;
            Some(p)
        }
        (_, _, Some(_)) => bail!(
            "the token file {} has a refresh token but not where to use it (token_endpoint and client_id): write them in, or log in with passeur oauth login",
            path.display()
        ),
        _ => None,
    };
    Ok(Arc::new(
        TokenSource::new(f.token.clone(), provider).with_file(path.to_path_buf(), f),
    ))
}

/// The OAuth 2.0 providers the service is registered with: each preset with OAuth 2.0
/// endpoints whose client ID is set in `PASSEUR_OAUTH_<ID>_CLIENT_ID` (`PASSEUR_OAUTH_GMAIL_...`,
/// `PASSEUR_OAUTH_MICROSOFT_...`), with its secret from `PASSEUR_OAUTH_<ID>_CLIENT_SECRET`.
pub fn service_providers() -> Result<Vec<Provider>> {
    let mut out = Vec::new();
    let presets = crate::presets();
    for p in presets.all() {
        if p.oauth2.is_none() {
            continue;
        }
        let var = |what: &str| {
            let name: String =
                p.id.chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_uppercase()
                        } else {
                            '_'
                        }
                    })
                    .collect();
            std::env::var(format!("PASSEUR_OAUTH_{name}_{what}"))
                .ok()
                .filter(|v| !v.is_empty())
        };
        if let Some(id) = var("CLIENT_ID") {
            out.push(Provider::from_preset(
                &presets,
                &p.id,
                &id,
                var("CLIENT_SECRET").map(Secret::new),
            )?);
        }
    }
    Ok(out)
}
