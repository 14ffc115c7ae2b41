//! Server capabilities.

/// The capabilities the server announced, compared case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    words: Vec<String>,
}

/// Largest literal that LITERAL- (RFC 7888) lets a client send without
/// waiting for a continuation.
pub const LITERAL_MINUS_MAX: usize = 4096;

impl Capabilities {
    pub fn new<I, S>(words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Capabilities {
            words: words
                .into_iter()
                .map(|w| w.as_ref().to_ascii_uppercase())
                .collect(),
        }
    }

    /// Parses the arguments of a `[CAPABILITY ...]` response code.
    pub(crate) fn from_code_args(args: &str) -> Self {
        Self::new(args.split_ascii_whitespace())
    }

    pub fn has(&self, cap: &str) -> bool {
        self.words.iter().any(|w| w.eq_ignore_ascii_case(cap))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.words.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// True for LITERAL+ (any size) or LITERAL- (up to 4096 bytes): see
    /// [`Capabilities::non_sync_literal_ok`] for a given size.
    pub fn literal_plus(&self) -> bool {
        self.has("LITERAL+") || self.has("LITERAL-")
    }

    /// Whether a literal of `len` bytes may be sent without waiting for `+`.
    pub fn non_sync_literal_ok(&self, len: usize) -> bool {
        self.has("LITERAL+") || (self.has("LITERAL-") && len <= LITERAL_MINUS_MAX)
    }

    pub fn multiappend(&self) -> bool {
        self.has("MULTIAPPEND")
    }
    pub fn uidplus(&self) -> bool {
        self.has("UIDPLUS")
    }
    pub fn condstore(&self) -> bool {
        self.has("CONDSTORE") || self.has("QRESYNC")
    }
    pub fn qresync(&self) -> bool {
        self.has("QRESYNC")
    }
    pub fn compress_deflate(&self) -> bool {
        self.has("COMPRESS=DEFLATE")
    }
    pub fn special_use(&self) -> bool {
        self.has("SPECIAL-USE")
    }
    pub fn namespace(&self) -> bool {
        self.has("NAMESPACE")
    }
    pub fn list_status(&self) -> bool {
        self.has("LIST-STATUS")
    }
    pub fn list_extended(&self) -> bool {
        self.has("LIST-EXTENDED")
    }
    pub fn enable(&self) -> bool {
        self.has("ENABLE")
    }
    pub fn sasl_ir(&self) -> bool {
        self.has("SASL-IR")
    }
    pub fn auth_plain(&self) -> bool {
        self.has("AUTH=PLAIN")
    }
    pub fn starttls(&self) -> bool {
        self.has("STARTTLS")
    }
    pub fn login_disabled(&self) -> bool {
        self.has("LOGINDISABLED")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive_and_literal_minus_limit() {
        let c = Capabilities::from_code_args("IMAP4rev1 literal- MultiAppend UIDPLUS");
        assert!(c.has("MULTIAPPEND") && c.multiappend() && c.uidplus());
        assert!(c.literal_plus());
        assert!(c.non_sync_literal_ok(4096));
        assert!(!c.non_sync_literal_ok(4097));
        assert!(!c.condstore());
        let c = Capabilities::new(["LITERAL+"]);
        assert!(c.non_sync_literal_ok(50_000_000));
    }
}
