//! The authorization code grant with PKCE (RFC 6749 section 4.1, RFC 7636): the building blocks
//! of a "Sign in with ..." redirect. The caller keeps the [`Pkce`] and the state between the
//! redirect and the callback.

use base64::Engine as _;
use passeur_types::Secret;
use sha2::{Digest, Sha256};
use url::Url;

use crate::{OAuthError, Provider, Token, http};

/// A PKCE pair: the verifier (kept secret until the code exchange) and its S256 challenge
/// (sent in the authorization request).
#[derive(Clone, Debug)]
pub struct Pkce {
    /// The random verifier, sent with the code exchange only.
    pub verifier: Secret,
    /// Its S256 challenge, sent in the authorization request.
    pub challenge: String,
}

fn random_b64(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::fill(&mut b[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&b)
}

impl Pkce {
    /// A fresh pair: 32 random bytes as the verifier (43 characters), S256 as the challenge.
    pub fn new() -> Pkce {
        Pkce::from_verifier(Secret::new(random_b64(32)))
    }

    /// The pair of a given verifier.
    pub fn from_verifier(verifier: Secret) -> Pkce {
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.expose().as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Pkce::new()
    }
}

/// A random `state` value for one authorization request (CSRF protection of the callback).
pub fn new_state() -> String {
    random_b64(24)
}

impl Provider {
    /// Where to send the user's browser: the authorization endpoint with the client, scopes,
    /// redirect URI, state and PKCE challenge.
    pub fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        pkce: &Pkce,
    ) -> Result<Url, OAuthError> {
        let mut u = self.authorization_endpoint.clone().ok_or_else(|| {
            OAuthError::Config(format!("{} has no authorization endpoint", self.name))
        })?;
        u.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &self.scopes.join(" "))
            .append_pair("state", state)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256")
            // Google: a refresh token, and the consent screen that grants it.
            .append_pair("access_type", "offline")
            .append_pair("prompt", "consent");
        Ok(u)
    }

    /// Exchanges the code the callback received for tokens, proving the PKCE verifier.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        pkce: &Pkce,
    ) -> Result<Token, OAuthError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", pkce.verifier.expose()),
        ];
        self.client_auth(&mut form);
        match http::post_form(&self.token_endpoint, &form).await? {
            Ok(v) => http::token_of(&v),
            Err(e) => Err(OAuthError::Refused {
                provider: self.name.clone(),
                error: e.error,
                description: e.description,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let p = Pkce::from_verifier(Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert_eq!(p.challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        let n = Pkce::new();
        assert_eq!(n.verifier.expose().len(), 43);
        assert_ne!(n.verifier, Pkce::new().verifier);
    }

    #[test]
    fn authorization_url_carries_the_challenge() {
        let mut p = Provider::from_preset(
            &passeur_net::discover::Presets::built_in(),
            "microsoft",
            "cid",
            None,
        )
        .unwrap();
        p.scopes = vec!["a".into(), "b".into()];
        let pk = Pkce::from_verifier(Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        let u = p
            .authorization_url("https://passeur.example/oauth/callback", "st", &pk)
            .unwrap();
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(
            q["code_challenge"],
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["scope"], "a b");
        assert_eq!(q["state"], "st");
        assert_eq!(q["redirect_uri"], "https://passeur.example/oauth/callback");
        assert!(!u.as_str().contains("dBjftJeZ"), "the verifier stays here");
    }
}
