//! [`CorrelationId`]: the conversation id travels from a consumed message to the
//! messages its handler produces.

use std::sync::Arc;

use crate::router::{BoxHandler, Middleware};

/// Copies the consumed message's correlation id onto every produced message that has
/// none (watermill's correlation middleware).
#[derive(Clone, Copy, Debug, Default)]
pub struct CorrelationId;

impl Middleware for CorrelationId {
    fn wrap(&self, next: BoxHandler) -> BoxHandler {
        Arc::new(move |msg| {
            let correlation = msg.correlation_id.clone();
            let fut = next(msg);
            Box::pin(async move {
                let mut produced = fut.await?;
                if let Some(id) = correlation {
                    for out in produced.iter_mut().filter(|m| m.correlation_id.is_none()) {
                        out.correlation_id = Some(id.clone());
                    }
                }
                Ok(produced)
            })
        })
    }
}
