//! Error types and the stable reason codes every surface reports.
//!
//! Errors caused by untrusted input (a token, a JWKS document served by an issuer) are kept apart
//! from errors caused by the operator (a broken configuration file). Every token rejection maps to
//! one [`Reason`], a stable `snake_case` code that decision logs, metrics and bindings expose.
//!
//! # Security
//! - No message contains a token, a secret or a claim value. Messages name *which* check failed
//!   and, for configuration errors, the key and the file.

use std::fmt;
use std::path::PathBuf;

/// A stable, machine-readable reason code.
///
/// The string form ([`Reason::as_str`]) is part of zt's contract: it appears in decisions,
/// decision logs, metrics labels, CLI output and binding errors, and never changes meaning.
///
/// ```
/// use zt_core::Reason;
/// assert_eq!(Reason::TokenExpired.as_str(), "token_expired");
/// assert_eq!(Reason::TokenExpired.to_string(), "token_expired");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Reason {
    /// The token is larger than the configured limit (checked before decoding).
    TokenTooLarge,
    /// The token is not a well-formed compact JWS with a JSON header and claim set.
    TokenMalformed,
    /// The header uses a feature zt refuses (`crit`, `b64`, nested or encrypted tokens).
    TokenHeaderUnsupported,
    /// The header `typ` is not the type the issuer is configured to require.
    TokenTypeInvalid,
    /// The `iss` claim names no configured issuer.
    UnknownIssuer,
    /// The `alg` header is not in the issuer's allow-list (this includes `none`).
    AlgorithmNotAllowed,
    /// No key of the issuer has the token's `kid` (after at most one refresh per cooldown).
    UnknownKey,
    /// The key exists but was refused (weak, private parts, ambiguous `kid`, wrong `use`, ...).
    KeyRejected,
    /// The key's type, curve or declared `alg` does not match the token's algorithm.
    KeyAlgorithmMismatch,
    /// The issuer's keys could not be obtained, or are older than `max_stale_s`.
    JwksUnavailable,
    /// The signature does not verify.
    TokenSignatureInvalid,
    /// `exp` is in the past (beyond the leeway).
    TokenExpired,
    /// `nbf` is in the future (beyond the leeway).
    TokenNotYetValid,
    /// `iat` is in the future (beyond the leeway).
    TokenIssuedInFuture,
    /// The token's lifetime exceeds the issuer's `max_token_age_s`.
    TokenLifetimeExceeded,
    /// `aud` contains none of the configured audiences.
    AudienceMismatch,
    /// The policy evaluated to a deny.
    PolicyDenied,
    /// The policy entrypoint is undefined for the input.
    PolicyUndefined,
    /// The policy result is not a boolean or a well-formed result object.
    PolicyOutputInvalid,
    /// Policy evaluation failed (including exceeding the instruction limit).
    PolicyError,
    /// The request carries no bearer token.
    TokenMissing,
    /// The token's `jti` is on the revocation list.
    TokenRevoked,
    /// The token's subject is on the revocation list.
    SubjectRevoked,
    /// The posture assessment is older than `posture.max_age_s`; `input.device` is null.
    PostureStale,
    /// The posture assertion is not bound to the token's subject or device; `input.device` is null.
    PostureUnbound,
    /// The posture is malformed, from the wrong signer, or fails verification; `input.device`
    /// is null.
    PostureInvalid,
    /// The subject must authenticate again with the policy's `acr_values` / `max_age` (RFC 9470).
    StepUpRequired,
    /// An unexpected failure inside zt (a bug); the request is denied.
    InternalError,
}

