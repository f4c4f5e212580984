//! A server round trip: the one ordering guarantee core NATS gives a client.
//!
//! Written here because async-nats (0.51) has none that holds: `Client::flush` only
//! flushes the socket, and `Subscriber::drain` forgets the subscription one poll after
//! queueing UNSUB and PING, without waiting for the PONG, so messages the server already
//! routed to it but that had not arrived yet are dropped. A message sent to a private
//! inbox and received back is a round trip: the server handles one connection's
//! operations in order and writes to one connection in order, so when it returns, every
//! SUB sent before it is held by the server, and every message the server routed to this
//! connection before it sits in its subscription's buffer.

use futures_util::StreamExt as _;

use crate::NatsError;
use crate::broker::Inner;

impl Inner {
    /// Waits (at most `request_timeout`) until the server has handled everything this
    /// connection sent before the call; see the module docs.
    ///
    /// Cancel-safety: cancel-safe; the private inbox is unsubscribed when dropped.
    pub(crate) async fn round_trip(&self) -> Result<(), NatsError> {
        let timeout = self.config.request_timeout;
        let inbox = self.client.new_inbox();
        let there_and_back = async {
            let mut echo = self
                .client
                .subscribe(inbox.clone())
                .await
                .map_err(NatsError::client)?;
            self.client
                .publish(inbox, bytes::Bytes::new())
                .await
                .map_err(NatsError::client)?;
            match echo.next().await {
                Some(_) => Ok(()),
                None => Err(NatsError::client("connection closed during a round trip")),
            }
        };
        tokio::time::timeout(timeout, there_and_back)
            .await
            .unwrap_or(Err(NatsError::timed_out("server round trip", timeout)))
    }
}
