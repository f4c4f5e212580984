//! Helpers for the tests that run `tracewire` as processes against the local brokers:
//! bounded runs, `serve` processes killed on drop, plain HTTP/1.1 over loopback, and the
//! OTLP JSON files the services export.
#![allow(dead_code, unreachable_pub, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tracewire_contracts::{Order, OrderStatus, PlaceOrder};
use tracewire_telemetry::tree::SpanRecord;

pub const NATS: &str = "nats://127.0.0.1:4222";
pub const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// What a test needs from the machine, named in every failure.
pub const NEEDS: &str = "needs nats-server with JetStream on 127.0.0.1:4222 and RabbitMQ (guest/guest) on 127.0.0.1:5672";

/// A prefix of this test run's own, so runs and tests never share streams or queues.
pub fn unique_prefix(base: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{base}-{:x}-{nanos:x}", std::process::id())
}

pub fn tracewire() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tracewire"));
    for var in [
        "OTEL_PROPAGATORS",
        "OTEL_TRACES_EXPORTER",
        "OTEL_SERVICE_NAME",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "TRACEWIRE_BROKER",
        "TRACEWIRE_BROKER_PREFIX",
        "NATS_SUBJECT_PREFIX",
        "NATS_URL",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `cmd` to the end, killing it after `limit`. Returns (status, stdout, stderr).
pub fn run_bounded(mut cmd: Command, limit: Duration) -> (ExitStatus, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tracewire binary starts");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let Some(status) = wait_bounded(&mut child, limit) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{cmd:?} did not finish within {limit:?}\nstderr:\n{}",
            err.join().unwrap_or_default()
        )
    };
    (
        status,
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    )
}

fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// One `tracewire serve` process; killed (SIGKILL) when dropped.
pub struct Service {
    pub name: &'static str,
    pub addr: SocketAddr,
    child: Child,
    stderr_file: PathBuf,
}

/// What every service of one system shares.
pub struct System {
    pub dir: PathBuf,
    pub broker: String,
    pub prefix: String,
}

impl System {
    /// Starts `tracewire serve {name}` with its database `{dir}/{name}.db` and OTLP file
    /// export to `{dir}/{name}-{incarnation}.jsonl`; waits for its `listening on` line.
    pub fn start(&self, name: &'static str, incarnation: u32, extra: &[&str]) -> Service {
        self.start_with_env(name, incarnation, extra, &[])
    }

    /// [`Self::start`] with environment variables set after (so over) the defaults.
    pub fn start_with_env(
        &self,
        name: &'static str,
        incarnation: u32,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Service {
        let db = self.dir.join(format!("{name}.db"));
        let traces = self.traces_file(name, incarnation);
        let stderr_file = self.dir.join(format!("{name}-{incarnation}.stderr"));
        let mut cmd = tracewire();
        cmd.args(["serve", name, "--broker", &self.broker])
            .args(["--broker-prefix", &self.prefix, "--listen", "127.0.0.1:0"])
            .arg("--db")
            .arg(&db)
            .args(extra)
            .env("OTEL_TRACES_EXPORTER", "file")
            .env("TRACEWIRE_TRACES_FILE", &traces)
            .env("OTEL_METRICS_EXPORTER", "none")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_file).expect("stderr file"));
        let mut child = cmd.spawn().expect("tracewire serve starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut service = Service {
            name,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            child,
            stderr_file,
        };
        let marker = format!("{name} listening on http://");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix(&marker) {
                        service.addr = addr.trim().parse().expect("a socket address");
                        return service;
                    }
                }
                Err(_) => panic!(
                    "{name} printed no `{marker}…` line within 30 s ({NEEDS})\nstderr:\n{}",
                    service.stderr()
                ),
            }
        }
    }

    pub fn traces_file(&self, name: &str, incarnation: u32) -> PathBuf {
        self.dir.join(format!("{name}-{incarnation}.jsonl"))
    }

    /// Every span in every `*.jsonl` file of the system.
    pub fn spans(&self) -> Vec<SpanRecord> {
        let mut records = Vec::new();
        for entry in std::fs::read_dir(&self.dir).expect("temp dir") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "jsonl") {
                records.extend(read_spans(&path));
            }
        }
        records
    }
}

pub fn read_spans(path: &Path) -> Vec<SpanRecord> {
    let file = std::fs::File::open(path).expect("traces file");
    tracewire_telemetry::file::read_otlp_json_lines(BufReader::new(file))
        .unwrap_or_else(|e| panic!("{} is not OTLP JSON lines: {e}", path.display()))
}

