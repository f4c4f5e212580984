//! [`TracedBody`]: a gRPC body that records a `message` event per message and, on the
//! response side, keeps the RPC span open until the trailers and ends the call at its
//! deadline.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};
use pin_project_lite::pin_project;

use crate::cancel::CancelSignal;
use crate::deadline::{DEADLINE_MESSAGE, DeadlineTimer};
use crate::frames::{FrameCounter, MessageFrame};
use crate::span::RpcSpan;
use crate::status::{Side, code_of_error};

/// The error type of the bodies and services of this crate.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The direction of a message, the value of the event attribute `rpc.message.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// A message this side wrote.
    Sent,
    /// A message this side read.
    Received,
}

impl Direction {
    /// `"SENT"` or `"RECEIVED"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "SENT",
            Self::Received => "RECEIVED",
        }
    }
}

/// Attribute keys of the `message` event. The RPC conventions (v1.39) marked them
/// deprecated without replacement; they remain what trace viewers understand.
pub(crate) mod keys {
    pub(crate) const TYPE: &str = "rpc.message.type";
    pub(crate) const ID: &str = "rpc.message.id";
    pub(crate) const COMPRESSED_SIZE: &str = "rpc.message.compressed_size";
    pub(crate) const UNCOMPRESSED_SIZE: &str = "rpc.message.uncompressed_size";
}

/// Default number of `message` events per direction and call (64 + 64 fit the SDK's
/// default of 128 events per span).
pub const DEFAULT_MESSAGE_EVENT_LIMIT: u32 = 64;

/// Per-direction message counting for one body.
#[derive(Debug)]
pub(crate) struct Messages {
    counter: FrameCounter,
    direction: Direction,
    next_id: i64,
    limit: i64,
}

impl Messages {
    /// Counts messages in `direction`; events for the first `limit` of them.
    pub(crate) fn new(direction: Direction, limit: u32) -> Self {
        Self {
            counter: FrameCounter::new(),
            direction,
            next_id: 1,
            limit: i64::from(limit),
        }
    }

    fn feed(&mut self, data: &[u8], cx: &Context) {
        let span = cx.span();
        let direction = self.direction.as_str();
        let next_id = &mut self.next_id;
        let limit = self.limit;
        self.counter.feed(data, |MessageFrame { compressed, len }| {
            if *next_id > limit {
                *next_id += 1;
                return;
            }
            let size_key = if compressed {
                keys::COMPRESSED_SIZE
            } else {
                keys::UNCOMPRESSED_SIZE
            };
            span.add_event(
                "message",
                vec![
                    KeyValue::new(keys::TYPE, direction),
                    KeyValue::new(keys::ID, *next_id),
                    KeyValue::new(size_key, i64::from(len)),
                ],
            );
            *next_id += 1;
        });
    }
}

pin_project! {
    /// A request or response body of a traced call, data unchanged.
    ///
    /// * With message events on, every complete gRPC message adds a `message` event
    ///   (`rpc.message.type`, `rpc.message.id` from 1 per direction, and
    ///   `rpc.message.uncompressed_size` or `rpc.message.compressed_size`) to the RPC span.
    /// * A response body owns the RPC span: it ends with the `grpc-status` of the
    ///   trailers (or of a trailers-only response's headers), with the code of a body
    ///   error, or, when the body is dropped early, as `CANCELLED` (or
    ///   `DEADLINE_EXCEEDED` once the call's `grpc-timeout` has passed).
    /// * A server response body makes the SERVER span's context current while it is
    ///   polled, so code in a response stream runs inside the call's trace.
    /// * With deadline enforcement (the layers' `enforce_deadlines`, on by default), a
    ///   response body still streaming when the call's `grpc-timeout` passes is cut
    ///   off: the inner body (on the server, the handler's stream) is dropped and the
    ///   span ends as `DEADLINE_EXCEEDED`. A server body then ends with the trailers
    ///   `grpc-status: 4` and `grpc-message: deadline exceeded`; a client body fails
    ///   with a `tonic::Status` `DEADLINE_EXCEEDED` (what tonic's `Streaming` yields)
    ///   and the request body is cancelled, which resets the HTTP/2 stream.
    pub struct TracedBody<B> {
        // `None` once the call was cut off at its deadline.
        #[pin]
        inner: Option<B>,
        cx: Context,
        messages: Option<Messages>,
        span: Option<RpcSpan>,
        cancel: Option<Arc<CancelSignal>>,
        // Only for response bodies of calls with a deadline and enforcement on.
        deadline: Option<DeadlineTimer>,
        attach: bool,
    }
}

