//! tracewire-ws (docs to come)
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
mod client;
mod config;
mod envelope;
mod frame;
mod handler;
mod headers;
mod otel;
mod sender;
#[cfg(feature = "axum")]
mod server;
mod session;
pub mod testing;

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub use client::{CONNECT_TIMEOUT, ConnectError, WsConnection};
pub use config::WsConfig;
pub use envelope::{ERROR_TYPE, Envelope, ErrorCode, MAX_TYPE_LEN, Rejection};
pub use frame::{CloseFrame, Frame, WireMessage, close_code};
pub use handler::{BoxError, Handler};
pub use headers::Headers;
pub use otel::SharedPropagator;
pub use sender::{Responder, SendError, WsSender};
pub use session::{CloseInfo, CloseInitiator, ConnectionMeta, Session};
