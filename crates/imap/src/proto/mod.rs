//! The wire layer: framing ([`frame`]), a value reader ([`value`]) and typed
//! responses ([`response`]). No I/O here: everything works on byte buffers.

pub mod frame;
pub mod response;
pub mod value;
