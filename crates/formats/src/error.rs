//! The error type of this crate.

/// What went wrong with one item of an iCalendar or vCard stream.
///
/// Each error names the physical line (1-based) where the item or the fault starts
/// and, where it is known, the UID of the item, so a user can find it in the file.
/// Apart from [`FormatError::Io`], errors concern one item: the reader goes on
/// with the next one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The underlying reader failed. Reading stops.
    #[error("cannot read the input: {0}")]
    Io(#[from] std::io::Error),
    /// A content line without a `:` between name and value, or with an empty name.
    #[error("cannot parse line {line}{}: {reason}", uid_suffix(uid))]
    BadLine {
        /// The physical line (1-based) where the item or the fault starts.
        line: usize,
        /// The item's UID, when it was read before the fault.
        uid: Option<String>,
        /// What is wrong, in a sentence.
        reason: String,
    },
    /// A component or card that is not closed by its END line.
    #[error(
        "cannot find END:{component} for the BEGIN on line {line}{}",
        uid_suffix(uid)
    )]
    MissingEnd {
        /// The physical line (1-based) where the item or the fault starts.
        line: usize,
        /// The item's UID, when it was read before the fault.
        uid: Option<String>,
        /// The component or card (`VEVENT`, `VCARD`, ...).
        component: String,
    },
    /// An END line without its BEGIN, or closing another component.
    #[error("cannot match END:{component} on line {line} to a BEGIN")]
    UnexpectedEnd {
        /// The line of the END.
        line: usize,
        /// The component it names.
        component: String,
    },
    /// A date or date-time value that does not follow RFC 5545.
    #[error(
        "cannot parse the date {value:?} of {property} on line {line}{}",
        uid_suffix(uid)
    )]
    BadDate {
        /// The physical line (1-based) where the item or the fault starts.
        line: usize,
        /// The item's UID, when it was read before the fault.
        uid: Option<String>,
        /// The property (`DTSTART`, `PHOTO`, ...).
        property: String,
        /// The value as found.
        value: String,
    },
    /// Inline binary data (`ENCODING=BASE64` / `ENCODING=b`) that is not valid base64.
    #[error(
        "cannot decode the base64 data of {property} on line {line}{}",
        uid_suffix(uid)
    )]
    InvalidBase64 {
        /// The physical line (1-based) where the item or the fault starts.
        line: usize,
        /// The item's UID, when it was read before the fault.
        uid: Option<String>,
        /// The property (`DTSTART`, `PHOTO`, ...).
        property: String,
    },
    /// Invalid quoted-printable data.
    #[error(
        "cannot decode the quoted-printable value of {property} on line {line}{}",
        uid_suffix(uid)
    )]
    InvalidQuotedPrintable {
        /// The physical line (1-based) where the item or the fault starts.
        line: usize,
        /// The item's UID, when it was read before the fault.
        uid: Option<String>,
        /// The property (`DTSTART`, `PHOTO`, ...).
        property: String,
    },
    /// A `CHARSET` parameter naming an encoding we do not know.
    #[error(
        "cannot decode {property} on line {line}{}: unknown charset {charset:?}",
        uid_suffix(uid)
    )]
    UnknownCharset {
        /// The physical line (1-based) where the item or the fault starts.
        line: usize,
        /// The item's UID, when it was read before the fault.
        uid: Option<String>,
        /// The property (`DTSTART`, `PHOTO`, ...).
        property: String,
        /// The charset the parameter names.
        charset: String,
    },
    /// Something that is not an iCalendar object or a vCard where one was expected.
    #[error("cannot use line {line}: {reason}")]
    Unexpected {
        /// The line.
        line: usize,
        /// What was found instead.
        reason: String,
    },
    /// Not an error but a warning: something outside any item was skipped or mended (a broken
    /// line between components, an unknown component, a file cut short). Reading goes on and
    /// no item is lost; the reason names the line.
    #[error("{reason}")]
    Skipped {
        /// The line where the skipped or mended part starts.
        line: usize,
        /// What was skipped or mended, and why.
        reason: String,
    },
    /// A component this crate does not turn into a calendar resource (VFREEBUSY, ...).
    #[error(
        "cannot import {component} on line {line}{}: {reason}",
        uid_suffix(uid)
    )]
    Unsupported {
        /// The physical line (1-based) where the item or the fault starts.
        line: usize,
        /// The item's UID, when it was read before the fault.
        uid: Option<String>,
        /// The component or card (`VEVENT`, `VCARD`, ...).
        component: String,
        /// What is wrong, in a sentence.
        reason: String,
    },
}

fn uid_suffix(uid: &Option<String>) -> String {
    match uid {
        Some(u) => format!(" (UID {u:?})"),
        None => String::new(),
    }
}

impl FormatError {
    /// The physical line (1-based) the error is about, when there is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            FormatError::Io(_) => None,
            FormatError::BadLine { line, .. }
            | FormatError::MissingEnd { line, .. }
            | FormatError::UnexpectedEnd { line, .. }
            | FormatError::BadDate { line, .. }
            | FormatError::InvalidBase64 { line, .. }
            | FormatError::InvalidQuotedPrintable { line, .. }
            | FormatError::UnknownCharset { line, .. }
            | FormatError::Unexpected { line, .. }
            | FormatError::Skipped { line, .. }
            | FormatError::Unsupported { line, .. } => Some(*line),
        }
    }

    /// The UID of the item the error is about, when it is known.
    pub fn uid(&self) -> Option<&str> {
        match self {
            FormatError::BadLine { uid, .. }
            | FormatError::MissingEnd { uid, .. }
            | FormatError::BadDate { uid, .. }
            | FormatError::InvalidBase64 { uid, .. }
            | FormatError::InvalidQuotedPrintable { uid, .. }
            | FormatError::UnknownCharset { uid, .. }
            | FormatError::Unsupported { uid, .. } => uid.as_deref(),
            _ => None,
        }
    }

    /// True for a warning ([`FormatError::Skipped`]): no item was lost.
    pub fn is_warning(&self) -> bool {
        matches!(self, FormatError::Skipped { .. })
    }

    /// True when reading cannot go on (an I/O error); false for a fault in one item.
    pub fn is_fatal(&self) -> bool {
        matches!(self, FormatError::Io(_))
    }

    pub(crate) fn with_uid(mut self, new: &str) -> Self {
        match &mut self {
            FormatError::BadLine { uid, .. }
            | FormatError::MissingEnd { uid, .. }
            | FormatError::BadDate { uid, .. }
            | FormatError::InvalidBase64 { uid, .. }
            | FormatError::InvalidQuotedPrintable { uid, .. }
            | FormatError::UnknownCharset { uid, .. }
            | FormatError::Unsupported { uid, .. }
                if uid.is_none() =>
            {
                *uid = Some(new.to_string());
            }
            _ => {}
        }
        self
    }
}
