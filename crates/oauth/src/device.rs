//! The device authorization grant (RFC 8628): passeur shows a URL and a code, the user approves
//! on any device with a browser, passeur polls the token endpoint until then.

use std::time::Duration;

use passeur_types::Secret;
use serde_json::Value;

use crate::{OAuthError, Provider, Token, http};

/// What the user is asked to do, and what passeur polls with.
#[derive(Debug, Clone)]
pub struct DeviceAuthorization {
    /// The code passeur polls the token endpoint with (never shown).
    pub device_code: Secret,
    /// The code the user types at the verification page.
    pub user_code: String,
    /// Where the user goes to approve the login.
    pub verification_uri: String,
    /// The URL with the code already in it, when the provider gives one.
    pub verification_uri_complete: Option<String>,
    /// Seconds the code stays valid.
    pub expires_in: u64,
    /// Seconds between polls.
    pub interval: u64,
}

/// Asks the provider for a device code (RFC 8628 section 3.1).
pub async fn start_device(p: &Provider) -> Result<DeviceAuthorization, OAuthError> {
    let url = p.device_authorization_endpoint.as_ref().ok_or_else(|| {
        OAuthError::Config(format!(
            "{} has no device authorization endpoint: it cannot log in without a browser here",
            p.name
        ))
    })?;
    let scope = p.scopes.join(" ");
    let mut form = vec![];
    if !scope.is_empty() {
        form.push(("scope", scope.as_str()));
    }
    p.client_auth(&mut form);
    let v = http::post_form(url, &form)
        .await?
        .map_err(|e| OAuthError::Refused {
            provider: p.name.clone(),
            error: e.error,
            description: e.description,
        })?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let n = |k: &str| {
        v.get(k).and_then(|x| {
            x.as_u64()
                .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
        })
    };
    let missing = |k: &str| OAuthError::Http {
        url: url.to_string(),
        reason: format!("the device authorization answer has no {k}"),
    };
    Ok(DeviceAuthorization {
        device_code: Secret::new(s("device_code").ok_or_else(|| missing("device_code"))?),
        user_code: s("user_code").ok_or_else(|| missing("user_code"))?,
        // Google says verification_url.
        verification_uri: s("verification_uri")
            .or_else(|| s("verification_url"))
            .ok_or_else(|| missing("verification_uri"))?,
        verification_uri_complete: s("verification_uri_complete"),
        expires_in: n("expires_in").unwrap_or(600),
        interval: n("interval").unwrap_or(5),
    })
}

/// Polls the token endpoint until the user approves, declines, or the code expires
/// (RFC 8628 section 3.4/3.5).
pub async fn poll_device(p: &Provider, d: &DeviceAuthorization) -> Result<Token, OAuthError> {
    let mut interval = d.interval.max(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(d.expires_in.max(1));
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        if tokio::time::Instant::now() > deadline {
            return Err(OAuthError::Expired);
        }
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", d.device_code.expose()),
        ];
        p.client_auth(&mut form);
        match http::post_form(&p.token_endpoint, &form).await? {
            Ok(v) => return http::token_of(&v),
            Err(e) => match e.error.as_str() {
                "authorization_pending" => {}
                "slow_down" => interval += 5,
                "access_denied" => {
                    return Err(OAuthError::Denied {
                        provider: p.name.clone(),
                    });
                }
                "expired_token" => return Err(OAuthError::Expired),
                _ => {
                    return Err(OAuthError::Refused {
                        provider: p.name.clone(),
                        error: e.error,
                        description: e.description,
                    });
                }
            },
        }
    }
}

/// The whole grant: asks for a code, hands it to `show` (print it), polls until approved.
pub async fn device_login(
    p: &Provider,
    show: impl FnOnce(&DeviceAuthorization),
) -> Result<Token, OAuthError> {
    let d = start_device(p).await?;
    show(&d);
    poll_device(p, &d).await
}
