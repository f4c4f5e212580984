//! `GET /orders/{id}/events`: one order's status over WebSocket, each message linked to
//! the operation that caused it.
//!
//! The stream sends the order's current state first, then every later change of that
//! order, and closes normally (1000) once the order is final, or with 1001 ("going
//! away") when the service shuts down ([`Order::close_streams`]). Each message is a
//! `tracewire-ws` envelope of type [`STATUS_TYPE`] whose `data` is an
//! [`OrderUpdate`]; `cause` is `current` for the state read on connecting, `resync` for
//! a state re-read after the stream fell behind the feed, and otherwise what moved the
//! order (`placed` or the event type).
//!
//! Tracing: the connection is a SERVER span `WS /orders/{id}/events` (a child of the
//! upgrade request's span); every message is a PRODUCER span `send order.status` under
//! it, carrying its own `traceparent` and a **link** to the span that changed the order
//! (`create order` or `update order`, remembered in the store for the first message).

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tracewire_broker::Broker;
use tracewire_contracts::{Order as OrderView, OrderUpdate};
use tracewire_ws::{BoxError, Envelope, Handler, Responder, SendError, WsConfig, WsSender};

use crate::lifecycle::progress;
use crate::{Order, StoreError, Update, store};

/// The route of the status stream.
pub const EVENTS_ROUTE: &str = "/orders/{id}/events";

/// The envelope `type` of every status message.
pub const STATUS_TYPE: &str = "order.status";

/// How long [`Order::close_streams`] waits for the open status streams to end: a little
/// over `tracewire-ws`'s close timeout (5 s), the longest a close handshake takes when
/// the client does not answer.
pub const STREAMS_CLOSE_GRACE: Duration = Duration::from_secs(6);

/// The close reason (with code 1001) of the streams ended by shutdown.
const STOPPING: &str = "order service stopping";

/// The shutdown signal of the status streams. Every open stream holds a receiver until
/// its connection ends, so the receiver count is the number of open streams.
#[derive(Clone, Debug)]
pub(crate) struct Streams(Arc<watch::Sender<bool>>);

impl Streams {
    pub(crate) fn new() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }

    /// A stream's receiver of the signal; hold it until the connection ends.
    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }
}

/// The stream's limits: the client sends nothing, so no idle timeout (ping/pong keeps
/// watching that the client is alive); messages are small.
pub(crate) fn config() -> WsConfig {
    WsConfig::default()
        .idle_timeout(None)
        .max_message_size(16 * 1024)
}

/// What the stream does with messages from the client: it takes none, so each valid
/// envelope gets a `handler_error` reply (malformed ones get `tracewire-ws`'s
/// `malformed_json` / `invalid_envelope` replies before reaching it); the stream goes on.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoInbound;

impl Handler for NoInbound {
    async fn call(&self, message: Envelope, _responder: Responder) -> Result<(), BoxError> {
        Err(format!(
            "this stream only sends; it takes no messages (got type {:?})",
            message.kind
        )
        .into())
    }
}

/// [`stream`], then holds `stop` until the connection ends (`Session::upgrade_with`
/// drops this future then, after the close handshake), so that
/// [`Order::close_streams`] waits for the handshake, not only for the close request.
pub(crate) async fn run<B: Broker>(
    order: Order<B>,
    current: OrderView,
    cause: Option<SpanContext>,
    updates: Receiver<Update>,
    mut stop: watch::Receiver<bool>,
    sender: WsSender,
) {
    stream(order, current, cause, updates, &mut stop, sender).await;
    std::future::pending::<()>().await;
}

