//! gRPC status codes as the RPC semantic conventions record them, and which of them
//! mark a span as failed on each side of a call.
//!
//! | code | server span | client span |
//! |---|---|---|
//! | `OK` | unset | unset |
//! | `UNKNOWN`, `DEADLINE_EXCEEDED`, `UNIMPLEMENTED`, `INTERNAL`, `UNAVAILABLE`, `DATA_LOSS` | error | error |
//! | every other code (`CANCELLED`, `INVALID_ARGUMENT`, `NOT_FOUND`, ...) | unset | error |
//!
//! A server that answers `INVALID_ARGUMENT` did its job (the caller erred); a client
//! that receives it failed. `rpc.response.status_code` always carries the code name.
//!
//! # Example
//!
//! ```
//! use tonic::Code;
//! use tracewire_grpc::status::{code_name, is_error, Side};
//!
//! assert_eq!(code_name(Code::DeadlineExceeded), "DEADLINE_EXCEEDED");
//! assert!(!is_error(Side::Server, Code::InvalidArgument));
//! assert!(is_error(Side::Client, Code::InvalidArgument));
//! ```

use std::error::Error as StdError;

use http::{HeaderMap, HeaderName};
use tonic::{Code, ConnectError, Status, TimeoutExpired};

/// `grpc-status`, as a name looked up without parsing a `&str` per call.
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// `grpc-message`.
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

/// Which side of a call a span describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The SERVER span of an inbound call.
    Server,
    /// The CLIENT span of an outbound call.
    Client,
}

/// The canonical upper-case name of `code` (`"OK"`, `"DEADLINE_EXCEEDED"`, ...), the
/// value of `rpc.response.status_code`.
pub const fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Whether `code` marks the span of `side` as an error (the table in the module docs).
pub const fn is_error(side: Side, code: Code) -> bool {
    match side {
        Side::Client => !matches!(code, Code::Ok),
        Side::Server => matches!(
            code,
            Code::Unknown
                | Code::DeadlineExceeded
                | Code::Unimplemented
                | Code::Internal
                | Code::Unavailable
                | Code::DataLoss
        ),
    }
}

/// The `grpc-status` (and `grpc-message`, percent-decoded) of a trailers block or of
/// a trailers-only response's headers; `None` when there is no `grpc-status`.
///
/// Unlike `tonic::Status::from_header_map` this never clones the map and never panics
/// on a malformed `grpc-status-details-bin`.
pub fn status_from_headers(headers: &HeaderMap) -> Option<(Code, String)> {
    let code = Code::from_bytes(headers.get(GRPC_STATUS)?.as_bytes());
    let message = headers
        .get(GRPC_MESSAGE)
        .map(|m| percent_decode(m.as_bytes()))
        .unwrap_or_default();
    Some((code, message))
}

