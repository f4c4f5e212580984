//! tracewire-ws
