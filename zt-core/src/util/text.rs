//! Small text helpers shared by error messages.

/// Collapse a (possibly multi-line) message to one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
