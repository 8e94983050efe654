//! Decisions: the outcome, why, and whether it was enforced.
//!
//! A [`Decision`] has two outcomes. [`Decision::evaluated`] is what zt's checks and the policy
//! concluded; [`Decision::outcome`] is what the caller must do. They differ only when the
//! evaluated outcome is not enforced:
//!
//! | mode | in canary | evaluated `Deny` → `outcome` | marked |
//! | --- | --- | --- | --- |
//! | `enforce` | yes | `Deny` | no |
//! | `enforce` | no (outside `canary_percent`) | `Allow` | logged as would-deny |
//! | `warn` | any | `Allow` | [`Decision::warning`] is true, counted |
//! | `log_only` | any | `Allow` | logged as would-deny |
//!
//! The canary split is a stable hash (FNV-1a) of the verified issuer and subject, so a subject
//! stays on the same side across restarts and hosts. A request whose token fails verification
//! has no trustworthy subject: it is always enforced when `mode = "enforce"`, whatever the canary.
//!
//! ```
//! use zt_core::{EnforcementMode, Outcome};
//! assert_eq!(Outcome::StepUp.as_str(), "step_up");
//! assert_eq!(EnforcementMode::LogOnly.as_str(), "log_only");
//! ```

use crate::codes::Reason;
use crate::codes::{EnforcementMode, Outcome};
use crate::policy::{PolicyFailure, PolicyOutput, StepUp};
use crate::token::VerifiedClaims;
use serde_json::{Map, Value};

/// Time spent in each stage of one decision, in nanoseconds. Serialised (as `timings_ns`) with
/// the stage names as keys: `token`, `posture`, `input`, `policy`, `shadow`, `total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Timings {
    /// Token verification (or cache hit).
    #[serde(rename = "token")]
    pub token_ns: u64,
    /// Posture assessment (including a posture assertion's verification).
    #[serde(rename = "posture")]
    pub posture_ns: u64,
    /// Building the policy input.
    #[serde(rename = "input")]
    pub input_ns: u64,
    /// Evaluating the active policy.
    #[serde(rename = "policy")]
    pub policy_ns: u64,
    /// Evaluating the shadow candidate, when one is set.
    #[serde(rename = "shadow")]
    pub shadow_ns: u64,
    /// The whole decision.
    #[serde(rename = "total")]
    pub total_ns: u64,
}

/// What the shadow candidate said about the same input (never enforced).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct ShadowResult {
    /// The candidate's revision.
    pub revision: String,
    /// The candidate's outcome.
    pub outcome: Outcome,
    /// The candidate's reason codes.
    pub reasons: Vec<Reason>,
    /// Whether it differs from the active policy's outcome.
    pub diverged: bool,
}

/// The answer to one request. See the [module docs](self) for `outcome` versus `evaluated`.
///
/// Serialises (CLI output, decision-log records, bindings) as `decision_id`, `outcome`,
/// `evaluated`, `enforced`, `mode`, `warning`, `reasons`, `policy_reasons`, `step_up`,
/// `obligations`, `policy_revision`, `timings_ns`, `shadow` — never the token or the claims.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Decision {
    /// Unique id (also in the decision log and in error responses).
    pub id: String,
    /// What the caller must do.
    pub outcome: Outcome,
    /// What zt's checks and the policy concluded.
    pub evaluated: Outcome,
    /// Whether `evaluated` was enforced (mode and canary).
    pub enforced: bool,
    /// The mode that applied to this request (`log_only` for subjects outside the canary).
    pub mode: EnforcementMode,
    /// Stable reason codes from every stage, in the order they arose.
    pub reasons: Vec<Reason>,
    /// Reasons given by the policy itself (free-form strings from the bundle).
    pub policy_reasons: Vec<String>,
    /// Step-up requirements when `evaluated` is `StepUp`.
    pub step_up: Option<StepUp>,
    /// Obligations from the policy (for example headers to add upstream).
    pub obligations: Map<String, Value>,
    /// The policy revision that decided, when the policy ran.
    pub policy_revision: Option<String>,
    /// Time spent per stage.
    pub timings: Timings,
    /// The shadow candidate's result, when one is set and the policy ran.
    pub shadow: Option<ShadowResult>,
    /// The verified claims, when the token verified.
    pub claims: Option<VerifiedClaims>,
    /// The configured DPoP algorithms (space-separated), on a decision refused for DPoP: the
    /// `algs` of its `WWW-Authenticate: DPoP` challenge.
    pub(crate) dpop_algs: Option<std::sync::Arc<str>>,
    /// The current DPoP server nonce, on a decision refused for DPoP when nonces are required:
    /// its `DPoP-Nonce` header.
    pub(crate) dpop_nonce: Option<String>,
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }

    /// True when the request proceeds only because of `warn` mode: it would have been refused.
    pub fn warning(&self) -> bool {
        self.mode == EnforcementMode::Warn && !self.enforced && self.evaluated != Outcome::Allow
    }

    /// Whether a reason is present.
    pub fn has_reason(&self, reason: Reason) -> bool {
        self.reasons.contains(&reason)
    }

    /// The decision as JSON: its [`Serialize`](serde::Serialize) shape (the CLI's output and
    /// what bindings return). Never contains the token or claims.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl serde::Serialize for Decision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut st = s.serialize_struct("Decision", 13)?;
        st.serialize_field("decision_id", &self.id)?;
        st.serialize_field("outcome", &self.outcome)?;
        st.serialize_field("evaluated", &self.evaluated)?;
        st.serialize_field("enforced", &self.enforced)?;
        st.serialize_field("mode", &self.mode)?;
        st.serialize_field("warning", &self.warning())?;
        st.serialize_field("reasons", &self.reasons)?;
        st.serialize_field("policy_reasons", &self.policy_reasons)?;
        st.serialize_field("step_up", &self.step_up)?;
        st.serialize_field("obligations", &self.obligations)?;
        st.serialize_field("policy_revision", &self.policy_revision)?;
        st.serialize_field("timings_ns", &self.timings)?;
        st.serialize_field("shadow", &self.shadow)?;
        st.end()
    }
}

