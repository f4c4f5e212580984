//! [`OtlpTraceExporter`]: sends the bytes of [`TraceRequestEncoder`] over gRPC or
//! HTTP/protobuf.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use super::{ClientTls, TraceRequestEncoder};
use crate::config::OtlpCompression;
use crate::error::BoxError;

/// The OTLP default export timeout (`OTEL_EXPORTER_OTLP_TIMEOUT` unset).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Retries after the first attempt, for errors the OTLP specification calls
/// retryable (gRPC `UNAVAILABLE`, `RESOURCE_EXHAUSTED`, ...; HTTP 429, 502, 503, 504;
/// connection failures), as `opentelemetry-otlp`'s recommended policy does.
const RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_millis(1600);

/// An OTLP trace exporter (gRPC or HTTP/protobuf) that encodes each batch with
/// [`TraceRequestEncoder`] into one reused buffer and sends those bytes: no
/// `opentelemetry-proto` message tree is built (see [`encode`](super::encode) for the
/// measured cost of that tree).
///
/// * gRPC: a tonic channel connected lazily (the collector may be down at start; the
///   first export connects), unary `TraceService/Export`, metadata from the
///   configured headers, the timeout per attempt. Must be built inside a Tokio runtime
///   (the channel's worker runs there); exports may run on any thread.
/// * HTTP/protobuf: `POST` with `content-type: application/x-protobuf` through a
///   blocking reqwest client (as `opentelemetry-otlp` does), so it works with or
///   without a runtime. Use it with the batch span processor, whose export thread may
///   block.
///
/// Requests go uncompressed unless [`with_compression`](Self::with_compression) asks
/// for gzip.
///
/// Each export is one attempt plus up to three retries (100 ms backoff, doubling)
/// for retryable failures, within the timeout. A TLS certificate failure (the
/// collector's certificate does not verify, or the collector refuses the client
/// certificate or its absence) is permanent: it fails the export at once, without
/// retries, with an error saying so. A collector's partial success
/// (`rejected_spans`, `error_message`) and every failure come back as an
/// [`OTelSdkError`] naming what happened; header values never appear in errors. After
/// [`shutdown`](SpanExporter::shutdown), exports fail with
/// [`OTelSdkError::AlreadyShutdown`].
///
/// `http/json` and metrics exporters are not covered: `tracewire-telemetry` builds
/// them with `opentelemetry-otlp`.
pub struct OtlpTraceExporter {
    transport: Transport,
    encoding: Mutex<Encoding>,
    timeout: Duration,
    shut_down: AtomicBool,
}

impl fmt::Debug for OtlpTraceExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // never the headers: they often carry credentials
        f.debug_struct("OtlpTraceExporter")
            .field("transport", &self.transport.name())
            .field("endpoint", &self.transport.endpoint())
            .field("timeout", &self.timeout)
            .field("compression", &self.transport.compression())
            .field("shut_down", &self.shut_down.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Encoding {
    encoder: TraceRequestEncoder,
    buffer: Vec<u8>,
}

enum Transport {
    #[cfg(feature = "otlp-grpc")]
    Grpc(super::grpc::GrpcTransport),
    #[cfg(feature = "otlp-http")]
    Http(super::http::HttpTransport),
}

impl Transport {
    fn name(&self) -> &'static str {
        match self {
            #[cfg(feature = "otlp-grpc")]
            Self::Grpc(_) => "grpc",
            #[cfg(feature = "otlp-http")]
            Self::Http(_) => "http/protobuf",
        }
    }

    fn endpoint(&self) -> &str {
        match self {
            #[cfg(feature = "otlp-grpc")]
            Self::Grpc(t) => t.endpoint(),
            #[cfg(feature = "otlp-http")]
            Self::Http(t) => t.endpoint(),
        }
    }

    fn set_compression(&mut self, compression: OtlpCompression) {
        match self {
            #[cfg(feature = "otlp-grpc")]
            Self::Grpc(t) => t.set_compression(compression),
            #[cfg(feature = "otlp-http")]
            Self::Http(t) => t.set_compression(compression),
        }
    }

    fn compression(&self) -> OtlpCompression {
        match self {
            #[cfg(feature = "otlp-grpc")]
            Self::Grpc(t) => t.compression(),
            #[cfg(feature = "otlp-http")]
            Self::Http(t) => t.compression(),
        }
    }

    /// The request body for the encoded request: gzip-compressed here for HTTP with
    /// gzip (once per export, retries reuse it); gRPC compresses inside tonic.
    fn body(&self, encoded: &[u8]) -> Result<Bytes, OTelSdkError> {
        match self {
            #[cfg(feature = "otlp-grpc")]
            Self::Grpc(_) => Ok(Bytes::copy_from_slice(encoded)),
            #[cfg(feature = "otlp-http")]
            Self::Http(t) => t.body(encoded).map_err(|e| {
                OTelSdkError::InternalFailure(format!("gzip-compressing the OTLP request: {e}"))
            }),
        }
    }

    async fn send(&self, body: Bytes, timeout: Duration) -> Result<Response, Failure> {
        match self {
            #[cfg(feature = "otlp-grpc")]
            Self::Grpc(t) => t.send(body, timeout).await,
            #[cfg(feature = "otlp-http")]
            Self::Http(t) => t.send(body, timeout),
        }
    }
}

/// What a collector answered to an accepted request.
pub(super) type Response = ExportTraceServiceResponse;

/// A failed attempt.
#[derive(Debug)]
pub(super) struct Failure {
    /// Says what failed, without header values or response bodies.
    pub(super) message: String,
    /// Whether the OTLP specification allows a retry.
    pub(super) retryable: bool,
}

