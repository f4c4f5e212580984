//! Request/reply over NATS: native requests (with "no responders"), interop with plain
//! NATS clients, headers both ways. Needs nats-server on 127.0.0.1:4222.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use tracewire_broker::request_reply::{RequestError, serve};
use tracewire_broker::{BoxError, Message};

use common::{connect, core_config, raw_client};

const WAIT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn native_request_reaches_a_tracewire_responder_with_headers() {
    let broker = connect(core_config()).await;
    let server = serve(broker.clone(), "math.double", |req: Message| async move {
        let n: u64 = std::str::from_utf8(&req.payload)?.parse()?;
        let tenant = req.headers.get("x-tenant").unwrap_or("none").to_owned();
        Ok::<_, BoxError>(
            Message::new("", (n * 2).to_string()).with_header("x-tenant-seen", tenant),
        )
    })
    .await
    .unwrap();
    let request = Message::new("math.double", "21")
        .with_header("X-Tenant", "acme")
        .with_correlation_id("conv-1");
    let reply = broker.request(request, WAIT).await.unwrap();
    assert_eq!(reply.payload, "42");
    assert_eq!(reply.headers.get("X-TENANT-SEEN"), Some("acme"));
    assert_eq!(reply.correlation_id.as_deref(), Some("conv-1"));
    server.shutdown().await;
}

#[tokio::test]
async fn native_request_without_responders_fails_fast() {
    let broker = connect(core_config()).await;
    let err = broker
        .request(Message::new("nobody.home", "x"), Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RequestError::NoResponders(ref t) if t == "nobody.home"),
        "{err:?}"
    );
}

#[tokio::test]
async fn native_request_times_out_when_the_responder_is_silent() {
    let broker = connect(core_config()).await;
    let _silent = tracewire_broker::Broker::subscribe(
        &broker,
        "silent",
        tracewire_broker::SubscribeOptions::new(),
    )
    .await
    .unwrap();
    let err = broker
        .request(Message::new("silent", "x"), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(err, RequestError::TimedOut(_)), "{err:?}");
}

#[tokio::test]
async fn handler_errors_come_back_as_remote() {
    let broker = connect(core_config()).await;
    let server = serve(broker.clone(), "always.fails", |_req: Message| async move {
        Err::<Message, BoxError>("out of stock".into())
    })
    .await
    .unwrap();
    let err = broker
        .request(Message::new("always.fails", "x"), WAIT)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RequestError::Remote(ref e) if e.contains("out of stock")),
        "{err:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_plain_nats_client_can_call_a_tracewire_responder() {
    let config = core_config();
    let subject = format!("{}.echo", config.subject_prefix.clone().unwrap());
    let broker = connect(config).await;
    let server = serve(broker.clone(), "echo", |req: Message| async move {
        Ok::<_, BoxError>(Message::new("", req.payload))
    })
    .await
    .unwrap();
    let raw = raw_client().await;
    let reply = tokio::time::timeout(WAIT, raw.request(subject, Bytes::from_static(b"ping")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.payload, "ping");
    server.shutdown().await;
}

/// The generic `Requester` (correlation id + its own reply topic) over core NATS:
/// nobody serving is `NoResponders` at once, not a timeout; with a responder it works,
/// and a topic served by a silent subscriber still times out.
#[tokio::test]
async fn generic_requester_reports_no_responders_over_core_nats() {
    use tracewire_broker::request_reply::Requester;
    use tracewire_broker::{Broker as _, SubscribeOptions};

    let broker = connect(core_config()).await;
    let requester = Requester::new(broker.clone()).await.unwrap();
    let timeout = Duration::from_secs(30);
    let started = std::time::Instant::now();
    let err = requester
        .request("nobody.home", Message::new("", "x"), timeout)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RequestError::NoResponders(ref t) if t == "nobody.home"),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "prompt, not the {timeout:?} timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(requester.pending_len(), 0);

    let server = serve(broker.clone(), "math.double", |req: Message| async move {
        let n: u64 = std::str::from_utf8(&req.payload)?.parse()?;
        Ok::<_, BoxError>(Message::new("", (n * 2).to_string()))
    })
    .await
    .unwrap();
    for n in 1..=20_u64 {
        let reply = requester
            .request("math.double", Message::new("", n.to_string()), WAIT)
            .await
            .unwrap();
        assert_eq!(reply.payload, (n * 2).to_string());
    }
    assert_eq!(requester.late_replies(), 0);

    let silent = broker
        .subscribe("silent", SubscribeOptions::new())
        .await
        .unwrap();
    let err = requester
        .request("silent", Message::new("", "x"), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, RequestError::TimedOut(_)), "{err:?}");
    assert_eq!(requester.pending_len(), 0);
    drop(silent);
    server.shutdown().await;
    broker.close().await.unwrap();
}

