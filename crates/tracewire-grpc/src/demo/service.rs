//! [`DemoStreamService`]: the seed's `StreamService`, with one child span per message.

use std::pin::Pin;

use futures_core::Stream;
use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt;
use tonic::{Request, Response, Status, Streaming};

use super::v1::stream_service_server::StreamService;
use super::v1::{StreamRequest, StreamResponse};
use crate::RpcContext;

/// Processes each request: checks it (an empty `id` is `INVALID_ARGUMENT`) and answers
/// with its `data` upper-cased. On a stream, every message is processed in its own
/// `process message` span, a child of the SERVER span, with `request.id`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DemoStreamService;

/// The response stream of [`DemoStreamService::process_stream`].
pub type ResponseStream = Pin<Box<dyn Stream<Item = Result<StreamResponse, Status>> + Send>>;

/// Checks and processes one request.
fn process(request: StreamRequest, sequence: u64) -> Result<StreamResponse, Status> {
    if request.id.is_empty() {
        return Err(Status::invalid_argument(format!(
            "request {sequence}: `id` must not be empty"
        )));
    }
    Ok(StreamResponse {
        result: request.data.to_uppercase(),
        id: request.id,
        sequence,
    })
}

#[tonic::async_trait]
impl StreamService for DemoStreamService {
    type ProcessStreamStream = ResponseStream;

    async fn process_stream(
        &self,
        request: Request<Streaming<StreamRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let rpc = RpcContext::of(&request);
        let mut sequence = 0;
        let responses = rpc.process_each(
            request.into_inner(),
            "process message",
            move |request: StreamRequest, cx: opentelemetry::Context| {
                sequence += 1;
                cx.span()
                    .set_attribute(KeyValue::new("request.id", request.id.clone()));
                let result = process(request, sequence);
                async move { result }
            },
        );
        Ok(Response::new(Box::pin(responses)))
    }

    async fn process(
        &self,
        request: Request<StreamRequest>,
    ) -> Result<Response<StreamResponse>, Status> {
        process(request.into_inner(), 1).map(Response::new)
    }
}
