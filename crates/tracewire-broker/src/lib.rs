//! tracewire-broker
