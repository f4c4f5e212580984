//! The request deadline in a header: [`DEADLINE_HEADER`] and [`deadline`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Message;

/// Header carrying a request's deadline from the requester to the responder: the
/// wall-clock instant after which nobody waits for the reply, as **milliseconds since
/// the Unix epoch** (UTC), in decimal (`1767225600000`).
///
/// [`Requester::request`](super::Requester::request) sets it to now + timeout (or keeps
/// an earlier deadline already on the message); [`serve`](super::serve) skips, counts
/// and does not answer a request whose deadline has passed. Requester and responder
/// compare wall clocks, so their clocks must agree to within the precision you need.
pub const DEADLINE_HEADER: &str = "tracewire-deadline";

/// The deadline carried by `msg` ([`DEADLINE_HEADER`]); `None` when absent or not a
/// number of milliseconds. A handler can use it to bound its own work, or copy it onto
/// a downstream request to propagate it.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use tracewire_broker::Message;
/// use tracewire_broker::request_reply::{DEADLINE_HEADER, deadline};
///
/// let msg = Message::new("t", "").with_header(DEADLINE_HEADER, "1767225600000");
/// assert_eq!(deadline(&msg), Some(UNIX_EPOCH + Duration::from_millis(1_767_225_600_000)));
/// assert_eq!(deadline(&Message::new("t", "")), None);
/// ```
pub fn deadline(msg: &Message) -> Option<SystemTime> {
    let millis: u64 = msg.headers.get(DEADLINE_HEADER)?.trim().parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::from_millis(millis))
}

/// `at` as the [`DEADLINE_HEADER`] value: whole milliseconds, rounded up (the deadline
/// never moves earlier than asked, and at most one millisecond later).
pub(super) fn format_deadline(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let millis = since.as_nanos().div_ceil(1_000_000);
    u64::try_from(millis).unwrap_or(u64::MAX).to_string()
}

/// Whether `msg`'s deadline has passed at `now`.
pub(super) fn expired(msg: &Message, now: SystemTime) -> bool {
    deadline(msg).is_some_and(|due| due <= now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let with = |v: &str| Message::new("t", "").with_header(DEADLINE_HEADER, v);
        let at = UNIX_EPOCH + Duration::from_millis(1_500);
        for (value, want, why) in [
            ("1500", Some(at), "plain millis"),
            (" 1500 ", Some(at), "surrounding whitespace"),
            ("-1", None, "negative"),
            ("1.5", None, "fraction"),
            ("2026-01-01T00:00:00Z", None, "RFC 3339 is not the format"),
            ("", None, "empty"),
        ] {
            assert_eq!(deadline(&with(value)), want, "{why}");
        }
    }

    #[test]
    fn formats_round_trip_and_expire() {
        let at = UNIX_EPOCH + Duration::from_micros(1_500_001);
        let msg = Message::new("t", "").with_header(DEADLINE_HEADER, format_deadline(at));
        assert_eq!(
            deadline(&msg),
            Some(UNIX_EPOCH + Duration::from_millis(1_501))
        );
        assert!(!expired(&msg, at));
        assert!(expired(&msg, UNIX_EPOCH + Duration::from_millis(1_501)));
        assert!(!expired(&Message::new("t", ""), SystemTime::now()));
    }
}
