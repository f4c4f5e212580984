//! The environment variables of [`AmqpConfig::from_env`] beyond the URL: the
//! [`ReconnectPolicy`], the number of request channels, and [`EnvError`] for a value
//! that does not parse.

use std::time::Duration;

use crate::{AmqpConfig, MAX_REQUEST_CHANNELS, ReconnectPolicy};

/// How long to keep reconnecting before giving up
/// ([`ReconnectPolicy::give_up_after`]): a duration, or `never` (the default).
pub const RECONNECT_GIVE_UP_ENV: &str = "TRACEWIRE_AMQP_RECONNECT_GIVE_UP";
/// The pause after the first failed reconnection attempt
/// ([`ReconnectPolicy::min_delay`], default 100 ms).
pub const RECONNECT_MIN_DELAY_ENV: &str = "TRACEWIRE_AMQP_RECONNECT_MIN_DELAY";
/// The longest pause between two reconnection attempts
/// ([`ReconnectPolicy::max_delay`], default 10 s).
pub const RECONNECT_MAX_DELAY_ENV: &str = "TRACEWIRE_AMQP_RECONNECT_MAX_DELAY";

/// The most request channels per connection ([`AmqpConfig::request_channels`]): a
/// whole number from 1 to [`MAX_REQUEST_CHANNELS`] (default 8).
pub const REQUEST_CHANNELS_ENV: &str = "TRACEWIRE_AMQP_REQUEST_CHANNELS";

/// What [`REQUEST_CHANNELS_ENV`] accepts (the bound is [`MAX_REQUEST_CHANNELS`]).
const CHANNEL_COUNT: &str = "a whole number from 1 to 256";

/// What a duration variable accepts.
const DURATION: &str = "a whole number with a unit: ms, s, m or h (`500ms`, `30s`, `5m`)";
/// What [`RECONNECT_GIVE_UP_ENV`] accepts.
const DURATION_OR_NEVER: &str =
    "a whole number with a unit: ms, s, m or h (`500ms`, `30s`, `5m`), or `never`";

/// A variable read by [`AmqpConfig::from_env`] holds a value it cannot use. None of
/// these variables holds a secret, so the value is shown.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// The value does not parse.
    #[error("{var}={value:?}: expected {expected}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What it accepts.
        expected: &'static str,
    },
    /// Zero (a duration, or the number of request channels) where only more makes sense.
    #[error("{var}={value:?}: must be more than zero")]
    Zero {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// The first pause is longer than the longest (one of them may be the default).
    #[error(
        "{RECONNECT_MIN_DELAY_ENV} ({min:?}) is longer than {RECONNECT_MAX_DELAY_ENV} ({max:?})"
    )]
    DelaysOutOfOrder {
        /// The first pause.
        min: Duration,
        /// The longest pause.
        max: Duration,
    },
}

