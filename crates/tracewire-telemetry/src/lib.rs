//! tracewire-telemetry
