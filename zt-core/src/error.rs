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
    /// The request's credentials are malformed: two `Authorization` headers, a header that is
    /// not UTF-8, an empty or ill-formed bearer token, or a token in the query string.
    AuthorizationMalformed,
    /// A DPoP-bound token (or one from an issuer with `require_dpop`) came without a `DPoP`
    /// proof header (RFC 9449).
    DpopProofMissing,
    /// The DPoP proof is malformed, not `dpop+jwt`, uses an algorithm not allowed, carries
    /// private key parts, does not verify, or its `htm`, `htu`, `iat` or `ath` do not fit.
    DpopProofInvalid,
    /// The proof's key is not the one the token is bound to (`cnf.jkt`), or a DPoP proof came
    /// with a token that is not DPoP-bound.
    DpopBindingMismatch,
    /// The proof's `jti` was seen before within its validity window.
    DpopReplayed,
    /// A DPoP-bound token was presented with the `Bearer` scheme instead of `DPoP`.
    DpopSchemeRequired,
    /// The token is bound to a client certificate (`cnf["x5t#S256"]`, RFC 8705) and the request
    /// came without it or with another one.
    CertificateBindingMismatch,
    /// The token's `cnf` is not an object of `jkt` / `x5t#S256` strings: a confirmation method
    /// zt cannot check, so the token is refused rather than taken as a bearer token.
    ConfirmationUnsupported,
    /// The introspection endpoint (RFC 7662) says the opaque token is not active: unknown,
    /// expired or revoked at the identity provider.
    TokenInactive,
    /// `authorize_sync` has no cached introspection result for this opaque token yet: a
    /// lookup was started in the background, and a retry shortly after will be decided.
    IntrospectionPending,
    /// The opaque token could not be introspected: the endpoint failed, timed out, answered
    /// something that is not an introspection response, or is shielded by the rate limit or
    /// the open circuit breaker. The token may be fine.
    IntrospectionUnavailable,
    /// `[dpop]` requires server nonces and the proof carries none, or one that is not current
    /// (RFC 9449 §9): answered with `error="use_dpop_nonce"` and a fresh `DPoP-Nonce`.
    DpopNonceRequired,
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
        Reason::AuthorizationMalformed,
        Reason::DpopProofMissing,
        Reason::DpopProofInvalid,
        Reason::DpopBindingMismatch,
        Reason::DpopReplayed,
        Reason::DpopSchemeRequired,
        Reason::CertificateBindingMismatch,
        Reason::ConfirmationUnsupported,
        Reason::TokenInactive,
        Reason::IntrospectionPending,
        Reason::IntrospectionUnavailable,
        Reason::DpopNonceRequired,
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
            Reason::AuthorizationMalformed => "authorization_malformed",
            Reason::DpopProofMissing => "dpop_proof_missing",
            Reason::DpopProofInvalid => "dpop_proof_invalid",
            Reason::DpopBindingMismatch => "dpop_binding_mismatch",
            Reason::DpopReplayed => "dpop_replayed",
            Reason::DpopSchemeRequired => "dpop_scheme_required",
            Reason::CertificateBindingMismatch => "certificate_binding_mismatch",
            Reason::ConfirmationUnsupported => "confirmation_unsupported",
            Reason::TokenInactive => "token_inactive",
            Reason::IntrospectionPending => "introspection_pending",
            Reason::IntrospectionUnavailable => "introspection_unavailable",
            Reason::DpopNonceRequired => "dpop_nonce_required",
        }
    }

    /// Whether this reason rejects the presented token itself (missing, malformed, not
    /// verifiable, expired, revoked, ...): [`crate::http`] answers these with 401,
    /// `error="invalid_token"` (a missing token gets a plain challenge without `error`).
    /// `jwks_unavailable` and `internal_error` are not: the token may be fine.
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
                | Reason::DpopProofMissing
                | Reason::DpopProofInvalid
                | Reason::DpopBindingMismatch
                | Reason::DpopReplayed
                | Reason::DpopSchemeRequired
                | Reason::CertificateBindingMismatch
                | Reason::ConfirmationUnsupported
                | Reason::TokenInactive
                | Reason::DpopNonceRequired
        )
    }

    /// Whether this reason is about a DPoP proof (answered with a `DPoP` challenge and
    /// `error="invalid_dpop_proof"`).
    pub const fn is_dpop_proof(self) -> bool {
        matches!(
            self,
            Reason::DpopProofMissing
                | Reason::DpopProofInvalid
                | Reason::DpopBindingMismatch
                | Reason::DpopReplayed
                | Reason::DpopNonceRequired
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

impl<'de> serde::Deserialize<'de> for Reason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Reason::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown reason code `{code}`")))
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

impl TokenError {
    /// The stable reason code for this rejection.
    pub const fn reason(&self) -> Reason {
        self.reason_const()
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
    /// The revision was rolled back by the rollout gate; it is not rolled out again.
    #[error("revision `{revision}` was rolled back by the rollout gate; load a changed bundle")]
    RolledBack {
        /// The refused revision.
        revision: String,
    },
    /// Bundle signing is configured and the bundle's signature is missing, invalid or does not
    /// match its files: the bundle is refused before anything in it is parsed.
    #[error("bundle signature: {problem}")]
    Signature {
        /// What is wrong ([`BundleSignatureError::code`] is the machine-readable part).
        problem: BundleSignatureError,
    },
    /// The entrypoint names no rule of the bundle.
    #[error("entrypoint `{entrypoint}` is not defined; the bundle's packages are: {}", if packages.is_empty() { "none".to_owned() } else { packages.join(", ") })]
    EntrypointMissing {
        /// The entrypoint that was asked for.
        entrypoint: String,
        /// The packages the bundle defines (`data.zt.authz`, ...).
        packages: Vec<String>,
    },
}

/// Why a signed bundle (OPA's `.signatures.json`) was refused. Never echoes key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleSignatureError {
    /// The bundle has no `.signatures.json`.
    #[error("the bundle has no `.signatures.json` and `policy.signing` requires one")]
    Missing,
    /// The configured verification keys cannot be loaded (a key file vanished, ...).
    #[error("the verification keys cannot be loaded: {detail}")]
    Keys {
        /// What is wrong (names the key, never its material).
        detail: String,
    },
    /// `.signatures.json` or the signature's payload is not what OPA's format prescribes.
    #[error("`.signatures.json` is invalid: {detail}")]
    Malformed {
        /// What is wrong.
        detail: String,
    },
    /// The signature names no key id and none is configured.
    #[error("the signature names no key id (`kid`) and `policy.signing.keyid` is not set")]
    NoKeyId,
    /// The key id is not among `policy.signing.keys`.
    #[error("key id `{keyid}` is not among `policy.signing.keys`")]
    UnknownKey {
        /// The key id the signature (or config) named.
        keyid: String,
    },
    /// The signature's `alg` is not the configured key's algorithm (or is not supported).
    #[error("the signature's algorithm `{alg}` is not key `{keyid}`'s algorithm `{expected}`")]
    AlgorithmNotAllowed {
        /// The key id.
        keyid: String,
        /// The signature's `alg`.
        alg: String,
        /// The key's configured algorithm.
        expected: String,
    },
    /// The JWS does not verify with the key.
    #[error("the signature does not verify with key `{keyid}`")]
    SignatureInvalid {
        /// The key id.
        keyid: String,
    },
    /// The signature's `scope` is not the configured one.
    #[error("the signature's scope {found:?} is not the configured scope {expected:?}")]
    ScopeMismatch {
        /// `policy.signing.scope`.
        expected: Option<String>,
        /// The signature's `scope`.
        found: Option<String>,
    },
    /// A file of the bundle is not listed in the signature (added after signing).
    #[error("`{file}` is in the bundle but not in its signature")]
    FileNotSigned {
        /// The file.
        file: String,
    },
    /// A file listed in the signature is not in the bundle (removed after signing).
    #[error("`{file}` is in the signature but not in the bundle")]
    FileMissing {
        /// The file.
        file: String,
    },
    /// A file's digest does not match the signed one (changed after signing).
    #[error("`{file}` does not match its signed digest")]
    DigestMismatch {
        /// The file.
        file: String,
    },
    /// A file's hash algorithm is not SHA-256, SHA-384 or SHA-512.
    #[error("`{file}`: hash algorithm `{algorithm}` is not accepted (SHA-256, SHA-384, SHA-512)")]
    HashUnsupported {
        /// The file.
        file: String,
        /// The algorithm named.
        algorithm: String,
    },
}

impl BundleSignatureError {
    /// A stable snake_case code for what is wrong (`digest_mismatch`, ...).
    pub const fn code(&self) -> &'static str {
        match self {
            BundleSignatureError::Missing => "missing",
            BundleSignatureError::Keys { .. } => "keys",
            BundleSignatureError::Malformed { .. } => "malformed",
            BundleSignatureError::NoKeyId => "no_key_id",
            BundleSignatureError::UnknownKey { .. } => "unknown_key",
            BundleSignatureError::AlgorithmNotAllowed { .. } => "algorithm_not_allowed",
            BundleSignatureError::SignatureInvalid { .. } => "signature_invalid",
            BundleSignatureError::ScopeMismatch { .. } => "scope_mismatch",
            BundleSignatureError::FileNotSigned { .. } => "file_not_signed",
            BundleSignatureError::FileMissing { .. } => "file_missing",
            BundleSignatureError::DigestMismatch { .. } => "digest_mismatch",
            BundleSignatureError::HashUnsupported { .. } => "hash_unsupported",
        }
    }

    /// The bundle file concerned, when there is one.
    pub fn file(&self) -> Option<&str> {
        match self {
            BundleSignatureError::FileNotSigned { file }
            | BundleSignatureError::FileMissing { file }
            | BundleSignatureError::DigestMismatch { file }
            | BundleSignatureError::HashUnsupported { file, .. } => Some(file),
            _ => None,
        }
    }
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
    /// The private runtime that runs key fetches could not be built.
    #[error("cannot start the key fetch runtime")]
    AsyncRuntime,
    /// The HTTP client for key fetches could not be built.
    #[error("cannot build the HTTP client for key fetches")]
    HttpClient,
    /// The latency histograms could not be allocated.
    #[error("cannot allocate the latency histograms")]
    Histograms,
}

// ---- Stable error codes ----------------------------------------------------------------------
//
// Every public error type has `code()`: a stable snake_case string that bindings map to exception
// classes (Python) or `error.code` (Node). Messages may be reworded; codes never change meaning.
// docs/configuration.md lists every code; a test below checks that, and that codes are unique.

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

impl PolicyError {
    /// The stable code (`policy_compile`, ...).
    pub const fn code(&self) -> &'static str {
        match self {
            PolicyError::Io { .. } => "policy_io",
            PolicyError::TooLarge { .. } => "policy_too_large",
            PolicyError::Bundle { .. } => "policy_bundle_invalid",
            PolicyError::Manifest { .. } => "policy_manifest_invalid",
            PolicyError::Parse { .. } => "policy_parse",
            PolicyError::OutsideRoots { .. } => "policy_outside_roots",
            PolicyError::Compile { .. } => "policy_compile",
            PolicyError::TestsFailed { .. } => "policy_tests_failed",
            PolicyError::UnknownRevision { .. } => "policy_unknown_revision",
            PolicyError::RolledBack { .. } => "policy_rolled_back",
            PolicyError::EntrypointMissing { .. } => "policy_entrypoint_missing",
            PolicyError::Signature { .. } => "policy_signature_invalid",
        }
    }

    /// The file inside the bundle (or the path on disk) the problem is in, when known.
    pub fn file(&self) -> Option<&str> {
        match self {
            PolicyError::Io { path, .. } => Some(path),
            PolicyError::TooLarge { file, .. }
            | PolicyError::Parse { file, .. }
            | PolicyError::OutsideRoots { file, .. } => Some(file),
            PolicyError::Signature { problem } => problem.file(),
            _ => None,
        }
    }

    /// For `policy_signature_invalid`: what is wrong with the signature
    /// ([`BundleSignatureError::code`]), serialised as `reason`.
    pub const fn signature_reason(&self) -> Option<&'static str> {
        match self {
            PolicyError::Signature { problem } => Some(problem.code()),
            _ => None,
        }
    }

    /// The revision the problem is about (`rollback` to an unknown revision).
    pub fn revision(&self) -> Option<&str> {
        match self {
            PolicyError::UnknownRevision { revision } | PolicyError::RolledBack { revision } => {
                Some(revision)
            }
            _ => None,
        }
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

impl crate::algorithm::UnknownAlgorithm {
    /// The stable code: `algorithm_unknown`.
    pub const fn code(&self) -> &'static str {
        "algorithm_unknown"
    }
}

