//! Strict context propagation for OpenTelemetry: W3C Trace Context (Level 2), W3C
//! Baggage, B3 and Jaeger, with carriers that see every line of a repeated header.

pub mod carrier;
