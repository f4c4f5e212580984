//! tracewire-testkit

/// The conformance suite every broker backend passes.
#[cfg(feature = "broker")]
pub mod conformance;
