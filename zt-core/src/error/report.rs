//! [`ReportError`]: why `zt report` has no report.

/// Why there is no report: a log that cannot be read, or a bundle that does not load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A log file cannot be opened or read.
    #[error("cannot read `{path}`: {kind}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error kind.
        kind: String,
    },
    /// The `--bundle` does not load.
    #[error("the bundle does not load: {0}")]
    Bundle(#[from] super::PolicyError),
    /// The latency histograms cannot be allocated.
    #[error("cannot allocate the latency histograms")]
    Memory,
}

impl ReportError {
    /// The stable code (`report_io`, `report_bundle`).
    pub const fn code(&self) -> &'static str {
        match self {
            ReportError::Io { .. } => "report_io",
            ReportError::Bundle(_) => "report_bundle",
            ReportError::Memory => "report_memory",
        }
    }
}

serialize_error!(ReportError);
