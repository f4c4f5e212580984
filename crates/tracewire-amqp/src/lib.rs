//! tracewire-amqp
