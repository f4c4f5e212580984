//! `Broker::publish_request` over RabbitMQ: `mandatory` publishes, `basic.return`
//! before the confirm, so the generic `Requester` fails fast with `NoResponders`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::trace::Status;
use tracewire_broker::request_reply::{RequestError, Requester, serve};
use tracewire_broker::trace::{Traced, Tracing};
use tracewire_broker::{BoxError, Broker, Message, Responders, SubscribeOptions};

const WAIT: Duration = Duration::from_secs(10);

/// Nobody serving is `NoResponders` at once, not a timeout; with a responder 20
/// requests are answered; a bound subscriber that never answers still times out;
/// nothing is left pending.
#[tokio::test]
async fn generic_requester_reports_no_responders_over_rabbitmq() {
    let config = common::config("norsp");
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    let requester = Requester::new(broker.clone()).await.unwrap();
    let timeout = Duration::from_secs(30);
    let started = Instant::now();
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
    drop(requester);
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}

/// Requests in parallel, half to a bound topic and half to an unbound one, each get
/// their own answer (a returned message is never credited to another request), and
/// plain publishes alongside them still succeed for an unbound topic (no `mandatory`):
/// with the default pool of request channels, with two (each channel reused for many
/// requests) and with one (the requests in turn).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_requests_each_get_their_own_answer() {
    for channels in [tracewire_amqp::DEFAULT_REQUEST_CHANNELS, 2, 1] {
        parallel_requests(channels).await;
    }
}

async fn parallel_requests(channels: u16) {
    let config = common::config("norsp-par").request_channels(channels);
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    let bound = broker
        .subscribe("bound", SubscribeOptions::new())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..60_usize {
        let broker = broker.clone();
        tasks.push(tokio::spawn(async move {
            let (topic, expected) = match i % 3 {
                0 => ("bound", Some(Responders::Present)),
                1 => ("unbound", Some(Responders::Absent)),
                _ => ("unbound", None),
            };
            let mut msg = Message::new(topic, i.to_string());
            msg.reply_to = Some("replies".to_owned());
            let got = match expected {
                Some(_) => Some(broker.publish_request(msg).await.unwrap()),
                None => {
                    broker.publish(msg).await.unwrap();
                    None
                }
            };
            (i, got, expected)
        }));
    }
    for task in tasks {
        let (i, got, expected) = tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
        assert_eq!(got, expected, "message {i}, {channels} request channels");
    }
    let open = broker.open_request_channels();
    assert!(
        (1..=usize::from(channels)).contains(&open),
        "{open} of at most {channels} request channels open"
    );
    drop(bound);
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}

/// Requests abandoned at various points (their futures dropped) do not confuse the
/// answers of the requests after them.
#[tokio::test]
async fn abandoned_requests_leave_later_answers_right() {
    let config = common::config("norsp-cancel");
    let exchange = config.exchange_name().to_owned();
    let broker = common::connect(config).await;
    let bound = broker
        .subscribe("bound", SubscribeOptions::new())
        .await
        .unwrap();
    for micros in [0_u64, 50, 100, 200, 400, 800, 1_600, 3_200] {
        let abandoned = broker.publish_request(Message::new("unbound", "gone"));
        let _ = tokio::time::timeout(Duration::from_micros(micros), abandoned).await;
        let present = broker
            .publish_request(Message::new("bound", "x"))
            .await
            .unwrap();
        assert_eq!(
            present,
            Responders::Present,
            "after abandoning at {micros} us"
        );
        let absent = broker
            .publish_request(Message::new("unbound", "y"))
            .await
            .unwrap();
        assert_eq!(
            absent,
            Responders::Absent,
            "after abandoning at {micros} us"
        );
    }
    drop(bound);
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}

/// Through `Traced`, the request's `send` span says why it failed.
#[tokio::test]
async fn traced_requester_marks_the_send_span_no_responders() {
    let config = common::config("norsp-trace");
    let exchange = config.exchange_name().to_owned();
    let capture = tracewire_testkit::SpanCapture::new();
    let tracing = Tracing::new(&capture.tracer_provider())
        .with_propagator(Arc::new(tracewire_core::TracewirePropagator::default()));
    let broker = Traced::new(common::connect(config).await, tracing);
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
            .any(|kv| kv.key.as_str() == "error.type" && kv.value.as_str() == "no_responders"),
        "{:?}",
        send.attributes
    );
    drop(requester);
    broker.close().await.unwrap();
    common::delete_exchanges(&exchange).await;
}
