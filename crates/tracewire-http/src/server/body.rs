//! The response body wrapper that keeps the SERVER span open until the body is done.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::span::ServerSpan;

pin_project! {
    /// Response body of [`ServerTrace`](super::ServerTrace): the inner body, unchanged,
    /// plus the request's SERVER span, which ends at end-of-stream, on a body error, or
    /// when the body is dropped (client gone). Streaming bodies and server-sent events
    /// are therefore timed to their last byte, not to their headers.
    pub struct TracedBody<B> {
        #[pin]
        kind: Kind<B>,
        span: Option<ServerSpan>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        // The body of the 500 response that replaces a panicked handler.
        Full { data: Option<Bytes> },
    }
}

impl<B> TracedBody<B> {
    pub(crate) fn new(body: B, span: Option<ServerSpan>) -> Self {
        Self {
            kind: Kind::Inner { body },
            span,
        }
    }

    pub(crate) fn full(data: Bytes, span: Option<ServerSpan>) -> Self {
        Self {
            kind: Kind::Full { data: Some(data) },
            span,
        }
    }
}

impl<B> fmt::Debug for TracedBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedBody")
            .field("span_open", &self.span.is_some())
            .finish_non_exhaustive()
    }
}

impl<B> Body for TracedBody<B>
where
    B: Body,
    B::Data: From<Bytes>,
    B::Error: fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        match this.kind.project() {
            KindProj::Inner { body } => {
                let polled = body.poll_frame(cx);
                match &polled {
                    Poll::Ready(None) => {
                        this.span.take();
                    }
                    Poll::Ready(Some(Err(error))) => {
                        if let Some(mut span) = this.span.take() {
                            span.record_error(
                                std::borrow::Cow::Borrowed("response_body"),
                                error.to_string(),
                            );
                        }
                    }
                    Poll::Ready(Some(Ok(_))) | Poll::Pending => {}
                }
                polled
            }
            KindProj::Full { data } => match data.take() {
                Some(bytes) => Poll::Ready(Some(Ok(Frame::data(B::Data::from(bytes))))),
                None => {
                    this.span.take();
                    Poll::Ready(None)
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Full { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}
