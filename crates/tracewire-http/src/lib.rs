//! tracewire-http