/// `{"code": …, "message": …}` plus the structured parts that apply, for bindings and JSON output.
macro_rules! serialize_error {
    ($t:ty $(, $field:literal => $get:expr)* $(,)?) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap as _;
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("code", self.code())?;
                m.serialize_entry("message", &self.to_string())?;
                $(
                    #[allow(clippy::redundant_closure_call)]
                    if let Some(v) = ($get)(self) {
                        m.serialize_entry($field, &v)?;
                    }
                )*
                m.end()
            }
        }
    };
}

serialize_error!(TokenError, "reason" => |e: &TokenError| Some(e.reason()));
serialize_error!(KeyProblem);
serialize_error!(JwksError, "source" => |e: &JwksError| e.source_name());
serialize_error!(PolicyError,
"file" => |e: &PolicyError| e.file().map(str::to_owned),
"revision" => |e: &PolicyError| e.revision().map(str::to_owned),
"reason" => |e: &PolicyError| match e {
    PolicyError::Signature { problem } => Some(problem.code()),
    _ => None,
});
serialize_error!(ConfigError,
    "key" => |e: &ConfigError| e.key().map(str::to_owned),
    "file" => |e: &ConfigError| e.file().map(|p| p.display().to_string()));
serialize_error!(RuntimeError);
serialize_error!(BuildError,
"key" => |e: &BuildError| e.key().map(str::to_owned),
"file" => |e: &BuildError| e.file(),
"revision" => |e: &BuildError| e.revision().map(str::to_owned),
"reason" => |e: &BuildError| match e {
    BuildError::Policy(p) => p.signature_reason(),
    _ => None,
});
serialize_error!(ChainError, "line" => |e: &ChainError| e.line());
serialize_error!(crate::algorithm::UnknownAlgorithm);

