//! OTLP/gRPC transport: a lazily connected tonic channel and a codec that writes the
//! pre-encoded request.

use std::time::Duration;

use bytes::{BufMut as _, Bytes};
use http::uri::PathAndQuery;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use tonic::Code;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};

use super::ClientTls;
use super::exporter::{Failure, Response};
use crate::config::OtlpCompression;
use crate::error::BoxError;

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

pub(super) struct GrpcTransport {
    channel: Channel,
    metadata: MetadataMap,
    endpoint: String,
    /// How each request message is compressed (`grpc-encoding`), if at all.
    compression: Option<CompressionEncoding>,
    /// A certificate refusal seen by a connection of `channel` (`https` only).
    #[cfg(feature = "tls")]
    refusal: super::grpc_tls::Refusal,
}

impl GrpcTransport {
    /// Must run inside a Tokio runtime: `connect_lazy` spawns the channel's worker.
    pub(super) fn new(
        endpoint: &str,
        metadata: MetadataMap,
        timeout: Duration,
        tls: &ClientTls,
    ) -> Result<Self, BoxError> {
        let builder = Endpoint::from_shared(endpoint.to_owned())
            .map_err(|e| {
                format!(
                    "invalid OTLP gRPC endpoint {}: {e}",
                    super::redact(endpoint)
                )
            })?
            .timeout(timeout)
            .connect_timeout(timeout);
        #[cfg(feature = "tls")]
        let refusal = super::grpc_tls::Refusal::default();
        let channel = if builder.uri().scheme_str() == Some("https") {
            #[cfg(feature = "tls")]
            {
                tls_channel(builder.uri(), endpoint, timeout, tls, refusal.clone())?
            }
            #[cfg(not(feature = "tls"))]
            {
                let _ = tls;
                return Err(format!(
                    "OTLP gRPC endpoint {} is https: enable the `tls` feature of tracewire-telemetry",
                    super::redact(endpoint)
                )
                .into());
            }
        } else {
            builder.connect_lazy()
        };
        Ok(Self {
            channel,
            metadata,
            endpoint: super::redact(endpoint),
            compression: None,
            #[cfg(feature = "tls")]
            refusal,
        })
    }

    pub(super) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub(super) fn set_compression(&mut self, compression: OtlpCompression) {
        self.compression = match compression {
            OtlpCompression::Gzip => Some(CompressionEncoding::Gzip),
            OtlpCompression::None => None,
        };
    }

    pub(super) fn compression(&self) -> OtlpCompression {
        match self.compression {
            Some(_) => OtlpCompression::Gzip,
            None => OtlpCompression::None,
        }
    }

    #[cfg(feature = "tls")]
    pub(super) async fn send(&self, body: Bytes, timeout: Duration) -> Result<Response, Failure> {
        drop(super::grpc_tls::take(&self.refusal)); // from an earlier connection
        self.attempt(body, timeout).await.map_err(|failure| {
            // A refusal a connection saw during this attempt is its cause, whatever the
            // request was told: hyper may report only "connection closed", and h2 keeps
            // io errors as text (so the chain has no rustls::Error to find).
            super::grpc_tls::take(&self.refusal).unwrap_or(failure)
        })
    }

    #[cfg(not(feature = "tls"))]
    pub(super) async fn send(&self, body: Bytes, timeout: Duration) -> Result<Response, Failure> {
        self.attempt(body, timeout).await
    }

    async fn attempt(&self, body: Bytes, timeout: Duration) -> Result<Response, Failure> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        if let Some(encoding) = self.compression {
            grpc = grpc.send_compressed(encoding);
        }
        grpc.ready().await.map_err(|e| {
            super::tls::certificate_failure(&e).unwrap_or_else(|| Failure {
                message: format!("channel not ready: {}", super::chain(&e)),
                retryable: true,
            })
        })?;
        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = self.metadata.clone();
        request.set_timeout(timeout);
        grpc.unary(request, PathAndQuery::from_static(EXPORT_PATH), PreEncoded)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| failure(&status))
    }
}

/// A channel to an `https` endpoint through [`grpc_tls`](super::grpc_tls)'s connector:
/// tonic connects to the same address with scheme `http` (so it adds no TLS of its own),
/// while `origin` keeps `:scheme https` and the endpoint's `:authority` on requests.
#[cfg(feature = "tls")]
fn tls_channel(
    origin: &http::Uri,
    endpoint: &str,
    timeout: Duration,
    tls: &ClientTls,
    refusal: super::grpc_tls::Refusal,
) -> Result<Channel, BoxError> {
    let cannot = |e: &dyn std::fmt::Display| -> BoxError {
        format!(
            "cannot configure TLS for OTLP gRPC endpoint {}: {e}",
            super::redact(endpoint)
        )
        .into()
    };
    let connector =
        super::grpc_tls::TlsConnect::new(origin.host().unwrap_or_default(), tls, refusal)
            .map_err(|e| cannot(&e))?;
    let mut parts = origin.clone().into_parts();
    parts.scheme = Some(http::uri::Scheme::HTTP);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(PathAndQuery::from_static("/"));
    }
    let plain = http::Uri::from_parts(parts).map_err(|e| cannot(&e))?;
    Ok(Endpoint::from(plain)
        .origin(origin.clone())
        .timeout(timeout)
        .connect_timeout(timeout)
        .connect_with_connector_lazy(connector))
}

/// The status code, and for errors tonic raised locally (connect, timeout) their
/// cause; never the server's message, which may echo credentials back. A TLS
/// certificate failure in that cause is not retryable, whatever the code.
fn failure(status: &tonic::Status) -> Failure {
    if let Some(failure) =
        std::error::Error::source(status).and_then(super::tls::certificate_failure)
    {
        return failure;
    }
    let code = status.code();
    let mut message = format!("gRPC status {code:?}");
    if let Some(source) = std::error::Error::source(status) {
        message.push_str(": ");
        message.push_str(&super::chain(source));
    }
    Failure {
        message,
        retryable: matches!(
            code,
            Code::Cancelled
                | Code::DeadlineExceeded
                | Code::ResourceExhausted
                | Code::Aborted
                | Code::OutOfRange
                | Code::Unavailable
                | Code::DataLoss
        ),
    }
}

/// Writes the already encoded `ExportTraceServiceRequest`; decodes the response.
#[derive(Debug, Clone, Copy, Default)]
struct PreEncoded;

impl Codec for PreEncoded {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = PreEncoded;
    type Decoder = PreEncoded;

    fn encoder(&mut self) -> Self::Encoder {
        PreEncoded
    }

    fn decoder(&mut self) -> Self::Decoder {
        PreEncoded
    }
}

impl Encoder for PreEncoded {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for PreEncoded {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| {
                tonic::Status::internal(format!("undecodable ExportTraceServiceResponse: {e}"))
            })
    }
}
