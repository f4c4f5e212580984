//! The per-connection event loop, generic over `Sink + Stream` so that the axum
//! server, the tungstenite client and channel-based tests share it.

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::{self, Bytes, Utf8Bytes};

use super::conn::{CloseInfo, CloseInitiator};
use super::dispatch::HandlerFuture;
use super::gate::ReadGate;
use crate::frame::{CloseFrame, close_code};
use crate::metrics::{ConnMetrics, Direction, OpenConnection, reason};
use crate::otel::{Telemetry, attr};
use crate::sender::Outbound;
use crate::{Frame, Handler, WireMessage, WsConfig, WsSender};

/// Outbound envelopes written before one flush.
pub(crate) const MAX_BATCH: usize = 32;

/// Everything one connection's loop needs.
pub(crate) struct Driver<H> {
    pub(crate) handler: Arc<H>,
    pub(crate) config: WsConfig,
    pub(crate) telemetry: Telemetry,
    pub(crate) sender: WsSender,
    pub(crate) conn_cx: Context,
    /// Counted as open until the loop ends (or this is dropped).
    pub(crate) open: OpenConnection,
}

/// What to do with the next queued inbound message.
enum Step {
    Run(HandlerFuture),
    Reply(Utf8Bytes),
}

impl<H: Handler> Driver<H> {
    /// Runs the connection to its end and closes the connection span.
    pub(crate) async fn drive<S, M, E>(
        mut self,
        mut socket: S,
        mut rx: mpsc::Receiver<Outbound>,
    ) -> CloseInfo
    where
        S: Sink<M> + Stream<Item = Result<M, E>> + Unpin,
        M: WireMessage,
        E: StdError + Send + Sync + 'static,
    {
        let mut rejected = 0_i64;
        let info = self.event_loop(&mut socket, &mut rx, &mut rejected).await;
        rx.close(); // senders now see `Closed`
        if rejected > 0 {
            self.conn_cx
                .span()
                .set_attribute(KeyValue::new(attr::MESSAGES_REJECTED, rejected));
        }
        info.finish(&self.conn_cx);
        self.open.closed(info.code);
        info
    }

    fn metrics(&self) -> &ConnMetrics {
        self.open.metrics()
    }

