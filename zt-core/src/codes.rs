//! The stable string vocabularies of zt: reason codes, outcomes and enforcement modes.
//!
//! Each enum here is generated from one list by [`codes!`]: the variant, its stable
//! `snake_case` code and its docs, written once. The macro derives `ALL`, `as_str`,
//! `from_code`, `Display` and `FromStr` from that list, so the variants and their codes cannot
//! drift apart. These strings are part of zt's contract: they appear in decisions, decision logs,
//! metrics labels, CLI output and binding errors, and never change meaning.
//!
//! ```
//! use zt_core::{EnforcementMode, Outcome, Reason};
//! assert_eq!(Reason::TokenExpired.as_str(), "token_expired");
//! assert_eq!("step_up".parse::<Outcome>(), Ok(Outcome::StepUp));
//! assert_eq!(EnforcementMode::LogOnly.to_string(), "log_only");
//! ```

use std::fmt;

/// Generates a code enum from one list: `Variant = "code"` with the variant's docs above it.
macro_rules! codes {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($kind:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $code:literal, )+
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order (used by docs, metrics and contract tests).
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable `snake_case` code.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            /// The value for a stable code, if the code is known.
            pub fn from_code(code: &str) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Position in `ALL` (for counters indexed by value).
            #[allow(dead_code, reason = "not every vocabulary is counted")]
            pub(crate) const fn index(self) -> usize {
                self as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownCode;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_code(s).ok_or_else(|| UnknownCode::new($kind, s, &[$($code),+]))
            }
        }
    };
}

/// A string that is not one of the codes of a vocabulary (`"audit".parse::<EnforcementMode>()`).
///
/// ```
/// use zt_core::EnforcementMode;
/// let err = "audit".parse::<EnforcementMode>().unwrap_err();
/// assert_eq!(err.to_string(), r#"unknown mode `audit`: expected "enforce", "warn" or "log_only""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCode {
    kind: &'static str,
    given: String,
    expected: &'static [&'static str],
}

/// The error of `EnforcementMode::from_str` (the same type as every vocabulary's).
pub type UnknownMode = UnknownCode;

impl UnknownCode {
    fn new(kind: &'static str, given: &str, expected: &'static [&'static str]) -> Self {
        // Bounded: the string may come from anywhere.
        let given = given.chars().take(32).collect();
        Self {
            kind,
            given,
            expected,
        }
    }
}

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} `{}`: expected ", self.kind, self.given)?;
        match self.expected {
            [] => f.write_str("nothing"),
            [one] => write!(f, "\"{one}\""),
            [init @ .., last] if init.len() < 5 => {
                let init: Vec<String> = init.iter().map(|c| format!("\"{c}\"")).collect();
                write!(f, "{} or \"{last}\"", init.join(", "))
            }
            _ => write!(f, "a documented {} code", self.kind),
        }
    }
}

impl std::error::Error for UnknownCode {}