impl Reason {
    /// Every reason, in declaration order (used by docs and contract tests).
    pub const ALL: &'static [Reason] = &[
        Reason::TokenTooLarge,
        Reason::TokenMalformed,
        Reason::TokenHeaderUnsupported,
        Reason::TokenTypeInvalid,
        Reason::UnknownIssuer,
        Reason::AlgorithmNotAllowed,
        Reason::UnknownKey,
        Reason::KeyRejected,
        Reason::KeyAlgorithmMismatch,
        Reason::JwksUnavailable,
        Reason::TokenSignatureInvalid,
        Reason::TokenExpired,
        Reason::TokenNotYetValid,
        Reason::TokenIssuedInFuture,
        Reason::TokenLifetimeExceeded,
        Reason::AudienceMismatch,
        Reason::PolicyDenied,
        Reason::PolicyUndefined,
        Reason::PolicyOutputInvalid,
        Reason::PolicyError,
        Reason::TokenMissing,
        Reason::TokenRevoked,
        Reason::SubjectRevoked,
        Reason::PostureStale,
        Reason::PostureUnbound,
        Reason::PostureInvalid,
        Reason::StepUpRequired,
        Reason::InternalError,
    ];

    /// The stable `snake_case` code.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::TokenTooLarge => "token_too_large",
            Reason::TokenMalformed => "token_malformed",
            Reason::TokenHeaderUnsupported => "token_header_unsupported",
            Reason::TokenTypeInvalid => "token_type_invalid",
            Reason::UnknownIssuer => "unknown_issuer",
            Reason::AlgorithmNotAllowed => "algorithm_not_allowed",
            Reason::UnknownKey => "unknown_key",
            Reason::KeyRejected => "key_rejected",
            Reason::KeyAlgorithmMismatch => "key_algorithm_mismatch",
            Reason::JwksUnavailable => "jwks_unavailable",
            Reason::TokenSignatureInvalid => "token_signature_invalid",
            Reason::TokenExpired => "token_expired",
            Reason::TokenNotYetValid => "token_not_yet_valid",
            Reason::TokenIssuedInFuture => "token_issued_in_future",
            Reason::TokenLifetimeExceeded => "token_lifetime_exceeded",
            Reason::AudienceMismatch => "audience_mismatch",
            Reason::PolicyDenied => "policy_denied",
            Reason::PolicyUndefined => "policy_undefined",
            Reason::PolicyOutputInvalid => "policy_output_invalid",
            Reason::PolicyError => "policy_error",
            Reason::TokenMissing => "token_missing",
            Reason::TokenRevoked => "token_revoked",
            Reason::SubjectRevoked => "subject_revoked",
            Reason::PostureStale => "posture_stale",
            Reason::PostureUnbound => "posture_unbound",
            Reason::PostureInvalid => "posture_invalid",
            Reason::StepUpRequired => "step_up_required",
            Reason::InternalError => "internal_error",
        }
    }

    /// Whether this reason rejects the presented token itself (missing, malformed, not
    /// verifiable, expired, revoked, ...): HTTP middleware answers these with 401
    /// `invalid_token`. `jwks_unavailable` and `internal_error` are not: the token may be fine.
    ///
    /// ```
    /// use zt_core::Reason;
    /// assert!(Reason::TokenExpired.rejects_token());
    /// assert!(!Reason::PolicyDenied.rejects_token());
    /// assert!(!Reason::JwksUnavailable.rejects_token());
    /// ```
    pub const fn rejects_token(self) -> bool {
        matches!(
            self,
            Reason::TokenTooLarge
                | Reason::TokenMalformed
                | Reason::TokenHeaderUnsupported
                | Reason::TokenTypeInvalid
                | Reason::UnknownIssuer
                | Reason::AlgorithmNotAllowed
                | Reason::UnknownKey
                | Reason::KeyRejected
                | Reason::KeyAlgorithmMismatch
                | Reason::TokenSignatureInvalid
                | Reason::TokenExpired
                | Reason::TokenNotYetValid
                | Reason::TokenIssuedInFuture
                | Reason::TokenLifetimeExceeded
                | Reason::AudienceMismatch
                | Reason::TokenMissing
                | Reason::TokenRevoked
                | Reason::SubjectRevoked
        )
    }

    /// The reason for a stable code, if the code is known.
    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| r.as_str() == code)
    }

    /// Position in [`Reason::ALL`] (for counters indexed by reason).
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Which part of a token was malformed. Never carries token bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// Not exactly three `.`-separated segments, or an empty header/signature.
    Segments,
    /// A segment is not canonical unpadded base64url.
    Base64,
    /// The header is not a JSON object (or has duplicate keys, or nests too deeply).
    Header,
    /// The claim set is not a JSON object (or has duplicate keys, or nests too deeply).
    Claims,
    /// A registered claim or header parameter has the wrong type or an impossible value.
    Claim(&'static str),
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Segments => f.write_str("not a compact JWS with three segments"),
            Malformed::Base64 => f.write_str("a segment is not canonical unpadded base64url"),
            Malformed::Header => f.write_str("header is not a valid JSON object"),
            Malformed::Claims => f.write_str("claim set is not a valid JSON object"),
            Malformed::Claim(name) => write!(f, "`{name}` has an invalid type or value"),
        }
    }
}

