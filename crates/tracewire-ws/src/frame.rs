//! [`Frame`]: the transport-neutral WebSocket message the session loop works on, and
//! [`WireMessage`], the conversion each transport's message type implements.

use tokio_tungstenite::tungstenite::protocol::CloseFrame as TsCloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message as TsMessage, Utf8Bytes};

/// Close codes this crate sends or interprets (RFC 6455 section 7.4.1).
pub mod close_code {
    /// 1000: normal closure (also sent on idle timeout, with reason `idle timeout`).
    pub const NORMAL: u16 = 1000;
    /// 1001: going away (a server shutting down, a browser leaving the page).
    pub const AWAY: u16 = 1001;
    /// 1002: protocol error.
    pub const PROTOCOL: u16 = 1002;
    /// 1003: unsupported data (a binary frame where text is expected).
    pub const UNSUPPORTED: u16 = 1003;
    /// 1005: no status code was present in the close frame (never sent).
    pub const NO_STATUS: u16 = 1005;
    /// 1006: closed without a close frame (never sent; recorded for dropped
    /// connections and missed pongs).
    pub const ABNORMAL: u16 = 1006;
    /// 1009: message too big.
    pub const SIZE: u16 = 1009;
    /// 1011: internal error.
    pub const ERROR: u16 = 1011;

    /// Whether `code` ends a connection the usual way (1000, 1001, 1005); every other
    /// code marks the connection span as an error.
    pub const fn is_normal(code: u16) -> bool {
        matches!(code, NORMAL | AWAY | NO_STATUS)
    }
}

/// A close frame's payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// The close code (see [`close_code`]).
    pub code: u16,
    /// The reason text (at most 123 bytes on the wire).
    pub reason: Utf8Bytes,
}

/// A WebSocket message, independent of the library that carried it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close frame.
    Close(Option<CloseFrame>),
}

impl Frame {
    /// A close frame with `code` and `reason`.
    pub fn close(code: u16, reason: &'static str) -> Self {
        Self::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        }))
    }
}

/// A transport's message type, convertible to and from [`Frame`]: what the session
/// loop ([`Session::run`](crate::Session::run)) needs from a socket's `Sink`/`Stream`.
///
/// Implemented for [`Frame`] itself (channel-based tests), tungstenite's `Message`
/// (the client, any `WebSocketStream`) and, with feature `axum`, axum's `Message`.
pub trait WireMessage: Sized + Send + 'static {
    /// Converts a frame to send.
    fn from_frame(frame: Frame) -> Self;
    /// Converts a received message; `None` for messages the session ignores (raw
    /// tungstenite frames).
    fn into_frame(self) -> Option<Frame>;
}

impl WireMessage for Frame {
    fn from_frame(frame: Frame) -> Self {
        frame
    }

    fn into_frame(self) -> Option<Frame> {
        Some(self)
    }
}

impl WireMessage for TsMessage {
    fn from_frame(frame: Frame) -> Self {
        match frame {
            Frame::Text(t) => Self::Text(t),
            Frame::Binary(b) => Self::Binary(b),
            Frame::Ping(b) => Self::Ping(b),
            Frame::Pong(b) => Self::Pong(b),
            Frame::Close(c) => Self::Close(c.map(|c| TsCloseFrame {
                code: c.code.into(),
                reason: c.reason,
            })),
        }
    }

    fn into_frame(self) -> Option<Frame> {
        Some(match self {
            Self::Text(t) => Frame::Text(t),
            Self::Binary(b) => Frame::Binary(b),
            Self::Ping(b) => Frame::Ping(b),
            Self::Pong(b) => Frame::Pong(b),
            Self::Close(c) => Frame::Close(c.map(|c| CloseFrame {
                code: c.code.into(),
                reason: c.reason,
            })),
            Self::Frame(_) => return None,
        })
    }
}

#[cfg(feature = "axum")]
mod axum_impl {
    use axum::extract::ws::{
        CloseFrame as AxCloseFrame, Message as AxMessage, Utf8Bytes as AxUtf8,
    };

    use super::*;

    /// axum and tungstenite hold the same validated bytes behind different wrappers.
    fn to_axum(text: Utf8Bytes) -> AxUtf8 {
        AxUtf8::try_from(Bytes::from(text)).unwrap_or_default()
    }

    fn from_axum(text: AxUtf8) -> Utf8Bytes {
        Utf8Bytes::try_from(Bytes::from(text)).unwrap_or_default()
    }

    impl WireMessage for AxMessage {
        fn from_frame(frame: Frame) -> Self {
            match frame {
                Frame::Text(t) => Self::Text(to_axum(t)),
                Frame::Binary(b) => Self::Binary(b),
                Frame::Ping(b) => Self::Ping(b),
                Frame::Pong(b) => Self::Pong(b),
                Frame::Close(c) => Self::Close(c.map(|c| AxCloseFrame {
                    code: c.code,
                    reason: to_axum(c.reason),
                })),
            }
        }

        fn into_frame(self) -> Option<Frame> {
            Some(match self {
                Self::Text(t) => Frame::Text(from_axum(t)),
                Self::Binary(b) => Frame::Binary(b),
                Self::Ping(b) => Frame::Ping(b),
                Self::Pong(b) => Frame::Pong(b),
                Self::Close(c) => Frame::Close(c.map(|c| CloseFrame {
                    code: c.code,
                    reason: from_axum(c.reason),
                })),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tungstenite_round_trip() {
        for frame in [
            Frame::Text("hi".into()),
            Frame::Binary(Bytes::from_static(b"\x00")),
            Frame::Ping(Bytes::new()),
            Frame::Pong(Bytes::from_static(b"p")),
            Frame::close(close_code::SIZE, "too big"),
            Frame::Close(None),
        ] {
            assert_eq!(
                TsMessage::from_frame(frame.clone()).into_frame(),
                Some(frame)
            );
        }
    }

    #[cfg(feature = "axum")]
    #[test]
    fn axum_round_trip() {
        use axum::extract::ws::Message as AxMessage;
        for frame in [Frame::Text("héllo".into()), Frame::close(1003, "binary")] {
            assert_eq!(
                AxMessage::from_frame(frame.clone()).into_frame(),
                Some(frame)
            );
        }
    }

    #[test]
    fn normal_codes() {
        assert!(close_code::is_normal(1000) && close_code::is_normal(1001));
        assert!(!close_code::is_normal(1003) && !close_code::is_normal(1006));
    }
}
