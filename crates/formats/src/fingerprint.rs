//! Stable fingerprints and resource names derived from UIDs.
//!
//! The item map keys DAV resources by a fingerprint of their UID, and the copier
//! names destination resources after the UID, so that a run that is resumed after a
//! crash addresses the same destination href and gets `412 Precondition Failed`
//! instead of writing a duplicate.

use sha2::{Digest, Sha256};

/// Which kind of resource a UID belongs to (keeps a contact and an event with the
/// same UID apart in the item map).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResourceKind {
    /// An event, task or journal entry (iCalendar).
    Calendar,
    /// A contact (vCard).
    Contact,
}

/// A stable hex fingerprint (SHA-256, 64 hex digits) of a resource's UID.
pub fn uid_fingerprint(kind: ResourceKind, uid: &str) -> String {
    let mut h = Sha256::new();
    h.update(match kind {
        ResourceKind::Calendar => b"ical\0".as_slice(),
        ResourceKind::Contact => b"vcard\0".as_slice(),
    });
    h.update(uid.as_bytes());
    hex::encode(h.finalize())
}

/// The SHA-256 of `bytes` in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A safe, deterministic resource file name for `uid` with extension `ext`
/// (`"ics"` or `"vcf"`): the UID itself when it is made of `[A-Za-z0-9._@-]`
/// (at most 100 characters, not starting with a dot), else 40 hex digits of its
/// SHA-256.
pub fn resource_name(uid: &str, ext: &str) -> String {
    let plain = !uid.is_empty()
        && uid.len() <= 100
        && !uid.starts_with('.')
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b));
    if plain {
        format!("{uid}.{ext}")
    } else {
        let h = sha256_hex(uid.as_bytes());
        format!("{}.{ext}", &h[..40])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_stable() {
        assert_eq!(resource_name("abc-123@host", "ics"), "abc-123@host.ics");
        let odd = resource_name("urn:uuid:1/2", "vcf");
        assert_eq!(odd.len(), 44);
        assert_eq!(odd, resource_name("urn:uuid:1/2", "vcf"));
        assert_ne!(resource_name("a b", "ics"), resource_name("a c", "ics"));
        assert_ne!(
            uid_fingerprint(ResourceKind::Calendar, "x"),
            uid_fingerprint(ResourceKind::Contact, "x")
        );
    }
}
