//! The few HTTP requests OAuth 2.0 needs: a form POST to an endpoint, a JSON GET.

use std::sync::OnceLock;
use std::time::Duration;

use passeur_types::Secret;
use serde_json::Value;
use url::Url;

use crate::{OAuthError, Token};

/// Largest answer read from an endpoint.
const MAX_BODY: usize = 256 * 1024;

/// An RFC 6749 section 5.2 error answer.
pub(crate) struct GrantError {
    pub error: String,
    pub description: Option<String>,
}

fn client() -> Result<&'static reqwest::Client, OAuthError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let tls = passeur_net::tls_client_config(passeur_net::TlsVerify::Platform)
        .map_err(|e| OAuthError::Config(format!("cannot set up TLS: {e}")))?;
    let c = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        // Tokens and codes go only where they were meant to.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("passeur/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| OAuthError::Config(format!("cannot set up HTTP: {e}")))?;
    Ok(CLIENT.get_or_init(|| c))
}

fn http_err(url: &Url, reason: impl std::fmt::Display) -> OAuthError {
    OAuthError::Http {
        url: url.to_string(),
        reason: reason.to_string(),
    }
}

async fn read(url: &Url, resp: reqwest::Response) -> Result<(u16, Value), OAuthError> {
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| http_err(url, e))?;
    if body.len() > MAX_BODY {
        return Err(http_err(url, "answer too large"));
    }
    let v: Value = serde_json::from_slice(&body)
        .map_err(|_| http_err(url, format!("HTTP {status}, not a JSON answer")))?;
    if !v.is_object() {
        return Err(http_err(url, format!("HTTP {status}, not a JSON object")));
    }
    Ok((status, v))
}

/// GETs a JSON object.
pub(crate) async fn get_json(url: &Url) -> Result<Value, OAuthError> {
    let resp = client()?
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| http_err(url, e))?;
    match read(url, resp).await? {
        (200, v) => Ok(v),
        (s, _) => Err(http_err(url, format!("HTTP {s}"))),
    }
}

/// POSTs a form; the JSON answer, or the provider's OAuth error.
pub(crate) async fn post_form(
    url: &Url,
    form: &[(&str, &str)],
) -> Result<Result<Value, GrantError>, OAuthError> {
    let body = Secret::new(
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish(),
    );
    let resp = client()?
        .post(url.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body.expose().to_owned())
        .send()
        .await
        .map_err(|e| http_err(url, e))?;
    let (status, v) = read(url, resp).await?;
    if let Some(error) = v.get("error").and_then(Value::as_str) {
        return Ok(Err(GrantError {
            error: error.to_owned(),
            description: v
                .get("error_description")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }));
    }
    if status != 200 {
        return Err(http_err(url, format!("HTTP {status}")));
    }
    Ok(Ok(v))
}

/// The token of a successful token answer (RFC 6749 section 5.1).
pub(crate) fn token_of(v: &Value) -> Result<Token, OAuthError> {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    let access = s("access_token").ok_or_else(|| OAuthError::Http {
        url: String::new(),
        reason: "the token answer has no access_token".into(),
    })?;
    if let Some(t) = s("token_type")
        && !t.eq_ignore_ascii_case("bearer")
    {
        return Err(OAuthError::Config(format!(
            "the provider gave a {t:?} token; only Bearer tokens can log in"
        )));
    }
    let expires_in = v.get("expires_in").and_then(|x| {
        x.as_u64()
            .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
    });
    Ok(Token {
        access_token: Secret::new(access),
        refresh_token: s("refresh_token").map(Secret::new),
        expires_at: expires_in.map(|e| crate::now().saturating_add(e)),
    })
}
