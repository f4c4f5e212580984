//! [`ResponseFuture`] of [`ServerTrace`](super::ServerTrace).

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};
use opentelemetry::Context;
use pin_project_lite::pin_project;

use super::body::TracedBody;
use super::span::{ServerSpan, panic_message};
use crate::request_id::X_REQUEST_ID_HEADER;

/// The body of the 500 that replaces a panicked handler (the `ApiError` shape).
const PANIC_BODY: &[u8] = br#"{"error":{"code":"internal","message":"internal server error"}}"#;

pin_project! {
    /// Response future of [`ServerTrace`](super::ServerTrace): polls the handler with
    /// its span's context attached, turns a panic into a 500, and hands the span to
    /// the response body.
    pub struct ResponseFuture<Fut> {
        #[pin]
        kind: Kind<Fut>,
        span: Option<ServerSpan>,
        request_id: Option<HeaderValue>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<Fut> {
        Running { #[pin] future: Fut, cx: Option<Context> },
        Panicked { message: String },
    }
}

impl<Fut> ResponseFuture<Fut> {
    pub(crate) fn new(
        future: Fut,
        cx: Option<Context>,
        span: Option<ServerSpan>,
        request_id: Option<HeaderValue>,
    ) -> Self {
        Self {
            kind: Kind::Running { future, cx },
            span,
            request_id,
        }
    }

    pub(crate) fn panicked(
        message: String,
        span: Option<ServerSpan>,
        request_id: Option<HeaderValue>,
    ) -> Self {
        Self {
            kind: Kind::Panicked { message },
            span,
            request_id,
        }
    }
}

impl<Fut> fmt::Debug for ResponseFuture<Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("traced", &self.span.is_some())
            .finish_non_exhaustive()
    }
}

impl<Fut, B, E> Future for ResponseFuture<Fut>
where
    Fut: Future<Output = Result<Response<B>, E>>,
    E: fmt::Display,
{
    type Output = Result<Response<TracedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, task_cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = match this.kind.project() {
            KindProj::Running { future, cx } => {
                let _attached = cx.as_ref().map(|cx| cx.clone().attach());
                match catch_unwind(AssertUnwindSafe(|| future.poll(task_cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(result)) => Ok(result),
                    Err(payload) => Err(panic_message(&*payload)),
                }
            }
            KindProj::Panicked { message } => Err(std::mem::take(message)),
        };
        let mut span = this.span.take();
        let request_id = this.request_id.take();
        match polled {
            Ok(Ok(response)) => {
                let (mut parts, body) = response.into_parts();
                if let Some(span) = &mut span {
                    span.record_status(parts.status);
                }
                if let Some(id) = request_id {
                    parts.headers.entry(X_REQUEST_ID_HEADER).or_insert(id);
                }
                Poll::Ready(Ok(Response::from_parts(parts, TracedBody::new(body, span))))
            }
            Ok(Err(error)) => {
                if let Some(mut span) = span {
                    span.record_error(std::any::type_name::<E>().into(), error.to_string());
                }
                Poll::Ready(Err(error))
            }
            Err(message) => {
                if let Some(span) = &mut span {
                    span.record_panic(&message);
                    span.record_status(StatusCode::INTERNAL_SERVER_ERROR);
                }
                let mut response =
                    Response::new(TracedBody::full(Bytes::from_static(PANIC_BODY), span));
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                if let Some(id) = request_id {
                    response.headers_mut().insert(X_REQUEST_ID_HEADER, id);
                }
                Poll::Ready(Ok(response))
            }
        }
    }
}