impl Service {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_file).unwrap_or_default()
    }

    /// SIGTERM, then waits (bounded) for a clean exit: spans flushed, broker drained.
    pub fn terminate(self) {
        self.terminate_and_stderr();
    }

    /// [`Self::terminate`], then what the process wrote to stderr.
    pub fn terminate_and_stderr(mut self) -> String {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid}");
        let status = wait_bounded(&mut self.child, Duration::from_secs(30));
        match status {
            Some(status) => assert!(
                status.success(),
                "{} exited with {status} after SIGTERM\nstderr:\n{}",
                self.name,
                self.stderr()
            ),
            None => panic!(
                "{} did not stop within 30 s of SIGTERM\nstderr:\n{}",
                self.name,
                self.stderr()
            ),
        }
        self.stderr()
    }

    /// SIGKILL: no clean-up at all, as a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 request (no trace headers: the order service starts the trace).
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// `POST /orders`; the created order.
pub fn place(order: SocketAddr, request: &PlaceOrder) -> Order {
    let body = serde_json::to_string(request).expect("json");
    let (status, body) = http(order, "POST", "/orders", &body);
    assert_eq!(status, 201, "POST /orders: {body}");
    serde_json::from_str(&body).expect("an order")
}

/// Polls `GET /orders/{id}` until the order is final (or `limit` passes).
pub fn wait_final(order: SocketAddr, id: &str, limit: Duration) -> Order {
    let deadline = Instant::now() + limit;
    loop {
        let (status, body) = http(order, "GET", &format!("/orders/{id}"), "");
        assert_eq!(status, 200, "GET /orders/{id}: {body}");
        let found: Order = serde_json::from_str(&body).expect("an order");
        if found.status.is_final() || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The three orders of the demo: two within payment's limit, one above.
pub fn orders() -> Vec<PlaceOrder> {
    let line = |sku: &str, quantity| tracewire_contracts::LineItem {
        sku: sku.into(),
        quantity,
    };
    vec![
        PlaceOrder {
            customer: "ada".into(),
            items: vec![line("book", 2)],
        },
        PlaceOrder {
            customer: "grace".into(),
            items: vec![line("lamp", 1), line("book", 1)],
        },
        PlaceOrder {
            customer: "linus".into(),
            items: vec![line("desk", 2)],
        },
    ]
}

/// The status `orders()[n]` ends in.
pub fn expected(n: usize) -> OrderStatus {
    if n % 3 == 2 {
        OrderStatus::Cancelled
    } else {
        OrderStatus::Confirmed
    }
}

/// Asserts that every span naming `order_id` (`app.order.id`) is in one trace, that this
/// trace has spans of each of `services`, and that no span of it lost its parent.
pub fn assert_one_connected_trace(spans: &[SpanRecord], order_id: &str, services: &[&str]) {
    use std::collections::{BTreeSet, HashSet};
    let traces: HashSet<_> = spans
        .iter()
        .filter(|s| {
            s.attributes
                .iter()
                .any(|(k, v)| k == "app.order.id" && v == order_id)
        })
        .map(|s| s.trace_id)
        .collect();
    assert_eq!(traces.len(), 1, "order {order_id} is in {traces:?}");
    let trace = *traces.iter().next().expect("one");
    let of_trace: Vec<&SpanRecord> = spans.iter().filter(|s| s.trace_id == trace).collect();
    let ids: HashSet<_> = of_trace.iter().map(|s| s.span_id).collect();
    let orphans: Vec<String> = of_trace
        .iter()
        .filter(|s| s.has_parent() && !ids.contains(&s.parent_span_id))
        .map(|s| format!("[{}] {}", s.service_name.as_deref().unwrap_or("?"), s.name))
        .collect();
    assert!(orphans.is_empty(), "order {order_id}: orphans {orphans:?}");
    let roots = of_trace.iter().filter(|s| !s.has_parent()).count();
    assert_eq!(roots, 1, "order {order_id}: one root span");
    let found: BTreeSet<&str> = of_trace
        .iter()
        .filter_map(|s| s.service_name.as_deref())
        .collect();
    for service in services {
        assert!(
            found.contains(service),
            "order {order_id}: no span of {service} in its trace (found {found:?})"
        );
    }
}

/// Deletes the JetStream stream it names when dropped (the services of a test create it
/// durable, on file), even when the test failed.
#[cfg(feature = "nats")]
pub struct StreamGuard(pub String);

#[cfg(feature = "nats")]
impl Drop for StreamGuard {
    fn drop(&mut self) {
        let stream = self.0.clone();
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            if let Ok(client) = async_nats::connect("127.0.0.1:4222").await {
                let js = async_nats::jetstream::new(client);
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), js.delete_stream(&stream)).await;
            }
        });
    }
}
