//! [`ClientTls`]: the PEM material an OTLP exporter uses for `https` endpoints, read
//! once from the files of an [`OtlpTlsConfig`].

use std::fmt;

use crate::config::{OtlpTlsConfig, PemFile};
use crate::error::ConfigError;

/// Trusted CA certificates and/or a client identity (PEM) for OTLP over TLS.
///
/// The default presents no client certificate and trusts the built-in webpki (Mozilla)
/// roots over gRPC, reqwest's platform verifier (the OS trust store) over HTTP.
/// [`with_ca_pem`](Self::with_ca_pem) **replaces** those roots with the given CAs (see [`OtlpTlsConfig`] for why); [`with_client_identity_pem`](Self::with_client_identity_pem)
/// adds a client certificate for mutual TLS. Used for `https` endpoints only, with the
/// `tls` feature. `Debug` shows which parts are set, never their contents.
#[derive(Clone, Default)]
pub struct ClientTls {
    ca: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("custom_ca", &self.ca.is_some())
            .field("client_identity", &self.identity.is_some())
            .finish()
    }
}

impl ClientTls {
    /// Default roots, no client certificate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust only the CA certificates of this PEM bundle.
    #[must_use]
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(pem.into());
        self
    }

    /// Present this certificate chain and private key (PEM) to the collector.
    #[must_use]
    pub fn with_client_identity_pem(
        mut self,
        certificate: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.identity = Some((certificate.into(), key.into()));
        self
    }

    /// The CA bundle (PEM), if set.
    #[cfg(feature = "tls")]
    pub(crate) fn ca_pem(&self) -> Option<&[u8]> {
        self.ca.as_deref()
    }

    /// The client certificate chain and key (PEM), if set.
    #[cfg(feature = "tls")]
    pub(crate) fn identity_pem(&self) -> Option<(&[u8], &[u8])> {
        self.identity
            .as_ref()
            .map(|(cert, key)| (cert.as_slice(), key.as_slice()))
    }

    /// Whether anything differs from the default (default roots, no client certificate).
    pub fn is_custom(&self) -> bool {
        self.ca.is_some() || self.identity.is_some()
    }

    /// Reads and checks the files of `config` (once, at `init`). Without the `tls`
    /// feature any file set is a [`ConfigError::TlsFeatureDisabled`].
    pub(crate) fn load(config: &OtlpTlsConfig) -> Result<Self, ConfigError> {
        let mut tls = Self::default();
        let given = [
            &config.certificate,
            &config.client_certificate,
            &config.client_key,
        ];
        if !cfg!(feature = "tls") {
            return match given.into_iter().flatten().next() {
                Some(file) => Err(ConfigError::TlsFeatureDisabled {
                    setting: file.setting,
                }),
                None => Ok(tls),
            };
        }
        if let Some(file) = &config.certificate {
            let pem = read(file)?;
            check_certificates(file, &pem)?;
            tls.ca = Some(pem);
        }
        tls.identity = match (&config.client_certificate, &config.client_key) {
            (Some(cert_file), Some(key_file)) => {
                let cert = read(cert_file)?;
                check_certificates(cert_file, &cert)?;
                let key = read(key_file)?;
                check_key(key_file, &cert, &key)?;
                Some((cert, key))
            }
            (Some(cert_file), None) => {
                return Err(ConfigError::TlsClientIncomplete {
                    given: cert_file.setting,
                    missing: "a client key (OTEL_EXPORTER_OTLP_CLIENT_KEY)",
                });
            }
            (None, Some(key_file)) => {
                return Err(ConfigError::TlsClientIncomplete {
                    given: key_file.setting,
                    missing: "a client certificate (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE)",
                });
            }
            (None, None) => None,
        };
        Ok(tls)
    }

    /// The tonic client TLS settings: the CAs or the webpki roots, the identity if any
    /// (for `opentelemetry-otlp`'s gRPC metrics exporter; tracewire's trace exporter
    /// connects through its own `grpc_tls` connector).
    #[cfg(feature = "tls")]
    pub(crate) fn tonic_config(&self) -> tonic::transport::ClientTlsConfig {
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        let config = ClientTlsConfig::new().assume_http2(true);
        let config = match &self.ca {
            Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
            None => config.with_webpki_roots(),
        };
        match &self.identity {
            Some((cert, key)) => config.identity(Identity::from_pem(cert, key)),
            None => config,
        }
    }

    /// Applies the CAs (only them) and the identity to a reqwest client builder; without
    /// custom settings the builder keeps reqwest's roots.
    #[cfg(feature = "tls")]
    pub(crate) fn apply_to_reqwest(
        &self,
        mut builder: reqwest::blocking::ClientBuilder,
    ) -> reqwest::Result<reqwest::blocking::ClientBuilder> {
        if let Some(pem) = &self.ca {
            builder = builder.tls_certs_only(reqwest::Certificate::from_pem_bundle(pem)?);
        }
        if let Some((cert, key)) = &self.identity {
            builder = builder.identity(reqwest::Identity::from_pem(&identity_pem(cert, key))?);
        }
        Ok(builder)
    }
}