    async fn event_loop<S, M, E>(
        &self,
        socket: &mut S,
        rx: &mut mpsc::Receiver<Outbound>,
        rejected: &mut i64,
    ) -> CloseInfo
    where
        S: Sink<M> + Stream<Item = Result<M, E>> + Unpin,
        M: WireMessage,
        E: StdError + Send + Sync + 'static,
    {
        let cfg = &self.config;
        let mut current: Option<HandlerFuture> = None;
        let mut pending: VecDeque<Utf8Bytes> = VecDeque::new();
        // Timers are created once and reset when due: registering fresh timers on
        // every loop turn costs more than the rest of a message's bookkeeping.
        let start = Instant::now();
        let mut last_data = start;
        let idle_timer = sleep_until(
            cfg.idle_timeout
                .map_or_else(far_future, |idle| start + idle),
        );
        let ping_timer = sleep_until(
            cfg.ping_interval
                .map_or_else(far_future, |every| start + every),
        );
        let pong_timer = sleep_until(far_future());
        tokio::pin!(idle_timer, ping_timer, pong_timer);
        let mut awaiting_pong = false;
        let mut batch: Vec<Utf8Bytes> = Vec::with_capacity(MAX_BATCH);
        // The socket is read only after it woke the task, not on the send queue's wakes.
        let read_gate = ReadGate::new();
        loop {
            while current.is_none() {
                let Some(text) = pending.pop_front() else {
                    break;
                };
                match self.step(&text) {
                    Step::Run(fut) => current = Some(fut),
                    Step::Reply(reply) => {
                        *rejected += 1;
                        if let Err(info) = write(socket, [reply]).await {
                            return info;
                        }
                        self.metrics().sent(1);
                    }
                }
            }
            tokio::select! {
                biased;
                () = poll_current(&mut current), if current.is_some() => current = None,
                Some(out) = rx.recv() => match out {
                    Outbound::Text(first) => {
                        batch.push(first);
                        let mut close = None;
                        while batch.len() < MAX_BATCH {
                            match rx.try_recv() {
                                Ok(Outbound::Text(text)) => batch.push(text),
                                Ok(Outbound::Close(code, reason)) => { close = Some((code, reason)); break }
                                Err(_) => break,
                            }
                        }
                        let written = batch.len();
                        if let Err(info) = write(socket, batch.drain(..)).await {
                            return info;
                        }
                        self.metrics().sent(written);
                        if let Some((code, reason)) = close {
                            return self.close(socket, code, reason).await;
                        }
                    }
                    Outbound::Close(code, reason) => return self.close(socket, code, reason).await,
                },
                item = poll_fn(|cx| read_gate.poll_next(socket, cx)), if pending.len() < cfg.receive_queue => {
                    let frame = match item {
                        None => {
                            self.finish_received(rx, &mut current, &mut pending, rejected).await;
                            return CloseInfo::new(close_code::ABNORMAL, "connection dropped", CloseInitiator::Remote);
                        }
                        Some(Err(err)) if too_large(&err) => {
                            self.metrics().rejected(Direction::Receive, reason::TOO_BIG);
                            return self.close(socket, close_code::SIZE, "message too big".into()).await;
                        }
                        Some(Err(err)) => {
                            self.finish_received(rx, &mut current, &mut pending, rejected).await;
                            return CloseInfo::new(close_code::ABNORMAL, err.to_string(), CloseInitiator::Remote);
                        }
                        Some(Ok(msg)) => msg.into_frame(),
                    };
                    match frame {
                        Some(Frame::Text(text)) => {
                            last_data = Instant::now();
                            self.metrics().received();
                            if text.len() > cfg.max_message_size {
                                self.metrics().rejected(Direction::Receive, reason::TOO_BIG);
                                return self.close(socket, close_code::SIZE, "message too big".into()).await;
                            }
                            pending.push_back(text);
                        }
                        Some(Frame::Binary(_)) => {
                            self.metrics().received();
                            self.metrics().rejected(Direction::Receive, reason::BINARY);
                            let reason = "binary messages are not supported".to_owned();
                            return self.close(socket, close_code::UNSUPPORTED, reason).await;
                        }
                        Some(Frame::Pong(_)) => awaiting_pong = false,
                        Some(Frame::Close(frame)) => {
                            self.finish_received(rx, &mut current, &mut pending, rejected).await;
                            // tungstenite has queued the close reply; closing the sink sends it.
                            let _ = timeout(cfg.close_timeout, socket.close()).await;
                            let (code, reason) = frame.map_or((close_code::NO_STATUS, String::new()), |f| (f.code, f.reason.to_string()));
                            return CloseInfo::new(code, reason, CloseInitiator::Remote);
                        }
                        Some(Frame::Ping(_)) | None => {} // the transport answers pings
                    }
                }
                () = &mut pong_timer, if awaiting_pong => {
                    return CloseInfo::new(close_code::ABNORMAL, "pong timeout", CloseInitiator::Local);
                }
                () = &mut ping_timer, if cfg.ping_interval.is_some() => {
                    let now = Instant::now();
                    ping_timer.as_mut().reset(cfg.ping_interval.map_or_else(far_future, |every| now + every));
                    if !awaiting_pong {
                        awaiting_pong = true;
                        pong_timer.as_mut().reset(now + cfg.pong_timeout);
                    }
                    if let Err(err) = socket.send(M::from_frame(Frame::Ping(Bytes::new()))).await {
                        return CloseInfo::new(close_code::ABNORMAL, sink_error(&err), CloseInitiator::Local);
                    }
                }
                () = &mut idle_timer, if cfg.idle_timeout.is_some() => {
                    let due = cfg.idle_timeout.map_or_else(far_future, |idle| last_data + idle);
                    if due > Instant::now() {
                        idle_timer.as_mut().reset(due); // there was traffic since it was set
                    } else {
                        return self.close(socket, close_code::NORMAL, "idle timeout".into()).await;
                    }
                }
            }
        }
    }

