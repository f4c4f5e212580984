//! Client side.
pub(crate) mod redact;
