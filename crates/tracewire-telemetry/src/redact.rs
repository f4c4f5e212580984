//! Secrets kept out of messages, logs and the init report.

/// `endpoint` without the password of its userinfo, if any, for messages and the
/// init report.
pub(crate) fn endpoint(endpoint: &str) -> String {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("", endpoint));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let sep = if scheme.is_empty() { "" } else { "://" };
            format!("{scheme}{sep}***@{}", &rest[at + 1..])
        }
        None => endpoint.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn endpoint_hides_userinfo_only() {
        assert_eq!(
            super::endpoint("http://u:secret@host:4318/v1/traces"),
            "http://***@host:4318/v1/traces"
        );
        assert_eq!(
            super::endpoint("http://host:4318/a@b"),
            "http://host:4318/a@b"
        );
        assert_eq!(
            super::endpoint("https://collector:4317"),
            "https://collector:4317"
        );
    }
}