impl OtlpTraceExporter {
    /// An OTLP/gRPC exporter sending to `endpoint` (`http://host:4317`, or `https://`
    /// with the `tls` feature) with `metadata` on every request. Call inside a Tokio
    /// runtime; nothing connects until the first export.
    #[cfg(feature = "otlp-grpc")]
    pub fn grpc(
        endpoint: &str,
        metadata: tonic::metadata::MetadataMap,
        timeout: Duration,
    ) -> Result<Self, BoxError> {
        Self::grpc_with_tls(endpoint, metadata, timeout, &ClientTls::default())
    }

    /// Like [`grpc`](Self::grpc), verifying an `https` collector with `tls`'s CAs
    /// (instead of the webpki roots) and presenting its client identity, if set.
    /// Nothing is checked for an `http` endpoint, which stays plaintext.
    #[cfg(feature = "otlp-grpc")]
    pub fn grpc_with_tls(
        endpoint: &str,
        metadata: tonic::metadata::MetadataMap,
        timeout: Duration,
        tls: &ClientTls,
    ) -> Result<Self, BoxError> {
        let transport = super::grpc::GrpcTransport::new(endpoint, metadata, timeout, tls)?;
        Ok(Self::with_transport(Transport::Grpc(transport), timeout))
    }

    /// An OTLP/HTTP protobuf exporter posting to `endpoint` (the full traces URL,
    /// `http://host:4318/v1/traces`, or `https://` with the `tls` feature) with
    /// `headers` on every request.
    #[cfg(feature = "otlp-http")]
    pub fn http(
        endpoint: &str,
        headers: reqwest::header::HeaderMap,
        timeout: Duration,
    ) -> Result<Self, BoxError> {
        Self::http_with_tls(endpoint, headers, timeout, &ClientTls::default())
    }

    /// Like [`http`](Self::http), verifying an `https` collector with `tls`'s CAs
    /// (instead of the platform verifier) and presenting its client identity, if set.
    #[cfg(feature = "otlp-http")]
    pub fn http_with_tls(
        endpoint: &str,
        headers: reqwest::header::HeaderMap,
        timeout: Duration,
        tls: &ClientTls,
    ) -> Result<Self, BoxError> {
        let transport = super::http::HttpTransport::new(endpoint, headers, timeout, tls)?;
        Ok(Self::with_transport(Transport::Http(transport), timeout))
    }

    /// Compress requests: gRPC messages with `grpc-encoding: gzip`, HTTP bodies with
    /// `Content-Encoding: gzip`. [`OtlpCompression::None`] (the default) sends them as
    /// they are.
    #[must_use]
    pub fn with_compression(mut self, compression: OtlpCompression) -> Self {
        self.transport.set_compression(compression);
        self
    }

    /// The compression requests are sent with.
    pub fn compression(&self) -> OtlpCompression {
        self.transport.compression()
    }

    fn with_transport(transport: Transport, timeout: Duration) -> Self {
        Self {
            transport,
            encoding: Mutex::default(),
            timeout,
            shut_down: AtomicBool::new(false),
        }
    }

    /// Encodes `batch` into the reused buffer and copies (or compresses) it out as the
    /// request body (one allocation per batch; retries share it).
    fn encode(&self, batch: &[SpanData]) -> Result<Bytes, OTelSdkError> {
        let mut encoding = self
            .encoding
            .lock()
            .map_err(|_| OTelSdkError::InternalFailure("OTLP encoder lock poisoned".into()))?;
        let Encoding { encoder, buffer } = &mut *encoding;
        encoder.encode(batch, buffer);
        self.transport.body(buffer)
    }

    async fn send_with_retries(&self, body: Bytes, spans: usize) -> OTelSdkResult {
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            let remaining = self.timeout.saturating_sub(started.elapsed());
            let failure = match self.transport.send(body.clone(), remaining).await {
                Ok(response) => return partial_success(&response, spans),
                Err(failure) => failure,
            };
            attempt += 1;
            let out_of_time = started.elapsed() + backoff >= self.timeout;
            if !failure.retryable || attempt > RETRIES || out_of_time {
                let tries = if attempt > 1 {
                    format!(" (after {attempt} attempts)")
                } else {
                    String::new()
                };
                return Err(OTelSdkError::InternalFailure(format!(
                    "OTLP {} export of {spans} spans to {} failed{tries}: {}",
                    self.transport.name(),
                    self.transport.endpoint(),
                    failure.message
                )));
            }
            sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// A response whose `partial_success` rejects spans or carries a message is an error.
fn partial_success(response: &Response, spans: usize) -> OTelSdkResult {
    match &response.partial_success {
        Some(p) if p.rejected_spans > 0 || !p.error_message.is_empty() => {
            Err(OTelSdkError::InternalFailure(format!(
                "OTLP collector accepted the export only partly: {} of {spans} spans rejected{}{}",
                p.rejected_spans,
                if p.error_message.is_empty() { "" } else { ": " },
                p.error_message
            )))
        }
        _ => Ok(()),
    }
}

/// Waits between attempts: cooperatively inside a Tokio runtime, blocking the thread
/// otherwise (the batch processor's export thread has no runtime).
async fn sleep(duration: Duration) {
    #[cfg(feature = "otlp-grpc")]
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::time::sleep(duration).await;
        return;
    }
    std::thread::sleep(duration);
}

impl SpanExporter for OtlpTraceExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let body = self.encode(&batch)?;
        let spans = batch.len();
        drop(batch);
        self.send_with_retries(body, spans).await
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            Err(OTelSdkError::AlreadyShutdown)
        } else {
            Ok(())
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        match self.encoding.get_mut() {
            Ok(encoding) => encoding.encoder.set_resource(resource),
            Err(poisoned) => poisoned.into_inner().encoder.set_resource(resource),
        }
    }
}
