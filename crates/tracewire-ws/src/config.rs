//! [`WsConfig`]: limits and timers of a session.

use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// tungstenite's default is 128 KiB, and it zero-fills that much before every socket
/// read (snapview/tungstenite-rs#547), which cost 40 % of the CPU of a small-message
/// echo in our benchmark. Messages of a few KiB need far less; larger ones are read in
/// several chunks, which costs only extra reads.
const DEFAULT_READ_BUFFER: usize = 8 * 1024;

/// Limits and timers of a session; the same on the server and the client.
///
/// | setting | default | on breach |
/// |---|---|---|
/// | [`max_message_size`](Self::max_message_size) | 64 KiB | close 1009 (inbound); [`SendError::TooLarge`](crate::SendError::TooLarge) (outbound) |
/// | [`max_frame_size`](Self::max_frame_size) | 64 KiB | close 1009 |
/// | [`read_buffer_size`](Self::read_buffer_size) | 8 KiB | (a performance knob: bytes read per socket read) |
/// | [`idle_timeout`](Self::idle_timeout) | 300 s without a data message | close 1000 `idle timeout` |
/// | [`ping_interval`](Self::ping_interval) | ping every 30 s | |
/// | [`pong_timeout`](Self::pong_timeout) | 20 s after a ping | connection dropped, recorded as 1006 |
/// | [`send_queue`](Self::send_queue) | 64 envelopes | senders wait (backpressure) |
/// | [`receive_queue`](Self::receive_queue) | 16 messages | reading pauses (TCP backpressure) |
/// | [`close_timeout`](Self::close_timeout) | 5 s | socket dropped without the peer's close reply |
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tracewire_ws::WsConfig;
///
/// let config = WsConfig::default()
///     .max_message_size(16 * 1024)
///     .idle_timeout(Some(Duration::from_secs(60)))
///     .send_queue(32);
/// assert_eq!(config.get_send_queue(), 32);
/// ```
#[derive(Clone, Debug)]
pub struct WsConfig {
    pub(crate) max_message_size: usize,
    pub(crate) max_frame_size: usize,
    pub(crate) read_buffer_size: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) pong_timeout: Duration,
    pub(crate) send_queue: usize,
    pub(crate) receive_queue: usize,
    pub(crate) close_timeout: Duration,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            max_message_size: 64 * 1024,
            max_frame_size: 64 * 1024,
            read_buffer_size: DEFAULT_READ_BUFFER,
            idle_timeout: Some(Duration::from_secs(300)),
            ping_interval: Some(Duration::from_secs(30)),
            pong_timeout: Duration::from_secs(20),
            send_queue: 64,
            receive_queue: 16,
            close_timeout: Duration::from_secs(5),
        }
    }
}

impl WsConfig {
    /// Largest message accepted or sent (bytes of the JSON text). Also configured on
    /// the axum and tungstenite sockets, which then refuse larger messages while
    /// reading them.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Largest single frame accepted (configured on the axum and tungstenite sockets).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Bytes read from the socket at a time (at least 1 KiB). tungstenite zero-fills
    /// this much before every read, so a buffer far larger than typical messages costs
    /// CPU on each one; raise it for streams of large messages.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes.max(1024);
        self
    }

    /// Closes the connection (1000, `idle timeout`) after this long without an
    /// inbound data message; `None` never does. Pongs keep a connection alive but do
    /// not make it busy.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sends a ping this often; `None` sends none.
    pub fn ping_interval(mut self, interval: Option<Duration>) -> Self {
        self.ping_interval = interval;
        self
    }

    /// Drops the connection when no pong arrives this long after a ping.
    pub fn pong_timeout(mut self, timeout: Duration) -> Self {
        self.pong_timeout = timeout;
        self
    }

    /// Outbound envelopes queued for the socket before senders wait (at least 1).
    pub fn send_queue(mut self, envelopes: usize) -> Self {
        self.send_queue = envelopes.max(1);
        self
    }

    /// Inbound messages buffered while a handler runs before reading pauses (at least 1).
    pub fn receive_queue(mut self, messages: usize) -> Self {
        self.receive_queue = messages.max(1);
        self
    }

    /// How long to wait for the peer's close reply after sending a close frame.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// The configured send queue bound.
    pub fn get_send_queue(&self) -> usize {
        self.send_queue
    }

    /// The configured maximum message size.
    pub fn get_max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The tungstenite socket configuration for these limits.
    pub fn tungstenite(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_frame_size))
            .read_buffer_size(self.read_buffer_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_config_carries_the_limits_and_a_small_read_buffer() {
        let socket = WsConfig::default().tungstenite();
        assert_eq!(socket.max_message_size, Some(64 * 1024));
        assert_eq!(socket.max_frame_size, Some(64 * 1024));
        assert_eq!(socket.read_buffer_size, 8 * 1024);
        let tuned = WsConfig::default()
            .read_buffer_size(256 * 1024)
            .tungstenite();
        assert_eq!(tuned.read_buffer_size, 256 * 1024);
        let floor = WsConfig::default().read_buffer_size(10).tungstenite();
        assert_eq!(floor.read_buffer_size, 1024, "at least 1 KiB");
    }
}