/// Why a token was rejected. Each variant maps to one [`Reason`] via [`TokenError::reason`].
///
/// ```
/// use zt_core::{Reason, TokenError};
/// let e = TokenError::Expired;
/// assert_eq!(e.reason(), Reason::TokenExpired);
/// assert_eq!(e.to_string(), "token has expired");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// See [`Reason::TokenTooLarge`].
    #[error("token is larger than {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// See [`Reason::TokenMalformed`].
    #[error("token is malformed: {0}")]
    Malformed(Malformed),
    /// See [`Reason::TokenHeaderUnsupported`].
    #[error("token header parameter `{0}` is not supported")]
    HeaderUnsupported(&'static str),
    /// See [`Reason::TokenTypeInvalid`].
    #[error("token `typ` is not the required type")]
    TypeInvalid,
    /// See [`Reason::UnknownIssuer`].
    #[error("token issuer is not configured")]
    UnknownIssuer,
    /// See [`Reason::AlgorithmNotAllowed`].
    #[error("token algorithm is not allowed for this issuer")]
    AlgorithmNotAllowed,
    /// See [`Reason::UnknownKey`].
    #[error("no key of the issuer matches the token's key id")]
    UnknownKey,
    /// See [`Reason::KeyRejected`].
    #[error("the issuer key for this token was refused: {0}")]
    KeyRejected(KeyProblem),
    /// See [`Reason::KeyAlgorithmMismatch`].
    #[error("the issuer key does not match the token algorithm")]
    KeyAlgorithmMismatch,
    /// See [`Reason::JwksUnavailable`].
    #[error("the issuer's keys are unavailable")]
    JwksUnavailable,
    /// See [`Reason::TokenSignatureInvalid`].
    #[error("token signature is invalid")]
    SignatureInvalid,
    /// See [`Reason::TokenExpired`].
    #[error("token has expired")]
    Expired,
    /// See [`Reason::TokenNotYetValid`].
    #[error("token is not valid yet")]
    NotYetValid,
    /// See [`Reason::TokenIssuedInFuture`].
    #[error("token was issued in the future")]
    IssuedInFuture,
    /// See [`Reason::TokenLifetimeExceeded`].
    #[error("token lifetime exceeds the configured maximum")]
    LifetimeExceeded,
    /// See [`Reason::AudienceMismatch`].
    #[error("token audience does not include a configured audience")]
    AudienceMismatch,
}

