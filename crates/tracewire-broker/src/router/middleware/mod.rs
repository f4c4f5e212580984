//! The middleware that ships with the router, one concept per file.

mod correlation;
mod dead_letter;
mod dedup;
mod recover;
mod retry;
mod timeout;

pub use correlation::CorrelationId;
pub use dead_letter::{
    DLQ_ATTEMPTS_HEADER, DLQ_ERROR_HEADER, DLQ_ERROR_KIND_HEADER, DLQ_TOPIC_HEADER, DeadLetter,
    dead_letter_message,
};
pub use dedup::Deduplicate;
pub use recover::Recover;
pub use retry::Retry;
pub use timeout::Timeout;
