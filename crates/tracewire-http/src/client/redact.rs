//! URL redaction for `url.full` and `url.query`, as the HTTP semantic conventions ask:
//! credentials in the user-info become `REDACTED:REDACTED`, and the values of query
//! parameters known to carry secrets become `REDACTED`.

/// Query parameters whose values the conventions require to be redacted.
const SENSITIVE_QUERY_KEYS: [&str; 4] = ["AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"];

/// Redacts the sensitive parameter values of a query string (without the `?`).
pub(crate) fn redact_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) if SENSITIVE_QUERY_KEYS.contains(&key) => {
                out.push_str(key);
                out.push_str("=REDACTED");
            }
            _ => out.push_str(pair),
        }
    }
    out
}

/// The `url.full` value of an absolute URL given as its parts: `scheme://[REDACTED:REDACTED@]host[:port]/path[?query]`
/// (the fragment is never sent, so it is never recorded).
pub(crate) fn full_url(
    scheme: &str,
    has_userinfo: bool,
    host_port: &str,
    path: &str,
    query: Option<&str>,
) -> String {
    let mut out = String::with_capacity(scheme.len() + host_port.len() + path.len() + 32);
    out.push_str(scheme);
    out.push_str("://");
    if has_userinfo {
        out.push_str("REDACTED:REDACTED@");
    }
    out.push_str(host_port);
    out.push_str(if path.is_empty() { "/" } else { path });
    if let Some(query) = query {
        out.push('?');
        out.push_str(&redact_query(query));
    }
    out
}

/// `url.full` for an `http::Uri` (which never carries user-info in `http` 1.x parsing of
/// request targets, but may in an absolute form: it is checked).
pub(crate) fn full_uri(uri: &http::Uri) -> String {
    let authority = uri.authority().map_or("", http::uri::Authority::as_str);
    let (has_userinfo, host_port) = match authority.rsplit_once('@') {
        Some((_, host_port)) => (true, host_port),
        None => (false, authority),
    };
    full_url(
        uri.scheme_str().unwrap_or("http"),
        has_userinfo,
        host_port,
        uri.path(),
        uri.query(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_signature_values_only() {
        assert_eq!(
            redact_query("a=1&Signature=xyz&sig=abc&AWSAccessKeyId=k&X-Goog-Signature=s&b"),
            "a=1&Signature=REDACTED&sig=REDACTED&AWSAccessKeyId=REDACTED&X-Goog-Signature=REDACTED&b"
        );
        assert_eq!(
            redact_query("signature=kept"),
            "signature=kept",
            "keys are case-sensitive"
        );
    }

    #[test]
    fn redacts_credentials_in_uri() {
        let uri: http::Uri = "http://user:pw@example.com:8080/p?sig=1&q=2"
            .parse()
            .unwrap();
        assert_eq!(
            full_uri(&uri),
            "http://REDACTED:REDACTED@example.com:8080/p?sig=REDACTED&q=2"
        );
        let plain: http::Uri = "https://example.com".parse().unwrap();
        assert_eq!(full_uri(&plain), "https://example.com/");
    }
}