/// Through `Traced`, the request's `send` span says why it failed.
#[tokio::test]
async fn traced_generic_requester_reports_no_responders() {
    use std::sync::Arc;

    use opentelemetry::trace::Status;
    use tracewire_broker::request_reply::Requester;
    use tracewire_broker::trace::{Traced, Tracing};

    let capture = tracewire_testkit::SpanCapture::new();
    let tracing = Tracing::new(&capture.tracer_provider())
        .with_propagator(Arc::new(tracewire_core::TracewirePropagator::default()));
    let broker = Traced::new(connect(core_config()).await, tracing);
    let requester = Requester::new(broker.clone()).await.unwrap();
    let err = requester
        .request(
            "nobody.home",
            Message::new("", "x"),
            Duration::from_secs(30),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RequestError::NoResponders(_)), "{err:?}");
    let spans = capture.spans();
    let send = spans
        .iter()
        .find(|s| s.name == "send nobody.home")
        .expect("send span");
    assert!(
        matches!(send.status, Status::Error { .. }),
        "{:?}",
        send.status
    );
    assert!(
        send.attributes
            .iter()
            .any(|kv| kv.key.as_str() == "error.type" && kv.value.as_str() == "no_responders")
    );
}

/// `publish_request` shares one probe subscription: 1 000 requests, served and
/// unserved, a third of them dropped while waiting for their probe answer, each get
/// their own answer and leave no waiter behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_request_probes_leave_no_waiters() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::{FutureExt as _, StreamExt as _};
    use tracewire_broker::{Broker as _, Responders, SubscribeOptions};

    let broker = connect(core_config()).await;
    let served = broker
        .subscribe("probe.served", SubscribeOptions::new())
        .await
        .unwrap();
    broker.flush().await.unwrap();
    let cancelled = AtomicUsize::new(0);
    let run = futures_util::stream::iter(0..1_000_usize)
        .map(|i| {
            let broker = broker.clone();
            let cancelled = &cancelled;
            async move {
                let served = i % 2 == 0;
                let topic = if served {
                    "probe.served"
                } else {
                    "probe.nobody"
                };
                let request = broker.publish_request(
                    Message::new(topic, i.to_string()).with_reply_to("probe.replies"),
                );
                if i % 3 == 0 {
                    // Polled once (its waiter registered), then dropped.
                    if request.now_or_never().is_none() {
                        cancelled.fetch_add(1, Ordering::Relaxed);
                    }
                    return;
                }
                let expected = if served {
                    Responders::Present
                } else {
                    Responders::Absent
                };
                assert_eq!(request.await.unwrap(), expected, "request {i} to {topic}");
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>();
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("1 000 probed requests within 30 s");
    assert!(
        cancelled.load(Ordering::Relaxed) > 0,
        "some requests were dropped while waiting"
    );
    assert_eq!(broker.pending_probes(), 0);
    // The cancelled requests' answers arrive later and find no waiter.
    broker.flush().await.unwrap();
    assert_eq!(broker.pending_probes(), 0);
    drop(served);
    broker.close().await.unwrap();
}
