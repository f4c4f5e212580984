//! Counting gRPC messages in an HTTP/2 body: every message is a length-prefixed frame
//! (1 byte compressed flag, 4 bytes big-endian length, then the payload), and a frame
//! may span any number of body chunks, or a chunk hold many frames.
//!
//! # Example
//!
//! ```
//! use tracewire_grpc::frames::{FrameCounter, MessageFrame};
//!
//! let mut counter = FrameCounter::new();
//! let mut seen = Vec::new();
//! // One 3-byte message split across two chunks, then an empty compressed one.
//! counter.feed(&[0, 0, 0], |m| seen.push(m));
//! counter.feed(&[0, 3, b'a', b'b', b'c', 1, 0, 0, 0, 0], |m| seen.push(m));
//! assert_eq!(seen, [
//!     MessageFrame { compressed: false, len: 3 },
//!     MessageFrame { compressed: true, len: 0 },
//! ]);
//! ```

/// One complete message seen by a [`FrameCounter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageFrame {
    /// The compressed flag of the frame header.
    pub compressed: bool,
    /// The payload length in bytes, as sent on the wire (compressed when `compressed`).
    pub len: u32,
}

/// An incremental parser of gRPC length-prefixed frames; it never copies payloads.
#[derive(Clone, Debug, Default)]
pub struct FrameCounter {
    header: [u8; 5],
    header_len: usize,
    /// Payload bytes of the current frame still to come (after a full header).
    remaining: u32,
    /// Whether the current frame is compressed (valid while `remaining > 0`).
    compressed: bool,
}

impl FrameCounter {
    /// A counter at the start of a body.
    pub const fn new() -> Self {
        Self {
            header: [0; 5],
            header_len: 0,
            remaining: 0,
            compressed: false,
        }
    }

    /// Consumes one body chunk; calls `on_message` for every message that completes in it.
    pub fn feed(&mut self, mut chunk: &[u8], mut on_message: impl FnMut(MessageFrame)) {
        while !chunk.is_empty() {
            if self.remaining > 0 {
                let take = chunk.len().min(self.remaining as usize);
                chunk = &chunk[take..];
                // `take` is at most `remaining`, a u32.
                self.remaining -= u32::try_from(take).unwrap_or(self.remaining);
                if self.remaining == 0 {
                    on_message(MessageFrame {
                        compressed: self.compressed,
                        len: self.current_len(),
                    });
                }
                continue;
            }
            let take = chunk.len().min(5 - self.header_len);
            self.header[self.header_len..self.header_len + take].copy_from_slice(&chunk[..take]);
            self.header_len += take;
            chunk = &chunk[take..];
            if self.header_len == 5 {
                self.header_len = 0;
                self.compressed = self.header[0] == 1;
                self.remaining = self.current_len();
                if self.remaining == 0 {
                    on_message(MessageFrame {
                        compressed: self.compressed,
                        len: 0,
                    });
                }
            }
        }
    }

    /// Whether the counter is between frames (no partial header or payload pending).
    pub const fn is_idle(&self) -> bool {
        self.header_len == 0 && self.remaining == 0
    }

    fn current_len(&self) -> u32 {
        u32::from_be_bytes([
            self.header[1],
            self.header[2],
            self.header[3],
            self.header[4],
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(compressed: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![u8::from(compressed)];
        out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn count(chunks: &[&[u8]]) -> (Vec<MessageFrame>, bool) {
        let mut counter = FrameCounter::new();
        let mut seen = Vec::new();
        for chunk in chunks {
            counter.feed(chunk, |m| seen.push(m));
        }
        (seen, counter.is_idle())
    }

    #[test]
    fn many_frames_in_one_chunk() {
        let mut body = frame(false, b"hello");
        body.extend(frame(true, b"xy"));
        body.extend(frame(false, b""));
        let (seen, idle) = count(&[&body]);
        assert_eq!(seen.len(), 3);
        assert_eq!(
            seen[0],
            MessageFrame {
                compressed: false,
                len: 5
            }
        );
        assert_eq!(
            seen[1],
            MessageFrame {
                compressed: true,
                len: 2
            }
        );
        assert_eq!(
            seen[2],
            MessageFrame {
                compressed: false,
                len: 0
            }
        );
        assert!(idle);
    }

    #[test]
    fn every_split_point_gives_the_same_messages() {
        let mut body = frame(false, &[7; 300]);
        body.extend(frame(false, b"a"));
        body.extend(frame(true, &[1; 70_000]));
        let (whole, _) = count(&[&body]);
        assert_eq!(whole.len(), 3);
        for split in 0..=body.len().min(400) {
            let (a, b) = body.split_at(split);
            let (seen, idle) = count(&[a, b]);
            assert_eq!(seen, whole, "split at {split}");
            assert!(idle, "split at {split}");
        }
        let bytewise: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(count(&bytewise).0, whole, "one byte per chunk");
    }

    #[test]
    fn a_truncated_body_leaves_the_counter_mid_frame() {
        let body = frame(false, b"abcdef");
        let (seen, idle) = count(&[&body[..4]]);
        assert!(seen.is_empty());
        assert!(!idle, "partial header");
        let (seen, idle) = count(&[&body[..8]]);
        assert!(seen.is_empty());
        assert!(!idle, "partial payload");
    }
}
