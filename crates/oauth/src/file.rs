//! Token files: an access token alone, or passeur's JSON.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use passeur_types::Secret;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{OAuthError, Token};

/// A token with where to renew it, as read from or written to a file.
#[derive(Clone, Debug, Default)]
pub struct TokenFile {
    /// The token itself.
    pub token: Token,
    /// Which preset or issuer gave it (`gmail`, `microsoft`, `https://...`).
    pub provider: Option<String>,
    /// Where to renew it, and as which client (the secret stays in the configuration).
    pub token_endpoint: Option<String>,
    /// The client ID the token was issued to, for renewing it.
    pub client_id: Option<String>,
}

/// The JSON form; every field wiped when dropped.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Default)]
struct Json {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
}

impl TokenFile {
    /// Parses a file's content: a JSON object with `access_token` (and optionally
    /// `refresh_token`, `expires_at` in Unix seconds, `expires_in`, `token_endpoint`,
    /// `client_id`, `provider`), or the access token alone on one line.
    pub fn parse(text: &str) -> Result<TokenFile, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("it is empty".into());
        }
        if !t.starts_with('{') {
            if t.chars().any(char::is_whitespace) {
                return Err("it is neither a JSON object nor a single access token".into());
            }
            return Ok(TokenFile {
                token: Token::bearer(t),
                ..TokenFile::default()
            });
        }
        let mut v: serde_json::Value =
            serde_json::from_str(t).map_err(|e| format!("it is not valid JSON ({e})"))?;
        // An answer saved straight from a token endpoint has expires_in, not expires_at.
        if v.get("expires_at").is_none()
            && let Some(e) = v.get("expires_in").and_then(serde_json::Value::as_u64)
            && let Some(o) = v.as_object_mut()
        {
            o.insert("expires_at".into(), (crate::now() + e).into());
        }
        let j: Json = serde_json::from_value(v.clone()).map_err(|e| {
            let msg = e.to_string();
            if msg.contains("access_token") {
                "it has no access_token".to_owned()
            } else {
                format!("its fields are not as expected ({msg})")
            }
        })?;
        if let Some(o) = v.as_object_mut() {
            for (_, x) in o.iter_mut() {
                if let serde_json::Value::String(s) = x {
                    s.zeroize();
                }
            }
        }
        Ok(TokenFile {
            token: Token {
                access_token: Secret::new(j.access_token.as_str()),
                refresh_token: j.refresh_token.as_deref().map(Secret::new),
                expires_at: j.expires_at,
            },
            provider: j.provider.clone(),
            token_endpoint: j.token_endpoint.clone(),
            client_id: j.client_id.clone(),
        })
    }

    /// Reads a token file.
    pub fn load(path: &Path) -> Result<TokenFile, OAuthError> {
        let err = |reason: String| OAuthError::File {
            action: "read",
            path: path.display().to_string(),
            reason,
        };
        let mut text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let r = TokenFile::parse(&text).map_err(err);
        text.zeroize();
        r
    }

    /// The JSON written to a file.
    pub fn to_json(&self) -> Secret {
        let j = Json {
            access_token: self.token.access_token.expose().to_owned(),
            refresh_token: self
                .token
                .refresh_token
                .as_ref()
                .map(|s| s.expose().to_owned()),
            expires_at: self.token.expires_at,
            provider: self.provider.clone(),
            token_endpoint: self.token_endpoint.clone(),
            client_id: self.client_id.clone(),
        };
        let mut s = serde_json::to_string_pretty(&j).unwrap_or_default();
        s.push('\n');
        Secret::new(s)
    }

    /// Writes the file readable by its owner only (mode 0600), replacing it whole (a
    /// temporary file renamed over it: a crash leaves the old or the new token, never half).
    pub fn save(&self, path: &Path) -> Result<(), OAuthError> {
        let err = |reason: String| OAuthError::File {
            action: "write",
            path: path.display().to_string(),
            reason,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "token".into());
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let json = self.to_json();
        let write = || -> std::io::Result<()> {
            let _ = std::fs::remove_file(&tmp);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(json.expose().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            err(e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn bare_token_and_json() {
        let f = TokenFile::parse("ya29.abc\n").unwrap();
        assert_eq!(f.token.access_token.expose(), "ya29.abc");
        assert!(f.token.refresh_token.is_none());

        let f = TokenFile::parse(
            r#"{"access_token":"a","refresh_token":"r","expires_at":123,"token_endpoint":"https://t/x","client_id":"c"}"#,
        )
        .unwrap();
        assert_eq!(f.token.refresh_token.unwrap().expose(), "r");
        assert_eq!(f.token.expires_at, Some(123));
        assert_eq!(f.client_id.as_deref(), Some("c"));

        let f = TokenFile::parse(r#"{"access_token":"a","expires_in":60,"token_type":"Bearer"}"#)
            .unwrap();
        assert!(f.token.expires_at.unwrap() >= crate::now() + 59);

        assert_eq!(
            TokenFile::parse(r#"{"refresh_token":"r"}"#).unwrap_err(),
            "it has no access_token"
        );
        assert_eq!(TokenFile::parse("  ").unwrap_err(), "it is empty");
        assert_eq!(
            TokenFile::parse("two words").unwrap_err(),
            "it is neither a JSON object nor a single access token"
        );
    }

    #[test]
    fn saved_file_is_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tok.json");
        let f = TokenFile {
            token: Token {
                access_token: Secret::new("acc"),
                refresh_token: Some(Secret::new("ref")),
                expires_at: Some(42),
            },
            provider: Some("gmail".into()),
            token_endpoint: Some("https://oauth2.googleapis.com/token".into()),
            client_id: Some("cid".into()),
        };
        f.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = TokenFile::load(&path).unwrap();
        assert_eq!(back.token, f.token);
        assert_eq!(back.provider.as_deref(), Some("gmail"));
        // Saving again replaces it, still private.
        f.save(&path).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let e = TokenFile::load(&dir.path().join("missing")).unwrap_err();
        assert!(
            e.to_string().starts_with("cannot read the token file "),
            "{e}"
        );
    }
}