impl<B> TracedBody<B> {
    /// A request body; with `cancel`, it fails with an h2 `CANCEL` error once the
    /// call's response body has been dropped early.
    pub(crate) fn request(
        inner: B,
        cx: Context,
        messages: Option<Messages>,
        cancel: Option<Arc<CancelSignal>>,
    ) -> Self {
        Self {
            inner: Some(inner),
            cx,
            messages,
            span: None,
            cancel,
            deadline: None,
            attach: false,
        }
    }

    /// A response body owning `span`; with `enforce_deadline`, a call with a deadline
    /// is cut off when it passes.
    pub(crate) fn response(
        inner: B,
        span: RpcSpan,
        messages: Option<Messages>,
        attach: bool,
        enforce_deadline: bool,
    ) -> Self {
        let deadline = span
            .deadline()
            .filter(|_| enforce_deadline)
            .map(DeadlineTimer::new);
        Self {
            inner: Some(inner),
            cx: span.context().clone(),
            messages,
            span: Some(span),
            cancel: None,
            deadline,
            attach,
        }
    }
}

/// Ends a call at its deadline: drops the inner body, ends the span and returns the
/// body's last frame (server: `DEADLINE_EXCEEDED` trailers; client: the error).
fn cut_off<B>(
    mut inner: Pin<&mut Option<B>>,
    span: &mut Option<RpcSpan>,
    deadline: &mut Option<DeadlineTimer>,
    cx: &Context,
    attach: bool,
) -> Result<Frame<Bytes>, BoxError> {
    *deadline = None;
    {
        // Code dropped with a server's response stream runs inside the call's trace.
        let _attached = attach.then(|| cx.clone().attach());
        inner.set(None);
    }
    let side = span.as_ref().map(RpcSpan::side);
    if let Some(span) = span {
        span.expire();
    }
    if side == Some(Side::Server) {
        let mut trailers = HeaderMap::with_capacity(2);
        trailers.insert(
            HeaderName::from_static("grpc-status"),
            HeaderValue::from_static("4"),
        );
        trailers.insert(
            HeaderName::from_static("grpc-message"),
            HeaderValue::from_static(DEADLINE_MESSAGE),
        );
        Ok(Frame::trailers(trailers))
    } else {
        Err(Box::new(tonic::Status::deadline_exceeded(DEADLINE_MESSAGE)))
    }
}

impl<B> fmt::Debug for TracedBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedBody")
            .field("span_open", &self.span.is_some())
            .field("message_events", &self.messages.is_some())
            .finish_non_exhaustive()
    }
}

impl<B> Body for TracedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        task_cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if let Some(cancel) = this.cancel.as_ref()
            && cancel.poll_cancelled(task_cx)
        {
            this.cancel.take();
            return Poll::Ready(Some(Err(CancelSignal::error())));
        }
        if let Some(timer) = this.deadline.as_mut()
            && timer.expired(task_cx, false)
        {
            let last = cut_off(this.inner, this.span, this.deadline, this.cx, *this.attach);
            return Poll::Ready(Some(last));
        }
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            return Poll::Ready(None);
        };
        let polled = {
            let _attached = this.attach.then(|| this.cx.clone().attach());
            inner.poll_frame(task_cx)
        };
        let polled = match polled {
            Poll::Ready(polled) => polled,
            Poll::Pending => {
                if let Some(timer) = this.deadline.as_mut()
                    && timer.expired(task_cx, true)
                {
                    let last = cut_off(this.inner, this.span, this.deadline, this.cx, *this.attach);
                    return Poll::Ready(Some(last));
                }
                return Poll::Pending;
            }
        };
        if !matches!(&polled, Some(Ok(frame)) if frame.is_data()) {
            // The call ended (trailers, error or end of stream): no deadline any more.
            *this.deadline = None;
        }
        Poll::Ready(match polled {
            Some(Ok(frame)) => {
                if let (Some(data), Some(messages)) = (frame.data_ref(), this.messages.as_mut()) {
                    messages.feed(data, this.cx);
                } else if let (Some(trailers), Some(span)) = (frame.trailers_ref(), this.span) {
                    span.finish_with_trailers(Some(trailers));
                }
                Some(Ok(frame))
            }
            Some(Err(error)) => {
                let error: BoxError = error.into();
                if let Some(span) = this.span {
                    span.finish(code_of_error(&*error), &error.to_string());
                }
                Some(Err(error))
            }
            None => {
                if let Some(span) = this.span {
                    span.finish_with_trailers(None);
                }
                None
            }
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}