codes! {
    /// A stable, machine-readable reason code.
    ///
    /// The string form ([`Reason::as_str`]) is part of zt's contract: it appears in decisions,
    /// decision logs, metrics labels, CLI output and binding errors, and never changes meaning.
    ///
    /// ```
    /// use zt_core::Reason;
    /// assert_eq!(Reason::TokenExpired.as_str(), "token_expired");
    /// assert_eq!(Reason::TokenExpired.to_string(), "token_expired");
    /// assert_eq!(Reason::from_code("posture_stale"), Some(Reason::PostureStale));
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    #[non_exhaustive]
    pub enum Reason ("reason") {
        /// The token is larger than the configured limit (checked before decoding).
        TokenTooLarge = "token_too_large",
        /// The token is not a well-formed compact JWS with a JSON header and claim set.
        TokenMalformed = "token_malformed",
        /// The header uses a feature zt refuses (`crit`, `b64`, nested or encrypted tokens).
        TokenHeaderUnsupported = "token_header_unsupported",
        /// The header `typ` is not the type the issuer is configured to require.
        TokenTypeInvalid = "token_type_invalid",
        /// The `iss` claim names no configured issuer.
        UnknownIssuer = "unknown_issuer",
        /// The `alg` header is not in the issuer's allow-list (this includes `none`).
        AlgorithmNotAllowed = "algorithm_not_allowed",
        /// No key of the issuer has the token's `kid` (after at most one refresh per cooldown).
        UnknownKey = "unknown_key",
        /// The key exists but was refused (weak, private parts, ambiguous `kid`, wrong `use`, ...).
        KeyRejected = "key_rejected",
        /// The key's type, curve or declared `alg` does not match the token's algorithm.
        KeyAlgorithmMismatch = "key_algorithm_mismatch",
        /// The issuer's keys could not be obtained, or are older than `max_stale_s`.
        JwksUnavailable = "jwks_unavailable",
        /// The signature does not verify.
        TokenSignatureInvalid = "token_signature_invalid",
        /// `exp` is in the past (beyond the leeway).
        TokenExpired = "token_expired",
        /// `nbf` is in the future (beyond the leeway).
        TokenNotYetValid = "token_not_yet_valid",
        /// `iat` is in the future (beyond the leeway).
        TokenIssuedInFuture = "token_issued_in_future",
        /// The token's lifetime exceeds the issuer's `max_token_age_s`.
        TokenLifetimeExceeded = "token_lifetime_exceeded",
        /// `aud` contains none of the configured audiences.
        AudienceMismatch = "audience_mismatch",
        /// The policy evaluated to a deny.
        PolicyDenied = "policy_denied",
        /// The policy entrypoint is undefined for the input.
        PolicyUndefined = "policy_undefined",
        /// The policy result is not a boolean or a well-formed result object.
        PolicyOutputInvalid = "policy_output_invalid",
        /// Policy evaluation failed (including exceeding the instruction limit).
        PolicyError = "policy_error",
        /// The request carries no bearer token.
        TokenMissing = "token_missing",
        /// The token's `jti` is on the revocation list.
        TokenRevoked = "token_revoked",
        /// The token's subject is on the revocation list.
        SubjectRevoked = "subject_revoked",
        /// The posture assessment is older than `posture.max_age_s`; `input.device` is null.
        PostureStale = "posture_stale",
        /// The posture assertion is not bound to the token's subject or device; `input.device` is null.
        PostureUnbound = "posture_unbound",
        /// The posture is malformed, from the wrong signer, or fails verification; `input.device`
        /// is null.
        PostureInvalid = "posture_invalid",
        /// The subject must authenticate again with the policy's `acr_values` / `max_age` (RFC 9470).
        StepUpRequired = "step_up_required",
        /// An unexpected failure inside zt (a bug); the request is denied.
        InternalError = "internal_error",
        /// The request's credentials are malformed: two `Authorization` headers, a header that is
        /// not UTF-8, an empty or ill-formed bearer token, or a token in the query string.
        AuthorizationMalformed = "authorization_malformed",
        /// A DPoP-bound token (or one from an issuer with `require_dpop`) came without a `DPoP`
        /// proof header (RFC 9449).
        DpopProofMissing = "dpop_proof_missing",
        /// The DPoP proof is malformed, not `dpop+jwt`, uses an algorithm not allowed, carries
        /// private key parts, does not verify, or its `htm`, `htu`, `iat` or `ath` do not fit.
        DpopProofInvalid = "dpop_proof_invalid",
        /// The proof's key is not the one the token is bound to (`cnf.jkt`), or a DPoP proof came
        /// with a token that is not DPoP-bound.
        DpopBindingMismatch = "dpop_binding_mismatch",
        /// The proof's `jti` was seen before within its validity window.
        DpopReplayed = "dpop_replayed",
        /// A DPoP-bound token was presented with the `Bearer` scheme instead of `DPoP`.
        DpopSchemeRequired = "dpop_scheme_required",
        /// The token is bound to a client certificate (`cnf["x5t#S256"]`, RFC 8705) and the request
        /// came without it or with another one.
        CertificateBindingMismatch = "certificate_binding_mismatch",
        /// The token's `cnf` is not an object of `jkt` / `x5t#S256` strings: a confirmation method
        /// zt cannot check, so the token is refused rather than taken as a bearer token.
        ConfirmationUnsupported = "confirmation_unsupported",
        /// The introspection endpoint (RFC 7662) says the opaque token is not active: unknown,
        /// expired or revoked at the identity provider.
        TokenInactive = "token_inactive",
        /// `authorize_sync` has no cached introspection result for this opaque token yet: a
        /// lookup was started in the background, and a retry shortly after will be decided.
        IntrospectionPending = "introspection_pending",
        /// The opaque token could not be introspected: the endpoint failed, timed out, answered
        /// something that is not an introspection response, or is shielded by the rate limit or
        /// the open circuit breaker. The token may be fine.
        IntrospectionUnavailable = "introspection_unavailable",
        /// `[dpop]` requires server nonces and the proof carries none, or one that is not current
        /// (RFC 9449 §9): answered with `error="use_dpop_nonce"` and a fresh `DPoP-Nonce`.
        DpopNonceRequired = "dpop_nonce_required",
        /// `[dpop.replay_store]` with `on_error = "deny"`: the shared store of spent proof ids
        /// failed or timed out, so a replay on another instance cannot be ruled out. The proof
        /// is spent; a client retries with a new one.
        DpopReplayStoreUnavailable = "dpop_replay_store_unavailable",
    }
}

