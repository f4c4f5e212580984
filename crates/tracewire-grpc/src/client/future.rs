//! [`ResponseFuture`] of [`GrpcClientTrace`](super::GrpcClientTrace).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::body::{BoxError, Messages, TracedBody};
use crate::span::RpcSpan;
use crate::status::code_of_error;

pin_project! {
    /// Waits for the response headers and hands the CLIENT span to the response body;
    /// a transport error ends the span with the error's code (tonic's client-side
    /// timeout as `DEADLINE_EXCEEDED`). Dropped early, the span ends as `CANCELLED`
    /// (or `DEADLINE_EXCEEDED` past the call's `grpc-timeout`). With deadline
    /// enforcement, the response body ends the call when its `grpc-timeout` passes.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Option<RpcSpan>,
        received: Option<Messages>,
        enforce_deadline: bool,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: F,
        span: RpcSpan,
        received: Option<Messages>,
        enforce_deadline: bool,
    ) -> Self {
        Self {
            inner,
            span: Some(span),
            received,
            enforce_deadline,
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<TracedBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, task_cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(task_cx));
        let Some(mut span) = this.span.take() else {
            // Polled after completion: not reachable through tower's contract.
            return Poll::Pending;
        };
        Poll::Ready(match result {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                span.record_response(&parts);
                let body = TracedBody::response(
                    body,
                    span,
                    this.received.take(),
                    false,
                    *this.enforce_deadline,
                );
                Ok(Response::from_parts(parts, body))
            }
            Err(error) => {
                let error: BoxError = error.into();
                span.finish(code_of_error(&*error), &error.to_string());
                Err(error)
            }
        })
    }
}
