//! [`JsonClient`]: typed JSON calls over a traced reqwest client.

use std::time::Duration;

use http::StatusCode;
use http::header::{ACCEPT, CONTENT_TYPE};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::TracingMiddleware;
use crate::json::ErrorDetail;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The default per-call timeout (connect, send, and read of the whole response).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a [`JsonClient`] call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonClientError {
    /// `base_url` + `path` is not a valid absolute URL.
    #[error("invalid url {url:?}")]
    InvalidUrl {
        /// The URL that failed to parse.
        url: String,
        /// The parse error.
        #[source]
        source: BoxError,
    },
    /// The request body could not be serialised.
    #[error("request body could not be encoded as JSON")]
    Encode(#[source] serde_json::Error),
    /// No response arrived in time (the whole call, body included, is bounded).
    #[error("no response within {0:?}")]
    TimedOut(Duration),
    /// The request could not be sent or the response not read (connection refused,
    /// reset, DNS, a middleware failure...).
    #[error("transport error")]
    Transport(#[source] BoxError),
    /// The server answered with a non-2xx status. `error` holds the decoded
    /// `{"error": {..}}` body when the server sent one, `body` the raw text.
    #[error("HTTP {status}")]
    Status {
        /// The response status.
        status: StatusCode,
        /// The decoded error body, if the response had that shape.
        error: Option<ErrorDetail>,
        /// The raw response body (lossy UTF-8).
        body: String,
    },
    /// A 2xx response whose body is not the expected JSON.
    #[error("HTTP {status}: response body could not be decoded")]
    Decode {
        /// The response status.
        status: StatusCode,
        /// The decode error.
        #[source]
        source: serde_json::Error,
    },
}

/// A typed JSON client (the seed's `Client.SendRequest`): every call is traced by
/// [`TracingMiddleware`] (a CLIENT span, context injected), bounded by a timeout, and
/// returns the decoded response or a [`JsonClientError`].
///
/// # Example
///
/// ```no_run
/// use serde::{Deserialize, Serialize};
/// use tracewire_http::JsonClient;
///
/// #[derive(Serialize)]
/// struct Reserve { item: String }
/// #[derive(Deserialize)]
/// struct Reserved { ok: bool }
///
/// # async fn run() -> Result<(), tracewire_http::JsonClientError> {
/// let inventory = JsonClient::new("http://inventory:8080");
/// let reply: Reserved = inventory
///     .post_json("/reserve", &Reserve { item: "book".into() })
///     .await?;
/// # let _ = reply.ok; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct JsonClient {
    base_url: String,
    client: ClientWithMiddleware,
    timeout: Duration,
}

impl JsonClient {
    /// A client for `base_url` (`http://host:port` or with a path prefix) with a default
    /// [`TracingMiddleware`] (global providers) and [`DEFAULT_TIMEOUT`].
    pub fn new(base_url: impl Into<String>) -> Self {
        Self::with_middleware(base_url, TracingMiddleware::new())
    }

    /// A client whose requests are traced by `middleware`.
    pub fn with_middleware(base_url: impl Into<String>, middleware: TracingMiddleware) -> Self {
        Self::with_client(
            base_url,
            ClientBuilder::new(reqwest::Client::new())
                .with(middleware)
                .build(),
        )
    }

    /// A client over an existing reqwest-middleware client (which should include a
    /// [`TracingMiddleware`]).
    pub fn with_client(base_url: impl Into<String>, client: ClientWithMiddleware) -> Self {
        Self {
            base_url: base_url.into(),
            client,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Bounds every call (connect, send, whole response) by `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `GET base_url + path`, decoding a JSON response.
    ///
    /// Cancel-safe: dropping the future aborts the request (its span ends).
    pub async fn get_json<Resp: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Resp, JsonClientError> {
        self.send::<(), Resp>(reqwest::Method::GET, path, None)
            .await
    }

    /// `POST base_url + path` with `body` as JSON, decoding a JSON response.
    ///
    /// Cancel-safe: dropping the future aborts the request (its span ends).
    pub async fn post_json<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
    ) -> Result<Resp, JsonClientError> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// Any method, optional JSON body, JSON response.
    ///
    /// Cancel-safe: dropping the future aborts the request (its span ends).
    pub async fn send<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Req>,
    ) -> Result<Resp, JsonClientError> {
        let url = join(&self.base_url, path);
        let parsed = reqwest::Url::parse(&url).map_err(|e| JsonClientError::InvalidUrl {
            url: url.clone(),
            source: Box::new(e),
        })?;
        let mut request = self
            .client
            .request(method, parsed)
            .timeout(self.timeout)
            .header(ACCEPT, "application/json");
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body).map_err(JsonClientError::Encode)?;
            request = request.header(CONTENT_TYPE, "application/json").body(bytes);
        }
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport(reqwest_middleware::Error::Reqwest(e)))?;
        if !status.is_success() {
            let error = serde_json::from_slice::<crate::json::ErrorBody>(&bytes)
                .ok()
                .map(|b| b.error);
            return Err(JsonClientError::Status {
                status,
                error,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        // An empty 2xx body decodes as JSON `null` (so `()` and `Option<T>` work).
        let json: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(json).map_err(|source| JsonClientError::Decode { status, source })
    }

    fn transport(&self, error: reqwest_middleware::Error) -> JsonClientError {
        match error {
            reqwest_middleware::Error::Reqwest(e) if e.is_timeout() => {
                JsonClientError::TimedOut(self.timeout)
            }
            reqwest_middleware::Error::Reqwest(e) => JsonClientError::Transport(Box::new(e)),
            reqwest_middleware::Error::Middleware(e) => JsonClientError::Transport(e.into()),
        }
    }
}

/// `base` + `path` with exactly one `/` between them.
fn join(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    let path = path.trim_start_matches('/');
    format!("{base}/{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_with_one_slash() {
        assert_eq!(join("http://a:1", "/x"), "http://a:1/x");
        assert_eq!(join("http://a:1/", "x"), "http://a:1/x");
        assert_eq!(
            join("http://a:1/api/", "/v1/x?q=1"),
            "http://a:1/api/v1/x?q=1"
        );
    }

    #[tokio::test]
    async fn invalid_url_is_a_typed_error() {
        let client = JsonClient::new("not a url");
        let err = client.get_json::<()>("/x").await.unwrap_err();
        assert!(matches!(err, JsonClientError::InvalidUrl { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn refused_connection_is_a_transport_error() {
        // Bind then drop: the port is (almost certainly) closed now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = JsonClient::new(format!("http://127.0.0.1:{port}"));
        let err = client.get_json::<()>("/x").await.unwrap_err();
        assert!(matches!(err, JsonClientError::Transport(_)), "{err:?}");
    }
}
