//! [`JetStreamConfig`]: the stream to create or verify and how consumers behave.

use std::time::Duration;

/// Where a stream keeps its messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Storage {
    /// On disk: survives a server restart (default).
    #[default]
    File,
    /// In memory: lost on a server restart.
    Memory,
}

/// When a stream deletes messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retention {
    /// By limits only (age, count, size): every consumer sees every message (default).
    #[default]
    Limits,
    /// Once every consumer that is interested has acknowledged it.
    Interest,
    /// Once one consumer has acknowledged it. The server then allows only one
    /// consumer per subject: fan-out subscriptions fail; use one queue group.
    WorkQueue,
}

/// Where a new consumer starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartFrom {
    /// Messages published after the consumer was created.
    New,
    /// Every message the stream holds (default for queue groups).
    #[default]
    All,
}

/// JetStream settings of a [`NatsConfig`](crate::NatsConfig).
///
/// The stream is created at connect time when it does not exist. When it exists, its
/// storage must match (else [`ConnectError::StreamMismatch`](crate::ConnectError::StreamMismatch));
/// subjects, retention-compatible limits, duplicate window and max age are updated to
/// this configuration when they differ.
///
/// Subscriptions are pull consumers with explicit ack. With a queue group, the durable
/// consumer is named `{group}-{topic}` (characters NATS forbids become `_`): members
/// share it, it survives restarts, and one group on two topics is two consumers. Without
/// one, each subscription gets its own consumer that starts at new messages and is
/// deleted when the subscription is dropped (the server also removes it after
/// [`inactive_threshold`](Self::inactive_threshold)).
///
/// Topics starting with `_INBOX.` (reply inboxes) bypass JetStream and use core NATS.
///
/// ```
/// use std::time::Duration;
/// use tracewire_nats::{JetStreamConfig, Storage};
///
/// let js = JetStreamConfig::new("ORDERS", ["orders.>"])
///     .with_storage(Storage::File)
///     .with_duplicate_window(Duration::from_secs(120))
///     .with_max_deliver(5)
///     .with_dead_letter_topic("orders.dead");
/// assert_eq!(js.subjects, ["orders.>"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JetStreamConfig {
    /// Stream name.
    pub stream: String,
    /// Topics the stream stores (NATS wildcards allowed); the subject prefix of the
    /// [`NatsConfig`](crate::NatsConfig) is applied to each.
    pub subjects: Vec<String>,
    /// File or memory.
    pub storage: Storage,
    /// When messages are deleted.
    pub retention: Retention,
    /// Window in which a repeated `Nats-Msg-Id` is dropped as a duplicate (default 2 min).
    pub duplicate_window: Duration,
    /// Maximum message age (`Duration::ZERO`: unlimited, the default).
    pub max_age: Duration,
    /// Time the server waits for an ack before redelivering (default 30 s). A keep-alive
    /// (`+WPI`) is sent every `ack_wait / 3` while a delivery is unsettled.
    pub ack_wait: Duration,
    /// Deliveries before a message is dead-lettered (with
    /// [`dead_letter_topic`](Self::dead_letter_topic)) or terminated (default 5).
    pub max_deliver: u32,
    /// Where messages go after `max_deliver` attempts, with the reason, attempt count
    /// and original topic in headers, before being terminated.
    pub dead_letter_topic: Option<String>,
    /// Delay before a nacked message is redelivered (default zero: at once).
    pub nak_delay: Duration,
    /// Messages unacknowledged at once per consumer (default 1000).
    pub max_ack_pending: u32,
    /// Messages pulled per batch (default 256).
    pub batch: usize,
    /// Where a new durable (queue group) consumer starts (default [`StartFrom::All`]);
    /// fan-out subscriptions always start at new messages.
    pub durable_start: StartFrom,
    /// How long the server keeps a fan-out subscription's consumer without a client
    /// (default 5 min).
    pub inactive_threshold: Duration,
}

impl JetStreamConfig {
    /// Stream `stream` storing `subjects`, with the defaults listed on each field.
    pub fn new<S: Into<String>>(
        stream: impl Into<String>,
        subjects: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            stream: stream.into(),
            subjects: subjects.into_iter().map(Into::into).collect(),
            storage: Storage::File,
            retention: Retention::Limits,
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::ZERO,
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
            dead_letter_topic: None,
            nak_delay: Duration::ZERO,
            max_ack_pending: 1000,
            batch: 256,
            durable_start: StartFrom::All,
            inactive_threshold: Duration::from_secs(300),
        }
    }

    /// Sets [`Self::storage`].
    #[must_use]
    pub fn with_storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }
    /// Sets [`Self::retention`].
    #[must_use]
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }
    /// Sets [`Self::duplicate_window`].
    #[must_use]
    pub fn with_duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }
    /// Sets [`Self::max_age`].
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }
    /// Sets [`Self::ack_wait`] (at least 100 ms).
    #[must_use]
    pub fn with_ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait.max(Duration::from_millis(100));
        self
    }
    /// Sets [`Self::max_deliver`] (at least 1).
    #[must_use]
    pub fn with_max_deliver(mut self, max_deliver: u32) -> Self {
        self.max_deliver = max_deliver.max(1);
        self
    }
    /// Sets [`Self::dead_letter_topic`].
    #[must_use]
    pub fn with_dead_letter_topic(mut self, topic: impl Into<String>) -> Self {
        self.dead_letter_topic = Some(topic.into());
        self
    }
    /// Sets [`Self::nak_delay`].
    #[must_use]
    pub fn with_nak_delay(mut self, delay: Duration) -> Self {
        self.nak_delay = delay;
        self
    }
    /// Sets [`Self::max_ack_pending`] (at least 1).
    #[must_use]
    pub fn with_max_ack_pending(mut self, n: u32) -> Self {
        self.max_ack_pending = n.max(1);
        self
    }
    /// Sets [`Self::batch`] (at least 1).
    #[must_use]
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }
    /// Sets [`Self::durable_start`].
    #[must_use]
    pub fn with_durable_start(mut self, start: StartFrom) -> Self {
        self.durable_start = start;
        self
    }
    /// Sets [`Self::inactive_threshold`].
    #[must_use]
    pub fn with_inactive_threshold(mut self, threshold: Duration) -> Self {
        self.inactive_threshold = threshold;
        self
    }
}
