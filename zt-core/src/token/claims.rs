//! [`VerifiedClaims`], the proof type, and the registered-claim checks that build it.

use super::IssuerRuntime;
use super::parse::Header;
use crate::algorithm::Algorithm;
use crate::error::{Malformed, TokenError};
use crate::util::json;
use serde_json::{Map, Value};
use std::fmt;
use std::sync::{Arc, OnceLock};

/// A token's posture claim parsed once per verified token (cache hits share it): everything
/// but the per-request freshness.
#[derive(Debug, Clone)]
pub(crate) enum TokenDevice {
    /// The token has no posture claim, or it is `null`.
    Absent,
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
    /// `acr`, when a string.
    pub(super) acr: Option<String>,
    /// `auth_time`, when a non-negative integer.
    pub(super) auth_time: Option<u64>,
    /// `cnf`, as given (checked when the token is used).
    pub(super) confirmation: Option<Value>,
    /// The claims the verifier picks out besides the registered ones ([`Registered::pick`]'s
    /// `also`), and those of them present.
    pub(super) picked: Arc<[Box<str>]>,
    pub(super) also: Vec<(Box<str>, Value)>,
    /// The claim set as the issuer sent it: the token's payload text, or an introspection
    /// response's members.
    pub(super) source: Source,
    /// Every claim as `serde_json`, built on first use from the payload.
    pub(super) claims: OnceLock<Map<String, Value>>,
    /// Every claim as regorus values (`input.subject.claims`): a JWT's payload is parsed
    /// straight into this tree, once.
    pub(super) tree: regorus::Value,
    /// `input.subject`, built once per verified token (and so shared by cache hits).
    pub(super) subject_input: OnceLock<regorus::Value>,
    /// The posture claim, parsed once per verified token (only one posture claim name is
    /// configured per verifier).
    pub(super) device: OnceLock<TokenDevice>,
    /// The claims as JSON text, for an introspected token (a JWT's is its payload).
    pub(super) claims_json: OnceLock<String>,
}

/// Where a claim set came from.
pub(super) enum Source {
    /// A JWT's payload, checked strictly (valid UTF-8 JSON, no duplicate keys).
    Payload(String),
    /// An introspection response, already parsed (and so already in `claims`).
    Introspected,
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
    /// [`claims`](Self::claims) as JSON text: a JWT's payload as signed (checked to be one JSON
    /// object without duplicate keys), or an introspected token's claims serialised once. What
    /// the bindings hand to their language as one string.
    pub fn claims_json(&self) -> &str {
        match &self.0.source {
            Source::Payload(text) => text,
            Source::Introspected => self.0.claims_json.get_or_init(|| {
                serde_json::to_string(self.claims()).unwrap_or_else(|_| "{}".to_owned())
            }),
        }
    }

    /// Every claim of the token, registered ones included, as JSON. Built on first use and
    /// kept (cache hits share it); a decision does not need it.
    pub fn claims(&self) -> &Map<String, Value> {
        self.0.claims.get_or_init(|| match &self.0.source {
            // Checked by the same rules when the token was verified, so this cannot fail.
            Source::Payload(text) => {
                json::parse_object(text.as_bytes(), json::MAX_DEPTH).unwrap_or_default()
            }
            Source::Introspected => Map::new(),
        })
    }

    /// One claim by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.claims().get(name)
    }

    /// One claim by name, owned: without building the others when it is one the verifier
    /// picks out at parse (the posture and device id claims).
    pub(crate) fn member(&self, name: &str) -> Option<Value> {
        if self.0.claims.get().is_none()
            && let Some((_, v)) = self.0.also.iter().find(|(n, _)| **n == *name)
        {
            return Some(v.clone());
        }
        if self.0.claims.get().is_none() && self.0.picked.iter().any(|n| **n == *name) {
            return None;
        }
        self.get(name).cloned()
    }

    /// Every claim as regorus values (`input.subject.claims`).
    pub(crate) fn tree(&self) -> &regorus::Value {
        &self.0.tree
    }

    /// `acr`, when it is a string.
    pub(crate) fn acr(&self) -> Option<&str> {
        self.0.acr.as_deref()
    }

    /// `auth_time`, when it is a non-negative integer.
    pub(crate) fn auth_time(&self) -> Option<u64> {
        self.0.auth_time
    }

    /// `cnf`, as given.
    pub(crate) fn confirmation(&self) -> Option<&Value> {
        self.0.confirmation.as_ref()
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
                &format_args!("{{{} claims}}", self.claims().len()),
            )
            .finish()
    }
}

