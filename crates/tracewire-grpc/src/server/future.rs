//! [`ResponseFuture`] of [`GrpcServerTrace`](super::GrpcServerTrace).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http::Response;
use opentelemetry::Context;
use pin_project_lite::pin_project;
use tonic::Code;

use crate::body::{Messages, TracedBody};
use crate::span::RpcSpan;

pin_project! {
    /// Polls the handler with the call's context current and hands the SERVER span to
    /// the response body (which, with deadline enforcement, ends a response stream at
    /// the call's deadline). Dropped before the response (the client went away, or
    /// tonic's deadline fired), it ends the span as `CANCELLED` or `DEADLINE_EXCEEDED`.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        cx: Context,
        span: Option<RpcSpan>,
        sent: Option<Messages>,
        enforce_deadline: bool,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: F,
        span: RpcSpan,
        sent: Option<Messages>,
        enforce_deadline: bool,
    ) -> Self {
        Self {
            inner,
            cx: span.context().clone(),
            span: Some(span),
            sent,
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
    E: fmt::Display,
{
    type Output = Result<Response<TracedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, task_cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _attached = this.cx.clone().attach();
            ready!(this.inner.poll(task_cx))
        };
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
                    this.sent.take(),
                    true,
                    *this.enforce_deadline,
                );
                Ok(Response::from_parts(parts, body))
            }
            Err(error) => {
                span.finish(Code::Unknown, &error.to_string());
                Err(error)
            }
        })
    }
}
