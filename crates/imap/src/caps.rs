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
    /// The capabilities named by `words` (compared without regard to case).
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

    /// True when the server announced `cap` (case does not matter).
    pub fn has(&self, cap: &str) -> bool {
        self.words.iter().any(|w| w.eq_ignore_ascii_case(cap))
    }

    /// Every capability, in upper case.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.words.iter().map(String::as_str)
    }

    /// True before the server has announced anything.
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

    /// MULTIAPPEND (RFC 3502): several messages in one APPEND command.
    pub fn multiappend(&self) -> bool {
        self.has("MULTIAPPEND")
    }
    /// UIDPLUS (RFC 4315): APPENDUID/COPYUID codes and UID EXPUNGE.
    pub fn uidplus(&self) -> bool {
        self.has("UIDPLUS")
    }
    /// CONDSTORE (RFC 7162), which QRESYNC implies: MODSEQ and CHANGEDSINCE.
    pub fn condstore(&self) -> bool {
        self.has("CONDSTORE") || self.has("QRESYNC")
    }
    /// QRESYNC (RFC 7162): expunged UIDs reported as VANISHED.
    pub fn qresync(&self) -> bool {
        self.has("QRESYNC")
    }
    /// COMPRESS=DEFLATE (RFC 4978).
    pub fn compress_deflate(&self) -> bool {
        self.has("COMPRESS=DEFLATE")
    }
    /// SPECIAL-USE (RFC 6154): folder roles such as `\Sent` in LIST.
    pub fn special_use(&self) -> bool {
        self.has("SPECIAL-USE")
    }
    /// NAMESPACE (RFC 2342): the personal namespace's prefix and separator.
    pub fn namespace(&self) -> bool {
        self.has("NAMESPACE")
    }
    /// LIST-STATUS (RFC 5819): folder counts returned with LIST.
    pub fn list_status(&self) -> bool {
        self.has("LIST-STATUS")
    }
    /// LIST-EXTENDED (RFC 5258): subscriptions and attributes in one LIST.
    pub fn list_extended(&self) -> bool {
        self.has("LIST-EXTENDED")
    }
    /// ENABLE (RFC 5161).
    pub fn enable(&self) -> bool {
        self.has("ENABLE")
    }
    /// SASL-IR (RFC 4959): the first SASL response sent with AUTHENTICATE.
    pub fn sasl_ir(&self) -> bool {
        self.has("SASL-IR")
    }
    /// AUTH=PLAIN: SASL PLAIN login (with an authzid for admin logins).
    pub fn auth_plain(&self) -> bool {
        self.has("AUTH=PLAIN")
    }
    /// STARTTLS: a clear connection can be upgraded to TLS.
    pub fn starttls(&self) -> bool {
        self.has("STARTTLS")
    }
    /// LOGINDISABLED: no login before TLS.
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