/// Streams `current` and every later change of that order from `updates` (subscribed
/// before `current` was read, so nothing falls in between) on `sender`, until the
/// order is final, the client goes away or `stop` turns `true` (then closes with 1001).
pub(crate) async fn stream<B: Broker>(
    order: Order<B>,
    current: OrderView,
    cause: Option<SpanContext>,
    mut updates: Receiver<Update>,
    stop: &mut watch::Receiver<bool>,
    sender: WsSender,
) {
    let id = current.id.clone();
    let mut seen = current.status;
    if send(&sender, snapshot(&current, "current"), cause)
        .await
        .is_err()
    {
        return; // the client went away
    }
    while !seen.is_final() {
        let received = tokio::select! {
            biased;
            // An `Err` (the service's state is gone) is a shutdown too.
            () = async {
                let _ = stop.wait_for(|stop| *stop).await;
            } => {
                let _ = sender.close(tracewire_ws::close_code::AWAY, STOPPING).await;
                return;
            }
            received = updates.recv() => received,
        };
        let (update, cx) = match received {
            Ok(Update { update, cx }) => {
                // Another order's, or news older than what the client has.
                if update.order_id != id || progress(update.status) <= progress(seen) {
                    continue;
                }
                (update, cx)
            }
            Err(RecvError::Lagged(_)) => match order.load(&id).await.ok().flatten() {
                // Changes were dropped from the feed: the store has the truth.
                Some((now, cause)) => {
                    let message = snapshot(&now, "resync");
                    seen = now.status;
                    if send(&sender, message, cause).await.is_err() {
                        return;
                    }
                    continue;
                }
                None => {
                    let reason = "order store unavailable; reconnect";
                    let _ = sender.close(tracewire_ws::close_code::ERROR, reason).await;
                    return;
                }
            },
            Err(RecvError::Closed) => {
                let _ = sender.close(tracewire_ws::close_code::AWAY, STOPPING).await;
                return;
            }
        };
        seen = update.status;
        let cause = cx.span().span_context().clone();
        if send(&sender, update, Some(cause)).await.is_err() {
            return;
        }
    }
    let reason = format!("order {id} is {seen}");
    let _ = sender.close(tracewire_ws::close_code::NORMAL, reason).await;
}

/// The state of `order` as a status message.
fn snapshot(order: &OrderView, cause: &str) -> OrderUpdate {
    OrderUpdate {
        order_id: order.id.clone(),
        status: order.status,
        cause: cause.to_owned(),
        reason: order.reason.clone(),
    }
}

/// Sends `update` in a `send order.status` span linked to `cause`.
async fn send(
    sender: &WsSender,
    update: OrderUpdate,
    cause: Option<SpanContext>,
) -> Result<(), SendError> {
    let data = serde_json::to_value(&update).map_err(SendError::Serialize)?;
    let cause = cause.map_or_else(Context::new, |sc| {
        Context::new().with_remote_span_context(sc)
    });
    sender
        .send_linked(Envelope::new(STATUS_TYPE, data), &cause)
        .await
}

impl<B: Broker> Order<B> {
    /// Closes every open status stream with 1001 ("going away", reason `order service
    /// stopping`) and waits, up to [`STREAMS_CLOSE_GRACE`], until their connections
    /// have ended; a stream opened after this call closes the same way at once. Returns
    /// how many were still open when the grace ran out (0 normally).
    ///
    /// Call it when the server stops, next to `Server::stopped`: axum's graceful
    /// shutdown does not wait for upgraded connections, so without it the clients see
    /// the TCP connection drop (1006) when the process exits.
    ///
    /// Cancel-safety: the streams are told to close when the future is first polled;
    /// dropping it stops only the waiting.
    pub async fn close_streams(&self) -> usize {
        let stop = &self.streams.0;
        stop.send_replace(true);
        let _ = tokio::time::timeout(STREAMS_CLOSE_GRACE, stop.closed()).await;
        stop.receiver_count()
    }

