//! Bad input: an undecodable message and a semantically invalid field are
//! INVALID_ARGUMENT with a message; oversized metadata is refused cleanly.
#![cfg(feature = "demo-proto")]

mod common;

use std::time::Duration;

use bytes::{Buf, BufMut};
use common::*;
use futures_util::StreamExt;
use opentelemetry::trace::SpanKind;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Server;
use tracewire_grpc::demo::DemoStreamService;

/// Sends and receives raw message bytes.
#[derive(Clone, Copy, Debug, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Self;
    type Decoder = Self;
    fn encoder(&mut self) -> Self {
        *self
    }
    fn decoder(&mut self) -> Self {
        *self
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let bytes = src.chunk().to_vec();
        src.advance(bytes.len());
        Ok(Some(bytes))
    }
}

async fn demo() -> Fixture {
    serve_service(w3c(), Server::builder(), DemoStreamService).await
}

#[tokio::test]
async fn an_undecodable_message_is_invalid_argument() {
    let fixture = demo().await;
    // Field 1 claims 5 bytes and brings 2.
    let mut grpc =
        tonic::client::Grpc::new(traced_channel(&fixture, w3c(), endpoint(&fixture)).await);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/tracewire.demo.v1.StreamService/Process");
    let status = grpc
        .unary(
            tonic::Request::new(vec![0x0a, 0x05, b'a', b'b']),
            path,
            RawCodec,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("malformed message"),
        "{}",
        status.message()
    );

    let spans = spans(&fixture.capture, 2).await;
    let server_span = find(&spans, UNARY, SpanKind::Server);
    let client_span = find(&spans, UNARY, SpanKind::Client);
    for span in [server_span, client_span] {
        assert_eq!(
            attr_str(span, "rpc.response.status_code").as_deref(),
            Some("INVALID_ARGUMENT")
        );
    }
    assert!(
        !is_error(server_span),
        "the caller's fault, not the server's"
    );
    assert!(is_error(client_span));
}

#[tokio::test]
async fn an_empty_id_is_invalid_argument_unary_and_mid_stream() {
    let fixture = demo().await;
    let mut client = client(&fixture, w3c()).await;
    let status = client.process(request("", "x")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "request 1: `id` must not be empty");

    fixture.capture.clear();
    let outbound = tokio_stream::iter([
        request("a", "x"),
        request("b", "y"),
        request("", "z"),
        request("d", "w"),
    ]);
    let replies: Vec<_> = client
        .process_stream(outbound)
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(replies.len(), 3, "two answers, then the status");
    assert_eq!(replies[1].as_ref().unwrap().result, "Y");
    let status = replies[2].as_ref().unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "request 3: `id` must not be empty");

    let spans = spans(&fixture.capture, 5).await;
    let server_span = find(&spans, STREAM, SpanKind::Server);
    assert_eq!(
        attr_str(server_span, "rpc.response.status_code").as_deref(),
        Some("INVALID_ARGUMENT")
    );
    let failed: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "process message" && is_error(s))
        .collect();
    assert_eq!(failed.len(), 1, "{}", fixture.capture.tree());
    assert_eq!(
        attr_str(failed[0], "error.type").as_deref(),
        Some("INVALID_ARGUMENT")
    );
}

#[tokio::test]
async fn oversized_metadata_is_refused_and_the_server_keeps_serving() {
    let builder = Server::builder().http2_max_header_list_size(8 * 1024);
    let fixture = serve_with(w3c(), builder).await;
    let mut client = client(&fixture, w3c()).await;

    // Just over the limit (the stream is refused) and far over it (h2 closes the
    // connection with ENHANCE_YOUR_CALM).
    for size in [12 * 1024, 64 * 1024] {
        fixture.capture.clear();
        let mut req = tonic::Request::new(request("1", "x"));
        req.metadata_mut()
            .insert("x-big", "v".repeat(size).parse().unwrap());
        let outcome = tokio::time::timeout(Duration::from_secs(5), client.process(req)).await;
        let status = outcome.expect("no hang").unwrap_err();
        assert_ne!(status.code(), Code::Ok, "{size}");

        let spans = spans(&fixture.capture, 1).await;
        assert_eq!(spans.len(), 1, "no SERVER span for a refused call ({size})");
        let client_span = find(&spans, UNARY, SpanKind::Client);
        assert!(is_error(client_span), "{size}");
        assert_eq!(
            attr_str(client_span, "rpc.response.status_code").as_deref(),
            Some(tracewire_grpc::status::code_name(status.code())),
            "the span says what the caller got ({size}): {status:?}"
        );

        // Small metadata still works on the same channel (it reconnects if needed).
        let reply = client
            .process(request("2", "ok"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.result, "OK");
    }
}