/// Parses `500ms`, `30s`, `5m`, `1h` (surrounding blanks ignored, unit in any case).
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim().to_ascii_lowercase();
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(digits);
    let n: u64 = number.parse().ok()?;
    match unit.trim_start() {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

/// A positive duration from `var`, if set (blank counts as unset).
fn duration(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    allow_never: bool,
) -> Result<Option<Option<Duration>>, EnvError> {
    let Some(value) = lookup(var).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    if allow_never && value.trim().eq_ignore_ascii_case("never") {
        return Ok(Some(None));
    }
    let expected = if allow_never {
        DURATION_OR_NEVER
    } else {
        DURATION
    };
    match parse_duration(&value) {
        None => Err(EnvError::Invalid {
            var,
            value,
            expected,
        }),
        Some(d) if d.is_zero() => Err(EnvError::Zero { var, value }),
        Some(d) => Ok(Some(Some(d))),
    }
}

/// The number of request channels from [`REQUEST_CHANNELS_ENV`], if set (blank counts
/// as unset).
fn request_channels(lookup: &impl Fn(&str) -> Option<String>) -> Result<Option<u16>, EnvError> {
    let var = REQUEST_CHANNELS_ENV;
    let Some(value) = lookup(var).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    match value.trim().parse::<u16>() {
        Ok(0) => Err(EnvError::Zero { var, value }),
        Ok(n) if n <= MAX_REQUEST_CHANNELS => Ok(Some(n)),
        _ => Err(EnvError::Invalid {
            var,
            value,
            expected: CHANNEL_COUNT,
        }),
    }
}

/// The reconnect policy: `policy` with what the variables set.
pub(crate) fn reconnect_policy(
    lookup: &impl Fn(&str) -> Option<String>,
    mut policy: ReconnectPolicy,
) -> Result<ReconnectPolicy, EnvError> {
    if let Some(give_up) = duration(lookup, RECONNECT_GIVE_UP_ENV, true)? {
        policy.give_up_after = give_up;
    }
    if let Some(Some(min)) = duration(lookup, RECONNECT_MIN_DELAY_ENV, false)? {
        policy.min_delay = min;
    }
    if let Some(Some(max)) = duration(lookup, RECONNECT_MAX_DELAY_ENV, false)? {
        policy.max_delay = max;
    }
    if policy.min_delay > policy.max_delay {
        return Err(EnvError::DelaysOutOfOrder {
            min: policy.min_delay,
            max: policy.max_delay,
        });
    }
    Ok(policy)
}

impl AmqpConfig {
    /// Settings from the process environment; see [`from_env_with`](Self::from_env_with).
    ///
    /// # Errors
    ///
    /// [`EnvError`] for a variable whose value cannot be used.
    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_env_with(|var| std::env::var(var).ok())
    }

    /// Settings from variables read through `lookup` (the environment in
    /// [`from_env`](Self::from_env); a function, so tests need not touch the process
    /// environment); every other field at its default. A blank value counts as unset.
    ///
    /// | variable | setting |
    /// |---|---|
    /// | `AMQP_URL`, else `RABBITMQ_URL` ([`URL_ENV_VARS`](crate::URL_ENV_VARS)) | the URL (default [`DEFAULT_URL`](crate::DEFAULT_URL)) |
    /// | [`TRACEWIRE_AMQP_RECONNECT_GIVE_UP`](RECONNECT_GIVE_UP_ENV) | [`ReconnectPolicy::give_up_after`]: a duration, or `never` (default) |
    /// | [`TRACEWIRE_AMQP_RECONNECT_MIN_DELAY`](RECONNECT_MIN_DELAY_ENV) | [`ReconnectPolicy::min_delay`] (default 100 ms) |
    /// | [`TRACEWIRE_AMQP_RECONNECT_MAX_DELAY`](RECONNECT_MAX_DELAY_ENV) | [`ReconnectPolicy::max_delay`] (default 10 s) |
    /// | [`TRACEWIRE_AMQP_REQUEST_CHANNELS`](REQUEST_CHANNELS_ENV) | [`request_channels`](Self::request_channels): 1 to 256 (default 8) |
    ///
    /// A duration is a whole number and a unit: `ms`, `s`, `m` or `h` (`250ms`, `30s`,
    /// `5m`). Unlike `NatsConfig::from_env`, a value that does not parse is an error,
    /// not silently the default: a mistyped give-up time must not turn into "for ever".
    /// The same goes for the number of request channels (`0` is [`EnvError::Zero`];
    /// anything but a whole number up to 256, [`EnvError::Invalid`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tracewire_amqp::{AmqpConfig, EnvError};
    ///
    /// let env = |var: &str| match var {
    ///     "TRACEWIRE_AMQP_RECONNECT_GIVE_UP" => Some("5m".to_owned()),
    ///     _ => None,
    /// };
    /// let config = AmqpConfig::from_env_with(env)?;
    /// assert_eq!(config.reconnect_settings().give_up_after, Some(Duration::from_secs(300)));
    ///
    /// let typo = |var: &str| (var == "TRACEWIRE_AMQP_RECONNECT_GIVE_UP").then(|| "5 min".to_owned());
    /// assert!(matches!(AmqpConfig::from_env_with(typo), Err(EnvError::Invalid { .. })));
    /// # Ok::<(), EnvError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`EnvError`] for a variable whose value cannot be used.
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let url = crate::URL_ENV_VARS
            .iter()
            .find_map(|name| lookup(name).filter(|v| !v.trim().is_empty()));
        let config = Self::new(url.unwrap_or_else(|| crate::DEFAULT_URL.to_owned()));
        let policy = reconnect_policy(&lookup, config.reconnect)?;
        let mut config = config.reconnect_policy(policy);
        if let Some(n) = request_channels(&lookup)? {
            config = config.request_channels(n);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |var| {
            pairs
                .iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn parses_durations() {
        for (text, expected) in [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            (" 5m ", Duration::from_secs(300)),
            ("2H", Duration::from_secs(7200)),
            ("10 s", Duration::from_secs(10)),
        ] {
            assert_eq!(parse_duration(text), Some(expected), "{text:?}");
        }
        for (text, why) in [
            ("30", "no unit"),
            ("s", "no number"),
            ("1.5s", "not a whole number"),
            ("-1s", "negative"),
            ("5 min", "unknown unit"),
            ("1d", "unknown unit"),
            ("99999999999999999999s", "overflows u64"),
            ("9999999999999999999h", "overflows in seconds"),
            ("", "empty"),
        ] {
            assert_eq!(parse_duration(text), None, "{why}: {text:?}");
        }
    }

    #[test]
    fn reads_the_reconnect_policy() {
        let defaults = AmqpConfig::from_env_with(env(&[])).unwrap();
        assert_eq!(defaults.reconnect, ReconnectPolicy::forever());
        assert_eq!(defaults.url, crate::DEFAULT_URL);

        let config = AmqpConfig::from_env_with(env(&[
            ("RABBITMQ_URL", "amqp://u:p@rabbit:5672/v"),
            (RECONNECT_GIVE_UP_ENV, "90s"),
            (RECONNECT_MIN_DELAY_ENV, "250ms"),
            (RECONNECT_MAX_DELAY_ENV, "1m"),
        ]))
        .unwrap();
        assert_eq!(config.url, "amqp://u:p@rabbit:5672/v");
        assert_eq!(
            config.reconnect,
            ReconnectPolicy::forever()
                .give_up_after(Duration::from_secs(90))
                .delays(Duration::from_millis(250), Duration::from_secs(60))
        );
        assert!(config.validate().is_ok());

        assert_eq!(defaults.request_channels, crate::DEFAULT_REQUEST_CHANNELS);
        for (value, n) in [
            ("1", 1),
            (" 32 ", 32),
            ("256", MAX_REQUEST_CHANNELS),
            ("", 8),
        ] {
            let config = AmqpConfig::from_env_with(env(&[(REQUEST_CHANNELS_ENV, value)])).unwrap();
            assert_eq!(config.request_channels, n, "{value:?}");
            assert!(config.validate().is_ok());
        }

        for never in ["never", " NEVER ", ""] {
            let config = AmqpConfig::from_env_with(env(&[(RECONNECT_GIVE_UP_ENV, never)])).unwrap();
            assert_eq!(config.reconnect.give_up_after, None, "{never:?}");
        }
    }

    #[test]
    fn bad_values_are_typed_errors() {
        for (pairs, expected, why) in [
            (
                vec![(RECONNECT_GIVE_UP_ENV, "5")],
                EnvError::Invalid {
                    var: RECONNECT_GIVE_UP_ENV,
                    value: "5".to_owned(),
                    expected: DURATION_OR_NEVER,
                },
                "no unit",
            ),
            (
                vec![(RECONNECT_MIN_DELAY_ENV, "never")],
                EnvError::Invalid {
                    var: RECONNECT_MIN_DELAY_ENV,
                    value: "never".to_owned(),
                    expected: DURATION,
                },
                "only the give-up time may be never",
            ),
            (
                vec![(RECONNECT_GIVE_UP_ENV, "0s")],
                EnvError::Zero {
                    var: RECONNECT_GIVE_UP_ENV,
                    value: "0s".to_owned(),
                },
                "giving up at once",
            ),
            (
                vec![(RECONNECT_MAX_DELAY_ENV, "0ms")],
                EnvError::Zero {
                    var: RECONNECT_MAX_DELAY_ENV,
                    value: "0ms".to_owned(),
                },
                "no pause",
            ),
            (
                vec![(RECONNECT_MIN_DELAY_ENV, "30s")],
                EnvError::DelaysOutOfOrder {
                    min: Duration::from_secs(30),
                    max: Duration::from_secs(10),
                },
                "longer than the default longest pause",
            ),
            (
                vec![(REQUEST_CHANNELS_ENV, "0")],
                EnvError::Zero {
                    var: REQUEST_CHANNELS_ENV,
                    value: "0".to_owned(),
                },
                "no request channel at all",
            ),
        ] {
            let err = AmqpConfig::from_env_with(env(&pairs)).unwrap_err();
            assert_eq!(err, expected, "{why}");
        }
        for (value, why) in [
            ("257", "above the maximum"),
            ("70000", "overflows u16"),
            ("-1", "negative"),
            ("4.5", "not a whole number"),
            ("eight", "not a number"),
        ] {
            let err = AmqpConfig::from_env_with(env(&[(REQUEST_CHANNELS_ENV, value)])).unwrap_err();
            assert_eq!(
                err,
                EnvError::Invalid {
                    var: REQUEST_CHANNELS_ENV,
                    value: value.to_owned(),
                    expected: CHANNEL_COUNT,
                },
                "{why}"
            );
        }
        assert!(CHANNEL_COUNT.ends_with(&MAX_REQUEST_CHANNELS.to_string()));
    }
}