    /// `id` as stored, with the span that last changed it (when known).
    ///
    /// Cancel-safety: cancel-safe (reads).
    pub(crate) async fn load(
        &self,
        id: &str,
    ) -> Result<Option<(OrderView, Option<SpanContext>)>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let Some(order) = store::find(&mut conn, id).await? else {
            return Ok(None);
        };
        let cause = store::changed_in(&mut conn, id).await?;
        Ok(Some((order, cause)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures_util::StreamExt as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tokio::sync::broadcast;
    use tracewire_broker::memory::MemoryBroker;
    use tracewire_contracts::OrderStatus;
    use tracewire_core::TracewirePropagator;
    use tracewire_service_kit::Telemetry;
    use tracewire_ws::testing::channel_pair;
    use tracewire_ws::{ConnectionMeta, Frame, close_code};

    use super::*;
    use crate::InventoryClient;

    fn update(id: &str, status: OrderStatus, cause: &str) -> OrderUpdate {
        OrderUpdate {
            order_id: id.to_owned(),
            status,
            cause: cause.to_owned(),
            reason: None,
        }
    }

    #[tokio::test]
    async fn a_lagging_stream_rereads_the_store_and_skips_stale_news() {
        let telemetry = Telemetry::new(
            "order",
            SdkTracerProvider::builder().build(),
            Arc::new(TracewirePropagator::default()),
        );
        let inventory = InventoryClient::connect_lazy("http://127.0.0.1:9", &telemetry).unwrap();
        let broker = telemetry.broker(MemoryBroker::new());
        let pool = store::open("memory").await.unwrap();
        let mut order = Order::new(pool, telemetry, inventory, broker)
            .await
            .unwrap();
        order.updates = broadcast::channel(2).0; // a tiny feed, to lag on purpose

        let placed = OrderView {
            id: "ord-1".into(),
            customer: "ada".into(),
            lines: Vec::new(),
            total_cents: 0,
            status: OrderStatus::Pending,
            reason: None,
        };
        let mut conn = order.pool.acquire().await.unwrap();
        store::insert(&mut conn, &placed, &SpanContext::empty_context())
            .await
            .unwrap();
        let updates = order.updates();
        // Four changes (two of another order) into a feed of two: the stream lags.
        // Meanwhile the store moved on to reserved.
        for (id, status) in [
            ("ord-2", OrderStatus::Reserved),
            ("ord-1", OrderStatus::Reserved),
            ("ord-2", OrderStatus::Confirmed),
            ("ord-1", OrderStatus::Pending), // stale
        ] {
            order.announce(update(id, status, "test"));
        }
        store::set_status(
            &mut conn,
            "ord-1",
            OrderStatus::Reserved,
            None,
            &SpanContext::empty_context(),
        )
        .await
        .unwrap();
        drop(conn); // an in-memory pool has one connection: the stream needs it

        let (socket, mut peer) = channel_pair(8);
        let (sender, connection) = order
            .events
            .start(socket, ConnectionMeta::server(EVENTS_ROUTE));
        let connection = tokio::spawn(connection);
        let mut stop = order.streams.subscribe();
        let streamed = order.clone();
        let streaming = tokio::spawn(async move {
            stream(streamed, placed, None, updates, &mut stop, sender).await;
        });

        let mut next = async || match peer.next().await {
            Some(Ok(Frame::Text(text))) => {
                let envelope = Envelope::parse(&text).unwrap();
                serde_json::from_value::<OrderUpdate>(envelope.data).unwrap()
            }
            other => panic!("expected a status message, got {other:?}"),
        };
        assert_eq!(
            next().await,
            update("ord-1", OrderStatus::Pending, "current")
        );
        assert_eq!(
            next().await,
            update("ord-1", OrderStatus::Reserved, "resync")
        );
        // The stale `pending` left in the feed is skipped; the next change arrives.
        order.announce(update("ord-1", OrderStatus::Confirmed, "payment"));
        assert_eq!(
            next().await,
            update("ord-1", OrderStatus::Confirmed, "payment")
        );
        match peer.next().await {
            Some(Ok(Frame::Close(Some(frame)))) => {
                assert_eq!(frame.code, close_code::NORMAL);
                assert_eq!(frame.reason.as_str(), "order ord-1 is confirmed");
            }
            other => panic!("expected a normal close, got {other:?}"),
        }
        futures_util::SinkExt::send(&mut peer, Frame::close(close_code::NORMAL, ""))
            .await
            .unwrap();
        streaming.await.unwrap();
        assert_eq!(connection.await.unwrap().code, close_code::NORMAL);
    }
}