impl TokenError {
    /// The stable reason code for this rejection.
    pub fn reason(&self) -> Reason {
        match self {
            TokenError::TooLarge { .. } => Reason::TokenTooLarge,
            TokenError::Malformed(_) => Reason::TokenMalformed,
            TokenError::HeaderUnsupported(_) => Reason::TokenHeaderUnsupported,
            TokenError::TypeInvalid => Reason::TokenTypeInvalid,
            TokenError::UnknownIssuer => Reason::UnknownIssuer,
            TokenError::AlgorithmNotAllowed => Reason::AlgorithmNotAllowed,
            TokenError::UnknownKey => Reason::UnknownKey,
            TokenError::KeyRejected(_) => Reason::KeyRejected,
            TokenError::KeyAlgorithmMismatch => Reason::KeyAlgorithmMismatch,
            TokenError::JwksUnavailable => Reason::JwksUnavailable,
            TokenError::SignatureInvalid => Reason::TokenSignatureInvalid,
            TokenError::Expired => Reason::TokenExpired,
            TokenError::NotYetValid => Reason::TokenNotYetValid,
            TokenError::IssuedInFuture => Reason::TokenIssuedInFuture,
            TokenError::LifetimeExceeded => Reason::TokenLifetimeExceeded,
            TokenError::AudienceMismatch => Reason::AudienceMismatch,
        }
    }
}

/// Why a single JWK was refused when its key set was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyProblem {
    /// The JWK carries private key material (`d`, `p`, `q`, ...).
    #[error("key carries private parameters")]
    PrivateParts,
    /// Symmetric (`oct`) keys are never taken from a key set.
    #[error("symmetric keys are not accepted from a key set")]
    Symmetric,
    /// The key type or curve is not supported.
    #[error("key type or curve is not supported")]
    Unsupported,
    /// An RSA modulus shorter than 2048 bits (or longer than 16384).
    #[error("RSA modulus size is outside 2048..=16384 bits")]
    RsaSize,
    /// An RSA public exponent that is even, 1, or absurdly large.
    #[error("RSA public exponent is invalid")]
    RsaExponent,
    /// The RSA modulus has the ROCA (CVE-2017-15361) fingerprint.
    #[error("RSA key has the ROCA weakness")]
    RsaRoca,
    /// An elliptic-curve coordinate has the wrong length for its curve.
    #[error("elliptic-curve point is invalid for its curve")]
    EcPoint,
    /// `use` is present and is not `sig`, or `key_ops` lacks `verify`.
    #[error("key is not meant for signature verification")]
    NotForVerification,
    /// The JWK `alg` is not a signature algorithm zt supports or does not fit the key type.
    #[error("key `alg` is unsupported or inconsistent with the key type")]
    AlgInconsistent,
    /// A required member is missing, has the wrong type, or is not base64url.
    #[error("key has missing or invalid members")]
    Invalid,
    /// More than one key in the set has this `kid`.
    #[error("key id is used by more than one key")]
    DuplicateKid,
    /// A configured shared secret is too short for the token's HMAC algorithm.
    #[error("shared secret is too short for the algorithm")]
    SecretTooShort,
}

/// A problem obtaining or parsing an issuer's key set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The HTTP request failed before a response (connect error, TLS, DNS).
    #[error("request to `{url}` failed")]
    Request {
        /// The URL that was requested.
        url: String,
    },
    /// The request did not complete within the configured timeout.
    #[error("request to `{url}` timed out after {timeout_ms} ms")]
    Timeout {
        /// The URL that was requested.
        url: String,
        /// The configured timeout.
        timeout_ms: u64,
    },
    /// The server answered with a non-success status.
    #[error("`{url}` answered with HTTP status {status}")]
    Status {
        /// The URL that was requested.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The response or file is larger than the configured limit.
    #[error("`{source_name}` is larger than {limit} bytes")]
    TooLarge {
        /// The URL or file.
        source_name: String,
        /// The configured limit.
        limit: usize,
    },
    /// The document is not valid JSON of the expected shape.
    #[error("`{source_name}` is not a valid {what}: {detail}")]
    Malformed {
        /// The URL or file.
        source_name: String,
        /// `JWKS` or `OpenID discovery document`.
        what: &'static str,
        /// What is wrong, without echoing document content.
        detail: &'static str,
    },
    /// The key set holds no key zt can use.
    #[error("`{source_name}` holds no usable signature key")]
    NoUsableKeys {
        /// The URL or file.
        source_name: String,
    },
    /// Discovery returned an `issuer` different from the configured one.
    #[error("discovery document at `{url}` names a different issuer")]
    IssuerMismatch {
        /// The discovery URL.
        url: String,
    },
    /// A URL is not `https` (plain `http` is allowed only for loopback hosts) or is invalid.
    #[error("`{url}` is not an allowed key-set URL (https, or http on a loopback host)")]
    InsecureUrl {
        /// The offending URL.
        url: String,
    },
    /// Reading a JWKS file failed.
    #[error("cannot read `{path}`: {kind}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error kind.
        kind: String,
    },
    /// The background worker that performs fetches has stopped.
    #[error("key fetch worker is not running")]
    WorkerStopped,
}

