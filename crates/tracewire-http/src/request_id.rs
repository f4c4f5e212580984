//! `x-request-id`: read from the request (Envoy sets it at the mesh edge) or generated,
//! stored in the request extensions as [`RequestId`], recorded on the SERVER span as
//! `http.request.header.x-request-id`, and returned on the response.

use http::{HeaderMap, HeaderName, HeaderValue};

/// The request id header name (what Envoy and Istio use).
pub const X_REQUEST_ID: &str = "x-request-id";

/// [`X_REQUEST_ID`] as a `HeaderName`: a map lookup or insert with a `&str` name
/// parses it every time.
pub(crate) const X_REQUEST_ID_HEADER: HeaderName = HeaderName::from_static(X_REQUEST_ID);

/// The longest inbound request id accepted; a longer or non-visible-ASCII value is
/// replaced by a generated one (it would otherwise be echoed into logs and spans).
const MAX_LEN: usize = 128;

/// The id of the current request, available to handlers as a request extension
/// (`Extension<RequestId>` in axum).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The inbound id if present and reasonable, else a new UUID v4.
    pub(crate) fn from_headers_or_new(headers: &HeaderMap) -> Self {
        headers
            .get(X_REQUEST_ID_HEADER)
            .filter(|value| {
                let bytes = value.as_bytes();
                !bytes.is_empty()
                    && bytes.len() <= MAX_LEN
                    && bytes.iter().all(|b| b.is_ascii_graphic())
            })
            .cloned()
            .map_or_else(Self::new_v4, Self)
    }

    /// A new random (UUID v4) request id.
    pub fn new_v4() -> Self {
        // The thread-local RNG, not a `getrandom` system call per request.
        let uuid = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut buf = uuid::Uuid::encode_buffer();
        let text = uuid.hyphenated().encode_lower(&mut buf);
        // A hyphenated UUID is always a valid header value.
        Self(HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("-")))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        // Only visible ASCII is ever stored (checked above, or a UUID).
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_valid_inbound_id() {
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(RequestId::from_headers_or_new(&headers).as_str(), "abc-123");
    }

    #[test]
    fn generates_when_missing_or_unreasonable() {
        let generated = RequestId::from_headers_or_new(&HeaderMap::new());
        assert_eq!(generated.as_str().len(), 36, "hyphenated uuid");

        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("has space"));
        assert_ne!(
            RequestId::from_headers_or_new(&headers).as_str(),
            "has space"
        );
        let long = "a".repeat(MAX_LEN + 1);
        headers.insert(X_REQUEST_ID, HeaderValue::from_str(&long).unwrap());
        assert_ne!(RequestId::from_headers_or_new(&headers).as_str(), long);
    }
}
