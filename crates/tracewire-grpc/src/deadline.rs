//! The `grpc-timeout` request header: `1*8DIGIT` followed by a unit
//! (`H`ours, `M`inutes, `S`econds, `m`illiseconds, `u`microseconds, `n`anoseconds),
//! and [`DeadlineTimer`], the one timer of a call that carries it.

use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName};
use tokio::time::Sleep;

/// The `grpc-message` of a call the layers end at its deadline.
pub(crate) const DEADLINE_MESSAGE: &str = "deadline exceeded";

/// `grpc-timeout`, as a name looked up without parsing a `&str` per call.
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// The timer that cuts a streaming response off at the call's deadline.
///
/// Built only for calls with a deadline, so calls without `grpc-timeout` cost nothing.
/// The Tokio `Sleep` is allocated at the first poll (in the task that polls the body),
/// and polled only when the body is about to return `Pending` (that registers the
/// waker, so an idle stream is woken at the deadline); while the body has frames
/// ready, the check is `Sleep::is_elapsed`, one atomic load. Outside a Tokio runtime
/// (no timer to register) it compares the clock on every poll instead.
#[derive(Debug)]
pub(crate) struct DeadlineTimer {
    at: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl DeadlineTimer {
    pub(crate) const fn new(at: Instant) -> Self {
        Self { at, sleep: None }
    }

    /// Whether the deadline has passed. With `idle` (the body has nothing ready), the
    /// timer is (re)armed to wake `cx` at the deadline.
    pub(crate) fn expired(&mut self, cx: &mut Context<'_>, idle: bool) -> bool {
        let sleep = match &mut self.sleep {
            Some(sleep) if !idle => return sleep.is_elapsed(),
            Some(sleep) => sleep,
            None => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Instant::now() >= self.at;
                }
                self.sleep
                    .insert(Box::pin(tokio::time::sleep_until(self.at.into())))
            }
        };
        sleep.as_mut().poll(cx).is_ready()
    }
}

/// The timeout a request carries, or `None` when it has none or it is malformed
/// (a malformed value is ignored, as tonic ignores it).
pub(crate) fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(GRPC_TIMEOUT)?.to_str().ok()?;
    let unit_at = raw.len().checked_sub(1)?;
    let (digits, unit) = raw.split_at(unit_at);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value * 3600),
        "M" => Duration::from_secs(value * 60),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    fn parse(value: &str) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-timeout", value.parse().unwrap());
        grpc_timeout(&headers)
    }

    #[test]
    fn units() {
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse("1S"), Some(Duration::from_secs(1)));
        assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse("99999999u"), Some(Duration::from_micros(99_999_999)));
        assert_eq!(parse("7n"), Some(Duration::from_nanos(7)));
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }

    #[test]
    fn malformed_values_are_ignored() {
        for bad in ["", "m", "123456789m", "10x", "-1S", "1.5S", "10"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_fires_at_the_deadline_and_wakes_an_idle_body() {
        let mut timer = DeadlineTimer::new(Instant::now() + Duration::from_secs(3600));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(!timer.expired(&mut cx, false), "first poll arms the timer");
        assert!(!timer.expired(&mut cx, true));
        tokio::time::advance(Duration::from_secs(3601)).await;
        assert!(timer.expired(&mut cx, true));
    }

    #[test]
    fn without_a_runtime_the_clock_is_compared() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut past = DeadlineTimer::new(Instant::now());
        assert!(past.expired(&mut cx, true));
        let mut future = DeadlineTimer::new(Instant::now() + Duration::from_secs(3600));
        assert!(!future.expired(&mut cx, false));
    }
}
