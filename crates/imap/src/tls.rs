//! TLS set-up: rustls with the ring provider, verified against the system's
//! roots, or (when asked) accepting any certificate.

use std::io;
use std::sync::{Arc, OnceLock};

use passeur_net::TlsVerify;
use rustls::ClientConfig;

use crate::Error;

static VERIFIED: OnceLock<Arc<ClientConfig>> = OnceLock::new();
static INSECURE: OnceLock<Arc<ClientConfig>> = OnceLock::new();

/// The shared client configuration (`passeur_net::tls_client_config`), built once per kind.
pub(crate) fn client_config(insecure: bool) -> Result<Arc<ClientConfig>, Error> {
    let cell = if insecure { &INSECURE } else { &VERIFIED };
    if let Some(c) = cell.get() {
        return Ok(Arc::clone(c));
    }
    let verify = if insecure {
        TlsVerify::AcceptAnyCertificate
    } else {
        TlsVerify::Platform
    };
    let config = passeur_net::tls_client_config(verify).map_err(|e| Error::Tls {
        host: String::new(),
        reason: format!("cannot set up TLS: {e}"),
    })?;
    Ok(Arc::clone(cell.get_or_init(|| Arc::new(config))))
}

/// Explains a failed handshake in words a user can act on.
pub(crate) fn handshake_error(host: &str, e: io::Error) -> Error {
    Error::Tls {
        host: host.into(),
        reason: passeur_net::explain_handshake(
            host,
            &e,
            Some("the port seems to speak plain IMAP, not TLS (use imap:// or imap+starttls://)"),
        ),
    }
}
