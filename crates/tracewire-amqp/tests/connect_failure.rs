//! A connect that fails or times out leaves nothing behind: a typed error within the
//! connect timeout, no lapin IO thread still dialling, no socket left open, and the
//! runtime shuts down without a panic (lapin's IO thread used to keep retrying on the
//! runtime after the timeout, and panicked once it was shut down).
//!
//! No RabbitMQ needed: a closed port and a listener that accepts and never answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read as _;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError, mpsc};
use std::time::{Duration, Instant};

use tracewire_amqp::{AmqpBroker, AmqpConfig, AmqpError};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Scheduling slack on a loaded machine, on top of the connect timeout.
const SLACK: Duration = Duration::from_secs(3);

/// Panics on any thread of this test binary since the hook was installed.
static PANICS: AtomicUsize = AtomicUsize::new(0);
/// The tests count lapin IO threads process-wide, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Threads of this process named like lapin's IO loop (Linux: `/proc/self/task/*/comm`).
fn io_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim() == "lapin-io-loop")
        })
        .count()
}

/// Waits (bounded) until no lapin IO thread is left; returns how many remain.
fn io_threads_settled() -> usize {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let n = io_threads();
        if n == 0 || Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn config(port: u16) -> AmqpConfig {
    AmqpConfig::new(format!("amqp://guest:guest@127.0.0.1:{port}/%2f"))
        .connect_timeout(CONNECT_TIMEOUT)
}

/// Connects on a runtime of its own; asserts the error is typed and in time, that no IO
/// thread is left, and that shutting the runtime down (then waiting past lapin's old
/// retry delays) panics nowhere.
fn connect_fails_cleanly(port: u16, after_error: impl FnOnce()) {
    let panics_before = PANICS.load(Ordering::SeqCst);
    let rt = runtime();
    let started = Instant::now();
    let result = rt.block_on(AmqpBroker::connect(config(port)));
    let elapsed = started.elapsed();
    let err = result.expect_err("nothing speaks AMQP there");
    assert!(
        matches!(
            err,
            AmqpError::TimedOut {
                operation: "connect",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        elapsed < CONNECT_TIMEOUT + SLACK,
        "the error came after {elapsed:?}"
    );
    assert_eq!(
        io_threads_settled(),
        0,
        "a lapin IO thread is still running"
    );
    // lapin itself leaves two idle tasks on the runtime after a failed first connection
    // (its internal RPC loop and a pending close: its IO thread ends without stopping
    // them). They hold no socket and no timer, and go away with the runtime, as the
    // shutdown below checks; that part is lapin's to fix.
    after_error();
    rt.shutdown_timeout(Duration::from_secs(5));
    // lapin used to retry every 100 ms to 2 s; anything left would hit the dead runtime.
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(io_threads(), 0, "a lapin IO thread outlived the runtime");
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        panics_before,
        "a thread panicked after the failed connect"
    );
}

#[test]
fn closed_port_times_out_and_leaves_nothing() {
    let _serial = serial();
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    connect_fails_cleanly(port, || {});
}

#[test]
fn silent_server_times_out_and_its_connection_is_closed() {
    let _serial = serial();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (closed_tx, closed_rx) = mpsc::channel();
    // Accepts one connection, reads (the protocol header) and never answers; reports
    // when the client closes it.
    let server = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut buf = [0_u8; 256];
        let outcome = loop {
            match socket.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break Ok(()),
                Err(e) => break Err(e.kind()),
            }
        };
        let _ = closed_tx.send(outcome);
    });
    connect_fails_cleanly(port, || {
        let outcome = closed_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the silent server saw its connection closed after the timeout");
        assert_eq!(outcome, Ok(()), "the connection was closed, not timed out");
    });
    server.join().unwrap();
}
