//! Credentials at rest: sealed with AES-256-GCM under the service's key, opened only to run.
//!
//! The key comes from a file (`--secret-key-file`), or is generated at first start in the data
//! directory with mode 0600. A sealed value is `nonce (12 bytes) || ciphertext || tag`, base64;
//! the migration ID is the associated data, so a sealed password moved to another migration's
//! row does not open.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The key file could not be read or created.
    #[error("cannot read or create the secret key file {path}: {source}")]
    KeyFile {
        /// The key file's path.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The key file does not hold a 32-byte key.
    #[error("the secret key file {0} does not hold a 32-byte key")]
    BadKey(String),
    /// A sealed credential did not open: another key, or altered data.
    #[error("cannot open a sealed credential (wrong key, or the store was altered)")]
    Open,
}

/// The service's sealing key.
pub struct Vault {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault([redacted])")
    }
}

impl Vault {
    /// A vault over a 32-byte key.
    pub fn from_key(key: &[u8; 32]) -> Vault {
        Vault {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// The key in `path` (32 raw bytes, or 64 hex digits), created with mode 0600 when absent.
    pub fn open_or_create(path: &Path) -> Result<Vault, VaultError> {
        let err = |source| VaultError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let key: Zeroizing<[u8; 32]> = match bytes.len() {
                    32 => Zeroizing::new(bytes[..].try_into().unwrap_or([0; 32])),
                    64 | 65 => {
                        let text = std::str::from_utf8(&bytes[..64])
                            .map_err(|_| VaultError::BadKey(path.display().to_string()))?;
                        let mut k = Zeroizing::new([0u8; 32]);
                        for (i, k) in k.iter_mut().enumerate() {
                            *k = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
                                .map_err(|_| VaultError::BadKey(path.display().to_string()))?;
                        }
                        k
                    }
                    _ => return Err(VaultError::BadKey(path.display().to_string())),
                };
                Ok(Vault::from_key(&key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = Zeroizing::new([0u8; 32]);
                rand::fill(&mut key[..]);
                write_private(path, &key[..]).map_err(err)?;
                Ok(Vault::from_key(&key))
            }
            Err(e) => Err(err(e)),
        }
    }

    /// Seals `secret` for the record `context` (the migration ID).
    pub fn seal(&self, context: &str, secret: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::fill(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            // Encryption fails only for plaintexts beyond GCM's limit (64 GiB).
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        B64.encode(out)
    }

    /// Opens what [`Vault::seal`] sealed for the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Zeroizing<String>, VaultError> {
        let raw = B64.decode(sealed).map_err(|_| VaultError::Open)?;
        if raw.len() < 12 + 16 {
            return Err(VaultError::Open);
        }
        let (nonce, ct) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| VaultError::Open)?;
        let pt = Zeroizing::new(
            self.cipher
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: ct,
                        aad: context.as_bytes(),
                    },
                )
                .map_err(|_| VaultError::Open)?,
        );
        String::from_utf8(pt.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Open)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_context() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let v = Vault::open_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = v.seal("m1", "hunter2-secret");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(v.open("m1", &sealed).unwrap().as_str(), "hunter2-secret");
        assert!(v.open("m2", &sealed).is_err(), "another record's context");
        // The same key file again opens it; another key does not.
        let again = Vault::open_or_create(&path).unwrap();
        assert_eq!(
            again.open("m1", &sealed).unwrap().as_str(),
            "hunter2-secret"
        );
        let other = Vault::from_key(&[7; 32]);
        assert!(other.open("m1", &sealed).is_err());
        assert!(format!("{v:?}").contains("redacted"));
    }
}
