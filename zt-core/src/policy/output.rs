//! The policy output contract: a boolean, or `{allow, reasons, step_up, obligations, grants}`.

use crate::codes::Reason;
use regorus::Value as RegoValue;
use serde_json::{Map, Value};

/// Step-up requirements from the policy (RFC 9470).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct StepUp {
    /// Required `acr_values`.
    pub acr_values: Option<String>,
    /// Maximum authentication age, seconds.
    pub max_age: Option<u64>,
}

/// A valid policy result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct PolicyOutput {
    /// Whether the policy allows the request.
    pub allow: bool,
    /// Reasons given by the policy.
    pub reasons: Vec<String>,
    /// Step-up requirements, when the policy asks for them.
    pub step_up: Option<StepUp>,
    /// Obligations for the caller.
    pub obligations: Map<String, Value>,
    /// The permissions that allowed the request (`["orders:read"]`), for the least-privilege
    /// review of `zt report`; logged with the decision, not used to decide.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<String>,
}

/// Why a policy produced no usable result; each is a deny.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyFailure {
    /// The entrypoint is undefined for this input.
    #[error("policy result is undefined")]
    Undefined,
    /// The result has the wrong shape.
    #[error("policy result is invalid: {0}")]
    OutputInvalid(&'static str),
    /// Evaluation failed (including the instruction limit).
    #[error("policy evaluation failed: {0}")]
    Error(String),
}

impl PolicyFailure {
    /// The stable reason code.
    pub fn reason(&self) -> Reason {
        match self {
            PolicyFailure::Undefined => Reason::PolicyUndefined,
            PolicyFailure::OutputInvalid(_) => Reason::PolicyOutputInvalid,
            PolicyFailure::Error(_) => Reason::PolicyError,
        }
    }
}

impl PolicyOutput {
    /// Interpret an entrypoint value per the output contract, reading the regorus value in
    /// place (no JSON round trip; only non-empty obligations are converted).
    pub(crate) fn from_value(v: &RegoValue) -> Result<Self, PolicyFailure> {
        let plain = |allow| PolicyOutput {
            allow,
            reasons: Vec::new(),
            step_up: None,
            obligations: Map::new(),
            grants: Vec::new(),
        };
        let o = match v {
            RegoValue::Undefined => return Err(PolicyFailure::Undefined),
            RegoValue::Bool(b) => return Ok(plain(*b)),
            RegoValue::Object(o) => o,
            _ => {
                return Err(PolicyFailure::OutputInvalid(
                    "must be a boolean or an object",
                ));
            }
        };
        let [k_allow, k_reasons, k_step_up, k_obligations, k_grants] = KEYS.with(Clone::clone);
        let field = |k: &RegoValue| o.get(k).filter(|v| **v != RegoValue::Null);
        let allow = match o.get(&k_allow) {
            Some(RegoValue::Bool(b)) => *b,
            None => return Err(PolicyFailure::OutputInvalid("`allow` is missing")),
            Some(_) => return Err(PolicyFailure::OutputInvalid("`allow` is not a boolean")),
        };
        let reasons = match field(&k_reasons) {
            None => Vec::new(),
            Some(RegoValue::Array(a)) => a
                .iter()
                .map(|r| match r {
                    RegoValue::String(s) => Some(s.to_string()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .ok_or(PolicyFailure::OutputInvalid("`reasons` must be strings"))?,
            Some(_) => return Err(PolicyFailure::OutputInvalid("`reasons` must be a list")),
        };
        // A list or a set (`grants contains "orders:read" if ...`) of strings.
        let grants = match field(&k_grants) {
            None => Vec::new(),
            Some(RegoValue::Array(a)) => strings(a.iter())?,
            Some(RegoValue::Set(s)) => strings(s.iter())?,
            Some(_) => {
                return Err(PolicyFailure::OutputInvalid(
                    "`grants` must be a list or set",
                ));
            }
        };
        let step_up = match field(&k_step_up) {
            None => None,
            Some(s @ RegoValue::Object(_)) => Some(step_up(&to_json(s)?)?),
            Some(_) => return Err(PolicyFailure::OutputInvalid("`step_up` must be an object")),
        };
        let obligations = match field(&k_obligations) {
            None => Map::new(),
            Some(RegoValue::Object(ob)) if ob.is_empty() => Map::new(),
            Some(ob @ RegoValue::Object(_)) => match to_json(ob)? {
                Value::Object(m) => m,
                _ => {
                    return Err(PolicyFailure::OutputInvalid(
                        "`obligations` must be an object",
                    ));
                }
            },
            Some(_) => {
                return Err(PolicyFailure::OutputInvalid(
                    "`obligations` must be an object",
                ));
            }
        };
        Ok(Self {
            allow,
            reasons,
            step_up,
            obligations,
            grants,
        })
    }
}

fn strings<'a>(items: impl Iterator<Item = &'a RegoValue>) -> Result<Vec<String>, PolicyFailure> {
    items
        .map(|r| match r {
            RegoValue::String(s) => Some(s.to_string()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .ok_or(PolicyFailure::OutputInvalid("`grants` must be strings"))
}

thread_local! {
    /// The output's field names as regorus values (per thread: no allocation per lookup and
    /// no reference count shared between cores).
    static KEYS: [RegoValue; 5] =
        ["allow", "reasons", "step_up", "obligations", "grants"].map(RegoValue::from);
}

fn to_json(v: &RegoValue) -> Result<Value, PolicyFailure> {
    serde_json::to_value(v).map_err(|_| PolicyFailure::OutputInvalid("not representable as JSON"))
}

fn step_up(j: &Value) -> Result<StepUp, PolicyFailure> {
    let acr_values = match j.get("acr_values") {
        None => None,
        Some(Value::String(a)) => Some(a.clone()),
        Some(_) => {
            return Err(PolicyFailure::OutputInvalid(
                "`step_up.acr_values` must be a string",
            ));
        }
    };
    let max_age = match j.get("max_age") {
        None => None,
        Some(m) => Some(m.as_u64().ok_or(PolicyFailure::OutputInvalid(
            "`step_up.max_age` must be a non-negative integer",
        ))?),
    };
    Ok(StepUp {
        acr_values,
        max_age,
    })
}
