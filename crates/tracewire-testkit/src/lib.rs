//! tracewire-testkit
