//! [`VerifiedClaims`], the proof type, and the registered-claim checks that build it.

use super::IssuerRuntime;
use super::parse::Header;
use crate::algorithm::Algorithm;
use crate::error::{Malformed, TokenError};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;

/// A token's posture claim parsed once per verified token (cache hits share it): everything
/// but the per-request freshness.
#[derive(Debug, Clone)]
pub(crate) enum TokenDevice {
    /// The claim is not an object, or a modelled field has the wrong type.
    Invalid,
    /// A device with its assessment time, its `id` and its `input.device` value (`age_s` 0).
    Device {
        assessed_at: u64,
        id: Option<String>,
        value: regorus::Value,
    },
}

/// Largest NumericDate accepted (9999-12-31T23:59:59Z).
const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// The claims of a token that passed every check.
///
/// Only the token module can build one, so holding a `VerifiedClaims` proves verification
/// happened. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct VerifiedClaims(pub(super) Arc<ClaimsInner>);

pub(super) struct ClaimsInner {
    pub(super) issuer: String,
    pub(super) subject: Option<String>,
    pub(super) audience: Vec<String>,
    pub(super) expires_at: u64,
    pub(super) not_before: Option<u64>,
    pub(super) issued_at: Option<u64>,
    pub(super) jwt_id: Option<String>,
    /// `None` for an opaque token checked by introspection.
    pub(super) algorithm: Option<Algorithm>,
    pub(super) key_id: Option<String>,
    pub(super) token_type: Option<String>,
    pub(super) claims: Map<String, Value>,
    /// `input.subject`, built once per verified token (and so shared by cache hits).
    pub(super) subject_input: std::sync::OnceLock<regorus::Value>,
    /// The posture claim, parsed once per verified token (only one posture claim name is
    /// configured per verifier).
    pub(super) device: std::sync::OnceLock<TokenDevice>,
    /// The claims as JSON text, built on first use (bindings hand it over as one string).
    pub(super) claims_json: std::sync::OnceLock<String>,
}

impl VerifiedClaims {
    /// `iss`.
    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }
    /// `sub`, when present.
    pub fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }
    /// `aud`, always as a list.
    pub fn audience(&self) -> &[String] {
        &self.0.audience
    }
    /// `exp`, seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.0.expires_at
    }
    /// `nbf`, when present.
    pub fn not_before(&self) -> Option<u64> {
        self.0.not_before
    }
    /// `iat`, when present.
    pub fn issued_at(&self) -> Option<u64> {
        self.0.issued_at
    }
    /// `jti`, when present.
    pub fn jwt_id(&self) -> Option<&str> {
        self.0.jwt_id.as_deref()
    }
    /// The algorithm the signature was verified with; `None` for an opaque token whose
    /// claims came from the issuer's introspection endpoint (RFC 7662).
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.0.algorithm
    }
    /// Whether the claims came from the issuer's introspection endpoint (an opaque token)
    /// rather than from a verified signature.
    pub fn introspected(&self) -> bool {
        self.0.algorithm.is_none()
    }
    /// The header `kid`, when present.
    pub fn key_id(&self) -> Option<&str> {
        self.0.key_id.as_deref()
    }
    /// The header `typ`, when present.
    pub fn token_type(&self) -> Option<&str> {
        self.0.token_type.as_deref()
    }
    /// [`claims`](Self::claims) as JSON text, serialised once per verified token (cache hits
    /// share it): what the bindings hand to their language as one string.
    pub fn claims_json(&self) -> &str {
        self.0.claims_json.get_or_init(|| {
            serde_json::to_string(&self.0.claims).unwrap_or_else(|_| "{}".to_owned())
        })
    }

    /// Every claim of the token, registered ones included, as JSON.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.0.claims
    }
    /// One claim by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.claims.get(name)
    }

    pub(crate) fn subject_value(&self, build: impl FnOnce() -> regorus::Value) -> regorus::Value {
        self.0.subject_input.get_or_init(build).clone()
    }

    pub(crate) fn device(&self, build: impl FnOnce() -> TokenDevice) -> &TokenDevice {
        self.0.device.get_or_init(build)
    }
}

