//! Status mapping on real calls: every gRPC code lands in `rpc.response.status_code`
//! on both spans; the CLIENT span fails on every non-OK code, the SERVER span only on
//! UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS.
#![cfg(feature = "demo-proto")]

mod common;

use common::*;
use opentelemetry::trace::SpanKind;
use tonic::Code;
use tracewire_grpc::status::code_name;

#[rustfmt::skip]
const TABLE: [(i32, bool); 17] = [
    // code, server span is an error
    (0, false), (1, false), (2, true), (3, false), (4, true), (5, false), (6, false),
    (7, false), (8, false), (9, false), (10, false), (11, false), (12, true), (13, true),
    (14, true), (15, true), (16, false),
];

#[tokio::test]
async fn every_code_on_both_sides() {
    let fixture = serve(w3c()).await;
    let mut client = client(&fixture, w3c()).await;
    for (n, server_error) in TABLE {
        let code = Code::from_i32(n);
        fixture.capture.clear();
        let data = if n == 0 {
            "ok".to_owned()
        } else {
            format!("code:{n}")
        };
        let result = client.process(request("1", &data)).await;
        assert_eq!(
            result.as_ref().err().map(|s| s.code()).unwrap_or(Code::Ok),
            code
        );

        let spans = spans(&fixture.capture, 2).await;
        let client_span = find(&spans, UNARY, SpanKind::Client);
        let server_span = find(&spans, UNARY, SpanKind::Server);
        let name = code_name(code);
        for span in [client_span, server_span] {
            assert_eq!(
                attr_str(span, "rpc.response.status_code").as_deref(),
                Some(name),
                "{name}"
            );
        }
        assert_eq!(is_error(client_span), n != 0, "client span for {name}");
        assert_eq!(
            is_error(server_span),
            server_error,
            "server span for {name}"
        );
        let expected_type = |failed: bool| failed.then(|| name.to_owned());
        assert_eq!(
            attr_str(client_span, "error.type"),
            expected_type(n != 0),
            "{name}"
        );
        assert_eq!(
            attr_str(server_span, "error.type"),
            expected_type(server_error),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_unknown_method_is_unimplemented_and_recorded_as_other() {
    let fixture = serve(w3c()).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", fixture.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/tracewire.demo.v1.StreamService/Nope");
    let codec = tonic_prost::ProstCodec::<
        tracewire_grpc::demo::v1::StreamRequest,
        tracewire_grpc::demo::v1::StreamResponse,
    >::default();
    let status = grpc
        .unary(tonic::Request::new(request("1", "x")), path, codec)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);

    let spans = spans(&fixture.capture, 1).await;
    let server_span = &spans[0];
    assert_eq!(
        attr_str(server_span, "rpc.method").as_deref(),
        Some("_OTHER")
    );
    assert_eq!(
        attr_str(server_span, "rpc.method_original").as_deref(),
        Some("tracewire.demo.v1.StreamService/Nope")
    );
    assert_eq!(
        attr_str(server_span, "rpc.response.status_code").as_deref(),
        Some("UNIMPLEMENTED")
    );
    assert!(is_error(server_span));
}
