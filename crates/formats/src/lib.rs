//! passeur-formats: iCalendar and vCard streams turned into DAV resources.
//!
//! - [`ics::split`]: an iCalendar stream -> one [`ics::IcsObject`] per UID (master +
//!   RECURRENCE-ID overrides + the VTIMEZONEs they use), with Windows zone names
//!   mapped to IANA and missing VTIMEZONEs added ([`tz`]).
//! - [`vcf::split`]: a vCard stream -> one [`vcf::VcfObject`] per card, UIDs made up
//!   deterministically where missing; [`vcf::to_v3`] converts 2.1 (and 4.0) to 3.0.
//! - [`fingerprint`]: stable UID hashes for the item map and safe resource names.
//! - [`repair::repair_ics`]: a second form of an object a server refused, keeping its meaning,
//!   with a note per change.
//! - [`FormatError`]: one error per bad item, with its line and UID; reading goes on;
//!   [`FormatError::Skipped`] is a warning (a broken line or unknown component skipped).
//!
//! Both readers work on any [`std::io::BufRead`], never panic on input (fuzzed in
//! `fuzz/`), and keep a bounded amount of the input in memory (see [`ics`]).

#![warn(missing_docs)]

mod error;
pub mod fingerprint;
pub mod ics;
mod line;
pub mod repair;
pub mod tz;
pub mod vcf;

pub use error::FormatError;
pub use ics::{ComponentKind, IcsObject};
pub use vcf::{VcfObject, VcfVersion};
