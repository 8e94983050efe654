//! Token rejections: [`TokenError`] (each maps to one [`Reason`](crate::Reason)), the malformed
//! part ([`Malformed`]) and why an introspection failed ([`IntrospectionProblem`]).

use super::KeyProblem;
use crate::codes::Reason;
use std::fmt;

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

impl Malformed {
    /// The stable code of the malformed part.
    pub const fn code(&self) -> &'static str {
        match self {
            Malformed::Segments => "segments",
            Malformed::Base64 => "base64",
            Malformed::Header => "header",
            Malformed::Claims => "claims",
            Malformed::Claim(_) => "claim",
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
    /// See [`Reason::TokenInactive`].
    #[error("the introspection endpoint says the token is not active")]
    Inactive,
    /// See [`Reason::IntrospectionPending`].
    #[error("the token's introspection result is not cached yet")]
    IntrospectionPending,
    /// See [`Reason::IntrospectionUnavailable`].
    #[error("the token could not be introspected: {0}")]
    IntrospectionUnavailable(IntrospectionProblem),
}

impl TokenError {
    /// The stable reason code for this rejection.
    pub const fn reason(&self) -> Reason {
        self.reason_const()
    }
}

impl TokenError {
    /// The stable code: the [`Reason`] code of this rejection (`token_expired`, ...).
    pub const fn code(&self) -> &'static str {
        self.reason_const().as_str()
    }

    const fn reason_const(&self) -> Reason {
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
            TokenError::Inactive => Reason::TokenInactive,
            TokenError::IntrospectionPending => Reason::IntrospectionPending,
            TokenError::IntrospectionUnavailable(_) => Reason::IntrospectionUnavailable,
        }
    }
}

serialize_error!(TokenError, "reason" => |e: &TokenError| Some(e.reason()));

/// Why an opaque token could not be introspected (no secret or token in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IntrospectionProblem {
    /// The call failed before an answer (connection refused, reset, TLS).
    #[error("the endpoint could not be reached")]
    Request,
    /// The call took longer than `timeout_ms`.
    #[error("the endpoint did not answer in time")]
    Timeout,
    /// The endpoint answered with a status other than 200.
    #[error("the endpoint answered with another status than 200")]
    Status,
    /// The answer was not an introspection response (not JSON, no boolean `active`, too
    /// large, an `iss` of another issuer).
    #[error("the answer is not a valid introspection response")]
    Response,
    /// The rate limit allowed no call now.
    #[error("the rate limit allows no call now")]
    RateLimited,
    /// Recent calls failed and the circuit breaker is open.
    #[error("the circuit breaker is open after repeated failures")]
    CircuitOpen,
    /// Client authentication could not be prepared (secret missing, signing failed).
    #[error("client authentication could not be prepared")]
    ClientAuth,
    /// The background runtime was stopped (`shutdown`).
    #[error("the introspection worker has stopped")]
    Stopped,
}
