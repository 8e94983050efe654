//! Key-set errors: [`JwksError`] (fetching and parsing an issuer's keys) and [`KeyProblem`] (why
//! one key was refused).

use std::path::PathBuf;

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

impl KeyProblem {
    /// The stable code (`key_rsa_size`, ...).
    pub const fn code(&self) -> &'static str {
        match self {
            KeyProblem::PrivateParts => "key_private_parts",
            KeyProblem::Symmetric => "key_symmetric",
            KeyProblem::Unsupported => "key_unsupported",
            KeyProblem::RsaSize => "key_rsa_size",
            KeyProblem::RsaExponent => "key_rsa_exponent",
            KeyProblem::RsaRoca => "key_rsa_roca",
            KeyProblem::EcPoint => "key_ec_point",
            KeyProblem::NotForVerification => "key_not_for_verification",
            KeyProblem::AlgInconsistent => "key_alg_inconsistent",
            KeyProblem::Invalid => "key_invalid",
            KeyProblem::DuplicateKid => "key_duplicate_kid",
            KeyProblem::SecretTooShort => "key_secret_too_short",
        }
    }
}

serialize_error!(KeyProblem);

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

impl JwksError {
    /// The stable code (`jwks_timeout`, ...).
    pub const fn code(&self) -> &'static str {
        match self {
            JwksError::Request { .. } => "jwks_request_failed",
            JwksError::Timeout { .. } => "jwks_timeout",
            JwksError::Status { .. } => "jwks_http_status",
            JwksError::TooLarge { .. } => "jwks_too_large",
            JwksError::Malformed { .. } => "jwks_malformed",
            JwksError::NoUsableKeys { .. } => "jwks_no_usable_keys",
            JwksError::IssuerMismatch { .. } => "jwks_issuer_mismatch",
            JwksError::InsecureUrl { .. } => "jwks_insecure_url",
            JwksError::Io { .. } => "jwks_io",
            JwksError::WorkerStopped => "jwks_worker_stopped",
        }
    }

    /// The URL or file the problem is about, when there is one.
    pub fn source_name(&self) -> Option<String> {
        match self {
            JwksError::Request { url }
            | JwksError::Timeout { url, .. }
            | JwksError::Status { url, .. }
            | JwksError::IssuerMismatch { url }
            | JwksError::InsecureUrl { url } => Some(url.clone()),
            JwksError::TooLarge { source_name, .. }
            | JwksError::Malformed { source_name, .. }
            | JwksError::NoUsableKeys { source_name } => Some(source_name.clone()),
            JwksError::Io { path, .. } => Some(path.display().to_string()),
            JwksError::WorkerStopped => None,
        }
    }
}

serialize_error!(JwksError, "source" => |e: &JwksError| e.source_name());
