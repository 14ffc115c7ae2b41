//! TLS set-up, the same as passeur-imap's: rustls with the ring provider passed explicitly,
//! verified against the system's roots, or (when asked) accepting any certificate.

use std::io;
use std::sync::{Arc, OnceLock};

use passeur_net::TlsVerify;
use rustls::{CertificateError, ClientConfig};

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
    let rustls_err = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let reason = match rustls_err {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => not_trusted(""),
            // webpki reports a self-signed certificate (CA:TRUE, as
            // `openssl req -x509` makes) as a CA used as an end entity; it
            // arrives wrapped in `Other`, so only its name identifies it.
            CertificateError::Other(o) if format!("{o:?}").contains("CaUsedAsEndEntity") => {
                not_trusted("self-signed, ")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "certificate is not valid for the name {host:?} (use --insecure-tls to accept it anyway)"
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate has expired (use --insecure-tls to accept it anyway)".to_owned()
            }
            other => format!(
                "certificate rejected: {other:?} (use --insecure-tls to accept a self-signed certificate)"
            ),
        },
        Some(other) => format!("TLS handshake failed: {other}"),
        None => format!("TLS handshake failed: {e}"),
    };
    Error::Tls {
        host: host.into(),
        reason,
    }
}

fn not_trusted(what: &str) -> String {
    format!(
        "certificate not trusted ({what}use --insecure-tls to accept a self-signed certificate)"
    )
}
