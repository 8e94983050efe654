//! Device posture: where it comes from, how it is bound to the subject, and how fresh it is.
//!
//! Sources (`[posture] source`):
//! - `claims`: an object in the access token (claim `posture.claim`, default `device`) shaped
//!   like `input.device`.
//! - `assertion`: a separate posture JWT in a request header (`posture.header`), signed by the
//!   posture issuer (`posture.issuer`, also listed under `issuers`), verified with the same
//!   machinery as access tokens, carrying the posture object under `posture.claim`, and bound to
//!   the access token by `sub` or by device id (`posture.bind`).
//! - `none`: `input.device` is always null.
//!
//! A caller may also hand zt a posture it obtained itself ([`Request::device`]); it is checked
//! for freshness like the others.
//!
//! `assessed_at` (seconds since the epoch) comes from the posture object, or else from the
//! carrying token's `iat`. An assessment older than `posture.max_age_s` gives `device: null` and
//! the reason `posture_stale`; an unbound assertion gives `posture_unbound`; a malformed one, or
//! one from another signer, `posture_invalid`. Fields zt does not model are kept under `extra`.
//!
//! # Security
//! - An assertion is accepted only from the posture issuer, and a token from the posture issuer
//!   is never accepted as an access token (the authorizer refuses it as `unknown_issuer`).
//! - The posture header never enters `input.request.headers` or the decision log.
//!
//! [`Request::device`]: crate::Request::device

use crate::codes::Reason;
use crate::config::{PostureBinding, PostureConfig, PostureSource};
use crate::input::{DeviceInput, parse_device};
use crate::token::{TokenDevice, TokenVerifier, VerifiedClaims};
use serde_json::Value;

/// Future `assessed_at` tolerated (clock skew between the MDM and this host), seconds.
const FUTURE_SKEW_S: u64 = 60;

/// The outcome of assessing posture for one request.
#[derive(Debug, Clone)]
pub(crate) struct Assessment {
    /// `input.device` (`Null` when there is no posture or it was discarded).
    pub(crate) device: regorus::Value,
    /// Why the posture was discarded, if it was.
    pub(crate) reason: Option<Reason>,
}

impl Default for Assessment {
    fn default() -> Self {
        Self {
            device: regorus::Value::Null,
            reason: None,
        }
    }
}

impl Assessment {
    fn discarded(reason: Reason) -> Self {
        Self {
            device: regorus::Value::Null,
            reason: Some(reason),
        }
    }
}

/// Assesses posture per the `[posture]` config.
#[derive(Debug, Clone)]
pub(crate) struct PostureAssessor {
    source: PostureSource,
    claim: String,
    max_age_s: u64,
    header: Option<String>,
    issuer: Option<String>,
    bind: PostureBinding,
    device_id_claim: String,
}

/// Where the posture to assess was found.
pub(crate) enum Found<'a> {
    /// No posture supplied.
    Nothing,
    /// A posture object handed over by the caller.
    Given(&'a DeviceInput),
    /// A posture assertion was supplied (its verification result is passed alongside).
    Assertion,
}

impl PostureAssessor {
    pub(crate) fn new(c: &PostureConfig) -> Self {
        Self {
            source: c.source,
            claim: c.claim.clone(),
            max_age_s: c.max_age_s,
            header: c.header.as_ref().map(|h| h.to_ascii_lowercase()),
            issuer: c.issuer.clone(),
            bind: c.bind,
            device_id_claim: c.device_id_claim.clone(),
        }
    }

    /// The lower-cased header carrying posture assertions, if any.
    pub(crate) fn header(&self) -> Option<&str> {
        match self.source {
            PostureSource::Assertion => self.header.as_deref(),
            _ => None,
        }
    }

    /// The posture issuer, whose tokens are never access tokens.
    pub(crate) fn posture_issuer(&self) -> Option<&str> {
        match self.source {
            PostureSource::Assertion => self.issuer.as_deref(),
            _ => None,
        }
    }

    /// Whether assessing needs a verified posture assertion.
    pub(crate) fn uses_assertion(&self) -> bool {
        self.source == PostureSource::Assertion
    }

    /// Assess from the access token's claims, a caller-given posture, or a verified assertion.
    ///
    /// `assertion` is the result of verifying the posture JWT, when one was found.
    pub(crate) fn assess(
        &self,
        claims: &VerifiedClaims,
        found: Found<'_>,
        assertion: Option<Result<VerifiedClaims, Reason>>,
        now: u64,
    ) -> Assessment {
        if let Found::Given(d) = found {
            return match self.freshen(d.clone(), now) {
                Ok(d) => Assessment {
                    device: crate::input::device_value(&d),
                    reason: None,
                },
                Err(reason) => Assessment::discarded(reason),
            };
        }
        match self.source {
            PostureSource::None => Assessment::default(),
            PostureSource::Claims => match self.assess_token(claims, "claims", now) {
                None => Assessment::default(),
                Some((assessment, _)) => assessment,
            },
            PostureSource::Assertion => match assertion {
                None => Assessment::default(),
                Some(Err(_)) => Assessment::discarded(Reason::PostureInvalid),
                Some(Ok(a)) => self.assess_assertion(claims, &a, now),
            },
        }
    }