/// A failed attempt whose cause is a TLS certificate the handshake refused: the
/// collector's certificate did not verify ([`rustls::Error::InvalidCertificate`]: unknown
/// issuer, expired, wrong name, ...), it presented none, or it refused our client
/// certificate or its absence (a `certificate_required`, `bad_certificate`,
/// `unknown_ca`, ... alert). Such failures are permanent, so the attempt is not
/// retryable. `None` for every other error.
///
/// The rustls error is found by type, walking `error`'s sources and looking inside each
/// `io::Error` (tokio-rustls reports TLS failures as an `io::Error` wrapping the
/// `rustls::Error`, and an `io::Error`'s `source()` skips the error it wraps). Errors
/// that went through h2 keep only the text (h2 stores io errors as kind + message), so
/// for gRPC the connector in `grpc_tls` also checks each I/O error as it happens. The
/// message holds the rustls error (which names the reason, never key material) and no
/// file contents.
#[cfg(feature = "tls")]
pub(super) fn certificate_failure(
    error: &(dyn std::error::Error + 'static),
) -> Option<super::exporter::Failure> {
    let refused = refused_certificate(error)?;
    let what = match refused {
        rustls::Error::InvalidCertificate(_) => "the collector's certificate failed verification",
        rustls::Error::NoCertificatesPresented => "the collector presented no certificate",
        _ => "the collector refused the client certificate (or its absence)",
    };
    Some(super::exporter::Failure {
        message: format!("TLS certificate problem, not retried: {what}: {refused}"),
        retryable: false,
    })
}

#[cfg(not(feature = "tls"))]
pub(super) fn certificate_failure(
    _: &(dyn std::error::Error + 'static),
) -> Option<super::exporter::Failure> {
    None
}

#[cfg(feature = "tls")]
fn refused_certificate<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    use rustls::AlertDescription as Alert;
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            let refused = match tls {
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                    true
                }
                rustls::Error::AlertReceived(alert) => matches!(
                    alert,
                    Alert::CertificateRequired
                        | Alert::BadCertificate
                        | Alert::UnsupportedCertificate
                        | Alert::CertificateRevoked
                        | Alert::CertificateExpired
                        | Alert::CertificateUnknown
                        | Alert::UnknownCA
                ),
                _ => false,
            };
            if refused {
                return Some(tls);
            }
        }
        // an io::Error's source() skips the error it wraps: look inside explicitly
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| refused_certificate(inner))
        {
            return Some(inner);
        }
        next = e.source();
    }
    None
}

fn read(file: &PemFile) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(&file.path).map_err(|source| ConfigError::TlsFileUnreadable {
        setting: file.setting,
        path: file.path.clone(),
        source,
    })
}

#[cfg(feature = "tls")]
fn invalid(file: &PemFile, reason: &'static str) -> ConfigError {
    ConfigError::TlsFileInvalid {
        setting: file.setting,
        path: file.path.clone(),
        reason,
    }
}

/// At least one well-formed `CERTIFICATE` block.
#[cfg(feature = "tls")]
fn check_certificates(file: &PemFile, pem: &[u8]) -> Result<(), ConfigError> {
    match reqwest::Certificate::from_pem_bundle(pem) {
        Ok(certs) if !certs.is_empty() => Ok(()),
        Ok(_) => Err(invalid(file, "no PEM CERTIFICATE block")),
        Err(_) => Err(invalid(file, "malformed PEM certificate")),
    }
}

/// A PKCS#8, PKCS#1 or SEC1 private key in PEM that reqwest accepts with `cert`.
#[cfg(feature = "tls")]
fn check_key(file: &PemFile, cert: &[u8], key: &[u8]) -> Result<(), ConfigError> {
    reqwest::Identity::from_pem(&identity_pem(cert, key))
        .map(drop)
        .map_err(|_| {
            invalid(
                file,
                "no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) \
                 or an unsupported PEM block",
            )
        })
}

#[cfg(feature = "tls")]
fn identity_pem(cert: &[u8], key: &[u8]) -> Vec<u8> {
    [cert, b"\n", key].concat()
}

#[cfg(not(feature = "tls"))]
fn check_certificates(_: &PemFile, _: &[u8]) -> Result<(), ConfigError> {
    Ok(())
}

#[cfg(not(feature = "tls"))]
fn check_key(_: &PemFile, _: &[u8], _: &[u8]) -> Result<(), ConfigError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(path: &str) -> OtlpTlsConfig {
        OtlpTlsConfig {
            certificate: Some(PemFile::new(path, "OTEL_EXPORTER_OTLP_CERTIFICATE")),
            ..OtlpTlsConfig::default()
        }
    }

    #[test]
    fn nothing_set_is_the_default() {
        let tls = ClientTls::load(&OtlpTlsConfig::default()).unwrap();
        assert!(!tls.is_custom());
    }

    /// Without the `tls` feature a TLS setting is refused, not ignored.
    #[cfg(not(feature = "tls"))]
    #[test]
    fn settings_without_the_tls_feature_are_refused() {
        let err = ClientTls::load(&config("/etc/ssl/ca.pem")).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::TlsFeatureDisabled {
                    setting: "OTEL_EXPORTER_OTLP_CERTIFICATE"
                }
            ),
            "{err:?}"
        );
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_missing_file_names_setting_and_path() {
        let err = ClientTls::load(&config("/nonexistent/ca.pem")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("OTEL_EXPORTER_OTLP_CERTIFICATE") && text.contains("/nonexistent/ca.pem"),
            "{text}"
        );
    }
}