/// The gRPC code for a response that carries no `grpc-status` but a non-200 HTTP
/// status (a proxy or the HTTP/2 layer answered), per gRPC's HTTP-to-gRPC mapping:
/// 400 `INTERNAL`, 401 `UNAUTHENTICATED`, 403 `PERMISSION_DENIED`, 404
/// `UNIMPLEMENTED`, 429/502/503/504 `UNAVAILABLE`, anything else `UNKNOWN`.
pub fn code_from_http_status(status: http::StatusCode) -> Code {
    match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

/// Decodes `%XX` escapes (the `grpc-message` encoding); invalid escapes stay as they are.
fn percent_decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let decoded = (raw[i] == b'%')
            .then(|| raw.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(raw[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The gRPC code a transport or body error stands for, looking through its source
/// chain: a [`Status`] gives its own code, tonic's [`TimeoutExpired`] (a client-side
/// deadline) `DEADLINE_EXCEEDED`, a [`ConnectError`] `UNAVAILABLE`, an HTTP/2 reset or
/// GOAWAY the code of its reason (as tonic maps it: `CANCEL` is `CANCELLED`,
/// `REFUSED_STREAM` `UNAVAILABLE`, `ENHANCE_YOUR_CALM` `RESOURCE_EXHAUSTED`, ...);
/// anything else `UNKNOWN`.
pub fn code_of_error(error: &(dyn StdError + 'static)) -> Code {
    let mut next = Some(error);
    while let Some(err) = next {
        if let Some(status) = err.downcast_ref::<Status>() {
            return status.code();
        }
        if err.is::<TimeoutExpired>() {
            return Code::DeadlineExceeded;
        }
        if err.is::<ConnectError>() {
            return Code::Unavailable;
        }
        if let Some(reason) = err.downcast_ref::<h2::Error>().and_then(h2::Error::reason) {
            return code_of_h2_reason(reason);
        }
        next = err.source();
    }
    Code::Unknown
}

/// The gRPC code of an HTTP/2 error code (gRPC's `PROTOCOL-HTTP2` mapping).
fn code_of_h2_reason(reason: h2::Reason) -> Code {
    match reason {
        h2::Reason::REFUSED_STREAM => Code::Unavailable,
        h2::Reason::CANCEL => Code::Cancelled,
        h2::Reason::ENHANCE_YOUR_CALM => Code::ResourceExhausted,
        h2::Reason::INADEQUATE_SECURITY => Code::PermissionDenied,
        h2::Reason::NO_ERROR
        | h2::Reason::PROTOCOL_ERROR
        | h2::Reason::INTERNAL_ERROR
        | h2::Reason::FLOW_CONTROL_ERROR
        | h2::Reason::SETTINGS_TIMEOUT
        | h2::Reason::COMPRESSION_ERROR
        | h2::Reason::CONNECT_ERROR => Code::Internal,
        _ => Code::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    fn table() -> Vec<(Code, &'static str, bool, bool)> {
        // code, name, server error, client error
        vec![
            (Code::Ok,                 "OK",                  false, false),
            (Code::Cancelled,          "CANCELLED",           false, true),
            (Code::Unknown,            "UNKNOWN",             true,  true),
            (Code::InvalidArgument,    "INVALID_ARGUMENT",    false, true),
            (Code::DeadlineExceeded,   "DEADLINE_EXCEEDED",   true,  true),
            (Code::NotFound,           "NOT_FOUND",           false, true),
            (Code::AlreadyExists,      "ALREADY_EXISTS",      false, true),
            (Code::PermissionDenied,   "PERMISSION_DENIED",   false, true),
            (Code::ResourceExhausted,  "RESOURCE_EXHAUSTED",  false, true),
            (Code::FailedPrecondition, "FAILED_PRECONDITION", false, true),
            (Code::Aborted,            "ABORTED",             false, true),
            (Code::OutOfRange,         "OUT_OF_RANGE",        false, true),
            (Code::Unimplemented,      "UNIMPLEMENTED",       true,  true),
            (Code::Internal,           "INTERNAL",            true,  true),
            (Code::Unavailable,        "UNAVAILABLE",         true,  true),
            (Code::DataLoss,           "DATA_LOSS",           true,  true),
            (Code::Unauthenticated,    "UNAUTHENTICATED",     false, true),
        ]
    }

    #[test]
    fn every_code_has_its_name_and_error_mapping() {
        for (code, name, server, client) in table() {
            assert_eq!(code_name(code), name);
            assert_eq!(
                is_error(Side::Server, code),
                server,
                "server side of {name}"
            );
            assert_eq!(
                is_error(Side::Client, code),
                client,
                "client side of {name}"
            );
        }
    }

    #[test]
    fn http_statuses_without_grpc_status() {
        #[rustfmt::skip]
        let table = [
            (400, Code::Internal), (401, Code::Unauthenticated), (403, Code::PermissionDenied),
            (404, Code::Unimplemented), (429, Code::Unavailable), (431, Code::Unknown),
            (502, Code::Unavailable), (503, Code::Unavailable), (504, Code::Unavailable),
            (500, Code::Unknown),
        ];
        for (status, code) in table {
            let status = http::StatusCode::from_u16(status).unwrap();
            assert_eq!(code_from_http_status(status), code, "HTTP {status}");
        }
    }

    #[test]
    fn status_is_read_from_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(status_from_headers(&headers), None);
        headers.insert("grpc-status", "3".parse().unwrap());
        headers.insert("grpc-message", "id%20is%20empty%ZZ".parse().unwrap());
        headers.insert("grpc-status-details-bin", "!!not base64!!".parse().unwrap());
        assert_eq!(
            status_from_headers(&headers),
            Some((Code::InvalidArgument, "id is empty%ZZ".to_owned()))
        );
        headers.insert("grpc-status", "banana".parse().unwrap());
        assert_eq!(
            status_from_headers(&headers).map(|s| s.0),
            Some(Code::Unknown)
        );
    }

    #[test]
    fn errors_map_through_their_source_chain() {
        assert_eq!(
            code_of_error(&Status::unavailable("down")),
            Code::Unavailable
        );
        assert_eq!(code_of_error(&TimeoutExpired(())), Code::DeadlineExceeded);
        let wrapped = Wrapper(Box::new(Status::data_loss("torn")));
        assert_eq!(code_of_error(&wrapped), Code::DataLoss);
        assert_eq!(
            code_of_error(&std::io::Error::other("plain")),
            Code::Unknown
        );
        let reset = Wrapper(Box::new(h2::Error::from(h2::Reason::CANCEL)));
        assert_eq!(code_of_error(&reset), Code::Cancelled);
        let calm = h2::Error::from(h2::Reason::ENHANCE_YOUR_CALM);
        assert_eq!(code_of_error(&calm), Code::ResourceExhausted);
    }

    #[derive(Debug)]
    struct Wrapper(Box<dyn StdError + Send + Sync>);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("transport failed")
        }
    }

    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.0)
        }
    }
}
