//! The token of one side of a run, shared by all its connections.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use passeur_types::Secret;

use crate::{OAuthError, Provider, Token, TokenFile};

/// Renew a token this many seconds before it expires, so that a connection opened just
/// before the expiry still logs in.
pub const RENEW_MARGIN: u64 = 120;

/// One side's token. Connections ask it for the token before they log in
/// ([`TokenSource::access_token`], which renews it when it is about to expire), and tell it when
/// a server refused it ([`TokenSource::renew`]). Renewal happens once however many connections
/// ask at the same time. Once renewal failed, every later request gets that error at once: the
/// run stops at its next safe point instead of trying again on each connection.
pub struct TokenSource {
    current: tokio::sync::Mutex<Token>,
    provider: Option<Provider>,
    /// The file the token came from: a renewed token is written back there.
    file: Option<(PathBuf, TokenFile)>,
    renewals: AtomicU32,
    failed: std::sync::Mutex<Option<(String, String, Option<String>)>>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("provider", &self.provider.as_ref().map(|p| &p.name))
            .field("renewals", &self.renewals())
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A token renewed through `provider` when it can be (it has a refresh token).
    pub fn new(token: Token, provider: Option<Provider>) -> TokenSource {
        TokenSource {
            current: tokio::sync::Mutex::new(token),
            provider,
            file: None,
            renewals: AtomicU32::new(0),
            failed: std::sync::Mutex::new(None),
        }
    }

    /// Writes renewed tokens back to `path` (keeping the file's provider and client fields).
    pub fn with_file(mut self, path: PathBuf, meta: TokenFile) -> TokenSource {
        self.file = Some((path, meta));
        self
    }

    /// The name of the provider that renews it.
    pub fn provider_name(&self) -> Option<&str> {
        self.provider.as_ref().map(|p| p.name.as_str())
    }

    /// How many times the token was renewed.
    pub fn renewals(&self) -> u32 {
        self.renewals.load(Ordering::Relaxed)
    }

    /// The token now (for storing it sealed).
    pub async fn current(&self) -> Token {
        self.current.lock().await.clone()
    }

    /// The access token to log in with, renewed first when it expires within
    /// `RENEW_MARGIN` (120) seconds and can be renewed.
    pub async fn access_token(&self) -> Result<Secret, OAuthError> {
        self.check_failed()?;
        let mut cur = self.current.lock().await;
        let now = crate::now();
        if cur.expires_within(now, RENEW_MARGIN) && self.can_renew(&cur) {
            match self.renew_locked(&mut cur).await {
                Ok(()) => {}
                // The provider unreachable a moment before expiry: the token still works;
                // the next connection tries again.
                Err(e @ OAuthError::Http { .. }) if !cur.expires_within(now, 0) => {
                    tracing::warn!(error = %e, "cannot renew the OAuth 2.0 token yet");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(cur.access_token.clone())
    }

    /// A server refused `rejected`: renews the token unless another connection already did,
    /// and returns the token to try again with.
    pub async fn renew(&self, rejected: &Secret) -> Result<Secret, OAuthError> {
        self.check_failed()?;
        let mut cur = self.current.lock().await;
        if cur.access_token != *rejected {
            return Ok(cur.access_token.clone());
        }
        if !self.can_renew(&cur) {
            return Err(OAuthError::NoRefresh);
        }
        self.renew_locked(&mut cur).await?;
        Ok(cur.access_token.clone())
    }

    fn can_renew(&self, t: &Token) -> bool {
        self.provider.is_some() && t.refresh_token.is_some()
    }

    fn check_failed(&self) -> Result<(), OAuthError> {
        match &*self.failed.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((provider, error, description)) => Err(OAuthError::Renew {
                provider: provider.clone(),
                error: error.clone(),
                description: description.clone(),
            }),
            None => Ok(()),
        }
    }

    async fn renew_locked(&self, cur: &mut Token) -> Result<(), OAuthError> {
        let (Some(p), Some(rt)) = (&self.provider, &cur.refresh_token) else {
            return Err(OAuthError::NoRefresh);
        };
        match p.refresh(rt).await {
            Ok(t) => {
                *cur = t;
                self.renewals.fetch_add(1, Ordering::Relaxed);
                tracing::info!(provider = %p.name, "OAuth 2.0 token renewed");
                if let Some((path, meta)) = &self.file {
                    let f = TokenFile {
                        token: cur.clone(),
                        ..meta.clone()
                    };
                    if let Err(e) = f.save(path) {
                        tracing::warn!(error = %e, "cannot keep the renewed token");
                    }
                }
                Ok(())
            }
            Err(e) => {
                if let OAuthError::Renew {
                    provider,
                    error,
                    description,
                } = &e
                {
                    *self.failed.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some((provider.clone(), error.clone(), description.clone()));
                }
                Err(e)
            }
        }
    }
}
