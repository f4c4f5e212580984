//! Native NATS request/reply: one round trip over the client's shared inbox, with the
//! server's "no responders" status reported as such.

use std::time::Duration;

use async_nats::client::{PublishErrorKind, RequestErrorKind};
use tracewire_broker::request_reply::{ERROR_HEADER, RequestError};
use tracewire_broker::{Message, PublishError, Responders};

use crate::broker::{Inner, backend};
use crate::codec::{decode, encode};
use crate::{NatsBroker, NatsError};

impl Inner {
    /// [`Broker::publish_request`](tracewire_broker::Broker::publish_request) for
    /// [`NatsBroker`]: see its docs there.
    pub(crate) async fn publish_request(&self, msg: Message) -> Result<Responders, PublishError> {
        if msg.reply_to.is_none() || self.stored(&msg.topic).is_some() {
            self.publish_inner(msg, false).await?;
            return Ok(Responders::Unknown);
        }
        if self.is_closed() {
            return Err(PublishError::Closed);
        }
        let subject = match self.subject(&msg.topic) {
            Some(s) if !s.contains(['*', '>']) => s,
            _ => return Err(PublishError::InvalidTopic(msg.topic)),
        };
        let headers = encode(&msg, None).map_err(backend)?;
        let timeout = self.config.request_timeout;
        let exchange = async {
            // Registered before the publish: the answer may come before it returns.
            let mut waiter = self
                .probes
                .register(&self.client, &self.close_tx)
                .await
                .map_err(backend)?;
            let sent = self
                .client
                .publish_with_reply_and_headers(
                    subject,
                    waiter.subject.clone(),
                    headers,
                    msg.payload,
                )
                .await;
            if let Err(err) = sent {
                return Err(backend(match err.kind() {
                    PublishErrorKind::MaxPayloadExceeded => NatsError::TooLarge,
                    _ => NatsError::client(err),
                }));
            }
            self.client
                .publish(waiter.subject.clone(), bytes::Bytes::new())
                .await
                .map_err(|e| backend(NatsError::client(e)))?;
            waiter.answer().await.ok_or_else(|| {
                backend(NatsError::client(
                    "connection closed while publishing a request",
                ))
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(backend(NatsError::timed_out("request publish", timeout))))
    }
}

impl NatsBroker {
    /// Sends `msg` to `msg.topic` as a core NATS request and waits up to `timeout` for
    /// the reply, with every message field and header carried both ways.
    ///
    /// Unlike the generic [`Requester`](tracewire_broker::request_reply::Requester),
    /// which works on every broker and is traced when the broker is
    /// [`Traced`](tracewire_broker::trace::Traced), this fails fast with
    /// [`RequestError::NoResponders`] when nobody subscribes (the server's 503 status),
    /// and needs no reply subscription. It creates no spans: inject a context into
    /// `msg.headers` to propagate one. The request goes through core NATS even in
    /// JetStream mode, so its topic must not be stored by the stream (the stream's
    /// PubAck would answer it). Responders built with
    /// [`serve`](tracewire_broker::request_reply::serve) answer it, and a reply with the
    /// error header becomes [`RequestError::Remote`].
    ///
    /// Cancel-safety: dropping the future abandons the request; a late reply is
    /// discarded by the client.
    pub async fn request(&self, msg: Message, timeout: Duration) -> Result<Message, RequestError> {
        let inner = &self.inner;
        if inner.is_closed() {
            return Err(RequestError::Closed);
        }
        let topic = msg.topic.clone();
        let subject = match inner.subject(&topic) {
            Some(s) if !s.contains(['*', '>']) => s,
            _ => {
                return Err(RequestError::Publish(
                    tracewire_broker::PublishError::InvalidTopic(topic),
                ));
            }
        };
        let headers = encode(&msg, None).map_err(|e| RequestError::Publish(backend(e)))?;
        let request = async_nats::Request::new()
            .headers(headers)
            .payload(msg.payload)
            .timeout(Some(timeout));
        let send = inner.client.send_request(subject, request);
        // The client's own timeout answers first; this bound covers a stuck send.
        let reply = match tokio::time::timeout(timeout + Duration::from_millis(100), send).await {
            Err(_) => return Err(RequestError::TimedOut(timeout)),
            Ok(Ok(reply)) => reply,
            Ok(Err(err)) => {
                return Err(match err.kind() {
                    RequestErrorKind::NoResponders => RequestError::NoResponders(topic),
                    RequestErrorKind::TimedOut => RequestError::TimedOut(timeout),
                    _ => RequestError::Publish(backend(NatsError::client(err))),
                });
            }
        };
        let reply_topic = inner.topic_of(&reply.subject);
        let reply = match decode(reply_topic, reply.headers.as_ref(), reply.payload, None) {
            Ok(m) => m,
            Err(bad) => bad.0,
        };
        match reply.headers.get(ERROR_HEADER) {
            Some(error) => Err(RequestError::Remote(error.to_owned())),
            None => Ok(reply),
        }
    }
}