impl fmt::Debug for VerifiedClaims {
    // Claim values can be personal data: Debug shows the registered identifiers only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedClaims")
            .field("issuer", &self.0.issuer)
            .field("subject", &self.0.subject)
            .field("audience", &self.0.audience)
            .field("expires_at", &self.0.expires_at)
            .field("algorithm", &self.0.algorithm)
            .field(
                "claims",
                &format_args!("{{{} claims}}", self.0.claims.len()),
            )
            .finish()
    }
}

impl serde::Serialize for VerifiedClaims {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.claims.serialize(s)
    }
}

fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<u64>, TokenError> {
    let bad = TokenError::Malformed(Malformed::Claim(name));
    let Some(v) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(n) = v else { return Err(bad) };
    let secs = if let Some(u) = n.as_u64() {
        u
    } else if let Some(f) = n.as_f64() {
        // RFC 7519 allows fractional NumericDates; negative and non-finite are impossible dates.
        if !(f.is_finite() && f >= 0.0 && f <= MAX_NUMERIC_DATE as f64) {
            return Err(bad);
        }
        f.floor() as u64
    } else {
        return Err(bad);
    };
    if secs > MAX_NUMERIC_DATE {
        return Err(bad);
    }
    Ok(Some(secs))
}

fn opt_string(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TokenError::Malformed(Malformed::Claim(name))),
    }
}

pub(super) fn validate_claims(
    rt: &IssuerRuntime,
    header: &Header,
    claims: Map<String, Value>,
    now: u64,
) -> Result<VerifiedClaims, TokenError> {
    let rules = ClaimRules {
        audiences: &rt.audiences,
        leeway_s: rt.leeway_s,
        max_token_age_s: rt.max_token_age_s,
    };
    let how = (Some(header.alg), header.kid.clone(), header.typ.clone());
    validate_with(&rules, how, claims, now)
}

/// The issuer's rules for registered claims.
pub(super) struct ClaimRules<'a> {
    pub(super) audiences: &'a [String],
    pub(super) leeway_s: u64,
    pub(super) max_token_age_s: u64,
}

/// Check `exp`, `nbf`, `iat`, the lifetime and `aud` of claims from a verified signature
/// (`how` = algorithm, `kid`, `typ`) or from an introspection response (`how` = nothing).
pub(super) fn validate_with(
    rt: &ClaimRules<'_>,
    (algorithm, key_id, token_type): (Option<Algorithm>, Option<String>, Option<String>),
    claims: Map<String, Value>,
    now: u64,
) -> Result<VerifiedClaims, TokenError> {
    let leeway = rt.leeway_s;
    let exp =
        numeric_date(&claims, "exp")?.ok_or(TokenError::Malformed(Malformed::Claim("exp")))?;
    let nbf = numeric_date(&claims, "nbf")?;
    let iat = numeric_date(&claims, "iat")?;
    let subject = opt_string(&claims, "sub")?;
    let jwt_id = opt_string(&claims, "jti")?;
    let audience = match claims.get("aud") {
        None => Vec::new(),
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|a| a.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(TokenError::Malformed(Malformed::Claim("aud")))?,
        Some(_) => return Err(TokenError::Malformed(Malformed::Claim("aud"))),
    };
    if now >= exp.saturating_add(leeway) {
        return Err(TokenError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(TokenError::NotYetValid);
    }
    if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(TokenError::IssuedInFuture);
    }
    let lifetime = exp.saturating_sub(iat.unwrap_or(now));
    if lifetime > rt.max_token_age_s || iat.is_some_and(|iat| iat > exp) {
        return Err(TokenError::LifetimeExceeded);
    }
    if !audience.iter().any(|a| rt.audiences.contains(a)) {
        return Err(TokenError::AudienceMismatch);
    }
    let issuer = match claims.get("iss") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(TokenError::Malformed(Malformed::Claim("iss"))),
    };
    Ok(VerifiedClaims(Arc::new(ClaimsInner {
        issuer,
        subject,
        audience,
        expires_at: exp,
        not_before: nbf,
        issued_at: iat,
        jwt_id,
        algorithm,
        key_id,
        token_type,
        claims,
        subject_input: std::sync::OnceLock::new(),
        device: std::sync::OnceLock::new(),
        claims_json: std::sync::OnceLock::new(),
    })))
}
