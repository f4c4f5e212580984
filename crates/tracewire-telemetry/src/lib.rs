//! tracewire-telemetry: OpenTelemetry set-up for tracewire services.

pub mod tree;