    fn assess_assertion(
        &self,
        claims: &VerifiedClaims,
        a: &VerifiedClaims,
        now: u64,
    ) -> Assessment {
        if Some(a.issuer()) != self.issuer.as_deref() {
            return Assessment::discarded(Reason::PostureInvalid);
        }
        let Some((assessment, id)) = self.assess_token(a, "assertion", now) else {
            return Assessment::discarded(Reason::PostureInvalid);
        };
        if assessment.reason.is_some() {
            return assessment;
        }
        let bound = match self.bind {
            PostureBinding::Sub => a.subject().is_some() && a.subject() == claims.subject(),
            PostureBinding::DeviceId => {
                let token_device = claims.member(&self.device_id_claim);
                id.is_some() && id == token_device.as_ref().and_then(Value::as_str)
            }
        };
        if bound {
            assessment
        } else {
            Assessment::discarded(Reason::PostureUnbound)
        }
    }

    /// The posture claim of a verified token (parsed once per token), made fresh for `now`;
    /// also the device's `id`. `None` when the token has no posture claim (or it is `null`).
    fn assess_token<'t>(
        &self,
        token: &'t VerifiedClaims,
        source: &str,
        now: u64,
    ) -> Option<(Assessment, Option<&'t str>)> {
        let parsed = token.device(|| {
            let claim = match token.member(&self.claim) {
                None | Some(Value::Null) => return TokenDevice::Absent,
                Some(claim) => claim,
            };
            let Some(mut device) = parse_device(&claim) else {
                return TokenDevice::Invalid;
            };
            if device.assessed_at == 0 {
                match token.issued_at() {
                    Some(iat) => device.assessed_at = iat,
                    None => return TokenDevice::Invalid,
                }
            }
            device.source = source.to_owned();
            device.age_s = 0;
            TokenDevice::Device {
                assessed_at: device.assessed_at,
                value: crate::input::device_value(&device),
                id: device.id,
            }
        });
        Some(match parsed {
            TokenDevice::Absent => return None,
            TokenDevice::Invalid => (Assessment::discarded(Reason::PostureInvalid), None),
            TokenDevice::Device {
                assessed_at,
                id,
                value,
            } => match self.age(*assessed_at, now) {
                Ok(age) => (
                    Assessment {
                        device: crate::input::with_age(value, age),
                        reason: None,
                    },
                    id.as_deref(),
                ),
                Err(reason) => (Assessment::discarded(reason), id.as_deref()),
            },
        })
    }

    /// The freshness check alone (fuzzing).
    pub(crate) fn check_freshness(&self, device: DeviceInput, now: u64) -> Option<DeviceInput> {
        self.freshen(device, now).ok()
    }

    /// `age_s` of an assessment made at `assessed_at`, or why it is not fresh.
    fn age(&self, assessed_at: u64, now: u64) -> Result<u64, Reason> {
        if assessed_at > now.saturating_add(FUTURE_SKEW_S) {
            return Err(Reason::PostureInvalid);
        }
        let age = now.saturating_sub(assessed_at);
        if age > self.max_age_s {
            return Err(Reason::PostureStale);
        }
        Ok(age)
    }

    fn freshen(&self, mut device: DeviceInput, now: u64) -> Result<DeviceInput, Reason> {
        device.age_s = self.age(device.assessed_at, now)?;
        if device.source.is_empty() {
            device.source = "request".to_owned();
        }
        Ok(device)
    }
}

/// Verify a posture assertion with the access-token machinery (cached keys only).
pub(crate) fn verify_assertion(
    verifier: &TokenVerifier,
    jwt: &str,
) -> Result<VerifiedClaims, Reason> {
    verifier.verify_signed(jwt).map_err(|e| e.reason())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_device_table() {
        let cases: [(&str, Value, bool); 6] = [
            (
                "full",
                json!({"id": "d1", "managed": true, "disk_encrypted": true, "assessed_at": 5}),
                true,
            ),
            ("unknown fields kept", json!({"battery": 80}), true),
            ("not an object", json!([1]), false),
            ("managed as string", json!({"managed": "yes"}), false),
            ("negative patch age", json!({"patch_age_days": -1}), false),
            (
                "nulls allowed",
                json!({"os": null, "jailbroken": null}),
                true,
            ),
        ];
        for (name, v, ok) in cases {
            assert_eq!(parse_device(&v).is_some(), ok, "{name}");
        }
        let d = parse_device(&json!({"battery": 80, "extra": {"x": 1}})).unwrap();
        assert_eq!(d.extra.get("battery"), Some(&json!(80)), "extra kept");
        assert_eq!(d.extra.get("x"), Some(&json!(1)), "extra merged");
    }
}
