//! A TCP proxy in front of the local RabbitMQ, to cut connections (`sever`, `outage`)
//! and, optionally, to hold publisher confirms back ([`ConfirmGate`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

/// Forwards 127.0.0.1:<port> to RabbitMQ; `sever` drops every open connection;
/// `outage` also drops every new one (RabbitMQ unreachable) until `restore`.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
    pub(crate) accepted: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

impl Proxy {
    pub(crate) async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A proxy whose server-to-client traffic goes through `gate`.
    pub(crate) async fn start_gated(gate: Arc<ConfirmGate>) -> Self {
        Self::start_with(Some(gate)).await
    }

    async fn start_with(gate: Option<Arc<ConfirmGate>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accepted = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let (c, a, d) = (Arc::clone(&conns), Arc::clone(&accepted), Arc::clone(&down));
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                if d.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let gate = gate.clone();
                let task = tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(super::ADDR).await else {
                        return;
                    };
                    match gate {
                        None => {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                        Some(gate) => {
                            let (mut client_rx, client_tx) = client.into_split();
                            let (server_rx, mut server_tx) = server.into_split();
                            tokio::select! {
                                _ = tokio::io::copy(&mut client_rx, &mut server_tx) => {}
                                () = gate.pump(server_rx, client_tx) => {}
                            }
                        }
                    }
                });
                c.lock().unwrap().push(task.abort_handle());
            }
        });
        Self {
            port,
            conns,
            accepted,
            down,
        }
    }

    pub(crate) fn sever(&self) {
        for conn in self.conns.lock().unwrap().drain(..) {
            conn.abort();
        }
    }

    pub(crate) fn outage(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.sever();
    }

    pub(crate) fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// Holds back the publisher confirms (`basic.ack` frames) RabbitMQ sends through a
/// [`Proxy`], and every later frame of the same channel (frames of one channel stay in
/// order; other channels flow), until confirms are held on `channels` channels of one
/// connection at once. Then it lets them all go and passes everything through from then
/// on. So a client that awaits one confirm at a time never gets there: the number of
/// channels with a confirm held ([`max_held`](Self::max_held)) is how many publishes
/// awaited their confirms at the same moment, whatever the timing.
#[derive(Debug)]
pub(crate) struct ConfirmGate {
    channels: usize,
    max_held: watch::Sender<usize>,
    open: watch::Sender<bool>,
}

/// AMQP frame: type (1), channel (2), size (4), payload, 0xCE.
const FRAME_HEADER: usize = 7;
const METHOD_FRAME: u8 = 1;
/// `basic.ack`: class 60, method 80.
const BASIC_ACK: [u8; 4] = [0, 60, 0, 80];

impl ConfirmGate {
    pub(crate) fn new(channels: usize) -> Arc<Self> {
        Arc::new(Self {
            channels,
            max_held: watch::Sender::new(0),
            open: watch::Sender::new(false),
        })
    }

    /// The most channels that had a confirm held at the same moment.
    pub(crate) fn max_held(&self) -> watch::Receiver<usize> {
        self.max_held.subscribe()
    }

    /// Lets everything go (for a test that gives up waiting).
    pub(crate) fn open(&self) {
        self.open.send_replace(true);
    }

    async fn pump(&self, mut server: OwnedReadHalf, mut client: OwnedWriteHalf) {
        let mut opened = self.open.subscribe();
        let mut buf: Vec<u8> = Vec::new();
        let mut held: BTreeMap<u16, Vec<Vec<u8>>> = BTreeMap::new();
        let mut chunk = vec![0_u8; 64 * 1024];
        loop {
            // Decided once per read, so that a held channel's frames leave in order.
            let is_open = *opened.borrow_and_update();
            if is_open {
                for frame in std::mem::take(&mut held).into_values().flatten() {
                    if client.write_all(&frame).await.is_err() {
                        return;
                    }
                }
            }
            let n = tokio::select! {
                read = server.read(&mut chunk) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                },
                changed = opened.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    continue;
                }
            };
            buf.extend_from_slice(&chunk[..n]);
            let mut pass = Vec::new();
            while buf.len() >= FRAME_HEADER {
                let size = u32::from_be_bytes([buf[3], buf[4], buf[5], buf[6]]) as usize;
                let total = FRAME_HEADER + size + 1;
                if buf.len() < total {
                    break;
                }
                let frame: Vec<u8> = buf.drain(..total).collect();
                let channel = u16::from_be_bytes([frame[1], frame[2]]);
                let is_ack = frame[0] == METHOD_FRAME
                    && size >= 4
                    && frame[FRAME_HEADER..FRAME_HEADER + 4] == BASIC_ACK;
                if is_open || (!is_ack && !held.contains_key(&channel)) {
                    pass.extend_from_slice(&frame);
                } else {
                    held.entry(channel).or_default().push(frame);
                }
            }
            if !held.is_empty() {
                self.max_held.send_if_modified(|max| {
                    let grew = held.len() > *max;
                    *max = (*max).max(held.len());
                    grew
                });
                if held.len() >= self.channels {
                    self.open();
                }
            }
            if client.write_all(&pass).await.is_err() {
                return;
            }
        }
    }
}