    /// The peer closed (or the connection ended) with messages received but not handled
    /// yet: they are data it sent, so they are handled, not dropped, within
    /// `close_timeout`. Their replies can no longer be sent: the outbound queue is closed
    /// first, so a handler's send fails at once instead of waiting for room.
    async fn finish_received(
        &self,
        rx: &mut mpsc::Receiver<Outbound>,
        current: &mut Option<HandlerFuture>,
        pending: &mut VecDeque<Utf8Bytes>,
        rejected: &mut i64,
    ) {
        rx.close();
        let handle_all = async {
            if let Some(fut) = current.take() {
                fut.await;
            }
            while let Some(text) = pending.pop_front() {
                match self.step(&text) {
                    Step::Run(fut) => fut.await,
                    // The error reply cannot be sent any more; the rejection still counts.
                    Step::Reply(_) => *rejected += 1,
                }
            }
        };
        if timeout(self.config.close_timeout, handle_all)
            .await
            .is_err()
        {
            // Not silent: the connection span says how many were left.
            let left = pending.len() + 1;
            self.metrics()
                .unhandled(u64::try_from(left).unwrap_or(u64::MAX));
            self.conn_cx.span().add_event(
                "received messages not handled within close_timeout",
                vec![KeyValue::new(
                    "websocket.messages.unhandled",
                    i64::try_from(left).unwrap_or(i64::MAX),
                )],
            );
        }
    }

    fn step(&self, text: &str) -> Step {
        match self.dispatch(text) {
            Ok(fut) => Step::Run(fut),
            Err(rejection) => match self.reject(rejection) {
                Some(reply) => Step::Reply(reply),
                None => Step::Run(Box::pin(async {})),
            },
        }
    }

    /// Sends a close frame, waits (bounded) for the peer's reply, closes the sink.
    async fn close<S, M, E>(&self, socket: &mut S, code: u16, reason: String) -> CloseInfo
    where
        S: Sink<M> + Stream<Item = Result<M, E>> + Unpin,
        M: WireMessage,
    {
        let frame = Frame::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason.clone()),
        }));
        let _ = timeout(self.config.close_timeout, async {
            if socket.send(M::from_frame(frame)).await.is_ok() {
                while let Some(Ok(msg)) = socket.next().await {
                    if matches!(msg.into_frame(), Some(Frame::Close(_))) {
                        break;
                    }
                }
            }
            let _ = socket.close().await;
        })
        .await;
        CloseInfo::new(code, reason, CloseInitiator::Local)
    }
}

/// Writes `texts` and flushes once.
async fn write<S, M>(
    socket: &mut S,
    texts: impl IntoIterator<Item = Utf8Bytes>,
) -> Result<(), CloseInfo>
where
    S: Sink<M> + Unpin,
    M: WireMessage,
{
    let failed = |err: S::Error| {
        CloseInfo::new(
            close_code::ABNORMAL,
            sink_error(&err),
            CloseInitiator::Local,
        )
    };
    for text in texts {
        socket
            .feed(M::from_frame(Frame::Text(text)))
            .await
            .map_err(failed)?;
    }
    socket.flush().await.map_err(failed)
}

/// Sink errors are not required to implement `Display`.
fn sink_error<T>(_err: &T) -> String {
    "send failed".to_owned()
}

async fn poll_current(current: &mut Option<HandlerFuture>) {
    match current {
        Some(fut) => fut.await,
        None => std::future::pending().await,
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// Whether a read error is tungstenite's "message/frame too long" (possibly wrapped,
/// as axum wraps it).
fn too_large(err: &(dyn StdError + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if matches!(
            e.downcast_ref::<tungstenite::Error>(),
            Some(tungstenite::Error::Capacity(_))
        ) {
            return true;
        }
        cur = e.source();
    }
    false
}
