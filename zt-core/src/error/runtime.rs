//! Errors of the running authorizer and of its side tools: [`RuntimeError`], [`RequestError`]
//! (a request that cannot be built), [`ChainError`] (a broken hash chain), and the code of
//! [`UnknownAlgorithm`](crate::UnknownAlgorithm).

/// A failure of zt's own machinery (a thread, the key fetch runtime, an allocation), not of the
/// configuration or of a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// A background thread could not be started.
    #[error("cannot start the `{name}` thread: {kind}")]
    Thread {
        /// The thread's name (`zt-jwks`, `zt-decision-log`, ...).
        name: &'static str,
        /// The I/O error kind.
        kind: String,
    },
    /// A private runtime (key fetches, the DPoP replay store) could not be built.
    #[error("cannot start zt's background runtime")]
    AsyncRuntime,
    /// The HTTP client for key fetches could not be built.
    #[error("cannot build the HTTP client for key fetches")]
    HttpClient,
    /// The latency histograms could not be allocated.
    #[error("cannot allocate the latency histograms")]
    Histograms,
}

impl RuntimeError {
    /// The stable code (`runtime_thread`, ...).
    pub const fn code(&self) -> &'static str {
        match self {
            RuntimeError::Thread { .. } => "runtime_thread",
            RuntimeError::AsyncRuntime => "runtime_async",
            RuntimeError::HttpClient => "runtime_http_client",
            RuntimeError::Histograms => "runtime_histograms",
        }
    }
}

serialize_error!(RuntimeError);

impl From<crate::util::worker::StartError> for RuntimeError {
    fn from(e: crate::util::worker::StartError) -> Self {
        match e {
            crate::util::worker::StartError::Thread { name, kind } => RuntimeError::Thread {
                name,
                kind: kind.to_string(),
            },
            crate::util::worker::StartError::Runtime => RuntimeError::AsyncRuntime,
        }
    }
}

/// A request document that cannot be turned into a [`Request`] (a caller bug, not a decision).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A field is unknown, missing or of the wrong type.
    #[error("invalid request at `{field}`: {message}")]
    Invalid {
        /// The field's path (`headers.x-a`, `device`, ...).
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl RequestError {
    /// The stable code: `request_invalid`.
    pub const fn code(&self) -> &'static str {
        match self {
            RequestError::Invalid { .. } => "request_invalid",
        }
    }

    /// The offending field's path.
    pub fn field(&self) -> &str {
        match self {
            RequestError::Invalid { field, .. } => field,
        }
    }
}

impl serde::Serialize for RequestError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("code", self.code())?;
        m.serialize_entry("message", &self.to_string())?;
        m.serialize_entry("field", self.field())?;
        m.end()
    }
}

/// Why a hash-chained decision log failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The file could not be read.
    #[error("cannot read decision log: {0}")]
    Io(String),
    /// A line is not a hash-chained record.
    #[error("line {line} is not a hash-chained record")]
    Malformed {
        /// 1-based line number.
        line: usize,
    },
    /// A line's content does not match its hash (edited).
    #[error("line {line} was modified (its hash does not match its content)")]
    HashMismatch {
        /// 1-based line number.
        line: usize,
    },
    /// A line does not follow the line before it (removed, inserted or reordered lines).
    #[error(
        "line {line} does not follow the previous line (a line was removed, inserted or moved)"
    )]
    BrokenLink {
        /// 1-based line number.
        line: usize,
    },
}

impl ChainError {
    /// The stable code (`chain_hash_mismatch`, ...).
    pub const fn code(&self) -> &'static str {
        match self {
            ChainError::Io(_) => "chain_io",
            ChainError::Malformed { .. } => "chain_malformed",
            ChainError::HashMismatch { .. } => "chain_hash_mismatch",
            ChainError::BrokenLink { .. } => "chain_broken_link",
        }
    }

    /// The 1-based line the chain breaks at, when it is a line.
    pub const fn line(&self) -> Option<usize> {
        match self {
            ChainError::Io(_) => None,
            ChainError::Malformed { line }
            | ChainError::HashMismatch { line }
            | ChainError::BrokenLink { line } => Some(*line),
        }
    }
}

serialize_error!(ChainError, "line" => |e: &ChainError| e.line());

impl crate::algorithm::UnknownAlgorithm {
    /// The stable code: `algorithm_unknown`.
    pub const fn code(&self) -> &'static str {
        "algorithm_unknown"
    }
}

serialize_error!(crate::algorithm::UnknownAlgorithm);

impl crate::codes::UnknownCode {
    /// The stable code: `code_unknown`.
    pub const fn code(&self) -> &'static str {
        "code_unknown"
    }
}

serialize_error!(crate::codes::UnknownCode);
