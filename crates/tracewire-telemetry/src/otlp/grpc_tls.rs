//! The TLS connector under the gRPC channel of [`OtlpTraceExporter`](super::OtlpTraceExporter)
//! (feature `tls`).
//!
//! Why not tonic's own TLS: with TLS 1.3 the client's handshake is complete before the
//! collector checks the client certificate, so a collector refusing it (or its absence)
//! answers with an alert that only the connection's reader sees. hyper's HTTP/2
//! connection task gets that error, logs it and ends, and a request still queued for
//! that connection fails with nothing but "connection closed" (it happened in about
//! half the runs on loopback). The export could then not tell a certificate problem
//! from a dropped connection and retried it; and when a write meets the closed
//! connection first ("broken pipe"), the alert is never read at all. Here every read
//! and write error of the TLS stream passes
//! [`certificate_failure`](super::tls::certificate_failure), a failed write first reads
//! what the collector had sent, and a refusal is kept in a [`Refusal`] slot the
//! transport reads after a failed attempt.
//!
//! The rest mirrors tonic's connector: the same rustls `ClientConfig` shape (the process
//! default crypto provider, else aws-lc-rs; the configured CAs, else the webpki roots;
//! the client identity; ALPN `h2`), hyper-util's TCP connector with `TCP_NODELAY`, and
//! tonic's connect timeout around it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tonic::codegen::Service;

use super::ClientTls;
use super::exporter::Failure;
use crate::error::BoxError;

/// The certificate refusal a connection of the channel last saw, if any.
pub(super) type Refusal = Arc<Mutex<Option<Failure>>>;

/// Takes the refusal recorded since the slot was last emptied.
pub(super) fn take(refusal: &Refusal) -> Option<Failure> {
    refusal
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
}

fn record(refusal: &Refusal, error: &io::Error) {
    if let Some(failure) = super::tls::certificate_failure(error) {
        *refusal.lock().unwrap_or_else(PoisonError::into_inner) = Some(failure);
    }
}

/// Connects TCP, then TLS, for one collector host; a `tower::Service<Uri>` for
/// [`tonic::transport::Endpoint::connect_with_connector_lazy`].
#[derive(Clone)]
pub(super) struct TlsConnect {
    tcp: HttpConnector,
    tls: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
    refusal: Refusal,
}

impl TlsConnect {
    /// Verifies `host` with `tls`'s CAs (else the webpki roots) and presents its client
    /// identity, if any; refusals go to `refusal`.
    pub(super) fn new(host: &str, tls: &ClientTls, refusal: Refusal) -> Result<Self, BoxError> {
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?;
        let mut roots = rustls::RootCertStore::empty();
        match tls.ca_pem() {
            Some(pem) => {
                for certificate in CertificateDer::pem_slice_iter(pem) {
                    roots.add(certificate?)?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let builder = builder.with_root_certificates(roots);
        let mut config = match tls.identity_pem() {
            Some((certificate, key)) => {
                let chain =
                    CertificateDer::pem_slice_iter(certificate).collect::<Result<Vec<_>, _>>()?;
                builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_slice(key)?)?
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        // `[::1]` in a URI, `::1` as a server name
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Ok(Self {
            tcp,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            server_name: ServerName::try_from(host.to_owned())?,
            refusal,
        })
    }
}

impl Service<Uri> for TlsConnect {
    type Response = TokioIo<Watched>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connect = self.tcp.call(uri);
        let tls = self.tls.clone();
        let server_name = self.server_name.clone();
        let refusal = self.refusal.clone();
        Box::pin(async move {
            let tcp = connect.await?.into_inner();
            let stream = tls
                .connect(server_name, tcp)
                .await
                .inspect_err(|e| record(&refusal, e))?;
            Ok(TokioIo::new(Watched {
                inner: stream,
                refusal,
            }))
        })
    }
}

/// A TLS stream whose I/O errors are checked for certificate refusals.
pub(super) struct Watched {
    inner: TlsStream<TcpStream>,
    refusal: Refusal,
}

impl Watched {
    fn watch<T>(&self, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if let Poll::Ready(Err(e)) = &poll {
            record(&self.refusal, e);
        }
        poll
    }

    /// Like [`watch`](Self::watch), for writes: when a write fails (the collector
    /// closed the connection: "broken pipe"), the reason it sent first, an alert such as
    /// `certificate_required`, may still sit unread in the receive buffer. Reading what
    /// is there (the connection is lost anyway; at most 8 reads, never waiting) lets
    /// rustls process that alert so the refusal is recorded.
    fn watch_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if let Poll::Ready(Err(e)) = &poll {
            record(&self.refusal, e);
            let mut scratch = [0u8; 4096];
            for _ in 0..8 {
                let mut buf = ReadBuf::new(&mut scratch);
                match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) if !buf.filled().is_empty() => {}
                    Poll::Ready(Err(e)) => {
                        record(&self.refusal, &e);
                        break;
                    }
                    _ => break,
                }
            }
        }
        poll
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.watch(poll)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch_write(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch_write(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch_write(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch_write(cx, poll)
    }
}
