//! `rpc.method` from a gRPC request path (`/package.Service/Method`).

/// The value used for `rpc.method` (and the span name) when the path is not a gRPC
/// method path; the path itself then goes to `rpc.method_original`.
pub(crate) const OTHER: &str = "_OTHER";

/// `package.Service/Method` for `/package.Service/Method`; `None` for any path that is
/// not exactly two non-empty segments.
pub(crate) fn rpc_method(path: &str) -> Option<&str> {
    let method = path.strip_prefix('/')?;
    let (service, name) = method.split_once('/')?;
    (!service.is_empty() && !name.is_empty() && !name.contains('/')).then_some(method)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            rpc_method("/tracewire.demo.v1.StreamService/ProcessStream"),
            Some("tracewire.demo.v1.StreamService/ProcessStream")
        );
        assert_eq!(rpc_method("/EchoService/Echo"), Some("EchoService/Echo"));
        for bad in ["", "/", "//Echo", "/Echo/", "/a/b/c", "Echo/Echo", "/Echo"] {
            assert_eq!(rpc_method(bad), None, "{bad:?}");
        }
    }
}
