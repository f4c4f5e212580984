//! Optional whitespace (RFC 9110 `OWS`): SP and HTAB only.

/// Trims leading and trailing SP/HTAB. Other whitespace (line feeds, NBSP, Unicode
/// spaces) is not OWS and stays, so it invalidates the field as the grammars require.
#[inline]
pub(crate) fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}