/// Every error code with a sample error, for the docs/configuration.md contract test and documentation.
#[cfg(test)]
pub(crate) fn all_error_codes() -> Vec<&'static str> {
    let cfg = |e: ConfigError| e.code();
    let jw = |e: JwksError| e.code();
    let pol = |e: PolicyError| e.code();
    let s = String::new;
    let mut codes = vec![
        cfg(ConfigError::Io {
            path: "f".into(),
            kind: s(),
        }),
        cfg(ConfigError::UnknownFormat { path: "f".into() }),
        cfg(ConfigError::Parse {
            file: None,
            key: s(),
            message: s(),
        }),
        cfg(ConfigError::OutOfRange {
            file: None,
            key: s(),
            value: 0,
            min: 0,
            max: 0,
        }),
        cfg(ConfigError::Invalid {
            file: None,
            key: s(),
            message: s(),
        }),
        cfg(ConfigError::Jwks {
            file: None,
            key: s(),
            source: JwksError::WorkerStopped,
        }),
        jw(JwksError::Request { url: s() }),
        jw(JwksError::Timeout {
            url: s(),
            timeout_ms: 0,
        }),
        jw(JwksError::Status {
            url: s(),
            status: 0,
        }),
        jw(JwksError::TooLarge {
            source_name: s(),
            limit: 0,
        }),
        jw(JwksError::Malformed {
            source_name: s(),
            what: "",
            detail: "",
        }),
        jw(JwksError::NoUsableKeys { source_name: s() }),
        jw(JwksError::IssuerMismatch { url: s() }),
        jw(JwksError::InsecureUrl { url: s() }),
        jw(JwksError::Io {
            path: "f".into(),
            kind: s(),
        }),
        jw(JwksError::WorkerStopped),
        pol(PolicyError::Io {
            path: s(),
            kind: s(),
        }),
        pol(PolicyError::TooLarge {
            file: s(),
            limit: 0,
        }),
        pol(PolicyError::Bundle { detail: s() }),
        pol(PolicyError::Manifest { detail: s() }),
        pol(PolicyError::Parse {
            file: s(),
            message: s(),
        }),
        pol(PolicyError::OutsideRoots {
            file: s(),
            path: s(),
        }),
        pol(PolicyError::Compile { message: s() }),
        pol(PolicyError::TestsFailed { failed: Vec::new() }),
        pol(PolicyError::UnknownRevision { revision: s() }),
        pol(PolicyError::RolledBack { revision: s() }),
        pol(PolicyError::EntrypointMissing {
            entrypoint: s(),
            packages: Vec::new(),
        }),
        pol(PolicyError::Signature {
            problem: BundleSignatureError::Missing,
        }),
        RuntimeError::Thread {
            name: "t",
            kind: s(),
        }
        .code(),
        RuntimeError::AsyncRuntime.code(),
        RuntimeError::HttpClient.code(),
        RuntimeError::Histograms.code(),
        BuildError::NoPolicy.code(),
        BuildError::DecisionLog {
            path: "f".into(),
            kind: s(),
        }
        .code(),
        BuildError::NoCallback.code(),
        ChainError::Io(s()).code(),
        ChainError::Malformed { line: 1 }.code(),
        ChainError::HashMismatch { line: 1 }.code(),
        ChainError::BrokenLink { line: 1 }.code(),
        crate::algorithm::UnknownAlgorithm.code(),
        RequestError::Invalid {
            field: s(),
            message: s(),
        }
        .code(),
    ];
    codes.extend(
        [
            KeyProblem::PrivateParts,
            KeyProblem::Symmetric,
            KeyProblem::Unsupported,
            KeyProblem::RsaSize,
            KeyProblem::RsaExponent,
            KeyProblem::RsaRoca,
            KeyProblem::EcPoint,
            KeyProblem::NotForVerification,
            KeyProblem::AlgInconsistent,
            KeyProblem::Invalid,
            KeyProblem::DuplicateKid,
            KeyProblem::SecretTooShort,
        ]
        .iter()
        .map(KeyProblem::code),
    );
    codes
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
        assert_eq!(seen.len(), 40);
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r}: ALL is in declaration order");
            assert_eq!(Reason::from_code(r.as_str()), Some(*r));
        }
    }

    #[test]
    fn every_reason_code_is_documented_in_the_manual() {
        let manual = include_str!("../../docs/configuration.md");
        for r in Reason::ALL {
            assert!(
                manual.contains(&format!("| `{r}` |")),
                "docs/configuration.md lacks {r}"
            );
        }
    }

    #[test]
    fn error_codes_are_unique_snake_case_and_documented() {
        let manual = include_str!("../../docs/configuration.md");
        let mut seen: std::collections::HashSet<&str> =
            Reason::ALL.iter().map(|r| r.as_str()).collect();
        for code in all_error_codes() {
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
            assert!(
                manual.contains(&format!("| `{code}` |")),
                "docs/configuration.md lacks {code}"
            );
        }
        // Token errors report their reason code; build errors their inner error's.
        assert_eq!(TokenError::Expired.code(), "token_expired");
        let e = BuildError::from(ConfigError::Invalid {
            file: None,
            key: "k".into(),
            message: "m".into(),
        });
        assert_eq!((e.code(), e.key()), ("config_invalid", Some("k")));
    }

    #[test]
    fn errors_serialise_with_code_message_and_parts() {
        let e = ConfigError::OutOfRange {
            file: Some("zt.toml".into()),
            key: "jwks.ttl_s".into(),
            value: 1,
            min: 60,
            max: 86400,
        };
        assert_eq!(
            serde_json::to_value(BuildError::from(e)).unwrap(),
            serde_json::json!({
                "code": "config_out_of_range",
                "message": "in `zt.toml`: `jwks.ttl_s` = 1 is out of range: allowed 60..=86400",
                "key": "jwks.ttl_s", "file": "zt.toml",
            })
        );
        let p = PolicyError::UnknownRevision {
            revision: "r1".into(),
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"code": "policy_unknown_revision",
                "message": "revision `r1` is not among the kept revisions", "revision": "r1"})
        );
        assert_eq!(
            serde_json::to_value(TokenError::Expired).unwrap(),
            serde_json::json!({"code": "token_expired", "message": "token has expired", "reason": "token_expired"})
        );
        assert_eq!(
            serde_json::to_value(ChainError::BrokenLink { line: 3 }).unwrap()["line"],
            3
        );
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