impl Reason {
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
                | Reason::DpopReplayStoreUnavailable
        )
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

codes! {
    /// What to do with a request. Serialises as its stable code (`allow`, `deny`, `step_up`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Outcome ("outcome") {
        /// Let it through.
        Allow = "allow",
        /// Refuse it.
        Deny = "deny",
        /// Refuse it and ask the subject to authenticate again (RFC 9470).
        StepUp = "step_up",
    }
}

codes! {
    /// Enforcement mode (`[enforcement] mode`): what a deny does. See [`crate::Decision`] for
    /// how the mode and the canary decide whether an evaluated outcome is enforced.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum EnforcementMode ("mode") {
        /// Denies are enforced.
        Enforce = "enforce",
        /// Denies are allowed through but marked and counted.
        Warn = "warn",
        /// Everything is allowed; what would have happened is logged.
        LogOnly = "log_only",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde's derived names agree with the generated codes.
    #[test]
    fn serde_names_are_the_codes() {
        for r in Reason::ALL {
            assert_eq!(serde_json::to_value(r).ok(), Some(r.as_str().into()));
        }
        for o in Outcome::ALL {
            assert_eq!(serde_json::to_value(o).ok(), Some(o.as_str().into()));
            assert_eq!(
                serde_json::from_value::<Outcome>(o.as_str().into()).ok(),
                Some(*o)
            );
        }
        for m in EnforcementMode::ALL {
            assert_eq!(serde_json::to_value(m).ok(), Some(m.as_str().into()));
            assert_eq!(m.as_str().parse::<EnforcementMode>().ok(), Some(*m));
        }
    }

    #[test]
    fn codes_are_unique_snake_case_and_indexed_in_order() {
        let mut seen = std::collections::HashSet::new();
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert!(seen.insert(r.as_str()), "{r} twice");
            assert!(
                r.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
            assert_eq!(r.index(), i);
        }
    }

    #[test]
    fn unknown_codes_are_named_bounded() {
        let long = "x".repeat(100);
        let err = long.parse::<Reason>().unwrap_err().to_string();
        assert!(err.starts_with("unknown reason `xxxx"), "{err}");
        assert!(err.len() < 100, "{err}");
        let e = "maybe".parse::<Outcome>().unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"unknown outcome `maybe`: expected "allow", "deny" or "step_up""#
        );
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["code"], "code_unknown");
        assert_eq!(json["message"], e.to_string());
    }
}
