//! tracewire-grpc
