//! Stream adapters that give each inbound message its own child span:
//! [`TracedMessages`] and [`ProcessEach`], built by
//! [`RpcContext::trace_messages`](crate::RpcContext::trace_messages) and
//! [`RpcContext::process_each`](crate::RpcContext::process_each).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use futures_core::Stream;
use opentelemetry::Context;
use pin_project_lite::pin_project;

use crate::context::{MessageSpan, RpcContext};

pin_project! {
    /// Yields `(message, span)` for every `Ok` message of the inner stream; errors pass
    /// through unchanged. The span is a child of the call's span and ends when dropped.
    pub struct TracedMessages<S> {
        #[pin]
        inner: S,
        rpc: RpcContext,
        name: Cow<'static, str>,
        sequence: u64,
    }
}

impl<S> TracedMessages<S> {
    pub(crate) fn new(inner: S, rpc: RpcContext, name: Cow<'static, str>) -> Self {
        Self {
            inner,
            rpc,
            name,
            sequence: 0,
        }
    }
}

impl<S> fmt::Debug for TracedMessages<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedMessages")
            .field("name", &self.name)
            .field("sequence", &self.sequence)
            .finish_non_exhaustive()
    }
}

impl<S, T, E> Stream for TracedMessages<S>
where
    S: Stream<Item = Result<T, E>>,
{
    type Item = Result<(T, MessageSpan), E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        Poll::Ready(match ready!(this.inner.poll_next(cx)) {
            Some(Ok(message)) => {
                *this.sequence += 1;
                let span = this.rpc.message_span(this.name.clone(), *this.sequence);
                Some(Ok((message, span)))
            }
            Some(Err(error)) => Some(Err(error)),
            None => None,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

pin_project! {
    /// Runs a closure per inbound message inside the message's own child span and
    /// yields its results in order (one message at a time).
    pub struct ProcessEach<S, F, Fut> {
        #[pin]
        inner: S,
        #[pin]
        pending: Option<Fut>,
        span: Option<MessageSpan>,
        f: F,
        rpc: RpcContext,
        name: Cow<'static, str>,
        sequence: u64,
    }
}

impl<S, F, Fut> ProcessEach<S, F, Fut> {
    pub(crate) fn new(inner: S, rpc: RpcContext, name: Cow<'static, str>, f: F) -> Self {
        Self {
            inner,
            pending: None,
            span: None,
            f,
            rpc,
            name,
            sequence: 0,
        }
    }
}

impl<S, F, Fut> fmt::Debug for ProcessEach<S, F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessEach")
            .field("name", &self.name)
            .field("sequence", &self.sequence)
            .field("busy", &self.span.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, T, F, Fut, R> Stream for ProcessEach<S, F, Fut>
where
    S: Stream<Item = Result<T, tonic::Status>>,
    F: FnMut(T, Context) -> Fut,
    Fut: Future<Output = Result<R, tonic::Status>>,
{
    type Item = Result<R, tonic::Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if let Some(future) = this.pending.as_mut().as_pin_mut() {
                let output = {
                    let _attached = this.span.as_ref().map(|s| s.context().clone().attach());
                    ready!(future.poll(cx))
                };
                this.pending.set(None);
                if let (Err(status), Some(span)) = (&output, this.span.as_ref()) {
                    span.record_error(status);
                }
                this.span.take(); // ends the message span
                return Poll::Ready(Some(output));
            }
            match ready!(this.inner.as_mut().poll_next(cx)) {
                Some(Ok(message)) => {
                    *this.sequence += 1;
                    let span = this.rpc.message_span(this.name.clone(), *this.sequence);
                    let span_cx = span.context().clone();
                    let future = {
                        let _attached = span_cx.clone().attach();
                        (this.f)(message, span_cx)
                    };
                    this.pending.set(Some(future));
                    *this.span = Some(span);
                }
                Some(Err(status)) => return Poll::Ready(Some(Err(status))),
                None => return Poll::Ready(None),
            }
        }
    }
}
