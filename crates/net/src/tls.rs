//! rustls client configurations with the ring provider passed explicitly.
//!
//! Nothing here calls `CryptoProvider::install_default`: a library must not change process-wide
//! state another library (or the application) relies on.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};

use crate::NetError;

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsVerify {
    /// The platform's verifier and trust store (`rustls-platform-verifier`).
    #[default]
    Platform,
    /// Any certificate (self-signed test servers). The handshake signature is still checked,
    /// but anyone in the middle can read everything: never for production.
    AcceptAnyCertificate,
}

/// The ring crypto provider, as an explicit value.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client configuration (TLS 1.2 and 1.3, no client certificate, no ALPN) built with
/// [`crypto_provider`] passed to `ClientConfig::builder_with_provider`. Callers set ALPN
/// themselves when they need it; for reqwest, hand it to `tls_backend_preconfigured`.
pub fn tls_client_config(verify: TlsVerify) -> Result<ClientConfig, NetError> {
    let provider = crypto_provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| NetError::Tls(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        TlsVerify::Platform => Arc::new(
            rustls_platform_verifier::Verifier::new(Arc::clone(&provider))
                .map_err(|e| NetError::Tls(e.to_string()))?,
        ),
        TlsVerify::AcceptAnyCertificate => Arc::new(AcceptAnyCert {
            algs: provider.signature_verification_algorithms,
        }),
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// Accepts any certificate chain; still verifies the handshake signatures with the provider's
/// algorithms, so the peer must hold the key of the certificate it shows.
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

/// Explains a failed TLS handshake with `host` in words a user can act on. `plain_hint` is what
/// to say when the port answered in clear text (e.g. "the port seems to speak plain IMAP, not
/// TLS (use imap:// or imap+starttls://)"); `None` gives the generic message.
pub fn explain_handshake(host: &str, e: &std::io::Error, plain_hint: Option<&str>) -> String {
    let rustls_err = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let not_trusted = |what: &str| {
        format!(
            "certificate not trusted ({what}use --insecure-tls to accept a self-signed certificate)"
        )
    };
    match rustls_err {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => not_trusted(""),
            // webpki reports a self-signed certificate (CA:TRUE, as `openssl req -x509` makes)
            // as a CA used as an end entity; it arrives wrapped in `Other`, so only its name
            // identifies it.
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
        Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType))
            if plain_hint.is_some() =>
        {
            plain_hint.unwrap_or_default().to_owned()
        }
        Some(other) => format!("TLS handshake failed: {other}"),
        None => format!("TLS handshake failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_without_a_process_default_provider() {
        // Building must not need (nor install) a process-wide provider.
        assert!(CryptoProvider::get_default().is_none());
        tls_client_config(TlsVerify::Platform).unwrap();
        tls_client_config(TlsVerify::AcceptAnyCertificate).unwrap();
        assert!(CryptoProvider::get_default().is_none());
    }
}
