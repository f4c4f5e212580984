//! [`channel_pair`]: two connected in-memory sockets of [`Frame`]s, for unit tests of
//! handlers and sessions without a network.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_channel::mpsc;
use futures_util::{Sink, Stream};

use crate::Frame;

/// The other end of a [`ChannelSocket`] is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the in-memory socket's peer is gone")]
pub struct ChannelClosed;

/// One end of an in-memory socket: a `Sink<Frame>` and a
/// `Stream<Item = Result<Frame, ChannelClosed>>`, bounded like a real socket buffer.
#[derive(Debug)]
pub struct ChannelSocket {
    tx: mpsc::Sender<Frame>,
    rx: mpsc::Receiver<Frame>,
}

/// Two connected sockets; each buffers up to `capacity` frames (plus one per
/// sender, as `futures` channels do) before its sender waits.
///
/// # Example
///
/// ```
/// use futures_util::{SinkExt, StreamExt};
/// use tracewire_ws::Frame;
/// use tracewire_ws::testing::channel_pair;
///
/// # futures_util::FutureExt::now_or_never(async {
/// let (mut a, mut b) = channel_pair(4);
/// a.send(Frame::Text("hi".into())).await.unwrap();
/// assert_eq!(b.next().await, Some(Ok(Frame::Text("hi".into()))));
/// # });
/// ```
pub fn channel_pair(capacity: usize) -> (ChannelSocket, ChannelSocket) {
    let (a_tx, b_rx) = mpsc::channel(capacity);
    let (b_tx, a_rx) = mpsc::channel(capacity);
    (
        ChannelSocket { tx: a_tx, rx: a_rx },
        ChannelSocket { tx: b_tx, rx: b_rx },
    )
}

impl Stream for ChannelSocket {
    type Item = Result<Frame, ChannelClosed>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.rx).poll_next(cx).map(|f| f.map(Ok))
    }
}

impl Sink<Frame> for ChannelSocket {
    type Error = ChannelClosed;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.tx)
            .poll_ready(cx)
            .map_err(|_| ChannelClosed)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Frame) -> Result<(), Self::Error> {
        Pin::new(&mut self.tx)
            .start_send(item)
            .map_err(|_| ChannelClosed)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.tx)
            .poll_flush(cx)
            .map_err(|_| ChannelClosed)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.tx)
            .poll_close(cx)
            .map_err(|_| ChannelClosed)
    }
}
