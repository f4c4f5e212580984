//! OTLP/HTTP protobuf transport: a blocking reqwest client.
//!
//! Blocking, as `opentelemetry-otlp`'s default HTTP client: the batch span processor
//! exports on its own thread without a Tokio runtime, where an async client would have
//! no reactor to run on. reqwest directly rather than `opentelemetry-http`'s
//! `HttpClient` trait: one client is all we need, and reqwest gives the status,
//! timeouts and connection errors without another layer of boxing.

use std::time::Duration;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use reqwest::StatusCode;
use reqwest::blocking::Client;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderValue};

use super::ClientTls;
use super::exporter::{Failure, Response};
use crate::config::OtlpCompression;
use crate::error::BoxError;

pub(super) struct HttpTransport {
    client: Client,
    url: reqwest::Url,
    headers: HeaderMap,
    endpoint: String,
    compression: OtlpCompression,
}

impl HttpTransport {
    pub(super) fn new(
        endpoint: &str,
        mut headers: HeaderMap,
        timeout: Duration,
        tls: &ClientTls,
    ) -> Result<Self, BoxError> {
        let url = reqwest::Url::parse(endpoint).map_err(|e| {
            format!(
                "invalid OTLP HTTP endpoint {}: {e}",
                super::redact(endpoint)
            )
        })?;
        match url.scheme() {
            "http" => {}
            "https" if cfg!(feature = "tls") => {}
            "https" => {
                return Err(format!(
                    "OTLP HTTP endpoint {} is https: enable the `tls` feature of tracewire-telemetry",
                    super::redact(endpoint)
                )
                .into());
            }
            other => {
                return Err(format!(
                    "OTLP HTTP endpoint {} has scheme {other:?}, not http or https",
                    super::redact(endpoint)
                )
                .into());
            }
        }
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        let client = blocking_client(timeout, tls)?;
        Ok(Self {
            client,
            url,
            headers,
            endpoint: super::redact(endpoint),
            compression: OtlpCompression::None,
        })
    }

    pub(super) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sets `Content-Encoding: gzip` (or removes it) to match what [`body`](Self::body)
    /// produces.
    pub(super) fn set_compression(&mut self, compression: OtlpCompression) {
        self.compression = compression;
        match compression {
            OtlpCompression::Gzip => {
                self.headers
                    .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            OtlpCompression::None => {
                self.headers.remove(CONTENT_ENCODING);
            }
        }
    }

    pub(super) fn compression(&self) -> OtlpCompression {
        self.compression
    }

    /// The request body: `encoded` gzip-compressed, or copied as is.
    pub(super) fn body(&self, encoded: &[u8]) -> std::io::Result<Bytes> {
        match self.compression {
            OtlpCompression::Gzip => gzip(encoded).map(Bytes::from),
            OtlpCompression::None => Ok(Bytes::copy_from_slice(encoded)),
        }
    }

    /// One blocking POST, bounded by `timeout`.
    pub(super) fn send(&self, body: Bytes, timeout: Duration) -> Result<Response, Failure> {
        let response = self
            .client
            .post(self.url.clone())
            .timeout(timeout)
            .headers(self.headers.clone())
            .body(body)
            .send()
            .map_err(|e| {
                let e = e.without_url();
                super::tls::certificate_failure(&e).unwrap_or_else(|| Failure {
                    message: super::chain(&e),
                    retryable: true,
                })
            })?;
        let status = response.status();
        if !status.is_success() {
            // the body may echo credentials back: only the status is reported
            return Err(Failure {
                message: format!("HTTP status {status}"),
                retryable: matches!(
                    status,
                    StatusCode::TOO_MANY_REQUESTS
                        | StatusCode::BAD_GATEWAY
                        | StatusCode::SERVICE_UNAVAILABLE
                        | StatusCode::GATEWAY_TIMEOUT
                ),
            });
        }
        let body = response.bytes().map_err(|e| Failure {
            message: format!("reading the response: {}", super::chain(&e.without_url())),
            retryable: false,
        })?;
        ExportTraceServiceResponse::decode(body).map_err(|e| Failure {
            message: format!("undecodable ExportTraceServiceResponse: {e}"),
            retryable: false,
        })
    }
}

/// `data` as one gzip member, at flate2's default level (6, as `opentelemetry-otlp`,
/// tonic and the Go SDK use).
fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::default(),
    );
    encoder.write_all(data)?;
    encoder.finish()
}

/// A blocking reqwest client with `timeout` and, with the `tls` feature, `tls`'s CAs
/// and identity. Building one inside a Tokio runtime panics (it starts and waits for
/// its own runtime), so it is built on a thread of its own.
pub(crate) fn blocking_client(timeout: Duration, tls: &ClientTls) -> Result<Client, BoxError> {
    #[cfg(feature = "tls")]
    let builder = tls.apply_to_reqwest(Client::builder().timeout(timeout))?;
    #[cfg(not(feature = "tls"))]
    let builder = {
        let _ = tls;
        Client::builder().timeout(timeout)
    };
    let client = std::thread::Builder::new()
        .name("otlp-http-client".into())
        .spawn(move || builder.build())
        .map_err(|e| format!("cannot spawn the thread building the HTTP client: {e}"))?
        .join()
        .map_err(|_| "building the blocking HTTP client panicked")??;
    Ok(client)
}