impl serde::Serialize for VerifiedClaims {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.claims().serialize(s)
    }
}

fn numeric_date(v: Option<&Value>, name: &'static str) -> Result<Option<u64>, TokenError> {
    let bad = TokenError::Malformed(Malformed::Claim(name));
    let Some(v) = v else {
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

fn opt_string(v: Option<Value>, name: &'static str) -> Result<Option<String>, TokenError> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TokenError::Malformed(Malformed::Claim(name))),
    }
}

/// A claim set parsed once, as regorus values, with the claims zt reads itself picked out.
pub(crate) struct Registered {
    iss: Option<Value>,
    sub: Option<Value>,
    aud: Option<Value>,
    exp: Option<Value>,
    nbf: Option<Value>,
    iat: Option<Value>,
    jti: Option<Value>,
    acr: Option<Value>,
    auth_time: Option<Value>,
    cnf: Option<Value>,
    /// The other claims asked for, and those of them present.
    picked: Arc<[Box<str>]>,
    also: Vec<(Box<str>, Value)>,
    tree: regorus::Value,
}

impl Registered {
    /// Parse a JWT's payload strictly (one JSON object, no duplicate keys, bounded nesting)
    /// into the tree the policy sees, and pick the registered claims out of it.
    pub(crate) fn pick(payload: &[u8], also: &Arc<[Box<str>]>) -> Result<Self, TokenError> {
        const REGISTERED: [&str; 10] = [
            "iss",
            "sub",
            "aud",
            "exp",
            "nbf",
            "iat",
            "jti",
            "acr",
            "auth_time",
            "cnf",
        ];
        let mut wanted = Vec::with_capacity(REGISTERED.len() + also.len());
        wanted.extend(REGISTERED);
        wanted.extend(also.iter().map(|a| &**a));
        let (tree, picked) = json::parse_object_rego_picking(payload, json::MAX_DEPTH, &wanted)
            .map_err(|_| TokenError::Malformed(Malformed::Claims))?;
        let mut r = Self::empty(tree);
        let mut picked = picked.into_iter();
        for name in REGISTERED {
            if let (Some(slot), Some(v)) = (r.slot(name), picked.next()) {
                *slot = v;
            }
        }
        r.picked = Arc::clone(also);
        // A name that is also a registered claim (a posture claim named `cnf`, say) was picked
        // into the registered slot, the first with that name.
        let also: Vec<(Box<str>, Value)> = also
            .iter()
            .zip(picked)
            .filter_map(|(name, v)| {
                let v = v.or_else(|| r.registered(name).cloned())?;
                Some((name.clone(), v))
            })
            .collect();
        r.also = also;
        Ok(r)
    }

    fn registered(&self, name: &str) -> Option<&Value> {
        match name {
            "iss" => self.iss.as_ref(),
            "sub" => self.sub.as_ref(),
            "aud" => self.aud.as_ref(),
            "exp" => self.exp.as_ref(),
            "nbf" => self.nbf.as_ref(),
            "iat" => self.iat.as_ref(),
            "jti" => self.jti.as_ref(),
            "acr" => self.acr.as_ref(),
            "auth_time" => self.auth_time.as_ref(),
            "cnf" => self.cnf.as_ref(),
            _ => None,
        }
    }

    /// The same claims from an already parsed claim set (an introspection response).
    pub(super) fn from_map(m: &Map<String, Value>) -> Self {
        let mut r = Self::empty(json::to_rego(m));
        for (k, v) in m {
            if let Some(slot) = r.slot(k) {
                *slot = Some(v.clone());
            }
        }
        r
    }

    fn empty(tree: regorus::Value) -> Self {
        Self {
            iss: None,
            sub: None,
            aud: None,
            exp: None,
            nbf: None,
            iat: None,
            jti: None,
            acr: None,
            auth_time: None,
            cnf: None,
            picked: Arc::from([]),
            also: Vec::new(),
            tree,
        }
    }

    fn slot(&mut self, name: &str) -> Option<&mut Option<Value>> {
        Some(match name {
            "iss" => &mut self.iss,
            "sub" => &mut self.sub,
            "aud" => &mut self.aud,
            "exp" => &mut self.exp,
            "nbf" => &mut self.nbf,
            "iat" => &mut self.iat,
            "jti" => &mut self.jti,
            "acr" => &mut self.acr,
            "auth_time" => &mut self.auth_time,
            "cnf" => &mut self.cnf,
            _ => return None,
        })
    }

    /// `iss`, when it is a string.
    pub(super) fn issuer(&self) -> Option<&str> {
        self.iss.as_ref().and_then(Value::as_str)
    }
}

pub(super) fn validate_claims(
    rt: &IssuerRuntime,
    header: &Header,
    claims: Registered,
    payload: Vec<u8>,
    now: u64,
) -> Result<VerifiedClaims, TokenError> {
    let rules = ClaimRules {
        audiences: &rt.audiences,
        leeway_s: rt.leeway_s,
        max_token_age_s: rt.max_token_age_s,
    };
    let how = (Some(header.alg), header.kid.clone(), header.typ.clone());
    // Checked as JSON, so UTF-8 (RFC 8259 §8.1); refused rather than assumed.
    let text = String::from_utf8(payload).map_err(|_| TokenError::Malformed(Malformed::Claims))?;
    validate_with(&rules, how, claims, Source::Payload(text), None, now)
}

/// The issuer's rules for registered claims.
pub(super) struct ClaimRules<'a> {
    pub(super) audiences: &'a [String],
    pub(super) leeway_s: u64,
    pub(super) max_token_age_s: u64,
}

