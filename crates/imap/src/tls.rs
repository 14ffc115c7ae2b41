//! TLS set-up: rustls with the ring provider, verified against the system's
//! roots, or (when asked) accepting any certificate.

use std::io;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};

use crate::Error;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

static VERIFIED: OnceLock<Arc<ClientConfig>> = OnceLock::new();
static INSECURE: OnceLock<Arc<ClientConfig>> = OnceLock::new();

pub(crate) fn client_config(insecure: bool) -> Result<Arc<ClientConfig>, Error> {
    let cell = if insecure { &INSECURE } else { &VERIFIED };
    if let Some(c) = cell.get() {
        return Ok(Arc::clone(c));
    }
    let setup_err = |e: rustls::Error| Error::Tls {
        host: String::new(),
        reason: format!("cannot set up TLS: {e}"),
    };
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(setup_err)?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert {
                algs: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth()
    } else {
        let verifier = rustls_platform_verifier::Verifier::new(provider).map_err(setup_err)?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    };
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
        Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) => {
            "the port seems to speak plain IMAP, not TLS (use imap:// or imap+starttls://)"
                .to_owned()
        }
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

/// Accepts any certificate but still checks the handshake signatures, so
/// the session is encrypted (against a passive eavesdropper only).
#[derive(Debug)]
struct AcceptAnyCert {
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}
