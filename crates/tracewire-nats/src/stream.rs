//! Creating or verifying the JetStream stream of a [`JetStreamConfig`].

use async_nats::jetstream::{self, stream};

use crate::{ConnectError, JetStreamConfig, NatsConfig, Retention, Storage};

fn storage(s: Storage) -> stream::StorageType {
    match s {
        Storage::File => stream::StorageType::File,
        Storage::Memory => stream::StorageType::Memory,
    }
}

fn retention(r: Retention) -> stream::RetentionPolicy {
    match r {
        Retention::Limits => stream::RetentionPolicy::Limits,
        Retention::Interest => stream::RetentionPolicy::Interest,
        Retention::WorkQueue => stream::RetentionPolicy::WorkQueue,
    }
}

/// The stream configuration `js` asks for (subjects prefixed like topics).
pub(crate) fn stream_config(js: &JetStreamConfig, config: &NatsConfig) -> stream::Config {
    let subjects = js
        .subjects
        .iter()
        .map(|s| match &config.subject_prefix {
            Some(prefix) => format!("{prefix}.{s}"),
            None => s.clone(),
        })
        .collect();
    stream::Config {
        name: js.stream.clone(),
        subjects,
        storage: storage(js.storage),
        retention: retention(js.retention),
        duplicate_window: js.duplicate_window,
        max_age: js.max_age,
        ..Default::default()
    }
}

/// Creates the stream, or verifies an existing one (storage and retention must match;
/// subjects, duplicate window and max age are updated when they differ).
/// Every API call is bounded by the JetStream context's timeout (`request_timeout`).
pub(crate) async fn ensure(
    context: &jetstream::Context,
    js: &JetStreamConfig,
    config: &NatsConfig,
) -> Result<stream::Stream, ConnectError> {
    let wanted = stream_config(js, config);
    let api_error = |source: async_nats::Error| ConnectError::Stream {
        stream: js.stream.clone(),
        source,
    };
    if js.stream.is_empty() || js.stream.contains(['.', '*', '>', ' ']) {
        return Err(ConnectError::InvalidConfig(format!(
            "stream name {:?} is empty or contains . * > or a space",
            js.stream
        )));
    }
    let mut stream = context
        .get_or_create_stream(wanted.clone())
        .await
        .map_err(|e| api_error(Box::new(e)))?;
    let found = stream
        .info()
        .await
        .map_err(|e| api_error(Box::new(e)))?
        .config
        .clone();
    let mismatch =
        |field: &'static str, configured: String, found: String| ConnectError::StreamMismatch {
            stream: js.stream.clone(),
            field,
            configured,
            found,
        };
    if found.storage != wanted.storage {
        return Err(mismatch(
            "storage",
            format!("{:?}", wanted.storage),
            format!("{:?}", found.storage),
        ));
    }
    if found.retention != wanted.retention {
        return Err(mismatch(
            "retention",
            format!("{:?}", wanted.retention),
            format!("{:?}", found.retention),
        ));
    }
    let mut subjects = found.subjects.clone();
    subjects.sort();
    let mut want_subjects = wanted.subjects.clone();
    want_subjects.sort();
    if subjects != want_subjects
        || found.duplicate_window != wanted.duplicate_window
        || found.max_age != wanted.max_age
    {
        let update = stream::Config {
            subjects: wanted.subjects,
            duplicate_window: wanted.duplicate_window,
            max_age: wanted.max_age,
            ..found
        };
        tracing::info!(target: "tracewire_nats", stream = %js.stream, "updating JetStream stream to the configuration");
        context
            .update_stream(update)
            .await
            .map_err(|e| api_error(Box::new(e)))?;
        stream = context
            .get_stream(&js.stream)
            .await
            .map_err(|e| api_error(Box::new(e)))?;
    }
    Ok(stream)
}