/// A policy bundle that cannot be loaded, compiled or activated. The active policy is never
/// replaced by a bundle that produced one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A file or directory could not be read.
    #[error("cannot read `{path}`: {kind}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error kind.
        kind: String,
    },
    /// A file or the whole bundle exceeds its size limit.
    #[error("`{file}` is larger than {limit} bytes")]
    TooLarge {
        /// The file (or `bundle` for the total).
        file: String,
        /// The limit.
        limit: u64,
    },
    /// The bundle's structure is invalid (archive, links, file count, no policy).
    #[error("invalid bundle: {detail}")]
    Bundle {
        /// What is wrong.
        detail: String,
    },
    /// The `.manifest` is invalid.
    #[error("invalid `.manifest`: {detail}")]
    Manifest {
        /// What is wrong.
        detail: String,
    },
    /// A policy or data file does not parse.
    #[error("`{file}`: {message}")]
    Parse {
        /// The file inside the bundle.
        file: String,
        /// The parser's message.
        message: String,
    },
    /// A package or data path lies outside the manifest's roots.
    #[error("`{file}`: `{path}` is outside the manifest roots")]
    OutsideRoots {
        /// The file (or `data`).
        file: String,
        /// The offending package or data path.
        path: String,
    },
    /// The policy does not compile for the entrypoint (unknown builtin, type error, ...).
    #[error("policy does not compile: {message}")]
    Compile {
        /// The compiler's message.
        message: String,
    },
    /// One or more of the bundle's `test_` rules did not evaluate to true.
    #[error("{} policy test(s) failed: {}", failed.len(), failed.join(", "))]
    TestsFailed {
        /// The failing tests as `package.rule` (with the error, when evaluation failed).
        failed: Vec<String>,
    },
    /// Rollback to a revision that is not kept.
    #[error("revision `{revision}` is not among the kept revisions")]
    UnknownRevision {
        /// The requested revision.
        revision: String,
    },
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            let s = r.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
        }
        assert_eq!(seen.len(), 28);
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r}: ALL is in declaration order");
            assert_eq!(Reason::from_code(r.as_str()), Some(*r));
        }
    }

    #[test]
    fn every_reason_code_is_documented_in_the_readme() {
        let readme = include_str!("../../README.md");
        for r in Reason::ALL {
            assert!(readme.contains(&format!("| `{r}` |")), "README lacks {r}");
        }
    }

    #[test]
    fn messages_are_lowercase_without_final_period() {
        let errors = [
            TokenError::Expired.to_string(),
            TokenError::Malformed(Malformed::Claim("exp")).to_string(),
            TokenError::KeyRejected(KeyProblem::RsaSize).to_string(),
            ConfigError::OutOfRange {
                file: Some("zt.toml".into()),
                key: "jwks.ttl_s".into(),
                value: 1,
                min: 60,
                max: 86400,
            }
            .to_string(),
        ];
        for e in errors {
            assert!(!e.ends_with('.'), "{e}");
            assert!(e.chars().next().is_some_and(|c| !c.is_uppercase()), "{e}");
        }
    }
}

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
}