/// Check `exp`, `nbf`, `iat`, the lifetime and `aud` of claims from a verified signature
/// (`how` = algorithm, `kid`, `typ`) or from an introspection response (`how` = nothing, and
/// `parsed` holds the response's members).
pub(super) fn validate_with(
    rt: &ClaimRules<'_>,
    (algorithm, key_id, token_type): (Option<Algorithm>, Option<String>, Option<String>),
    claims: Registered,
    source: Source,
    parsed: Option<Map<String, Value>>,
    now: u64,
) -> Result<VerifiedClaims, TokenError> {
    let leeway = rt.leeway_s;
    let exp = numeric_date(claims.exp.as_ref(), "exp")?
        .ok_or(TokenError::Malformed(Malformed::Claim("exp")))?;
    let nbf = numeric_date(claims.nbf.as_ref(), "nbf")?;
    let iat = numeric_date(claims.iat.as_ref(), "iat")?;
    let subject = opt_string(claims.sub, "sub")?;
    let jwt_id = opt_string(claims.jti, "jti")?;
    let audience = match claims.aud {
        None => Vec::new(),
        Some(Value::String(a)) => vec![a],
        Some(Value::Array(list)) => list
            .into_iter()
            .map(|a| match a {
                Value::String(a) => Some(a),
                _ => None,
            })
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
    let issuer = match claims.iss {
        Some(Value::String(s)) => s,
        _ => return Err(TokenError::Malformed(Malformed::Claim("iss"))),
    };
    let acr = match claims.acr {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let auth_time = claims.auth_time.as_ref().and_then(Value::as_u64);
    let parsed_claims = OnceLock::new();
    if let Some(m) = parsed {
        let _ = parsed_claims.set(m);
    }
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
        acr,
        auth_time,
        confirmation: claims.cnf,
        picked: claims.picked,
        also: claims.also,
        source,
        claims: parsed_claims,
        tree: claims.tree,
        subject_input: OnceLock::new(),
        device: OnceLock::new(),
        claims_json: OnceLock::new(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Claims asked for by name are found whether or not they are registered claims too.
    #[test]
    fn picked_claims_named_like_registered_ones_are_found() {
        let payload = br#"{"iss":"i","sub":"s","cnf":{"id":"d"},"device":{"id":"d"},"n":1}"#;
        let also: Arc<[Box<str>]> =
            Arc::from(["cnf".into(), "device".into(), "sub".into(), "none".into()]);
        let r = Registered::pick(payload, &also).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = r.also.iter().map(|(n, _)| &**n).collect();
        assert_eq!(names, ["cnf", "device", "sub"]);
        assert_eq!(
            r.also.first().map(|(_, v)| v),
            Some(&serde_json::json!({"id": "d"}))
        );
        assert_eq!(r.also.get(2).map(|(_, v)| v), Some(&Value::from("s")));
        assert_eq!(r.issuer(), Some("i"));
    }
}
