//! Operator errors: [`ConfigError`] (a configuration that cannot be used) and [`BuildError`]
//! (an authorizer that cannot be built from it).

use super::{JwksError, PolicyError, RuntimeError};
use std::path::PathBuf;

/// An error in the configuration: raised when loading or building, never on a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config `{path}`: {kind}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error kind.
        kind: String,
    },
    /// The file extension does not tell the format.
    #[error("config `{path}` has no known extension (use .toml, .yaml, .yml or .json)")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The document does not parse, has an unknown key or a value of the wrong type.
    #[error("{}invalid config at `{key}`: {message}", in_file(file.as_ref()))]
    Parse {
        /// The file, when loaded from one.
        file: Option<PathBuf>,
        /// The path of the offending key (`issuers[0].audiences`), `.` for the root.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A number is outside its allowed range.
    #[error("{}`{key}` = {value} is out of range: allowed {min}..={max}", in_file(file.as_ref()))]
    OutOfRange {
        /// The file, when loaded from one.
        file: Option<PathBuf>,
        /// The key.
        key: String,
        /// The value given.
        value: u64,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// A value is invalid for a reason other than its range.
    #[error("{}`{key}`: {message}", in_file(file.as_ref()))]
    Invalid {
        /// The file, when loaded from one.
        file: Option<PathBuf>,
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A key source named in the configuration could not be loaded at build time.
    #[error("{}`{key}`: {source}", in_file(file.as_ref()))]
    Jwks {
        /// The file, when loaded from one.
        file: Option<PathBuf>,
        /// The key naming the source.
        key: String,
        /// The underlying problem.
        source: JwksError,
    },
}

fn in_file(file: Option<&PathBuf>) -> String {
    match file {
        Some(p) => format!("in `{}`: ", p.display()),
        None => String::new(),
    }
}

impl ConfigError {
    /// Attach the file the configuration came from.
    pub(crate) fn with_file(mut self, path: &std::path::Path) -> Self {
        match &mut self {
            ConfigError::Parse { file, .. }
            | ConfigError::OutOfRange { file, .. }
            | ConfigError::Invalid { file, .. }
            | ConfigError::Jwks { file, .. } => *file = Some(path.to_path_buf()),
            ConfigError::Io { .. } | ConfigError::UnknownFormat { .. } => {}
        }
        self
    }
}

impl ConfigError {
    /// The stable code (`config_out_of_range`, ...).
    pub const fn code(&self) -> &'static str {
        match self {
            ConfigError::Io { .. } => "config_io",
            ConfigError::UnknownFormat { .. } => "config_unknown_format",
            ConfigError::Parse { .. } => "config_parse",
            ConfigError::OutOfRange { .. } => "config_out_of_range",
            ConfigError::Invalid { .. } => "config_invalid",
            ConfigError::Jwks { .. } => "config_jwks",
        }
    }

    /// The offending key as a path (`issuers[0].audiences`; `.` for the whole document).
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Parse { key, .. }
            | ConfigError::OutOfRange { key, .. }
            | ConfigError::Invalid { key, .. }
            | ConfigError::Jwks { key, .. } => Some(key),
            ConfigError::Io { .. } | ConfigError::UnknownFormat { .. } => None,
        }
    }

    /// The configuration file, when the configuration came from one.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            ConfigError::Io { path, .. } | ConfigError::UnknownFormat { path } => Some(path),
            ConfigError::Parse { file, .. }
            | ConfigError::OutOfRange { file, .. }
            | ConfigError::Invalid { file, .. }
            | ConfigError::Jwks { file, .. } => file.as_deref(),
        }
    }
}

serialize_error!(ConfigError,
    "key" => |e: &ConfigError| e.key().map(str::to_owned),
    "file" => |e: &ConfigError| e.file().map(|p| p.display().to_string()));

/// Why an [`Authorizer`](crate::Authorizer) could not be built. Caller or operator errors only:
/// nothing a request contains can produce one.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The policy bundle could not be loaded, compiled or tested.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// No policy bundle was configured or supplied.
    #[error("no policy: set `policy.bundle` or supply policy files")]
    NoPolicy,
    /// The decision log could not be opened.
    #[error("cannot open decision log `{path}`: {kind}")]
    DecisionLog {
        /// The log file.
        path: PathBuf,
        /// The I/O error kind.
        kind: String,
    },
    /// `decision_log.sink = "callback"` without a callback registered in code.
    #[error("`decision_log.sink` is `callback` but no callback was registered")]
    NoCallback,
    /// A callback was registered in code but `decision_log.sink` is not `callback`: it would
    /// never be called.
    #[error("a decision-log callback was registered but `decision_log.sink` is not `callback`")]
    CallbackUnused,
    /// zt's own machinery could not start (a thread, the key fetch runtime, ...).
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl BuildError {
    /// The stable code: the inner error's for `Config`, `Policy` and `Runtime`, else its own.
    pub const fn code(&self) -> &'static str {
        match self {
            BuildError::Config(e) => e.code(),
            BuildError::Policy(e) => e.code(),
            BuildError::Runtime(e) => e.code(),
            BuildError::NoPolicy => "no_policy",
            BuildError::DecisionLog { .. } => "decision_log_open",
            BuildError::NoCallback => "decision_log_no_callback",
            BuildError::CallbackUnused => "decision_log_callback_unused",
        }
    }

    /// The offending configuration key, when the error names one.
    pub fn key(&self) -> Option<&str> {
        match self {
            BuildError::Config(e) => e.key(),
            BuildError::NoPolicy => Some("policy.bundle"),
            BuildError::DecisionLog { .. } => Some("decision_log.path"),
            BuildError::NoCallback | BuildError::CallbackUnused => Some("decision_log.sink"),
            BuildError::Policy(_) | BuildError::Runtime(_) => None,
        }
    }

    /// The file the problem is in (configuration file, bundle file or decision log).
    pub fn file(&self) -> Option<String> {
        match self {
            BuildError::Config(e) => e.file().map(|p| p.display().to_string()),
            BuildError::Policy(e) => e.file().map(str::to_owned),
            BuildError::DecisionLog { path, .. } => Some(path.display().to_string()),
            _ => None,
        }
    }

    /// The revision the problem is about, when it is one.
    pub fn revision(&self) -> Option<&str> {
        match self {
            BuildError::Policy(e) => e.revision(),
            _ => None,
        }
    }
}

serialize_error!(BuildError,
"key" => |e: &BuildError| e.key().map(str::to_owned),
"file" => |e: &BuildError| e.file(),
"revision" => |e: &BuildError| e.revision().map(str::to_owned),
"reason" => |e: &BuildError| match e {
    BuildError::Policy(p) => p.signature_reason(),
    _ => None,
});
