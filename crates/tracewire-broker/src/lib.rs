//! tracewire-broker (docs to come)
#![cfg_attr(docsrs, feature(doc_cfg))]

mod broker;
mod error;
pub mod events;
mod headers;
mod message;
pub mod request_reply;
pub mod router;
pub mod trace;
pub mod wire;

#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub mod memory;

pub use broker::{Broker, Delivery, Guarantees, Overflow, SubscribeOptions, Subscription};
pub use error::{AckError, BoxError, CloseError, PublishError, SubscribeError};
pub use headers::Headers;
pub use message::Message;