#[cfg(test)]
impl Decision {
    /// An enforced allow with every optional part empty, for unit tests.
    pub(crate) fn test_sample() -> Self {
        Decision {
            id: String::new(),
            outcome: Outcome::Allow,
            evaluated: Outcome::Allow,
            enforced: true,
            mode: EnforcementMode::Enforce,
            reasons: Vec::new(),
            policy_reasons: Vec::new(),
            step_up: None,
            obligations: Map::new(),
            policy_revision: None,
            timings: Timings::default(),
            shadow: None,
            claims: None,
            dpop_algs: None,
            dpop_nonce: None,
        }
    }
}

/// The policy's verdict with zt's step-up check applied.
pub(crate) struct Verdict {
    pub(crate) outcome: Outcome,
    pub(crate) reasons: Vec<Reason>,
    pub(crate) step_up: Option<StepUp>,
}

/// Turn a policy result into an outcome.
///
/// - `allow: true` without `step_up` → `Allow`.
/// - `allow: true` with `step_up` → zt checks the token's `acr` against `acr_values` and
///   `auth_time` against `max_age`: met → `Allow`, unmet → `StepUp`.
/// - `allow: false` with `step_up` → `StepUp`.
/// - otherwise → `Deny` (`policy_denied`, or the failure's reason).
///
/// `acr` and `auth_time` are the token's (`input.subject.acr` / `auth_time` in a replay).
pub(crate) fn interpret(
    result: &Result<PolicyOutput, PolicyFailure>,
    acr: Option<&str>,
    auth_time: Option<u64>,
    now: u64,
) -> Verdict {
    match result {
        Err(f) => Verdict {
            outcome: Outcome::Deny,
            reasons: vec![f.reason()],
            step_up: None,
        },
        Ok(out) => match (&out.step_up, out.allow) {
            (None, true) => Verdict {
                outcome: Outcome::Allow,
                reasons: Vec::new(),
                step_up: None,
            },
            (Some(s), true) if step_up_satisfied(s, acr, auth_time, now) => Verdict {
                outcome: Outcome::Allow,
                reasons: Vec::new(),
                step_up: None,
            },
            (Some(s), _) => Verdict {
                outcome: Outcome::StepUp,
                reasons: vec![Reason::StepUpRequired],
                step_up: Some(s.clone()),
            },
            (None, false) => Verdict {
                outcome: Outcome::Deny,
                reasons: vec![Reason::PolicyDenied],
                step_up: None,
            },
        },
    }
}

/// Whether the token already meets the step-up requirements (RFC 9470).
fn step_up_satisfied(s: &StepUp, acr: Option<&str>, auth_time: Option<u64>, now: u64) -> bool {
    let acr_ok = match &s.acr_values {
        None => true,
        Some(values) => acr.is_some_and(|acr| values.split(' ').any(|v| v == acr)),
    };
    let age_ok = match s.max_age {
        None => true,
        Some(max) => {
            auth_time.is_some_and(|t| t <= now.saturating_add(60) && now.saturating_sub(t) <= max)
        }
    };
    acr_ok && age_ok
}
