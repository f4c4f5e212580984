//! [`Secret`]: a string that never shows in logs, `Debug` output or spans.

use std::fmt;

/// A credential (password, token, nkey seed). Its `Debug` prints `"***"`, it has no
/// `Display`, and the value is reachable only through [`Secret::expose`].
///
/// ```
/// use tracewire_nats::Secret;
///
/// let password = Secret::new("hunter2");
/// assert_eq!(format!("{password:?}"), "\"***\"");
/// assert_eq!(password.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for handing to the client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// `urls` (one URL or a comma-separated pool) with any `user:password@` or `token@`
/// part replaced by `***@`.
pub(crate) fn redact_url(urls: &str) -> String {
    urls.split(',')
        .map(redact_one)
        .collect::<Vec<_>>()
        .join(",")
}

fn redact_one(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo_in_urls() {
        for (url, want, why) in [
            (
                "nats://u:p@h:4222",
                "nats://***@h:4222",
                "user and password",
            ),
            ("tls://tok@h", "tls://***@h", "token"),
            ("nats://h:4222", "nats://h:4222", "nothing to hide"),
            ("u:p@h:4222", "***@h:4222", "no scheme"),
            (
                "nats://h1,nats://a:b@h2/x",
                "nats://h1,nats://***@h2/x",
                "pool",
            ),
        ] {
            assert_eq!(redact_url(url), want, "{why}");
        }
    }
}
